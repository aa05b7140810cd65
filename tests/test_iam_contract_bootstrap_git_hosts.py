"""IAM contract of whoever runs ``mlops-bootstrap`` for a project on a third-party git host
(git_host=github, ci=codepipeline): the rendered ``cicd/bootstrap-policy.json`` allows every call
bootstrap and teardown make (CodeConnections through tests/connections_fake.py, the rest on the
moto server) and every stack handler's permission, the connection passed to CodePipeline
included, and grants nothing else: no CodeCommit at all.

The runs: a first bootstrap (creates the connection, waits for its handshake), one with nothing
to do, one after the record was lost (finds its connection by name and tag), one that updates the
stack; then teardown (dry run, then for real, deleting the connection it created).
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import replace
from typing import Any

import pytest
from bootstrap_stand_in import bootstrap_env, copy_project, stand_in
from conftest import render_project
from connections_fake import connections_fake
from iam_contract.evaluator import IamRequest
from iam_contract.handlers import handler_work
from iam_contract.project import ACCOUNT, deploy_repo
from iam_contract.recorder import ApiCall, CallRecorder
from iam_contract.stack import DeployedStack, resource_policies
from mlops_toolkit.bootstrap import policy
from mlops_toolkit.bootstrap.project import load_project
from mlops_toolkit.bootstrap.stack import stack_parameters
from test_bootstrap_cli import simulate_ci_cd
from test_iam_contract_bootstrap import BootstrapWork, _run, _without, failures

pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse AWS:UserWarning")

HOST_REPOSITORIES = ("abalone-age-predictor-modelbuild", "abalone-age-predictor-modeldeploy")


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> BootstrapWork:
    root = tmp_path_factory.mktemp("iam-bootstrap-github")
    saved = os.environ.get("MLOPS_TEMPLATE_BOOTSTRAP")
    os.environ["MLOPS_TEMPLATE_BOOTSTRAP"] = "no"
    try:
        seed = render_project(root / "seed", git_host="github", git_owner="octo-org")
    finally:
        if saved is None:
            os.environ.pop("MLOPS_TEMPLATE_BOOTSTRAP")
        else:
            os.environ["MLOPS_TEMPLATE_BOOTSTRAP"] = saved
    recorder = CallRecorder(root / "recorder")
    with stand_in() as aws, connections_fake() as fake:
        aws.reset()
        fake.handshake_after_reads = 1
        project = copy_project(seed, root / seed.name)
        remotes = root / "github"
        for name in HOST_REPOSITORIES:
            subprocess.run(["git", "init", "--bare", "--quiet", str(remotes / f"{name}.git")])
        env = bootstrap_env(aws, remotes) | fake.environment()
        env["MLOPS_BOOTSTRAP_CONNECTION_POLL_SECONDS"] = "0.05"
        calls: list[ApiCall] = []
        calls += _run(project, recorder, env, ("bootstrap", "--yes"), root / "b0.jsonl")
        calls += _run(project, recorder, env, ("bootstrap", "--yes"), root / "b1.jsonl")
        (project / ".mlops-bootstrap.json").rename(root / "record.json")
        calls += _run(project, recorder, env, ("bootstrap", "--yes"), root / "b2.jsonl")
        update = env | {"MLOPS_RETRAIN_SCHEDULE_STATE": "ENABLED"}
        calls += _run(project, recorder, update, ("bootstrap", "--yes"), root / "b3.jsonl")
        (connection,) = fake.connections.values()
        tags = {connection.arn: connection.tags}
        simulate_ci_cd(aws, project, env)
        for index, args in enumerate([("teardown", "--dry-run"), ("teardown", "--yes")]):
            calls += _run(project, recorder, env, args, root / f"t{index}.jsonl")
        assert fake.connections == {}
    loaded = load_project(deploy_repo(seed), seed)
    stack = DeployedStack.load(
        loaded.stack_template,
        name=loaded.names["cicd_stack"],
        region=loaded.region,
        account=ACCOUNT,
        parameters=stack_parameters(loaded, ACCOUNT, connection.arn),
    )
    handlers = handler_work(stack)
    work = BootstrapWork(
        calls,
        [],  # pushes go to GitHub with the user's git credentials: no AWS permission
        handlers.requests,
        handlers.unmatched,
        policy.render(loaded, ACCOUNT),
        stack.region,
        resource_policies(stack),
    )
    return _with_resource_tags(work, tags)


def _with_resource_tags(work: BootstrapWork, tags: dict[str, list[dict[str, str]]]) -> Any:
    """The tags AWS sees on the connection each request names (the recorder only knows the
    request's parameters): what the policy's aws:ResourceTag condition is checked against."""

    class Tagged(BootstrapWork):
        def requests(self) -> list[IamRequest]:
            return [_tagged(request, tags) for request in super().requests()]

    return Tagged(**{field: getattr(work, field) for field in work.__dataclass_fields__})


def _tagged(request: IamRequest, tags: dict[str, list[dict[str, str]]]) -> IamRequest:
    if request.resource not in tags:
        return request
    context = {f"aws:ResourceTag/{t['Key']}": t["Value"] for t in tags[request.resource]}
    return replace(request, context={**request.context, **context})


def test_the_policies_allow_exactly_bootstrap_teardown_and_the_stack_handlers(work) -> None:
    found = failures(work)
    assert found == [], "\n".join(found)


def test_every_connection_call_was_made_and_no_codecommit(work) -> None:
    operations = {(call.service, call.operation) for call in work.calls}
    assert {
        ("codeconnections", "CreateConnection"),
        ("codeconnections", "GetConnection"),
        ("codeconnections", "ListConnections"),
        ("codeconnections", "ListTagsForResource"),
        ("codeconnections", "DeleteConnection"),
    } <= operations
    assert not any(service == "codecommit" for service, _ in operations)
    granted = json.dumps(work.policies)
    assert "codecommit:" not in granted


def test_the_stack_passes_the_connection_to_codepipeline_only(work) -> None:
    passed = [r for r in work.handlers if r.action.endswith(":PassConnection")]
    assert {r.action for r in passed} == {"codeconnections:PassConnection"}
    assert all(
        r.context["codeconnections:PassedToService"] == "codepipeline.amazonaws.com" for r in passed
    )


@pytest.mark.parametrize(
    "action",
    [
        "codeconnections:CreateConnection",
        "codeconnections:GetConnection",
        "codeconnections:ListConnections",
        "codeconnections:DeleteConnection",
        "codeconnections:PassConnection",
    ],
)
def test_removing_a_needed_connection_grant_is_a_named_failure(work, action: str) -> None:
    found = failures(work, _without(work.policies, action))
    assert any(line.startswith(f"bootstrap user may not {action} on ") for line in found), found


def test_deleting_is_limited_to_the_projects_own_connection(work) -> None:
    # The same work as plain recorded requests: a connection without the project's tag.
    untagged = BootstrapWork(**{name: getattr(work, name) for name in work.__dataclass_fields__})
    found = failures(untagged)
    assert any(
        line.startswith("bootstrap user may not codeconnections:DeleteConnection on ")
        for line in found
    ), found
