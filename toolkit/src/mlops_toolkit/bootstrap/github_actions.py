"""GitHub Actions (ci=github-actions): the values of ``cicd/github-actions-stack.yml`` and what a
platform team sets once in GitHub.

The stack reads the CI/CD stack's outputs (bucket, execution role, CloudFormation role), so it
is deployed after it. The workflows find the role ARNs and the other account-specific values in
repository variables, which ``repository_variables`` lists; the production environment holds the
prod role's ARN, so only a job that its reviewers approved sees it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from botocore.exceptions import ClientError

from mlops_toolkit.bootstrap.errors import ConfigError, error_code
from mlops_toolkit.bootstrap.gitrepo import BRANCH
from mlops_toolkit.bootstrap.project import Project
from mlops_toolkit.bootstrap.stack import StackSpec, describe_stack, stack_step
from mlops_toolkit.bootstrap.steps import (
    BLOCKED,
    CREATE,
    NOTHING,
    UPDATE,
    Context,
    Finding,
    Step,
    tag_value,
)

GITHUB_ACTIONS = "github-actions"
TEMPLATE_NAME = "github-actions-stack.yml"
OIDC_HOST = "token.actions.githubusercontent.com"
PRODUCTION_ENVIRONMENT = "production"
# The repository_dispatch event type .github/workflows/deploy.yml listens for.
APPROVAL_EVENT_TYPE = "model-approval-changed"
# A secret that already holds the dispatch token, or the token to store in the project's secret.
TOKEN_SECRET_ARN_ENV = "MLOPS_GITHUB_TOKEN_SECRET_ARN"
TOKEN_ENV = "MLOPS_GITHUB_DISPATCH_TOKEN"
# The CI/CD stack's outputs this stack reads.
CICD_OUTPUTS = ("ArtifactBucketName", "SageMakerExecutionRoleArn", "CloudFormationRoleArn")


def uses_github_actions(project: Project) -> bool:
    return project.git is not None and project.git.ci == GITHUB_ACTIONS


def stack_name(project: Project) -> str:
    return f"{project.slug}-github-actions"


def token_secret_name(project: Project) -> str:
    return f"{project.slug}/github-dispatch-token"


def oidc_provider_arn(account_id: str) -> str:
    return f"arn:aws:iam::{account_id}:oidc-provider/{OIDC_HOST}"


def github_repositories(project: Project) -> tuple[str, str, str]:
    """The owner and the model-build and model-deploy repository names on GitHub."""
    git = project.git
    if git is None or git.host != "github":
        raise ConfigError(
            "cicd/resources.json: ci=github-actions needs git.host github, with the owner and "
            "the two repositories"
        )
    return git.owner, git.repositories["modelbuild"], git.repositories["modeldeploy"]


def stack_parameters(
    project: Project,
    cicd_outputs: Mapping[str, str],
    create_provider: bool,
    token_secret_arn: str,
    token_version: str = "",
) -> dict[str, str]:
    """Every parameter of github-actions-stack.yml."""
    missing = [key for key in CICD_OUTPUTS if not cicd_outputs.get(key)]
    if missing:
        raise ConfigError(f"the CI/CD stack has no output {', '.join(missing)}: deploy it first")
    owner, build, deploy = github_repositories(project)
    names = project.names
    return {
        "ProjectSlug": project.slug,
        "OwnerTeam": project.settings["owner_team"],
        "GitHubOwner": owner,
        "ModelBuildRepositoryName": build,
        "ModelDeployRepositoryName": deploy,
        "BranchName": BRANCH,
        "ProductionEnvironmentName": PRODUCTION_ENVIRONMENT,
        "CreateOidcProvider": "yes" if create_provider else "no",
        "DispatchTokenSecretArn": token_secret_arn,
        "DispatchTokenVersion": token_version,
        "ApprovalEventType": APPROVAL_EVENT_TYPE,
        "ArtifactBucketName": cicd_outputs["ArtifactBucketName"],
        "SageMakerExecutionRoleArn": cicd_outputs["SageMakerExecutionRoleArn"],
        "CloudFormationRoleArn": cicd_outputs["CloudFormationRoleArn"],
        "SageMakerPipelineName": project.pipeline_name,
        "SageMakerPipelineArnName": project.pipeline_name.lower(),
        "ModelPackageGroupName": project.model_package_group,
        "ModelPackageGroupArnName": project.model_package_group.lower(),
        "StagingStackName": names["staging_stack"],
        "ProdStackName": names["prod_stack"],
        "StagingEndpointName": names["staging_endpoint"],
    }


def repository_variables(
    project: Project, cicd_outputs: Mapping[str, str], github_outputs: Mapping[str, str]
) -> dict[str, dict[str, str]]:
    """What .github/workflows/*.yml read with ``vars.``: per repository, and the production
    environment's own variable."""
    owner, build, deploy = github_repositories(project)
    region = project.region
    return {
        f"{owner}/{build}": {
            "AWS_REGION": region,
            "AWS_ROLE_ARN": github_outputs["ModelBuildWorkflowRoleArn"],
            "SAGEMAKER_PIPELINE_ROLE_ARN": cicd_outputs["SageMakerExecutionRoleArn"],
            "ARTIFACT_BUCKET": cicd_outputs["ArtifactBucketName"],
        },
        f"{owner}/{deploy}": {
            "AWS_REGION": region,
            "AWS_STAGING_ROLE_ARN": github_outputs["StagingDeployWorkflowRoleArn"],
            "MODEL_EXECUTION_ROLE_ARN": cicd_outputs["SageMakerExecutionRoleArn"],
            "ARTIFACT_BUCKET": cicd_outputs["ArtifactBucketName"],
            "NOTIFICATION_TOPIC_ARN": cicd_outputs.get("NotificationTopicArn", ""),
            "CLOUDFORMATION_ROLE_ARN": cicd_outputs["CloudFormationRoleArn"],
        },
        f"{owner}/{deploy} environment {PRODUCTION_ENVIRONMENT}": {
            "AWS_PROD_ROLE_ARN": github_outputs["ProdDeployWorkflowRoleArn"],
        },
    }


# ---------------------------------------------------------------- bootstrap steps


def github_steps(ctx: Context) -> list[Step]:
    """After the CI/CD stack: the dispatch token's secret, then this stack."""
    if not uses_github_actions(ctx.project):
        return []
    spec = StackSpec(
        "github-actions-stack",
        stack_name(ctx.project),
        ctx.project.cicd_dir / TEMPLATE_NAME,
        _parameters,
    )
    secret = token_secret_name(ctx.project)
    return [
        Step("github-dispatch-token", "Secrets Manager secret", secret, _inspect_token, _store),
        _after_token(stack_step(ctx, spec)),
    ]


def _after_token(step: Step) -> Step:
    """The plan is surveyed before anything is applied: a token about to be stored would leave
    the stack naming the old version (or no secret) until the next run. Such a run updates the
    stack too; its parameters are read when it is applied, after the token step."""

    def inspect(ctx: Context) -> Finding:
        finding = step.inspect(ctx)
        if finding.action == NOTHING and _inspect_token(ctx).action in (CREATE, UPDATE):
            return Finding(UPDATE, "update (the dispatch token changes)")
        return finding

    return replace(step, inspect=inspect)


def _parameters(ctx: Context) -> dict[str, str]:
    cloudformation = ctx.aws.client("cloudformation")
    cicd = describe_stack(cloudformation, ctx.project.names["cicd_stack"]) or {}
    outputs = {o["OutputKey"]: o["OutputValue"] for o in cicd.get("Outputs", [])}
    arn, version = _token_secret(ctx)
    return stack_parameters(ctx.project, outputs, _create_provider(ctx), arn, version)


def _create_provider(ctx: Context) -> bool:
    """Create GitHub's provider unless the account has one this stack did not create."""
    stack = describe_stack(ctx.aws.client("cloudformation"), stack_name(ctx.project))
    deployed = {
        p["ParameterKey"]: p.get("ParameterValue") for p in (stack or {}).get("Parameters", [])
    }
    if deployed.get("CreateOidcProvider") == "yes":
        return True
    try:
        ctx.aws.client("iam").get_open_id_connect_provider(
            OpenIDConnectProviderArn=oidc_provider_arn(ctx.account_id)
        )
    except ClientError as error:
        if error_code(error) == "NoSuchEntity":
            return True
        raise
    return False


def _describe_secret(ctx: Context, secret_id: str) -> dict[str, Any] | None:
    try:
        return ctx.aws.client("secretsmanager").describe_secret(SecretId=secret_id)
    except ClientError as error:
        if error_code(error) == "ResourceNotFoundException":
            return None
        raise


def _current_version(secret: dict[str, Any]) -> str:
    stages = secret.get("VersionIdsToStages", {})
    return next((v for v, labels in stages.items() if "AWSCURRENT" in labels), "")


def _token_secret(ctx: Context) -> tuple[str, str]:
    """(ARN, current version) of the secret holding the token; empty when there is none."""
    given = os.environ.get(TOKEN_SECRET_ARN_ENV, "").strip()
    secret = _describe_secret(ctx, given or token_secret_name(ctx.project))
    if secret is None:
        if given:
            raise ConfigError(f"{TOKEN_SECRET_ARN_ENV}={given}: no such secret in this account")
        return "", ""
    if not given and tag_value(secret.get("Tags"), "project") != ctx.project.slug:
        return "", ""
    return secret["ARN"], _current_version(secret)


def _inspect_token(ctx: Context) -> Finding:
    if os.environ.get(TOKEN_SECRET_ARN_ENV, "").strip():
        return Finding(NOTHING, f"not used: {TOKEN_SECRET_ARN_ENV} names the secret to read")
    token = os.environ.get(TOKEN_ENV, "").strip()
    secret = _describe_secret(ctx, token_secret_name(ctx.project))
    ours = secret is not None and tag_value(secret.get("Tags"), "project") == ctx.project.slug
    if secret is not None and not ours:
        return Finding(
            BLOCKED, f"a secret with this name exists without project={ctx.project.slug}"
        )
    if not token:
        note = "exists, kept" if ours else f"none: set {TOKEN_ENV} for the approval trigger"
        return Finding(NOTHING, note, {"arn": secret["ARN"]} if ours else {})
    if secret is None:
        return Finding(CREATE, f"create from {TOKEN_ENV}")
    current = ctx.aws.client("secretsmanager").get_secret_value(SecretId=secret["ARN"])
    if current.get("SecretString") == token:
        return Finding(NOTHING, "exists, holds this token", {"arn": secret["ARN"]})
    return Finding(UPDATE, f"store the new token from {TOKEN_ENV}")


def _store(ctx: Context, finding: Finding) -> dict[str, Any]:
    secrets = ctx.aws.client("secretsmanager")
    name = token_secret_name(ctx.project)
    token = os.environ[TOKEN_ENV].strip()
    if finding.action == CREATE:
        try:
            created = secrets.create_secret(
                Name=name,
                Description=f"GitHub token that sends repository_dispatch for {ctx.project.slug}",
                SecretString=token,
                Tags=ctx.project.tags(),
            )
            return {"arn": created["ARN"], "version": created.get("VersionId", "")}
        except ClientError as error:
            # A lost reply to an earlier attempt: the secret is there; store the token below.
            if error_code(error) != "ResourceExistsException":
                raise
    stored = secrets.put_secret_value(SecretId=name, SecretString=token)
    return {"arn": stored["ARN"], "version": stored.get("VersionId", "")}


# ---------------------------------------------------------------- what to set in GitHub


def print_github_settings(ctx: Context) -> None:
    """The one-time GitHub settings: repository variables, the production environment."""
    cloudformation = ctx.aws.client("cloudformation")
    outputs: dict[str, dict[str, str]] = {}
    for name in (ctx.project.names["cicd_stack"], stack_name(ctx.project)):
        stack = describe_stack(cloudformation, name) or {}
        outputs[name] = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    cicd, github = outputs.values()
    if not github:
        return
    out = ctx.out
    print(
        "\nSet these once in GitHub (docs/github-actions.md; `gh variable set` does it):", file=out
    )
    for where, variables in repository_variables(ctx.project, cicd, github).items():
        print(f"  {where}:", file=out)
        for key, value in variables.items():
            print(f"    {key}={value}", file=out)
    _, _, deploy = github_repositories(ctx.project)
    print(
        f"  Environment {PRODUCTION_ENVIRONMENT} in {deploy}: add required reviewers (they approve"
        " every prod deployment) and allow only the main branch to deploy.",
        file=out,
    )
    if not _token_secret(ctx)[0]:
        print(
            f"  No dispatch token: approving a model does not start the deploy workflow. Set "
            f"{TOKEN_ENV} (a fine-grained token with Contents: write on {deploy}) and re-run.",
            file=out,
        )
