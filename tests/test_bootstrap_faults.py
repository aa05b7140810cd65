"""A fault at each step in turn: the bootstrap stops naming the resource, keeps every file, and a
re-run finishes without duplicates. Also the questions asked on a terminal.

The faults go through botocore's real parsing and retry code (see the toolkit's
mlops_toolkit/bootstrap/faults.py). These runs call the CLI's ``main`` in this process, against the
same moto server as the subprocess tests, so the whole matrix stays fast.
"""

from __future__ import annotations

import io
import os
import subprocess
from pathlib import Path

import pytest
from bootstrap_stand_in import (
    BOOTSTRAPPED,
    SLUG,
    bare_remotes,
    bootstrap_env,
    copy_project,
    inventory,
    local_head,
    remote_head,
    render_seed_project,
    stand_in,
)
from mlops_toolkit.bootstrap import cli as bootstrap_cli

# moto warns about each resource type its CloudFormation skips (CodeBuild, CodePipeline...).
pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse AWS:UserWarning")

# The write (or first call) of each step, and how its resource is named in the error.
STEPS = {
    "GetCallerIdentity": "AWS identity",
    "CreateRepository": f"CodeCommit repository '{SLUG}-modelbuild'",
    "CreateModelPackageGroup": f"Model package group '{SLUG}'",
    "CreateStack": f"CloudFormation stack '{SLUG}-cicd'",
}
KINDS = {
    "deny": "access denied",
    "throttle": "throttled",
    "drop": "network error",
    "lost-reply": "network error",
}


@pytest.fixture(scope="module")
def aws():
    with stand_in() as running:
        yield running


@pytest.fixture(scope="module")
def seed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return render_seed_project(tmp_path_factory.mktemp("seed"))


@pytest.fixture
def project(aws, seed: Path, tmp_path: Path) -> Path:
    aws.reset()
    return copy_project(seed, tmp_path / SLUG)


@pytest.fixture
def environment(aws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The bootstrap's environment in this process; returns the local remotes' folder."""
    remotes = bare_remotes(tmp_path / "remotes")
    for key in list(os.environ):
        if key.startswith(("AWS_", "MLOPS_")):
            monkeypatch.delenv(key)
    for key, value in bootstrap_env(aws, remotes).items():
        monkeypatch.setenv(key, value)
    return remotes


def located(project: Path) -> list[str]:
    """Where the commands find the project: these runs' working folder is not inside it."""
    return ["--deploy-repo", str(project / f"{SLUG}-modeldeploy"), "--project-dir", str(project)]


def bootstrap(project: Path) -> tuple[int, str]:
    err = io.StringIO()
    status = bootstrap_cli.main(
        ["bootstrap", "--yes", *located(project)], io.StringIO(), io.StringIO(), err
    )
    return status, err.getvalue()


def untouched(project: Path, seed: Path) -> bool:
    """Both repositories have no changes and resources.json is as generated."""
    resources = f"{SLUG}-modeldeploy/cicd/resources.json"
    if (project / resources).read_bytes() != (seed / resources).read_bytes():
        return False
    for repo in BOOTSTRAPPED["repositories"]:
        status = subprocess.run(
            ["git", "-C", str(project / repo), "status", "--porcelain"],
            capture_output=True,
            text=True,
            check=True,
        )
        if status.stdout:
            return False
    return True


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("operation", STEPS)
def test_fault_stops_keeps_files_and_rerun_completes(
    aws, seed, project, environment, monkeypatch, operation, kind
):
    monkeypatch.setenv("MLOPS_BOOTSTRAP_FAULT", f"{operation}:{kind}")
    # Every attempt fails anyway; retrying would only add the SDK's backoff to the test's time
    # (test_one_transient_failure_is_retried_by_the_sdk covers the retries).
    monkeypatch.setenv("MLOPS_BOOTSTRAP_MAX_ATTEMPTS", "1")

    status, err = bootstrap(project)

    assert status == 1
    assert f"error: {STEPS[operation]}" in err
    assert KINDS[kind] in err
    assert "Traceback" not in err
    assert untouched(project, seed)
    monkeypatch.delenv("MLOPS_BOOTSTRAP_FAULT")
    assert bootstrap(project) == (0, "")
    assert inventory(aws) == BOOTSTRAPPED
    for repo in BOOTSTRAPPED["repositories"]:
        assert remote_head(environment, repo) == local_head(project, repo)


@pytest.mark.parametrize("fault", ["CreateStack:throttle:1", "CreateRepository:drop:1"])
def test_one_transient_failure_is_retried_by_the_sdk(aws, project, environment, monkeypatch, fault):
    monkeypatch.setenv("MLOPS_BOOTSTRAP_FAULT", fault)

    assert bootstrap(project) == (0, "")
    assert inventory(aws) == BOOTSTRAPPED


def test_malformed_fault_spec_is_a_usage_error(project, environment, monkeypatch):
    monkeypatch.setenv("MLOPS_BOOTSTRAP_FAULT", "CreateStack:explode")

    status, err = bootstrap(project)

    assert status == 2
    assert "MLOPS_BOOTSTRAP_FAULT: 'CreateStack:explode' is not Operation:kind" in err


class Terminal(io.StringIO):
    """Typed answers on what looks like a terminal."""

    def isatty(self) -> bool:
        return True


def run_on_terminal(project: Path, typed: str, *args: str) -> tuple[int, str]:
    out = io.StringIO()
    status = bootstrap_cli.main([*args, *located(project)], Terminal(typed), out, out)
    return status, out.getvalue()


def test_declining_the_question_creates_nothing(aws, project, environment):
    status, printed = run_on_terminal(project, "n\n", "bootstrap")

    assert status == 0
    assert "Create these in account 123456789012? [y/N]" in printed
    assert "Cancelled: nothing was created." in printed
    assert inventory(aws) == {key: [] for key in BOOTSTRAPPED}


def test_answering_yes_creates_everything(aws, project, environment):
    status, printed = run_on_terminal(project, "y\n", "bootstrap")

    assert status == 0, printed
    assert inventory(aws) == BOOTSTRAPPED


def test_teardown_deletes_only_after_the_slug_is_typed(aws, project, environment):
    assert bootstrap(project) == (0, "")

    status, printed = run_on_terminal(project, "yes\n", "teardown")

    assert status == 0
    assert f"Type the project slug ({SLUG}) to delete these 5:" in printed
    assert "Cancelled: nothing was deleted." in printed
    assert inventory(aws) == BOOTSTRAPPED
    assert run_on_terminal(project, f"{SLUG}\n", "teardown")[0] == 0
    assert inventory(aws) == {key: [] for key in BOOTSTRAPPED}
