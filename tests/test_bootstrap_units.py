"""Pieces of the bootstrap that need no AWS server: stack decisions, model package deletion
(which moto lacks, so botocore's Stubber answers), the record, remotes, faults and git."""

from __future__ import annotations

import io
import json
import subprocess
from pathlib import Path
from typing import Any

import boto3
import pytest
from bootstrap_stand_in import load_cicd
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.stub import ANY, Stubber
from conftest import TEMPLATE_DIR

from mlops_template.resources_file import resources_data

DEPLOY_REPO = (
    TEMPLATE_DIR / "{{cookiecutter.project_slug}}" / ("{{cookiecutter.project_slug}}-modeldeploy")
)
REGION = "us-east-1"
ACCOUNT = "123456789012"
SLUG = "abalone"
STACK = f"{SLUG}-cicd"
# Nothing listens on the discard port: any request that escaped a stub or a fault would fail.
NOWHERE = "http://127.0.0.1:9"
ANSWERS = {
    "project_name": "Abalone",
    "project_slug": SLUG,
    "description": "Ages.",
    "aws_region": REGION,
    "owner_team": "ml",
    "pipeline_name": SLUG,
    "model_package_group_name": SLUG,
}


@pytest.fixture(scope="module")
def cicd() -> Any:
    return load_cicd(DEPLOY_REPO)


def client(service: str) -> Any:
    return boto3.client(
        service,
        region_name=REGION,
        endpoint_url=NOWHERE,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"mode": "standard", "max_attempts": 1}),
    )


class FakeAws:
    def __init__(self, **clients: Any) -> None:
        self.clients = clients

    def client(self, service: str) -> Any:
        return self.clients[service]


def context(cicd: Any, tmp_path: Path, **clients: Any) -> Any:
    data = resources_data(ANSWERS)
    project = cicd.project.Project(data["project"], data["names"], tmp_path)
    state = cicd.state.State(tmp_path / ".mlops-bootstrap.json")
    return cicd.steps.Context(project, FakeAws(**clients), state, ACCOUNT, "custom", io.StringIO())


def stack(status: str, parameters: dict[str, str], project: str = SLUG) -> dict[str, Any]:
    return {
        "StackName": STACK,
        "StackId": f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{STACK}/1",
        "StackStatus": status,
        "CreationTime": "2026-01-01T00:00:00Z",
        "Tags": [{"Key": "project", "Value": project}],
        "Parameters": [{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
        "Outputs": [{"OutputKey": "ArtifactBucketName", "OutputValue": "b"}],
    }


def missing_stack() -> dict[str, Any]:
    return {
        "service_error_code": "ValidationError",
        "service_message": f"Stack with id {STACK} does not exist",
    }


def test_stack_left_by_a_failed_create_is_replaced(cicd, tmp_path):
    cloudformation = client("cloudformation")
    ctx = context(cicd, tmp_path, cloudformation=cloudformation)
    wanted = cicd.stack.stack_parameters(ctx.project, ACCOUNT)
    with Stubber(cloudformation) as stub:
        stub.add_response("describe_stacks", {"Stacks": [stack("ROLLBACK_COMPLETE", wanted)]})
        stub.add_response("delete_stack", {}, {"StackName": STACK})
        stub.add_client_error("describe_stacks", **missing_stack())
        stub.add_response("create_stack", {"StackId": "new"}, ANY_CREATE)
        stub.add_response("describe_stacks", {"Stacks": [stack("CREATE_COMPLETE", wanted)]})
        stub.add_response("describe_stacks", {"Stacks": [stack("CREATE_COMPLETE", wanted)]})
        step = cicd.stack.stack_step(ctx)

        finding = step.inspect(ctx)
        assert finding.action == "replace"
        assert "ROLLBACK_COMPLETE" in finding.note
        recorded = step.apply(ctx, finding)

        stub.assert_no_pending_responses()
    assert recorded["outputs"] == {"ArtifactBucketName": "b"}


ANY_CREATE = {
    "StackName": STACK,
    "TemplateBody": ANY,
    "Parameters": ANY,
    "Capabilities": ["CAPABILITY_IAM"],
    "Tags": [{"Key": "project", "Value": SLUG}, {"Key": "owner", "Value": "ml"}],
}


def test_changed_parameter_means_update_and_same_everything_means_nothing(cicd, tmp_path):
    cloudformation = client("cloudformation")
    ctx = context(cicd, tmp_path, cloudformation=cloudformation)
    wanted = cicd.stack.stack_parameters(ctx.project, ACCOUNT)
    body = cicd.stack.template_body()
    with Stubber(cloudformation) as stub:
        stale = {**wanted, "OwnerTeam": "old-team"}
        stub.add_response("describe_stacks", {"Stacks": [stack("UPDATE_COMPLETE", stale)]})
        stub.add_response("describe_stacks", {"Stacks": [stack("CREATE_COMPLETE", wanted)]})
        stub.add_response("get_template", {"TemplateBody": body})
        stub.add_response("describe_stacks", {"Stacks": [stack("CREATE_COMPLETE", wanted)]})
        stub.add_response("get_template", {"TemplateBody": body + "\n# edited\n"})

        assert cicd.stack.stack_step(ctx).inspect(ctx).action == "update"
        assert cicd.stack.stack_step(ctx).inspect(ctx).action == "nothing"
        assert cicd.stack.stack_step(ctx).inspect(ctx).action == "update"


def test_stack_of_another_project_blocks(cicd, tmp_path):
    cloudformation = client("cloudformation")
    ctx = context(cicd, tmp_path, cloudformation=cloudformation)
    with Stubber(cloudformation) as stub:
        stub.add_response("describe_stacks", {"Stacks": [stack("CREATE_COMPLETE", {}, "other")]})

        finding = cicd.stack.stack_step(ctx).inspect(ctx)

    assert finding.action == "blocked"
    assert "belongs to something else" in finding.note


def package_page(arns: list[str], token: str | None = None) -> dict[str, Any]:
    page: dict[str, Any] = {
        "ModelPackageSummaryList": [
            {
                "ModelPackageArn": arn,
                "ModelPackageStatus": "Completed",
                "CreationTime": "2026-01-01T00:00:00Z",
            }
            for arn in arns
        ]
    }
    if token:
        page["NextToken"] = token
    return page


def test_group_deletion_removes_every_version_across_pages_then_the_group(cicd):
    sagemaker = client("sagemaker")
    arns = [f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/{SLUG}/{n}" for n in (1, 2, 3)]
    with Stubber(sagemaker) as stub:
        stub.add_response(
            "list_model_packages", package_page(arns[:2], "more"), {"ModelPackageGroupName": SLUG}
        )
        stub.add_response(
            "list_model_packages",
            package_page(arns[2:]),
            {"ModelPackageGroupName": SLUG, "NextToken": "more"},
        )
        for arn in arns:
            stub.add_response("delete_model_package", {}, {"ModelPackageName": arn})
        stub.add_response("delete_model_package_group", {}, {"ModelPackageGroupName": SLUG})

        assert cicd.removers.delete_model_package_group(sagemaker, SLUG) == 3

        stub.assert_no_pending_responses()


def test_group_deletion_tolerates_a_group_already_gone(cicd):
    sagemaker = client("sagemaker")
    with Stubber(sagemaker) as stub:
        stub.add_response("list_model_packages", package_page([]))
        stub.add_client_error(
            "delete_model_package_group",
            service_error_code="ValidationException",
            service_message=f"ModelPackageGroup {SLUG} does not exist.",
        )

        assert cicd.removers.delete_model_package_group(sagemaker, SLUG) == 0


def test_a_record_from_another_account_is_refused(cicd, tmp_path):
    path = tmp_path / ".mlops-bootstrap.json"
    path.write_text(json.dumps({"format": 1, "account_id": "111111111111", "steps": {}}))
    state = cicd.state.load_state(path)

    with pytest.raises(cicd.errors.ConfigError, match="account 111111111111.*account 2222"):
        state.bind_account("222222222222", REGION)


def test_record_is_written_whole_after_each_step(cicd, tmp_path):
    path = tmp_path / ".mlops-bootstrap.json"
    state = cicd.state.load_state(path)
    state.bind_account(ACCOUNT, REGION)

    state.record("repository:modelbuild", arn="arn:x", created=True)

    saved = json.loads(path.read_text())
    assert saved["steps"]["repository:modelbuild"]["arn"] == "arn:x"
    assert saved["account_id"] == ACCOUNT
    assert list(tmp_path.iterdir()) == [path]


def test_unreadable_record_says_what_to_do(cicd, tmp_path):
    path = tmp_path / ".mlops-bootstrap.json"
    path.write_text("{not json")

    with pytest.raises(cicd.errors.ConfigError, match="move it away"):
        cicd.state.load_state(path)


def test_https_remote_configures_the_aws_cli_credential_helper(cicd, monkeypatch):
    monkeypatch.delenv("MLOPS_BOOTSTRAP_GIT_REMOTE", raising=False)
    remote = cicd.remote.remote_for(f"{SLUG}-modelbuild", "eu-west-1", "https")

    host = "https://git-codecommit.eu-west-1.amazonaws.com"
    assert remote.url == f"{host}/v1/repos/{SLUG}-modelbuild"
    assert f"credential.{host}.helper=!aws codecommit credential-helper $@" in remote.config
    grc = cicd.remote.remote_for(f"{SLUG}-modelbuild", "eu-west-1", "grc")
    assert grc.url == f"codecommit::eu-west-1://{SLUG}-modelbuild"


@pytest.mark.parametrize(
    ("installed", "requested", "expected"),
    [
        ({"git-remote-codecommit", "aws"}, "auto", "grc"),
        ({"aws"}, "auto", "https"),
        ({"git-remote-codecommit", "aws"}, "https", "https"),
        (set(), "auto", "pip install git-remote-codecommit"),
        ({"aws"}, "grc", "pip install git-remote-codecommit"),
    ],
)
def test_git_helper_choice_happens_before_anything_is_created(
    cicd, monkeypatch, installed, requested, expected
):
    monkeypatch.delenv("MLOPS_BOOTSTRAP_GIT_REMOTE", raising=False)
    monkeypatch.setattr(
        cicd.remote.shutil, "which", lambda tool: tool if tool in installed else None
    )

    if expected in ("grc", "https"):
        assert cicd.remote.choose_mode(requested) == expected
    else:
        with pytest.raises(cicd.errors.ConfigError, match=expected):
            cicd.remote.choose_mode(requested)


@pytest.mark.parametrize(
    ("service", "call", "kwargs"),
    [
        ("sts", "get_caller_identity", {}),
        ("codecommit", "get_repository", {"repositoryName": "r"}),
        ("s3", "list_buckets", {}),
    ],
)
@pytest.mark.parametrize(("kind", "code"), [("deny", "AccessDenied"), ("throttle", "Throttling")])
def test_injected_errors_parse_like_real_ones_in_every_protocol(
    cicd, service, call, kwargs, kind, code
):
    target = client(service)
    operation = target.meta.method_to_api_mapping[call]
    cicd.faults.install(target, cicd.faults.parse_faults(f"{operation}:{kind}"))

    with pytest.raises(ClientError) as raised:
        getattr(target, call)(**kwargs)

    assert raised.value.response["Error"]["Code"] == code
    assert "injected by MLOPS_BOOTSTRAP_FAULT" in raised.value.response["Error"]["Message"]
    assert cicd.errors.describe_aws_error(raised.value).startswith(
        "access denied" if kind == "deny" else "throttled"
    )


@pytest.mark.parametrize(
    "spec", ["CreateStack", "CreateStack:boom", "Create-Stack:deny", "X:drop:two"]
)
def test_malformed_fault_specs_are_rejected(cicd, spec):
    with pytest.raises(cicd.errors.ConfigError, match="MLOPS_BOOTSTRAP_FAULT"):
        cicd.faults.parse_faults(spec)


def test_someone_elses_origin_is_left_alone(cicd, tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run(
        ["git", "-C", str(repo), "remote", "add", "origin", "git@elsewhere:x"], check=True
    )

    target = cicd.gitrepo.ensure_remote(repo, "origin", "/remotes/x.git")

    assert target == "/remotes/x.git"
    assert cicd.gitrepo.run_git(repo, ["remote", "get-url", "origin"]) == "git@elsewhere:x"
