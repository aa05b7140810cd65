"""The model package group that the model-build pipeline registers versions into."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from mlops_toolkit.bootstrap.errors import error_code
from mlops_toolkit.bootstrap.steps import (
    BLOCKED,
    CREATE,
    NOTHING,
    Context,
    Finding,
    Step,
    tag_value,
)


def registry_step(ctx: Context) -> Step:
    group = ctx.project.model_package_group
    return Step("model-package-group", "Model package group", group, _inspect, _create)


def describe_group(ctx: Context) -> dict[str, Any] | None:
    sagemaker = ctx.aws.client("sagemaker")
    try:
        return sagemaker.describe_model_package_group(
            ModelPackageGroupName=ctx.project.model_package_group
        )
    except ClientError as error:
        if error_code(error) == "ValidationException" and "does not exist" in str(error):
            return None
        raise


def is_ours(ctx: Context, group_arn: str) -> bool:
    tags = ctx.aws.client("sagemaker").list_tags(ResourceArn=group_arn).get("Tags", [])
    return tag_value(tags, "project") == ctx.project.slug


def _inspect(ctx: Context) -> Finding:
    group = describe_group(ctx)
    if group is None:
        return Finding(CREATE, "create (tagged, described)")
    arn = group["ModelPackageGroupArn"]
    if not is_ours(ctx, arn):
        return Finding(
            BLOCKED,
            f"a model package group named {group['ModelPackageGroupName']} already exists "
            f"without the tag project={ctx.project.slug}; it belongs to something else. Choose "
            "another model_package_group_name in cicd/resources.json and in the model-build "
            "repository's project.json, or tag that group if it is this project's",
        )
    return Finding(NOTHING, "exists", {"arn": arn, "created": True})


def _create(ctx: Context, finding: Finding) -> dict[str, Any]:
    project = ctx.project
    description = (
        f"{project.settings['project_name']}: {project.settings['description']}".strip(": ")
    )[:1024]
    try:
        created = ctx.aws.client("sagemaker").create_model_package_group(
            ModelPackageGroupName=project.model_package_group,
            ModelPackageGroupDescription=description,
            Tags=project.tags(),
        )
    except ClientError as error:
        # A lost reply to an earlier attempt leaves the group behind: fine if it is ours.
        group = describe_group(ctx) if "already exists" in str(error) else None
        if group is None or not is_ours(ctx, group["ModelPackageGroupArn"]):
            raise
        return {"arn": group["ModelPackageGroupArn"], "created": True}
    return {"arn": created["ModelPackageGroupArn"], "created": True}
