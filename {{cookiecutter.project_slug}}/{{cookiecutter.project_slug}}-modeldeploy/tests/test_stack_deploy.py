"""The endpoint stack deployed to moto CloudFormation with build.py's real exports.

moto ignores resource names (the endpoint is not called <slug>-<stage> there), does not enforce
AllowedValues/MaxValue, and skips the application auto scaling resources. What it does honour is
asserted here: stack status, resources, outputs, and the SageMaker resources' properties and tags.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import pytest

import build
from helpers import (
    BUCKET,
    FEATURES,
    KMS_KEY_ARN,
    REGION,
    ROLE_ARN,
    SLUG,
    TEMPLATE_PATH,
    Registry,
    build_argv,
    drift_check_baselines,
    model_monitor_constraints,
    read_json,
    upload_baselines,
)

# moto skips application auto scaling, the SageMaker monitoring resources and CloudWatch
# alarms (tests/test_monitoring.py checks those in the template); it warns about each.
pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse AWS:UserWarning")


@pytest.fixture
def exports(registry: Registry, tmp_path: Path, project_file: Path) -> dict[str, Any]:
    """build.py's staging and prod exports for a group whose newest approved version is 2."""
    registry.create_group()
    upload_baselines(model_monitor_constraints(FEATURES))
    registry.add_version("Approved")
    approved = registry.add_version("Approved", drift_check_baselines())
    registry.add_version("PendingManualApproval")
    assert build.main(build_argv(tmp_path, project_file)) == 0
    return {
        "approved_arn": approved,
        "staging": read_json(tmp_path / "staging-export.json"),
        "prod": read_json(tmp_path / "prod-export.json"),
    }


def deploy(export: dict[str, Any], stack_name: str) -> dict[str, str]:
    """Create the stack from a template configuration; returns its outputs."""
    cloudformation = boto3.client("cloudformation", region_name=REGION)
    cloudformation.create_stack(
        StackName=stack_name,
        TemplateBody=TEMPLATE_PATH.read_text(encoding="utf-8"),
        Parameters=[
            {"ParameterKey": key, "ParameterValue": value}
            for key, value in export["Parameters"].items()
        ],
        Tags=[{"Key": key, "Value": value} for key, value in export["Tags"].items()],
    )
    stack = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    assert export["Parameters"]["EnableMonitoring"] == "true"
    resources = cloudformation.list_stack_resources(StackName=stack_name)
    created = {
        summary["LogicalResourceId"]: summary["ResourceType"]
        for summary in resources["StackResourceSummaries"]
        if summary["LogicalResourceId"]
    }
    assert created == {
        "Model": "AWS::SageMaker::Model",
        "EndpointConfig": "AWS::SageMaker::EndpointConfig",
        "Endpoint": "AWS::SageMaker::Endpoint",
    }
    return {output["OutputKey"]: output["OutputValue"] for output in stack["Outputs"]}


@pytest.mark.parametrize(("stage", "instances", "sampling"), [("staging", 1, 100), ("prod", 2, 20)])
def test_stage_stack_serves_the_approved_model_with_capture_and_tags(
    exports: dict[str, Any], stage: str, instances: int, sampling: int
) -> None:
    outputs = deploy(exports[stage], f"{SLUG}-deploy-{stage}")
    sagemaker = boto3.client("sagemaker", region_name=REGION)

    # moto resolves the schedule's name output but skips the alarm and so its name output.
    assert set(outputs) == {
        "EndpointName",
        "EndpointConfigName",
        "ModelName",
        "ModelPackageArn",
        "MonitoringScheduleName",
    }
    assert outputs["MonitoringScheduleName"] == f"{SLUG}-{stage}-data-quality"
    assert outputs["ModelPackageArn"] == exports["approved_arn"]
    model = sagemaker.describe_model(ModelName=outputs["ModelName"])
    assert model["PrimaryContainer"] == {"ModelPackageName": exports["approved_arn"]}
    assert model["ExecutionRoleArn"] == ROLE_ARN
    config = sagemaker.describe_endpoint_config(EndpointConfigName=outputs["EndpointConfigName"])
    (variant,) = config["ProductionVariants"]
    assert (variant["ModelName"], variant["InstanceType"]) == (outputs["ModelName"], "ml.m5.large")
    assert variant["InitialInstanceCount"] == instances
    capture = config["DataCaptureConfig"]
    assert capture["EnableCapture"] is True
    assert int(capture["InitialSamplingPercentage"]) == sampling
    assert capture["DestinationS3Uri"] == f"s3://{BUCKET}/{SLUG}/datacapture/{stage}"
    assert capture["CaptureOptions"] == [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}]
    assert "KmsKeyId" not in capture
    endpoint = sagemaker.describe_endpoint(EndpointName=outputs["EndpointName"])
    assert endpoint["EndpointConfigName"] == outputs["EndpointConfigName"]
    assert endpoint["EndpointStatus"] == "InService"
    for arn in (model["ModelArn"], config["EndpointConfigArn"], endpoint["EndpointArn"]):
        tags = {tag["Key"]: tag["Value"] for tag in sagemaker.list_tags(ResourceArn=arn)["Tags"]}
        assert tags == exports[stage]["Tags"], arn
        assert (tags["stage"], tags["model-package-version"]) == (stage, "2")


def test_kms_key_is_passed_to_data_capture_when_configured(exports: dict[str, Any]) -> None:
    export = exports["prod"]
    export["Parameters"]["DataCaptureKmsKeyId"] = KMS_KEY_ARN

    outputs = deploy(export, f"{SLUG}-deploy-prod")

    config = boto3.client("sagemaker", region_name=REGION).describe_endpoint_config(
        EndpointConfigName=outputs["EndpointConfigName"]
    )
    assert config["DataCaptureConfig"]["KmsKeyId"] == KMS_KEY_ARN
