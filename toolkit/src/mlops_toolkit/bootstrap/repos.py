"""CodeCommit repositories and the first push of each local repository's ``main``.

A third-party host's repositories are the user's to create (empty); the bootstrap only pushes.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from mlops_toolkit.bootstrap import gitrepo
from mlops_toolkit.bootstrap.errors import error_code
from mlops_toolkit.bootstrap.project import ownership_marker
from mlops_toolkit.bootstrap.remote import Remote, host_remote, remote_for
from mlops_toolkit.bootstrap.steps import BLOCKED, CREATE, NOTHING, PUSH, Context, Finding, Step

REMOTE_NAME = "origin"


def repository_steps(ctx: Context) -> list[Step]:
    """Both repositories first, then both pushes: the CI/CD stack needs the code in place."""
    project = ctx.project
    git = project.git
    pushes = [
        Step(
            f"push:{repo}",
            "git push main",
            git.full_name(repo) if git else project.repo_name(repo),
            _inspect_push(repo),
            _push(repo),
        )
        for repo in ("modelbuild", "modeldeploy")
    ]
    if git is not None:
        return pushes
    creates = [
        Step(
            f"repository:{repo}",
            "CodeCommit repository",
            project.repo_name(repo),
            _inspect_repository(repo),
            _create_repository(repo),
        )
        for repo in ("modelbuild", "modeldeploy")
    ]
    return creates + pushes


def repository_remote(ctx: Context, repo: str) -> Remote:
    git = ctx.project.git
    if git is not None:
        return host_remote(git, repo)
    return remote_for(ctx.project.repo_name(repo), ctx.project.region, ctx.git_mode)


def describe_repository(ctx: Context, name: str) -> dict[str, Any] | None:
    try:
        found = ctx.aws.client("codecommit").get_repository(repositoryName=name)
    except ClientError as error:
        if error_code(error) == "RepositoryDoesNotExistException":
            return None
        raise
    return found["repositoryMetadata"]


def is_ours(ctx: Context, metadata: dict[str, Any]) -> bool:
    description = metadata.get("repositoryDescription") or ""
    return description.endswith(ownership_marker(ctx.project.slug))


def _inspect_repository(repo: str):
    def inspect(ctx: Context) -> Finding:
        metadata = describe_repository(ctx, ctx.project.repo_name(repo))
        if metadata is None:
            return Finding(CREATE, "create (tagged)")
        if not is_ours(ctx, metadata):
            return Finding(BLOCKED, _foreign(ctx, metadata["repositoryName"]))
        return Finding(NOTHING, "exists", {"arn": metadata["Arn"], "created": True})

    return inspect


def _create_repository(repo: str):
    def apply(ctx: Context, finding: Finding) -> dict[str, Any]:
        project = ctx.project
        name = project.repo_name(repo)
        try:
            created = ctx.aws.client("codecommit").create_repository(
                repositoryName=name,
                repositoryDescription=project.repo_description(repo),
                tags={tag["Key"]: tag["Value"] for tag in project.tags()},
            )
        except ClientError as error:
            # Only "already exists" is fine, and only if an earlier attempt of ours made it.
            if error_code(error) != "RepositoryNameExistsException":
                raise
            metadata = describe_repository(ctx, name)
            if metadata is None or not is_ours(ctx, metadata):
                raise
            return {"arn": metadata["Arn"], "created": True}
        return {"arn": created["repositoryMetadata"]["Arn"], "created": True}

    return apply


def _foreign(ctx: Context, name: str) -> str:
    return (
        f"a repository named {name} already exists and is not this project's (its description "
        f"lacks {ownership_marker(ctx.project.slug)!r}); choose another project slug, or rename "
        "that repository"
    )


def _inspect_push(repo: str):
    def inspect(ctx: Context) -> Finding:
        done = ctx.state.step(f"push:{repo}")
        if done:
            return Finding(NOTHING, f"pushed {done['commit'][:7]}", done)
        folder = ctx.project.repo_dir(repo)
        if not folder.is_dir():
            return Finding(BLOCKED, f"the folder {folder} is missing (see --project-dir)")
        remote = repository_remote(ctx, repo)
        commit = gitrepo.head_commit(folder) if gitrepo.is_repository(folder) else None
        what = f"push {commit[:7]}" if commit else "git init, commit and push"
        return Finding(PUSH, f"{what} to {remote.url} ({remote.helper})")

    return inspect


def seed_committer(ctx: Context) -> tuple[str, str]:
    """The identity of the first commit when git has none configured (as at generation)."""
    name = ctx.project.settings["project_name"]
    return f"{name} (mlops-template)", f"{ctx.project.slug}@mlops-template.invalid"


def _push(repo: str):
    def apply(ctx: Context, finding: Finding) -> dict[str, Any]:
        folder = ctx.project.repo_dir(repo)
        if not gitrepo.is_repository(folder):
            # Generation could not run git (not installed then): do what it would have done.
            gitrepo.init_repository(folder, *seed_committer(ctx))
        remote = repository_remote(ctx, repo)
        for setting in remote.config:
            key, _, value = setting.partition("=")
            gitrepo.run_git(folder, ["config", key, value])
        target = gitrepo.ensure_remote(folder, REMOTE_NAME, remote.url)
        try:
            gitrepo.push_branch(folder, target, track=target == REMOTE_NAME)
        except gitrepo.GitError as error:
            git = ctx.project.git
            if git is None:
                raise
            raise gitrepo.GitError(
                f"{error}. The bootstrap does not create repositories on {git.host}: create "
                f"{git.full_name(repo)} there, empty (no README), and check that `git push "
                f"{remote.url}` works with your credentials (or edit git.remotes in "
                "cicd/resources.json, e.g. for SSH)"
            ) from None
        return {"commit": gitrepo.head_commit(folder), "remote": remote.url}

    return apply
