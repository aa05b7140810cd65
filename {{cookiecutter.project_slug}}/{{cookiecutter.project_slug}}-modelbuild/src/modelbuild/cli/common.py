"""Argument parsing and error reporting shared by the CLIs."""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import warnings
from collections.abc import Callable, Iterable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from modelbuild.settings import ProjectSettings

# CodeBuild sets these (see codebuild-buildspec.yml); flags override them.
ENV_ROLE_ARN = "SAGEMAKER_PIPELINE_ROLE_ARN"
ENV_ARTIFACT_BUCKET = "ARTIFACT_BUCKET"
ENV_PIPELINE_NAME = "SAGEMAKER_PIPELINE_NAME"

EXIT_USAGE = 2


class CliError(Exception):
    """An expected failure: printed as one clear message, never as a traceback."""


def env_default(name: str, fallback: str | None = None) -> str | None:
    return os.environ.get(name) or fallback


def add_location_arguments(parser: argparse.ArgumentParser, settings: ProjectSettings) -> None:
    parser.add_argument(
        "--region",
        default=env_default("AWS_REGION", env_default("AWS_DEFAULT_REGION", settings.aws_region)),
        help="AWS region (default: $AWS_REGION, else the project's region %(default)s)",
    )
    parser.add_argument(
        "--pipeline-name",
        default=env_default(ENV_PIPELINE_NAME, settings.pipeline_name),
        help=f"SageMaker pipeline name (default: ${ENV_PIPELINE_NAME}, else %(default)s)",
    )
    parser.add_argument(
        "--role-arn",
        default=env_default(ENV_ROLE_ARN),
        help=f"SageMaker execution role the pipeline runs as (default: ${ENV_ROLE_ARN})",
    )
    parser.add_argument(
        "--verbose", action="store_true", help="show the SageMaker SDK's own log messages"
    )
    parser.add_argument(
        "--artifact-bucket",
        default=env_default(ENV_ARTIFACT_BUCKET),
        help=f"S3 bucket for step code and artifacts (default: ${ENV_ARTIFACT_BUCKET})",
    )


def ensure_default_region(region: str) -> None:
    """Give boto3 a default region before the SDK is imported.

    sagemaker 3.27 creates a SageMaker client while its modules import; without a default region
    that import fails with NoRegionError, even when every call we make names its region.
    """
    os.environ.setdefault("AWS_DEFAULT_REGION", region)


def import_get_pipeline(args: argparse.Namespace) -> Callable[..., Any]:
    """Import the pipeline module (slow: it loads the SDK) only once a command needs it."""
    ensure_default_region(args.region)
    from modelbuild.pipeline import get_pipeline

    quiet_sdk_logs(args.verbose)
    return get_pipeline


def build_pipeline(
    args: argparse.Namespace,
    session: Any = None,
    role_arn: str | None = None,
    bucket: str | None = None,
) -> Any:
    """The pipeline for a command's arguments, built the same way by every command.

    Building uploads the step code to the bucket. ``role_arn``/``bucket`` stand in for missing
    flags (the offline definition uses placeholders); otherwise the flags are required.
    """
    get_pipeline = import_get_pipeline(args)
    return get_pipeline(
        role_arn=role_arn or require(args.role_arn, "--role-arn", ENV_ROLE_ARN),
        default_bucket=bucket
        or require(args.artifact_bucket, "--artifact-bucket", ENV_ARTIFACT_BUCKET),
        region=args.region,
        pipeline_name=args.pipeline_name,
        git_commit=git_commit(),
        boto_session=session,
    )


def quiet_sdk_logs(verbose: bool = False) -> None:
    """Keep CLI output readable: the SDK logs every field it fills in and configures the root
    logger at INFO while importing, so this runs after the import."""
    if verbose:
        return
    logging.getLogger().setLevel(logging.WARNING)
    # Some SDK loggers are created later with their own DEBUG level; the handler drops those.
    for handler in logging.getLogger().handlers:
        handler.setLevel(logging.WARNING)
    for name in list(logging.root.manager.loggerDict):
        if name.startswith(("sagemaker", "botocore")):
            logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module="sagemaker")


def require(value: str | None, flag: str, env: str) -> str:
    if not value:
        raise CliError(f"{flag} is required: pass {flag} or set the environment variable {env}.")
    return value


def parse_key_values(pairs: Iterable[str], flag: str) -> dict[str, str]:
    """Turn repeated ``Name=Value`` arguments into a dict, rejecting malformed ones."""
    result: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise CliError(f"{flag} expects Name=Value, got {pair!r}.")
        result[name] = value
    return result


def git_commit() -> str:
    """The commit being built: CodeBuild's resolved source version, else the local checkout."""
    if commit := os.environ.get("CODEBUILD_RESOLVED_SOURCE_VERSION"):
        return commit
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() or "unknown"


def run_cli(main: Callable[[], int]) -> int:
    """Run a CLI body, turning expected AWS and usage failures into one-line messages."""
    try:
        return main()
    except CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except NoCredentialsError:
        print(
            "error: no AWS credentials found. Configure them (`aws configure`, AWS_PROFILE, or "
            "environment variables), or use --offline where the command offers it.",
            file=sys.stderr,
        )
        return 1
    except ClientError as exc:
        error = exc.response.get("Error", {})
        print(
            f"error: AWS rejected {exc.operation_name}: "
            f"{error.get('Code')}: {error.get('Message')}",
            file=sys.stderr,
        )
        return 1
    except BotoCoreError as exc:
        print(f"error: could not reach AWS: {exc}", file=sys.stderr)
        return 1
