"""The CI/CD CloudFormation stack (``cicd-stack.yml``): create, update, or replace a failed one."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError, WaiterError

from mlops_toolkit.bootstrap.connection import connection_arn
from mlops_toolkit.bootstrap.errors import StepFailed, error_code
from mlops_toolkit.bootstrap.gitrepo import BRANCH
from mlops_toolkit.bootstrap.project import CODECOMMIT, Project
from mlops_toolkit.bootstrap.steps import (
    BLOCKED,
    CREATE,
    NOTHING,
    REPLACE,
    UPDATE,
    Context,
    Finding,
    Step,
    tag_value,
)
from mlops_toolkit.bootstrap.template_body import compact_body

POLL_ENV = "MLOPS_BOOTSTRAP_STACK_POLL_SECONDS"
STACK_WAIT_SECONDS = 45 * 60
# The stack creates IAM roles with generated names: CAPABILITY_IAM, not CAPABILITY_NAMED_IAM.
CAPABILITIES = ["CAPABILITY_IAM"]
SETTLED = {
    "CREATE_COMPLETE",
    "UPDATE_COMPLETE",
    "UPDATE_ROLLBACK_COMPLETE",
    "IMPORT_COMPLETE",
    "IMPORT_ROLLBACK_COMPLETE",
}
# A stack that never finished creating cannot be updated, only deleted and created again.
FAILED_CREATES = {"ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "CREATE_FAILED", "DELETE_FAILED"}
WAIT = "wait"
# Scheduled retraining stays off until a team picks a cadence; re-running bootstrap with these
# variables set changes it (the stack is updated when a parameter differs).
RETRAIN_SCHEDULE_ENV = "MLOPS_RETRAIN_SCHEDULE"
RETRAIN_STATE_ENV = "MLOPS_RETRAIN_SCHEDULE_STATE"
RETRAIN_SCHEDULE = "rate(7 days)"
RETRAIN_STATE = "DISABLED"
DEFAULT_CONNECTION_SERVICE = "codeconnections"
# CodePipeline stores artifacts under the pipeline name's first 20 characters.
ARTIFACT_PREFIX_LENGTH = 20


@dataclass(frozen=True)
class StackSpec:
    """One stack the bootstrap deploys: its record key, name, template and parameters."""

    key: str
    name: str
    template: Path
    parameters: Callable[[Context], dict[str, str]]


def cicd_spec(ctx: Context) -> StackSpec:
    return StackSpec(
        "cicd-stack",
        ctx.project.names["cicd_stack"],
        ctx.project.stack_template,
        _cicd_parameters,
    )


def stack_step(ctx: Context, spec: StackSpec | None = None) -> Step:
    spec = spec or cicd_spec(ctx)
    return Step(
        spec.key,
        "CloudFormation stack",
        spec.name,
        lambda c: _inspect(c, spec),
        lambda c, finding: _apply(c, finding, spec),
    )


def artifact_prefix(pipeline: str) -> str:
    return pipeline[:ARTIFACT_PREFIX_LENGTH]


def stack_parameters(project: Project, account_id: str, connection_arn: str = "") -> dict[str, str]:
    """Every parameter of cicd-stack.yml, from resources.json, the account and, for a third-party
    git host, the connection (``connection_arn``, else the one resources.json names)."""
    names = project.names
    return {
        "ProjectSlug": project.slug,
        "OwnerTeam": project.settings["owner_team"],
        "ArtifactBucketName": project.artifact_bucket(account_id),
        **source_parameters(project, connection_arn),
        "BranchName": BRANCH,
        "SageMakerPipelineName": project.pipeline_name,
        # SageMaker writes names in lowercase inside ARNs, and IAM compares ARNs case-sensitively.
        "SageMakerPipelineArnName": project.pipeline_name.lower(),
        "ModelPackageGroupName": project.model_package_group,
        "ModelPackageGroupArnName": project.model_package_group.lower(),
        "ModelBuildProjectName": names["modelbuild_build_project"],
        "ModelDeployProjectName": names["modeldeploy_build_project"],
        "StagingTestProjectName": names["staging_test_build_project"],
        "ModelBuildPipelineName": names["modelbuild_codepipeline"],
        "ModelDeployPipelineName": names["modeldeploy_codepipeline"],
        "ModelBuildPipelineArtifactPrefix": artifact_prefix(names["modelbuild_codepipeline"]),
        "ModelDeployPipelineArtifactPrefix": artifact_prefix(names["modeldeploy_codepipeline"]),
        "StagingStackName": names["staging_stack"],
        "ProdStackName": names["prod_stack"],
        "StagingEndpointName": names["staging_endpoint"],
        "ProdEndpointName": names["prod_endpoint"],
        "RetrainScheduleExpression": os.environ.get(RETRAIN_SCHEDULE_ENV) or RETRAIN_SCHEDULE,
        "RetrainScheduleState": os.environ.get(RETRAIN_STATE_ENV) or RETRAIN_STATE,
        "HyperparameterTuning": project.settings.get("hyperparameter_tuning", "no"),
        "CiSystem": project.git.ci if project.git is not None else "codepipeline",
    }


def source_parameters(project: Project, connection_arn: str = "") -> dict[str, str]:
    """Where the pipelines read the code: CodeCommit, or the git host through a connection."""
    git = project.git
    if git is None:
        return {
            "ModelBuildRepositoryName": project.names["modelbuild_repo"],
            "ModelDeployRepositoryName": project.names["modeldeploy_repo"],
            "GitHost": CODECOMMIT,
            "GitOwner": "",
            "ConnectionId": "",
            "ConnectionService": DEFAULT_CONNECTION_SERVICE,
        }
    arn = connection_arn or git.connection_arn
    return {
        "ModelBuildRepositoryName": git.repositories["modelbuild"],
        "ModelDeployRepositoryName": git.repositories["modeldeploy"],
        "GitHost": git.host,
        "GitOwner": git.owner,
        # The stack rebuilds the ARN in its own account and region from these two parts; the
        # prefix (codestar-connections before the 2024 rename) also names the IAM action.
        "ConnectionId": arn.rsplit("/", 1)[1] if arn else "",
        "ConnectionService": arn.split(":")[2] if arn else DEFAULT_CONNECTION_SERVICE,
    }


def describe_stack(cloudformation: Any, name: str) -> dict[str, Any] | None:
    try:
        stacks = cloudformation.describe_stacks(StackName=name)["Stacks"]
    except ClientError as error:
        if error_code(error) == "ValidationError" and "does not exist" in str(error):
            return None
        raise
    return stacks[0] if stacks else None


def stack_is_ours(stack: dict[str, Any], slug: str) -> bool:
    return tag_value(stack.get("Tags"), "project") == slug


def _inspect(ctx: Context, spec: StackSpec) -> Finding:
    cloudformation = ctx.aws.client("cloudformation")
    name = spec.name
    stack = describe_stack(cloudformation, name)
    if stack is None:
        return Finding(CREATE, "create (CAPABILITY_IAM)")
    status = stack["StackStatus"]
    if not stack_is_ours(stack, ctx.project.slug):
        return Finding(
            BLOCKED,
            f"a stack named {name} exists without the tag project="
            f"{ctx.project.slug}; it belongs to something else",
        )
    if status.endswith("_IN_PROGRESS"):
        return Finding(WAIT, f"wait for {status} to finish, then check again")
    if status in FAILED_CREATES:
        return Finding(REPLACE, f"replace: an earlier attempt ended in {status}")
    if status not in SETTLED:
        return Finding(
            BLOCKED,
            f"the stack is {status}; resolve it in the CloudFormation "
            "console (e.g. continue the rollback), then re-run",
        )
    if _differs(cloudformation, stack, ctx, spec):
        return Finding(UPDATE, "update (template or parameters changed)")
    return Finding(NOTHING, "exists, up to date", _record(stack))


def _cicd_parameters(ctx: Context) -> dict[str, str]:
    # A third-party host's connection: resources.json's, or the one the bootstrap created.
    arn = connection_arn(ctx) if ctx.project.git is not None else ""
    return stack_parameters(ctx.project, ctx.account_id, arn)


def _differs(cloudformation: Any, stack: dict[str, Any], ctx: Context, spec: StackSpec) -> bool:
    wanted = spec.parameters(ctx)
    deployed = {p["ParameterKey"]: p.get("ParameterValue") for p in stack.get("Parameters", [])}
    if any(deployed.get(key) != value for key, value in wanted.items()):
        return True
    body = cloudformation.get_template(StackName=stack["StackName"], TemplateStage="Original")
    deployed_body = body.get("TemplateBody")
    # boto3 hands a JSON template back parsed; a stack sent as YAML text compares as text.
    body = compact_body(spec.template)
    if isinstance(deployed_body, dict):
        return deployed_body != json.loads(body)
    return deployed_body != body


def _apply(ctx: Context, finding: Finding, spec: StackSpec) -> dict[str, Any]:
    cloudformation = ctx.aws.client("cloudformation")
    name = spec.name
    if finding.action == WAIT:
        _wait_until_settled(cloudformation, name)
        finding = _inspect(ctx, spec)
        if finding.action in (NOTHING, BLOCKED, WAIT):
            return _checked(finding, name, cloudformation)
    if finding.action == REPLACE:
        print(f"  deleting the failed stack {name} first", file=ctx.out)
        cloudformation.delete_stack(StackName=name)
        wait_for_stack(cloudformation, name, "stack_delete_complete")
    if finding.action == UPDATE:
        _update(ctx, cloudformation, spec)
    else:
        _create(ctx, cloudformation, spec)
    return _record(describe_stack(cloudformation, name) or {})


def _checked(finding: Finding, name: str, cloudformation: Any) -> dict[str, Any]:
    if finding.action != NOTHING:
        raise StepFailed("CloudFormation stack", name, finding.note)
    return _record(describe_stack(cloudformation, name) or {})


def _create(ctx: Context, cloudformation: Any, spec: StackSpec) -> None:
    name = spec.name
    try:
        cloudformation.create_stack(**_request(ctx, spec))
    except ClientError as error:
        # A lost reply to an earlier attempt: the stack exists; wait for it like any other.
        if error_code(error) != "AlreadyExistsException":
            raise
    wait_for_stack(cloudformation, name, "stack_create_complete")


def _update(ctx: Context, cloudformation: Any, spec: StackSpec) -> None:
    name = spec.name
    try:
        cloudformation.update_stack(**_request(ctx, spec))
    except ClientError as error:
        if "No updates are to be performed" not in str(error):
            raise
        return
    wait_for_stack(cloudformation, name, "stack_update_complete")


def _request(ctx: Context, spec: StackSpec) -> dict[str, Any]:
    parameters = spec.parameters(ctx)
    return {
        "StackName": spec.name,
        "TemplateBody": compact_body(spec.template),
        "Parameters": [{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
        "Capabilities": CAPABILITIES,
        "Tags": ctx.project.tags(),
    }


def template_body(project: Project) -> str:
    """What CreateStack and UpdateStack send: the project's cicd-stack.yml as compact JSON."""
    return compact_body(project.stack_template)


def _poll_seconds() -> int:
    text = os.environ.get(POLL_ENV, "")
    return int(text) if text.isdigit() and int(text) > 0 else 10


def wait_for_stack(cloudformation: Any, name: str, waiter: str) -> None:
    """Wait with ``waiter``; a failure names the stack's first failed resource and why."""
    delay = _poll_seconds()
    config = {"Delay": delay, "MaxAttempts": max(1, STACK_WAIT_SECONDS // delay)}
    try:
        cloudformation.get_waiter(waiter).wait(StackName=name, WaiterConfig=config)
    except WaiterError as error:
        reason = _failure_reason(cloudformation, name) or str(error)
        raise StepFailed(
            "CloudFormation stack", name, f"{reason}. Fix the cause, then re-run"
        ) from None


def _wait_until_settled(cloudformation: Any, name: str) -> None:
    deadline = time.monotonic() + STACK_WAIT_SECONDS
    while time.monotonic() < deadline:
        stack = describe_stack(cloudformation, name)
        if stack is None or not stack["StackStatus"].endswith("_IN_PROGRESS"):
            return
        time.sleep(_poll_seconds())
    raise StepFailed("CloudFormation stack", name, "still in progress after 45 minutes")


def _failure_reason(cloudformation: Any, name: str) -> str | None:
    try:
        events = cloudformation.describe_stack_events(StackName=name)["StackEvents"]
    except ClientError:
        return None
    for event in events:
        if event.get("ResourceStatus", "").endswith("FAILED") and event.get("ResourceStatusReason"):
            return f"{event['LogicalResourceId']}: {event['ResourceStatusReason']}"
    return None


def _record(stack: dict[str, Any]) -> dict[str, Any]:
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    return {"arn": stack.get("StackId"), "created": True, "outputs": outputs}
