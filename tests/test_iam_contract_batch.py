"""IAM contract of deployment=batch: the grants cicd/batch-stack.yml attaches to the CI/CD stack's
roles and its two new roles. Each role, with the CI/CD stack's policies plus the batch stack's,
must allow everything the batch work needs; the batch grants must all be used by it; dropping any
one batch statement must deny a named call. The work is derived as for the endpoint
(tests/iam_contract/batch.py, docs/iam-contract.md): the batch stage stacks as the deploy build
configures them, the staging batch test run against the stand-in under the call recorder, and
the targets of the schedule and the rules.

The deploy CodeBuild role needs nothing new: for batch its build runs build.py as before, jq
(no AWS call) and `aws cloudformation package` over a template without local artifacts (no
upload). The CodePipeline role deploys the same stack names with the same actions.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from bootstrap_stand_in import stand_in
from conftest import render_project
from iam_contract import batch as batch_work
from iam_contract.api_calls import to_requests
from iam_contract.calls import Place, aws_owned_image_policies
from iam_contract.codebuild import base_environment, buildspec_commands, projects
from iam_contract.evaluator import IamRequest, Principal, denials, unused_actions
from iam_contract.pipeline_definition import build_definition
from iam_contract.project import cicd_stack, deploy_repo, endpoint_stacks, modelbuild_repo
from iam_contract.recorder import CallRecorder
from iam_contract.services import Definition, cloudformation_requests, rule_target_requests
from iam_contract.stack import DeployedStack, resource_policies, roles
from mlops_toolkit.bootstrap.batch import ROLE_PARAMETERS, stack_name, stack_parameters
from mlops_toolkit.bootstrap.project import load_project

pytestmark = pytest.mark.skipif(shutil.which("jq") is None, reason="the deploy build runs jq")

NEW_ROLES = {
    "BatchScheduleRole": "scheduler.amazonaws.com",
    "BatchEventsRole": "events.amazonaws.com",
}


@dataclass(frozen=True)
class Batch:
    cicd: DeployedStack
    batch: DeployedStack
    stages: Sequence[tuple[DeployedStack, Mapping[str, str]]]
    build: Definition
    staging_test_requests: Sequence[IamRequest]

    def principal(self, logical_id: str, without: tuple[int, int] | None = None) -> Principal:
        """A CI/CD role with its own policies and the batch stack's attached to it."""
        main = roles(self.cicd)[logical_id]
        attached = self.attached(logical_id)
        if without is not None:
            attached = copy.deepcopy(attached)
            del attached[without[0]]["Statement"][without[1]]
        return replace(main, policies=(*main.policies, *attached))

    def attached(self, logical_id: str) -> list[Mapping[str, Any]]:
        name = self.cicd.resolve({"Ref": logical_id})
        return batch_work.attached_policies(self.batch, name)

    def new_role(self, logical_id: str, without: tuple[int, int] | None = None) -> Principal:
        role = roles(self.batch)[logical_id]
        if without is None:
            return role
        policies = copy.deepcopy(list(role.policies))
        del policies[without[0]]["Statement"][without[1]]
        return replace(role, policies=tuple(policies))


def _stage_stacks(
    project: Path, cicd: DeployedStack, build: Definition
) -> list[tuple[DeployedStack, Mapping[str, str]]]:
    """The staging and prod batch stacks as buildspec.yml configures them: build.py's endpoint
    export turned by batch-export.jq into the batch template's configuration."""
    repo = deploy_repo(project)
    (register,) = [s for s in build.steps.values() if s["Type"] == "RegisterModel"]
    quality = build.resolve(register["Arguments"]["DriftCheckBaselines"])["ModelDataQuality"]
    baselines = (quality["Statistics"]["S3Uri"], quality["Constraints"]["S3Uri"])
    bucket = cicd.resolve({"Ref": "ArtifactBucket"})
    found = []
    for deployment in endpoint_stacks(project, cicd, baselines):
        export = {"Parameters": dict(deployment.stack.parameters), "Tags": deployment.tags}
        done = subprocess.run(
            ["jq", "-s", "--arg", "bucket", bucket, "--arg", "deployment", "batch"]
            + ["-f", "batch-export.jq", "/dev/stdin", f"{deployment.stage}-batch-config.json"],
            cwd=repo,
            input=json.dumps(export),
            capture_output=True,
            text=True,
            check=True,
        )
        config = json.loads(done.stdout)
        stack = DeployedStack.load(
            repo / "batch-transform-template.yml",
            name=deployment.stack.name,
            region=cicd.region,
            account=cicd.account,
            parameters=config["Parameters"],
        )
        found.append((stack, config["Tags"]))
    return found


def _record_staging_test(
    project: Path, cicd: DeployedStack, staging: DeployedStack, workdir: Path
) -> list[IamRequest]:
    """test/batch_test.py as test/buildspec.yml runs it, against the stand-in. The stand-in runs
    no transform (its executions succeed at once and write nothing), so the test ends failing on
    the missing predictions: every call it makes in a real run is made all the same."""
    repo = deploy_repo(project)
    test = projects(cicd)["StagingTestCodeBuildRole"]
    (command,) = buildspec_commands(repo, test.buildspec)
    assert command.startswith("python test/batch_test.py"), command
    config = workdir / "staging-config-export.json"
    config.write_text(json.dumps({"Parameters": dict(staging.parameters)}))
    recorder = CallRecorder(workdir / "recorder")
    with stand_in() as server:
        server.reset()
        bucket = staging.parameters["ArtifactBucket"]
        server.client("s3").create_bucket(Bucket=bucket)
        (pipeline,) = staging.of_type("AWS::SageMaker::Pipeline").values()
        properties = staging.resolve(pipeline["Properties"])
        server.client("sagemaker").create_pipeline(
            PipelineName=properties["PipelineName"],
            PipelineDefinition=properties["PipelineDefinition"]["PipelineDefinitionBody"],
            RoleArn=properties["RoleArn"],
        )
        env = base_environment(
            type("World", (), {"url": server.url, "region": cicd.region})  # only these two
        ) | dict(test.environment)
        log = recorder.directory / "batch-test.jsonl"
        done = subprocess.run(
            [sys.executable, "test/batch_test.py", "--build-config", str(config)]
            + ["--export-test-results", str(workdir / "results.json"), "--poll-seconds", "0.1"],
            cwd=repo,
            env=recorder.environment(env, log),
            capture_output=True,
            text=True,
            timeout=120,
        )
    results = json.loads((workdir / "results.json").read_text())
    checks = {check["name"]: check["passed"] for check in results["checks"]}
    assert checks.get("transform") is True, done.stdout + done.stderr
    calls = recorder.calls(log)
    assert [c.operation for c in calls if c.service == "s3"] == ["PutObject", "GetObject"]
    return to_requests(calls, cicd.account, test.name)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> Batch:
    os.environ["MLOPS_TEMPLATE_BOOTSTRAP"] = "no"
    # A pipeline named apart from the slug: with the default (the slug) the execution role's
    # grants on <pipeline>/* also cover <slug>/batch/, and the batch statements that read the
    # inputs would look unneeded though every other pipeline name needs them.
    project = render_project(
        tmp_path_factory.mktemp("batch"), deployment="batch", pipeline_name="abalone-training"
    )
    cicd = cicd_stack(project)
    role = roles(cicd)["SageMakerExecutionRole"].arn
    bucket = cicd.resolve({"Ref": "ArtifactBucket"})
    built = build_definition(modelbuild_repo(project), role, bucket, cicd.region)
    build = Definition(
        built["definition"],
        cicd.parameters["SageMakerPipelineName"],
        Place(cicd.region, cicd.account),
    )
    settings = load_project(deploy_repo(project))
    role_names = {p: cicd.resolve({"Ref": logical}) for p, logical in ROLE_PARAMETERS.items()}
    batch = DeployedStack.load(
        deploy_repo(project) / "cicd" / "batch-stack.yml",
        name=stack_name(settings),
        region=cicd.region,
        account=cicd.account,
        parameters=stack_parameters(settings, bucket, role_names),
    )
    stages = _stage_stacks(project, cicd, build)
    staging = next(stack for stack, _ in stages if stack.parameters["StageName"] == "staging")
    requests = _record_staging_test(project, cicd, staging, tmp_path_factory.mktemp("test"))
    return Batch(cicd, batch, stages, build, requests)


# ---------------------------------------------------------------- the work of each role


def execution_work(batch: Batch) -> list[IamRequest]:
    return [
        request
        for stack, _ in batch.stages
        for request in batch_work.execution_role_requests(stack, batch.build)
    ]


def cloudformation_work(batch: Batch) -> list[IamRequest]:
    return [r for stack, tags in batch.stages for r in cloudformation_requests(stack, tags)]


def staging_test_work(batch: Batch) -> list[IamRequest]:
    return list(batch.staging_test_requests)


# CI/CD role (logical id) -> the batch work it does.
ATTACHED_WORK = {
    "SageMakerExecutionRole": execution_work,
    "CloudFormationRole": cloudformation_work,
    "StagingTestCodeBuildRole": staging_test_work,
}


def new_role_work(batch: Batch, logical_id: str) -> list[IamRequest]:
    arn = roles(batch.batch)[logical_id].arn
    return batch_work.schedule_target_requests(batch.batch, arn) + rule_target_requests(
        batch.batch, arn
    )


def _tls(requests: Sequence[IamRequest]) -> list[IamRequest]:
    # The bucket policy refuses S3 requests without TLS; AWS's services always use it.
    return [
        replace(r, context={**r.context, "aws:SecureTransport": "true"})
        if r.action.startswith("s3:")
        else r
        for r in requests
    ]


def _refused(batch: Batch, principal: Principal, work: Sequence[IamRequest]) -> list[str]:
    # AWS's image repositories are in AWS's accounts: their policies let any account pull.
    policies = {
        **resource_policies(batch.cicd),
        **aws_owned_image_policies(work, batch.cicd.account),
    }
    return denials(principal, _tls(work), policies)


def test_every_batch_grant_goes_to_a_role_of_the_cicd_stack(rendered: Batch):
    attached = {
        name
        for resource in rendered.batch.of_type("AWS::IAM::Policy").values()
        for name in rendered.batch.resolve(resource["Properties"]["Roles"])
    }
    assert attached == {rendered.cicd.resolve({"Ref": role}) for role in ATTACHED_WORK}


@pytest.mark.parametrize("role", ATTACHED_WORK)
def test_each_cicd_role_with_the_batch_grants_may_do_its_batch_work(rendered: Batch, role: str):
    work = ATTACHED_WORK[role](rendered)
    assert work
    assert _refused(rendered, rendered.principal(role), work) == []


@pytest.mark.parametrize("role", ATTACHED_WORK)
def test_the_batch_grants_hold_no_action_the_batch_work_does_not_use(rendered: Batch, role: str):
    assert unused_actions(rendered.attached(role), ATTACHED_WORK[role](rendered)) == set()


@pytest.mark.parametrize("role", ATTACHED_WORK)
def test_dropping_any_batch_statement_denies_a_named_call(rendered: Batch, role: str):
    work = ATTACHED_WORK[role](rendered)
    for index in batch_work.statements(rendered.attached(role)):
        refused = _refused(rendered, rendered.principal(role, without=index), work)
        assert refused, f"{role}: batch statement {index} is not needed by any call"
        assert all(line.startswith(f"{role} may not") for line in refused)


@pytest.mark.parametrize("role", NEW_ROLES)
def test_each_new_role_may_start_exactly_its_targets(rendered: Batch, role: str):
    principal = rendered.new_role(role)
    work = new_role_work(rendered, role)
    assert work
    assert _refused(rendered, principal, work) == []
    assert unused_actions(principal.policies, work) == set()
    for index in batch_work.statements(list(principal.policies)):
        assert _refused(rendered, rendered.new_role(role, without=index), work), (role, index)


@pytest.mark.parametrize("role", NEW_ROLES)
def test_only_its_service_in_this_account_may_assume_a_new_role(rendered: Batch, role: str):
    document = rendered.batch.resolve(
        rendered.batch.resources[role]["Properties"]["AssumeRolePolicyDocument"]
    )
    (statement,) = document["Statement"]
    assert statement["Principal"] == {"Service": NEW_ROLES[role]}
    assert statement["Condition"] == {"StringEquals": {"aws:SourceAccount": rendered.cicd.account}}


def test_the_schedule_and_the_rules_start_only_the_prod_batch_pipeline_and_retraining(
    rendered: Batch,
):
    prod = rendered.cicd.parameters["ProdEndpointName"]
    started = {
        request.resource.rsplit("/", 1)[1]
        for role in NEW_ROLES
        for request in new_role_work(rendered, role)
    }
    assert started == {f"{prod}-batch", rendered.cicd.parameters["SageMakerPipelineArnName"]}
