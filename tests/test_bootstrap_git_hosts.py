"""``mlops-bootstrap`` for a project on a third-party git host (git_host=github, ci=codepipeline),
run as a user runs it: AWS is the moto server, CodeConnections (which moto lacks) the small fake
in connections_fake.py, and GitHub two local bare repositories named as on GitHub.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from bootstrap_stand_in import (
    SLUG,
    bootstrap_env,
    copy_project,
    inventory,
    local_head,
    read_json,
    remote_head,
    run_bootstrap,
    stand_in,
)
from conftest import render_project
from connections_fake import ConnectionsFake, connections_fake

pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse AWS:UserWarning")

OWNER = "octo-org"
HOST_REPOSITORIES = {"modelbuild": f"{SLUG}-modelbuild", "modeldeploy": "abalone-deploy"}
FOLDERS = {"modelbuild": f"{SLUG}-modelbuild", "modeldeploy": f"{SLUG}-modeldeploy"}
EXIT_PENDING = 75


@pytest.fixture(scope="module")
def aws():
    with stand_in() as running:
        yield running


@pytest.fixture(scope="module")
def fake() -> Iterator[ConnectionsFake]:
    with connections_fake() as running:
        yield running


@pytest.fixture(scope="module")
def seed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    saved = os.environ.get("MLOPS_TEMPLATE_BOOTSTRAP")
    os.environ["MLOPS_TEMPLATE_BOOTSTRAP"] = "no"
    try:
        return render_project(
            tmp_path_factory.mktemp("seed"),
            git_host="github",
            git_owner=OWNER,
            modeldeploy_repository=HOST_REPOSITORIES["modeldeploy"],
        )
    finally:
        if saved is None:
            os.environ.pop("MLOPS_TEMPLATE_BOOTSTRAP")
        else:
            os.environ["MLOPS_TEMPLATE_BOOTSTRAP"] = saved


@pytest.fixture
def project(aws, fake: ConnectionsFake, seed: Path, tmp_path: Path) -> Path:
    aws.reset()
    fake.connections.clear()
    fake.calls.clear()
    fake.handshake_after_reads = None
    return copy_project(seed, tmp_path / SLUG)


@pytest.fixture
def remotes(tmp_path: Path) -> Path:
    """The two repositories a user creates, empty, on GitHub before the bootstrap."""
    root = tmp_path / "github"
    root.mkdir()
    for name in HOST_REPOSITORIES.values():
        subprocess.run(["git", "init", "--bare", "--quiet", str(root / f"{name}.git")], check=True)
    return root


@pytest.fixture
def env(aws, fake: ConnectionsFake, remotes: Path) -> dict[str, str]:
    return (
        bootstrap_env(aws, remotes)
        | fake.environment()
        | {"MLOPS_BOOTSTRAP_CONNECTION_POLL_SECONDS": "0.05"}
    )


def stack_parameters(aws) -> dict[str, str]:
    (stack,) = aws.client("cloudformation").describe_stacks(StackName=f"{SLUG}-cicd")["Stacks"]
    return {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}


def set_connection_arn(project: Path, arn: str) -> None:
    path = project / FOLDERS["modeldeploy"] / "cicd" / "resources.json"
    data = read_json(path)
    data["git"]["connection_arn"] = arn
    path.write_text(json.dumps(data, indent=2))


def assert_pushed(project: Path, remotes: Path) -> None:
    for repo, name in HOST_REPOSITORIES.items():
        assert remote_head(remotes, name) == local_head(project, FOLDERS[repo]), repo


def test_the_plan_lists_the_connection_and_its_handshake_and_no_codecommit(project, env):
    result = run_bootstrap(project, env, "bootstrap", "--dry-run")
    assert result.returncode == 0, result.stderr
    plan = result.stdout
    assert "CodeConnections connection" in plan and "create (GitHub, tagged)" in plan
    assert "connection handshake" in plan
    assert f"{OWNER}/{HOST_REPOSITORIES['modeldeploy']}" in plan
    assert "https://github.com/" not in plan  # the remotes are the local stand-ins here
    assert "CodeCommit" not in plan
    assert "pipeline triggers" in plan


def test_full_run_waits_for_the_handshake_then_pushes_and_deploys(aws, fake, project, env, remotes):
    fake.handshake_after_reads = 3  # the person finishes in the console while the bootstrap polls
    result = run_bootstrap(project, env, "bootstrap", "--yes")

    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "One manual step" in out and "Update pending connection" in out
    assert "https://console.aws.amazon.com/codesuite/settings/connections?region=us-east-1" in out
    assert "The connection is AVAILABLE." in out
    (connection,) = fake.connections.values()
    assert (connection.name, connection.provider) == (SLUG, "GitHub")
    assert {"Key": "project", "Value": SLUG} in connection.tags
    assert_pushed(project, remotes)
    found = inventory(aws)
    assert found["repositories"] == [] and found["stacks"] == [f"{SLUG}-cicd"]
    parameters = stack_parameters(aws)
    assert parameters["GitHost"] == "github" and parameters["GitOwner"] == OWNER
    assert parameters["ModelDeployRepositoryName"] == HOST_REPOSITORIES["modeldeploy"]
    assert parameters["ConnectionId"] == connection.arn.rsplit("/", 1)[1]
    assert parameters["ConnectionService"] == "codeconnections"
    state = read_json(project / ".mlops-bootstrap.json")
    assert sorted(state["steps"]) == [
        "cicd-stack",
        "connection",
        "connection-handshake",
        "model-package-group",
        "push:modelbuild",
        "push:modeldeploy",
    ]
    again = run_bootstrap(project, env, "bootstrap", "--yes")
    assert again.returncode == 0 and "Nothing to do" in again.stdout
    assert len(fake.connections) == 1


def test_a_pending_handshake_stops_cleanly_and_a_rerun_resumes(aws, fake, project, env, remotes):
    stopped = run_bootstrap(project, env, "bootstrap", "--yes", "--connection-wait", "0")

    assert stopped.returncode == EXIT_PENDING, stopped.stderr
    assert "Stopped: the connection" in stopped.stderr and "still PENDING" in stopped.stderr
    assert "Traceback" not in stopped.stderr
    assert all(remote_head(remotes, name) is None for name in HOST_REPOSITORIES.values())
    assert inventory(aws)["stacks"] == [] and inventory(aws)["groups"] == []
    assert len(fake.connections) == 1

    fake.complete_handshake()
    resumed = run_bootstrap(project, env, "bootstrap", "--yes")
    assert resumed.returncode == 0, resumed.stderr
    assert "One manual step" not in resumed.stdout
    assert len(fake.connections) == 1
    assert [op for _, op in fake.calls].count("CreateConnection") == 1
    assert_pushed(project, remotes)
    assert inventory(aws)["stacks"] == [f"{SLUG}-cicd"]


def test_a_lost_record_finds_the_tagged_connection_instead_of_a_second(fake, project, env):
    stopped = run_bootstrap(project, env, "bootstrap", "--yes", "--connection-wait", "0")
    assert stopped.returncode == EXIT_PENDING
    (project / ".mlops-bootstrap.json").unlink()
    fake.complete_handshake()
    assert run_bootstrap(project, env, "bootstrap", "--yes").returncode == 0
    assert len(fake.connections) == 1


@pytest.mark.parametrize("service", ["codeconnections", "codestar-connections"])
def test_a_given_connection_is_used_and_kept(aws, fake, project, env, service):
    arn = fake.add("GitHub", "platform-github", service, status="AVAILABLE")
    set_connection_arn(project, arn)

    result = run_bootstrap(project, env, "bootstrap", "--yes")
    assert result.returncode == 0, result.stderr
    assert "One manual step" not in result.stdout
    assert "CreateConnection" not in [op for _, op in fake.calls]
    parameters = stack_parameters(aws)
    assert parameters["ConnectionId"] == arn.rsplit("/", 1)[1]
    assert parameters["ConnectionService"] == service

    done = run_bootstrap(project, env, "teardown", "--yes")
    assert done.returncode == 0, done.stderr
    assert arn in fake.connections, "teardown deleted a connection the project did not create"
    assert inventory(aws)["stacks"] == []


def test_a_given_connection_to_another_host_blocks_before_any_change(aws, fake, project, env):
    set_connection_arn(project, fake.add("GitLab", "platform-gitlab", status="AVAILABLE"))
    result = run_bootstrap(project, env, "bootstrap", "--yes")
    assert result.returncode != 0
    assert "is a GitLab connection, but git.host is github" in result.stderr
    assert inventory(aws)["stacks"] == [] and inventory(aws)["groups"] == []


def test_teardown_deletes_the_connection_it_created(aws, fake, project, env):
    fake.complete_handshake()
    fake.handshake_after_reads = 0
    assert run_bootstrap(project, env, "bootstrap", "--yes").returncode == 0
    listed = run_bootstrap(project, env, "teardown", "--dry-run")
    assert "CodeConnections connection" in listed.stdout and "CodeCommit" not in listed.stdout
    done = run_bootstrap(project, env, "teardown", "--yes")
    assert done.returncode == 0, done.stderr
    assert fake.connections == {}
    assert inventory(aws) == {"repositories": [], "groups": [], "stacks": [], "buckets": []}


def test_a_repository_missing_on_the_host_is_named_with_what_to_do(fake, project, env, remotes):
    fake.handshake_after_reads = 0
    shutil.rmtree(remotes / f"{HOST_REPOSITORIES['modeldeploy']}.git")
    result = run_bootstrap(project, env, "bootstrap", "--yes")
    assert result.returncode != 0
    assert f"create {OWNER}/{HOST_REPOSITORIES['modeldeploy']} there, empty" in result.stderr
    assert "Re-run to continue where it stopped" in result.stderr


def test_github_actions_plans_no_connection(fake, project, env):
    """ci=github-actions (tests/test_bootstrap_github_actions.py) reaches AWS through GitHub's OIDC
    provider: the plan holds no CodeConnections connection, and none is looked up."""
    path = project / FOLDERS["modeldeploy"] / "cicd" / "resources.json"
    data = read_json(path)
    data["git"]["ci"] = "github-actions"
    path.write_text(json.dumps(data))
    result = run_bootstrap(project, env, "bootstrap", "--dry-run")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "CodeConnections" not in result.stdout
    assert f"{SLUG}-github-actions" in result.stdout
    assert fake.calls == []


@pytest.mark.parametrize(
    ("host", "owner", "provider"),
    [("gitlab", "data-science/ml", "GitLab"), ("bitbucket", "acme_ml", "Bitbucket")],
)
def test_each_other_host_bootstraps_with_its_provider_type(
    aws, fake, tmp_path, host, owner, provider
):
    aws.reset()
    fake.connections.clear()
    fake.handshake_after_reads = 0
    saved = os.environ.get("MLOPS_TEMPLATE_BOOTSTRAP")
    os.environ["MLOPS_TEMPLATE_BOOTSTRAP"] = "no"
    try:
        project = render_project(tmp_path / "out", git_host=host, git_owner=owner)
    finally:
        if saved is None:
            os.environ.pop("MLOPS_TEMPLATE_BOOTSTRAP")
        else:
            os.environ["MLOPS_TEMPLATE_BOOTSTRAP"] = saved
    remotes = tmp_path / host
    for folder in FOLDERS.values():
        subprocess.run(["git", "init", "--bare", "--quiet", str(remotes / f"{folder}.git")])
    env = bootstrap_env(aws, remotes) | fake.environment()

    result = run_bootstrap(project, env, "bootstrap", "--yes")
    assert result.returncode == 0, result.stderr
    (connection,) = fake.connections.values()
    assert connection.provider == provider
    for folder in FOLDERS.values():
        assert remote_head(remotes, folder) == local_head(project, folder)
    parameters = stack_parameters(aws)
    assert (parameters["GitHost"], parameters["GitOwner"]) == (host, owner)
    assert inventory(aws)["repositories"] == []
