"""Drift monitoring: build.py reads the version's baselines, the template monitors and alarms."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest

import build
from helpers import (
    BUCKET,
    CONSTRAINTS_URI,
    FEATURES,
    REGION,
    SLUG,
    STATISTICS_URI,
    TEMPLATE_PATH,
    TOPIC_ARN,
    Registry,
    build_argv,
    drift_check_baselines,
    load_template,
    model_monitor_constraints,
    read_json,
    upload_baselines,
)
from monitoring import ALARM_FEATURE_SLOTS, UNUSED_FEATURE, monitor_image_uri

pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse AWS:UserWarning")


def _export(tmp_path: Path, stage: str) -> dict[str, str]:
    return read_json(tmp_path / f"{stage}-export.json")["Parameters"]


def _build(registry: Registry, tmp_path: Path, project_file: Path, baselines: bool) -> int:
    registry.create_group()
    extra = drift_check_baselines() if baselines else None
    registry.add_version("Approved", extra)
    argv = build_argv(tmp_path, project_file, "--notification-topic-arn", TOPIC_ARN)
    return build.main(argv)


def test_version_with_baselines_is_monitored_in_both_stages(
    registry: Registry, tmp_path: Path, project_file: Path
) -> None:
    upload_baselines(model_monitor_constraints(FEATURES, threshold=0.2))

    assert _build(registry, tmp_path, project_file, baselines=True) == 0

    for stage in ("staging", "prod"):
        parameters = _export(tmp_path, stage)
        assert parameters["EnableMonitoring"] == "true"
        assert parameters["BaselineStatisticsS3Uri"] == STATISTICS_URI
        assert parameters["BaselineConstraintsS3Uri"] == CONSTRAINTS_URI
        assert parameters["MonitorImageUri"] == monitor_image_uri(REGION)
        assert parameters["MonitoringOutputS3Uri"] == f"s3://{BUCKET}/{SLUG}/monitoring/{stage}"
        assert parameters["DriftAlarmThreshold"] == "0.2"
        assert parameters["NotificationTopicArn"] == TOPIC_ARN
        names = parameters["DriftFeatureNames"].split(",")
        assert len(names) == ALARM_FEATURE_SLOTS and set(names) == set(FEATURES)
    assert _export(tmp_path, "staging")["DriftAlarmActionsEnabled"] == "false"
    assert _export(tmp_path, "prod")["DriftAlarmActionsEnabled"] == "true"


def test_alarm_follows_the_baselines_feature_names_whatever_they_are(
    registry: Registry, tmp_path: Path, project_file: Path
) -> None:
    named = ["sex", "length", "diameter"]
    upload_baselines(model_monitor_constraints(named, threshold=None))

    assert _build(registry, tmp_path, project_file, baselines=True) == 0

    parameters = _export(tmp_path, "prod")
    assert parameters["DriftFeatureNames"].split(",")[:4] == ["sex", "length", "diameter", "sex"]
    assert parameters["DriftAlarmThreshold"] == "0.1"  # Model Monitor's default


def test_version_without_baselines_deploys_unmonitored_with_a_note(
    registry: Registry, tmp_path: Path, project_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _build(registry, tmp_path, project_file, baselines=False) == 0

    assert "without data quality drift baselines" in capsys.readouterr().out
    for stage in ("staging", "prod"):
        parameters = _export(tmp_path, stage)
        assert parameters["EnableMonitoring"] == "false"
        assert parameters["BaselineConstraintsS3Uri"] == ""
        assert parameters["DriftFeatureNames"] == ",".join([UNUSED_FEATURE] * 10)


@pytest.mark.parametrize(
    ("constraints", "message"),
    [
        (None, "cannot read the drift baseline"),
        ("{not json", "not valid JSON"),
        ({"features": []}, "non-empty 'features' list"),
        (model_monitor_constraints(["bad name!"]), "cannot name a CloudWatch metric"),
        (model_monitor_constraints([f"f{i}" for i in range(11)]), "at most 10"),
        (model_monitor_constraints(FEATURES, threshold=3), "comparison_threshold"),
    ],
)
def test_unusable_baseline_stops_the_build_with_a_clear_message(
    registry: Registry,
    tmp_path: Path,
    project_file: Path,
    capsys: pytest.CaptureFixture[str],
    constraints: Any,
    message: str,
) -> None:
    if constraints is None:
        boto3.client("s3", region_name=REGION).create_bucket(Bucket=BUCKET)
    else:
        upload_baselines(constraints)

    assert _build(registry, tmp_path, project_file, baselines=True) == build.EXIT_FAILURE

    error = capsys.readouterr().err
    assert message in error and "Traceback" not in error


def test_bad_topic_arn_is_rejected_before_any_aws_call(
    tmp_path: Path, project_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = build_argv(tmp_path, project_file, "--notification-topic-arn", "my-topic")

    assert build.main(argv) == build.EXIT_FAILURE
    assert "NOTIFICATION_TOPIC_ARN" in capsys.readouterr().err


def _resource(name: str) -> dict[str, Any]:
    return load_template()["Resources"][name]


def test_monitoring_resources_exist_only_when_enabled_and_baselined() -> None:
    condition = load_template()["Conditions"]["MonitoringEnabled"]["Fn::And"]
    assert {"Fn::Equals": [{"Ref": "EnableMonitoring"}, "true"]} in condition
    assert {"Fn::Not": [{"Fn::Equals": [{"Ref": "BaselineConstraintsS3Uri"}, ""]}]} in condition
    for name in ("DataQualityJobDefinition", "MonitoringSchedule", "DataDriftAlarm"):
        assert _resource(name)["Condition"] == "MonitoringEnabled", name


def test_job_definition_compares_captured_requests_with_the_baselines() -> None:
    properties = _resource("DataQualityJobDefinition")["Properties"]
    assert properties["DataQualityAppSpecification"]["ImageUri"] == {"Ref": "MonitorImageUri"}
    assert properties["DataQualityAppSpecification"]["Environment"] == {
        "publish_cloudwatch_metrics": "Enabled"
    }
    assert properties["DataQualityBaselineConfig"] == {
        "StatisticsResource": {"S3Uri": {"Ref": "BaselineStatisticsS3Uri"}},
        "ConstraintsResource": {"S3Uri": {"Ref": "BaselineConstraintsS3Uri"}},
    }
    endpoint_input = properties["DataQualityJobInput"]["EndpointInput"]
    assert endpoint_input["EndpointName"] == {"Fn::GetAtt": ["Endpoint", "EndpointName"]}
    (output,) = properties["DataQualityJobOutputConfig"]["MonitoringOutputs"]
    assert output["S3Output"]["S3Uri"] == {"Ref": "MonitoringOutputS3Uri"}
    assert properties["StoppingCondition"]["MaxRuntimeInSeconds"] <= 3600


def test_job_encrypts_traffic_between_instances_and_may_reach_cloudwatch() -> None:
    # Network isolation would stop the analyzer publishing the metrics the drift alarm watches.
    network = _resource("DataQualityJobDefinition")["Properties"]["NetworkConfig"]

    assert network == {"EnableInterContainerTrafficEncryption": True}


def test_schedule_runs_the_job_definition_on_the_configured_expression() -> None:
    properties = _resource("MonitoringSchedule")["Properties"]
    config = properties["MonitoringScheduleConfig"]
    assert properties["MonitoringScheduleName"] == {"Fn::Sub": "${EndpointName}-data-quality"}
    assert config["MonitoringType"] == "DataQuality"
    assert config["MonitoringJobDefinitionName"] == {
        "Fn::GetAtt": ["DataQualityJobDefinition", "JobDefinitionName"]
    }
    assert config["ScheduleConfig"] == {
        "ScheduleExpression": {"Ref": "MonitoringScheduleExpression"}
    }


def test_stages_monitor_hourly_and_only_prod_notifies() -> None:
    for stage, notifies in (("staging", "false"), ("prod", "true")):
        parameters = json.loads(Path(TEMPLATE_PATH.parent, f"{stage}-config.json").read_text())
        values = parameters["Parameters"]
        assert values["EnableMonitoring"] == "true"
        assert values["MonitoringScheduleExpression"] == "cron(0 * ? * * *)"
        assert values["DriftAlarmActionsEnabled"] == notifies


def test_alarm_takes_the_largest_drift_over_every_feature_slot() -> None:
    properties = _resource("DataDriftAlarm")["Properties"]
    metrics = {metric["Id"]: metric for metric in properties["Metrics"]}
    slots = [f"f{index}" for index in range(ALARM_FEATURE_SLOTS)]
    assert metrics["drift"]["Expression"] == f"MAX([{', '.join(slots)}])"
    assert metrics["drift"]["ReturnData"] is True
    for index, slot in enumerate(slots):
        stat = metrics[slot]["MetricStat"]
        assert metrics[slot]["ReturnData"] is False
        assert stat["Metric"]["Namespace"] == "aws/sagemaker/Endpoints/data-metrics"
        name, values = stat["Metric"]["MetricName"]["Fn::Sub"]
        assert name == "feature_baseline_drift_${Feature}"
        assert values == {"Feature": {"Fn::Select": [index, {"Ref": "DriftFeatureNames"}]}}
        dimensions = {d["Name"]: d["Value"] for d in stat["Metric"]["Dimensions"]}
        assert dimensions == {
            "Endpoint": {"Ref": "EndpointName"},
            "MonitoringSchedule": {"Fn::Sub": "${EndpointName}-data-quality"},
        }
    assert properties["AlarmName"] == {"Fn::Sub": "${EndpointName}-data-drift"}
    assert properties["Threshold"] == {"Ref": "DriftAlarmThreshold"}
    assert properties["ComparisonOperator"] == "GreaterThanThreshold"
    assert properties["TreatMissingData"] == "ignore"
    topic = {
        "Fn::If": ["DriftAlarmNotifies", [{"Ref": "NotificationTopicArn"}], {"Ref": "AWS::NoValue"}]
    }
    assert properties["AlarmActions"] == properties["OKActions"] == topic
