"""What deployment=batch adds to the IAM work, derived from the batch stage stacks
(batch-transform-template.yml with the configurations batch-export.jq writes) and from
cicd/batch-stack.yml, as services.py derives the endpoint's.

- A stage stack's pipeline has one Transform step: SageMaker Pipelines creates, describes and
  stops a transform job named ``pipelines-<execution>-<step>-<suffix>`` with the pipeline's role
  (no role is passed: the job runs as its model's execution role). The job pulls the registered
  containers' images, reads the model artifact, lists and reads its ``S3Prefix`` input, writes
  ``<object>.out`` under its output path and the capture manifests under its
  ``DataCaptureConfig`` destination (``input/`` and ``output/`` by the hour: AWS, "Capture data
  from batch transform job"), logs to ``/aws/sagemaker/TransformJobs`` and publishes metrics in
  that namespace.
- A data-quality job definition with ``BatchTransformInput``: each monitoring run is a processing
  job that reads the capture manifests, then the input objects they name, and the baselines;
  writes its reports; logs and publishes processing metrics, and with
  ``publish_cloudwatch_metrics`` the drift metrics in ``aws/sagemaker/ModelMonitoring/data-metrics``
  (AWS, "CloudWatch Metrics for Bring Your Own Containers": a schedule without an endpoint).
- An EventBridge Scheduler schedule with a SageMaker pipeline target calls
  ``sagemaker:StartPipelineExecution`` with the schedule's role (EventBridge Scheduler User
  Guide, "Templated targets").
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from .calls import (
    Place,
    pull_image,
    put_metrics,
    read_object,
    read_prefix,
    requests_for,
    split_s3_uri,
    unique,
    write_logs,
    write_object,
)
from .evaluator import IamRequest
from .services import (
    CAPTURE_HOUR,
    MONITORING_JOB,
    Definition,
    registered_containers,
)
from .stack import ContractGap, DeployedStack

INPUT_OBJECT = "sample.csv"
TRANSFORM_INSTANCE = "i-0123456789abcdef0"
MANIFEST = "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d.manifest"
BATCH_METRICS = "aws/sagemaker/ModelMonitoring/data-metrics"


def transform_definition(stack: DeployedStack) -> Definition:
    """The stage stack's pipeline definition, as one execution resolves it."""
    (pipeline,) = stack.of_type("AWS::SageMaker::Pipeline").values()
    properties = stack.resolve(pipeline["Properties"])
    raw = json.loads(properties["PipelineDefinition"]["PipelineDefinitionBody"])
    return Definition(raw, properties["PipelineName"], Place(stack.region, stack.account))


def execution_role_requests(stack: DeployedStack, build: Definition) -> list[IamRequest]:
    """What the execution role does for one batch stage stack: the pipeline's transform jobs
    (with the containers the model-build pipeline registers) and the monitoring runs."""
    definition = transform_definition(stack)
    found: list[IamRequest] = []
    for name, step in definition.steps.items():
        if step["Type"] != "Transform":
            raise ContractGap(f"batch step {name} is a {step['Type']} step")
        found += _transform_requests(definition, name, step, build)
    for resource in stack.created().values():
        if resource["Type"] == "AWS::SageMaker::DataQualityJobDefinition":
            found += _batch_monitoring_requests(stack, stack.resolve(resource["Properties"]))
    return unique(found)


def _transform_requests(
    definition: Definition, name: str, step: Mapping[str, Any], build: Definition
) -> list[IamRequest]:
    place = definition.place
    arguments = definition.resolve(step["Arguments"])
    job = definition.job_name(name)
    job_arn = {"transform-job": place.arn("sagemaker", f"transform-job/{job}")}
    why = f"batch pipeline {definition.pipeline_name} step {name}"
    found = requests_for("sagemaker:CreateTransformJob", f"{why}: start its job", job_arn)
    found += requests_for("sagemaker:DescribeTransformJob", f"{why}: wait for its job", job_arn)
    found += requests_for("sagemaker:StopTransformJob", f"{why}: stop its job", job_arn)
    why = f"transform job of {definition.pipeline_name}"
    for container in registered_containers(build):
        found += pull_image(container["Image"], why)
        found += read_object(container["ModelDataUrl"], f"{why}: load the model")
    source = arguments["TransformInput"]["DataSource"]["S3DataSource"]
    if source["S3DataType"] != "S3Prefix":
        raise ContractGap(f"{why}: S3DataType {source['S3DataType']}")
    found += _read_input(source["S3Uri"], why)
    output = arguments["TransformOutput"]["S3OutputPath"].rstrip("/")
    found += write_object(f"{output}/{INPUT_OBJECT}.out", f"{why}: predictions")
    capture = arguments["DataCaptureConfig"]["DestinationS3Uri"].rstrip("/")
    for kind in ("input", "output"):
        found += write_object(f"{capture}/{kind}/{CAPTURE_HOUR}/{MANIFEST}", f"{why}: capture")
    found += write_logs(place, "/aws/sagemaker/TransformJobs", f"{job}/{TRANSFORM_INSTANCE}", why)
    found += put_metrics("/aws/sagemaker/TransformJobs", why)
    return found


def _read_input(uri: str, why: str) -> list[IamRequest]:
    """An input prefix as given (input/ keeps its slash): listed, then each object read."""
    bucket, key = split_s3_uri(uri)
    listed = read_prefix(uri, why)[:1]
    return [
        IamRequest(request.action, request.resource, request.why, {"s3:prefix": f"{key}/"})
        for request in listed
    ] + read_object(f"s3://{bucket}/{key}/{INPUT_OBJECT}", why)


def _batch_monitoring_requests(
    stack: DeployedStack, properties: Mapping[str, Any]
) -> list[IamRequest]:
    place = Place(stack.region, stack.account)
    batch = properties["DataQualityJobInput"]["BatchTransformInput"]
    capture = batch["DataCapturedDestinationS3Uri"].rstrip("/")
    why = f"batch monitoring job of {stack.name}"
    definition = transform_definition(stack)
    input_uri = definition.parameter("InputS3Uri").rstrip("/")
    app = properties["DataQualityAppSpecification"]
    baseline = properties["DataQualityBaselineConfig"]
    found = pull_image(app["ImageUri"], why)
    found += read_prefix(f"{capture}/input/{CAPTURE_HOUR}", why)
    # The manifests name the transform's input objects: the monitor reads them where they are.
    found += read_object(f"{input_uri}/{INPUT_OBJECT}", f"{why}: an input the manifest names")
    found += read_object(baseline["StatisticsResource"]["S3Uri"], why)
    found += read_object(baseline["ConstraintsResource"]["S3Uri"], why)
    for output in properties["DataQualityJobOutputConfig"]["MonitoringOutputs"]:
        report = (
            f"{output['S3Output']['S3Uri'].rstrip('/')}/{CAPTURE_HOUR}/constraint_violations.json"
        )
        found += write_object(report, why)
    found += write_logs(place, "/aws/sagemaker/ProcessingJobs", f"{MONITORING_JOB}/algo-1-1", why)
    found += put_metrics("/aws/sagemaker/ProcessingJobs", why)
    if app.get("Environment", {}).get("publish_cloudwatch_metrics") == "Enabled":
        found += put_metrics(BATCH_METRICS, f"{why}: drift metrics")
    return found


def schedule_target_requests(stack: DeployedStack, role: str) -> list[IamRequest]:
    """What EventBridge Scheduler does with ``role``: start the target of each schedule."""
    found: list[IamRequest] = []
    for name, schedule in stack.created().items():
        if schedule["Type"] != "AWS::Scheduler::Schedule":
            continue
        target = stack.resolve(schedule["Properties"]["Target"])
        if target["RoleArn"] != role:
            continue
        if "SageMakerPipelineParameters" not in target:
            raise ContractGap(f"schedule {name}: add the call of its target {target['Arn']}")
        found += requests_for(
            "sagemaker:StartPipelineExecution", f"schedule {name}", {"pipeline": target["Arn"]}
        )
    return unique(found)


def attached_policies(batch_stack: DeployedStack, role_name: str) -> list[Mapping[str, Any]]:
    """The batch stack's AWS::IAM::Policy documents attached to ``role_name`` (another stack's)."""
    return [
        batch_stack.resolve(resource["Properties"]["PolicyDocument"])
        for resource in batch_stack.of_type("AWS::IAM::Policy").values()
        if role_name in batch_stack.resolve(resource["Properties"]["Roles"])
    ]


def statements(policies: Sequence[Mapping[str, Any]]) -> list[tuple[int, int]]:
    """(policy index, statement index) of every statement, for statement-drop mutations."""
    return [(p, s) for p, policy in enumerate(policies) for s in range(len(policy["Statement"]))]
