"""The GitHub Actions workflows' work (ci=github-actions), for the IAM contract of their roles.

Each job's ``run:`` steps execute as a GitHub-hosted runner executes them (``bash -eo pipefail``)
in a copy of the repository, with the environment the workflow sets (``${{ vars.NAME }}`` filled
from the repository variables ``mlops-bootstrap`` prints, ``GITHUB_SHA`` as the runner sets it),
against a moto server, under the call recorder. Steps named "Install" are skipped: the test
interpreter already has the packages. The ``uses:`` steps make no AWS call with the role:
checkout and the artifact actions talk to GitHub, and configure-aws-credentials calls
sts:AssumeRoleWithWebIdentity, which the trust policy decides (checked separately).

The AWS CLI is not part of the test environment: the ``aws`` on PATH logs its arguments, and
``cli_calls`` turns each logged command into the API calls the CLI makes for it, as awscli's
``customizations/cloudformation`` does: ``deployer.py`` for ``deploy`` (DescribeStacks, on an
existing stack GetTemplateSummary, CreateChangeSet, the change set waiter's DescribeChangeSet,
ExecuteChangeSet, the stack waiter's DescribeStacks), ``artifact_exporter.py`` for ``package``.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from . import codebuild
from .recorder import ApiCall, CallRecorder

SOURCE_COMMIT = codebuild.SOURCE_COMMIT
# deployer.py names each change set with this prefix and the current time.
CHANGE_SET = "awscli-cloudformation-package-deploy-1767225600"
# What `aws cloudformation describe-stacks` answers for a stack that does not exist.
NO_STACK = "NONE"
_EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
_VARIABLE = re.compile(r"vars\.([A-Za-z_][A-Za-z0-9_]*)")

AWS_STUB = """\
import json, os, shutil, sys
args = sys.argv[1:]
with open(os.environ["AWS_STUB_LOG"], "a", encoding="utf-8") as log:
    log.write(json.dumps({"args": args, "status": os.environ.get("AWS_STUB_STACK_STATUS")}) + "\\n")
if args[:2] == ["cloudformation", "describe-stacks"]:
    status = os.environ.get("AWS_STUB_STACK_STATUS", "NONE")
    if status == "NONE":
        sys.exit("An error occurred (ValidationError): Stack does not exist")
    print(status)
if args[:2] == ["cloudformation", "package"]:
    # Nothing in the endpoint template is packaged (the IAM contract pins that): a copy.
    shutil.copy(args[args.index("--template") + 1], args[args.index("--output-template") + 1])
"""


@dataclass(frozen=True)
class Job:
    """One job of a workflow: its environment, the role it assumes and its ``run:`` steps."""

    name: str
    environment: Mapping[str, str]
    role_arn: str
    deployment_environment: str | None
    steps: tuple[Mapping[str, Any], ...]


def load(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def fill(value: Any, variables: Mapping[str, str]) -> str:
    """``value`` with each ``${{ vars.NAME }}`` replaced; any other expression is refused."""

    def replace(match: re.Match[str]) -> str:
        expression = match.group(1)
        variable = _VARIABLE.fullmatch(expression)
        if not variable:
            raise AssertionError(f"the contract cannot evaluate ${{{{ {expression} }}}}")
        name = variable.group(1)
        if name not in variables:
            raise AssertionError(f"the workflow reads vars.{name}, which the bootstrap never sets")
        return variables[name]

    return _EXPRESSION.sub(replace, str(value))


def jobs(workflow: Mapping[str, Any], variables_for: Any) -> dict[str, Job]:
    """Every job, its environment filled with the variables its repository (and, for a job in a
    deployment environment, that environment) holds: ``variables_for(environment_name)``."""
    found = {}
    for name, job in workflow["jobs"].items():
        deployment = job.get("environment")
        variables = variables_for(deployment)
        env = {
            key: fill(value, variables)
            for key, value in {**workflow.get("env", {}), **job.get("env", {})}.items()
        }
        (credentials,) = [
            step
            for step in job["steps"]
            if str(step.get("uses", "")).startswith("aws-actions/configure-aws-credentials@")
        ]
        found[name] = Job(
            name,
            env,
            fill(credentials["with"]["role-to-assume"], variables),
            deployment,
            tuple(_filled_step(step, variables) for step in job["steps"]),
        )
    return found


def _filled_step(step: Mapping[str, Any], variables: Mapping[str, str]) -> dict[str, Any]:
    env = {key: fill(value, variables) for key, value in step.get("env", {}).items()}
    return {**step, "env": env}


@dataclass(frozen=True)
class Runner:
    """A runner's PATH and environment for the jobs of one repository."""

    repo: Path
    bin_dir: Path
    recorder: CallRecorder
    base_env: Mapping[str, str]

    @classmethod
    def create(
        cls, repo: Path, workdir: Path, recorder: CallRecorder, base_env: Mapping[str, str]
    ) -> Runner:
        checkout = workdir / "checkout"
        if checkout.exists():
            shutil.rmtree(checkout)
        shutil.copytree(repo, checkout, ignore=shutil.ignore_patterns("__pycache__", ".git"))
        bin_dir = workdir / "bin"
        bin_dir.mkdir(parents=True, exist_ok=True)
        _script(bin_dir / "python", f'exec {shlex.quote(sys.executable)} "$@"')
        (bin_dir / "aws_stub.py").write_text(AWS_STUB, encoding="utf-8")
        _script(
            bin_dir / "aws",
            f'exec {shlex.quote(sys.executable)} {shlex.quote(str(bin_dir / "aws_stub.py"))} "$@"',
        )
        return cls(checkout, bin_dir, recorder, base_env)

    def add_console_scripts(self, entry_points: Mapping[str, str]) -> None:
        """The console scripts ``pip install .`` would give the job; a wait polls quickly."""
        for command, target in entry_points.items():
            module, _, function = target.partition(":")
            program = f"import sys; from {module} import {function} as main; sys.exit(main())"
            fast = " --poll-interval 0.1" if command == "run-pipeline" else ""
            _script(
                self.bin_dir / command,
                f'exec {shlex.quote(sys.executable)} -c {shlex.quote(program)} "$@"{fast}',
            )

    def run(
        self,
        job: Job,
        label: str,
        extra_env: Mapping[str, str] | None = None,
        deny: Iterable[str] = (),
    ) -> tuple[list[ApiCall], list[list[str]]]:
        """Run the job's ``run:`` steps; returns the recorded calls and the logged CLI commands."""
        log = self.recorder.directory / f"{label}.jsonl"
        cli_log = self.recorder.directory / f"{label}-cli.jsonl"
        for path in (log, cli_log):
            path.unlink(missing_ok=True)
        env = {
            **self.base_env,
            **job.environment,
            **(extra_env or {}),
            "PATH": f"{self.bin_dir}{os.pathsep}{os.environ['PATH']}",
            "GITHUB_SHA": SOURCE_COMMIT,
            "AWS_STUB_LOG": str(cli_log),
        }
        for step in job.steps:
            if "run" not in step or step.get("name") == "Install":
                continue
            step_env = {key: str(value) for key, value in step.get("env", {}).items()}
            done = subprocess.run(
                ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
                cwd=self.repo,
                env=self.recorder.environment({**env, **step_env}, log, deny),
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )
            if done.returncode != 0:
                raise AssertionError(
                    f"{job.name} step {step.get('name', step['run'][:40])!r} exited "
                    f"{done.returncode} against the stand-in:\n{done.stdout[-3000:]}\n"
                    f"{done.stderr[-3000:]}"
                )
        return self.recorder.calls(log), _cli_commands(cli_log)


def _script(path: Path, body: str) -> None:
    path.write_text(f"#!/bin/sh\n{body}\n", encoding="utf-8")
    path.chmod(0o755)


def _cli_commands(log: Path) -> list[list[str]]:
    if not log.exists():
        return []
    entries = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    return [[*entry["args"], f"--stub-status={entry['status']}"] for entry in entries]


def _option(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


def _pairs(args: list[str], name: str) -> list[str]:
    """The KEY=VALUE words after ``name`` up to the next option."""
    start = args.index(name) + 1
    end = next((i for i in range(start, len(args)) if args[i].startswith("--")), len(args))
    return args[start:end]


def cli_calls(
    commands: Iterable[list[str]], repo: Path, env: Mapping[str, str], region: str
) -> list[ApiCall]:
    """The API calls the AWS CLI makes for each logged command (module docstring)."""
    calls: list[ApiCall] = []
    deleted: set[str] = set()
    for args in commands:
        status = args[-1].removeprefix("--stub-status=")
        args = args[:-1]
        service, command = args[0], args[1]
        if service != "cloudformation":
            raise AssertionError(f"the contract does not know what `aws {service}` calls")
        if command == "package":
            calls += codebuild.package_calls(repo, " ".join(args), env, region)
            continue
        stack = {"StackName": _option(args, "--stack-name")}
        if command == "describe-stacks":
            calls.append(ApiCall("cloudformation", "DescribeStacks", region, stack))
        elif command == "delete-stack":
            calls.append(ApiCall("cloudformation", "DeleteStack", region, stack))
            deleted.add(stack["StackName"])
        elif command == "wait":
            calls.append(ApiCall("cloudformation", "DescribeStacks", region, stack))
        elif command == "deploy":
            exists = status != NO_STACK and stack["StackName"] not in deleted
            calls += _deploy_calls(args, stack, exists, region)
        else:
            raise AssertionError(
                f"the contract does not know what `aws cloudformation {command}` calls"
            )
    return calls


def _deploy_calls(
    args: list[str], stack: Mapping[str, str], exists: bool, region: str
) -> list[ApiCall]:
    tags = [
        dict(zip(("Key", "Value"), pair.split("=", 1), strict=True))
        for pair in _pairs(args, "--tags")
    ]
    parameters = [
        {"ParameterKey": key, "ParameterValue": value}
        for key, value in (pair.split("=", 1) for pair in _pairs(args, "--parameter-overrides"))
    ]
    change_set = {**stack, "ChangeSetName": CHANGE_SET}
    calls = [ApiCall("cloudformation", "DescribeStacks", region, dict(stack))]
    if exists:
        calls.append(ApiCall("cloudformation", "GetTemplateSummary", region, dict(stack)))
    calls += [
        ApiCall(
            "cloudformation",
            "CreateChangeSet",
            region,
            {
                **change_set,
                "ChangeSetType": "UPDATE" if exists else "CREATE",
                "RoleARN": _option(args, "--role-arn"),
                "Parameters": parameters,
                "Tags": tags,
            },
        ),
        ApiCall("cloudformation", "DescribeChangeSet", region, change_set),
        ApiCall("cloudformation", "ExecuteChangeSet", region, change_set),
        ApiCall("cloudformation", "DescribeStacks", region, dict(stack)),
    ]
    return calls
