"""`mlops-bootstrap` for git_host=github ci=github-actions against the stand-in: the CI/CD stack
without its CodePipeline half, then the dispatch token's secret and github-actions-stack.yml;
the GitHub settings printed; a second run changes nothing, one with a new token stores it and
updates the stack; teardown removes it all, and an OIDC provider the account already had is used,
never created or deleted.

The runs are recorded, so they also check the IAM contract of whoever bootstraps: the rendered
cicd/bootstrap-policy.json allows every call and every handler permission of both stacks (and
the token CloudFormation resolves), and its github-actions-stack policy grants nothing these runs
do not use (each statement's removal denies a named call).
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import github_stand_in  # noqa: F401 - teaches the stand-in's CloudFormation three resource types
import pytest
from bootstrap_stand_in import (
    ACCOUNT,
    SLUG,
    StandIn,
    bare_remotes,
    bootstrap_env,
    copy_project,
    inventory,
    run_bootstrap,
    stand_in,
)
from conftest import render_project
from iam_contract.api_calls import to_requests
from iam_contract.evaluator import (
    IamRequest,
    Principal,
    denials,
    granted_actions,
    unused_actions,
)
from iam_contract.handlers import handler_work
from iam_contract.project import deploy_repo
from iam_contract.recorder import ApiCall, CallRecorder
from iam_contract.stack import DeployedStack, resource_policies
from mlops_toolkit.bootstrap import github_actions, policy
from mlops_toolkit.bootstrap.project import load_project
from test_iam_contract_bootstrap import USER

pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse AWS:UserWarning")

OWNER = "example-org"
TOKEN = "github_pat_stand_in_0123456789"
NEW_TOKEN = "github_pat_stand_in_rotated_9876543210"
GITHUB_STACK = f"{SLUG}-github-actions"
CICD_STACK = f"{SLUG}-cicd"
SECRET = f"{SLUG}/github-dispatch-token"
PROVIDER = f"arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com"
ROLES = ("ModelBuildWorkflowRole", "StagingDeployWorkflowRole", "ProdDeployWorkflowRole")
DOCUMENT = "github-actions-stack"


@dataclass(frozen=True)
class FirstRun:
    """What the first run (with a token) printed and left in the account."""

    printed: str
    remote_heads: dict[str, int]  # repository -> `git rev-parse main` exit status
    repositories: list[str]  # CodeCommit's
    cicd_status: str
    cicd_parameters: dict[str, str]
    cicd_outputs: dict[str, str]
    status: str
    parameters: dict[str, str]
    outputs: dict[str, str]
    described_stack: str  # the stack as JSON, to look for the token
    secret_arn: str
    secret_value: str
    provider_clients: list[str]
    trusts: dict[str, Any]  # role -> its trust policy
    destinations: list[dict[str, Any]]
    dispatch_targets: int


@dataclass(frozen=True)
class Runs:
    first: FirstRun
    again: str
    rotated_parameters: dict[str, str]
    rotated_secret: str
    live_after_teardown: set[str]
    secrets_after_teardown: list[Any]
    providers_after_teardown: list[Any]
    existing_printed: str
    existing_parameters: dict[str, str]
    existing_destinations: list[Any]
    existing_again: str
    existing_teardown_rc: int
    existing_providers_after: list[str]
    calls: list[ApiCall]
    cicd: DeployedStack
    github: DeployedStack
    policies: dict[str, Any]


def _stack(aws: StandIn, name: str) -> dict:
    (stack,) = aws.client("cloudformation").describe_stacks(StackName=name)["Stacks"]
    return stack


def _outputs(aws: StandIn, name: str) -> dict[str, str]:
    return {o["OutputKey"]: o["OutputValue"] for o in _stack(aws, name).get("Outputs", [])}


def _parameters(aws: StandIn, name: str) -> dict[str, str]:
    return {p["ParameterKey"]: p["ParameterValue"] for p in _stack(aws, name)["Parameters"]}


def _recorded(
    project: Path, recorder: CallRecorder, env: dict[str, str], log: Path, *args: str
) -> tuple[subprocess.CompletedProcess[str], list[ApiCall]]:
    done = run_bootstrap(project, recorder.environment(env, log), *args)
    assert done.returncode == 0, f"{' '.join(args)}: {done.stdout}\n{done.stderr}"
    return done, recorder.calls(log)


def _first_run(aws: StandIn, printed: str, remotes: Path) -> FirstRun:
    heads = {
        repo: subprocess.run(
            ["git", "-C", str(remotes / f"{SLUG}-{repo}.git"), "rev-parse", "main"],
            capture_output=True,
            text=True,
        ).returncode
        for repo in ("modelbuild", "modeldeploy")
    }
    secrets, iam, events = (aws.client(s) for s in ("secretsmanager", "iam", "events"))
    outputs = _outputs(aws, GITHUB_STACK)
    trusts = {
        role: iam.get_role(RoleName=outputs[f"{role}Arn"].rsplit("/", 1)[1])["Role"][
            "AssumeRolePolicyDocument"
        ]
        for role in ROLES
    }
    destinations = events.list_api_destinations()["ApiDestinations"]
    targets = [
        target
        for rule in events.list_rules()["Rules"]
        for target in events.list_targets_by_rule(Rule=rule["Name"])["Targets"]
        if target["Arn"] in {d["ApiDestinationArn"] for d in destinations}
    ]
    return FirstRun(
        printed=printed,
        remote_heads=heads,
        repositories=inventory(aws)["repositories"],
        cicd_status=_stack(aws, CICD_STACK)["StackStatus"],
        cicd_parameters=_parameters(aws, CICD_STACK),
        cicd_outputs=_outputs(aws, CICD_STACK),
        status=_stack(aws, GITHUB_STACK)["StackStatus"],
        parameters=_parameters(aws, GITHUB_STACK),
        outputs=outputs,
        described_stack=json.dumps(_stack(aws, GITHUB_STACK), default=str),
        secret_arn=secrets.describe_secret(SecretId=SECRET)["ARN"],
        secret_value=secrets.get_secret_value(SecretId=SECRET)["SecretString"],
        provider_clients=iam.get_open_id_connect_provider(OpenIDConnectProviderArn=PROVIDER)[
            "ClientIDList"
        ],
        trusts=trusts,
        destinations=destinations,
        dispatch_targets=len(targets),
    )


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Runs:
    root = tmp_path_factory.mktemp("bootstrap-github-actions")
    os.environ["MLOPS_TEMPLATE_BOOTSTRAP"] = "no"
    seed = render_project(root / "seed", git_host="github", ci="github-actions", git_owner=OWNER)
    recorder = CallRecorder(root / "recorder")
    with stand_in() as aws:
        aws.reset()
        project = copy_project(seed, root / "with-token" / seed.name)
        remotes = bare_remotes(root / "remotes")
        env = bootstrap_env(aws, remotes, MLOPS_GITHUB_DISPATCH_TOKEN=TOKEN)
        done, calls = _recorded(project, recorder, env, root / "b0.jsonl", "bootstrap", "--yes")
        first = _first_run(aws, done.stdout, remotes)
        again, more = _recorded(project, recorder, env, root / "b1.jsonl", "bootstrap", "--yes")
        calls += more
        # A new token: the secret gets a new version, which the stack's connection takes.
        rotated = env | {"MLOPS_GITHUB_DISPATCH_TOKEN": NEW_TOKEN}
        _, more = _recorded(project, recorder, rotated, root / "b2.jsonl", "bootstrap", "--yes")
        calls += more
        rotated_parameters = _parameters(aws, GITHUB_STACK)
        rotated_secret = aws.client("secretsmanager").get_secret_value(SecretId=SECRET)
        _, more = _recorded(project, recorder, env, root / "t0.jsonl", "teardown", "--yes")
        calls += more
        summaries = aws.client("cloudformation").list_stacks()["StackSummaries"]
        live = {s["StackName"] for s in summaries if s["StackStatus"] != "DELETE_COMPLETE"}
        secrets_after = aws.client("secretsmanager").list_secrets()["SecretList"]
        iam = aws.client("iam")
        providers_after = iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]

        # An account that already has GitHub's provider, and no token: no approval trigger.
        aws.reset()
        iam = aws.client("iam")
        iam.create_open_id_connect_provider(
            Url="https://token.actions.githubusercontent.com", ClientIDList=["sts.amazonaws.com"]
        )
        project = copy_project(seed, root / "existing" / seed.name)
        env = bootstrap_env(aws, bare_remotes(root / "remotes-existing"))
        existing, more = _recorded(project, recorder, env, root / "e0.jsonl", "bootstrap", "--yes")
        calls += more
        existing_parameters = _parameters(aws, GITHUB_STACK)
        existing_destinations = aws.client("events").list_api_destinations()["ApiDestinations"]
        existing_again, more = _recorded(
            project, recorder, env, root / "e1.jsonl", "bootstrap", "--yes"
        )
        calls += more
        removed, more = _recorded(project, recorder, env, root / "e2.jsonl", "teardown", "--yes")
        calls += more
        kept = [p["Arn"] for p in iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]]
    loaded = load_project(deploy_repo(seed), seed)

    def deployed(path: Path, name: str, parameters: dict[str, str]) -> DeployedStack:
        stack = DeployedStack.load(path, name, loaded.region, ACCOUNT, parameters)
        # Only what these parameters create has handlers at work: with CiSystem=github-actions
        # the CI/CD stack makes no CodeBuild projects, pipelines or their roles.
        template = {**stack.template, "Resources": stack.created()}
        return dataclasses.replace(stack, template=template)

    return Runs(
        first=first,
        again=again.stdout,
        rotated_parameters=rotated_parameters,
        rotated_secret=rotated_secret["SecretString"],
        live_after_teardown=live,
        secrets_after_teardown=secrets_after,
        providers_after_teardown=providers_after,
        existing_printed=existing.stdout,
        existing_parameters=existing_parameters,
        existing_destinations=existing_destinations,
        existing_again=existing_again.stdout,
        existing_teardown_rc=removed.returncode,
        existing_providers_after=kept,
        calls=calls,
        cicd=deployed(loaded.stack_template, CICD_STACK, first.cicd_parameters),
        github=deployed(
            loaded.cicd_dir / github_actions.TEMPLATE_NAME, GITHUB_STACK, first.parameters
        ),
        policies=policy.render(loaded, ACCOUNT),
    )


# ---------------------------------------------------------------- what the runs did


def test_bootstrap_creates_the_github_side_and_prints_the_settings(runs: Runs) -> None:
    first = runs.first
    # The code went to the GitHub repositories (local bare ones here), not to CodeCommit.
    assert first.repositories == []
    assert first.remote_heads == {"modelbuild": 0, "modeldeploy": 0}
    assert first.cicd_status == "CREATE_COMPLETE"
    assert first.cicd_parameters["CiSystem"] == "github-actions"
    assert first.status == "CREATE_COMPLETE"
    parameters = first.parameters
    assert parameters["CreateOidcProvider"] == "yes"
    assert parameters["GitHubOwner"] == OWNER
    assert parameters["CloudFormationRoleArn"] == first.cicd_outputs["CloudFormationRoleArn"]

    # The token went into the project's secret, and only its ARN into the stack.
    assert first.secret_value == TOKEN
    assert parameters["DispatchTokenSecretArn"] == first.secret_arn
    assert TOKEN not in first.described_stack

    assert first.provider_clients == ["sts.amazonaws.com"]
    for role in ROLES:
        arn = first.outputs[f"{role}Arn"]
        (statement,) = first.trusts[role]["Statement"]
        assert statement["Principal"] == {"Federated": PROVIDER}
        # Printed for the team to set in GitHub.
        assert arn in first.printed

    (destination,) = first.destinations
    assert destination["InvocationEndpoint"] == (
        f"https://api.github.com/repos/{OWNER}/{SLUG}-modeldeploy/dispatches"
    )
    assert first.dispatch_targets == 1

    printed = first.printed
    assert f"{OWNER}/{SLUG}-modelbuild:" in printed
    assert re.search(r"AWS_PROD_ROLE_ARN=arn:aws:iam::\d+:role/", printed)
    assert "Environment production" in printed


def test_a_second_run_changes_nothing_a_new_token_is_stored_and_teardown_removes_everything(
    runs: Runs,
) -> None:
    assert "Nothing to do" in runs.again
    assert runs.rotated_secret == NEW_TOKEN
    # The stack names the secret's new version, so its connection takes the new token.
    before = runs.first.parameters["DispatchTokenVersion"]
    assert runs.rotated_parameters["DispatchTokenVersion"] not in ("", before)
    assert not runs.live_after_teardown & {CICD_STACK, GITHUB_STACK}
    assert runs.secrets_after_teardown == []
    assert runs.providers_after_teardown == []


def test_an_existing_provider_is_used_and_kept(runs: Runs) -> None:
    assert runs.existing_parameters["CreateOidcProvider"] == "no"
    assert runs.existing_parameters["DispatchTokenSecretArn"] == ""
    assert runs.existing_destinations == []
    assert "No dispatch token" in runs.existing_printed
    # A re-run keeps the answer (the provider is still not the stack's), and teardown keeps it.
    assert "Nothing to do" in runs.existing_again
    assert runs.existing_teardown_rc == 0
    assert runs.existing_providers_after == [PROVIDER]


# ---------------------------------------------------------------- the bootstrap's IAM contract


def _requests(runs: Runs) -> list[IamRequest]:
    handlers = handler_work(runs.cicd).requests + handler_work(runs.github).requests
    return [*to_requests(runs.calls, ACCOUNT, "bootstrap/teardown"), *handlers]


def _user(policies: dict[str, Any]) -> Principal:
    return Principal("bootstrap user", USER, ACCOUNT, tuple(policies.values()))


def test_the_policies_allow_every_call_and_handler_of_a_github_actions_bootstrap(
    runs: Runs,
) -> None:
    refused = denials(_user(runs.policies), _requests(runs), resource_policies(runs.cicd))
    assert refused == [], "\n".join(refused)


def test_the_runs_made_the_github_side_calls_the_document_is_for(runs: Runs) -> None:
    """The calls that decide the document's scope were recorded: the provider looked up, the
    secret created, read, given a new version and deleted, the second stack's whole life."""
    made = {(call.service, call.operation) for call in runs.calls}
    assert {
        ("iam", "GetOpenIDConnectProvider"),
        ("secretsmanager", "CreateSecret"),
        ("secretsmanager", "GetSecretValue"),
        ("secretsmanager", "PutSecretValue"),
        ("secretsmanager", "DeleteSecret"),
        ("cloudformation", "CreateStack"),
        ("cloudformation", "UpdateStack"),
        ("cloudformation", "DeleteStack"),
    } <= made
    stacks = {c.params.get("StackName") for c in runs.calls if c.service == "cloudformation"}
    assert GITHUB_STACK in stacks


def test_the_github_actions_policy_grants_nothing_the_runs_do_not_use(runs: Runs) -> None:
    assert unused_actions([runs.policies[DOCUMENT]], _requests(runs)) == set()


def test_the_github_actions_handlers_left_out_are_only_a_customer_key(runs: Runs) -> None:
    """The connection's handlers list KMS actions for a customer managed key; the template sets
    none (EventBridge's own key), so nothing is granted for them."""
    unmatched = handler_work(runs.github).unmatched
    assert unmatched, "the contract no longer sees the connection's KMS actions"
    assert {line.split(": ")[1].split(":")[0] for line in unmatched} == {"kms"}


def test_dropping_any_github_actions_statement_denies_a_named_call(runs: Runs) -> None:
    requests = _requests(runs)
    for index, statement in enumerate(runs.policies[DOCUMENT]["Statement"]):
        changed = copy.deepcopy(runs.policies)
        del changed[DOCUMENT]["Statement"][index]
        refused = denials(_user(changed), requests, resource_policies(runs.cicd))
        assert refused, f"statement {statement['Sid']} is needed by no call"


def test_the_handler_grants_hold_only_through_cloudformation(runs: Runs) -> None:
    """Without aws:CalledVia the document allows none of the stack's resource work: a person with
    it can change the roles, the provider or the trigger only by deploying the stack."""
    # The bootstrap itself looks the provider up and reads the token's secret: those two hold
    # without CloudFormation.
    own = {
        ("iam:GetOpenIDConnectProvider", PROVIDER),
        ("secretsmanager:GetSecretValue", runs.first.secret_arn),
    }
    direct = [
        IamRequest(request.action, request.resource, request.why, {})
        for request in handler_work(runs.github).requests
        if (request.action, request.resource) not in own
    ]
    only = {DOCUMENT: runs.policies[DOCUMENT]}
    assert len(denials(_user(only), direct, {})) == len(direct)


def test_no_connection_is_granted_without_codepipeline(runs: Runs) -> None:
    """GitHub Actions reaches the repositories itself: the bootstrap makes no CodeConnections
    connection and the CI/CD stack passes none, so no policy grants one."""
    granted = granted_actions(runs.policies.values())
    assert not {a for a in granted if a.split(":")[0].endswith("connections")}
