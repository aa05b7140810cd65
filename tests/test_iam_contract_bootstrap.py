"""IAM contract of whoever runs ``mlops-bootstrap bootstrap`` and ``teardown``.

There is no role for them in the stack: they run with a person's (or a platform pipeline's)
credentials. ``mlops-bootstrap policy`` prints the policies those credentials need, from the
deploy repository's ``cicd/bootstrap-policy.json``. These tests run bootstrap (first run, a run
with nothing to do, a run that updates the stack) and teardown (dry run, then for real, after the
pipelines have added their resources) against moto under the call recorder, add the git pushes
and every CloudFormation
resource handler's permissions (the stack has no service role), and check the rendered policies
allow all of it and grant nothing else.
"""

from __future__ import annotations

import copy
import json
import subprocess
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from bootstrap_stand_in import (
    bare_remotes,
    bootstrap_env,
    copy_project,
    remote_head,
    render_seed_project,
    run_bootstrap,
    stand_in,
)
from iam_contract.api_calls import to_requests
from iam_contract.evaluator import IamRequest, Principal, denials, unused_actions
from iam_contract.handlers import handler_work
from iam_contract.project import ACCOUNT, cicd_stack, deploy_repo
from iam_contract.recorder import ApiCall, CallRecorder
from iam_contract.stack import resource_policies
from mlops_toolkit.bootstrap import policy
from mlops_toolkit.bootstrap.project import load_project
from test_bootstrap_cli import simulate_ci_cd

pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse AWS:UserWarning")

USER = f"arn:aws:iam::{ACCOUNT}:user/platform-engineer"


@dataclass(frozen=True)
class BootstrapWork:
    calls: list[ApiCall]
    pushed: list[str]  # CodeCommit repositories the bootstrap pushed main to
    handlers: list[IamRequest]
    unmatched_handler_actions: list[str]
    policies: dict[str, Any]
    region: str
    resource_policies: dict[str, Any]

    def requests(self) -> list[IamRequest]:
        pushes = [
            IamRequest(
                "codecommit:GitPush",
                f"arn:aws:codecommit:{self.region}:{ACCOUNT}:{repo}",
                "bootstrap: git push main",
            )
            for repo in self.pushed
        ]
        return [*to_requests(self.calls, ACCOUNT, "bootstrap/teardown"), *pushes, *self.handlers]


RUNS: list[tuple[tuple[str, ...], dict[str, str]]] = [
    (("bootstrap", "--yes"), {}),
    (("bootstrap", "--yes"), {}),  # nothing to do: it looks everything up
    (("bootstrap", "--yes"), {"MLOPS_RETRAIN_SCHEDULE_STATE": "ENABLED"}),  # UpdateStack
]
TEARDOWN: list[tuple[str, ...]] = [("teardown", "--dry-run"), ("teardown", "--yes")]


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> BootstrapWork:
    root = tmp_path_factory.mktemp("iam-bootstrap")
    seed = render_seed_project(root / "seed")
    recorder = CallRecorder(root / "recorder")
    with stand_in() as aws:
        aws.reset()
        project = copy_project(seed, root / seed.name)
        remotes = bare_remotes(root / "remotes")
        env = bootstrap_env(aws, remotes)
        calls: list[ApiCall] = []
        for index, (args, extra) in enumerate(RUNS):
            calls += _run(project, recorder, env | extra, args, root / f"bootstrap-{index}.jsonl")
        simulate_ci_cd(aws, project, env)
        for index, args in enumerate(TEARDOWN):
            calls += _run(project, recorder, env, args, root / f"teardown-{index}.jsonl")
        pushed = [path.name.removesuffix(".git") for path in sorted(remotes.glob("*.git"))]
        pushed = [repo for repo in pushed if remote_head(remotes, repo)]
    stack = cicd_stack(seed)
    handlers = handler_work(stack)
    loaded = load_project(deploy_repo(seed), seed)
    return BootstrapWork(
        calls,
        pushed,
        handlers.requests,
        handlers.unmatched,
        policy.render(loaded, ACCOUNT),
        stack.region,
        resource_policies(stack),
    )


def _run(
    project: Path, recorder: CallRecorder, env: dict[str, str], args: tuple[str, ...], log: Path
) -> list[ApiCall]:
    done: subprocess.CompletedProcess[str] = run_bootstrap(
        project, recorder.environment(env, log), *args
    )
    assert done.returncode == 0, f"{' '.join(args)}: {done.stdout}\n{done.stderr}"
    return recorder.calls(log)


def principal(policies: dict[str, Any]) -> Principal:
    return Principal("bootstrap user", USER, ACCOUNT, tuple(policies.values()))


def failures(work: BootstrapWork, policies: dict[str, Any] | None = None) -> list[str]:
    user = principal(policies or work.policies)
    requests = work.requests()
    # The notification key's policy delegates to IAM (the account root may use it).
    return denials(user, requests, work.resource_policies) + [
        f"the bootstrap policy grants {action}, which no recorded call or stack handler needs"
        for action in sorted(unused_actions(user.policies, requests))
    ]


def test_the_policies_allow_exactly_bootstrap_teardown_and_the_stack_handlers(
    work: BootstrapWork,
) -> None:
    found = failures(work)
    assert found == [], "\n".join(found)


def test_every_step_of_the_runs_was_recorded(work: BootstrapWork) -> None:
    operations = {call.operation for call in work.calls}
    assert {
        "CreateRepository",
        "CreateModelPackageGroup",
        "CreateStack",
        "UpdateStack",
    } <= operations
    assert {
        "DeleteStack",
        "DeleteBucket",
        "DeleteModelPackageGroup",
        "DeleteRepository",
    } <= operations
    assert len(work.pushed) == 2


def test_no_service_role_is_passed_to_create_stack(work: BootstrapWork) -> None:
    """Without RoleARN the stack's resources are created with the caller's credentials: hence
    the handler permissions in the policy, and no iam:PassRole to CloudFormation."""
    writes = {"CreateStack", "UpdateStack"}
    creates = [call for call in work.calls if call.operation in writes]
    assert creates and not any("RoleARN" in call.params for call in creates)


def test_handler_actions_left_out_are_only_features_the_stack_does_not_use(
    work: BootstrapWork,
) -> None:
    """What a handler lists but no resource of this stack targets (S3 Tables, group policies,
    delivery-status roles...). A new resource or property that needs one makes it a request."""
    services = {line.split(": ")[1].split(":")[0] for line in work.unmatched_handler_actions}
    assert services <= {"codepipeline", "codestar-connections", "iam", "s3", "s3tables"}


def test_each_policy_fits_in_a_managed_policy(work: BootstrapWork) -> None:
    for name, document in work.policies.items():
        assert len(json.dumps(document, separators=(",", ":"))) <= 6144, name


def _without(policies: dict[str, Any], action: str) -> dict[str, Any]:
    changed = copy.deepcopy(policies)
    for document in changed.values():
        for statement in document["Statement"]:
            statement["Action"] = [item for item in statement["Action"] if item != action]
        document["Statement"] = [s for s in document["Statement"] if s["Action"]]
    return changed


@pytest.mark.parametrize(
    "action",
    [
        "cloudformation:CreateStack",
        "codecommit:GitPush",
        "s3:DeleteObjectVersion",
        "sagemaker:DeleteModelPackage",
        "iam:PutRolePolicy",
        "codebuild:CreateProject",
        "kms:CreateKey",
    ],
)
def test_removing_a_needed_action_is_a_named_failure(work: BootstrapWork, action: str) -> None:
    found = failures(work, _without(work.policies, action))
    assert any(line.startswith(f"bootstrap user may not {action} on ") for line in found), found


def test_a_handler_grant_without_cloudformation_is_a_named_failure(work: BootstrapWork) -> None:
    """The handler statements hold only through CloudFormation (aws:CalledVia)."""
    stripped = replace(work, handlers=[replace(r, context={}) for r in work.handlers])
    found = failures(stripped)
    assert any(line.startswith("bootstrap user may not iam:CreateRole on ") for line in found)


def test_an_extra_action_is_a_named_failure(work: BootstrapWork) -> None:
    policies = copy.deepcopy(work.policies)
    first = next(iter(policies.values()))
    first["Statement"].append({"Effect": "Allow", "Action": ["iam:CreateUser"], "Resource": "*"})
    assert (
        "the bootstrap policy grants iam:createuser, which no recorded call or stack handler needs"
        in failures(work, policies)
    )


def test_policy_command_writes_the_rendered_policies(work: BootstrapWork, tmp_path: Path) -> None:
    seed = render_seed_project(tmp_path / "seed")
    env = {"PATH": "/usr/bin:/bin", "PYTHONWARNINGS": "ignore"}
    out = tmp_path / "policies"
    done = run_bootstrap(seed, env, "policy", "--account-id", ACCOUNT, "--output-dir", str(out))
    assert done.returncode == 0, done.stderr
    written = {path.stem: json.loads(path.read_text()) for path in sorted(out.glob("*.json"))}
    assert written == work.policies


def test_policy_command_rejects_a_malformed_account(tmp_path: Path) -> None:
    seed = render_seed_project(tmp_path / "seed")
    done = run_bootstrap(seed, {"PATH": "/usr/bin:/bin"}, "policy", "--account-id", "12345")
    assert done.returncode == 2
    assert "--account-id '12345' is not a 12-digit AWS account id" in done.stderr
