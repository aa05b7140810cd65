"""GitHub Actions (ci=github-actions): the values of ``cicd/github-actions-stack.yml`` and what a
platform team sets once in GitHub.

The stack reads the CI/CD stack's outputs (bucket, execution role, CloudFormation role), so it
is deployed after it. The workflows find the role ARNs and the other account-specific values in
repository variables, which ``repository_variables`` lists; the production environment holds the
prod role's ARN, so only a job that its reviewers approved sees it.
"""

from __future__ import annotations

from collections.abc import Mapping

from mlops_toolkit.bootstrap.errors import ConfigError
from mlops_toolkit.bootstrap.gitrepo import BRANCH
from mlops_toolkit.bootstrap.project import Project

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
    return project.settings.get("ci") == GITHUB_ACTIONS


def stack_name(project: Project) -> str:
    return f"{project.slug}-github-actions"


def token_secret_name(project: Project) -> str:
    return f"{project.slug}/github-dispatch-token"


def oidc_provider_arn(account_id: str) -> str:
    return f"arn:aws:iam::{account_id}:oidc-provider/{OIDC_HOST}"


def github_repositories(project: Project) -> tuple[str, str, str]:
    """The owner and the model-build and model-deploy repository names on GitHub."""
    owner = project.settings.get("git_owner", "")
    if not owner:
        raise ConfigError(
            "cicd/resources.json: project.git_owner is empty; ci=github-actions needs the GitHub "
            "account or organisation that owns both repositories"
        )
    build = project.settings.get("modelbuild_repository") or project.repo_name("modelbuild")
    deploy = project.settings.get("modeldeploy_repository") or project.repo_name("modeldeploy")
    return owner, build, deploy


def stack_parameters(
    project: Project,
    cicd_outputs: Mapping[str, str],
    create_provider: bool,
    token_secret_arn: str,
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
