"""The bootstrap: look every resource up, print the plan, ask, then create what is missing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TextIO

from mlops_toolkit.bootstrap.awsclients import Aws
from mlops_toolkit.bootstrap.batch import batch_steps
from mlops_toolkit.bootstrap.connection import connection_steps
from mlops_toolkit.bootstrap.console import confirm, require_consent
from mlops_toolkit.bootstrap.errors import BootstrapError
from mlops_toolkit.bootstrap.github_actions import (
    github_steps,
    print_github_settings,
    uses_github_actions,
)
from mlops_toolkit.bootstrap.guard import guarded
from mlops_toolkit.bootstrap.plan import print_next_steps, print_plan
from mlops_toolkit.bootstrap.registry import registry_step
from mlops_toolkit.bootstrap.repos import repository_steps
from mlops_toolkit.bootstrap.stack import stack_step
from mlops_toolkit.bootstrap.steps import BLOCKED, NOTHING, Context, Finding, Step


@dataclass(frozen=True)
class Options:
    dry_run: bool
    assume_yes: bool
    interactive: bool


def identify(aws: Aws, region: str) -> tuple[str, str]:
    """The account id and caller ARN of the current credentials (read-only)."""
    identity = guarded("AWS identity", region, lambda: aws.client("sts").get_caller_identity())
    return identity["Account"], identity["Arn"]


def build_steps(ctx: Context) -> list[Step]:
    # Order matters: the pipelines' first automatic run needs the code already pushed, and a git
    # host's pipelines need their connection usable (its handshake done) before that. GitHub
    # Actions needs no connection, and its stack reads the CI/CD stack's outputs: it comes last,
    # as does the batch stack, which attaches grants to the CI/CD stack's roles.
    connected = ctx.project.git is not None and not uses_github_actions(ctx.project)
    first = connection_steps(ctx) if connected else []
    steps = [*first, *repository_steps(ctx), registry_step(ctx), stack_step(ctx)]
    return [*steps, *github_steps(ctx), *batch_steps(ctx)]


def survey(ctx: Context, steps: list[Step]) -> list[tuple[Step, Finding]]:
    """Inspect every step (reads only), so the plan is complete before anything changes."""
    return [(step, guarded(step.kind, step.name, lambda s=step: s.inspect(ctx))) for step in steps]


def run(ctx: Context, options: Options, stdin: TextIO) -> int:
    """Print the plan, ask, and apply it; returns the number of steps that changed something."""
    plan = survey(ctx, build_steps(ctx))
    print_plan(ctx.project, ctx.account_id, plan, ctx.out)
    _refuse_blocked(plan)
    pending = [(step, finding) for step, finding in plan if finding.action != NOTHING]
    if options.dry_run:
        print(
            f"Dry run: {len(pending)} step(s) would change something; nothing was changed.",
            file=ctx.out,
        )
        return 0
    _record_existing(ctx, plan)
    if not pending:
        print("Nothing to do: every resource is in place.", file=ctx.out)
        return 0
    require_consent(options.assume_yes, options.interactive, "create them")
    if not options.assume_yes and not confirm(
        f"Create these in account {ctx.account_id}? [y/N]", None, stdin, ctx.out
    ):
        print("Cancelled: nothing was created.", file=ctx.out)
        return 0
    for step, finding in pending:
        print(f"- {step.kind} {step.name}: {finding.action}", file=ctx.out, flush=True)
        details = guarded(step.kind, step.name, lambda s=step, f=finding: s.apply(ctx, f))
        ctx.state.record(step.key, **details)
    print(f"Done: {len(pending)} step(s) applied.", file=ctx.out)
    if uses_github_actions(ctx.project):
        print_github_settings(ctx)
    else:
        print_next_steps(ctx.project, ctx.out)
    return len(pending)


def _refuse_blocked(plan: list[tuple[Step, Finding]]) -> None:
    blocked = [
        f"{step.kind} {step.name}: {finding.note}"
        for step, finding in plan
        if finding.action == BLOCKED
    ]
    if blocked:
        raise BootstrapError("cannot continue, nothing was changed:\n  - " + "\n  - ".join(blocked))


def _record_existing(ctx: Context, plan: list[tuple[Step, Finding]]) -> None:
    # Resources found in place (e.g. after a lost reply) join the record without an AWS write.
    for step, finding in plan:
        if finding.action == NOTHING and ctx.state.step(step.key) is None:
            ctx.state.record(step.key, **finding.details)
