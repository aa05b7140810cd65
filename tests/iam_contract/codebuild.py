"""The three CodeBuild roles' work: what CodeBuild does with each role, and the workloads.

``projects(stack)`` reads each ``AWS::CodeBuild::Project`` and the CodePipeline actions that run
it: its role, its environment variables, the artifacts it reads and writes. ``service_calls``
turns that into the calls CodeBuild itself makes with the project's role (build logs, the
pipeline's artifacts). The workloads (``run-pipeline``, ``build.py``, the packaging step,
``test/test.py``) run as their buildspecs run them, with the project's environment, against a moto
server, under the call recorder.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from cfnlint.decode import decode

from .recorder import ApiCall, CallRecorder
from .stack import DeployedStack

# CodePipeline names an artifact's S3 object <pipeline>/<artifact>/<random>, the pipeline name cut
# to 20 characters and the artifact name to 10 (e.g. "my-pipeline/SourceArti/Ab1Cd2E").
PIPELINE_PREFIX_LENGTH = 20
ARTIFACT_PREFIX_LENGTH = 10
ARTIFACT_OBJECT = "Ab1Cd2E"
# Any framework image: the recorded calls do not depend on it.
SERVING_IMAGE = "683313688378.dkr.ecr.{region}.amazonaws.com/sagemaker-xgboost:3.0-5"
# CodeBuild writes a build's log to /aws/codebuild/<project>, stream named by the build's id.
BUILD_LOG_STREAM = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
SOURCE_COMMIT = "0123456789abcdef0123456789abcdef01234567"


@dataclass(frozen=True)
class PipelineAction:
    """A CodePipeline action that runs a CodeBuild project, with its artifact names."""

    pipeline: str
    bucket: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]


@dataclass(frozen=True)
class CodeBuildProject:
    logical_id: str
    name: str
    role: str
    buildspec: str
    environment: Mapping[str, str]
    actions: tuple[PipelineAction, ...]


def artifact_key(pipeline: str, artifact: str, obj: str = ARTIFACT_OBJECT) -> str:
    return f"{pipeline[:PIPELINE_PREFIX_LENGTH]}/{artifact[:ARTIFACT_PREFIX_LENGTH]}/{obj}"


def artifact_prefix(pipeline: str, artifact: str) -> str:
    return f"{pipeline[:PIPELINE_PREFIX_LENGTH]}/{artifact[:ARTIFACT_PREFIX_LENGTH]}/"


def projects(stack: DeployedStack) -> dict[str, CodeBuildProject]:
    """Every CodeBuild project of the stack, keyed by the logical id of its service role."""
    found = {}
    for logical_id, resource in stack.of_type("AWS::CodeBuild::Project").items():
        properties = resource["Properties"]
        role_arn = stack.resolve(properties["ServiceRole"])
        role = next(
            name
            for name, res in stack.of_type("AWS::IAM::Role").items()
            if stack.resolve({"Fn::GetAtt": [name, "Arn"]}) == role_arn
        )
        name = str(stack.resolve(properties["Name"]))
        environment = {
            item["Name"]: str(stack.resolve(item["Value"]))
            for item in properties["Environment"].get("EnvironmentVariables", [])
        }
        found[role] = CodeBuildProject(
            logical_id,
            name,
            role,
            properties["Source"]["BuildSpec"],
            environment,
            tuple(_actions_running(stack, name)),
        )
    return found


def _actions_running(stack: DeployedStack, project: str) -> Iterable[PipelineAction]:
    for resource in stack.of_type("AWS::CodePipeline::Pipeline").values():
        properties = stack.resolve(resource["Properties"])
        for stage in properties["Stages"]:
            for action in stage["Actions"]:
                kind = action["ActionTypeId"]
                if kind["Provider"] != "CodeBuild":
                    continue
                if action["Configuration"]["ProjectName"] != project:
                    continue
                yield PipelineAction(
                    pipeline=properties["Name"],
                    bucket=properties["ArtifactStore"]["Location"],
                    inputs=tuple(item["Name"] for item in action.get("InputArtifacts", [])),
                    outputs=tuple(item["Name"] for item in action.get("OutputArtifacts", [])),
                )


def service_calls(project: CodeBuildProject, region: str) -> list[ApiCall]:
    """What CodeBuild does with the project's role around the buildspec's commands.

    Logs: CloudWatch Logs is on by default, group ``/aws/codebuild/<project>``. Artifacts (type
    CODEPIPELINE): CodeBuild looks the artifact bucket up, downloads every input artifact (a
    versioned store hands it the object's version) and uploads every output artifact, the same
    set of S3 permissions AWS's generated CodeBuild base policy grants.
    """
    group = f"/aws/codebuild/{project.name}"
    calls = [
        ApiCall("logs", "CreateLogGroup", region, {"logGroupName": group}),
        ApiCall(
            "logs",
            "CreateLogStream",
            region,
            {"logGroupName": group, "logStreamName": BUILD_LOG_STREAM},
        ),
        ApiCall(
            "logs",
            "PutLogEvents",
            region,
            {"logGroupName": group, "logStreamName": BUILD_LOG_STREAM},
        ),
    ]
    for action in project.actions:
        bucket = {"Bucket": action.bucket}
        calls += [
            ApiCall("s3", "GetBucketAcl", region, bucket),
            ApiCall("s3", "GetBucketLocation", region, bucket),
        ]
        for name in action.inputs:
            key = {**bucket, "Key": artifact_key(action.pipeline, name)}
            calls += [
                ApiCall("s3", "GetObject", region, key),
                ApiCall("s3", "GetObject", region, {**key, "VersionId": "1"}),
            ]
        for name in action.outputs:
            key = {**bucket, "Key": artifact_key(action.pipeline, name)}
            calls.append(ApiCall("s3", "PutObject", region, key))
    return calls


# --------------------------------------------------------------------------- the workloads


@dataclass(frozen=True)
class World:
    """The moto server and what the account holds before a workload runs."""

    url: str
    account: str
    region: str
    client: Any  # StandIn.client


def base_environment(world: World) -> dict[str, str]:
    """What every build container has: credentials (the role's), the region, fast retries."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AWS_", "SAGEMAKER_"))
    }
    env.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_ENDPOINT_URL=world.url,
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_EC2_METADATA_DISABLED="true",
        AWS_DEFAULT_REGION=world.region,
        # Never legacy retries: an unimplemented stand-in call would cost seconds.
        AWS_RETRY_MODE="standard",
        AWS_MAX_ATTEMPTS="2",
        CODEBUILD_RESOLVED_SOURCE_VERSION=SOURCE_COMMIT,
        PYTHONWARNINGS="ignore",
    )
    return env


def run_logged(
    command: Sequence[str],
    cwd: Path,
    env: Mapping[str, str],
    recorder: CallRecorder,
    log: Path,
    deny: Iterable[str] = (),
) -> list[ApiCall]:
    """Run one buildspec command under the recorder; fail loudly if the command fails."""
    log.unlink(missing_ok=True)
    done = subprocess.run(
        list(command),
        cwd=cwd,
        env=recorder.environment(env, log, deny),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        raise AssertionError(
            f"{' '.join(command)} exited {done.returncode} against the stand-in:\n"
            f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )
    return recorder.calls(log)


def buildspec_commands(repo: Path, buildspec: str) -> list[str]:
    spec = yaml.safe_load((repo / buildspec).read_text(encoding="utf-8"))
    return [str(command) for command in spec["phases"]["build"]["commands"]]


# -- model build: get-pipeline-definition, then run-pipeline


# The SDK checks the execution role with iam:SimulatePrincipalPolicy (and reads its trust policy
# with iam:GetRole) before it builds the pipeline, and ModelTrainer asks the simulator whether the
# role may write the default bucket. Each check treats AccessDenied as "cannot verify" and goes
# on; granting them would let the SDK's own smoke test of the execution role fail the build, or
# move where ModelTrainer stages the training code. The account answers them AccessDenied.
MODEL_BUILD_TOLERATED = {
    "iam:SimulatePrincipalPolicy": "the SDK's role checks treat AccessDenied as 'cannot verify'",
    "iam:GetRole": "the SDK's trust-policy check treats AccessDenied as 'cannot verify'",
}


def model_build_entry_points(repo: Path) -> dict[str, str]:
    """The console scripts ``pip install .`` gives the build (pyproject's [project.scripts])."""
    import tomllib

    scripts = tomllib.loads((repo / "pyproject.toml").read_text(encoding="utf-8"))["project"][
        "scripts"
    ]
    return {name: target for name, target in scripts.items()}


def console_script(entry_points: Mapping[str, str], command: str) -> list[str]:
    """``command ARGS`` as ``python -c`` calling the entry point pip would install."""
    words = command.split()
    module, _, function = entry_points[words[0]].partition(":")
    program = f"import sys; from {module} import {function} as main; sys.exit(main())"
    return [sys.executable, "-c", program, *words[1:]]


def prepare_model_build(world: World, project: CodeBuildProject) -> None:
    """The account the first build finds: the stack's bucket and execution role."""
    env = project.environment
    world.client("s3").create_bucket(Bucket=env["ARTIFACT_BUCKET"])
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "sagemaker.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    world.client("iam").create_role(
        RoleName=env["SAGEMAKER_PIPELINE_ROLE_ARN"].rsplit("/", 1)[1],
        AssumeRolePolicyDocument=json.dumps(trust),
    )


def model_build_commands(repo: Path, project: CodeBuildProject) -> list[list[str]]:
    """The buildspec's build commands with its shell variables filled as CodeBuild fills them."""
    entry_points = model_build_entry_points(repo)
    commands = []
    for line in buildspec_commands(repo, project.buildspec):
        expanded = line.replace('"${PIPELINE_TIMEOUT_SECONDS:-27000}"', "60").replace(
            '"source-commit=${CODEBUILD_RESOLVED_SOURCE_VERSION:-unknown}"',
            f"source-commit={SOURCE_COMMIT}",
        )
        if "$" in expanded:
            raise AssertionError(f"the recorder cannot expand {line!r} from {project.buildspec}")
        command = console_script(entry_points, expanded)
        if "--wait" in command:
            command += ["--poll-interval", "0.1"]
        commands.append(command)
    return commands


def run_model_build(
    world: World, repo: Path, project: CodeBuildProject, recorder: CallRecorder, label: str
) -> list[ApiCall]:
    env = base_environment(world) | dict(project.environment)
    env["PYTHONPATH"] = str(repo / "src")
    calls: list[ApiCall] = []
    for index, command in enumerate(model_build_commands(repo, project)):
        calls += run_logged(
            command,
            repo,
            env,
            recorder,
            recorder.directory / f"{label}-{index}.jsonl",
            deny={f"iam:{action.split(':')[1]}" for action in MODEL_BUILD_TOLERATED},
        )
    return calls


def approve_a_version_with_baselines(world: World, group: str, pipeline: str, bucket: str) -> str:
    """What a first build and an approval leave: an Approved version with its baseline files,
    where the pipeline's data-quality step writes them (<pipeline>/<execution>/data-quality/)."""
    sagemaker = world.client("sagemaker")
    s3 = world.client("s3")
    sagemaker.create_model_package_group(ModelPackageGroupName=group)
    prefix = f"{pipeline}/execution-1/data-quality"
    constraints = {
        "version": 0.0,
        "features": [
            {"name": f"_c{index}", "inferred_type": "Fractional", "completeness": 1.0}
            for index in range(8)
        ],
        "monitoring_config": {
            "evaluate_constraints": "Enabled",
            "emit_metrics": "Enabled",
            "distribution_constraints": {
                "perform_comparison": "Enabled",
                "comparison_threshold": 0.1,
                "comparison_method": "Robust",
            },
        },
    }
    s3.put_object(Bucket=bucket, Key=f"{prefix}/constraints.json", Body=json.dumps(constraints))
    s3.put_object(Bucket=bucket, Key=f"{prefix}/statistics.json", Body="{}")
    source = lambda name: {  # noqa: E731
        "ContentType": "application/json",
        "S3Uri": f"s3://{bucket}/{prefix}/{name}.json",
    }
    time.sleep(0.01)  # moto orders versions by creation time
    return sagemaker.create_model_package(
        ModelPackageGroupName=group,
        ModelApprovalStatus="Approved",
        InferenceSpecification={
            "Containers": [
                {
                    "Image": SERVING_IMAGE.format(region=world.region),
                    "ModelDataUrl": f"s3://{bucket}/{group}/model/model.tar.gz",
                }
            ],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
        DriftCheckBaselines={
            "ModelDataQuality": {
                "Statistics": source("statistics"),
                "Constraints": source("constraints"),
            }
        },
    )["ModelPackageArn"]


# -- model deploy: build.py, then aws cloudformation package


def run_deploy_build(
    world: World, repo: Path, project: CodeBuildProject, recorder: CallRecorder, workdir: Path
) -> list[ApiCall]:
    """``python build.py`` as the deploy buildspec runs it, then the packaging step's S3 calls."""
    commands = buildspec_commands(repo, project.buildspec)
    if commands[0] != "python build.py":
        raise AssertionError(f"{project.buildspec} no longer starts with `python build.py`")
    env = base_environment(world) | dict(project.environment)
    workdir.mkdir(parents=True, exist_ok=True)
    # Exports land in the work directory so the checkout stays clean.
    env["EXPORT_TEMPLATE_STAGING_CONFIG"] = str(
        workdir / project.environment["EXPORT_TEMPLATE_STAGING_CONFIG"]
    )
    env["EXPORT_TEMPLATE_PROD_CONFIG"] = str(
        workdir / project.environment["EXPORT_TEMPLATE_PROD_CONFIG"]
    )
    calls = run_logged(
        [sys.executable, "build.py"], repo, env, recorder, recorder.directory / "deploy-build.jsonl"
    )
    package = next(
        command for command in commands if command.startswith("aws cloudformation package")
    )
    return calls + package_calls(repo, package, project.environment, world.region)


# `aws cloudformation package` uploads the local file a property of these resource types points
# at (awscli's customizations/cloudformation/artifact_exporter.py lists them) and rewrites the
# property to the S3 location. Anything else in the template is copied as it is.
PACKAGED_PROPERTIES: Mapping[str, tuple[str, ...]] = {
    "AWS::Serverless::Function": ("CodeUri", "ImageUri"),
    "AWS::Serverless::Api": ("DefinitionUri",),
    "AWS::Serverless::HttpApi": ("DefinitionUri",),
    "AWS::Serverless::StateMachine": ("DefinitionUri",),
    "AWS::Serverless::LayerVersion": ("ContentUri",),
    "AWS::Serverless::Application": ("Location",),
    "AWS::Serverless::GraphQLApi": ("SchemaUri", "CodeUri"),
    "AWS::AppSync::GraphQLSchema": ("DefinitionS3Location",),
    "AWS::AppSync::Resolver": (
        "RequestMappingTemplateS3Location",
        "ResponseMappingTemplateS3Location",
        "CodeS3Location",
    ),
    "AWS::AppSync::FunctionConfiguration": (
        "RequestMappingTemplateS3Location",
        "ResponseMappingTemplateS3Location",
        "CodeS3Location",
    ),
    "AWS::Lambda::Function": ("Code",),
    "AWS::Lambda::LayerVersion": ("Content",),
    "AWS::ApiGateway::RestApi": ("BodyS3Location",),
    "AWS::ElasticBeanstalk::ApplicationVersion": ("SourceBundle",),
    "AWS::CloudFormation::Stack": ("TemplateURL",),
    "AWS::Glue::Job": ("Command",),
    "AWS::StepFunctions::StateMachine": ("DefinitionS3Location",),
    "AWS::CodeCommit::Repository": ("Code",),
    "AWS::ECS::TaskDefinition": (),
}


def package_calls(
    repo: Path, command: str, environment: Mapping[str, str], region: str
) -> list[ApiCall]:
    """The S3 calls ``aws cloudformation package --template T --s3-bucket B`` makes for T.

    For each local artifact it checks whether the object exists (HeadObject) and uploads it
    (PutObject) under the file's MD5, with no prefix unless ``--s3-prefix`` is given.
    """
    words = command.split()
    template_name = words[words.index("--template") + 1]
    bucket_word = words[words.index("--s3-bucket") + 1].strip('"')
    bucket = environment[bucket_word.lstrip("$")] if bucket_word.startswith("$") else bucket_word
    prefix = words[words.index("--s3-prefix") + 1] + "/" if "--s3-prefix" in words else ""
    template, matches = decode(str(repo / template_name))
    if template is None:
        raise AssertionError(f"{template_name} does not parse: {matches}")
    calls = []
    for resource in template["Resources"].values():
        properties = resource.get("Properties", {})
        for name in PACKAGED_PROPERTIES.get(resource["Type"], ()):
            value = properties.get(name)
            if isinstance(value, str) and not value.startswith(("s3://", "https://")):
                key = prefix + hashlib.md5((repo / value).read_bytes()).hexdigest()  # noqa: S324
                calls += [
                    ApiCall("s3", "HeadObject", region, {"Bucket": bucket, "Key": key}),
                    ApiCall("s3", "PutObject", region, {"Bucket": bucket, "Key": key}),
                ]
    return calls


# -- staging test: test/test.py against the staging endpoint


def create_staging_endpoint(world: World, endpoint: str, role_arn: str, bucket: str) -> None:
    """The staging endpoint as the staging stack leaves it (with data capture)."""
    sagemaker = world.client("sagemaker")
    sagemaker.create_model(
        ModelName=f"{endpoint}-model",
        ExecutionRoleArn=role_arn,
        PrimaryContainer={"Image": SERVING_IMAGE.format(region=world.region)},
    )
    sagemaker.create_endpoint_config(
        EndpointConfigName=f"{endpoint}-config",
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": f"{endpoint}-model",
                "InstanceType": "ml.m5.large",
                "InitialInstanceCount": 1,
            }
        ],
        DataCaptureConfig={
            "EnableCapture": True,
            "InitialSamplingPercentage": 100,
            "DestinationS3Uri": f"s3://{bucket}/datacapture/staging",
            "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
        },
    )
    sagemaker.create_endpoint(EndpointName=endpoint, EndpointConfigName=f"{endpoint}-config")


def run_staging_test(
    world: World,
    repo: Path,
    project: CodeBuildProject,
    recorder: CallRecorder,
    build_config: Path,
    runtime_url: str,
    workdir: Path,
) -> list[ApiCall]:
    """``python test/test.py`` as test/buildspec.yml runs it, invocations served by the stub."""
    (command,) = buildspec_commands(repo, project.buildspec)
    if not command.startswith("python test/test.py"):
        raise AssertionError(f"{project.buildspec} no longer runs `python test/test.py`")
    env = base_environment(world) | dict(project.environment)
    env["AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME"] = runtime_url
    return run_logged(
        [
            sys.executable,
            "test/test.py",
            "--build-config",
            str(build_config),
            "--export-test-results",
            str(workdir / project.environment["EXPORT_TEST_RESULTS"]),
            "--poll-seconds",
            "0.1",
            "--timeout-seconds",
            "10",
        ],
        repo,
        env,
        recorder,
        recorder.directory / "staging-test.jsonl",
    )
