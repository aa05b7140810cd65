"""`mlops-bootstrap` for deployment=batch against the stand-in, once: after the CI/CD stack, the
batch stack (cicd/batch-stack.yml) with its grants attached to the CI/CD stack's roles by name and
the prod schedule ENABLED; a second run changes nothing, one with
MLOPS_BATCH_SCHEDULE_STATE=DISABLED switches the schedule off; teardown removes both stacks.

The runs are recorded, so the same run also checks the IAM contract of whoever bootstraps: the
rendered cicd/bootstrap-policy.json allows every call and every handler permission of both
stacks, and its batch-stack policy grants nothing the batch run does not use (each statement's
removal denies a named call).
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from bootstrap_stand_in import (
    SLUG,
    bare_remotes,
    bootstrap_env,
    copy_project,
    run_bootstrap,
    stand_in,
)
from conftest import render_project
from iam_contract.api_calls import to_requests
from iam_contract.evaluator import IamRequest, Principal, denials, unused_actions
from iam_contract.handlers import handler_work
from iam_contract.project import ACCOUNT, cicd_stack, deploy_repo
from iam_contract.recorder import ApiCall, CallRecorder
from iam_contract.stack import DeployedStack, resource_policies
from mlops_toolkit.bootstrap import batch, policy
from mlops_toolkit.bootstrap.project import load_project
from test_iam_contract_bootstrap import USER

pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse AWS:UserWarning")

CICD_STACK = f"{SLUG}-cicd"
BATCH_STACK = f"{SLUG}-cicd-batch"
SCHEDULE = "rate(12 hours)"
# The batch stack's policy on each CI/CD role: (parameter naming the role, CI/CD logical id).
GRANTS = {
    "batch-transform-jobs": ("SageMakerExecutionRoleName", "SageMakerExecutionRole"),
    "deploy-batch-transforms": ("CloudFormationRoleName", "CloudFormationRole"),
    "test-staging-batch": ("StagingTestRoleName", "StagingTestCodeBuildRole"),
}


@dataclass(frozen=True)
class Runs:
    first: str  # what the first bootstrap printed
    again: str
    state_after_off: str
    teardown: str
    parameters: dict[str, str]  # the batch stack's, after the first run
    role_names: dict[str, str]  # CI/CD logical id -> physical name
    attached: dict[str, list[str]]  # role name -> inline policy names, after the first run
    roles_after_first: list[str]
    stacks_after_teardown: set[str]
    roles_after_teardown: list[str]
    calls: list[ApiCall]
    batch_stack: DeployedStack
    cicd: DeployedStack
    policies: dict[str, Any]
    resource_policies: dict[str, Any]


def _recorded(
    project: Path, recorder: CallRecorder, env: dict[str, str], log: Path, *args: str
) -> tuple[str, list[ApiCall]]:
    done = run_bootstrap(project, recorder.environment(env, log), *args)
    assert done.returncode == 0, f"{' '.join(args)}: {done.stdout}\n{done.stderr}"
    return done.stdout, recorder.calls(log)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Runs:
    root = tmp_path_factory.mktemp("bootstrap-batch")
    os.environ["MLOPS_TEMPLATE_BOOTSTRAP"] = "no"
    seed = render_project(root / "seed", deployment="batch", batch_schedule=SCHEDULE)
    recorder = CallRecorder(root / "recorder")
    with stand_in() as aws:
        aws.reset()
        project = copy_project(seed, root / seed.name)
        env = bootstrap_env(aws, bare_remotes(root / "remotes"))
        first, calls = _recorded(project, recorder, env, root / "b0.jsonl", "bootstrap", "--yes")
        cloudformation, iam = aws.client("cloudformation"), aws.client("iam")
        (stack,) = cloudformation.describe_stacks(StackName=BATCH_STACK)["Stacks"]
        parameters = {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}
        role_names = {
            logical: cloudformation.describe_stack_resource(
                StackName=CICD_STACK, LogicalResourceId=logical
            )["StackResourceDetail"]["PhysicalResourceId"]
            for _, logical in GRANTS.values()
        }
        attached = {
            name: iam.list_role_policies(RoleName=name)["PolicyNames"]
            for name in role_names.values()
        }
        roles_after_first = [r["RoleName"] for r in iam.list_roles()["Roles"]]
        again, more = _recorded(project, recorder, env, root / "b1.jsonl", "bootstrap", "--yes")
        calls += more
        # A platform team switches the schedule off: the re-run updates the batch stack.
        off = env | {"MLOPS_BATCH_SCHEDULE_STATE": "DISABLED"}
        _, more = _recorded(project, recorder, off, root / "b2.jsonl", "bootstrap", "--yes")
        calls += more
        (stack,) = cloudformation.describe_stacks(StackName=BATCH_STACK)["Stacks"]
        state_after_off = next(
            p["ParameterValue"]
            for p in stack["Parameters"]
            if p["ParameterKey"] == "BatchScheduleState"
        )
        teardown, more = _recorded(project, recorder, env, root / "t.jsonl", "teardown", "--yes")
        calls += more
        summaries = cloudformation.list_stacks()["StackSummaries"]
        live = {s["StackName"] for s in summaries if s["StackStatus"] != "DELETE_COMPLETE"}
        roles_after_teardown = [r["RoleName"] for r in iam.list_roles()["Roles"]]
    loaded = load_project(deploy_repo(seed), seed)
    batch_stack = DeployedStack.load(
        loaded.cicd_dir / batch.TEMPLATE_NAME,
        name=BATCH_STACK,
        region=loaded.region,
        account=ACCOUNT,
        parameters=parameters,
    )
    cicd = cicd_stack(seed)
    return Runs(
        first,
        again,
        state_after_off,
        teardown,
        parameters,
        role_names,
        attached,
        roles_after_first,
        live,
        roles_after_teardown,
        calls,
        batch_stack,
        cicd,
        policy.render(loaded, ACCOUNT),
        resource_policies(cicd),
    )


# ---------------------------------------------------------------- what the runs did


def test_the_bootstrap_deploys_the_batch_stack_with_the_schedule_on(runs: Runs) -> None:
    assert "the prod batch schedule" in runs.first  # the plan says what the stack holds
    assert f"{SLUG}-staging-batch, {SLUG}-prod-batch" in runs.first
    assert "endpoints" not in runs.first
    assert runs.parameters["BatchScheduleState"] == "ENABLED"
    assert runs.parameters["BatchScheduleExpression"] == SCHEDULE
    assert runs.parameters["ProdStackName"] == f"{SLUG}-deploy-prod"


def test_the_batch_grants_are_attached_to_the_cicd_roles_by_name(runs: Runs) -> None:
    for policy_name, (parameter, logical_id) in GRANTS.items():
        role = runs.role_names[logical_id]
        assert runs.parameters[parameter] == role
        assert policy_name in runs.attached[role]
    assert any("BatchScheduleRole" in name for name in runs.roles_after_first)
    assert any("BatchEventsRole" in name for name in runs.roles_after_first)


def test_a_second_run_changes_nothing_and_teardown_removes_both_stacks(runs: Runs) -> None:
    assert "Nothing to do" in runs.again
    assert runs.state_after_off == "DISABLED"
    # The batch stack goes before the CI/CD stack, whose roles carry its policies.
    assert runs.teardown.index(BATCH_STACK) < runs.teardown.index(f"{CICD_STACK} ")
    assert not runs.stacks_after_teardown & {CICD_STACK, BATCH_STACK}
    assert not [name for name in runs.roles_after_teardown if "Batch" in name]


# ---------------------------------------------------------------- the bootstrap's IAM contract


def _requests(runs: Runs) -> list[IamRequest]:
    handlers = handler_work(runs.cicd).requests + handler_work(runs.batch_stack).requests
    return [*to_requests(runs.calls, ACCOUNT, "bootstrap/teardown"), *handlers]


def _user(policies: dict[str, Any]) -> Principal:
    return Principal("bootstrap user", USER, ACCOUNT, tuple(policies.values()))


def test_the_policies_allow_every_call_and_handler_of_a_batch_bootstrap(runs: Runs) -> None:
    assert denials(_user(runs.policies), _requests(runs), runs.resource_policies) == []


def test_the_batch_policy_grants_nothing_the_batch_run_does_not_use(runs: Runs) -> None:
    assert unused_actions([runs.policies["batch-stack"]], _requests(runs)) == set()


def test_dropping_any_batch_statement_denies_a_named_call(runs: Runs) -> None:
    statements = runs.policies["batch-stack"]["Statement"]
    for index, statement in enumerate(statements):
        changed = copy.deepcopy(runs.policies)
        del changed["batch-stack"]["Statement"][index]
        refused = denials(_user(changed), _requests(runs), runs.resource_policies)
        assert refused, f"statement {statement['Sid']} is needed by no call"
