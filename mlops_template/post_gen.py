"""What happens right after cookiecutter writes a project (hooks/post_gen_project.py calls
``main``): record the AWS names, make both folders git repositories on ``main``, and, only when
asked, run the bootstrap that creates the AWS resources.

Nothing here may fail the hook: cookiecutter deletes the generated project when a hook exits
non-zero, so every problem becomes a message that says how to finish by hand.

The git helpers and the bootstrap are the toolkit's (``mlops_toolkit.bootstrap``), taken from the
template checkout's own ``toolkit/src``: the version the project pins, by construction, with no
installation into the Python that runs cookiecutter (which needs only boto3 and its own PyYAML).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import TextIO

from mlops_template.ci_files import select_ci
from mlops_template.deployments import DEFAULT_DEPLOYMENT, select_deployment
from mlops_template.frameworks import DEFAULT_FRAMEWORK, select_framework
from mlops_template.git_hosts import CODEPIPELINE
from mlops_template.rerender import rerender_reason
from mlops_template.resources_file import write_resources_file

BOOTSTRAP_ENV = "MLOPS_TEMPLATE_BOOTSTRAP"
BOOTSTRAP_ANSWER = "bootstrap_aws"
YES, NO = "yes", "no"
PREFIX = "mlops-template:"
REPOS = ("modelbuild", "modeldeploy")
TOOLKIT_SRC = Path(__file__).resolve().parents[1] / "toolkit" / "src"
BOOTSTRAP_MODULE = "mlops_toolkit.bootstrap"
# What the toolkit's bootstrap imports beyond the standard library.
BOOTSTRAP_IMPORTS = ("boto3", "yaml")


def main(
    answers: Mapping[str, object],
    project_dir: Path | None = None,
    env: Mapping[str, str] | None = None,
    interactive: bool | None = None,
    out: TextIO | None = None,
) -> int:
    """The hook's whole job; always returns 0 so the generated files are kept."""
    out = out or sys.stdout
    project_dir = (project_dir or Path.cwd()).resolve()
    env = os.environ if env is None else env
    try:
        _post_generate(answers, project_dir, env, interactive, out)
    except KeyboardInterrupt:
        print(f"\n{PREFIX} interrupted; the files are kept in {project_dir}.", file=out)
    except Exception as error:  # noqa: BLE001 - any failure here would delete the project
        print(f"{PREFIX} warning: the post-generation step failed ({error!r}).", file=out)
        print(f"{PREFIX} the files are kept in {project_dir}.", file=out)
    return 0


def _post_generate(
    answers: Mapping[str, object],
    project_dir: Path,
    env: Mapping[str, str],
    interactive: bool | None,
    out: TextIO,
) -> None:
    slug = str(answers["project_slug"])
    repo_dirs = [project_dir / f"{slug}-{repo}" for repo in REPOS]
    deploy_dir = repo_dirs[1]
    # Before anything else: a re-render must be trimmed to one framework like the first render.
    select_framework(repo_dirs[0], str(answers.get("framework", DEFAULT_FRAMEWORK)))
    for repo, repo_dir in zip(REPOS, repo_dirs, strict=True):
        select_ci(repo_dir, repo, str(answers.get("ci", CODEPIPELINE)))
    select_deployment(deploy_dir, str(answers.get("deployment", DEFAULT_DEPLOYMENT)))
    reason = rerender_reason(answers, project_dir, repo_dirs, env)
    # The names file is plain output of the template: re-renders refresh it like any other file.
    write_resources_file(deploy_dir, answers)
    if reason:
        print(f"{PREFIX} re-render detected ({reason}): no git init, no AWS changes.", file=out)
        return
    if not init_repositories(repo_dirs, deploy_dir, str(answers["project_name"]), slug, out):
        return
    wanted, why = bootstrap_wanted(answers, env)
    finish = finish_command(deploy_dir)
    if not wanted:
        print(f"{PREFIX} AWS resources not created ({why}). When ready: {finish}", file=out)
        return
    run_bootstrap(deploy_dir, sys.stdin.isatty() if interactive is None else interactive, out)


def bootstrap_wanted(answers: Mapping[str, object], env: Mapping[str, str]) -> tuple[bool, str]:
    """Whether to bootstrap, and why: the environment variable overrides the answer."""
    override = env.get(BOOTSTRAP_ENV, "").strip().lower()
    if override in (YES, NO):
        return override == YES, f"{BOOTSTRAP_ENV}={override}"
    answer = str(answers.get(BOOTSTRAP_ANSWER, NO)).strip().lower()
    return answer == YES, f"{BOOTSTRAP_ANSWER}={answer}"


def finish_command(deploy_dir: Path) -> str:
    return f"cd '{deploy_dir}' && pip install -r cicd/requirements.txt && mlops-bootstrap bootstrap"


def init_repositories(
    repo_dirs: list[Path], deploy_dir: Path, project_name: str, slug: str, out: TextIO
) -> bool:
    """``git init`` each repository with one commit on main; False (with a warning) if git is
    missing or fails, since pushing needs both repositories."""
    gitrepo = _load_gitrepo()
    if not gitrepo.git_available():
        print(
            f"{PREFIX} warning: git is not installed, so the repositories were not initialised. "
            f"The files are in {deploy_dir.parent}. Install git, then run: "
            f"{finish_command(deploy_dir)} (it initialises them first).",
            file=out,
        )
        return False
    identity = (f"{project_name} (mlops-template)", f"{slug}@mlops-template.invalid")
    for repo in repo_dirs:
        try:
            commit = gitrepo.init_repository(repo, *identity)
        except gitrepo.GitError as error:
            print(f"{PREFIX} warning: {error}. The files are kept in {repo}.", file=out)
            return False
        print(f"{PREFIX} {repo.name}: git repository on main, commit {commit[:7]}", file=out)
    return True


def _load_gitrepo() -> ModuleType:
    # Loaded by path: an installed mlops_toolkit of another version must not answer instead.
    path = TOOLKIT_SRC / "mlops_toolkit" / "bootstrap" / "gitrepo.py"
    spec = importlib.util.spec_from_file_location(f"_mlops_gitrepo_{abs(hash(path))}", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def bootstrap_command(deploy_dir: Path, interactive: bool) -> tuple[list[str], dict[str, str]]:
    """The toolkit's bootstrap for ``deploy_dir``, from the template's source, and its
    environment. Unattended (no terminal), answering yes to bootstrap_aws is the consent."""
    command = [sys.executable, "-m", BOOTSTRAP_MODULE, "bootstrap"]
    command += ["--deploy-repo", str(deploy_dir)]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TOOLKIT_SRC), env.get("PYTHONPATH")]))
    return [*command, *([] if interactive else ["--yes"])], env


def missing_imports() -> list[str]:
    return [name for name in BOOTSTRAP_IMPORTS if importlib.util.find_spec(name) is None]


def run_bootstrap(deploy_dir: Path, interactive: bool, out: TextIO) -> int:
    """Run the bootstrap in the deploy repository; its exit status, reported."""
    finish = finish_command(deploy_dir)
    missing = missing_imports()
    if missing:
        print(
            f"{PREFIX} {' and '.join(missing)} not installed in the Python running cookiecutter "
            f"({sys.executable}), so the AWS resources were not created. Install boto3 there "
            "(`pipx inject cookiecutter boto3`) and generate again, or run: "
            f"{finish}",
            file=out,
        )
        return 1
    command, env = bootstrap_command(deploy_dir, interactive)
    out.flush()
    status = subprocess.run(command, cwd=deploy_dir, env=env, check=False).returncode
    if status != 0:
        print(
            f"{PREFIX} the bootstrap stopped (exit status {status}); the generated files are "
            f"complete and kept. Finish later with: {finish}",
            file=out,
        )
    return status
