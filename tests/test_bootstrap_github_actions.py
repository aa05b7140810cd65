"""`mlops-bootstrap` for git_host=github ci=github-actions against the stand-in: the CI/CD stack
without its CodePipeline half, then the dispatch token's secret and github-actions-stack.yml;
the GitHub settings printed; a second run changes nothing; teardown removes it all, and an OIDC
provider the account already had is used, never created or deleted."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import github_stand_in  # noqa: F401 - teaches the stand-in's CloudFormation three resource types
import pytest
from bootstrap_stand_in import (
    ACCOUNT,
    SLUG,
    StandIn,
    bare_remotes,
    bootstrap_env,
    inventory,
    run_bootstrap,
    stand_in,
)
from conftest import render_project

OWNER = "example-org"
TOKEN = "github_pat_stand_in_0123456789"
GITHUB_STACK = f"{SLUG}-github-actions"
CICD_STACK = f"{SLUG}-cicd"
SECRET = f"{SLUG}/github-dispatch-token"
PROVIDER = f"arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com"
ROLES = ("ModelBuildWorkflowRole", "StagingDeployWorkflowRole", "ProdDeployWorkflowRole")


@pytest.fixture(scope="module")
def aws() -> StandIn:
    with stand_in() as server:
        yield server


@pytest.fixture
def project(tmp_path: Path, aws: StandIn, monkeypatch: pytest.MonkeyPatch) -> Path:
    aws.reset()
    monkeypatch.setenv("MLOPS_TEMPLATE_BOOTSTRAP", "no")
    return render_project(tmp_path / "out", git_host="github", ci="github-actions", git_owner=OWNER)


def _env(aws: StandIn, tmp_path: Path, **extra: str) -> dict[str, str]:
    return bootstrap_env(aws, bare_remotes(tmp_path / "remotes"), **extra)


def _stack(aws: StandIn, name: str) -> dict:
    (stack,) = aws.client("cloudformation").describe_stacks(StackName=name)["Stacks"]
    return stack


def _outputs(aws: StandIn, name: str) -> dict[str, str]:
    return {o["OutputKey"]: o["OutputValue"] for o in _stack(aws, name).get("Outputs", [])}


def _parameters(aws: StandIn, name: str) -> dict[str, str]:
    return {p["ParameterKey"]: p["ParameterValue"] for p in _stack(aws, name)["Parameters"]}


def test_bootstrap_creates_the_github_side_and_prints_the_settings(
    aws: StandIn, project: Path, tmp_path: Path
) -> None:
    env = _env(aws, tmp_path, MLOPS_GITHUB_DISPATCH_TOKEN=TOKEN)
    result = run_bootstrap(project, env, "bootstrap", "--yes")
    assert result.returncode == 0, result.stdout + result.stderr

    # The code went to the GitHub repositories (local bare ones here), not to CodeCommit.
    assert inventory(aws)["repositories"] == []
    for repo in ("modelbuild", "modeldeploy"):
        remote = tmp_path / "remotes" / f"{SLUG}-{repo}.git"
        heads = subprocess.run(
            ["git", "-C", str(remote), "rev-parse", "main"], capture_output=True, text=True
        )
        assert heads.returncode == 0, heads.stderr
    assert _stack(aws, CICD_STACK)["StackStatus"] == "CREATE_COMPLETE"
    assert _parameters(aws, CICD_STACK)["CiSystem"] == "github-actions"
    assert _stack(aws, GITHUB_STACK)["StackStatus"] == "CREATE_COMPLETE"
    parameters = _parameters(aws, GITHUB_STACK)
    assert parameters["CreateOidcProvider"] == "yes"
    assert parameters["GitHubOwner"] == OWNER
    assert parameters["CloudFormationRoleArn"] == _outputs(aws, CICD_STACK)["CloudFormationRoleArn"]

    # The token went into the project's secret, and only its ARN into the stack.
    secrets = aws.client("secretsmanager")
    secret = secrets.describe_secret(SecretId=SECRET)
    assert secrets.get_secret_value(SecretId=SECRET)["SecretString"] == TOKEN
    assert parameters["DispatchTokenSecretArn"] == secret["ARN"]
    assert TOKEN not in json.dumps(_stack(aws, GITHUB_STACK), default=str)

    iam = aws.client("iam")
    assert iam.get_open_id_connect_provider(OpenIDConnectProviderArn=PROVIDER)["ClientIDList"] == [
        "sts.amazonaws.com"
    ]
    outputs = _outputs(aws, GITHUB_STACK)
    for role in ROLES:
        arn = outputs[f"{role}Arn"]
        trust = iam.get_role(RoleName=arn.rsplit("/", 1)[1])["Role"]["AssumeRolePolicyDocument"]
        (statement,) = trust["Statement"]
        assert statement["Principal"] == {"Federated": PROVIDER}
        # Printed for the team to set in GitHub.
        assert arn in result.stdout

    events = aws.client("events")
    (destination,) = events.list_api_destinations()["ApiDestinations"]
    assert destination["InvocationEndpoint"] == (
        f"https://api.github.com/repos/{OWNER}/{SLUG}-modeldeploy/dispatches"
    )
    rules = events.list_rules()["Rules"]
    dispatch = [
        target
        for rule in rules
        for target in events.list_targets_by_rule(Rule=rule["Name"])["Targets"]
        if target["Arn"] == destination["ApiDestinationArn"]
    ]
    assert len(dispatch) == 1

    printed = result.stdout
    assert f"{OWNER}/{SLUG}-modelbuild:" in printed
    assert re.search(r"AWS_PROD_ROLE_ARN=arn:aws:iam::\d+:role/", printed)
    assert "Environment production" in printed


def test_a_second_run_changes_nothing_and_teardown_removes_everything(
    aws: StandIn, project: Path, tmp_path: Path
) -> None:
    env = _env(aws, tmp_path, MLOPS_GITHUB_DISPATCH_TOKEN=TOKEN)
    assert run_bootstrap(project, env, "bootstrap", "--yes").returncode == 0

    again = run_bootstrap(project, env, "bootstrap", "--yes")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "Nothing to do" in again.stdout

    removed = run_bootstrap(project, env, "teardown", "--yes")
    assert removed.returncode == 0, removed.stdout + removed.stderr
    names = {
        s["StackName"]
        for s in aws.client("cloudformation").list_stacks()["StackSummaries"]
        if s["StackStatus"] != "DELETE_COMPLETE"
    }
    assert not names & {CICD_STACK, GITHUB_STACK}
    assert aws.client("secretsmanager").list_secrets()["SecretList"] == []
    assert aws.client("iam").list_open_id_connect_providers()["OpenIDConnectProviderList"] == []


def test_an_existing_provider_is_used_and_kept(aws: StandIn, project: Path, tmp_path: Path) -> None:
    iam = aws.client("iam")
    iam.create_open_id_connect_provider(
        Url="https://token.actions.githubusercontent.com", ClientIDList=["sts.amazonaws.com"]
    )
    env = _env(aws, tmp_path)  # and no token: no approval trigger
    result = run_bootstrap(project, env, "bootstrap", "--yes")
    assert result.returncode == 0, result.stdout + result.stderr
    parameters = _parameters(aws, GITHUB_STACK)
    assert parameters["CreateOidcProvider"] == "no"
    assert parameters["DispatchTokenSecretArn"] == ""
    assert aws.client("events").list_api_destinations()["ApiDestinations"] == []
    assert "No dispatch token" in result.stdout

    # A re-run keeps the answer (the provider is still not the stack's), and teardown keeps it.
    assert "Nothing to do" in run_bootstrap(project, env, "bootstrap", "--yes").stdout
    assert run_bootstrap(project, env, "teardown", "--yes").returncode == 0
    providers = iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]
    assert [p["Arn"] for p in providers] == [PROVIDER]
