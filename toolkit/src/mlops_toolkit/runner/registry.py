"""Run a RegisterModel step: create the model package version with boto3, exactly as the
pipeline's step would (same request fields, resolved), creating the group if it is missing."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from mlops_toolkit.errors import StepFailed
from mlops_toolkit.runner.context import StepContext, StepOutcome

OPERATION = "CreateModelPackage"


def _accepted_fields(client) -> set[str]:
    return set(client.meta.service_model.operation_model(OPERATION).input_shape.members)


def _rejected(error: ClientError) -> str:
    details = error.response.get("Error", {})
    return f"{error.operation_name} was rejected: {details.get('Code')}: {details.get('Message')}"


def _group_exists(client, group: str) -> bool:
    try:
        client.describe_model_package_group(ModelPackageGroupName=group)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in (
            "ValidationException",
            "ResourceNotFound",
        ):
            return False
        raise
    return True


def ensure_group(client, group: str, tags: list[dict[str, str]], ctx: StepContext) -> None:
    if _group_exists(client, group):
        return
    request: dict[str, Any] = {"ModelPackageGroupName": group}
    if tags:
        request["Tags"] = tags
    client.create_model_package_group(**request)
    ctx.log(f"# created the model package group {group}")


def build_request(arguments: dict[str, Any], client, step: str) -> dict[str, Any]:
    unknown = sorted(set(arguments) - _accepted_fields(client))
    if unknown:
        raise StepFailed(
            f"step {step}: {OPERATION} does not take the argument(s) {', '.join(unknown)}; this "
            "botocore may be older than the SDK that wrote the definition"
        )
    return dict(arguments)


def run_register(
    arguments: dict[str, Any], ctx: StepContext, client, tags: list[dict[str, str]]
) -> StepOutcome:
    request = build_request(arguments, client, ctx.name)
    group = request.get("ModelPackageGroupName")
    if not group:
        raise StepFailed(
            f"step {ctx.name}: only versioned model packages (in a group) register locally"
        )
    try:
        ensure_group(client, group, tags, ctx)
        arn = client.create_model_package(**request)["ModelPackageArn"]
    except ClientError as error:
        raise StepFailed(f"step {ctx.name}: {_rejected(error)}") from None
    ctx.log(f"# registered {arn} ({request.get('ModelApprovalStatus', 'no approval status')})")
    details = {
        "model_package_arn": arn,
        "model_package_group": group,
        "approval_status": request.get("ModelApprovalStatus"),
    }
    return StepOutcome({"ModelPackageArn": arn}, details=details)
