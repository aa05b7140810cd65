"""The calls AWS services make with the project's roles, derived from what the project defines.

- The SageMaker execution role: from the pipeline definition the SDK emits (each step's job, its
  image, S3 inputs and outputs, the model package it registers) and from the endpoint stack each
  stage deploys (the model's image and artifact, data capture, the monitoring job).
- The CloudFormation role: every resource the endpoint stacks create, with the create, read,
  update and delete handler permissions of its type from cfn-lint's resource provider schemas,
  on the ARNs its resolved properties name, carrying the template's and the stack's tags.
- The CodePipeline role: each action of the two CodePipelines in ``cicd/cicd-stack.yml``.
- The EventBridge and retrain roles: the targets of the rules that name them.
- The topic and key policies: the rules and alarms that publish to the topic.

Where the service's own behaviour decides the calls (which APIs a CodePipeline action type
makes, how SageMaker names a pipeline job), the facts are in small tables below, each with the
AWS documentation it restates.
"""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from types import ModuleType
from typing import Any

from cfnlint.schema import PROVIDER_SCHEMA_MANAGER

from .calls import (
    Place,
    bucket_arn,
    object_arn,
    pass_role,
    pull_image,
    put_metrics,
    read_object,
    read_prefix,
    requests_for,
    resource_tag_context,
    tag_context,
    unique,
    write_logs,
    write_object,
)
from .evaluator import IamRequest, action_detail
from .stack import ContractGap, DeployedStack, physical_id

SAGEMAKER = "sagemaker.amazonaws.com"
CLOUDFORMATION = "cloudformation.amazonaws.com"

# What SageMaker Pipelines fills in at run time. It names each step's job
# "pipelines-<execution id>-<step name>-<suffix>" and runs training jobs under their output path.
EXECUTION_ID = "a1b2c3d4e5f6"
JOB_SUFFIX = "x1y2z3w4v5"
# The execution that registered the approved version a later run compares with.
LATER_EXECUTION_ID = "f6e5d4c3b2a1"
REGISTERED_VERSION = 1
# Names a deployed endpoint's runtime picks: its instance, the hour it captures, the run of its
# monitoring schedule (SageMaker names those jobs "model-monitoring-<hour>-<hash>").
ENDPOINT_INSTANCE = "i-0123456789abcdef0"
CAPTURE_HOUR = "2026/12/02/17"
MONITORING_JOB = "model-monitoring-202612021700-0123456789abcdef01234567"


def pipeline_job_name(step: str, execution: str = EXECUTION_ID) -> str:
    return f"pipelines-{execution}-{step}-{JOB_SUFFIX}".lower()


# A tuning job's name is SageMaker's choice (32 characters at most, no documented pattern); each of
# its training jobs is "<tuning job>-<NNN>-<8 characters>" and writes under the output path.
def tuning_job_name(step: str, execution: str = EXECUTION_ID) -> str:
    return f"{execution}-{step}"[:32].lower()


def tuned_training_job_name(step: str, execution: str = EXECUTION_ID) -> str:
    return f"{tuning_job_name(step, execution)}-001-0a1b2c3d"


# ================================================================ the pipeline definition


@dataclass(frozen=True)
class Definition:
    """A pipeline definition with its expressions resolved as one execution resolves them."""

    raw: Mapping[str, Any]
    pipeline_name: str
    place: Place
    execution_id: str = EXECUTION_ID

    @property
    def steps(self) -> dict[str, Mapping[str, Any]]:
        found: dict[str, Mapping[str, Any]] = {}

        def collect(steps: Sequence[Mapping[str, Any]]) -> None:
            for step in steps:
                found[step["Name"]] = step
                arguments = step.get("Arguments", {})
                if step["Type"] == "Condition":
                    collect(arguments.get("IfSteps", []))
                    collect(arguments.get("ElseSteps", []))

        collect(self.raw["Steps"])
        return found

    def parameter(self, name: str) -> Any:
        for parameter in self.raw["Parameters"]:
            if parameter["Name"] == name:
                return parameter.get("DefaultValue")
        raise KeyError(f"the definition has no parameter {name}")

    def job_name(self, step: str) -> str:
        return pipeline_job_name(step, self.execution_id)

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(item) for item in value]
        if not isinstance(value, dict):
            return value
        if "Get" in value and len(value) == 1:
            return self._get(value["Get"])
        if "Std:JsonGet" in value:
            # A value read from a property file at run time: never an S3 location or an ARN.
            return "json-value"
        if "Std:Join" in value:
            join = value["Std:Join"]
            return join["On"].join(str(self.resolve(item)) for item in join["Values"])
        return {key: self.resolve(item) for key, item in value.items()}

    def _get(self, path: str) -> Any:
        root, _, rest = path.partition(".")
        if root == "Parameters":
            return self.parameter(rest)
        if root == "Execution":
            return {
                "PipelineExecutionId": self.execution_id,
                "PipelineName": self.pipeline_name,
                "PipelineExecutionArn": self.place.arn(
                    "sagemaker", f"pipeline/{self.pipeline_name}/execution/{self.execution_id}"
                ),
            }[rest]
        if root == "Steps":
            step_name, _, attribute = rest.partition(".")
            return self._step_property(self.steps[step_name], attribute)
        raise ContractGap(f"the contract cannot resolve {{'Get': {path!r}}}")

    def _step_property(self, step: Mapping[str, Any], attribute: str) -> str:
        arguments = step["Arguments"]
        if attribute.startswith("ProcessingOutputConfig.Outputs['"):
            name = attribute.split("'")[1]
            return self.output_uri(step, name)
        if attribute == "ModelArtifacts.S3ModelArtifacts":
            return self.model_artifact(step)
        if step["Type"] == "Tuning" and attribute in TUNING_JOB_NAME_PROPERTIES:
            return tuned_training_job_name(step["Name"], self.execution_id)
        if step["Type"] == "QualityCheck":
            output = self.resolve(
                arguments["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"]
            )
            file = "statistics.json" if attribute.endswith("Statistics") else "constraints.json"
            return f"{output}/{file}"
        raise ContractGap(f"the contract cannot resolve {step['Name']}.{attribute}")

    def output_uri(self, step: Mapping[str, Any], name: str) -> str:
        for output in step["Arguments"]["ProcessingOutputConfig"]["Outputs"]:
            if output["OutputName"] == name:
                return self.resolve(output["S3Output"]["S3Uri"]).rstrip("/")
        raise KeyError(f"{step['Name']} has no output {name}")

    def model_artifact(self, step: Mapping[str, Any]) -> str:
        """Where a Training step's job, or the best job of a Tuning step, puts its model."""
        if step["Type"] == "Tuning":
            arguments, job = step["Arguments"]["TrainingJobDefinition"], self._tuned_job(step)
        else:
            arguments, job = step["Arguments"], self.job_name(step["Name"])
        output = self.resolve(arguments["OutputDataConfig"]["S3OutputPath"]).rstrip("/")
        return f"{output}/{job}/output/model.tar.gz"

    def _tuned_job(self, step: Mapping[str, Any]) -> str:
        return tuned_training_job_name(step["Name"], self.execution_id)

    def references(self, step: str, attribute: str) -> bool:
        """Whether any step reads ``Steps.<step>.<attribute>...``."""
        return f'"Steps.{step}.{attribute}' in json.dumps(self.raw["Steps"])


# ================================================================ the SageMaker execution role

JOB_KINDS = {
    # step type -> (job resource type, log group, create/describe/stop actions)
    "Processing": ("processing-job", "/aws/sagemaker/ProcessingJobs", "ProcessingJob"),
    "QualityCheck": ("processing-job", "/aws/sagemaker/ProcessingJobs", "ProcessingJob"),
    "Training": ("training-job", "/aws/sagemaker/TrainingJobs", "TrainingJob"),
}
# The properties of a Tuning step that name a training job: the best one, or the top k.
TUNING_JOB_NAME_PROPERTIES = (
    "BestTrainingJob.TrainingJobName",
    "TrainingJobSummaries[0].TrainingJobName",
)


def pipeline_requests(definition: Definition, group: str) -> list[IamRequest]:
    """What SageMaker Pipelines itself does with the pipeline's role, and what each job does."""
    place = definition.place
    found: list[IamRequest] = []
    if definition.raw.get("PipelineExperimentConfig"):
        found += _experiment_requests(definition)
    for name, step in definition.steps.items():
        kind = step["Type"]
        if kind in JOB_KINDS:
            found += _job_step_requests(definition, name, step)
        if kind == "QualityCheck":
            found += _latest_baseline_requests(definition, group, name, step)
        elif kind == "RegisterModel":
            found += _register_requests(place, group, name, step)
        elif kind in ("Condition", "Fail"):
            found += _property_file_reads(definition, name, step)
        elif kind == "Tuning":
            found += _tuning_step_requests(definition, name, step)
        elif kind not in JOB_KINDS:
            raise ContractGap(
                f"step {name} is a {kind} step: add what SageMaker does for it to "
                "tests/iam_contract/services.py (docs/iam-contract.md explains how)"
            )
    return found


def _job_step_requests(
    definition: Definition, name: str, step: Mapping[str, Any]
) -> list[IamRequest]:
    place = definition.place
    resource_type, log_group, noun = JOB_KINDS[step["Type"]]
    arguments = definition.resolve(step["Arguments"])
    job = definition.job_name(name)
    job_arn = {resource_type: place.arn("sagemaker", f"{resource_type}/{job}")}
    tags = {tag["Key"]: tag["Value"] for tag in arguments.get("Tags", [])}
    why = f"pipeline step {name}"
    found = requests_for(
        f"sagemaker:Create{noun}", f"{why}: start its job", job_arn, tag_context(tags)
    )
    if tags:
        found += requests_for(
            "sagemaker:AddTags", f"{why}: tag its job", job_arn, tag_context(tags)
        )
    # The pipeline polls each job, and stops it when the execution is stopped.
    found += requests_for(f"sagemaker:Describe{noun}", f"{why}: wait for its job", job_arn)
    found += requests_for(f"sagemaker:Stop{noun}", f"{why}: stop its job", job_arn)
    found.append(pass_role(arguments["RoleArn"], SAGEMAKER, f"{why}: run its job as the role"))
    found += _job_runtime_requests(definition, step, arguments, job, log_group)
    return found


def _job_runtime_requests(
    definition: Definition,
    step: Mapping[str, Any],
    arguments: Mapping[str, Any],
    job: str,
    log_group: str,
) -> list[IamRequest]:
    """What the job does with its role (the execution role permissions AWS documents for
    CreateProcessingJob / CreateTrainingJob): image, inputs, outputs, logs, metrics."""
    why = f"job of step {step['Name']}"
    place = definition.place
    if step["Type"] in ("Training", "Tuning"):
        image = arguments["AlgorithmSpecification"]["TrainingImage"]
        inputs = [channel["DataSource"]["S3DataSource"] for channel in arguments["InputDataConfig"]]
        outputs = [definition.model_artifact(step)]
    else:
        image = arguments["AppSpecification"]["ImageUri"]
        inputs = [item["S3Input"] for item in arguments.get("ProcessingInputs", [])]
        outputs = [
            f"{item['S3Output']['S3Uri'].rstrip('/')}/{_output_file(step)}"
            for item in arguments["ProcessingOutputConfig"]["Outputs"]
        ]
    stream = f"{job}/algo-1-1764694800"
    found = pull_image(image, why)
    for source in inputs:
        if source["S3DataType"] != "S3Prefix":
            raise ContractGap(f"{why}: S3DataType {source['S3DataType']}")
        found += read_prefix(source["S3Uri"], why)
    for uri in outputs:
        found += write_object(uri, why)
    found += write_logs(place, log_group, stream, why)
    found += put_metrics(log_group, why)
    return found


def _tuning_step_requests(
    definition: Definition, name: str, step: Mapping[str, Any]
) -> list[IamRequest]:
    """SageMaker Pipelines creates, describes and stops the tuning job with the pipeline's role
    (and lists its training jobs when a step reads TrainingJobSummaries); the tuning service
    starts the training jobs itself, each running as the definition's role like a Training
    step's job, and the framework container's driver downloads the code archive it names."""
    place = definition.place
    arguments = definition.resolve(step["Arguments"])
    training = arguments["TrainingJobDefinition"]
    job_arn = {
        "hyper-parameter-tuning-job": place.arn(
            "sagemaker", f"hyper-parameter-tuning-job/{tuning_job_name(name)}"
        )
    }
    tags = {tag["Key"]: tag["Value"] for tag in arguments.get("Tags", [])}
    why = f"pipeline step {name}"
    found = requests_for(
        "sagemaker:CreateHyperParameterTuningJob",
        f"{why}: start its tuning job",
        job_arn,
        tag_context(tags),
    )
    if tags:
        found += requests_for(
            "sagemaker:AddTags", f"{why}: tag its job", job_arn, tag_context(tags)
        )
    for action in ("Describe", "Stop"):
        found += requests_for(f"sagemaker:{action}HyperParameterTuningJob", why, job_arn)
    if definition.references(name, "TrainingJobSummaries"):
        found += requests_for(
            "sagemaker:ListTrainingJobsForHyperParameterTuningJob", f"{why}: its top jobs", job_arn
        )
    found.append(pass_role(training["RoleArn"], SAGEMAKER, f"{why}: run its jobs as the role"))
    job = tuned_training_job_name(name, definition.execution_id)
    found += _job_runtime_requests(definition, step, training, job, "/aws/sagemaker/TrainingJobs")
    code = training.get("StaticHyperParameters", {}).get("sagemaker_submit_directory")
    if code:
        found += read_object(code, f"job of step {name}: its code archive")
    return found


def _output_file(step: Mapping[str, Any]) -> str:
    # Model Monitor's baselining job writes these two; the others write their own files.
    return "statistics.json" if step["Type"] == "QualityCheck" else "output.csv"


def _latest_baseline_requests(
    definition: Definition, group: str, name: str, step: Mapping[str, Any]
) -> list[IamRequest]:
    """A QualityCheck step without supplied baselines compares with the drift-check baseline of
    the group's latest approved version: the pipeline lists and describes the versions, and the
    check job of a later run reads the baseline an earlier run registered."""
    place = definition.place
    why = f"pipeline step {name}: find the latest approved baseline of {group}"
    package = {"model-package": place.arn("sagemaker", f"model-package/{group.lower()}/1")}
    found = requests_for("sagemaker:ListModelPackages", why, {}) + requests_for(
        "sagemaker:DescribeModelPackage", why, package
    )
    earlier = replace(definition, execution_id=LATER_EXECUTION_ID)
    for file in ("Statistics", "Constraints"):
        baseline = earlier.resolve({"Get": f"Steps.{name}.CalculatedBaseline{file}"})
        found += read_object(baseline, f"job of step {name}: the approved baseline")
    return found


def _register_requests(
    place: Place, group: str, name: str, step: Mapping[str, Any]
) -> list[IamRequest]:
    arguments = step["Arguments"]
    version = f"model-package/{arguments['ModelPackageGroupName'].lower()}/{REGISTERED_VERSION}"
    tags = {tag["Key"]: tag["Value"] for tag in arguments.get("Tags", [])}
    arns = {"model-package": place.arn("sagemaker", version)}
    why = f"pipeline step {name}: register a version in {group}"
    found = requests_for("sagemaker:CreateModelPackage", why, arns, tag_context(tags))
    if tags:
        found += requests_for("sagemaker:AddTags", why, arns, tag_context(tags))
    return found


def _property_file_reads(
    definition: Definition, name: str, step: Mapping[str, Any]
) -> list[IamRequest]:
    """``Std:JsonGet`` on a property file: the pipeline reads that file from S3 with its role."""
    found: list[IamRequest] = []
    for reference in _json_gets(step["Arguments"]):
        source = reference["PropertyFile"]["Get"].split(".")
        producer = definition.steps[source[1]]
        for declared in producer.get("PropertyFiles", []):
            if declared["PropertyFileName"] == source[3]:
                uri = definition.output_uri(producer, declared["OutputName"])
                found += read_object(f"{uri}/{declared['FilePath']}", f"pipeline step {name}")
    return found


def _json_gets(value: Any) -> Iterator[Mapping[str, Any]]:
    if isinstance(value, dict):
        if "Std:JsonGet" in value:
            yield value["Std:JsonGet"]
        for item in value.values():
            yield from _json_gets(item)
    elif isinstance(value, list):
        for item in value:
            yield from _json_gets(item)


def _experiment_requests(definition: Definition) -> list[IamRequest]:
    """With a PipelineExperimentConfig, SageMaker creates an experiment and a trial per
    execution and adds each job's trial component to it."""
    config = definition.resolve(definition.raw["PipelineExperimentConfig"])
    place = definition.place
    experiment = place.arn("sagemaker", f"experiment/{config['ExperimentName']}".lower())
    trial = place.arn("sagemaker", f"experiment-trial/{config['TrialName']}".lower())
    why = "PipelineExperimentConfig"
    return (
        requests_for("sagemaker:CreateExperiment", why, {"experiment": experiment})
        + requests_for(
            "sagemaker:CreateTrial", why, {"experiment": experiment, "experiment-trial": trial}
        )
        + requests_for(
            "sagemaker:AssociateTrialComponent",
            why,
            {
                "experiment-trial": trial,
                "experiment-trial-component": place.arn(
                    "sagemaker", "experiment-trial-component/any-job-aws-processing-job"
                ),
            },
        )
    )


def registered_containers(definition: Definition) -> list[Mapping[str, Any]]:
    """The inference containers of the model package the pipeline registers."""
    for step in definition.steps.values():
        if step["Type"] == "RegisterModel":
            spec = definition.resolve(step["Arguments"]["InferenceSpecification"])
            return list(spec["Containers"])
    raise KeyError("the pipeline registers no model package")


def serving_requests(stack: DeployedStack, definition: Definition) -> list[IamRequest]:
    """What SageMaker does with the execution role once an endpoint stack is deployed."""
    place = Place(stack.region, stack.account)
    found: list[IamRequest] = []
    created = stack.created()
    for name, resource in created.items():
        properties = stack.resolve(resource.get("Properties", {}))
        kind = resource["Type"]
        if kind == "AWS::SageMaker::Model":
            found += _model_requests(stack, place, properties, definition)
        elif kind == "AWS::SageMaker::EndpointConfig":
            found += _capture_requests(stack, properties)
        elif kind == "AWS::SageMaker::DataQualityJobDefinition":
            found += _monitoring_job_requests(stack, place, properties)
        elif kind == "AWS::SageMaker::MonitoringSchedule" or not kind.startswith("AWS::SageMaker"):
            continue
        elif kind != "AWS::SageMaker::Endpoint":
            raise ContractGap(f"{name} ({kind}): add what it does with the execution role")
    return found


def _endpoint_name(stack: DeployedStack) -> str:
    (endpoint,) = stack.of_type("AWS::SageMaker::Endpoint").values()
    return stack.resolve(endpoint["Properties"]["EndpointName"])


def _model_requests(
    stack: DeployedStack, place: Place, properties: Mapping[str, Any], definition: Definition
) -> list[IamRequest]:
    """A model made from a registered package runs the package's containers with the role."""
    endpoint = _endpoint_name(stack)
    why = f"endpoint {endpoint}"
    found: list[IamRequest] = []
    for container in registered_containers(definition):
        found += pull_image(container["Image"], why)
        found += read_object(container["ModelDataUrl"], f"{why}: load the model")
    group = f"/aws/sagemaker/Endpoints/{endpoint}"
    found += write_logs(place, group, f"AllTraffic/{ENDPOINT_INSTANCE}", why)
    found += put_metrics("/aws/sagemaker/Endpoints", why)
    return found


def _capture_requests(stack: DeployedStack, properties: Mapping[str, Any]) -> list[IamRequest]:
    capture = properties.get("DataCaptureConfig")
    if not capture or not capture.get("EnableCapture"):
        return []
    endpoint = _endpoint_name(stack)
    destination = capture["DestinationS3Uri"].rstrip("/")
    uri = f"{destination}/{endpoint}/AllTraffic/{CAPTURE_HOUR}/capture.jsonl"
    found = write_object(uri, f"endpoint {endpoint}: capture requests")
    if "KmsKeyId" in capture:
        found += _kms_encrypt(capture["KmsKeyId"], stack, f"endpoint {endpoint}: capture")
    return found


def _kms_encrypt(key: str, stack: DeployedStack, why: str) -> list[IamRequest]:
    arn = (
        key
        if key.startswith("arn:")
        else Place(stack.region, stack.account).arn("kms", f"key/{key}")
    )
    return requests_for("kms:GenerateDataKey", why, {"key": arn}) + requests_for(
        "kms:Decrypt", why, {"key": arn}
    )


def _monitoring_job_requests(
    stack: DeployedStack, place: Place, properties: Mapping[str, Any]
) -> list[IamRequest]:
    """Each run of the schedule is a processing job with the job definition's role: it reads the
    endpoint's captures and the baselines, writes its reports and publishes drift metrics."""
    endpoint = _endpoint_name(stack)
    why = f"monitoring job of {endpoint}"
    (config,) = stack.of_type("AWS::SageMaker::EndpointConfig").values()
    capture = stack.resolve(config["Properties"]["DataCaptureConfig"])["DestinationS3Uri"]
    app = properties["DataQualityAppSpecification"]
    baseline = properties["DataQualityBaselineConfig"]
    found = pull_image(app["ImageUri"], why)
    found += read_prefix(f"{capture.rstrip('/')}/{endpoint}/AllTraffic/{CAPTURE_HOUR}", why)
    found += read_object(baseline["StatisticsResource"]["S3Uri"], why)
    found += read_object(baseline["ConstraintsResource"]["S3Uri"], why)
    (schedule,) = stack.of_type("AWS::SageMaker::MonitoringSchedule").values()
    schedule_name = stack.resolve(schedule["Properties"]["MonitoringScheduleName"])
    for output in properties["DataQualityJobOutputConfig"]["MonitoringOutputs"]:
        report = (
            f"{output['S3Output']['S3Uri'].rstrip('/')}/{endpoint}/{schedule_name}/"
            f"{CAPTURE_HOUR}/constraint_violations.json"
        )
        found += write_object(report, why)
    key = properties["DataQualityJobOutputConfig"].get("KmsKeyId")
    if key:
        found += _kms_encrypt(key, stack, f"{why}: encrypted reports")
    found += write_logs(place, "/aws/sagemaker/ProcessingJobs", f"{MONITORING_JOB}/algo-1-1", why)
    found += put_metrics("/aws/sagemaker/ProcessingJobs", why)
    if app.get("Environment", {}).get("publish_cloudwatch_metrics") == "Enabled":
        found += put_metrics("aws/sagemaker/Endpoints/data-metrics", f"{why}: drift metrics")
    return found


def execution_role_requests(
    definition: Definition, group: str, endpoint_stacks: Sequence[DeployedStack]
) -> list[IamRequest]:
    found = pipeline_requests(definition, group)
    for stack in endpoint_stacks:
        found += serving_requests(stack, definition)
    return unique(found)


# ================================================================ the CloudFormation role

# Handler permissions that a resource's properties leave unused: (type, action) -> why not used,
# and the test on the resolved properties that says the case applies.
UNUSED_HANDLER_PERMISSIONS: dict[tuple[str, str], tuple[str, Any]] = {
    ("AWS::SageMaker::EndpointConfig", "iam:PassRole"): (
        "only for an ExecutionRoleArn (inference components)",
        lambda props: "ExecutionRoleArn" not in props,
    ),
    ("AWS::SageMaker::EndpointConfig", "kms:DescribeKey"): (
        "only for a KmsKeyId",
        lambda props: (
            "KmsKeyId" not in props and "KmsKeyId" not in props.get("DataCaptureConfig", {})
        ),
    ),
    ("AWS::SageMaker::Pipeline", "s3:GetObject"): (
        "only for a definition in S3 (PipelineDefinitionS3Location)",
        lambda props: "PipelineDefinitionS3Location" not in props.get("PipelineDefinition", {}),
    ),
    ("AWS::ApplicationAutoScaling::ScalableTarget", "iam:PassRole"): (
        "only for a RoleARN; without one the service-linked role is used",
        lambda props: "RoleARN" not in props,
    ),
}
UNUSED_HANDLER_PREFIXES: dict[tuple[str, str], tuple[str, Any]] = {
    ("AWS::ApplicationAutoScaling::ScalableTarget", "lambda:"): (
        "only for Lambda provisioned concurrency",
        lambda props: props.get("ServiceNamespace") != "lambda",
    ),
    ("AWS::ApplicationAutoScaling::ScalableTarget", "application-autoscaling:PutScheduledAction"): (
        "only for ScheduledActions",
        lambda props: "ScheduledActions" not in props,
    ),
    (
        "AWS::ApplicationAutoScaling::ScalableTarget",
        "application-autoscaling:DeleteScheduledAction",
    ): (
        "only for ScheduledActions",
        lambda props: "ScheduledActions" not in props,
    ),
}
# The handlers CloudFormation runs for a stack's resources ("list" serves imports and the
# Cloud Control API, never a stack operation).
STACK_HANDLERS = ("create", "read", "update", "delete")
# Resource type names (as the Service Authorization Reference spells them) for each type.
OWN_RESOURCE_TYPE = {
    "AWS::SageMaker::Model": "model",
    "AWS::SageMaker::EndpointConfig": "endpoint-config",
    "AWS::SageMaker::Endpoint": "endpoint",
    "AWS::SageMaker::DataQualityJobDefinition": "data-quality-job-definition",
    "AWS::SageMaker::MonitoringSchedule": "monitoring-schedule",
    "AWS::SageMaker::Pipeline": "pipeline",
    "AWS::CloudWatch::Alarm": "alarm",
    "AWS::ApplicationAutoScaling::ScalableTarget": "ScalableTarget",
    "AWS::ApplicationAutoScaling::ScalingPolicy": "ScalableTarget",
}
# Application Auto Scaling's service-linked role per namespace (its documentation's table).
AUTOSCALING_LINKED_ROLE = {"sagemaker": "AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint"}


def handler_permissions(region: str, kind: str) -> dict[str, list[str]]:
    schema = PROVIDER_SCHEMA_MANAGER.get_resource_schema(region, kind).schema
    handlers = schema.get("handlers", {})
    return {name: handlers[name]["permissions"] for name in STACK_HANDLERS if name in handlers}


def _applies(kind: str, action: str, properties: Mapping[str, Any]) -> bool:
    rule = UNUSED_HANDLER_PERMISSIONS.get((kind, action))
    if rule is not None and rule[1](properties):
        return False
    for (rule_kind, prefix), (_, unused) in UNUSED_HANDLER_PREFIXES.items():
        if rule_kind == kind and action.startswith(prefix) and unused(properties):
            return False
    return True


def cloudformation_requests(
    stack: DeployedStack, stack_tags: Mapping[str, str]
) -> list[IamRequest]:
    """Every call CloudFormation makes with its role to create, update and delete ``stack``."""
    found: list[IamRequest] = []
    for name, resource in stack.created().items():
        found += _resource_requests(stack, name, resource, stack_tags)
    return found


def _resource_requests(
    stack: DeployedStack, name: str, resource: Mapping[str, Any], stack_tags: Mapping[str, str]
) -> list[IamRequest]:
    kind = resource["Type"]
    properties = stack.resolve(resource.get("Properties", {}))
    if "ScalingTargetId" in properties:
        # A policy on a target acts in the target's service namespace.
        properties = {**_scalable_target_properties(stack), **properties}
    schema = PROVIDER_SCHEMA_MANAGER.get_resource_schema(stack.region, kind).schema
    taggable = (schema.get("tagging") or {}).get("taggable", False)
    own_tags = {tag["Key"]: tag["Value"] for tag in properties.get("Tags", [])}
    # Stack-level tags propagate to every taggable resource.
    tags = {**stack_tags, **own_tags} if taggable else own_tags
    arns = _resource_arns(stack, name, resource, properties)
    found: list[IamRequest] = []
    for handler, actions in handler_permissions(stack.region, kind).items():
        for action in actions:
            if not _applies(kind, action, properties):
                continue
            why = f"{stack.name} {name} ({kind}) {handler} handler"
            found += _handler_call(action, why, arns, kind, properties, tags, stack.account)
    found += _extra_calls(stack, name, kind, properties)
    return found


def _handler_call(
    action: str,
    why: str,
    arns: Mapping[str, str],
    kind: str,
    properties: Mapping[str, Any],
    tags: Mapping[str, str],
    account: str,
) -> list[IamRequest]:
    operation = action.partition(":")[2]
    if action == "iam:PassRole":
        return [pass_role(_passed_role(kind, properties, arns), SAGEMAKER, why)]
    if action == "iam:CreateServiceLinkedRole":
        namespace = properties["ServiceNamespace"]
        linked = f"{namespace}.application-autoscaling.amazonaws.com"
        return [
            IamRequest(
                action,
                f"arn:aws:iam::{account}:role/aws-service-role/{linked}/"
                f"{AUTOSCALING_LINKED_ROLE[namespace]}",
                why,
                {"iam:AWSServiceName": linked},
            )
        ]
    creating = operation.startswith(("Create", "Put", "Register", "AddTags", "TagResource"))
    own = OWN_RESOURCE_TYPE[kind]
    chosen = _arns_for(action, own, arns)
    type_of = {arn: name for name, arn in chosen.items()}
    found = []
    for request in requests_for(action, why, chosen):
        # The resource being created or tagged carries the request's tags; the other resources a
        # call names (the endpoint config of CreateEndpoint) already exist, with the same tags.
        if creating and type_of.get(request.resource, own) == own:
            context = tag_context(tags)
        elif creating:
            context = {**tag_context(tags), **resource_tag_context(tags)}
        elif request.resource == "*":
            context = {}
        else:
            context = resource_tag_context(tags)
        context = {**context, **_autoscaling_context(action, kind, properties)}
        found.append(IamRequest(request.action, request.resource, request.why, context))
    return found


def _autoscaling_context(action: str, kind: str, properties: Mapping[str, Any]) -> dict[str, str]:
    # Application Auto Scaling puts the target's service namespace in every request on it.
    key = "application-autoscaling:service-namespace"
    if (
        not kind.startswith("AWS::ApplicationAutoScaling")
        or key not in action_detail(action).condition_keys
    ):
        return {}
    return {key: properties["ServiceNamespace"]}


def _passed_role(kind: str, properties: Mapping[str, Any], arns: Mapping[str, str]) -> str:
    role = properties.get("ExecutionRoleArn") or properties.get("RoleArn") or arns.get("role")
    if role is None:
        raise KeyError(f"{kind} passes a role, but the contract cannot tell which")
    return role


def _arns_for(action: str, own: str, arns: Mapping[str, str]) -> dict[str, str]:
    """The ARNs among ``arns`` that ``action`` is authorised against: each required type, or
    else the resource's own type (tagging calls list every type as optional)."""
    detail = action_detail(action)
    required = [kind.name for kind in detail.required_resource_types]
    if required:
        return {name: arns[name] for name in required if name in arns}
    known = {kind.name for kind in detail.resource_types}
    if own in known and own in arns:
        return {own: arns[own]}
    return {name: arn for name, arn in arns.items() if name in known}


def _resource_arns(
    stack: DeployedStack, name: str, resource: Mapping[str, Any], properties: Mapping[str, Any]
) -> dict[str, str]:
    place = Place(stack.region, stack.account)
    kind = resource["Type"]
    own = OWN_RESOURCE_TYPE.get(kind)
    if own is None:
        raise ContractGap(
            f"{name} ({kind}): add its resource type to OWN_RESOURCE_TYPE in "
            "tests/iam_contract/services.py"
        )
    arns: dict[str, str] = {}
    if kind.startswith("AWS::SageMaker::"):
        arns[own] = place.arn("sagemaker", f"{own}/{physical_id(stack, name, resource).lower()}")
    if kind == "AWS::SageMaker::Endpoint":
        config = properties["EndpointConfigName"].lower()
        arns["endpoint-config"] = place.arn("sagemaker", f"endpoint-config/{config}")
    if kind == "AWS::SageMaker::MonitoringSchedule":
        # The schedule passes the role its job definition runs with.
        (definition,) = stack.of_type("AWS::SageMaker::DataQualityJobDefinition").values()
        arns["role"] = stack.resolve(definition["Properties"]["RoleArn"])
    if kind == "AWS::CloudWatch::Alarm":
        arns["alarm"] = place.arn("cloudwatch", f"alarm:{properties['AlarmName']}")
    if kind.startswith("AWS::ApplicationAutoScaling"):
        target = _scalable_target(stack, properties)
        arns["ScalableTarget"] = place.arn(
            "application-autoscaling", f"scalable-target/{target['id']}"
        )
        # Target tracking creates and deletes its own alarms through the target's handlers.
        arns["alarm"] = place.arn(
            "cloudwatch", f"alarm:TargetTracking-{target['resource']}-AlarmHigh-0123abcd"
        )
    key = properties.get("KmsKeyId") or properties.get("DataCaptureConfig", {}).get("KmsKeyId")
    if key:
        arns["key"] = key if key.startswith("arn:") else place.arn("kms", f"key/{key}")
    return arns


def _scalable_target_properties(stack: DeployedStack) -> dict[str, Any]:
    (target,) = stack.of_type("AWS::ApplicationAutoScaling::ScalableTarget").values()
    return stack.resolve(target["Properties"])


def _scalable_target(stack: DeployedStack, properties: Mapping[str, Any]) -> dict[str, str]:
    if "ScalingTargetId" in properties:
        properties = _scalable_target_properties(stack)
    # Application Auto Scaling gives each scalable target a random id for its ARN.
    return {"id": "0123456789abcdef0123456789abcdef", "resource": properties["ResourceId"]}


def _extra_calls(
    stack: DeployedStack, name: str, kind: str, properties: Mapping[str, Any]
) -> list[IamRequest]:
    """Calls the handlers make that their schemas do not list."""
    container = properties.get("PrimaryContainer", {})
    if kind == "AWS::SageMaker::Model" and "ModelPackageName" in container:
        # CreateModel reads the model package it is made from with the caller's credentials.
        package = container["ModelPackageName"]
        return requests_for(
            "sagemaker:DescribeModelPackage",
            f"{stack.name} {name}: CreateModel from {package}",
            {"model-package": package},
        )
    return []


# ================================================================ CodePipeline, EventBridge

# The calls each CodePipeline action type makes with the pipeline's role (AWS CodePipeline
# User Guide, "Manage the CodePipeline service role": the statements per action provider).
CODEPIPELINE_ACTION_CALLS = {
    ("Source", "CodeCommit"): (
        "codecommit:GetBranch",
        "codecommit:GetCommit",
        "codecommit:GetRepository",
        "codecommit:UploadArchive",
        "codecommit:GetUploadArchiveStatus",
        "codecommit:CancelUploadArchive",
    ),
    # The connection's own service prefix names the action (CodeConnections User Guide: "the
    # service prefix needs to match that of the resource"), so the call is built per ARN below.
    ("Source", "CodeStarSourceConnection"): ("{connection_service}:UseConnection",),
    ("Build", "CodeBuild"): ("codebuild:StartBuild", "codebuild:BatchGetBuilds"),
    ("Approval", "Manual"): (),
}
# The CloudFormation action per ActionMode (the action reference's service role permissions).
CLOUDFORMATION_MODE_CALLS = {
    "CREATE_UPDATE": ("cloudformation:CreateStack", "cloudformation:UpdateStack"),
    "REPLACE_ON_FAILURE": (
        "cloudformation:CreateStack",
        "cloudformation:UpdateStack",
        "cloudformation:DeleteStack",
    ),
}
CLOUDFORMATION_ALWAYS = ("cloudformation:DescribeStacks", "cloudformation:ValidateTemplate")
STACK_ID = "01234567-89ab-cdef-0123-456789abcdef"


def artifact_key(pipeline: str, artifact: str) -> str:
    """Where CodePipeline stores an artifact in its artifact bucket: the pipeline name cut to 20
    characters, the artifact name cut to 10, and a random object name."""
    return f"{pipeline[:20]}/{artifact[:10]}/AbCdEfG"


def codepipeline_requests(stack: DeployedStack, role: str) -> list[IamRequest]:
    place = Place(stack.region, stack.account)
    found: list[IamRequest] = []
    for resource in stack.of_type("AWS::CodePipeline::Pipeline").values():
        properties = stack.resolve(resource["Properties"])
        if properties["RoleArn"] != role:
            continue
        found += _pipeline_requests(place, properties)
    return unique(found)


def _pipeline_requests(place: Place, pipeline: Mapping[str, Any]) -> list[IamRequest]:
    name = pipeline["Name"]
    bucket = pipeline["ArtifactStore"]["Location"]
    why = f"CodePipeline {name}"
    found = requests_for(
        "s3:GetBucketVersioning", f"{why}: check its artifact store", {"bucket": bucket_arn(bucket)}
    ) + requests_for(
        "s3:GetBucketLocation", f"{why}: find its artifact store", {"bucket": bucket_arn(bucket)}
    )
    for stage in pipeline["Stages"]:
        for action in stage["Actions"]:
            found += _action_requests(place, name, bucket, action)
    return found


def _action_requests(
    place: Place, pipeline: str, bucket: str, action: Mapping[str, Any]
) -> list[IamRequest]:
    type_id = action["ActionTypeId"]
    category, provider = type_id["Category"], type_id["Provider"]
    config = action.get("Configuration", {})
    why = f"CodePipeline {pipeline} action {action['Name']}"
    found: list[IamRequest] = []
    connection_service = ""
    if (category, provider) == ("Source", "CodeCommit"):
        arns = {"repository": place.arn("codecommit", config["RepositoryName"])}
    elif (category, provider) == ("Source", "CodeStarSourceConnection"):
        connection_service = config["ConnectionArn"].split(":")[2]
        arns = {"Connection": config["ConnectionArn"]}
    elif (category, provider) == ("Build", "CodeBuild"):
        arns = {"project": place.arn("codebuild", f"project/{config['ProjectName']}")}
    elif (category, provider) == ("Deploy", "CloudFormation"):
        return _deploy_action_requests(place, pipeline, bucket, action)
    elif (category, provider) == ("Approval", "Manual"):
        arns = {}
    else:
        raise ContractGap(f"{why}: add the calls of a {category}/{provider} action")
    for call in CODEPIPELINE_ACTION_CALLS[(category, provider)]:
        found += requests_for(call.format(connection_service=connection_service), why, arns)
    if category == "Source":
        # A source action uploads what it fetched; build actions read and write with their own role.
        for output in action.get("OutputArtifacts", []):
            key = artifact_key(pipeline, output["Name"])
            found += write_object(f"s3://{bucket}/{key}", why)
    return found


def _deploy_action_requests(
    place: Place, pipeline: str, bucket: str, action: Mapping[str, Any]
) -> list[IamRequest]:
    config = action["Configuration"]
    why = f"CodePipeline {pipeline} action {action['Name']}"
    stack = {"stack": place.arn("cloudformation", f"stack/{config['StackName']}/{STACK_ID}")}
    found: list[IamRequest] = []
    for call in (*CLOUDFORMATION_ALWAYS, *CLOUDFORMATION_MODE_CALLS[config["ActionMode"]]):
        found += requests_for(call, why, stack)
    found.append(pass_role(config["RoleArn"], CLOUDFORMATION, f"{why}: deploy as that role"))
    # The template and its configuration come out of the input artifact, read by version.
    for artifact in action.get("InputArtifacts", []):
        key = object_arn(bucket, artifact_key(pipeline, artifact["Name"]))
        found += requests_for("s3:GetObject", f"{why}: read {artifact['Name']}", {"object": key})
        found += requests_for(
            "s3:GetObjectVersion", f"{why}: read {artifact['Name']}", {"object": key}
        )
    return found


# What EventBridge calls on a target it starts with the rule's role (EventBridge User Guide,
# "Permissions for targets"), by the target ARN's service.
TARGET_CALLS = {
    "codepipeline": ("codepipeline:StartPipelineExecution", "pipeline"),
    "sagemaker": ("sagemaker:StartPipelineExecution", "pipeline"),
    # An API destination target (EventBridge User Guide, "API destinations": the rule's role
    # needs events:InvokeApiDestination on it).
    "events": ("events:InvokeApiDestination", "api-destination"),
}


def rule_target_requests(stack: DeployedStack, role: str) -> list[IamRequest]:
    """What EventBridge does with ``role``: start each target of each rule that names it."""
    found: list[IamRequest] = []
    rules = {k: v for k, v in stack.created().items() if v["Type"] == "AWS::Events::Rule"}
    for name, rule in rules.items():
        for target in stack.resolve(rule["Properties"]).get("Targets", []):
            if target.get("RoleArn") != role:
                continue
            service = target["Arn"].split(":")[2]
            if service not in TARGET_CALLS:
                raise ContractGap(f"rule {name}: add the call for a {service} target")
            action, resource_type = TARGET_CALLS[service]
            found += requests_for(action, f"rule {name}", {resource_type: target["Arn"]})
    return unique(found)


# ================================================================ topic and key policies


@dataclass(frozen=True)
class Publisher:
    """A service that publishes to the topic on behalf of one of the project's resources."""

    service: str
    source_arn: str
    why: str


def topic_publishers(
    cicd: DeployedStack, endpoint_stacks: Sequence[DeployedStack], topic: str
) -> list[Publisher]:
    """The rules targeting ``topic`` without a role, and the endpoint alarms that notify it."""
    found = []
    for name, rule in cicd.of_type("AWS::Events::Rule").items():
        for target in cicd.resolve(rule["Properties"]).get("Targets", []):
            if target["Arn"] == topic and "RoleArn" not in target:
                arn = cicd.resolve({"Fn::GetAtt": [name, "Arn"]})
                found.append(Publisher("events.amazonaws.com", arn, f"rule {name}"))
    for stack in endpoint_stacks:
        for name, alarm in stack.created().items():
            if alarm["Type"] != "AWS::CloudWatch::Alarm":
                continue
            properties = stack.resolve(alarm["Properties"])
            if topic in properties.get("AlarmActions", []) and properties.get("ActionsEnabled"):
                place = Place(stack.region, stack.account)
                arn = place.arn("cloudwatch", f"alarm:{properties['AlarmName']}")
                found.append(Publisher("cloudwatch.amazonaws.com", arn, f"{stack.name} {name}"))
    unique_found: dict[tuple[str, str], Publisher] = {}
    for publisher in found:
        unique_found.setdefault((publisher.service, publisher.source_arn), publisher)
    return list(unique_found.values())


def publish_requests(
    publisher: Publisher, topic: str, key_arn: str | None, account: str
) -> list[IamRequest]:
    """Publishing to the topic, and using its KMS key to encrypt the message."""
    context = {"aws:SourceArn": publisher.source_arn, "aws:SourceAccount": account}
    found = [IamRequest("sns:Publish", topic, publisher.why, context)]
    if key_arn:
        for action in ("kms:GenerateDataKey", "kms:Decrypt"):
            found.append(IamRequest(action, key_arn, f"{publisher.why}: encrypted topic", context))
    return found


# ================================================================ the deploy repository's code


@contextmanager
def deploy_modules(deploy_repo: Path) -> Iterator[dict[str, ModuleType]]:
    """``stage_config`` and ``monitoring`` of ``deploy_repo``, imported for the duration."""
    names = ("stage_config", "monitoring")
    saved = {name: sys.modules.pop(name) for name in names if name in sys.modules}
    sys.path.insert(0, str(deploy_repo))
    writes_bytecode, sys.dont_write_bytecode = sys.dont_write_bytecode, True
    try:
        yield {name: importlib.import_module(name) for name in names}
    finally:
        sys.dont_write_bytecode = writes_bytecode
        sys.path.remove(str(deploy_repo))
        for name in names:
            sys.modules.pop(name, None)
        sys.modules.update(saved)


def stage_variants(parameters: Mapping[str, str]) -> list[dict[str, str]]:
    """A stage's checked-in parameters and each switch a team may flip in its stage file."""
    variants = [dict(parameters)]
    for switch in ("EnableAutoScaling", "EnableMonitoring", "DriftAlarmActionsEnabled"):
        flipped = dict(parameters)
        flipped[switch] = "false" if parameters[switch] == "true" else "true"
        if switch == "EnableAutoScaling" and flipped[switch] == "true":
            count = flipped["EndpointInstanceCount"]
            flipped["AutoScalingMinCapacity"] = count
            flipped["AutoScalingMaxCapacity"] = str(max(int(count), 2))
        variants.append(flipped)
    return variants
