"""Monitoring and retraining in the CI/CD stack and the endpoint template: the notification topic,
its publishers, the retrain role and rules, and the monitor image build.py resolves."""

from __future__ import annotations

import sys
from typing import Any

import boto3
import pytest
from cfnlint.decode import decode
from moto import mock_aws
from sagemaker.core import image_uris
from test_cicd_stack import PARAMETERS, REGION, SLUG, STACK, of_type

pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse AWS:UserWarning")
DEPLOY_REPO = STACK.parents[1]


@pytest.fixture(scope="module")
def resources() -> dict[str, Any]:
    decoded, matches = decode(str(STACK))
    assert decoded is not None, matches
    return decoded["Resources"]


def test_retrain_role_may_only_start_this_projects_pipeline(resources):
    policies = resources["RetrainRole"]["Properties"]["Policies"]
    (statement,) = [s for p in policies for s in p["PolicyDocument"]["Statement"]]
    assert statement["Action"] == "sagemaker:StartPipelineExecution"
    assert statement["Resource"] == {
        "Fn::Sub": "arn:${AWS::Partition}:sagemaker:${AWS::Region}:${AWS::AccountId}:"
        "pipeline/${SageMakerPipelineArnName}"
    }
    users = {
        name
        for name, rule in of_type(resources, "AWS::Events::Rule").items()
        if any("RetrainRole" in str(t.get("RoleArn")) for t in rule["Properties"]["Targets"])
    }
    assert users == {"RetrainScheduleRule", "RetrainOnDriftRule"}


def test_retrain_schedule_is_a_parameter_and_off_by_default(resources):
    decoded, _ = decode(str(STACK))
    rule = resources["RetrainScheduleRule"]["Properties"]
    assert rule["ScheduleExpression"] == {"Ref": "RetrainScheduleExpression"}
    assert rule["State"] == {"Ref": "RetrainScheduleState"}
    assert decoded["Parameters"]["RetrainScheduleState"]["Default"] == "DISABLED"


def test_retrain_on_drift_listens_for_the_prod_alarm_entering_alarm(resources):
    pattern = resources["RetrainOnDriftRule"]["Properties"]["EventPattern"]
    assert pattern["source"] == ["aws.cloudwatch"]
    assert pattern["detail-type"] == ["CloudWatch Alarm State Change"]
    assert pattern["detail"]["alarmName"] == [{"Fn::Sub": "${ProdEndpointName}-data-drift"}]
    assert pattern["detail"]["state"] == {"value": ["ALARM"]}


def test_retrain_on_drift_registers_the_drifted_data_as_the_next_baseline(resources):
    # A checked run would stop at CheckDataQuality on exactly the drift that triggered it.
    [target] = resources["RetrainOnDriftRule"]["Properties"]["Targets"]
    parameters = target["SageMakerPipelineParameters"]["PipelineParameterList"]
    assert {(p["Name"], p["Value"]) for p in parameters} == {
        ("SkipDataQualityCheck", "true"),
        ("RegisterNewDataQualityBaseline", "true"),
    }


def test_topic_is_encrypted_and_only_the_rules_and_drift_alarms_may_publish(resources):
    topic = resources["NotificationTopic"]["Properties"]
    assert topic["KmsMasterKeyId"] == {"Ref": "NotificationKey"}
    assert resources["NotificationKey"]["Properties"]["EnableKeyRotation"] is True
    statements = resources["NotificationTopicPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    publishers = {
        s["Principal"]["Service"]: next(iter(s["Condition"].values())) for s in statements
    }
    assert all(s["Action"] == "sns:Publish" for s in statements)
    # A rule that exists only with CodePipeline is named inside an Fn::If on that condition.
    rules = [
        (arn["Fn::If"][1] if "Fn::If" in arn else arn)["Fn::GetAtt"][0]
        for arn in publishers["events.amazonaws.com"]["aws:SourceArn"]
    ]
    notify = {
        name
        for name, rule in of_type(resources, "AWS::Events::Rule").items()
        if rule["Properties"]["Targets"][0]["Arn"] == {"Ref": "NotificationTopic"}
    }
    assert (
        set(rules)
        == notify
        == {
            "ModelApprovalNotifyRule",
            "DeployPipelineNotifyRule",
            "EndpointStackNotifyRule",
        }
    )
    alarms = [arn["Fn::Sub"] for arn in publishers["cloudwatch.amazonaws.com"]["aws:SourceArn"]]
    # Each stage's endpoint alarm and, with deployment batch or both, its batch transform's.
    assert [arn.rsplit(":", 1)[1] for arn in alarms] == [
        "${StagingEndpointName}*-data-drift",
        "${ProdEndpointName}*-data-drift",
    ]


def test_deploy_build_receives_the_topic(resources):
    variables = resources["ModelDeployProject"]["Properties"]["Environment"]["EnvironmentVariables"]
    assert {"Name": "NOTIFICATION_TOPIC_ARN", "Value": {"Ref": "NotificationTopic"}} in variables


def test_deployed_topic_is_encrypted_and_schedule_disabled():
    with mock_aws():
        session = boto3.Session(region_name=REGION)
        cloudformation = session.client("cloudformation")
        cloudformation.create_stack(
            StackName=f"{SLUG}-cicd",
            TemplateBody=STACK.read_text(),
            Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in PARAMETERS.items()],
            Capabilities=["CAPABILITY_IAM"],
        )
        (stack,) = cloudformation.describe_stacks(StackName=f"{SLUG}-cicd")["Stacks"]
        outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
        topic = outputs["NotificationTopicArn"]
        attributes = session.client("sns").get_topic_attributes(TopicArn=topic)["Attributes"]
        assert attributes["KmsMasterKeyId"]
        summaries = cloudformation.list_stack_resources(StackName=f"{SLUG}-cicd")
        physical = {
            r["LogicalResourceId"]: r["PhysicalResourceId"]
            for r in summaries["StackResourceSummaries"]
        }
        events = session.client("events")
        schedule = events.describe_rule(Name=physical["RetrainScheduleRule"])
        assert (schedule["State"], schedule["ScheduleExpression"]) == ("DISABLED", "rate(7 days)")
        assert events.describe_rule(Name=physical["RetrainOnDriftRule"])["State"] == "ENABLED"


def _monitoring_module() -> Any:
    sys.path.insert(0, str(DEPLOY_REPO))
    try:
        import monitoring
    finally:
        sys.path.remove(str(DEPLOY_REPO))
    return monitoring


@pytest.mark.parametrize("region", sorted(_monitoring_module().MONITOR_IMAGE_ACCOUNTS))
def test_monitor_image_matches_what_the_sagemaker_sdk_resolves(region: str):
    monitoring = _monitoring_module()
    assert monitoring.monitor_image_uri(region) == image_uris.retrieve("model-monitor", region)
