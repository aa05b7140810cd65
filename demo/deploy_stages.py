"""Demo stages for the AWS side of a project: bootstrap, and the staging deployment.

They drive the tools a team runs on the generated deploy repository (``mlops-bootstrap
bootstrap`` from the toolkit, ``build.py``, ``test/test.py``) against the embedded stand-in, as
CodeBuild would in AWS.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import warnings
from pathlib import Path

from demo.stages import DemoContext, DemoError, Stage, run_child

STAGING = "staging"


def _deploy_repo(ctx: DemoContext) -> Path:
    project = ctx.rendered()
    return project.modelbuild.parent / f"{project.modelbuild.parent.name}-modeldeploy"


def _bare_remotes(ctx: DemoContext, repos: list[str]) -> Path:
    """Local bare repositories in place of CodeCommit's git side (moto has no git endpoint)."""
    root = ctx.output_dir / "remotes"
    for repo in repos:
        subprocess.run(["git", "init", "--bare", "--quiet", str(root / f"{repo}.git")], check=True)
    return root


def _quiet_stand_in() -> None:
    """moto warns about each CloudFormation type it only pretends to create: known, and noise."""
    logging.getLogger("moto").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module="moto")


def bootstrap_project(ctx: DemoContext) -> None:
    _quiet_stand_in()
    deploy_repo = _deploy_repo(ctx)
    slug = ctx.rendered().settings["project_slug"]
    remotes = _bare_remotes(ctx, [f"{slug}-modelbuild", f"{slug}-modeldeploy"])
    env = {
        **os.environ,
        "MLOPS_BOOTSTRAP_GIT_REMOTE": f"{remotes}/{{repo}}.git",
        "MLOPS_BOOTSTRAP_STACK_POLL_SECONDS": "1",
    }
    ctx.console.file.flush()
    bootstrap = [sys.executable, "-m", "mlops_toolkit.bootstrap", "bootstrap", "--yes"]
    if run_child(bootstrap, deploy_repo, env) != 0:
        raise DemoError("the bootstrap failed; its output above names the resource and the error")
    _print_inventory(ctx, slug)


def _print_inventory(ctx: DemoContext, slug: str) -> None:
    codecommit = ctx.aws.client("codecommit")
    for repo in (f"{slug}-modelbuild", f"{slug}-modeldeploy"):
        metadata = codecommit.get_repository(repositoryName=repo)["repositoryMetadata"]
        head = subprocess.run(
            ["git", "--git-dir", str(ctx.output_dir / "remotes" / f"{repo}.git"), "log"]
            + ["--oneline", "-1", "main"],
            capture_output=True,
            text=True,
        ).stdout.strip()
        ctx.console.print(f"  repository {metadata['repositoryName']}: main at {head or '?'}")
    group = ctx.rendered().settings["model_package_group_name"]
    described = ctx.aws.client("sagemaker").describe_model_package_group(
        ModelPackageGroupName=group
    )
    ctx.console.print(f"  model package group {group}: {described['ModelPackageGroupStatus']}")
    for stack in ctx.aws.client("cloudformation").describe_stacks()["Stacks"]:
        ctx.console.print(f"  stack {stack['StackName']}: {stack['StackStatus']}")


def build_stage_configs(ctx: DemoContext) -> None:
    deploy_repo = _deploy_repo(ctx)
    command = [sys.executable, "build.py", "--model-execution-role-arn", ctx.role_arn]
    command += ["--artifact-bucket", ctx.bucket]
    ctx.console.file.flush()
    if run_child(command, deploy_repo, dict(os.environ)) != 0:
        raise DemoError("build.py failed; its message above says why")
    export = json.loads((deploy_repo / "staging-config-export.json").read_text("utf-8"))
    ctx.extras["staging_export"] = export
    ctx.console.print(
        f"  staging will run {export['Parameters'].get('ModelPackageArn', '?')}", soft_wrap=True
    )


def deploy_staging_stack(ctx: DemoContext) -> None:
    deploy_repo = _deploy_repo(ctx)
    export = ctx.extras["staging_export"]
    stack_name = f"{ctx.rendered().settings['project_slug']}-deploy-{STAGING}"
    cloudformation = ctx.aws.client("cloudformation")
    cloudformation.create_stack(
        StackName=stack_name,
        TemplateBody=(deploy_repo / "endpoint-config-template.yml").read_text("utf-8"),
        Parameters=[
            {"ParameterKey": key, "ParameterValue": str(value)}
            for key, value in export["Parameters"].items()
        ],
        Tags=[{"Key": key, "Value": value} for key, value in export["Tags"].items()],
    )
    cloudformation.get_waiter("stack_create_complete").wait(
        StackName=stack_name, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
    )
    [stack] = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    ctx.console.print(f"  stack {stack_name}: {stack['StackStatus']}")
    for key, value in outputs.items():
        ctx.console.print(f"    {key}: {value}", soft_wrap=True)
    _name_endpoint_as_cloudformation_would(ctx, export["Parameters"]["EndpointName"], outputs)


def _name_endpoint_as_cloudformation_would(
    ctx: DemoContext, endpoint_name: str, outputs: dict[str, str]
) -> None:
    """moto's CloudFormation ignores resource names (it made a random endpoint name); AWS would
    create the endpoint under the template's EndpointName, which the staging test looks up."""
    if outputs.get("EndpointName") == endpoint_name:
        return
    ctx.aws.client("sagemaker").create_endpoint(
        EndpointName=endpoint_name, EndpointConfigName=outputs["EndpointConfigName"]
    )
    ctx.console.print(
        f"  (stand-in: moto ignores CloudFormation resource names, so the demo also created "
        f"{endpoint_name} from the stack's endpoint configuration)",
        soft_wrap=True,
    )


def run_staging_test(ctx: DemoContext) -> None:
    """The deploy repo's staging test, against the stack's endpoint served on loopback."""
    from mlops_toolkit.endpoint.endpoint import load_endpoint
    from mlops_toolkit.endpoint.model_source import describe_package

    deploy_repo = _deploy_repo(ctx)
    export = ctx.extras["staging_export"]
    package_arn = export["Parameters"]["ModelPackageArn"]
    endpoint_name = export["Parameters"]["EndpointName"]
    # The stand-in has no model servers: the same artifact the stack deploys answers on loopback
    # under the staging endpoint's name, with the handler packed in the model.
    endpoint = load_endpoint(
        describe_package(ctx.aws.client("sagemaker"), package_arn),
        ctx.aws.session(),
        ctx.output_dir / "staging-endpoint",
        endpoint_name,
        capture_dir=ctx.output_dir / "staging-data-capture",
    )
    endpoint.start()
    ctx.cleanup.callback(endpoint.stop)
    results = ctx.output_dir / "staging-test-results.json"
    command = [sys.executable, "test/test.py", "--build-config", "staging-config-export.json"]
    command += ["--export-test-results", str(results), "--poll-seconds", "1"]
    command += ["--timeout-seconds", "60"]
    env = {**os.environ, "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": endpoint.url}
    ctx.console.file.flush()
    returncode = run_child(command, deploy_repo, env)
    report = json.loads(results.read_text("utf-8")) if results.is_file() else {}
    ctx.extras["staging_test"] = report
    if returncode != 0:
        raise DemoError(f"the staging test failed (exit {returncode}); see {results}")
    ctx.console.print(f"  staging test passed; results in {results}")


BOOTSTRAP_STAGES: list[Stage] = [
    Stage("Bootstrap the AWS side: repositories, registry group, CI/CD stack", bootstrap_project),
]

DEPLOY_STAGES: list[Stage] = [
    Stage("build.py: stage configurations for the newest approved version", build_stage_configs),
    Stage("Deploy the staging stack to the stand-in", deploy_staging_stack),
    Stage("Run the deploy repo's staging test against the served model", run_staging_test),
]
