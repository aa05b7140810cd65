"""The CI/CD stack of a rendered project, as the bootstrap would deploy it (on paper)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mlops_toolkit.bootstrap.project import load_project
from mlops_toolkit.bootstrap.stack import stack_parameters

from .services import deploy_modules
from .stack import DeployedStack

ACCOUNT = "123456789012"


def deploy_repo(project: Path) -> Path:
    (repo,) = project.glob("*-modeldeploy")
    return repo


def cicd_stack(project: Path, account: str = ACCOUNT) -> DeployedStack:
    """``cicd/cicd-stack.yml`` of ``project`` with the parameters ``mlops-bootstrap bootstrap``
    passes (names from cicd/resources.json), in the project's region."""
    loaded = load_project(deploy_repo(project), project)
    return DeployedStack.load(
        loaded.stack_template,
        name=loaded.names["cicd_stack"],
        region=loaded.region,
        account=account,
        parameters=stack_parameters(loaded, account),
    )


def modelbuild_repo(project: Path) -> Path:
    (repo,) = project.glob("*-modelbuild")
    return repo


@dataclass(frozen=True)
class EndpointDeployment:
    """One endpoint stack as the deploy pipeline would create it, with its stack-level tags."""

    stage: str
    stack: DeployedStack
    tags: dict[str, str]


def endpoint_stacks(
    project: Path,
    cicd: DeployedStack,
    baselines: tuple[str, str],
    variants: Callable[[dict[str, str]], list[dict[str, str]]] = lambda params: [params],
) -> list[EndpointDeployment]:
    """The staging and prod endpoint stacks, each with the template configuration ``build.py``
    exports for it (``stage_config.build_export``), for each variant of its stage file.

    ``baselines`` are the statistics and constraints URIs the registered version carries.
    """
    repo = deploy_repo(project)
    region, account = cicd.region, cicd.account
    group = cicd.parameters["ModelPackageGroupArnName"]
    role = cicd.resolve({"Fn::GetAtt": ["SageMakerExecutionRole", "Arn"]})
    bucket = cicd.resolve({"Ref": "ArtifactBucket"})
    topic = cicd.resolve({"Ref": "NotificationTopic"})
    stack_names = {
        "staging": cicd.parameters["StagingStackName"],
        "prod": cicd.parameters["ProdStackName"],
    }
    found = []
    with deploy_modules(repo) as modules:
        stage_config, monitoring = modules["stage_config"], modules["monitoring"]
        settings = stage_config.load_project(repo / "project.json")
        deployment = stage_config.Deployment(
            model_package_arn=f"arn:aws:sagemaker:{region}:{account}:model-package/{group}/1",
            model_package_version=1,
            execution_role_arn=role,
            artifact_bucket=bucket,
            source_commit="0123abcd",
            monitoring=stage_config.MonitoringInputs(
                image_uri=monitoring.monitor_image_uri(region),
                statistics_uri=baselines[0],
                constraints_uri=baselines[1],
                drift_features=("length",) * monitoring.ALARM_FEATURE_SLOTS,
                drift_threshold=monitoring.DEFAULT_COMPARISON_THRESHOLD,
                notification_topic_arn=topic,
            ),
        )
        for stage in ("staging", "prod"):
            checked_in = stage_config.load_stage_config(repo / f"{stage}-config.json", stage)
            for parameters in variants(checked_in.parameters):
                config = stage_config.StageConfig(stage, parameters, checked_in.tags)
                export = stage_config.build_export(settings, config, deployment)
                stack = DeployedStack.load(
                    repo / "endpoint-config-template.yml",
                    name=stack_names[stage],
                    region=region,
                    account=account,
                    parameters=export["Parameters"],
                )
                found.append(EndpointDeployment(stage, stack, export["Tags"]))
    return found
