"""``python -m mlops_toolkit.bootstrap`` on a deploy repository that is not the template's, against
the embedded stand-in: found from a folder inside it, everything created under the names in its
resources.json, a second run changes nothing, and teardown lists exactly that."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from bootstrap_fixture import ACCOUNT, NAMES, PROJECT, write_project

# moto warns about each resource type its CloudFormation skips.
pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse AWS:UserWarning")


def run(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlops_toolkit.bootstrap", *args],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def env(stand_in, tmp_path: Path) -> dict[str, str]:
    remotes = tmp_path / "remotes"
    for repo in (NAMES["modelbuild_repo"], NAMES["modeldeploy_repo"]):
        subprocess.run(["git", "init", "-q", "--bare", str(remotes / f"{repo}.git")], check=True)
    stand_in.reset()
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MLOPS_"))}
    return {
        **inherited,
        **stand_in.environment(),
        "MLOPS_BOOTSTRAP_GIT_REMOTE": f"{remotes}/{{repo}}.git",
        "MLOPS_BOOTSTRAP_MAX_ATTEMPTS": "2",
        "MLOPS_BOOTSTRAP_STACK_POLL_SECONDS": "1",
        "PYTHONWARNINGS": "ignore",
    }


def test_bootstrap_rerun_and_teardown_listing_of_a_foreign_project(stand_in, env, tmp_path):
    deploy = write_project(tmp_path / "project")

    created = run(deploy / "cicd", env, "bootstrap", "--yes")

    assert created.returncode == 0, created.stderr
    codecommit = stand_in.client("codecommit")
    for repo in (NAMES["modelbuild_repo"], NAMES["modeldeploy_repo"]):
        described = codecommit.get_repository(repositoryName=repo)["repositoryMetadata"]
        assert described["repositoryDescription"].endswith("(mlops-template project churn)")
        head = subprocess.run(
            ["git", "-C", str(tmp_path / "remotes" / f"{repo}.git"), "rev-parse", "main"],
            capture_output=True,
            text=True,
        )
        assert head.returncode == 0, head.stderr
    group = PROJECT["model_package_group_name"]
    assert stand_in.client("sagemaker").describe_model_package_group(ModelPackageGroupName=group)
    (stack,) = stand_in.client("cloudformation").describe_stacks(StackName=NAMES["cicd_stack"])[
        "Stacks"
    ]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    bucket = NAMES["artifact_bucket"].replace("{account_id}", ACCOUNT)
    assert bucket in [b["Name"] for b in stand_in.client("s3").list_buckets()["Buckets"]]
    assert (tmp_path / "project" / ".mlops-bootstrap.json").is_file()

    again = run(deploy, env, "bootstrap", "--yes")
    assert again.returncode == 0, again.stderr
    assert "Nothing to do: every resource is in place." in again.stdout

    listed = run(tmp_path, env, "teardown", "--dry-run", "--deploy-repo", str(deploy))
    assert listed.returncode == 0, listed.stderr
    for name in (NAMES["cicd_stack"], bucket, group, NAMES["modelbuild_repo"]):
        assert name in listed.stdout, name
    assert "Dry run: 5 resource(s) would be deleted" in listed.stdout


def test_outside_any_deploy_repository_the_error_says_where_to_run(env, tmp_path):
    result = run(tmp_path, env, "bootstrap", "--dry-run")

    assert result.returncode == 2
    assert "no cicd/resources.json in" in result.stderr and "--deploy-repo" in result.stderr
    assert "Traceback" not in result.stderr
