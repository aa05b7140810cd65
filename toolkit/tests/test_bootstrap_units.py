"""Pieces of the bootstrap that need no AWS server: stack decisions, model package deletion
(which moto lacks, so botocore's Stubber answers), the record, remotes, faults and git. The
project is bootstrap_fixture's, not the template's: the bootstrap needs only its data files."""

from __future__ import annotations

import io
import json
import subprocess
from pathlib import Path
from typing import Any

import boto3
import pytest
from bootstrap_fixture import ACCOUNT, REGION, SLUG, write_deploy_repo
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.stub import ANY, Stubber

from mlops_toolkit.bootstrap import batch, errors, faults, gitrepo, policy, remote, removers
from mlops_toolkit.bootstrap import stack as cfn
from mlops_toolkit.bootstrap.project import find_deploy_repo, load_project
from mlops_toolkit.bootstrap.state import State, load_state
from mlops_toolkit.bootstrap.steps import Context

STACK = f"{SLUG}-cicd"
# Nothing listens on the discard port: any request that escaped a stub or a fault would fail.
NOWHERE = "http://127.0.0.1:9"


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


def context(tmp_path: Path, **clients: Any) -> Context:
    project = load_project(write_deploy_repo(tmp_path))
    state = State(tmp_path / ".mlops-bootstrap.json")
    return Context(project, FakeAws(**clients), state, ACCOUNT, "custom", io.StringIO())


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


def test_stack_left_by_a_failed_create_is_replaced(tmp_path):
    cloudformation = client("cloudformation")
    ctx = context(tmp_path, cloudformation=cloudformation)
    wanted = cfn.stack_parameters(ctx.project, ACCOUNT)
    with Stubber(cloudformation) as stub:
        stub.add_response("describe_stacks", {"Stacks": [stack("ROLLBACK_COMPLETE", wanted)]})
        stub.add_response("delete_stack", {}, {"StackName": STACK})
        stub.add_client_error("describe_stacks", **missing_stack())
        stub.add_response("create_stack", {"StackId": "new"}, ANY_CREATE)
        stub.add_response("describe_stacks", {"Stacks": [stack("CREATE_COMPLETE", wanted)]})
        stub.add_response("describe_stacks", {"Stacks": [stack("CREATE_COMPLETE", wanted)]})
        step = cfn.stack_step(ctx)

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


def test_changed_parameter_means_update_and_same_everything_means_nothing(tmp_path):
    cloudformation = client("cloudformation")
    ctx = context(tmp_path, cloudformation=cloudformation)
    wanted = cfn.stack_parameters(ctx.project, ACCOUNT)
    body = cfn.template_body(ctx.project)
    edited = json.dumps({**json.loads(body), "Description": "edited"})
    with Stubber(cloudformation) as stub:
        stale = {**wanted, "OwnerTeam": "old-team"}
        stub.add_response("describe_stacks", {"Stacks": [stack("UPDATE_COMPLETE", stale)]})
        stub.add_response("describe_stacks", {"Stacks": [stack("CREATE_COMPLETE", wanted)]})
        stub.add_response("get_template", {"TemplateBody": body})
        stub.add_response("describe_stacks", {"Stacks": [stack("CREATE_COMPLETE", wanted)]})
        stub.add_response("get_template", {"TemplateBody": edited})

        assert cfn.stack_step(ctx).inspect(ctx).action == "update"
        assert cfn.stack_step(ctx).inspect(ctx).action == "nothing"
        assert cfn.stack_step(ctx).inspect(ctx).action == "update"


def test_stack_of_another_project_blocks(tmp_path):
    cloudformation = client("cloudformation")
    ctx = context(tmp_path, cloudformation=cloudformation)
    with Stubber(cloudformation) as stub:
        stub.add_response("describe_stacks", {"Stacks": [stack("CREATE_COMPLETE", {}, "other")]})

        finding = cfn.stack_step(ctx).inspect(ctx)

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


def test_group_deletion_removes_every_version_across_pages_then_the_group():
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

        assert removers.delete_model_package_group(sagemaker, SLUG) == 3

        stub.assert_no_pending_responses()


def test_group_deletion_tolerates_a_group_already_gone():
    sagemaker = client("sagemaker")
    with Stubber(sagemaker) as stub:
        stub.add_response("list_model_packages", package_page([]))
        stub.add_client_error(
            "delete_model_package_group",
            service_error_code="ValidationException",
            service_message=f"ModelPackageGroup {SLUG} does not exist.",
        )

        assert removers.delete_model_package_group(sagemaker, SLUG) == 0


def test_a_record_from_another_account_is_refused(tmp_path):
    path = tmp_path / ".mlops-bootstrap.json"
    path.write_text(json.dumps({"format": 1, "account_id": "111111111111", "steps": {}}))
    state = load_state(path)

    with pytest.raises(errors.ConfigError, match="account 111111111111.*account 2222"):
        state.bind_account("222222222222", REGION)


def test_record_is_written_whole_after_each_step(tmp_path):
    path = tmp_path / ".mlops-bootstrap.json"
    state = load_state(path)
    state.bind_account(ACCOUNT, REGION)

    state.record("repository:modelbuild", arn="arn:x", created=True)

    saved = json.loads(path.read_text())
    assert saved["steps"]["repository:modelbuild"]["arn"] == "arn:x"
    assert saved["account_id"] == ACCOUNT
    assert list(tmp_path.iterdir()) == [path]


def test_unreadable_record_says_what_to_do(tmp_path):
    path = tmp_path / ".mlops-bootstrap.json"
    path.write_text("{not json")

    with pytest.raises(errors.ConfigError, match="move it away"):
        load_state(path)


def test_https_remote_configures_the_aws_cli_credential_helper(monkeypatch):
    monkeypatch.delenv("MLOPS_BOOTSTRAP_GIT_REMOTE", raising=False)
    https = remote.remote_for(f"{SLUG}-modelbuild", "eu-west-1", "https")

    host = "https://git-codecommit.eu-west-1.amazonaws.com"
    assert https.url == f"{host}/v1/repos/{SLUG}-modelbuild"
    assert f"credential.{host}.helper=!aws codecommit credential-helper $@" in https.config
    grc = remote.remote_for(f"{SLUG}-modelbuild", "eu-west-1", "grc")
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
    monkeypatch, installed, requested, expected
):
    monkeypatch.delenv("MLOPS_BOOTSTRAP_GIT_REMOTE", raising=False)
    monkeypatch.setattr(remote.shutil, "which", lambda tool: tool if tool in installed else None)

    if expected in ("grc", "https"):
        assert remote.choose_mode(requested) == expected
    else:
        with pytest.raises(errors.ConfigError, match=expected):
            remote.choose_mode(requested)


@pytest.mark.parametrize(
    ("service", "call", "kwargs"),
    [
        ("sts", "get_caller_identity", {}),
        ("codecommit", "get_repository", {"repositoryName": "r"}),
        ("s3", "list_buckets", {}),
    ],
)
@pytest.mark.parametrize(("kind", "code"), [("deny", "AccessDenied"), ("throttle", "Throttling")])
def test_injected_errors_parse_like_real_ones_in_every_protocol(service, call, kwargs, kind, code):
    target = client(service)
    operation = target.meta.method_to_api_mapping[call]
    faults.install(target, faults.parse_faults(f"{operation}:{kind}"))

    with pytest.raises(ClientError) as raised:
        getattr(target, call)(**kwargs)

    assert raised.value.response["Error"]["Code"] == code
    assert "injected by MLOPS_BOOTSTRAP_FAULT" in raised.value.response["Error"]["Message"]
    assert errors.describe_aws_error(raised.value).startswith(
        "access denied" if kind == "deny" else "throttled"
    )


@pytest.mark.parametrize(
    "spec", ["CreateStack", "CreateStack:boom", "Create-Stack:deny", "X:drop:two"]
)
def test_malformed_fault_specs_are_rejected(spec):
    with pytest.raises(errors.ConfigError, match="MLOPS_BOOTSTRAP_FAULT"):
        faults.parse_faults(spec)


def test_someone_elses_origin_is_left_alone(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run(
        ["git", "-C", str(repo), "remote", "add", "origin", "git@elsewhere:x"], check=True
    )

    target = gitrepo.ensure_remote(repo, "origin", "/remotes/x.git")

    assert target == "/remotes/x.git"
    assert gitrepo.run_git(repo, ["remote", "get-url", "origin"]) == "git@elsewhere:x"


def test_the_deploy_repository_is_found_from_any_folder_inside_it(tmp_path):
    deploy = write_deploy_repo(tmp_path)

    assert find_deploy_repo(deploy / "cicd") == deploy
    assert find_deploy_repo(deploy) == deploy
    with pytest.raises(errors.ConfigError, match="pass --deploy-repo"):
        find_deploy_repo(tmp_path)


def test_every_path_comes_from_the_deploy_repository(tmp_path):
    deploy = write_deploy_repo(tmp_path / "work")

    project = load_project(deploy)
    elsewhere = load_project(deploy, tmp_path)

    assert project.project_dir == (tmp_path / "work").resolve()
    assert project.repo_dir("modelbuild") == (tmp_path / "work" / "churn-train").resolve()
    assert project.stack_template == deploy.resolve() / "cicd" / "cicd-stack.yml"
    assert elsewhere.state_file == tmp_path.resolve() / ".mlops-bootstrap.json"
    assert elsewhere.deploy_repo_dir == deploy.resolve()


def test_a_broken_or_missing_stack_template_is_a_named_config_error(tmp_path):
    project = load_project(write_deploy_repo(tmp_path))
    project.stack_template.write_text("Resources: [\n")

    with pytest.raises(errors.ConfigError, match="cicd-stack.yml is not valid YAML"):
        cfn.template_body(project)
    project.stack_template.unlink()
    with pytest.raises(errors.ConfigError, match="cicd-stack.yml cannot be read"):
        cfn.template_body(project)


def test_the_policies_come_from_the_repositorys_own_file(tmp_path):
    project = load_project(write_deploy_repo(tmp_path))

    (statement,) = policy.render(project, ACCOUNT)["bootstrap-and-teardown"]["Statement"]

    assert statement["Resource"] == f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{STACK}/*"
    project.policy_file.write_text('{"p": {"Resource": "${Nowhere}"}}')
    with pytest.raises(errors.ConfigError, match=r"names an unknown value \$\{Nowhere\}"):
        policy.render(project, ACCOUNT)
    project.policy_file.unlink()
    with pytest.raises(errors.ConfigError, match="bootstrap-policy.json cannot be read"):
        policy.render(project, ACCOUNT)


GIT_SECTION = {
    "host": "gitlab",
    "ci": "codepipeline",
    "owner": "data/ml",
    "repositories": {"modelbuild": "build", "modeldeploy": "deploy"},
    "remotes": {"modelbuild": "git@gitlab.com:data/ml/build.git", "modeldeploy": "/tmp/d.git"},
    "connection_arn": "",
}


def _with_git(tmp_path: Path, **changes: Any) -> Path:
    deploy = write_deploy_repo(tmp_path)
    path = deploy / "cicd" / "resources.json"
    data = json.loads(path.read_text())
    data["git"] = {**GIT_SECTION, **changes}
    path.write_text(json.dumps(data))
    return deploy


def test_a_git_section_names_the_host_and_drives_the_stack_parameters(tmp_path):
    project = load_project(_with_git(tmp_path))
    assert project.git_host == "gitlab" and project.git is not None
    assert (
        project.git.provider == "GitLab"
        and project.git.full_name("modeldeploy") == "data/ml/deploy"
    )
    connection_id = "0123abcd-0123-4567-89ab-0123456789ab"
    arn = f"arn:aws:codestar-connections:{REGION}:{ACCOUNT}:connection/{connection_id}"
    parameters = cfn.stack_parameters(project, ACCOUNT, arn)
    assert parameters["ConnectionService"] == "codestar-connections"
    assert parameters["ConnectionId"] == connection_id
    assert parameters["ModelDeployRepositoryName"] == "deploy"
    assert load_project(write_deploy_repo(tmp_path / "plain")).git_host == "codecommit"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"host": "codecommit"}, "git.host must be one of github, gitlab, bitbucket"),
        ({"owner": ""}, "owner not empty"),
        ({"remotes": {"modelbuild": "x"}}, "git.remotes must name both"),
        ({"connection_arn": "arn:aws:s3:::bucket"}, "is not a CodeConnections connection ARN"),
    ],
)
def test_a_broken_git_section_is_a_named_config_error(tmp_path, changes, message):
    with pytest.raises(errors.ConfigError, match=message):
        load_project(_with_git(tmp_path, **changes))


def test_host_remotes_come_from_resources_json_or_the_pattern(tmp_path, monkeypatch):
    git = load_project(_with_git(tmp_path)).git
    assert git is not None
    monkeypatch.delenv(remote.REMOTE_ENV, raising=False)
    assert remote.host_remote(git, "modelbuild").url == "git@gitlab.com:data/ml/build.git"
    monkeypatch.setenv(remote.REMOTE_ENV, "/srv/{repo}.git")
    # The pattern takes the host's repository name, not the local folder's.
    assert remote.host_remote(git, "modeldeploy").url == "/srv/deploy.git"


# ---------------------------------------------------------------- deployment=batch|both


def _with_deployment(tmp_path: Path, **settings: str) -> Context:
    repo = write_deploy_repo(tmp_path)
    resources = repo / "cicd" / "resources.json"
    data = json.loads(resources.read_text())
    data["project"].update(settings)
    resources.write_text(json.dumps(data))
    state = State(tmp_path / ".mlops-bootstrap.json")
    return Context(load_project(repo), FakeAws(), state, ACCOUNT, "custom", io.StringIO())


def test_a_realtime_project_has_no_batch_step(tmp_path):
    assert batch.batch_steps(context(tmp_path)) == []


def test_a_batch_project_deploys_the_batch_stack_after_reading_the_cicd_roles(
    tmp_path, monkeypatch
):
    monkeypatch.delenv(batch.SCHEDULE_STATE_ENV, raising=False)
    ctx = _with_deployment(tmp_path, deployment="batch", batch_schedule="rate(1 day)")
    (step,) = batch.batch_steps(ctx)
    assert (step.key, step.name) == ("batch-stack", f"{SLUG}-cicd-batch")
    roles = {"SageMakerExecutionRoleName": "r1", "CloudFormationRoleName": "r2"}
    parameters = batch.stack_parameters(ctx.project, "bucket-1", roles)
    assert parameters["BatchScheduleExpression"] == "rate(1 day)"
    assert parameters["BatchScheduleState"] == "ENABLED"
    assert parameters["ProdEndpointName"] == f"{SLUG}-prod-endpoint"
    assert parameters["SageMakerPipelineArnName"] == f"{SLUG}-training"
    monkeypatch.setenv(batch.SCHEDULE_STATE_ENV, "DISABLED")
    assert batch.stack_parameters(ctx.project, "b", roles)["BatchScheduleState"] == "DISABLED"
    monkeypatch.setenv(batch.SCHEDULE_STATE_ENV, "off")
    with pytest.raises(errors.ConfigError, match="use ENABLED or DISABLED"):
        batch.stack_parameters(ctx.project, "b", roles)


def test_an_unknown_deployment_in_resources_json_is_refused(tmp_path):
    ctx = _with_deployment(tmp_path, deployment="Batch")
    with pytest.raises(errors.ConfigError, match="project.deployment is 'Batch'"):
        batch.batch_steps(ctx)
