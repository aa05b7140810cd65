"""The AWS CodeConnections connection through which CodePipeline reads a third-party git host.

The bootstrap creates one (tagged with the project) unless resources.json names one
(``git.connection_arn``). A new connection stays PENDING until someone who administers the
repositories' owner on the host completes its handshake, once, in the AWS console: no API can do
it. The bootstrap says where, then polls GetConnection until it is AVAILABLE; when the wait runs
out it stops cleanly, and the next run finds the connection again and goes on from there.
"""

from __future__ import annotations

import os
import time
from typing import Any

from botocore.exceptions import ClientError

from mlops_toolkit.bootstrap.errors import BootstrapError, StepFailed, error_code
from mlops_toolkit.bootstrap.project import GitHost, Project
from mlops_toolkit.bootstrap.steps import BLOCKED, CREATE, NOTHING, Context, Finding, Step

CONNECTION_KEY = "connection"
HANDSHAKE_KEY = "connection-handshake"
HANDSHAKE = "handshake"
AVAILABLE, PENDING = "AVAILABLE", "PENDING"
# Creates use the service's current name; a connection made before the 2024 rename keeps the old
# prefix in its ARN, and is read through the client of that prefix.
SERVICE = "codeconnections"
NAME_MAX = 32  # CreateConnection's limit on ConnectionName
POLL_ENV = "MLOPS_BOOTSTRAP_CONNECTION_POLL_SECONDS"
DEFAULT_POLL_SECONDS = 10
EXIT_PENDING = 75  # EX_TEMPFAIL: not done, try again later
HOST_LABELS = {"github": "GitHub", "gitlab": "GitLab", "bitbucket": "Bitbucket"}


class HandshakePending(BootstrapError):
    """The connection still waits for its handshake: a clean stop, resumed by a re-run."""

    exit_code = EXIT_PENDING


def connection_name(project: Project) -> str:
    return project.slug[:NAME_MAX].rstrip("-")


def connection_steps(ctx: Context) -> list[Step]:
    name = connection_name(ctx.project)
    return [
        Step(CONNECTION_KEY, "CodeConnections connection", name, _inspect, _create),
        Step(HANDSHAKE_KEY, "connection handshake", name, _inspect_handshake, _wait),
    ]


def connection_arn(ctx: Context) -> str:
    """The connection the stack uses: resources.json's, else the one this project created."""
    git = _git(ctx.project)
    recorded = ctx.state.step(CONNECTION_KEY) or {}
    created = str(recorded.get("arn", "")) if recorded.get("created") else ""
    return git.connection_arn or created


def get_connection(ctx: Context, arn: str) -> dict[str, Any] | None:
    client = ctx.aws.client(arn.split(":")[2])
    try:
        return client.get_connection(ConnectionArn=arn)["Connection"]
    except ClientError as error:
        if error_code(error) == "ResourceNotFoundException":
            return None
        raise


def find_ours(ctx: Context) -> str | None:
    """The ARN of the connection an earlier run created (its reply lost, or its record gone)."""
    client = ctx.aws.client(SERVICE)
    git, name = _git(ctx.project), connection_name(ctx.project)
    request = {"ProviderTypeFilter": git.provider}
    while True:
        # botocore has no paginator for ListConnections: follow NextToken by hand.
        page = client.list_connections(**request)
        for found in page.get("Connections", []):
            if found["ConnectionName"] != name:
                continue
            tags = client.list_tags_for_resource(ResourceArn=found["ConnectionArn"])["Tags"]
            if {"Key": "project", "Value": ctx.project.slug} in tags:
                return found["ConnectionArn"]
        if not page.get("NextToken"):
            return None
        request["NextToken"] = page["NextToken"]


def _git(project: Project) -> GitHost:
    if project.git is None:
        raise AssertionError("connection steps run only for a third-party git host")
    return project.git


def _inspect(ctx: Context) -> Finding:
    git = _git(ctx.project)
    if git.connection_arn:
        return _inspect_given(ctx, git)
    recorded = ctx.state.step(CONNECTION_KEY)
    # Only a connection this project created: one resources.json named earlier is not ours.
    if recorded and recorded.get("created") and get_connection(ctx, recorded["arn"]) is not None:
        return Finding(NOTHING, "exists (created by an earlier run)", recorded)
    ours = find_ours(ctx)
    if ours is not None:
        return Finding(
            NOTHING, "exists (created by an earlier run)", {"arn": ours, "created": True}
        )
    return Finding(CREATE, f"create ({git.provider}, tagged); its handshake follows")


def _inspect_given(ctx: Context, git: GitHost) -> Finding:
    arn = git.connection_arn
    _, _, _, region, account, _ = arn.split(":", 5)
    if (region, account) != (ctx.project.region, ctx.account_id):
        return Finding(
            BLOCKED,
            f"git.connection_arn in resources.json is in {account}/{region}, but the stack reads "
            f"it from {ctx.account_id}/{ctx.project.region}; use a connection there, or leave "
            "connection_arn empty for one to be created",
        )
    found = get_connection(ctx, arn)
    if found is None:
        return Finding(
            BLOCKED,
            f"git.connection_arn in resources.json ({arn}) names no connection; correct it, or "
            "leave it empty for one to be created",
        )
    if found["ProviderType"] != git.provider:
        return Finding(
            BLOCKED,
            f"git.connection_arn in resources.json is a {found['ProviderType']} connection, but "
            f"git.host is {git.host}; name a {git.provider} connection",
        )
    return Finding(NOTHING, f"given in resources.json ({found['ConnectionStatus']})", {"arn": arn})


def _create(ctx: Context, finding: Finding) -> dict[str, Any]:
    created = ctx.aws.client(SERVICE).create_connection(
        ProviderType=_git(ctx.project).provider,
        ConnectionName=connection_name(ctx.project),
        Tags=ctx.project.tags(),
    )
    return {"arn": created["ConnectionArn"], "created": True}


def _inspect_handshake(ctx: Context) -> Finding:
    arn = connection_arn(ctx)
    found = get_connection(ctx, arn) if arn else None
    if found is None:
        return Finding(HANDSHAKE, "complete it once in the AWS console (the bootstrap says where)")
    status = found["ConnectionStatus"]
    if status == AVAILABLE:
        return Finding(NOTHING, "done (AVAILABLE)", {"arn": arn})
    if status == PENDING:
        return Finding(HANDSHAKE, "pending: complete it in the AWS console (as the run says)")
    return Finding(BLOCKED, _broken(status, arn))


def _broken(status: str, arn: str) -> str:
    return (
        f"the connection {arn} is {status}: the host refused or withdrew its access. Update it "
        "in the AWS console (Developer Tools > Settings > Connections), or delete it and re-run"
    )


def _wait(ctx: Context, finding: Finding) -> dict[str, Any]:
    arn = connection_arn(ctx)
    found = get_connection(ctx, arn)
    if found is not None and found["ConnectionStatus"] == AVAILABLE:
        return {"arn": arn}
    name = found["ConnectionName"] if found else connection_name(ctx.project)
    instructions = handshake_instructions(ctx.project, arn, name, ctx.connection_wait)
    print(instructions, file=ctx.out, flush=True)
    deadline = time.monotonic() + ctx.connection_wait
    while True:
        found = get_connection(ctx, arn)
        status = found["ConnectionStatus"] if found else "deleted"
        if status == AVAILABLE:
            print("  The connection is AVAILABLE.", file=ctx.out, flush=True)
            return {"arn": arn}
        if status != PENDING:
            raise StepFailed("connection handshake", arn, _broken(status, arn))
        if time.monotonic() >= deadline:
            raise HandshakePending(
                f"the connection {name} is still PENDING. Nothing after it "
                "was done; complete its handshake as above, then run `mlops-bootstrap bootstrap` "
                "again: it finds the connection and goes on from there."
            )
        time.sleep(_poll_seconds())


def handshake_instructions(project: Project, arn: str, name: str, wait_seconds: float) -> str:
    git = _git(project)
    host = HOST_LABELS[git.host]
    repositories = " and ".join(git.full_name(repo) for repo in ("modelbuild", "modeldeploy"))
    console = (
        f"https://console.aws.amazon.com/codesuite/settings/connections?region={project.region}"
    )
    return "\n".join(
        [
            f"  One manual step: the connection {name} ({arn}) is PENDING.",
            f"  AWS may read {host} only once someone who administers {git.owner} there",
            "  completes its handshake, once:",
            f"    1. open {console}",
            f"    2. choose {name}, then 'Update pending connection'",
            f"    3. sign in to {host} and grant AWS access to {repositories}",
            _waiting(wait_seconds),
        ]
    )


def _waiting(wait_seconds: float) -> str:
    again = "`mlops-bootstrap bootstrap` run again picks up here"
    if wait_seconds <= 0:
        return f"  Not waiting (--connection-wait 0): once it is done, {again}."
    minutes = max(1, round(wait_seconds / 60))
    return f"  Waiting up to {minutes} min for it to become AVAILABLE; Ctrl-C stops, and {again}."


def _poll_seconds() -> float:
    text = os.environ.get(POLL_ENV, "")
    try:
        seconds = float(text)
    except ValueError:
        return DEFAULT_POLL_SECONDS
    return seconds if seconds > 0 else DEFAULT_POLL_SECONDS
