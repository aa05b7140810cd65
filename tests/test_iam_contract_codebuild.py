"""IAM contract of the three CodeBuild roles: every call their builds make, and nothing more.

Each workload runs as its buildspec runs it, with the environment its CodeBuild project sets,
against a moto server; the call recorder logs every AWS call it makes. The calls, plus what
CodeBuild itself does with the role (build logs, the pipeline's artifacts), become IAM requests
that the role's policies, as the rendered stack defines them, must allow. Then the other way:
no granted action may go unused, and no role may write outside the prefixes it owns.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from bootstrap_stand_in import stand_in
from conftest import render_project
from iam_contract import codebuild
from iam_contract.api_calls import UnmappedCall, to_requests
from iam_contract.codebuild import CodeBuildProject, World
from iam_contract.evaluator import IamRequest, Principal, denials, simulate, unused_actions
from iam_contract.project import ACCOUNT, cicd_stack, deploy_repo
from iam_contract.recorder import ApiCall, CallRecorder
from iam_contract.stack import DeployedStack, resource_policies, roles

FRAMEWORKS = ("xgboost", "pytorch", "sklearn")
ROLES = ("ModelBuildCodeBuildRole", "ModelDeployCodeBuildRole", "StagingTestCodeBuildRole")


@dataclass(frozen=True)
class RoleWork:
    """One role's recorded work: the calls, and the requests they make of IAM."""

    role: str
    project: CodeBuildProject
    calls: tuple[ApiCall, ...]
    tolerated: dict[str, str]

    def requests(self, stack: DeployedStack) -> list[IamRequest]:
        return to_requests(
            (call for call in self.calls if not call.denied), stack.account, self.project.name
        )

    def denied_requests(self, stack: DeployedStack) -> list[IamRequest]:
        return to_requests(
            (call for call in self.calls if call.denied), stack.account, self.project.name
        )


@dataclass(frozen=True)
class Recorded:
    stack: DeployedStack
    work: dict[str, RoleWork]


def _runtime_stub(repo: Path) -> Any:
    """The deploy repo's own invoke stub (tests/runtime_stub.py), serving correct answers."""
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location(
        "deploy_runtime_stub", repo / "tests" / "runtime_stub.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def record(project_dir: Path, workdir: Path) -> Recorded:
    stack = cicd_stack(project_dir)
    by_role = codebuild.projects(stack)
    (build_repo,) = project_dir.glob("*-modelbuild")
    repo = deploy_repo(project_dir)
    recorder = CallRecorder(workdir / "recorder")
    stub_module = _runtime_stub(repo)
    stub = stub_module.RuntimeStub()
    try:
        with stand_in() as server:
            # moto's state is per process: start every framework from an empty account.
            server.reset()
            world = World(server.url, stack.account, stack.region, server.client)
            build = by_role["ModelBuildCodeBuildRole"]
            deploy = by_role["ModelDeployCodeBuildRole"]
            test = by_role["StagingTestCodeBuildRole"]
            codebuild.prepare_model_build(world, build)
            # First run: no group, no approved version. Later run: the pipeline exists and an
            # approved version with a baseline is there to compare against.
            build_calls = codebuild.run_model_build(world, build_repo, build, recorder, "first")
            codebuild.approve_a_version_with_baselines(
                world,
                stack.parameters["ModelPackageGroupName"],
                stack.parameters["SageMakerPipelineName"],
                build.environment["ARTIFACT_BUCKET"],
            )
            build_calls += codebuild.run_model_build(world, build_repo, build, recorder, "later")
            deploy_calls = codebuild.run_deploy_build(
                world, repo, deploy, recorder, workdir / "deploy"
            )
            codebuild.create_staging_endpoint(
                world,
                stack.parameters["StagingEndpointName"],
                deploy.environment["MODEL_EXECUTION_ROLE_ARN"],
                deploy.environment["ARTIFACT_BUCKET"],
            )
            test_calls = codebuild.run_staging_test(
                world,
                repo,
                test,
                recorder,
                workdir / "deploy" / deploy.environment["EXPORT_TEMPLATE_STAGING_CONFIG"],
                stub.url_for(stub_module.CORRECT),
                workdir,
            )
    finally:
        stub.close()
    work = {
        "ModelBuildCodeBuildRole": (build, build_calls, codebuild.MODEL_BUILD_TOLERATED),
        "ModelDeployCodeBuildRole": (deploy, deploy_calls, {}),
        "StagingTestCodeBuildRole": (test, test_calls, {}),
    }
    return Recorded(
        stack,
        {
            role: RoleWork(
                role,
                project,
                tuple(codebuild.service_calls(project, stack.region)) + tuple(calls),
                tolerated,
            )
            for role, (project, calls, tolerated) in work.items()
        },
    )


_RECORDED: dict[str, Recorded] = {}


def recorded_for(framework: str, tmp_path_factory: pytest.TempPathFactory) -> Recorded:
    """Render and record one framework's project once per session."""
    if framework not in _RECORDED:
        root = tmp_path_factory.mktemp(f"iam-codebuild-{framework}")
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("MLOPS_TEMPLATE_BOOTSTRAP", "no")
            project_dir = render_project(root / "out", framework=framework)
        _RECORDED[framework] = record(project_dir, root / "work")
    return _RECORDED[framework]


@pytest.fixture(scope="module", params=FRAMEWORKS)
def recorded(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Recorded:
    return recorded_for(request.param, tmp_path_factory)


@pytest.fixture(scope="module")
def default_recorded(tmp_path_factory: pytest.TempPathFactory) -> Recorded:
    return recorded_for("xgboost", tmp_path_factory)


def contract_failures(
    recorded: Recorded, role: str, principal: Principal | None = None
) -> list[str]:
    """Everything wrong with ``role``'s policies against its recorded work (empty: it holds)."""
    stack = recorded.stack
    principal = principal or roles(stack)[role]
    work = recorded.work[role]
    requests = work.requests(stack)
    failures = denials(principal, requests, resource_policies(stack))
    failures += [
        f"{role} grants {action}, which no recorded call or CodeBuild step needs"
        for action in sorted(
            unused_actions(principal.policies, [*requests, *work.denied_requests(stack)])
        )
        if action not in {name.lower() for name in work.tolerated}
    ]
    failures += tolerated_but_granted(recorded, role, principal)
    failures += writes_outside_owned_prefixes(recorded, role, principal)
    return failures


def tolerated_but_granted(recorded: Recorded, role: str, principal: Principal) -> list[str]:
    """The calls the account denies on purpose must stay denied, and must still happen."""
    work = recorded.work[role]
    denied = work.denied_requests(recorded.stack)
    problems = [
        f"{role} is granted {decision.request.describe()}, which the contract keeps denied "
        f"({work.tolerated[decision.request.action]})"
        for decision in simulate(principal, denied, resource_policies(recorded.stack))
        if decision.allowed
    ]
    seen = {request.action for request in denied}
    problems += [
        f"{role}: {action} is listed as tolerated but the workload no longer calls it"
        for action in work.tolerated
        if action not in seen
    ]
    return problems


# ------------------------------------------------------------------- owned prefixes


def owned_prefixes(stack: DeployedStack) -> dict[str, tuple[str, ...]]:
    """The artifact-bucket prefixes each CodeBuild role may write, and nobody else of them.

    The model build writes only the step code the SDK uploads (<pipeline>/code/ and the
    training job's <pipeline>-train/); the deploy and test builds write only their own output
    artifacts, at the keys CodePipeline gives them.
    """
    pipeline = stack.parameters["SageMakerPipelineName"]
    owned: dict[str, tuple[str, ...]] = {}
    for role, project in codebuild.projects(stack).items():
        outputs = tuple(
            codebuild.artifact_prefix(action.pipeline, name)
            for action in project.actions
            for name in action.outputs
        )
        owned[role] = outputs
    owned["ModelBuildCodeBuildRole"] += (f"{pipeline}/code/", f"{pipeline}-train/")
    return owned


# Object writes IAM distinguishes; a role granted any of them is probed with each.
S3_OBJECT_WRITES = ("s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion", "s3:PutObjectAcl")


def foreign_keys(stack: DeployedStack, role: str) -> list[str]:
    """Keys outside ``role``'s prefixes that matter: every other role's output, the source
    artifacts, the pipeline's models and baselines, the bucket's root."""
    owned = owned_prefixes(stack)
    pipeline = stack.parameters["SageMakerPipelineName"]
    keys = [
        prefix + "probe"
        for other, prefixes in owned.items()
        if other != role
        for prefix in prefixes
    ]
    for project in codebuild.projects(stack).values():
        for action in project.actions:
            keys += [codebuild.artifact_key(action.pipeline, name) for name in action.inputs]
    keys += [
        f"{pipeline}/execution-1/data-quality/constraints.json",
        f"{pipeline}/execution-1/model/model.tar.gz",
        "probe",
    ]
    return [key for key in dict.fromkeys(keys) if not key.startswith(owned[role])]


def writes_outside_owned_prefixes(recorded: Recorded, role: str, principal: Principal) -> list[str]:
    stack = recorded.stack
    bucket = stack.parameters["ArtifactBucketName"]
    owned = owned_prefixes(stack)[role]
    problems = [
        f"{role}'s work writes {request.resource}, outside its prefixes {list(owned)}"
        for request in recorded.work[role].requests(stack)
        if request.action in S3_OBJECT_WRITES
        and not request.resource.startswith(tuple(f"arn:aws:s3:::{bucket}/{p}" for p in owned))
    ]
    granted = [action for action in S3_OBJECT_WRITES if action.lower() in _granted(principal)]
    probes = [
        IamRequest(action, f"arn:aws:s3:::{bucket}/{key}", "write scope probe")
        for action in granted
        for key in foreign_keys(stack, role)
    ]
    problems += [
        f"{role} may {decision.request.action} s3://{_bucket_key(decision.request.resource)}, "
        "which it does not own"
        for decision in simulate(principal, probes, resource_policies(stack))
        if decision.allowed
    ]
    return problems


def _bucket_key(arn: str) -> str:
    return arn.removeprefix("arn:aws:s3:::")


def _granted(principal: Principal) -> set[str]:
    from iam_contract.evaluator import granted_actions

    return granted_actions(principal.policies)


# ------------------------------------------------------------------- the contract


@pytest.mark.parametrize("role", ROLES)
def test_role_allows_exactly_its_work(recorded: Recorded, role: str) -> None:
    assert contract_failures(recorded, role) == []


def test_every_role_has_recorded_work(recorded: Recorded) -> None:
    """The recorder saw each workload's own calls, not only CodeBuild's."""
    services = {
        role: {(call.service, call.operation) for call in work.calls}
        for role, work in recorded.work.items()
    }
    assert {
        ("sagemaker", "CreatePipeline"),
        ("sagemaker", "UpdatePipeline"),
        ("sagemaker", "ListModelPackages"),
    } <= services["ModelBuildCodeBuildRole"]
    assert ("sagemaker", "DescribeModelPackage") in services["ModelDeployCodeBuildRole"]
    assert ("sagemaker-runtime", "InvokeEndpoint") in services["StagingTestCodeBuildRole"]


def test_an_unnameable_resource_fails_the_mapping() -> None:
    call = ApiCall("sagemaker", "DescribeModelPackage", "us-east-1", {"ModelPackageName": "no-arn"})
    with pytest.raises(UnmappedCall, match="DescribeModelPackage.*model-package"):
        to_requests([call], ACCOUNT, "probe")


def test_packaging_uploads_nothing_for_the_endpoint_template(default_recorded: Recorded) -> None:
    """`aws cloudformation package` has no local artifact to upload in the endpoint template;
    if one is added, its HeadObject/PutObject calls join the deploy role's recorded work."""
    deploy = default_recorded.work["ModelDeployCodeBuildRole"]
    uploads = [call for call in deploy.calls if call.operation in {"HeadObject", "PutObject"}]
    assert [call.params["Key"] for call in uploads] == [
        codebuild.artifact_key(action.pipeline, name)
        for action in deploy.project.actions
        for name in action.outputs
    ]


# ------------------------------------------------------------------- mutations


def _without_action(principal: Principal, action: str) -> Principal:
    policies = copy.deepcopy(list(principal.policies))
    for policy in policies:
        for statement in policy["Statement"]:
            actions = (
                statement["Action"]
                if isinstance(statement["Action"], list)
                else [statement["Action"]]
            )
            statement["Action"] = [item for item in actions if item != action]
        policy["Statement"] = [
            statement for statement in policy["Statement"] if statement["Action"]
        ]
    return replace(principal, policies=tuple(policies))


def _with_resource(principal: Principal, sid: str, resource: Any) -> Principal:
    policies = copy.deepcopy(list(principal.policies))
    changed = False
    for policy in policies:
        for statement in policy["Statement"]:
            if statement.get("Sid") == sid:
                statement["Resource"] = resource
                changed = True
    assert changed, f"no statement {sid}"
    return replace(principal, policies=tuple(policies))


def _with_extra(principal: Principal, action: str, resource: str) -> Principal:
    extra = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": action, "Resource": resource}],
    }
    return replace(principal, policies=(*principal.policies, extra))


REMOVED_ACTIONS = [
    ("ModelBuildCodeBuildRole", "sagemaker:ListModelPackages"),
    ("ModelBuildCodeBuildRole", "sagemaker:DescribeModelPackage"),
    ("ModelBuildCodeBuildRole", "s3:ListAllMyBuckets"),
    ("ModelBuildCodeBuildRole", "iam:PassRole"),
    ("ModelBuildCodeBuildRole", "logs:CreateLogGroup"),
    ("ModelDeployCodeBuildRole", "sagemaker:DescribeModelPackageGroup"),
    ("ModelDeployCodeBuildRole", "s3:PutObject"),
    ("ModelDeployCodeBuildRole", "s3:GetBucketAcl"),
    ("StagingTestCodeBuildRole", "sagemaker:InvokeEndpoint"),
    ("StagingTestCodeBuildRole", "s3:GetObjectVersion"),
]


@pytest.mark.parametrize(("role", "action"), REMOVED_ACTIONS)
def test_removing_a_needed_action_is_a_named_failure(
    default_recorded: Recorded, role: str, action: str
) -> None:
    principal = _without_action(roles(default_recorded.stack)[role], action)
    failures = contract_failures(default_recorded, role, principal)
    assert any(line.startswith(f"{role} may not {action} on ") for line in failures), failures


NARROWED = [
    # A resource ARN one step too narrow: the other stage's endpoint, the prod endpoint only.
    (
        "StagingTestCodeBuildRole",
        "StagingEndpoint",
        "arn:aws:sagemaker:us-east-1:123456789012:endpoint/abalone-age-predictor-prod",
        "sagemaker:DescribeEndpoint",
    ),
    (
        "ModelBuildCodeBuildRole",
        "UploadStepCode",
        "arn:aws:s3:::abalone-age-predictor-123456789012-us-east-1/abalone-age-predictor/code/*",
        "s3:PutObject",
    ),
    (
        "ModelDeployCodeBuildRole",
        "ReadSourceAndDriftBaselines",
        [
            "arn:aws:s3:::abalone-age-predictor-123456789012-us-east-1/abalone-age-predicto/SourceArti/*",
            "arn:aws:s3:::abalone-age-predictor-123456789012-us-east-1/abalone-age-predictor/baselines/*",
        ],
        "s3:GetObject",
    ),
    (
        "ModelBuildCodeBuildRole",
        "BuildLogs",
        "arn:aws:logs:us-east-1:123456789012:log-group:/aws/codebuild/abalone-age-predictor-modelbuild:*",
        "logs:CreateLogGroup",
    ),
]


@pytest.mark.parametrize(("role", "sid", "resource", "action"), NARROWED)
def test_narrowing_a_resource_is_a_named_failure(
    default_recorded: Recorded, role: str, sid: str, resource: str, action: str
) -> None:
    principal = _with_resource(roles(default_recorded.stack)[role], sid, resource)
    failures = contract_failures(default_recorded, role, principal)
    assert any(line.startswith(f"{role} may not {action} on ") for line in failures), failures


@pytest.mark.parametrize("role", ROLES)
def test_an_extra_action_is_a_named_failure(default_recorded: Recorded, role: str) -> None:
    principal = _with_extra(roles(default_recorded.stack)[role], "sagemaker:DeletePipeline", "*")
    failures = contract_failures(default_recorded, role, principal)
    assert (
        f"{role} grants sagemaker:deletepipeline, which no recorded call or CodeBuild step needs"
        in failures
    )


@pytest.mark.parametrize("role", ROLES)
def test_writing_the_whole_bucket_is_a_named_failure(default_recorded: Recorded, role: str) -> None:
    """The old shared grant: s3:PutObject on <bucket>/* would let any build overwrite the
    deploy build's output that prod deploys after the approval."""
    bucket = default_recorded.stack.parameters["ArtifactBucketName"]
    principal = _with_extra(
        roles(default_recorded.stack)[role], "s3:PutObject", f"arn:aws:s3:::{bucket}/*"
    )
    failures = contract_failures(default_recorded, role, principal)
    assert any(
        line.startswith(f"{role} may s3:PutObject s3://{bucket}/") and "does not own" in line
        for line in failures
    ), failures


def test_granting_a_tolerated_call_is_a_named_failure(default_recorded: Recorded) -> None:
    role = "ModelBuildCodeBuildRole"
    principal = _with_extra(roles(default_recorded.stack)[role], "iam:SimulatePrincipalPolicy", "*")
    failures = contract_failures(default_recorded, role, principal)
    assert any(
        "iam:SimulatePrincipalPolicy" in line and "keeps denied" in line for line in failures
    ), failures


# ------------------------------------------------------------------- prefix collisions


@pytest.mark.parametrize("slug", ["abcdefghij-klmnopqrs", "ml"])
def test_prefixes_stay_apart_for_short_and_twenty_character_slugs(
    tmp_path: Path, slug: str
) -> None:
    """At 20 characters a slug is exactly CodePipeline's artifact prefix of both pipelines, and
    short slugs leave it uncut: no role may still write another's prefix."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLOPS_TEMPLATE_BOOTSTRAP", "no")
        project_dir = render_project(tmp_path / "out", project_name=slug, project_slug=slug)
    stack = cicd_stack(project_dir)
    everyone = roles(stack)
    empty = Recorded(
        stack,
        {
            role: RoleWork(role, project, (), {})
            for role, project in codebuild.projects(stack).items()
        },
    )
    problems = [
        line
        for role in ROLES
        for line in writes_outside_owned_prefixes(empty, role, everyone[role])
    ]
    assert problems == []
