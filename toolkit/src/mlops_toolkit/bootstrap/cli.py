"""``mlops-bootstrap bootstrap|teardown|policy``: arguments, and the message for each failure."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TextIO

from mlops_toolkit.bootstrap import bootstrap, policy, teardown
from mlops_toolkit.bootstrap.awsclients import Aws
from mlops_toolkit.bootstrap.connection import HandshakePending
from mlops_toolkit.bootstrap.errors import (
    EXIT_INTERRUPTED,
    BootstrapError,
    ConfigError,
    NoCredentials,
    StepFailed,
)
from mlops_toolkit.bootstrap.plan import print_header
from mlops_toolkit.bootstrap.project import Project, find_deploy_repo, load_project
from mlops_toolkit.bootstrap.remote import MODES, choose_mode
from mlops_toolkit.bootstrap.state import load_state
from mlops_toolkit.bootstrap.steps import DEFAULT_CONNECTION_WAIT_SECONDS, Context

PROG = "mlops-bootstrap"
NO_CREDENTIALS_HELP = """\
Configure credentials in any way boto3 finds them, for example:
  aws configure                       # access keys, saved in ~/.aws/credentials
  aws configure sso && aws sso login  # then export AWS_PROFILE=<the profile name>
  export AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=... [AWS_SESSION_TOKEN=...]"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Create (bootstrap) or delete (teardown) a generated project's AWS resources, "
        "or print the IAM policies they need (policy). Reads the model-deploy repository's "
        "cicd/resources.json, cicd/cicd-stack.yml and cicd/bootstrap-policy.json.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for name, summary in (
        ("bootstrap", "create the repositories, model registry group and CI/CD stack"),
        ("teardown", "delete everything this project created in AWS"),
    ):
        command = commands.add_parser(name, help=summary, description=summary)
        command.add_argument("--dry-run", action="store_true", help="look and report only")
        command.add_argument("--yes", "-y", action="store_true", help="do not ask first")
        _add_location_arguments(command)
        command.add_argument("--profile", help="AWS profile (default: the usual boto3 lookup)")
    bootstrap_parser = commands.choices["bootstrap"]
    bootstrap_parser.add_argument(
        "--git-remote",
        choices=MODES,
        default="auto",
        help="how git authenticates to CodeCommit: git-remote-codecommit (grc), HTTPS with "
        "the AWS CLI credential helper (https), or whichever is installed (auto)",
    )
    bootstrap_parser.add_argument(
        "--connection-wait",
        type=_seconds,
        default=DEFAULT_CONNECTION_WAIT_SECONDS,
        metavar="SECONDS",
        help="a git host other than CodeCommit: how long to wait for the connection's handshake "
        "in the AWS console before stopping (a re-run resumes); 0 does not wait "
        f"(default: {DEFAULT_CONNECTION_WAIT_SECONDS})",
    )
    policy_parser = commands.add_parser(
        "policy",
        help="print the IAM policies bootstrap and teardown need",
        description="Print the least-privilege IAM policies for whoever runs bootstrap and "
        "teardown, filled in with this project's names. Makes no AWS call.",
    )
    policy_parser.add_argument("--account-id", required=True, help="the 12-digit AWS account id")
    policy_parser.add_argument("--partition", default="aws", help="AWS partition (default: aws)")
    policy_parser.add_argument(
        "--output-dir", type=Path, help="write one <name>.json per policy here instead"
    )
    _add_location_arguments(policy_parser)
    return parser


def _seconds(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if seconds < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds (0 or more)")
    return seconds


def _add_location_arguments(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--deploy-repo",
        type=Path,
        help="the model-deploy repository (default: the nearest folder at or above the current "
        "one that holds cicd/resources.json)",
    )
    command.add_argument(
        "--project-dir",
        type=Path,
        help="folder holding both repositories and the bootstrap record "
        "(default: the model-deploy repository's parent)",
    )


def main(
    argv: list[str] | None = None,
    stdin: TextIO | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    args = build_parser().parse_args(argv)
    stdin, out, err = stdin or sys.stdin, out or sys.stdout, err or sys.stderr
    project: Project | None = None
    try:
        deploy_repo = args.deploy_repo or find_deploy_repo(Path.cwd())
        project = load_project(deploy_repo, args.project_dir)
        if args.command == "policy":
            rendered = policy.render(project, args.account_id, args.partition)
            print(policy.write(rendered, args.output_dir), file=out)
            return 0
        return _run(args, project, stdin, out)
    except BootstrapError as error:
        _report(error, args.command, project, err)
        return error.exit_code
    except KeyboardInterrupt:
        print("\nInterrupted. Re-run the same command to continue.", file=err)
        return EXIT_INTERRUPTED


def _run(args: argparse.Namespace, project: Project, stdin: TextIO, out: TextIO) -> int:
    missing = [
        str(project.repo_dir(repo))
        for repo in ("modelbuild", "modeldeploy")
        if not project.repo_dir(repo).is_dir()
    ]
    if missing:
        raise ConfigError(
            f"repository folder(s) not found: {', '.join(missing)}. Pass --project-dir with "
            "the folder that holds both repositories."
        )
    # A third-party host is pushed to with the user's own git credentials: no CodeCommit helper.
    codecommit = args.command == "bootstrap" and project.git is None
    git_mode = choose_mode(args.git_remote) if codecommit else "custom"
    aws = Aws(project.region, args.profile)
    account_id, caller = bootstrap.identify(aws, project.region)
    state = load_state(project.state_file)
    state.bind_account(account_id, project.region)
    ctx = Context(project, aws, state, account_id, git_mode, out)
    if args.command == "bootstrap":
        ctx.connection_wait = args.connection_wait
    print_header(project, account_id, caller, out)
    interactive = stdin.isatty()
    if args.command == "teardown":
        teardown.run(ctx, args.dry_run, args.yes, interactive, stdin)
        return 0
    options = bootstrap.Options(args.dry_run, args.yes, interactive)
    bootstrap.run(ctx, options, stdin)
    return 0


def finish_command(deploy_repo: Path, command: str = "bootstrap") -> str:
    """The shell line that runs ``command`` again for the repository at ``deploy_repo``."""
    return f"cd '{deploy_repo}' && {PROG} {command}"


def _report(error: BootstrapError, command: str, project: Project | None, err: TextIO) -> None:
    if isinstance(error, HandshakePending):
        print(f"Stopped: {error}", file=err)
        return
    print(f"error: {error}", file=err)
    if project is None:
        return
    finish = finish_command(project.deploy_repo_dir, command)
    if isinstance(error, NoCredentials):
        print(NO_CREDENTIALS_HELP, file=err)
        print(
            f"Your project files are in {project.project_dir}; nothing was changed in AWS.",
            file=err,
        )
        print(f"Then finish with: {finish}", file=err)
        return
    if isinstance(error, StepFailed):
        print(
            f"Stopped there. Every file is still in {project.project_dir}; "
            f"{project.state_file.name} there records the steps that finished.",
            file=err,
        )
        print(f"Re-run to continue where it stopped: {finish}", file=err)
