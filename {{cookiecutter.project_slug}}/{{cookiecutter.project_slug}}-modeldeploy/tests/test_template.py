"""The endpoint template: cfn-lint clean for every configuration, constrained, tagged."""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

import pytest
from cfnlint.api import lint_file
from cfnlint.config import ManualArgs
from cfnlint.context.parameters import ParameterSet

from helpers import (
    BUCKET,
    COMMIT,
    CONSTRAINTS_URI,
    FEATURES,
    KMS_KEY_ARN,
    PROJECT,
    REGION,
    REPO_ROOT,
    ROLE_ARN,
    SLUG,
    STATISTICS_URI,
    TEMPLATE_PATH,
    TOPIC_ARN,
    constraint_violations,
    load_template,
)
from monitoring import monitor_image_uri
from stage_config import (
    BUILD_TAG_KEYS,
    STAGE_PARAMETER_RULES,
    Deployment,
    MonitoringInputs,
    Project,
    build_export,
    load_stage_config,
)

TAGGED_RESOURCES = ("Model", "EndpointConfig", "Endpoint")
PROJECT_SETTINGS = Project(
    name=PROJECT["project_name"],
    slug=SLUG,
    region=REGION,
    model_package_group=PROJECT["model_package_group_name"],
    owner_team=PROJECT["owner_team"],
)
DEPLOYMENT = Deployment(
    model_package_arn=f"arn:aws:sagemaker:{REGION}:123456789012:model-package/{SLUG}/12",
    model_package_version=12,
    execution_role_arn=ROLE_ARN,
    artifact_bucket=BUCKET,
    source_commit=COMMIT,
    monitoring=MonitoringInputs(
        image_uri=monitor_image_uri(REGION),
        statistics_uri=STATISTICS_URI,
        constraints_uri=CONSTRAINTS_URI,
        drift_features=tuple(FEATURES) + tuple(FEATURES[:2]),
        drift_threshold=0.1,
        notification_topic_arn=TOPIC_ARN,
    ),
)


UNMONITORED = dataclasses.replace(
    DEPLOYMENT,
    monitoring=dataclasses.replace(
        DEPLOYMENT.monitoring, statistics_uri="", constraints_uri="", notification_topic_arn=""
    ),
)


def export_parameters(
    stage: str, kms: bool, autoscaling: bool, baselines: bool = True
) -> dict[str, str]:
    """What build.py exports for ``stage``, switched to the requested KMS/auto scaling mode."""
    config = load_stage_config(REPO_ROOT / f"{stage}-config.json", stage)
    deployment = DEPLOYMENT if baselines else UNMONITORED
    parameters = build_export(PROJECT_SETTINGS, config, deployment)["Parameters"]
    parameters["DataCaptureKmsKeyId"] = KMS_KEY_ARN if kms else ""
    parameters["EnableAutoScaling"] = "true" if autoscaling else "false"
    if autoscaling:
        count = int(parameters["EndpointInstanceCount"])
        parameters["AutoScalingMinCapacity"] = str(count)
        parameters["AutoScalingMaxCapacity"] = str(max(count * 2, 2))
    return parameters


def lint(parameters: dict[str, str] | None = None) -> list[str]:
    config = ManualArgs(regions=[REGION])
    if parameters is not None:
        # cfn-lint takes a CommaDelimitedList's value as a list, as CloudFormation splits it.
        types = {name: rules["Type"] for name, rules in load_template()["Parameters"].items()}
        values: dict[str, Any] = {
            key: value.split(",") if types.get(key) == "CommaDelimitedList" else value
            for key, value in parameters.items()
        }
        config["parameters"] = [ParameterSet(source="export", parameters=values)]
    return [
        f"{match.rule.id} line {match.linenumber}: {match.message}"
        for match in lint_file(TEMPLATE_PATH, config=config)
    ]


def test_template_has_no_cfn_lint_findings() -> None:
    assert lint() == []


COMBINATIONS = list(
    itertools.product(["staging", "prod"], [False, True], [False, True], [False, True])
)


@pytest.mark.parametrize(
    ("stage", "kms", "autoscaling", "baselines"),
    COMBINATIONS,
    ids=[f"{s}-kms_{k}-autoscaling_{a}-baselines_{b}" for s, k, a, b in COMBINATIONS],
)
def test_every_configuration_lints_clean_and_meets_constraints(
    stage: str, kms: bool, autoscaling: bool, baselines: bool
) -> None:
    parameters = export_parameters(stage, kms, autoscaling, baselines)

    assert parameters["EnableMonitoring"] == ("true" if baselines else "false")

    assert constraint_violations(load_template(), parameters) == []
    assert lint(parameters) == []


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("EndpointInstanceCount", "21"),
        ("DataCaptureSamplingPercentage", "101"),
        ("StageName", "dev"),
        ("ModelPackageArn", "arn:aws:sagemaker:us-east-1:123456789012:model-package/group"),
        ("EndpointName", "x" * 64),
    ],
)
def test_constraint_check_catches_what_cloudformation_rejects(key: str, value: str) -> None:
    parameters = export_parameters("prod", kms=False, autoscaling=True) | {key: value}

    problems = constraint_violations(load_template(), parameters)

    assert problems
    assert {problem.split("=")[0] for problem in problems} == {key}


def test_every_parameter_is_constrained() -> None:
    for name, rules in load_template()["Parameters"].items():
        if rules["Type"] == "Number":
            assert {"MinValue", "MaxValue"} <= set(rules), name
        else:
            assert {"AllowedPattern", "AllowedValues"} & set(rules), name


def test_template_parameters_are_exactly_what_build_exports() -> None:
    # An extra key in a template configuration fails the CloudFormation deploy action.
    exported = set(export_parameters("staging", kms=False, autoscaling=False))

    assert exported == set(load_template()["Parameters"])
    assert set(STAGE_PARAMETER_RULES) <= exported


@pytest.mark.parametrize("resource", TAGGED_RESOURCES)
def test_sagemaker_resources_carry_every_build_tag(resource: str) -> None:
    tags = load_template()["Resources"][resource]["Properties"]["Tags"]

    assert [tag["Key"] for tag in tags] == list(BUILD_TAG_KEYS)
    assert all("Ref" in tag["Value"] for tag in tags)


def _resource(name: str) -> dict[str, Any]:
    return load_template()["Resources"][name]


def test_model_deploys_the_model_package_with_the_execution_role() -> None:
    properties = _resource("Model")["Properties"]

    assert properties["PrimaryContainer"] == {"ModelPackageName": {"Ref": "ModelPackageArn"}}
    assert properties["ExecutionRoleArn"] == {"Ref": "ModelExecutionRoleArn"}


def test_model_serves_without_network_access() -> None:
    # moto ignores the property, so only the template shows it.
    assert _resource("Model")["Properties"]["EnableNetworkIsolation"] is True


def test_data_capture_records_input_and_output_with_optional_kms_key() -> None:
    capture = _resource("EndpointConfig")["Properties"]["DataCaptureConfig"]

    assert capture["EnableCapture"] is True
    assert capture["CaptureOptions"] == [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}]
    assert capture["KmsKeyId"] == {
        "Fn::If": ["HasDataCaptureKmsKey", {"Ref": "DataCaptureKmsKeyId"}, {"Ref": "AWS::NoValue"}]
    }


def test_auto_scaling_exists_only_when_enabled_and_tracks_invocations() -> None:
    template = load_template()
    target, policy = _resource("ScalableTarget"), _resource("ScalingPolicy")

    assert template["Conditions"]["AutoScalingEnabled"] == {
        "Fn::Equals": [{"Ref": "EnableAutoScaling"}, "true"]
    }
    assert target["Condition"] == policy["Condition"] == "AutoScalingEnabled"
    assert target["Properties"]["ScalableDimension"] == "sagemaker:variant:DesiredInstanceCount"
    tracking = policy["Properties"]["TargetTrackingScalingPolicyConfiguration"]
    assert tracking["PredefinedMetricSpecification"] == {
        "PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"
    }
    assert tracking["TargetValue"] == {"Ref": "AutoScalingTargetInvocations"}


def test_auto_scaling_is_on_for_prod_only() -> None:
    staging = load_stage_config(REPO_ROOT / "staging-config.json", "staging")
    prod = load_stage_config(REPO_ROOT / "prod-config.json", "prod")

    assert staging.parameters["EnableAutoScaling"] == "false"
    assert prod.parameters["EnableAutoScaling"] == "true"
    assert prod.parameters["AutoScalingMinCapacity"] == "2"
    assert prod.parameters["AutoScalingMaxCapacity"] == "4"


def test_outputs_name_the_deployed_resources() -> None:
    assert set(load_template()["Outputs"]) == {
        "EndpointName",
        "EndpointConfigName",
        "ModelName",
        "ModelPackageArn",
        "MonitoringScheduleName",
        "DataDriftAlarmName",
    }
    outputs = load_template()["Outputs"]
    assert outputs["MonitoringScheduleName"]["Condition"] == "MonitoringEnabled"
    assert outputs["DataDriftAlarmName"]["Condition"] == "MonitoringEnabled"
