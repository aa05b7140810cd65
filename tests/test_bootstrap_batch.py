"""`mlops-bootstrap` for deployment=batch against the stand-in: after the CI/CD stack, the batch
stack (cicd/batch-stack.yml) with its grants attached to the CI/CD stack's roles by name and the
prod schedule ENABLED; a second run changes nothing; teardown removes both stacks."""

from __future__ import annotations

from pathlib import Path

import pytest
from bootstrap_stand_in import SLUG, StandIn, bare_remotes, bootstrap_env, run_bootstrap, stand_in
from conftest import render_project

CICD_STACK = f"{SLUG}-cicd"
BATCH_STACK = f"{SLUG}-cicd-batch"
SCHEDULE = "rate(12 hours)"
# The batch stack's policy on each CI/CD role: (parameter naming the role, CI/CD logical id).
GRANTS = {
    "batch-transform-jobs": ("SageMakerExecutionRoleName", "SageMakerExecutionRole"),
    "deploy-batch-transforms": ("CloudFormationRoleName", "CloudFormationRole"),
    "test-staging-batch": ("StagingTestRoleName", "StagingTestCodeBuildRole"),
}


@pytest.fixture(scope="module")
def aws() -> StandIn:
    with stand_in() as server:
        yield server


def _stack(aws: StandIn, name: str) -> dict:
    (stack,) = aws.client("cloudformation").describe_stacks(StackName=name)["Stacks"]
    return stack


def _parameters(aws: StandIn, name: str) -> dict[str, str]:
    return {p["ParameterKey"]: p["ParameterValue"] for p in _stack(aws, name)["Parameters"]}


def _live_stacks(aws: StandIn) -> set[str]:
    summaries = aws.client("cloudformation").list_stacks()["StackSummaries"]
    return {s["StackName"] for s in summaries if s["StackStatus"] != "DELETE_COMPLETE"}


def test_bootstrap_deploys_the_batch_stack_once_and_teardown_removes_it(
    aws: StandIn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    aws.reset()
    monkeypatch.setenv("MLOPS_TEMPLATE_BOOTSTRAP", "no")
    project = render_project(tmp_path / "out", deployment="batch", batch_schedule=SCHEDULE)
    env = bootstrap_env(aws, bare_remotes(tmp_path / "remotes"))

    result = run_bootstrap(project, env, "bootstrap", "--yes")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "the prod batch schedule" in result.stdout  # the plan says what the stack holds
    assert _stack(aws, BATCH_STACK)["StackStatus"] == "CREATE_COMPLETE"
    parameters = _parameters(aws, BATCH_STACK)
    assert parameters["BatchScheduleState"] == "ENABLED"
    assert parameters["BatchScheduleExpression"] == SCHEDULE
    assert parameters["ProdStackName"] == f"{SLUG}-deploy-prod"

    cloudformation, iam = aws.client("cloudformation"), aws.client("iam")
    for policy, (parameter, logical_id) in GRANTS.items():
        role = cloudformation.describe_stack_resource(
            StackName=CICD_STACK, LogicalResourceId=logical_id
        )["StackResourceDetail"]["PhysicalResourceId"]
        assert parameters[parameter] == role
        document = iam.get_role_policy(RoleName=role, PolicyName=policy)["PolicyDocument"]
        assert document["Statement"], policy
    roles = [r["RoleName"] for r in iam.list_roles()["Roles"]]
    assert any("BatchScheduleRole" in name for name in roles)
    assert any("BatchEventsRole" in name for name in roles)

    again = run_bootstrap(project, env, "bootstrap", "--yes")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "Nothing to do" in again.stdout

    removed = run_bootstrap(project, env, "teardown", "--yes")
    assert removed.returncode == 0, removed.stdout + removed.stderr
    assert removed.stdout.index(BATCH_STACK) < removed.stdout.index(f"{CICD_STACK} ")
    assert not _live_stacks(aws) & {CICD_STACK, BATCH_STACK}
    assert not [
        name for name in (r["RoleName"] for r in iam.list_roles()["Roles"]) if "Batch" in name
    ]
