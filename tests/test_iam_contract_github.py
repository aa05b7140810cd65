"""IAM contract of the GitHub Actions roles (ci=github-actions): every call their workflows make,
nothing more, and only the right repository, branch or environment may assume them.

Each job of .github/workflows/build.yml and deploy.yml runs its ``run:`` steps against a moto
server under the call recorder (tests/iam_contract/workflows.py), with the variables
``mlops-bootstrap`` prints for the repositories; the job's ``role-to-assume`` names the role of
cicd/github-actions-stack.yml its calls are checked against. The model-approval trigger's role is
checked against the rule that names it.
"""

from __future__ import annotations

import copy
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from bootstrap_stand_in import stand_in
from conftest import render_project
from iam_contract import codebuild, workflows
from iam_contract.api_calls import to_requests
from iam_contract.codebuild import CodeBuildProject, World
from iam_contract.evaluator import IamRequest, Principal, denials, simulate, unused_actions
from iam_contract.project import cicd_stack, deploy_repo
from iam_contract.recorder import ApiCall, CallRecorder
from iam_contract.services import rule_target_requests
from iam_contract.stack import DeployedStack, arn_of, physical_id, resource_policies, roles
from mlops_toolkit.bootstrap import github_actions
from mlops_toolkit.bootstrap.project import load_project

OWNER = "example-org"
WORKFLOW_ROLES = ("ModelBuildWorkflowRole", "StagingDeployWorkflowRole", "ProdDeployWorkflowRole")
# The jobs each role serves, found through the jobs' role-to-assume.
JOBS = {
    "ModelBuildWorkflowRole": ("build.yml", ("run-pipeline",)),
    "StagingDeployWorkflowRole": ("deploy.yml", ("build", "deploy-staging", "test-staging")),
    "ProdDeployWorkflowRole": ("deploy.yml", ("deploy-prod",)),
}
# What describe-stacks answers before each deployment: absent, in place, or a failed create.
STAGING_STATES = (workflows.NO_STACK, "UPDATE_COMPLETE", "ROLLBACK_COMPLETE")
PROD_STATES = (workflows.NO_STACK, "UPDATE_COMPLETE")
OIDC = "token.actions.githubusercontent.com"


@dataclass(frozen=True)
class Recorded:
    cicd: DeployedStack
    stack: DeployedStack
    calls: dict[str, tuple[ApiCall, ...]]
    denied: dict[str, tuple[ApiCall, ...]]
    job_roles: dict[tuple[str, str], str]

    def requests(self, role: str) -> list[IamRequest]:
        return to_requests(self.calls[role], self.stack.account, f"{role}'s workflow")

    def denied_requests(self, role: str) -> list[IamRequest]:
        return to_requests(self.denied[role], self.stack.account, f"{role}'s workflow")


def cicd_outputs(cicd: DeployedStack) -> dict[str, str]:
    resources = cicd.resources
    return {
        "ArtifactBucketName": cicd.parameters["ArtifactBucketName"],
        "SageMakerExecutionRoleArn": arn_of(
            cicd, "SageMakerExecutionRole", resources["SageMakerExecutionRole"]
        ),
        "CloudFormationRoleArn": arn_of(
            cicd, "CloudFormationRole", resources["CloudFormationRole"]
        ),
        "NotificationTopicArn": physical_id(
            cicd, "NotificationTopic", resources["NotificationTopic"]
        ),
    }


def github_stack(project_dir: Path, cicd: DeployedStack, token: str) -> DeployedStack:
    project = load_project(deploy_repo(project_dir))
    parameters = github_actions.stack_parameters(project, cicd_outputs(cicd), True, token)
    return DeployedStack.load(
        deploy_repo(project_dir) / "cicd" / github_actions.TEMPLATE_NAME,
        github_actions.stack_name(project),
        cicd.region,
        cicd.account,
        parameters,
    )


def variables(project_dir: Path, cicd: DeployedStack, stack: DeployedStack) -> dict[str, Any]:
    project = load_project(deploy_repo(project_dir))
    outputs = {
        key: str(stack.resolve(output["Value"]))
        for key, output in stack.template["Outputs"].items()
    }
    return github_actions.repository_variables(project, cicd_outputs(cicd), outputs)


def render_github_project(root: Path) -> Path:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLOPS_TEMPLATE_BOOTSTRAP", "no")
        return render_project(root / "out", git_host="github", ci="github-actions", git_owner=OWNER)


SECRET = (
    f"arn:aws:secretsmanager:us-east-1:123456789012:secret:{'x' * 8}/github-dispatch-token-AbCdEf"
)


def record(project_dir: Path, workdir: Path) -> Recorded:
    cicd = cicd_stack(project_dir)
    stack = github_stack(project_dir, cicd, SECRET)
    by_repo = variables(project_dir, cicd, stack)
    (build_repo,) = project_dir.glob("*-modelbuild")
    repo = deploy_repo(project_dir)
    build_vars = next(v for k, v in by_repo.items() if k.endswith(build_repo.name))
    deploy_vars = next(v for k, v in by_repo.items() if k.endswith(repo.name))
    prod_vars = next(v for k, v in by_repo.items() if k.endswith("environment production"))
    build_jobs = workflows.jobs(
        workflows.load(build_repo / ".github/workflows/build.yml"), lambda env: build_vars
    )
    deploy_jobs = workflows.jobs(
        workflows.load(repo / ".github/workflows/deploy.yml"),
        lambda env: deploy_vars | (prod_vars if env == "production" else {}),
    )
    role_by_arn = {principal.arn: name for name, principal in roles(stack).items()}
    job_roles = {("build.yml", name): role_by_arn[job.role_arn] for name, job in build_jobs.items()}
    job_roles |= {
        ("deploy.yml", name): role_by_arn[job.role_arn] for name, job in deploy_jobs.items()
    }

    recorder = CallRecorder(workdir / "recorder")
    stub_module = _runtime_stub(repo)
    stub = stub_module.RuntimeStub()
    calls: dict[str, list[ApiCall]] = {role: [] for role in WORKFLOW_ROLES}
    try:
        with stand_in() as server:
            server.reset()
            world = World(server.url, stack.account, stack.region, server.client)
            base = codebuild.base_environment(world)
            build_runner = workflows.Runner.create(
                build_repo,
                workdir / "build",
                recorder,
                base | {"PYTHONPATH": str(build_repo / "src")},
            )
            build_runner.add_console_scripts(_entry_points(build_repo))
            build_job = build_jobs["run-pipeline"]
            codebuild.prepare_model_build(
                world, CodeBuildProject("", "", "", "", build_job.environment, ())
            )
            deny = {f"iam:{a.split(':')[1]}" for a in codebuild.MODEL_BUILD_TOLERATED}
            for label in ("first", "later"):
                if label == "later":
                    codebuild.approve_a_version_with_baselines(
                        world,
                        cicd.parameters["ModelPackageGroupName"],
                        cicd.parameters["SageMakerPipelineName"],
                        build_job.environment["ARTIFACT_BUCKET"],
                    )
                recorded, _ = build_runner.run(build_job, f"build-{label}", deny=deny)
                calls[job_roles[("build.yml", "run-pipeline")]] += recorded

            runner = workflows.Runner.create(repo, workdir / "deploy", recorder, base)
            build = deploy_jobs["build"]
            recorded, cli = runner.run(build, "deploy-build")
            calls[job_roles[("deploy.yml", "build")]] += recorded + workflows.cli_calls(
                cli, runner.repo, build.environment, stack.region
            )
            for state in STAGING_STATES:
                job = deploy_jobs["deploy-staging"]
                recorded, cli = runner.run(
                    job, f"staging-{state}", {"AWS_STUB_STACK_STATUS": state}
                )
                calls[job_roles[("deploy.yml", "deploy-staging")]] += (
                    recorded + workflows.cli_calls(cli, runner.repo, job.environment, stack.region)
                )
            codebuild.create_staging_endpoint(
                world,
                cicd.parameters["StagingEndpointName"],
                deploy_vars["MODEL_EXECUTION_ROLE_ARN"],
                deploy_vars["ARTIFACT_BUCKET"],
            )
            test = deploy_jobs["test-staging"]
            recorded, _ = runner.run(
                test,
                "test-staging",
                {"AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": stub.url_for(stub_module.CORRECT)},
            )
            calls[job_roles[("deploy.yml", "test-staging")]] += recorded
            for state in PROD_STATES:
                job = deploy_jobs["deploy-prod"]
                recorded, cli = runner.run(job, f"prod-{state}", {"AWS_STUB_STACK_STATUS": state})
                calls[job_roles[("deploy.yml", "deploy-prod")]] += recorded + workflows.cli_calls(
                    cli, runner.repo, job.environment, stack.region
                )
    finally:
        stub.close()
    return Recorded(
        cicd,
        stack,
        {role: tuple(c for c in found if not c.denied) for role, found in calls.items()},
        {role: tuple(c for c in found if c.denied) for role, found in calls.items()},
        job_roles,
    )


def _entry_points(repo: Path) -> dict[str, str]:
    pyproject = tomllib.loads((repo / "pyproject.toml").read_text(encoding="utf-8"))
    return dict(pyproject["project"]["scripts"])


def _runtime_stub(repo: Path) -> Any:
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location(
        "deploy_runtime_stub_github", repo / "tests" / "runtime_stub.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Recorded:
    root = tmp_path_factory.mktemp("iam-github")
    return record(render_github_project(root), root / "work")


def contract_failures(
    recorded: Recorded, role: str, principal: Principal | None = None
) -> list[str]:
    principal = principal or roles(recorded.stack)[role]
    requests = recorded.requests(role)
    failures = denials(principal, requests, resource_policies(recorded.stack))
    tolerated = {action.lower() for action in codebuild.MODEL_BUILD_TOLERATED}
    failures += [
        f"{role} grants {action}, which no workflow step needs"
        for action in sorted(
            unused_actions(principal.policies, [*requests, *recorded.denied_requests(role)])
        )
        if action not in tolerated
    ]
    failures += [
        f"{role} is granted {decision.request.describe()}, which the account keeps denied"
        for decision in simulate(principal, recorded.denied_requests(role))
        if decision.allowed
    ]
    return failures


# ------------------------------------------------------------------- the contract


@pytest.mark.parametrize("role", WORKFLOW_ROLES)
def test_workflow_role_allows_exactly_its_jobs_work(recorded: Recorded, role: str) -> None:
    assert contract_failures(recorded, role) == []


def test_each_job_assumes_the_role_meant_for_it(recorded: Recorded) -> None:
    expected = {(workflow, job): role for role, (workflow, names) in JOBS.items() for job in names}
    assert recorded.job_roles == expected


def test_the_recorded_work_is_the_jobs_own(recorded: Recorded) -> None:
    operations = {
        role: {(call.service, call.operation) for call in calls}
        for role, calls in recorded.calls.items()
    }
    assert {("sagemaker", "StartPipelineExecution"), ("s3", "PutObject")} <= operations[
        "ModelBuildWorkflowRole"
    ]
    assert {
        ("sagemaker", "ListModelPackages"),
        ("cloudformation", "CreateChangeSet"),
        ("cloudformation", "DeleteStack"),
        ("sagemaker", "DescribeEndpoint"),
    } <= operations["StagingDeployWorkflowRole"]
    assert {call.params.get("StackName") for call in recorded.calls["ProdDeployWorkflowRole"]} == {
        recorded.cicd.parameters["ProdStackName"]
    }


def test_the_dispatch_role_may_only_call_the_destination(recorded: Recorded) -> None:
    principal = roles(recorded.stack)["GitHubDispatchRole"]
    requests = rule_target_requests(recorded.stack, principal.arn)
    assert [request.action for request in requests] == ["events:InvokeApiDestination"]
    assert denials(principal, requests) == []
    assert unused_actions(principal.policies, requests) == set()
    other = replace(
        requests[0], resource=requests[0].resource.replace("api-destination/", "api-destination/x")
    )
    assert denials(principal, [other]) != []


# ------------------------------------------------------------------- mutations


def _statements(principal: Principal) -> list[tuple[str, list[str]]]:
    found = []
    for policy in principal.policies:
        for statement in policy["Statement"]:
            actions = statement["Action"]
            found.append((statement["Sid"], actions if isinstance(actions, list) else [actions]))
    return found


def _without_statement(principal: Principal, sid: str) -> Principal:
    policies = copy.deepcopy(list(principal.policies))
    for policy in policies:
        policy["Statement"] = [s for s in policy["Statement"] if s.get("Sid") != sid]
    return replace(principal, policies=tuple(policies))


def _mutations() -> list[tuple[str, str]]:
    """Every statement of every workflow role (the template's own, read without rendering)."""
    import yaml

    template = Path(__file__).resolve().parents[1] / (
        "{{cookiecutter.project_slug}}/{{cookiecutter.project_slug}}-modeldeploy/cicd/"
        + github_actions.TEMPLATE_NAME
    )

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("!", lambda loader, tag, node: None)
    resources = yaml.load(template.read_text(encoding="utf-8"), Loader=Loader)["Resources"]
    return [
        (role, statement["Sid"])
        for role in WORKFLOW_ROLES
        for policy in resources[role]["Properties"]["Policies"]
        for statement in policy["PolicyDocument"]["Statement"]
    ]


@pytest.mark.parametrize(("role", "sid"), _mutations())
def test_dropping_any_statement_is_a_named_failure(recorded: Recorded, role: str, sid: str) -> None:
    principal = roles(recorded.stack)[role]
    actions = dict(_statements(principal))[sid]
    failures = contract_failures(recorded, role, _without_statement(principal, sid))
    assert any(
        line.startswith(f"{role} may not {action} on ") for line in failures for action in actions
    ), failures


@pytest.mark.parametrize("role", WORKFLOW_ROLES)
def test_an_extra_action_is_a_named_failure(recorded: Recorded, role: str) -> None:
    principal = roles(recorded.stack)[role]
    extra = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "sagemaker:DeletePipeline", "Resource": "*"}],
    }
    failures = contract_failures(
        recorded, role, replace(principal, policies=(*principal.policies, extra))
    )
    assert f"{role} grants sagemaker:deletepipeline, which no workflow step needs" in failures


# ------------------------------------------------------------------- who may assume each role
#
# IAM matches `<provider>:sub` and `:aud` for every OIDC provider, but the Service Authorization
# Reference the evaluator validates against lists, for GitHub's provider, only the claim keys
# (`:repository`, `:ref`, `:environment`, ...): it drops `:sub` and `:aud` from a request, so it
# cannot judge the trust policies as written. So the tests check them in two parts: the exact
# condition (audience STS, subject as GitHub builds it: `repo:<owner>/<repo>:ref:<ref>` or
# `repo:<owner>/<repo>:environment:<name>`), and the evaluator's decision for tokens of other
# repositories, branches and environments on the same policy with the subject spelled as the
# claims it is made of.

ASSUMERS = {
    "ModelBuildWorkflowRole": ("build", "ref", "refs/heads/main"),
    "StagingDeployWorkflowRole": ("deploy", "ref", "refs/heads/main"),
    "ProdDeployWorkflowRole": ("deploy", "environment", "production"),
}


def _repositories(recorded: Recorded) -> dict[str, str]:
    parameters = recorded.stack.parameters
    return {
        "build": f"{OWNER}/{parameters['ModelBuildRepositoryName']}",
        "deploy": f"{OWNER}/{parameters['ModelDeployRepositoryName']}",
    }


def _trust(recorded: Recorded, role: str) -> dict[str, Any]:
    resource = recorded.stack.resources[role]
    return recorded.stack.resolve(resource["Properties"]["AssumeRolePolicyDocument"])


@pytest.mark.parametrize("role", WORKFLOW_ROLES)
def test_trust_pins_the_audience_and_the_subject(recorded: Recorded, role: str) -> None:
    repo, kind, value = ASSUMERS[role]
    (statement,) = _trust(recorded, role)["Statement"]
    assert statement["Principal"] == {
        "Federated": github_actions.oidc_provider_arn(recorded.stack.account)
    }
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Condition"] == {
        "StringEquals": {
            f"{OIDC}:aud": "sts.amazonaws.com",
            f"{OIDC}:sub": f"repo:{_repositories(recorded)[repo]}:{kind}:{value}",
        }
    }


def _as_claims(document: dict[str, Any]) -> dict[str, Any]:
    """The trust policy with its subject condition spelled as the claims GitHub builds it from."""
    document = copy.deepcopy(document)
    for statement in document["Statement"]:
        equals = statement["Condition"]["StringEquals"]
        del equals[f"{OIDC}:aud"]
        repository, kind, value = _split_subject(equals.pop(f"{OIDC}:sub"))
        equals[f"{OIDC}:repository"] = repository
        equals[f"{OIDC}:{kind}"] = value
    return document


def _split_subject(subject: str) -> tuple[str, str, str]:
    prefix, repository, kind, value = subject.split(":", 3)
    assert prefix == "repo" and kind in ("ref", "environment"), subject
    return repository, kind, value


def _may_assume(recorded: Recorded, role: str, claims: dict[str, str]) -> bool:
    principal = roles(recorded.stack)[role]
    trust = {principal.arn: _as_claims(_trust(recorded, role))}
    provider = github_actions.oidc_provider_arn(recorded.stack.account)
    caller = Principal("github-oidc", provider, recorded.stack.account, ())
    context = {f"{OIDC}:{key}": value for key, value in claims.items()}
    request = IamRequest("sts:AssumeRoleWithWebIdentity", principal.arn, f"a {role} job", context)
    return denials(caller, [request], trust) == []


@pytest.mark.parametrize("role", WORKFLOW_ROLES)
def test_only_its_repository_branch_or_environment_may_assume_the_role(
    recorded: Recorded, role: str
) -> None:
    repositories = _repositories(recorded)
    repo, kind, value = ASSUMERS[role]
    own = repositories[repo]
    other = repositories["deploy" if repo == "build" else "build"]
    job = {"repository": own, "ref": "refs/heads/main"}
    if kind == "environment":
        job["environment"] = value
    assert _may_assume(recorded, role, job)
    refused = [
        {**job, "repository": other},
        {**job, "repository": f"someone-else/{own.split('/')[1]}"},
        {**job, "ref": "refs/heads/feature"}
        if kind == "ref"
        else {**job, "environment": "staging"},
        {**job, "ref": "refs/pull/1/merge"}
        if kind == "ref"
        else {"repository": own, "ref": "refs/heads/main"},
    ]
    for claims in refused:
        assert not _may_assume(recorded, role, claims), claims
