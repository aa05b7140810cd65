"""The project's settings and resource names, read from the deploy repository's
``cicd/resources.json``.

That file is data written when the project was generated, from the same code that checked the
answers, so the names here always match what the template validated. Edit it before the first
bootstrap to rename something; every command reads it afresh. Besides it, the bootstrap reads only
``cicd/cicd-stack.yml`` and ``cicd/bootstrap-policy.json``: the files a team owns stay in its
repository, and nothing else of the generated layout is assumed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlops_toolkit.bootstrap.errors import ConfigError

CICD_DIR_NAME = "cicd"
RESOURCES_FILE_NAME = "resources.json"
STACK_TEMPLATE_NAME = "cicd-stack.yml"
POLICY_FILE_NAME = "bootstrap-policy.json"
STATE_FILE_NAME = ".mlops-bootstrap.json"
ACCOUNT_PLACEHOLDER = "{account_id}"

PROJECT_KEYS = (
    "project_name",
    "project_slug",
    "description",
    "aws_region",
    "owner_team",
    "pipeline_name",
    "model_package_group_name",
)
# Answers that a resources.json written before them lacks: the value keeps its stack as it was.
OPTIONAL_PROJECT_KEYS = {
    "hyperparameter_tuning": "no",
    "deployment": "realtime",
    "batch_schedule": "cron(0 2 * * ? *)",
}
NAME_KEYS = (
    "modelbuild_repo",
    "modeldeploy_repo",
    "modelbuild_build_project",
    "modeldeploy_build_project",
    "staging_test_build_project",
    "modelbuild_codepipeline",
    "modeldeploy_codepipeline",
    "staging_stack",
    "prod_stack",
    "cicd_stack",
    "staging_endpoint",
    "prod_endpoint",
    "artifact_bucket",
)
REPOS = ("modelbuild", "modeldeploy")
CODECOMMIT = "codecommit"
# The git hosts CodePipeline reaches through an AWS CodeConnections connection, by the
# connection's ProviderType.
CONNECTION_PROVIDERS = {"github": "GitHub", "gitlab": "GitLab", "bitbucket": "Bitbucket"}
CONNECTION_ARN = re.compile(
    r"arn:aws[a-z-]*:(codeconnections|codestar-connections):[a-z0-9-]+:[0-9]{12}:connection/[0-9a-f-]+"
)


@dataclass(frozen=True)
class GitHost:
    """A third-party git host holding both repositories (resources.json's ``git`` section)."""

    host: str
    ci: str
    owner: str
    repositories: Mapping[str, str]
    remotes: Mapping[str, str]
    connection_arn: str

    @property
    def provider(self) -> str:
        return CONNECTION_PROVIDERS[self.host]

    def full_name(self, repo: str) -> str:
        return f"{self.owner}/{self.repositories[repo]}"


@dataclass(frozen=True)
class Project:
    """One generated project: its answers, its AWS names and where its files are."""

    settings: Mapping[str, str]
    names: Mapping[str, str]
    project_dir: Path
    # The deploy repository's cicd/ folder: resources.json, the stack template, the policies.
    cicd_dir: Path
    # None: both repositories are CodeCommit's, created by the bootstrap.
    git: GitHost | None = None

    @property
    def git_host(self) -> str:
        return self.git.host if self.git else CODECOMMIT

    @property
    def slug(self) -> str:
        return self.settings["project_slug"]

    @property
    def region(self) -> str:
        return self.settings["aws_region"]

    @property
    def pipeline_name(self) -> str:
        return self.settings["pipeline_name"]

    @property
    def model_package_group(self) -> str:
        return self.settings["model_package_group_name"]

    @property
    def state_file(self) -> Path:
        return self.project_dir / STATE_FILE_NAME

    @property
    def deploy_repo_dir(self) -> Path:
        return self.cicd_dir.parent

    @property
    def stack_template(self) -> Path:
        return self.cicd_dir / STACK_TEMPLATE_NAME

    @property
    def policy_file(self) -> Path:
        return self.cicd_dir / POLICY_FILE_NAME

    def repo_name(self, repo: str) -> str:
        return self.names[f"{repo}_repo"]

    def repo_dir(self, repo: str) -> Path:
        return self.project_dir / self.repo_name(repo)

    def artifact_bucket(self, account_id: str) -> str:
        return self.names["artifact_bucket"].replace(ACCOUNT_PLACEHOLDER, account_id)

    def tags(self) -> list[dict[str, str]]:
        """The tags every resource gets, as the model-build pipeline tags its own."""
        return [
            {"Key": "project", "Value": self.slug},
            {"Key": "owner", "Value": self.settings["owner_team"]},
        ]

    def repo_description(self, repo: str) -> str:
        """Repository description; its last words mark the repository as this project's."""
        purpose = "Model build code" if repo == "modelbuild" else "Model deployment code"
        return f"{purpose} for {self.settings['project_name']} {ownership_marker(self.slug)}"


def ownership_marker(slug: str) -> str:
    # CodeCommit's tag API is not universally available to read back (the local stand-in lacks
    # it), but the description always is: its marker says the repository is this project's.
    return f"(mlops-template project {slug})"


def find_deploy_repo(start: Path) -> Path:
    """The nearest folder at or above ``start`` holding ``cicd/resources.json``."""
    start = start.resolve()
    for folder in (start, *start.parents):
        if (folder / CICD_DIR_NAME / RESOURCES_FILE_NAME).is_file():
            return folder
    raise ConfigError(
        f"no {CICD_DIR_NAME}/{RESOURCES_FILE_NAME} in {start} or any folder above it. Run this "
        "from the model-deploy repository, or pass --deploy-repo with its folder."
    )


def load_project(deploy_repo: Path, project_dir: Path | None = None) -> Project:
    """Read ``deploy_repo/cicd/resources.json``; a missing or incomplete file is a ConfigError
    naming the fix. ``project_dir`` (both repositories' folder) defaults to the repo's parent."""
    deploy_repo = deploy_repo.resolve()
    cicd_dir = deploy_repo / CICD_DIR_NAME
    path = cicd_dir / RESOURCES_FILE_NAME
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"{path} is missing. It is written when the project is generated; generate the "
            "project again, or restore the file from git (`git checkout -- cicd/resources.json`)."
        ) from None
    except (OSError, ValueError) as error:
        raise ConfigError(f"{path} is not readable JSON: {error}") from None
    settings = _section(raw, "project", PROJECT_KEYS, path)
    given = raw["project"]
    settings |= {key: str(given.get(key, value)) for key, value in OPTIONAL_PROJECT_KEYS.items()}
    names = _section(raw, "names", NAME_KEYS, path)
    if ACCOUNT_PLACEHOLDER not in names["artifact_bucket"]:
        raise ConfigError(
            f"{path}: names.artifact_bucket must contain {ACCOUNT_PLACEHOLDER}, which the "
            "bootstrap replaces with the AWS account id."
        )
    git = _git_section(raw.get("git"), path) if "git" in raw else None
    return Project(settings, names, (project_dir or deploy_repo.parent).resolve(), cicd_dir, git)


def _git_section(section: Any, path: Path) -> GitHost:
    where = f"{path}: git"
    if not isinstance(section, dict):
        raise ConfigError(f"{where} must be an object (or absent, for CodeCommit).")
    host = section.get("host")
    if host not in CONNECTION_PROVIDERS:
        raise ConfigError(f"{where}.host must be one of {', '.join(CONNECTION_PROVIDERS)}.")
    texts = {key: section.get(key) for key in ("ci", "owner", "connection_arn")}
    wrong = [key for key, value in texts.items() if not isinstance(value, str)]
    if wrong or not texts["owner"]:
        raise ConfigError(f"{where}: ci, owner, connection_arn must be strings; owner not empty.")
    arn = texts["connection_arn"]
    if arn and not CONNECTION_ARN.fullmatch(arn):
        raise ConfigError(
            f"{where}.connection_arn {arn!r} is not a CodeConnections connection ARN; leave it "
            "empty for the bootstrap to create one."
        )
    maps = {key: section.get(key) for key in ("repositories", "remotes")}
    for key, value in maps.items():
        if not isinstance(value, dict) or not all(
            isinstance(value.get(repo), str) and value[repo] for repo in REPOS
        ):
            raise ConfigError(f"{where}.{key} must name both {' and '.join(REPOS)}.")
    return GitHost(host, texts["ci"], texts["owner"], maps["repositories"], maps["remotes"], arn)


def _section(raw: object, key: str, required: tuple[str, ...], path: Path) -> dict[str, str]:
    section = raw.get(key) if isinstance(raw, dict) else None
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: the {key!r} object is missing.")
    missing = [name for name in required if not isinstance(section.get(name), str)]
    if missing:
        raise ConfigError(f"{path}: {key} lacks {', '.join(missing)} (each must be a string).")
    return {name: section[name] for name in required}
