"""Teardown: find what this project created, list it, ask, then delete it in a safe order.

Only resources that carry this project's mark (the ``project`` tag, or the repositories'
description marker) are deleted; anything else with one of the project's names is listed as kept.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

from botocore.exceptions import ClientError

from mlops_toolkit.bootstrap import batch, github_actions, removers
from mlops_toolkit.bootstrap.connection import CONNECTION_KEY, connection_name, find_ours
from mlops_toolkit.bootstrap.console import confirm, require_consent
from mlops_toolkit.bootstrap.errors import error_code
from mlops_toolkit.bootstrap.guard import guarded
from mlops_toolkit.bootstrap.registry import describe_group
from mlops_toolkit.bootstrap.registry import is_ours as group_is_ours
from mlops_toolkit.bootstrap.repos import describe_repository
from mlops_toolkit.bootstrap.repos import is_ours as repository_is_ours
from mlops_toolkit.bootstrap.stack import describe_stack, stack_is_ours
from mlops_toolkit.bootstrap.steps import Context, tag_value

DELETE = "delete"
FOREIGN = "keep (not this project's)"


@dataclass(frozen=True)
class Target:
    kind: str
    name: str
    status: str
    remove: Callable[[], object]


def survey(ctx: Context) -> list[Target]:
    """Every resource the project may own, in the order they must be deleted; absent ones are
    left out. Deploy stacks go first: CloudFormation deletes them with the CI/CD stack's role."""
    names = ctx.project.names
    lookups: list[tuple[str, str, Callable[[Context, str], Target | None]]] = [
        ("CloudFormation stack", names["prod_stack"], _deploy_stack),
        ("CloudFormation stack", names["staging_stack"], _deploy_stack),
        ("SageMaker endpoint", names["prod_endpoint"], _endpoint),
        ("SageMaker endpoint", names["staging_endpoint"], _endpoint),
        ("SageMaker pipeline", ctx.project.pipeline_name, _pipeline),
        *_github_actions_lookups(ctx),
        # After the deploy stacks (its grants let CloudFormation delete their batch resources),
        # before the CI/CD stack (its policies are attached to that stack's roles).
        *_batch_lookups(ctx),
        ("CloudFormation stack", names["cicd_stack"], _cicd_stack),
        ("S3 bucket", _bucket_name(ctx), _bucket),
        ("Model package group", ctx.project.model_package_group, _group),
        *_source_lookups(ctx),
        *(("CloudWatch log group", group, _build_logs) for group in build_log_groups(ctx)),
    ]
    found = [guarded(kind, name, lambda f=find, n=name: f(ctx, n)) for kind, name, find in lookups]
    return [target for target in found if target is not None]


def run(ctx: Context, dry_run: bool, assume_yes: bool, interactive: bool, stdin: TextIO) -> int:
    """List, ask, delete; returns how many resources were deleted."""
    targets = survey(ctx)
    doomed = [target for target in targets if target.status == DELETE]
    width = max([len(target.name) for target in targets] + [0])
    for target in targets:
        print(f"  {target.kind:<22} {target.name:<{width}}  {target.status}", file=ctx.out)
    if not doomed:
        print("Nothing to delete: no resource of this project exists.", file=ctx.out)
        if not dry_run:
            _forget_state(ctx)
        return 0
    if dry_run:
        print(f"Dry run: {len(doomed)} resource(s) would be deleted; nothing was.", file=ctx.out)
        return 0
    require_consent(assume_yes, interactive, "delete them")
    question = f"Type the project slug ({ctx.project.slug}) to delete these {len(doomed)}:"
    if not assume_yes and not confirm(question, ctx.project.slug, stdin, ctx.out):
        print("Cancelled: nothing was deleted.", file=ctx.out)
        return 0
    for target in doomed:
        print(f"- deleting {target.kind} {target.name}", file=ctx.out, flush=True)
        guarded(target.kind, target.name, target.remove)
    _forget_state(ctx)
    print(f"Deleted {len(doomed)} resource(s). Local files are untouched.", file=ctx.out)
    return len(doomed)


def _forget_state(ctx: Context) -> None:
    if ctx.state.path.exists():
        ctx.state.delete()
        print(f"Removed the bootstrap record {ctx.state.path}.", file=ctx.out)


def _target(kind: str, name: str, ours: bool, remove: Callable[[], object]) -> Target:
    return Target(kind, name, DELETE if ours else FOREIGN, remove)


def _deploy_stack(ctx: Context, name: str) -> Target | None:
    cloudformation = ctx.aws.client("cloudformation")
    stack = describe_stack(cloudformation, name)
    if stack is None:
        return None
    parameters = {p["ParameterKey"]: p.get("ParameterValue") for p in stack.get("Parameters", [])}
    ours = (
        stack_is_ours(stack, ctx.project.slug) or parameters.get("ProjectSlug") == ctx.project.slug
    )
    return _target(
        "CloudFormation stack", name, ours, lambda: removers.delete_stack(cloudformation, name)
    )


def _cicd_stack(ctx: Context, name: str) -> Target | None:
    cloudformation = ctx.aws.client("cloudformation")
    stack = describe_stack(cloudformation, name)
    if stack is None:
        return None
    return _target(
        "CloudFormation stack",
        name,
        stack_is_ours(stack, ctx.project.slug),
        lambda: removers.delete_stack(cloudformation, name),
    )


def _github_actions_lookups(
    ctx: Context,
) -> list[tuple[str, str, Callable[[Context, str], Target | None]]]:
    """GitHub Actions' stack (it passes the CI/CD stack's roles) and the dispatch token."""
    if not github_actions.uses_github_actions(ctx.project):
        return []
    return [
        ("CloudFormation stack", github_actions.stack_name(ctx.project), _cicd_stack),
        ("Secrets Manager secret", github_actions.token_secret_name(ctx.project), _secret),
    ]


def _batch_lookups(ctx: Context) -> list[tuple[str, str, Callable[[Context, str], Target | None]]]:
    if not batch.uses_batch(ctx.project):
        return []
    return [("CloudFormation stack", batch.stack_name(ctx.project), _cicd_stack)]


def _secret(ctx: Context, name: str) -> Target | None:
    secrets = ctx.aws.client("secretsmanager")
    try:
        secret = secrets.describe_secret(SecretId=name)
    except ClientError as error:
        if error_code(error) == "ResourceNotFoundException":
            return None
        raise
    return _target(
        "Secrets Manager secret",
        name,
        tag_value(secret.get("Tags"), "project") == ctx.project.slug,
        # The token is useless once the project is gone: no recovery window.
        lambda: secrets.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True),
    )


def _endpoint(ctx: Context, name: str) -> Target | None:
    sagemaker = ctx.aws.client("sagemaker")
    try:
        arn = sagemaker.describe_endpoint(EndpointName=name)["EndpointArn"]
    except ClientError as error:
        if removers.sagemaker_missing(error):
            return None
        raise
    return _target(
        "SageMaker endpoint",
        name,
        _sagemaker_tagged(ctx, arn),
        lambda: removers.delete_endpoint(sagemaker, name),
    )


def _pipeline(ctx: Context, name: str) -> Target | None:
    sagemaker = ctx.aws.client("sagemaker")
    try:
        arn = sagemaker.describe_pipeline(PipelineName=name)["PipelineArn"]
    except ClientError as error:
        if removers.sagemaker_missing(error):
            return None
        raise
    return _target(
        "SageMaker pipeline",
        name,
        _sagemaker_tagged(ctx, arn),
        lambda: removers.delete_pipeline(sagemaker, name),
    )


def _sagemaker_tagged(ctx: Context, arn: str) -> bool:
    tags = ctx.aws.client("sagemaker").list_tags(ResourceArn=arn).get("Tags", [])
    return tag_value(tags, "project") == ctx.project.slug


def _bucket_name(ctx: Context) -> str:
    recorded = (ctx.state.step("cicd-stack") or {}).get("outputs", {}).get("ArtifactBucketName")
    return recorded or ctx.project.artifact_bucket(ctx.account_id)


def _bucket(ctx: Context, name: str) -> Target | None:
    s3 = ctx.aws.client("s3")
    try:
        tags = s3.get_bucket_tagging(Bucket=name).get("TagSet", [])
    except ClientError as error:
        code = error_code(error)
        if code in ("NoSuchBucket", "404"):
            return None
        if code not in ("NoSuchTagSet", "AccessDenied", "403"):
            raise
        tags = []
    ours = tag_value(tags, "project") == ctx.project.slug
    return _target("S3 bucket", name, ours, lambda: removers.empty_and_delete_bucket(s3, name))


def _group(ctx: Context, name: str) -> Target | None:
    group: dict[str, Any] | None = describe_group(ctx)
    if group is None:
        return None
    sagemaker = ctx.aws.client("sagemaker")
    return _target(
        "Model package group",
        name,
        group_is_ours(ctx, group["ModelPackageGroupArn"]),
        lambda: removers.delete_model_package_group(sagemaker, name),
    )


def build_log_groups(ctx: Context) -> list[str]:
    """The log groups CodeBuild creates for the project's three build projects on first use."""
    keys = ("modelbuild_build_project", "modeldeploy_build_project", "staging_test_build_project")
    return [f"/aws/codebuild/{ctx.project.names[key]}" for key in keys]


def _build_logs(ctx: Context, name: str) -> Target | None:
    logs = ctx.aws.client("logs")
    found = logs.describe_log_groups(logGroupNamePrefix=name).get("logGroups", [])
    if not any(group["logGroupName"] == name for group in found):
        return None
    # Named after this project's build projects, which only this project's stack creates.
    remove = functools.partial(removers.delete_log_group, logs, name)
    return _target("CloudWatch log group", name, True, remove)


def _source_lookups(ctx: Context) -> list[tuple[str, str, Callable[[Context, str], Target | None]]]:
    # A third-party host's repositories are the user's: only the connection is the project's
    # (GitHub Actions has none).
    if github_actions.uses_github_actions(ctx.project):
        return []
    if ctx.project.git is not None:
        return [("CodeConnections connection", connection_name(ctx.project), _connection)]
    names = ctx.project.names
    return [
        ("CodeCommit repository", names["modelbuild_repo"], _repository),
        ("CodeCommit repository", names["modeldeploy_repo"], _repository),
    ]


def _connection(ctx: Context, name: str) -> Target | None:
    """The connection this project created; one resources.json names is someone else's."""
    recorded = ctx.state.step(CONNECTION_KEY) or {}
    arn = str(recorded["arn"]) if recorded.get("created") else find_ours(ctx)
    if not arn:
        return None
    client = ctx.aws.client(arn.split(":")[2])
    return _target(
        "CodeConnections connection", name, True, lambda: removers.delete_connection(client, arn)
    )


def _repository(ctx: Context, name: str) -> Target | None:
    metadata = describe_repository(ctx, name)
    if metadata is None:
        return None
    codecommit = ctx.aws.client("codecommit")
    return _target(
        "CodeCommit repository",
        name,
        repository_is_ours(ctx, metadata),
        lambda: removers.delete_repository(codecommit, name),
    )
