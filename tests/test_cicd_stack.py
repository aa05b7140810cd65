"""The CI/CD stack template (``cicd/cicd-stack.yml`` in the deploy repository): lint, structure,
least privilege, and its EventBridge rules deployed to moto and fed sample events.

moto's CloudFormation skips CodeCommit, CodePipeline and CodeBuild resources, so those are checked
in the template itself; the rules, roles and bucket are deployed and exercised.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from cfnlint.api import lint_file
from cfnlint.decode import decode
from mlops_toolkit.bootstrap.project import Project
from mlops_toolkit.bootstrap.stack import stack_parameters, template_body
from moto import mock_aws

from mlops_template.resources_file import resources_data

# moto warns about each resource type its CloudFormation skips (CodeBuild, CodePipeline...).
pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse AWS:UserWarning")

TEMPLATE_DIR = Path(__file__).resolve().parents[1]
PROJECT_TREE = TEMPLATE_DIR / "{{cookiecutter.project_slug}}"
BUILD_REPO = PROJECT_TREE / "{{cookiecutter.project_slug}}-modelbuild"
DEPLOY_REPO = PROJECT_TREE / "{{cookiecutter.project_slug}}-modeldeploy"
STACK = DEPLOY_REPO / "cicd" / "cicd-stack.yml"
TEMPLATE_BODY_LIMIT = 51_200  # CreateStack's TemplateBody maximum, in bytes
REGION = "us-east-1"
ACCOUNT = "123456789012"
SLUG = "abalone"
# IAM accepts only "*" as the resource of these actions (they have no resource type).
RESOURCELESS_ACTIONS = {
    "ecr:GetAuthorizationToken",
    "cloudwatch:PutMetricData",
    "sagemaker:ListModelPackages",
    "s3:ListAllMyBuckets",
    "cloudformation:ValidateTemplate",
    "application-autoscaling:RegisterScalableTarget",
    "application-autoscaling:DeregisterScalableTarget",
    "application-autoscaling:PutScalingPolicy",
    "application-autoscaling:DeleteScalingPolicy",
    "application-autoscaling:DescribeScalableTargets",
    "application-autoscaling:DescribeScalingPolicies",
    "application-autoscaling:DescribeScheduledActions",
    "cloudwatch:GetMetricData",
}
# Variables CodeBuild itself provides, and optional knobs the scripts read with a default.
PROVIDED = re.compile(r"CODEBUILD_\w+|AWS_DEFAULT_REGION|HOME|PATH")
OPTIONAL = {"PIPELINE_TIMEOUT_SECONDS", "MODEL_PACKAGE_VERSION", "BUILD_CONFIG"}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    decoded, matches = decode(str(STACK))
    assert decoded is not None, matches
    return decoded


@pytest.fixture(scope="module")
def resources(template: dict[str, Any]) -> dict[str, Any]:
    return template["Resources"]


def of_type(resources: dict[str, Any], kind: str) -> dict[str, Any]:
    return {name: r for name, r in resources.items() if r["Type"] == kind}


def env_names(project: dict[str, Any]) -> set[str]:
    return {v["Name"] for v in project["Properties"]["Environment"]["EnvironmentVariables"]}


def stages(pipeline: dict[str, Any]) -> list[dict[str, Any]]:
    return pipeline["Properties"]["Stages"]


def only_action(stage: dict[str, Any]) -> dict[str, Any]:
    """The stage's one action; a source action as CodeCommit projects get it (their default)."""
    assert len(stage["Actions"]) == 1, stage["Name"]
    action = stage["Actions"][0]
    if "Fn::If" in action:
        condition, on_codecommit, _ = action["Fn::If"]
        assert condition == "OnCodeCommit", stage["Name"]
        return on_codecommit
    return action


def test_cfn_lint_reports_no_errors_and_no_warnings():
    assert [str(match) for match in lint_file(STACK)] == []


ANSWERS = {
    "project_name": "Abalone",
    "project_slug": SLUG,
    "description": "d",
    "aws_region": REGION,
    "owner_team": "ml",
    "pipeline_name": "Abalone",
    "model_package_group_name": "Abalone",
}


def template_project() -> Project:
    """The bootstrap's view of a project whose cicd/ folder is the template's own."""
    data = resources_data(ANSWERS)
    return Project(data["project"], data["names"], PROJECT_TREE, DEPLOY_REPO / "cicd")


def test_template_body_the_bootstrap_sends_fits_in_a_create_stack_request():
    body = template_body(template_project())
    # Room to grow: a template within 10 % of the limit fails the next person's first change.
    assert len(body.encode()) < 0.9 * TEMPLATE_BODY_LIMIT


def test_template_body_the_bootstrap_sends_is_the_template(template):
    sent = json.loads(template_body(template_project()))
    # cfn-lint's reading of the YAML source, as plain data.
    assert sent == json.loads(json.dumps(template))


def test_every_parameter_comes_from_the_bootstrap(template):
    parameters = stack_parameters(template_project(), ACCOUNT)

    assert set(parameters) == set(template["Parameters"])
    assert parameters["ArtifactBucketName"] == f"{SLUG}-{ACCOUNT}-{REGION}"
    assert parameters["SageMakerPipelineArnName"] == "abalone"
    assert parameters["ModelPackageGroupName"] == "Abalone"
    assert parameters["ModelPackageGroupArnName"] == "abalone"


def test_model_deploy_pipeline_stages_in_order(resources):
    pipeline = resources["ModelDeployPipeline"]
    assert [stage["Name"] for stage in stages(pipeline)] == [
        "Source",
        "Build",
        "DeployStaging",
        "TestStaging",
        "ApproveDeployment",
        "DeployProd",
    ]
    source, build, staging, test, approval, prod = (only_action(s) for s in stages(pipeline))
    assert source["ActionTypeId"]["Provider"] == "CodeCommit"
    assert source["Configuration"]["PollForSourceChanges"] is False
    assert source["Configuration"]["BranchName"] == {"Ref": "BranchName"}
    assert build["Configuration"]["ProjectName"] == {"Ref": "ModelDeployProjectName"}
    assert approval["ActionTypeId"] == {
        "Category": "Approval",
        "Owner": "AWS",
        "Provider": "Manual",
        "Version": "1",
    }
    assert approval["Configuration"]["CustomData"] == "Approve this model for Production"
    assert test["Configuration"]["ProjectName"] == {"Ref": "StagingTestProjectName"}
    assert test["Configuration"]["PrimarySource"] == "SourceArtifact"
    assert [a["Name"] for a in test["InputArtifacts"]] == ["SourceArtifact", "BuildArtifact"]
    expected_modes = ((staging, "REPLACE_ON_FAILURE", "Staging"), (prod, "CREATE_UPDATE", "Prod"))
    for action, mode, stage in expected_modes:
        assert action["ActionTypeId"]["Provider"] == "CloudFormation"
        config = action["Configuration"]
        assert config["ActionMode"] == mode
        assert config["StackName"] == {"Ref": f"{stage}StackName"}
        assert config["RoleArn"] == {"Fn::GetAtt": ["CloudFormationRole", "Arn"]}


def test_deploy_actions_read_the_files_the_deploy_build_exports(resources):
    exported = {
        v["Name"]: v["Value"]
        for v in resources["ModelDeployProject"]["Properties"]["Environment"][
            "EnvironmentVariables"
        ]
    }
    stage_list = stages(resources["ModelDeployPipeline"])
    staging, prod = only_action(stage_list[2]), only_action(stage_list[5])
    template_file = f"BuildArtifact::{exported['EXPORT_TEMPLATE_NAME']}"
    assert staging["Configuration"]["TemplatePath"] == template_file
    assert prod["Configuration"]["TemplatePath"] == template_file
    assert staging["Configuration"]["TemplateConfiguration"] == (
        f"BuildArtifact::{exported['EXPORT_TEMPLATE_STAGING_CONFIG']}"
    )
    assert prod["Configuration"]["TemplateConfiguration"] == (
        f"BuildArtifact::{exported['EXPORT_TEMPLATE_PROD_CONFIG']}"
    )
    test_env = {
        v["Name"]: v["Value"]
        for v in resources["StagingTestProject"]["Properties"]["Environment"][
            "EnvironmentVariables"
        ]
    }
    assert test_env["BUILD_CONFIG"] == exported["EXPORT_TEMPLATE_STAGING_CONFIG"]


def test_model_build_pipeline_runs_the_build_project_from_main(resources):
    pipeline = resources["ModelBuildPipeline"]
    assert [stage["Name"] for stage in stages(pipeline)] == ["Source", "Build"]
    source, build = (only_action(stage) for stage in stages(pipeline))
    assert source["Configuration"]["RepositoryName"] == {"Ref": "ModelBuildRepositoryName"}
    assert source["Configuration"]["PollForSourceChanges"] is False
    assert build["Configuration"]["ProjectName"] == {"Ref": "ModelBuildProjectName"}
    project = resources["ModelBuildProject"]["Properties"]
    assert project["TimeoutInMinutes"] >= 240, "the build waits for the whole SageMaker pipeline"
    assert project["Source"]["BuildSpec"] == "codebuild-buildspec.yml"


def buildspec_variables(path: Path) -> set[str]:
    """Variables a buildspec's commands and artifacts use without a default."""
    text = json.dumps(yaml.safe_load(path.read_text(encoding="utf-8")))
    used = set(re.findall(r"\$([A-Z][A-Z0-9_]*)", text))
    braced = re.findall(r"\$\{([A-Z][A-Z0-9_]*)(:-)?", text)
    used |= {name for name, default in braced if not default}
    return {name for name in used if not PROVIDED.fullmatch(name)}


def script_variables(path: Path) -> set[str]:
    """Environment variables a script reads: os.environ.get/os.getenv/_env/env_default("X"),
    os.environ["X"], and ENV_* constants holding a variable's name."""
    readers = {"get", "getenv", "_env", "env_default"}
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and node.args and _callee(node) in readers:
            names.add(_text(node.args[0]))
        elif isinstance(node, ast.Subscript) and ast.unparse(node.value) == "os.environ":
            names.add(_text(node.slice))
        elif isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id.startswith("ENV_") for t in node.targets
        ):
            names.add(_text(node.value))
    return {name for name in names if name and ENV_NAME.fullmatch(name)}


ENV_NAME = re.compile(r"[A-Z][A-Z0-9]*(_[A-Z0-9]+)+")


def _callee(call: ast.Call) -> str:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def _text(node: ast.AST) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


@pytest.mark.parametrize(
    ("project", "buildspec", "scripts"),
    [
        (
            "ModelBuildProject",
            BUILD_REPO / "codebuild-buildspec.yml",
            [BUILD_REPO / "src/modelbuild/cli/common.py"],
        ),
        ("ModelDeployProject", DEPLOY_REPO / "buildspec.yml", [DEPLOY_REPO / "build.py"]),
        ("StagingTestProject", DEPLOY_REPO / "test/buildspec.yml", [DEPLOY_REPO / "test/test.py"]),
    ],
)
def test_each_codebuild_project_sets_what_its_buildspec_and_scripts_read(
    resources, project, buildspec, scripts
):
    provided = env_names(resources[project])
    needed = buildspec_variables(buildspec)
    for script in scripts:
        needed |= script_variables(script) - OPTIONAL
    needed = {name for name in needed if not PROVIDED.fullmatch(name)}
    assert needed, f"found no variables for {project}: the parser is broken"
    assert needed <= provided, f"{project} lacks {sorted(needed - provided)}"


def test_model_build_project_sets_exactly_what_run_pipeline_reads(resources):
    assert env_names(resources["ModelBuildProject"]) == {
        "SAGEMAKER_PROJECT_NAME",
        "SAGEMAKER_PIPELINE_NAME",
        "SAGEMAKER_PIPELINE_ROLE_ARN",
        "ARTIFACT_BUCKET",
        "AWS_REGION",
    }


def statements(resources: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, resource in resources.items():
        properties = resource["Properties"]
        documents = [p["PolicyDocument"] for p in properties.get("Policies", [])]
        if "PolicyDocument" in properties and resource["Type"] != "AWS::S3::BucketPolicy":
            documents.append(properties["PolicyDocument"])
        for document in documents:
            for statement in document["Statement"]:
                yield from ((name, branch) for branch in _branches(statement))


def _branches(statement: dict[str, Any]) -> list[dict[str, Any]]:
    """A statement, or each statement a ``Fn::If`` (nested too) may put in its place (never a
    NoValue)."""
    if "Fn::If" not in statement:
        return [statement]
    _, when_true, when_false = statement["Fn::If"]
    return [
        leaf
        for branch in (when_true, when_false)
        if branch != {"Ref": "AWS::NoValue"}
        for leaf in _branches(branch)
    ]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_no_wildcard_actions_admin_policies_or_needless_star_resources(resources):
    for name, statement in statements(resources):
        assert statement["Effect"] == "Allow", name
        actions = as_list(statement["Action"])
        for action in actions:
            assert action != "*" and not action.endswith(":*"), f"{name}: {action}"
        if "*" in as_list(statement["Resource"]):
            assert set(actions) <= RESOURCELESS_ACTIONS, f"{name}: {actions} on *"
    for role in of_type(resources, "AWS::IAM::Role").values():
        for arn in role["Properties"].get("ManagedPolicyArns", []):
            assert arn == {"Ref": "CodeBuildLogsPolicy"}, arn


def test_auto_scaling_changes_reach_only_sagemaker_scalable_targets(resources):
    writes = {
        "application-autoscaling:RegisterScalableTarget",
        "application-autoscaling:DeregisterScalableTarget",
        "application-autoscaling:PutScalingPolicy",
        "application-autoscaling:DeleteScalingPolicy",
    }
    granting = [(n, s) for n, s in statements(resources) if writes & set(as_list(s["Action"]))]

    assert [name for name, _ in granting] == ["CloudFormationRole"]
    ((_, statement),) = granting
    assert set(as_list(statement["Action"])) == writes
    assert statement["Condition"] == {
        "StringEquals": {"application-autoscaling:service-namespace": "sagemaker"}
    }


def test_pass_role_is_always_scoped_to_one_role_and_one_service(resources):
    passes = [(n, s) for n, s in statements(resources) if "iam:PassRole" in as_list(s["Action"])]
    assert len(passes) == 4
    for name, statement in passes:
        assert "*" not in json.dumps(statement["Resource"]), name
        assert "iam:PassedToService" in statement["Condition"]["StringEquals"], name


def test_each_role_is_assumable_only_by_its_service(resources):
    trusted = {
        name: role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]["Service"]
        for name, role in of_type(resources, "AWS::IAM::Role").items()
    }
    assert trusted == {
        "SageMakerExecutionRole": "sagemaker.amazonaws.com",
        "ModelBuildCodeBuildRole": "codebuild.amazonaws.com",
        "ModelDeployCodeBuildRole": "codebuild.amazonaws.com",
        "StagingTestCodeBuildRole": "codebuild.amazonaws.com",
        "CodePipelineRole": "codepipeline.amazonaws.com",
        "CloudFormationRole": "cloudformation.amazonaws.com",
        "EventBridgeRole": "events.amazonaws.com",
        "RetrainRole": "events.amazonaws.com",
    }


def test_artifact_bucket_is_encrypted_versioned_private_tls_only_and_kept(resources):
    bucket = resources["ArtifactBucket"]
    properties = bucket["Properties"]
    assert bucket["DeletionPolicy"] == "Retain"
    rule = properties["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("AES256", "aws:kms")
    assert properties["VersioningConfiguration"] == {"Status": "Enabled"}
    assert set(properties["PublicAccessBlockConfiguration"].values()) == {True}
    assert len(properties["PublicAccessBlockConfiguration"]) == 4
    (deny,) = resources["ArtifactBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert deny["Effect"] == "Deny"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


PARAMETERS = {
    "ProjectSlug": SLUG,
    "OwnerTeam": "ml",
    "ArtifactBucketName": f"{SLUG}-{ACCOUNT}-{REGION}",
    "ModelBuildRepositoryName": f"{SLUG}-modelbuild",
    "ModelDeployRepositoryName": f"{SLUG}-modeldeploy",
    "SageMakerPipelineName": SLUG,
    "SageMakerPipelineArnName": SLUG,
    "ModelPackageGroupName": "abalone-models",
    "ModelPackageGroupArnName": "abalone-models",
    "ModelBuildProjectName": f"{SLUG}-modelbuild",
    "ModelDeployProjectName": f"{SLUG}-modeldeploy",
    "StagingTestProjectName": f"{SLUG}-staging-test",
    "ModelBuildPipelineName": f"{SLUG}-modelbuild",
    "ModelDeployPipelineName": f"{SLUG}-modeldeploy",
    "ModelBuildPipelineArtifactPrefix": f"{SLUG}-modelbuild"[:20],
    "ModelDeployPipelineArtifactPrefix": f"{SLUG}-modeldeploy"[:20],
    "StagingStackName": f"{SLUG}-deploy-staging",
    "ProdStackName": f"{SLUG}-deploy-prod",
    "StagingEndpointName": f"{SLUG}-staging",
    "ProdEndpointName": f"{SLUG}-prod",
}


def event(source: str, detail_type: str, detail: dict[str, Any], resources=()) -> dict[str, Any]:
    return {
        "Source": source,
        "DetailType": detail_type,
        "Detail": json.dumps(detail),
        "Resources": list(resources),
    }


def approval(status: str, group: str = "abalone-models") -> dict[str, Any]:
    detail = {
        "ModelPackageGroupName": group,
        "ModelApprovalStatus": status,
        "ModelPackageVersion": 3,
    }
    return event("aws.sagemaker", "SageMaker Model Package State Change", detail)


def push(repo: str, branch: str = "main", event_name: str = "referenceUpdated") -> dict[str, Any]:
    detail = {"event": event_name, "referenceType": "branch", "referenceName": branch}
    arn = f"arn:aws:codecommit:{REGION}:{ACCOUNT}:{repo}"
    return event("aws.codecommit", "CodeCommit Repository State Change", detail, [arn])


def alarm(name: str, state: str) -> dict[str, Any]:
    """A CloudWatch "Alarm State Change" event as EventBridge delivers it."""
    detail = {
        "alarmName": name,
        "state": {
            "value": state,
            "reason": "Threshold Crossed",
            "timestamp": "2026-11-02T10:05:00Z",
        },
        "previousState": {"value": "OK"},
        "configuration": {"description": "Data drift"},
    }
    arn = f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{name}"
    return event("aws.cloudwatch", "CloudWatch Alarm State Change", detail, [arn])


def deploy_pipeline(state: str) -> dict[str, Any]:
    detail = {"pipeline": f"{SLUG}-modeldeploy", "state": state, "execution-id": "1"}
    arn = f"arn:aws:codepipeline:{REGION}:{ACCOUNT}:{SLUG}-modeldeploy"
    return event("aws.codepipeline", "CodePipeline Pipeline Execution State Change", detail, [arn])


def stack_status(stack: str, status: str) -> dict[str, Any]:
    detail = {"stack-id": stack, "status-details": {"status": status}}
    arn = f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{stack}/0123-4567"
    return event("aws.cloudformation", "CloudFormation Stack Status Change", detail, [arn])


APPROVAL_RULES = {"ModelApprovalRule", "ModelApprovalNotifyRule"}
SAMPLES = {
    "approved": (approval("Approved"), APPROVAL_RULES),
    "rejected": (approval("Rejected"), APPROVAL_RULES),
    "pending": (approval("PendingManualApproval"), {"ModelApprovalNotifyRule"}),
    "other-group": (approval("Approved", "someone-elses"), set()),
    "build-push": (push(f"{SLUG}-modelbuild"), {"ModelBuildPushRule"}),
    "build-branch-created": (
        push(f"{SLUG}-modelbuild", event_name="referenceCreated"),
        {"ModelBuildPushRule"},
    ),
    "deploy-push": (push(f"{SLUG}-modeldeploy"), {"ModelDeployPushRule"}),
    "feature-branch": (push(f"{SLUG}-modeldeploy", "feature"), set()),
    "other-repo": (push("elsewhere"), set()),
    "prod-drift-alarm": (alarm(f"{SLUG}-prod-data-drift", "ALARM"), {"RetrainOnDriftRule"}),
    "prod-drift-cleared": (alarm(f"{SLUG}-prod-data-drift", "OK"), set()),
    # Staging serves the staging test's synthetic rows: its drift never retrains.
    "staging-drift-alarm": (alarm(f"{SLUG}-staging-data-drift", "ALARM"), set()),
    "other-alarm": (alarm(f"{SLUG}-prod-latency", "ALARM"), set()),
    "deploy-failed": (deploy_pipeline("FAILED"), {"DeployPipelineNotifyRule"}),
    "deploy-succeeded": (deploy_pipeline("SUCCEEDED"), {"DeployPipelineNotifyRule"}),
    "deploy-started": (deploy_pipeline("STARTED"), set()),
    "prod-stack-failed": (
        stack_status(f"{SLUG}-deploy-prod", "UPDATE_ROLLBACK_COMPLETE"),
        {"EndpointStackNotifyRule"},
    ),
    "staging-stack-created": (
        stack_status(f"{SLUG}-deploy-staging", "CREATE_COMPLETE"),
        {"EndpointStackNotifyRule"},
    ),
    "stack-in-progress": (stack_status(f"{SLUG}-deploy-prod", "UPDATE_IN_PROGRESS"), set()),
    "other-stack": (stack_status("elsewhere", "CREATE_COMPLETE"), set()),
}


@pytest.fixture(scope="module")
def deployed_rules() -> Iterator[tuple[Any, Any, dict[str, str]]]:
    """The stack on moto, with an SQS queue added as a second target of each rule."""
    with mock_aws():
        session = boto3.Session(region_name=REGION)
        cloudformation = session.client("cloudformation")
        cloudformation.create_stack(
            StackName=f"{SLUG}-cicd",
            TemplateBody=STACK.read_text(),
            Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in PARAMETERS.items()],
            Capabilities=["CAPABILITY_IAM"],
        )
        resources = cloudformation.list_stack_resources(StackName=f"{SLUG}-cicd")
        rules = {
            r["LogicalResourceId"]: r["PhysicalResourceId"]
            for r in resources["StackResourceSummaries"]
            if r["ResourceType"] == "AWS::Events::Rule"
        }
        sqs, events = session.client("sqs"), session.client("events")
        queues, pipelines = {}, {}
        for logical, physical in rules.items():
            # moto cannot deliver to CodePipeline: note the real target, then swap in a queue.
            (target,) = events.list_targets_by_rule(Rule=physical)["Targets"]
            pipelines[logical] = target["Arn"]
            events.remove_targets(Rule=physical, Ids=[target["Id"]])
            if "ScheduleExpression" in events.describe_rule(Name=physical):
                # moto hands every event to a rule without a pattern; a schedule matches none.
                continue
            url = sqs.create_queue(QueueName=logical)["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
            events.put_targets(
                Rule=physical, Targets=[{"Id": "probe", "Arn": arn["Attributes"]["QueueArn"]}]
            )
            queues[logical] = url
        yield sqs, events, queues, pipelines


@pytest.mark.parametrize("sample", SAMPLES)
def test_rules_start_the_right_pipeline_for_sample_events(deployed_rules, sample):
    sqs, events, queues, _ = deployed_rules
    entry, expected = SAMPLES[sample]

    events.put_events(Entries=[entry])

    received = set()
    for rule, url in queues.items():
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        for message in messages:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        if messages:
            received.add(rule)
    assert received == expected


def test_deployed_rules_target_the_project_pipelines_and_topic(deployed_rules):
    pipeline = f"arn:aws:codepipeline:{REGION}:{ACCOUNT}:{SLUG}"
    sagemaker_pipeline = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:pipeline/{SLUG}"
    targets = deployed_rules[3]
    topic = targets.pop("ModelApprovalNotifyRule")
    assert topic.startswith(f"arn:aws:sns:{REGION}:{ACCOUNT}:")
    assert targets == {
        "ModelBuildPushRule": f"{pipeline}-modelbuild",
        "ModelDeployPushRule": f"{pipeline}-modeldeploy",
        "ModelApprovalRule": f"{pipeline}-modeldeploy",
        "DeployPipelineNotifyRule": topic,
        "EndpointStackNotifyRule": topic,
        "RetrainScheduleRule": sagemaker_pipeline,
        "RetrainOnDriftRule": sagemaker_pipeline,
    }


def test_rules_target_the_pipelines_through_the_eventbridge_role(resources):
    targets = {
        name: rule["Properties"]["Targets"]
        for name, rule in of_type(resources, "AWS::Events::Rule").items()
    }
    pipeline_of = {
        "ModelBuildPushRule": "ModelBuildPipelineName",
        "ModelDeployPushRule": "ModelDeployPipelineName",
        "ModelApprovalRule": "ModelDeployPipelineName",
    }
    notify = {"ModelApprovalNotifyRule", "DeployPipelineNotifyRule", "EndpointStackNotifyRule"}
    retrain = {"RetrainScheduleRule", "RetrainOnDriftRule"}
    assert set(targets) == set(pipeline_of) | notify | retrain
    for rule in notify:
        (target,) = targets[rule]
        assert target["Arn"] == {"Ref": "NotificationTopic"}
    for rule in retrain:
        (target,) = targets[rule]
        assert target["RoleArn"] == {"Fn::GetAtt": ["RetrainRole", "Arn"]}
        assert target["Arn"]["Fn::Sub"].endswith(":pipeline/${SageMakerPipelineArnName}")
    for rule in pipeline_of:
        (target,) = targets[rule]
        assert target["RoleArn"] == {"Fn::GetAtt": ["EventBridgeRole", "Arn"]}
        assert f"${{{pipeline_of[rule]}}}" in target["Arn"]["Fn::Sub"]
