"""deployment=batch or both: ``cicd/batch-stack.yml``, deployed after the CI/CD stack.

It attaches the batch grants to the CI/CD stack's roles by name (CloudFormation generated those
names; the CI/CD stack's resources give them), and holds the prod transform's schedule, whose
state the bootstrap sets: ENABLED, unless ``MLOPS_BATCH_SCHEDULE_STATE`` says DISABLED.
"""

from __future__ import annotations

import os

from botocore.exceptions import ClientError

from mlops_toolkit.bootstrap.errors import ConfigError, error_code
from mlops_toolkit.bootstrap.github_actions import uses_github_actions
from mlops_toolkit.bootstrap.project import Project
from mlops_toolkit.bootstrap.stack import StackSpec, describe_stack, stack_step
from mlops_toolkit.bootstrap.steps import Context, Step

DEPLOYMENTS = ("realtime", "batch", "both")
BATCH_DEPLOYMENTS = DEPLOYMENTS[1:]
TEMPLATE_NAME = "batch-stack.yml"
STACK_KEY = "batch-stack"
SCHEDULE_STATE_ENV = "MLOPS_BATCH_SCHEDULE_STATE"
SCHEDULE_STATES = ("ENABLED", "DISABLED")
DEFAULT_SCHEDULE = "cron(0 2 * * ? *)"
# Parameter -> the CI/CD stack's logical id of the role it names.
ROLE_PARAMETERS = {
    "SageMakerExecutionRoleName": "SageMakerExecutionRole",
    "CloudFormationRoleName": "CloudFormationRole",
    "StagingTestRoleName": "StagingTestCodeBuildRole",
}


def uses_batch(project: Project) -> bool:
    return project.settings.get("deployment", "realtime") in BATCH_DEPLOYMENTS


def stack_name(project: Project) -> str:
    return f"{project.names['cicd_stack']}-batch"


def schedule_state() -> str:
    state = os.environ.get(SCHEDULE_STATE_ENV, "").strip() or "ENABLED"
    if state not in SCHEDULE_STATES:
        raise ConfigError(f"{SCHEDULE_STATE_ENV}={state}: use ENABLED or DISABLED")
    return state


def stack_parameters(project: Project, bucket: str, role_names: dict[str, str]) -> dict[str, str]:
    """Every parameter of batch-stack.yml."""
    names = project.names
    return {
        "ProjectSlug": project.slug,
        "OwnerTeam": project.settings["owner_team"],
        "ArtifactBucketName": bucket,
        **role_names,
        "SageMakerPipelineArnName": project.pipeline_name.lower(),
        "StagingEndpointName": names["staging_endpoint"],
        "ProdEndpointName": names["prod_endpoint"],
        "ProdStackName": names["prod_stack"],
        "BatchScheduleExpression": project.settings.get("batch_schedule", DEFAULT_SCHEDULE),
        "BatchScheduleState": schedule_state(),
    }


def batch_steps(ctx: Context) -> list[Step]:
    """After the CI/CD stack: the batch stack, for batch and both."""
    deployment = ctx.project.settings.get("deployment", "realtime")
    if deployment not in DEPLOYMENTS:
        raise ConfigError(
            f"cicd/resources.json: project.deployment is {deployment!r}; use one of "
            f"{', '.join(DEPLOYMENTS)} (the deploy repository's files were generated for one)"
        )
    if not uses_batch(ctx.project):
        return []
    if uses_github_actions(ctx.project):
        raise ConfigError(
            f"cicd/resources.json: deployment={deployment} needs ci=codepipeline (the GitHub "
            "Actions workflows do not deploy a batch transform); see docs/batch.md"
        )
    spec = StackSpec(
        STACK_KEY, stack_name(ctx.project), ctx.project.cicd_dir / TEMPLATE_NAME, _parameters
    )
    return [stack_step(ctx, spec)]


def _parameters(ctx: Context) -> dict[str, str]:
    cloudformation = ctx.aws.client("cloudformation")
    cicd_name = ctx.project.names["cicd_stack"]
    cicd = describe_stack(cloudformation, cicd_name) or {}
    outputs = {o["OutputKey"]: o["OutputValue"] for o in cicd.get("Outputs", [])}
    bucket = outputs.get("ArtifactBucketName")
    if not bucket:
        raise ConfigError(
            f"the CI/CD stack {cicd_name} has no output ArtifactBucketName: deploy it first"
        )
    roles = {
        parameter: _physical_id(cloudformation, cicd_name, logical_id)
        for parameter, logical_id in ROLE_PARAMETERS.items()
    }
    return stack_parameters(ctx.project, bucket, roles)


def _physical_id(cloudformation, stack: str, logical_id: str) -> str:
    try:
        detail = cloudformation.describe_stack_resource(
            StackName=stack, LogicalResourceId=logical_id
        )
    except ClientError as error:
        if error_code(error) != "ValidationError":
            raise
        raise ConfigError(f"the CI/CD stack {stack} has no {logical_id}: deploy it first") from None
    return detail["StackResourceDetail"]["PhysicalResourceId"]
