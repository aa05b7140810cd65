"""A third-party git host with CodePipeline (git_host=github|gitlab|bitbucket, ci=codepipeline):
what the answers write, the CI/CD stack those answers deploy, and its roles under the IAM contract.

The stack file is the same for every host; the bootstrap's parameters choose CodeCommit or a
CodeConnections connection. Each host is rendered once; the stack is resolved as CloudFormation
would with the bootstrap's parameters (iam_contract.stack), for a connection ARN of either prefix.
"""

from __future__ import annotations

import copy
import json
import os
import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from conftest import render_project
from iam_contract.evaluator import IamRequest, Principal, denials, unused_actions
from iam_contract.project import ACCOUNT, deploy_repo
from iam_contract.services import codepipeline_requests, rule_target_requests
from iam_contract.stack import DeployedStack, resource_policies, roles
from mlops_toolkit.bootstrap.project import load_project
from mlops_toolkit.bootstrap.stack import stack_parameters

from mlops_template.resources_file import resources_data

pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse AWS:UserWarning")

HOSTS = {
    "github": {"git_owner": "octo-org", "modeldeploy_repository": "Abalone.Deploy"},
    "gitlab": {"git_owner": "data-science/ml-projects"},
    "bitbucket": {"git_owner": "acme_ml", "modelbuild_repository": "abalone_build"},
}
CONNECTION_ID = "0123abcd-0123-4567-89ab-0123456789ab"
CONNECTIONS = {
    "codeconnections": f"arn:aws:codeconnections:us-east-1:{ACCOUNT}:connection/{CONNECTION_ID}",
    # Connections made before the 2024 rename keep the old prefix, and IAM its action name.
    "codestar-connections": (
        f"arn:aws:codestar-connections:us-east-1:{ACCOUNT}:connection/{CONNECTION_ID}"
    ),
}
BASE_ANSWERS = {
    "project_name": "Abalone",
    "project_slug": "abalone",
    "description": "d",
    "aws_region": "us-east-1",
    "owner_team": "ml",
    "pipeline_name": "abalone",
    "model_package_group_name": "abalone",
}


@pytest.fixture(scope="module")
def projects(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    saved = os.environ.get("MLOPS_TEMPLATE_BOOTSTRAP")
    os.environ["MLOPS_TEMPLATE_BOOTSTRAP"] = "no"
    try:
        yield {
            host: render_project(tmp_path_factory.mktemp(host), git_host=host, **answers)
            for host, answers in HOSTS.items()
        }
    finally:
        if saved is None:
            os.environ.pop("MLOPS_TEMPLATE_BOOTSTRAP")
        else:
            os.environ["MLOPS_TEMPLATE_BOOTSTRAP"] = saved


def deployed(project: Path, connection: str) -> DeployedStack:
    loaded = load_project(deploy_repo(project), project)
    return DeployedStack.load(
        loaded.stack_template,
        name=loaded.names["cicd_stack"],
        region=loaded.region,
        account=ACCOUNT,
        parameters=stack_parameters(loaded, ACCOUNT, connection),
    )


# ---------------------------------------------------------------- what the answers write


def test_codecommit_answers_write_resources_json_as_before_hosts() -> None:
    """The default output is unchanged: no git section, whatever the unused answers say."""
    before = resources_data(BASE_ANSWERS)
    answered = resources_data(
        {
            **BASE_ANSWERS,
            "git_host": "codecommit",
            "ci": "codepipeline",
            "git_owner": "",
            "modelbuild_repository": "elsewhere",
            "modeldeploy_repository": "abalone-modeldeploy",
        }
    )
    assert answered == before
    assert set(before) == {"_comment", "project", "names"}


@pytest.mark.parametrize("host", sorted(HOSTS))
def test_a_third_party_host_is_recorded_for_the_bootstrap(projects, host) -> None:
    project = projects[host]
    resources = json.loads((deploy_repo(project) / "cicd/resources.json").read_text())
    git = resources["git"]
    owner = HOSTS[host]["git_owner"]
    build = HOSTS[host].get("modelbuild_repository", f"{project.name}-modelbuild")
    deploy = HOSTS[host].get("modeldeploy_repository", f"{project.name}-modeldeploy")
    base = {
        "github": "https://github.com",
        "gitlab": "https://gitlab.com",
        "bitbucket": "https://bitbucket.org",
    }[host]
    assert git == {
        "host": host,
        "ci": "codepipeline",
        "owner": owner,
        "repositories": {"modelbuild": build, "modeldeploy": deploy},
        "remotes": {
            "modelbuild": f"{base}/{owner}/{build}.git",
            "modeldeploy": f"{base}/{owner}/{deploy}.git",
        },
        "connection_arn": "",
    }
    loaded = load_project(deploy_repo(project), project)
    assert loaded.git_host == host
    assert loaded.git is not None and loaded.git.full_name("modeldeploy") == f"{owner}/{deploy}"
    # The local folders keep the project's names whatever the host calls the repositories.
    assert loaded.repo_dir("modelbuild").is_dir() and loaded.repo_dir("modeldeploy").is_dir()


# ---------------------------------------------------------------- the stack they deploy


def _source_action(stack: DeployedStack, pipeline: str) -> dict[str, Any]:
    properties = stack.resolve(stack.resources[pipeline]["Properties"])
    (source,) = properties["Stages"][0]["Actions"]
    return source


@pytest.mark.parametrize("host", sorted(HOSTS))
def test_the_pipelines_read_the_host_through_the_connection_on_push_to_main(projects, host):
    stack = deployed(projects[host], CONNECTIONS["codeconnections"])
    loaded = load_project(deploy_repo(projects[host]), projects[host])
    assert loaded.git is not None
    for pipeline, repo in (
        ("ModelBuildPipeline", "modelbuild"),
        ("ModelDeployPipeline", "modeldeploy"),
    ):
        source = _source_action(stack, pipeline)
        assert source["ActionTypeId"]["Provider"] == "CodeStarSourceConnection"
        assert source["Configuration"] == {
            "ConnectionArn": CONNECTIONS["codeconnections"],
            "FullRepositoryId": loaded.git.full_name(repo),
            "BranchName": "main",
            "OutputArtifactFormat": "CODE_ZIP",
        }
        properties = stack.resolve(stack.resources[pipeline]["Properties"])
        assert properties["PipelineType"] == "V2"
        assert properties["Triggers"] == [
            {
                "ProviderType": "CodeStarSourceConnection",
                "GitConfiguration": {
                    "SourceActionName": source["Name"],
                    "Push": [{"Branches": {"Includes": ["main"]}}],
                },
            }
        ]
    created = stack.created()
    # CodeCommit's push rules are not created; the approval rule still starts the deploy.
    assert "ModelBuildPushRule" not in created and "ModelDeployPushRule" not in created
    assert "ModelApprovalRule" in created


def test_codecommit_keeps_its_source_actions_and_push_rules(tmp_path) -> None:
    project = render_project(tmp_path, project_slug="abalone")
    stack = deployed(project, "")
    assert stack.parameters["GitHost"] == "codecommit"
    for pipeline in ("ModelBuildPipeline", "ModelDeployPipeline"):
        assert _source_action(stack, pipeline)["ActionTypeId"]["Provider"] == "CodeCommit"
        assert "Triggers" not in stack.resolve(stack.resources[pipeline]["Properties"])
    assert {"ModelBuildPushRule", "ModelDeployPushRule"} <= set(stack.created())


@pytest.mark.parametrize("service", sorted(CONNECTIONS))
def test_the_connection_arn_comes_back_whole_from_its_two_parameters(projects, service):
    stack = deployed(projects["github"], CONNECTIONS[service])
    assert stack.parameters["ConnectionService"] == service
    assert stack.parameters["ConnectionId"] == CONNECTION_ID
    source = _source_action(stack, "ModelBuildPipeline")
    assert source["Configuration"]["ConnectionArn"] == CONNECTIONS[service]


@pytest.mark.parametrize("host", sorted(HOSTS))
def test_every_parameter_the_bootstrap_passes_meets_the_templates_constraints(projects, host):
    stack = deployed(projects[host], CONNECTIONS["codeconnections"])
    for name, spec in stack.template["Parameters"].items():
        value = stack.parameters[name]
        if "AllowedValues" in spec:
            assert value in spec["AllowedValues"], name
        if "AllowedPattern" in spec:
            assert re.fullmatch(spec["AllowedPattern"].strip("^$"), value) or re.fullmatch(
                spec["AllowedPattern"], value
            ), name
        assert spec.get("MinLength", 0) <= len(value) <= spec.get("MaxLength", 4096), name


# ---------------------------------------------------------------- the IAM contract


def over_tls(requests: list[IamRequest]) -> list[IamRequest]:
    # The artifact bucket's policy refuses S3 requests without TLS, which AWS's services use.
    return [
        replace(r, context={**r.context, "aws:SecureTransport": "true"})
        if r.action.startswith("s3:")
        else r
        for r in requests
    ]


def _work(stack: DeployedStack, role: str) -> tuple[Principal, list[IamRequest]]:
    principal = roles(stack)[role]
    if role == "CodePipelineRole":
        return principal, over_tls(codepipeline_requests(stack, principal.arn))
    return principal, rule_target_requests(stack, principal.arn)


@pytest.mark.parametrize("service", sorted(CONNECTIONS))
@pytest.mark.parametrize("host", sorted(HOSTS))
@pytest.mark.parametrize("role", ["CodePipelineRole", "EventBridgeRole"])
def test_the_roles_allow_exactly_their_work_on_every_host(projects, host, service, role):
    stack = deployed(projects[host], CONNECTIONS[service])
    principal, work = _work(stack, role)
    assert denials(principal, work, resource_policies(stack)) == []
    assert unused_actions(principal.policies, work) == set()


def test_the_pipeline_role_uses_the_connection_and_reads_no_codecommit(projects):
    stack = deployed(projects["gitlab"], CONNECTIONS["codeconnections"])
    principal, work = _work(stack, "CodePipelineRole")
    uses = [r for r in work if r.action.endswith(":UseConnection")]
    assert {(r.action, r.resource) for r in uses} == {
        ("codeconnections:UseConnection", CONNECTIONS["codeconnections"])
    }
    granted = json.dumps(principal.policies)
    assert "codecommit:" not in granted and "codestar-connections:" not in granted


def _without_statement(principal: Principal, sid: str) -> Principal:
    policies = copy.deepcopy(list(principal.policies))
    for policy in policies:
        policy["Statement"] = [s for s in policy["Statement"] if s.get("Sid") != sid]
    return replace(principal, policies=tuple(policies))


@pytest.mark.parametrize("service", sorted(CONNECTIONS))
def test_taking_the_connection_grant_away_is_a_named_failure(projects, service):
    stack = deployed(projects["bitbucket"], CONNECTIONS[service])
    principal, work = _work(stack, "CodePipelineRole")
    refused = denials(
        _without_statement(principal, "ReadSourceThroughConnection"), work, resource_policies(stack)
    )
    expected = f"CodePipelineRole may not {service}:UseConnection on {CONNECTIONS[service]}"
    assert any(line.startswith(expected) for line in refused), refused


def test_a_grant_under_the_other_prefix_does_not_reach_the_connection(projects):
    """IAM matches the action's prefix to the ARN's: the stack must pick the right one."""
    old = deployed(projects["github"], CONNECTIONS["codestar-connections"])
    new = deployed(projects["github"], CONNECTIONS["codeconnections"])
    old_role, old_work = _work(old, "CodePipelineRole")
    new_role, _ = _work(new, "CodePipelineRole")
    swapped = replace(new_role, arn=old_role.arn)
    refused = denials(swapped, old_work, resource_policies(old))
    assert any("codestar-connections:UseConnection" in line for line in refused), refused


def test_a_grant_to_start_the_build_pipeline_from_eventbridge_is_unused_with_a_connection(projects):
    stack = deployed(projects["github"], CONNECTIONS["codeconnections"])
    principal, work = _work(stack, "EventBridgeRole")
    # Only CodeCommit's push rule starts the model-build pipeline through EventBridge.
    assert {r.resource.rsplit(":", 1)[1] for r in work} == {
        stack.parameters["ModelDeployPipelineName"]
    }
    granted = json.dumps(principal.policies)
    assert stack.parameters["ModelBuildPipelineName"] + '"' not in granted


def _tree(root: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() and ".git" not in path.parts
    }


def test_a_host_changes_only_what_the_bootstrap_reads(projects, tmp_path):
    """One template, no forked copies: apart from resources.json, the bootstrap's IAM policies
    and cicd/README.md, every file (generated suites included) is the CodeCommit project's."""
    saved = os.environ.get("MLOPS_TEMPLATE_BOOTSTRAP")
    os.environ["MLOPS_TEMPLATE_BOOTSTRAP"] = "no"
    try:
        default = render_project(tmp_path, project_slug=projects["gitlab"].name)
    finally:
        if saved is None:
            os.environ.pop("MLOPS_TEMPLATE_BOOTSTRAP")
        else:
            os.environ["MLOPS_TEMPLATE_BOOTSTRAP"] = saved
    hosted, plain = _tree(projects["gitlab"]), _tree(default)
    assert sorted(hosted) == sorted(plain)
    deploy = f"{default.name}-modeldeploy/cicd"
    assert [name for name in plain if plain[name] != hosted[name]] == [
        f"{deploy}/README.md",
        f"{deploy}/bootstrap-policy.json",
        f"{deploy}/resources.json",
    ]
