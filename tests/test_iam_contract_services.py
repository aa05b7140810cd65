"""IAM contract of the roles AWS services use: what each role must allow, derived from the pipeline
definition and the templates, is allowed; nothing else is granted; writes stay in the prefixes
the role owns. Mutation tests take one needed grant away and expect a named failure.

How the requests are derived: tests/iam_contract/services.py and docs/iam-contract.md.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from conftest import render_project
from iam_contract.calls import Place, aws_owned_image_policies, object_arn, split_s3_uri
from iam_contract.evaluator import IamRequest, Principal, denials, unused_actions
from iam_contract.pipeline_definition import build_definition
from iam_contract.project import (
    EndpointDeployment,
    cicd_stack,
    endpoint_stacks,
    modelbuild_repo,
)
from iam_contract.services import (
    Definition,
    artifact_key,
    cloudformation_requests,
    codepipeline_requests,
    execution_role_requests,
    publish_requests,
    rule_target_requests,
    stage_variants,
    topic_publishers,
)
from iam_contract.stack import DeployedStack, resource_policies, roles
from mlops_toolkit.stand_in_state import s3_uris

FRAMEWORKS = ("xgboost", "pytorch", "sklearn")
SAMPLE_BUCKET = "sagemaker-servicecatalog-seedcode-{region}"


@dataclass(frozen=True)
class Rendered:
    """One rendered project and everything the contract derives from it."""

    framework: str
    project: Path
    cicd: DeployedStack
    roles: Mapping[str, Principal]
    resource_policies: Mapping[str, Mapping[str, Any]]
    definition: Definition
    uploads: Mapping[str, Sequence[str]]
    endpoints: Sequence[EndpointDeployment]

    @property
    def bucket(self) -> str:
        return self.cicd.resolve({"Ref": "ArtifactBucket"})

    @property
    def place(self) -> Place:
        return Place(self.cicd.region, self.cicd.account)

    def parameter(self, name: str) -> str:
        return self.cicd.parameters[name]

    def resources_of(self, logical_id: str) -> Mapping[str, Any]:
        return self.cicd.resources[logical_id]["Properties"]


_RENDERED: dict[str, Rendered] = {}


def _render(
    framework: str, tmp_path_factory: pytest.TempPathFactory, tuning: str = "no"
) -> Rendered:
    key = f"{framework}-tuning-{tuning}"
    if key in _RENDERED:
        return _RENDERED[key]
    saved = os.environ.get("MLOPS_TEMPLATE_BOOTSTRAP")
    os.environ["MLOPS_TEMPLATE_BOOTSTRAP"] = "no"
    try:
        project = render_project(
            tmp_path_factory.mktemp(key), framework=framework, hyperparameter_tuning=tuning
        )
    finally:
        if saved is None:
            os.environ.pop("MLOPS_TEMPLATE_BOOTSTRAP")
        else:
            os.environ["MLOPS_TEMPLATE_BOOTSTRAP"] = saved
    cicd = cicd_stack(project)
    found_roles = roles(cicd)
    bucket = cicd.resolve({"Ref": "ArtifactBucket"})
    built = build_definition(
        modelbuild_repo(project), found_roles["SageMakerExecutionRole"].arn, bucket, cicd.region
    )
    definition = Definition(
        built["definition"],
        cicd.parameters["SageMakerPipelineName"],
        Place(cicd.region, cicd.account),
    )
    rendered = Rendered(
        framework=framework,
        project=project,
        cicd=cicd,
        roles=found_roles,
        resource_policies=resource_policies(cicd),
        definition=definition,
        uploads=built["uploads"],
        endpoints=endpoint_stacks(project, cicd, _registered_baselines(definition), stage_variants),
    )
    _RENDERED[key] = rendered
    return rendered


def _registered_baselines(definition: Definition) -> tuple[str, str]:
    """The drift baselines the registered version carries (its DriftCheckBaselines)."""
    (register,) = [s for s in definition.steps.values() if s["Type"] == "RegisterModel"]
    baselines = definition.resolve(register["Arguments"]["DriftCheckBaselines"])
    quality = baselines["ModelDataQuality"]
    return quality["Statistics"]["S3Uri"], quality["Constraints"]["S3Uri"]


@pytest.fixture(scope="module", params=FRAMEWORKS)
def each_framework(request: pytest.FixtureRequest, tmp_path_factory) -> Rendered:
    return _render(request.param, tmp_path_factory)


@pytest.fixture(scope="module")
def tuned(tmp_path_factory) -> Rendered:
    """hyperparameter_tuning=yes: a tuning job replaces the training job."""
    return _render("xgboost", tmp_path_factory, tuning="yes")


@pytest.fixture(scope="module", params=["no", "yes"])
def each_tuning_answer(request: pytest.FixtureRequest, tmp_path_factory) -> Rendered:
    return _render("xgboost", tmp_path_factory, tuning=request.param)


@pytest.fixture(scope="module")
def default(tmp_path_factory) -> Rendered:
    """The CI/CD and endpoint templates are the same for every framework: one render checks them."""
    return _render("xgboost", tmp_path_factory)


# ---------------------------------------------------------------- what each role must do


def execution_work(rendered: Rendered) -> list[IamRequest]:
    group = rendered.parameter("ModelPackageGroupName")
    return execution_role_requests(
        rendered.definition, group, [deployment.stack for deployment in rendered.endpoints]
    )


def cloudformation_work(rendered: Rendered) -> list[IamRequest]:
    return [
        request
        for deployment in rendered.endpoints
        for request in cloudformation_requests(deployment.stack, deployment.tags)
    ]


def codepipeline_work(rendered: Rendered) -> list[IamRequest]:
    return codepipeline_requests(rendered.cicd, rendered.roles["CodePipelineRole"].arn)


def rule_role_work(role: str) -> Callable[[Rendered], list[IamRequest]]:
    return lambda rendered: rule_target_requests(rendered.cicd, rendered.roles[role].arn)


# Every role this contract owns, with the work it does.
WORK: dict[str, Callable[[Rendered], list[IamRequest]]] = {
    "SageMakerExecutionRole": execution_work,
    "CloudFormationRole": cloudformation_work,
    "CodePipelineRole": codepipeline_work,
    "EventBridgeRole": rule_role_work("EventBridgeRole"),
    "RetrainRole": rule_role_work("RetrainRole"),
}


def over_tls(requests: Sequence[IamRequest], secure: bool = True) -> list[IamRequest]:
    """AWS's services and SDKs call S3 over TLS: the bucket policy refuses anything else."""
    flag = "true" if secure else "false"
    return [
        replace(request, context={**request.context, "aws:SecureTransport": flag})
        if request.action.startswith("s3:")
        else request
        for request in requests
    ]


def refusals(rendered: Rendered, principal: Principal, requests: Sequence[IamRequest]) -> list[str]:
    policies = {
        **rendered.resource_policies,
        **aws_owned_image_policies(requests, rendered.cicd.account),
    }
    return denials(principal, over_tls(requests), policies)


def test_the_bucket_policy_refuses_every_request_without_tls(default: Rendered):
    role = default.roles["SageMakerExecutionRole"]
    prefix = f"arn:aws:s3:::{default.bucket}"
    work = [r for r in execution_work(default) if r.resource.startswith(prefix)]
    insecure = over_tls(work, secure=False)
    refused = denials(role, insecure, default.resource_policies)
    assert len(refused) == len(insecure)
    assert all(line.endswith("ExplicitlyDenied") for line in refused)


# ---------------------------------------------------------------- the pipeline definition


def test_the_pipeline_creates_no_experiments_or_trials(each_framework: Rendered):
    # Switched off in pipeline.py: SageMaker would otherwise create an experiment and a trial
    # per execution, which no role may do.
    assert each_framework.definition.raw["PipelineExperimentConfig"] is None


def test_building_the_pipeline_uploads_only_to_the_artifact_bucket(each_framework: Rendered):
    """No SDK default bucket (sagemaker-<region>-<account>) that no role could write."""
    assert set(each_framework.uploads) == {each_framework.bucket}
    resolved = each_framework.definition.resolve(each_framework.definition.raw["Steps"])
    buckets = {split_s3_uri(uri)[0] for uri in s3_uris(resolved)}
    sample = SAMPLE_BUCKET.format(region=each_framework.cicd.region)
    assert buckets <= {each_framework.bucket, sample}


def test_every_framework_image_is_pulled_from_its_own_repository(each_framework: Rendered):
    pulled = {
        request.resource.rsplit("/", 1)[1]
        for request in execution_work(each_framework)
        if request.action == "ecr:BatchGetImage"
    }
    framework_repositories = {
        "xgboost": {"sagemaker-xgboost"},
        "pytorch": {"pytorch-training", "pytorch-inference"},
        "sklearn": set(),
    }[each_framework.framework]
    assert pulled == {
        "sagemaker-scikit-learn",
        "sagemaker-model-monitor-analyzer",
        *framework_repositories,
    }


# ---------------------------------------------------------------- both directions, per role


def test_the_execution_role_allows_every_call_of_the_pipeline_and_the_endpoints(
    each_framework: Rendered,
):
    role = each_framework.roles["SageMakerExecutionRole"]
    assert refusals(each_framework, role, execution_work(each_framework)) == []


def test_the_execution_role_grants_nothing_the_pipeline_and_endpoints_do_not_use(
    each_framework: Rendered,
):
    role = each_framework.roles["SageMakerExecutionRole"]
    assert unused_actions(role.policies, execution_work(each_framework)) == set()


def test_the_execution_role_allows_the_tuning_job_and_its_training_jobs(tuned: Rendered):
    work = execution_work(tuned)
    tuning = [r for r in work if "HyperParameterTuningJob" in r.action]
    assert {r.action for r in tuning} == {
        "sagemaker:CreateHyperParameterTuningJob",
        "sagemaker:DescribeHyperParameterTuningJob",
        "sagemaker:StopHyperParameterTuningJob",
    }
    # The best training job's model is written under this execution, and evaluated from there.
    [model] = [r.resource for r in work if r.action == "s3:PutObject" and "/tuning/" in r.resource]
    assert model.endswith("/output/model.tar.gz")
    assert refusals(tuned, tuned.roles["SageMakerExecutionRole"], work) == []


def test_tuning_permissions_exist_only_where_the_pipeline_tunes(each_tuning_answer: Rendered):
    """With tuning off no statement grants them, so the contract's 'no more' check holds too."""
    role = each_tuning_answer.roles["SageMakerExecutionRole"]
    granted = {
        action
        for policy in role.policies
        for statement in policy["Statement"]
        for action in _as_list(statement["Action"])
    }
    tuning = {action for action in granted if "HyperParameterTuningJob" in action}
    expected = each_tuning_answer.cicd.parameters["HyperparameterTuning"] == "yes"
    assert bool(tuning) == expected
    assert unused_actions(role.policies, execution_work(each_tuning_answer)) == set()


def _as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else value


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        ("sagemaker:CreateHyperParameterTuningJob", "sagemaker:CreateHyperParameterTuningJob on"),
        ("sagemaker:StopHyperParameterTuningJob", "sagemaker:StopHyperParameterTuningJob on"),
    ],
)
def test_taking_a_tuning_grant_away_is_a_named_failure(tuned: Rendered, action, expected):
    mutation = Mutation(
        "SageMakerExecutionRole", "PipelineTuningJobs", expected, drop_action=action
    )
    mutated = mutation.apply(tuned.roles["SageMakerExecutionRole"], tuned)
    refused = refusals(tuned, mutated, execution_work(tuned))
    assert any(line.startswith(f"SageMakerExecutionRole may not {expected}") for line in refused)


@pytest.mark.parametrize("role", [name for name in WORK if name != "SageMakerExecutionRole"])
def test_the_role_allows_all_its_work(default: Rendered, role: str):
    principal = default.roles[role]
    assert refusals(default, principal, WORK[role](default)) == []


@pytest.mark.parametrize("role", [name for name in WORK if name != "SageMakerExecutionRole"])
def test_the_role_grants_nothing_its_work_does_not_use(default: Rendered, role: str):
    principal = default.roles[role]
    assert unused_actions(principal.policies, WORK[role](default)) == set()


def test_the_cloudformation_role_covers_every_option_of_both_stages(default: Rendered):
    """Auto scaling, monitoring and drift notifications on and off in each stage file."""
    created = {
        (deployment.stage, name)
        for deployment in default.endpoints
        for name in deployment.stack.created()
    }
    for stage in ("staging", "prod"):
        assert {
            (stage, name)
            for name in (
                "ScalableTarget",
                "ScalingPolicy",
                "DataQualityJobDefinition",
                "MonitoringSchedule",
                "DataDriftAlarm",
            )
        } <= created


# ---------------------------------------------------------------- writes stay in owned prefixes


def _owned_prefixes(rendered: Rendered) -> dict[str, tuple[str, ...]]:
    pipeline = rendered.parameter("SageMakerPipelineName")
    slug = rendered.parameter("ProjectSlug")
    build = rendered.parameter("ModelBuildPipelineName")
    deploy = rendered.parameter("ModelDeployPipelineName")
    return {
        "SageMakerExecutionRole": (
            f"{pipeline}/executions/",
            f"{pipeline}-train/pipelines-",
            f"{slug}/datacapture/",
            f"{slug}/monitoring/",
        ),
        "CodePipelineRole": (
            artifact_key(build, "ModelBuildSourceArtifact").rsplit("/", 1)[0] + "/",
            artifact_key(deploy, "SourceArtifact").rsplit("/", 1)[0] + "/",
        ),
    }


@pytest.mark.parametrize("role", ["SageMakerExecutionRole", "CodePipelineRole"])
def test_every_write_lands_in_a_prefix_the_role_owns(default: Rendered, role: str):
    prefix = f"arn:aws:s3:::{default.bucket}/"
    writes = [r for r in WORK[role](default) if r.action == "s3:PutObject"]
    assert writes
    outside = [
        request.describe()
        for request in writes
        if request.resource.startswith(prefix)
        and not request.resource[len(prefix) :].startswith(_owned_prefixes(default)[role])
    ]
    assert outside == []


def _foreign_writes(rendered: Rendered) -> dict[str, tuple[str, str]]:
    """Objects in the artifact bucket that belong to someone else: what -> (key, writer)."""
    pipeline = rendered.parameter("SageMakerPipelineName")
    deploy = rendered.parameter("ModelDeployPipelineName")
    build = rendered.parameter("ModelBuildPipelineName")
    uploads = rendered.uploads[rendered.bucket]
    training_code = next(key for key in uploads if "/input/code/" in key)
    step_code = next(key for key in uploads if key.startswith(f"{pipeline}/code/"))
    return {
        "deploy build output that prod deploys after approval": (
            artifact_key(deploy, "BuildArtifact"),
            "ModelDeployCodeBuildRole",
        ),
        # A CodePipeline whose name cut to 20 characters equals the SageMaker pipeline's name.
        "deploy build output in a folder named like the pipeline": (
            artifact_key(pipeline, "BuildArtifact"),
            "ModelDeployCodeBuildRole",
        ),
        "deploy repository source": (artifact_key(deploy, "SourceArtifact"), "CodePipelineRole"),
        "model-build repository source": (
            artifact_key(build, "ModelBuildSourceArtifact"),
            "CodePipelineRole",
        ),
        "staging test results": (artifact_key(deploy, "TestArtifact"), "StagingTestCodeBuildRole"),
        "training code the model-build CodeBuild uploads": (
            training_code,
            "ModelBuildCodeBuildRole",
        ),
        "step code the model-build CodeBuild uploads": (step_code, "ModelBuildCodeBuildRole"),
    }


@pytest.mark.parametrize("role", ["SageMakerExecutionRole", "CodePipelineRole"])
def test_the_role_cannot_overwrite_what_others_write(default: Rendered, role: str):
    attempts = [
        IamRequest("s3:PutObject", object_arn(default.bucket, key), what)
        for what, (key, writer) in _foreign_writes(default).items()
        if writer != role
    ]
    refused = refusals(default, default.roles[role], attempts)
    assert len(refused) == len(attempts), refused
    assert any("prod deploys after approval" in line for line in refused)


# ---------------------------------------------------------------- the topic and its key


def _topic(rendered: Rendered) -> tuple[str, str]:
    topic = rendered.cicd.resolve({"Ref": "NotificationTopic"})
    (key,) = [arn for arn in rendered.resource_policies if ":kms:" in arn]
    return topic, key


def _publishers(rendered: Rendered):
    topic, _ = _topic(rendered)
    stacks = [deployment.stack for deployment in rendered.endpoints]
    return topic_publishers(rendered.cicd, stacks, topic)


def test_every_publisher_may_publish_to_the_encrypted_topic(default: Rendered):
    topic, key = _topic(default)
    publishers = _publishers(default)
    assert {publisher.service for publisher in publishers} == {
        "events.amazonaws.com",
        "cloudwatch.amazonaws.com",
    }
    refused = []
    for publisher in publishers:
        service = Principal(publisher.service, publisher.service, default.cicd.account, ())
        requests = publish_requests(publisher, topic, key, default.cicd.account)
        refused += denials(service, requests, default.resource_policies)
    assert refused == []


def test_the_topic_policy_names_exactly_the_publishers(default: Rendered):
    topic, _ = _topic(default)
    allowed = {
        arn
        for statement in default.resource_policies[topic]["Statement"]
        for condition in statement["Condition"].values()
        for arn in condition["aws:SourceArn"]
    }
    # A stage's drift alarms: the endpoint's <endpoint>-data-drift and, with deployment batch or
    # both, the batch transform's <endpoint>-batch-data-drift, as one pattern.
    expected = {
        publisher.source_arn.replace("-data-drift", "*-data-drift")
        for publisher in _publishers(default)
    }
    assert allowed == expected


def test_the_batch_drift_alarms_may_publish_and_other_alarms_may_not(default: Rendered):
    topic, key = _topic(default)
    alarm = next(p for p in _publishers(default) if p.service == "cloudwatch.amazonaws.com")
    service = Principal(alarm.service, alarm.service, default.cicd.account, ())
    batch = replace(
        alarm,
        source_arn=alarm.source_arn.replace("-data-drift", "-batch-data-drift"),
        why="the stage's batch transform drift alarm",
    )
    requests = publish_requests(batch, topic, key, default.cicd.account)
    assert denials(service, requests, default.resource_policies) == []
    other = replace(
        alarm,
        source_arn=alarm.source_arn.replace(":alarm:", ":alarm:other-"),
        why="an alarm of another endpoint",
    )
    (refused,) = denials(
        service,
        publish_requests(other, topic, None, default.cicd.account),
        default.resource_policies,
    )
    assert "sns:Publish" in refused


def test_a_stranger_may_not_publish_to_the_topic(default: Rendered):
    topic, key = _topic(default)
    stranger = next(p for p in _publishers(default) if p.service == "events.amazonaws.com")
    stranger = replace(stranger, source_arn=stranger.source_arn + "-other", why="another rule")
    service = Principal(stranger.service, stranger.service, default.cicd.account, ())
    (refused,) = denials(
        service,
        publish_requests(stranger, topic, None, default.cicd.account),
        default.resource_policies,
    )
    assert "sns:Publish" in refused


# ---------------------------------------------------------------- mutation tests


@dataclass(frozen=True)
class Mutation:
    """Take one grant away from a role's rendered policy: drop an action from a statement, or
    the statement itself, or narrow its resources."""

    role: str
    sid: str
    expected: str
    drop_action: str | None = None
    resources: tuple[str, ...] | None = None

    def apply(self, principal: Principal, rendered: Rendered) -> Principal:
        policies = copy.deepcopy(list(principal.policies))
        for policy in policies:
            statements = policy["Statement"]
            for statement in list(statements):
                if statement.get("Sid") != self.sid:
                    continue
                if self.drop_action is not None:
                    actions = statement["Action"]
                    actions = [actions] if isinstance(actions, str) else actions
                    statement["Action"] = [a for a in actions if a != self.drop_action]
                    if not statement["Action"]:
                        statements.remove(statement)
                elif self.resources is not None:
                    statement["Resource"] = [
                        item.format(bucket=rendered.bucket, **rendered.cicd.parameters)
                        for item in self.resources
                    ]
                else:
                    statements.remove(statement)
                return replace(principal, policies=tuple(policies))
        raise AssertionError(f"{self.role} has no statement {self.sid}")


MUTATIONS = [
    Mutation(
        "SageMakerExecutionRole",
        "PullFrameworkImages",
        "ecr:BatchGetImage on arn:aws:ecr:us-east-1:156813124566:repository/"
        "sagemaker-model-monitor-analyzer",
        resources=("arn:aws:ecr:us-east-1:*:repository/sagemaker-xgboost",),
    ),
    Mutation(
        "SageMakerExecutionRole",
        "FindLatestApprovedVersion",
        "sagemaker:ListModelPackages on *",
        drop_action="sagemaker:ListModelPackages",
    ),
    Mutation(
        "SageMakerExecutionRole",
        "ListJobInputs",
        "s3:ListBucket on arn:aws:s3:::sagemaker-servicecatalog-seedcode-us-east-1",
        resources=("arn:aws:s3:::{bucket}",),
    ),
    Mutation("SageMakerExecutionRole", "PassItselfToJobs", "iam:PassRole on"),
    Mutation(
        "SageMakerExecutionRole",
        "WriteJobOutputs",
        "s3:PutObject on arn:aws:s3:::{bucket}/abalone-age-predictor-train/pipelines-",
        resources=("arn:aws:s3:::{bucket}/{SageMakerPipelineName}/*",),
    ),
    Mutation(
        "CloudFormationRole",
        "ManageProjectModelsAndConfigs",
        "sagemaker:CreateEndpoint on arn:aws:sagemaker:us-east-1:123456789012:endpoint-config/",
        drop_action="sagemaker:CreateEndpoint",
    ),
    Mutation(
        "CloudFormationRole",
        "TagScalableTargets",
        "application-autoscaling:TagResource",
        drop_action="application-autoscaling:TagResource",
    ),
    Mutation(
        "CloudFormationRole",
        "ProjectAlarms",
        "cloudwatch:ListTagsForResource",
        drop_action="cloudwatch:ListTagsForResource",
    ),
    Mutation(
        "CodePipelineRole", "ReadSource", "codecommit:GetBranch", drop_action="codecommit:GetBranch"
    ),
    Mutation(
        "CodePipelineRole",
        "ReadDeployArtifacts",
        "s3:GetObject on arn:aws:s3:::{bucket}/abalone-age-predicto/BuildArtif/",
        resources=("arn:aws:s3:::{bucket}", "arn:aws:s3:::{bucket}/*/SourceArti/*"),
    ),
    Mutation("CodePipelineRole", "PassDeployRole", "iam:PassRole on"),
    Mutation(
        "EventBridgeRole",
        "StartProjectPipelines",
        "codepipeline:StartPipelineExecution on "
        "arn:aws:codepipeline:us-east-1:123456789012:{ModelDeployPipelineName}",
        resources=("arn:aws:codepipeline:us-east-1:123456789012:{ModelBuildPipelineName}",),
    ),
    Mutation("RetrainRole", "StartProjectPipeline", "sagemaker:StartPipelineExecution"),
]


@pytest.mark.parametrize("mutation", MUTATIONS, ids=lambda m: f"{m.role}-{m.sid}")
def test_taking_one_needed_grant_away_is_a_named_failure(default: Rendered, mutation: Mutation):
    mutated = mutation.apply(default.roles[mutation.role], default)
    refused = refusals(default, mutated, WORK[mutation.role](default))
    expected = mutation.expected.format(bucket=default.bucket, **default.cicd.parameters)
    assert any(line.startswith(f"{mutation.role} may not {expected}") for line in refused), refused


def test_a_grant_no_work_uses_is_named(default: Rendered):
    principal = default.roles["RetrainRole"]
    policies = copy.deepcopy(list(principal.policies))
    policies[0]["Statement"][0]["Action"] = [
        "sagemaker:StartPipelineExecution",
        "sagemaker:StopPipelineExecution",
    ]
    assert unused_actions(policies, WORK["RetrainRole"](default)) == {
        "sagemaker:stoppipelineexecution"
    }


@pytest.mark.parametrize(
    ("policy", "sid", "service", "call"),
    [
        ("topic", "NotificationRules", "events.amazonaws.com", "sns:Publish"),
        ("topic", "DriftAlarms", "cloudwatch.amazonaws.com", "sns:Publish"),
        ("key", "PublishersEncrypt", "events.amazonaws.com", "kms:GenerateDataKey"),
    ],
)
def test_taking_a_publisher_off_a_resource_policy_is_a_named_failure(
    default: Rendered, policy: str, sid: str, service: str, call: str
):
    topic, key = _topic(default)
    mutated = copy.deepcopy(dict(default.resource_policies))
    target = topic if policy == "topic" else key
    mutated[target]["Statement"] = [
        statement for statement in mutated[target]["Statement"] if statement.get("Sid") != sid
    ]
    principal = Principal(service, service, default.cicd.account, ())
    refused = [
        line
        for publisher in _publishers(default)
        if publisher.service == service
        for line in denials(
            principal, publish_requests(publisher, topic, key, default.cicd.account), mutated
        )
    ]
    assert any(line.startswith(f"{service} may not {call}") for line in refused), refused


# ---------------------------------------------------------------- who may assume each role

# The service that runs each role's work: the principal its trust policy must admit.
ASSUMED_BY = {
    "SageMakerExecutionRole": "sagemaker.amazonaws.com",
    "CloudFormationRole": "cloudformation.amazonaws.com",
    "CodePipelineRole": "codepipeline.amazonaws.com",
    "EventBridgeRole": "events.amazonaws.com",
    "RetrainRole": "events.amazonaws.com",
}


@pytest.mark.parametrize("role", sorted(ASSUMED_BY))
def test_only_the_service_doing_the_work_may_assume_the_role(default: Rendered, role: str):
    arn = default.roles[role].arn
    trust = {arn: default.cicd.resolve(default.resources_of(role)["AssumeRolePolicyDocument"])}
    context = {"aws:SourceAccount": default.cicd.account}
    service = ASSUMED_BY[role]
    assume = [IamRequest("sts:AssumeRole", arn, f"{service} runs {role}'s work", context)]
    assert denials(Principal(service, service, default.cicd.account, ()), assume, trust) == []
    other = "ec2.amazonaws.com"
    assert denials(Principal(other, other, default.cicd.account, ()), assume, trust) != []


# ---------------------------------------------------------------- a team's own capture key

TEAM_KEY = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-4333-8444-555555555555"


def test_a_capture_key_is_used_by_exactly_the_calls_its_key_policy_must_allow(default: Rendered):
    """DataCaptureKmsKeyId names a key the project does not own: the roles get no grant on it,
    so its key policy must allow what the derivation lists, and that is then enough."""
    stacks = endpoint_stacks(
        default.project,
        default.cicd,
        _registered_baselines(default.definition),
        lambda parameters: [{**parameters, "DataCaptureKmsKeyId": TEAM_KEY}],
    )
    deployments = replace(default, endpoints=stacks)
    needs = {
        role: [r for r in WORK[role](deployments) if r.resource == TEAM_KEY]
        for role in ("SageMakerExecutionRole", "CloudFormationRole")
    }
    assert {role: {r.action for r in requests} for role, requests in needs.items()} == {
        "SageMakerExecutionRole": {"kms:GenerateDataKey", "kms:Decrypt"},
        "CloudFormationRole": {"kms:DescribeKey"},
    }
    key_policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": default.roles[role].arn},
                "Action": sorted({r.action for r in requests}),
                "Resource": "*",
            }
            for role, requests in needs.items()
        ],
    }
    for role, requests in needs.items():
        principal = default.roles[role]
        assert denials(principal, requests) != []
        assert denials(principal, requests, {TEAM_KEY: key_policy}) == []
