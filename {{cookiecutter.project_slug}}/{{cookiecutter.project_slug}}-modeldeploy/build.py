#!/usr/bin/env python3
"""Write the staging and prod template configurations for the newest Approved model version.

Runs in the deploy CodeBuild project (buildspec.yml) before ``aws cloudformation package``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
)

from model_registry import NoApprovedVersionError, RegistryError, select_version
from monitoring import (
    drift_alarm,
    monitor_image_uri,
    read_baselines,
    split_s3_uri,
    unmonitored_alarm,
)
from stage_config import (
    STAGES,
    TOPIC_ARN_RE,
    ConfigError,
    Deployment,
    MonitoringInputs,
    build_export,
    load_project,
    load_stage_config,
    validate_account_inputs,
)

REPO_ROOT = Path(__file__).resolve().parent
EXIT_FAILURE = 1
EXIT_NO_APPROVED_VERSION = 2
COMMIT_RE = re.compile(r"[0-9a-f]{7,40}")
MAX_PAGE_SIZE = 100  # the largest MaxResults ListModelPackages accepts

EPILOG = """\
Every option falls back to the environment variable named in its help, as set by the
deploy CodeBuild project. Exit status: 0 written; 1 configuration or AWS error;
2 no Approved model version to deploy (the message says how to approve one) or an
unknown command-line option.
"""


def _env(name: str) -> str | None:
    return os.environ.get(name) or None


def build_parser() -> argparse.ArgumentParser:
    """Command-line options; defaults are read from the environment when this is called."""
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add(
        "--model-package-group-name",
        default=_env("SOURCE_MODEL_PACKAGE_GROUP_NAME"),
        help="group to deploy from (SOURCE_MODEL_PACKAGE_GROUP_NAME; default: project.json)",
    )
    add(
        "--model-execution-role-arn",
        default=_env("MODEL_EXECUTION_ROLE_ARN"),
        help="role the SageMaker model runs with (MODEL_EXECUTION_ROLE_ARN; required)",
    )
    add(
        "--artifact-bucket",
        default=_env("ARTIFACT_BUCKET"),
        help="bucket that receives data capture (ARTIFACT_BUCKET; required)",
    )
    add(
        "--notification-topic-arn",
        default=_env("NOTIFICATION_TOPIC_ARN") or "",
        help="SNS topic the drift alarms notify (NOTIFICATION_TOPIC_ARN; default: none)",
    )
    add(
        "--export-staging-config",
        type=Path,
        default=Path(_env("EXPORT_TEMPLATE_STAGING_CONFIG") or "staging-config-export.json"),
        help="output file (EXPORT_TEMPLATE_STAGING_CONFIG; default: %(default)s)",
    )
    add(
        "--export-prod-config",
        type=Path,
        default=Path(_env("EXPORT_TEMPLATE_PROD_CONFIG") or "prod-config-export.json"),
        help="output file (EXPORT_TEMPLATE_PROD_CONFIG; default: %(default)s)",
    )
    add(
        "--staging-config",
        type=Path,
        default=REPO_ROOT / "staging-config.json",
        help="checked-in staging settings (default: staging-config.json)",
    )
    add(
        "--prod-config",
        type=Path,
        default=REPO_ROOT / "prod-config.json",
        help="checked-in prod settings (default: prod-config.json)",
    )
    add(
        "--project-file",
        type=Path,
        default=REPO_ROOT / "project.json",
        help="generated project settings (default: project.json)",
    )
    add(
        "--model-package-version",
        default=_env("MODEL_PACKAGE_VERSION"),
        help="deploy this Approved version instead of the newest, e.g. to roll back "
        "(MODEL_PACKAGE_VERSION)",
    )
    add(
        "--region",
        default=_env("AWS_REGION") or _env("AWS_DEFAULT_REGION"),
        help="AWS region (AWS_REGION / AWS_DEFAULT_REGION; default: project.json)",
    )
    add(
        "--source-commit",
        default=_env("CODEBUILD_RESOLVED_SOURCE_VERSION"),
        help="commit recorded in tags (CODEBUILD_RESOLVED_SOURCE_VERSION; default: git HEAD)",
    )
    add(
        "--page-size",
        type=int,
        default=MAX_PAGE_SIZE,
        help="versions per ListModelPackages call, 1-100 (default: %(default)s)",
    )
    return parser


def _required(value: str | None, option: str, variable: str) -> str:
    if not value:
        raise ConfigError(
            f"{variable} is not set: set it (the deploy CodeBuild project does) or pass {option}"
        )
    return value


def _pinned_version(text: str | None) -> int | None:
    if text is None:
        return None
    if not re.fullmatch(r"[1-9][0-9]{0,8}", text):
        raise ConfigError(
            f"model package version {text!r} (MODEL_PACKAGE_VERSION / --model-package-version) "
            "must be a positive whole number"
        )
    return int(text)


def _page_size(value: int) -> int:
    if not 1 <= value <= MAX_PAGE_SIZE:
        raise ConfigError(f"--page-size {value} must be from 1 to {MAX_PAGE_SIZE}")
    return value


def _git_head(cwd: Path) -> str | None:
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=cwd,
            capture_output=True,
            text=True,
            check=False,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def resolve_source_commit(explicit: str | None, cwd: Path = REPO_ROOT) -> str:
    """The deploy repo commit to tag resources with, or "unknown" when there is none."""
    candidate = explicit or _git_head(cwd)
    if candidate and COMMIT_RE.fullmatch(candidate):
        return candidate
    if candidate:
        # CodePipeline can hand CodeBuild an S3 object version here instead of a commit id.
        print(f"build.py: {candidate!r} is not a git commit id; tagging 'unknown'", file=sys.stderr)
    return "unknown"


def sagemaker_client(region: str) -> Any:
    """A SageMaker client from a fresh session, so credentials are looked up on every run."""
    session = boto3.session.Session(region_name=region)
    return session.client(
        "sagemaker", config=Config(retries={"mode": "standard", "max_attempts": 3})
    )


def s3_client(region: str) -> Any:
    session = boto3.session.Session(region_name=region)
    return session.client("s3", config=Config(retries={"mode": "standard", "max_attempts": 3}))


def _topic_arn(value: str) -> str:
    if TOPIC_ARN_RE.fullmatch(value) is None:
        raise ConfigError(
            f"notification topic (NOTIFICATION_TOPIC_ARN / --notification-topic-arn) = {value!r} "
            "is invalid: expected an SNS topic ARN such as arn:aws:sns:REGION:ACCOUNT:NAME"
        )
    return value


def _read_s3_text(s3: Any, uri: str) -> str:
    bucket, key = split_s3_uri(uri)
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "an error")
        raise ConfigError(
            f"cannot read the drift baseline {uri} ({code}); check that it exists and that the "
            "deploy CodeBuild role (or your credentials) may read it"
        ) from None
    return body.decode("utf-8", errors="replace")


def monitoring_inputs(
    sagemaker: Any, s3: Any, package_arn: str, region: str, topic_arn: str
) -> MonitoringInputs:
    """The deployed version's baselines and the alarm built on them (monitoring off without)."""
    image = monitor_image_uri(region)
    baselines = read_baselines(sagemaker.describe_model_package(ModelPackageName=package_arn))
    if baselines is None:
        print(
            f"build.py: note: {package_arn} was registered without data quality drift "
            "baselines; this deployment runs without drift monitoring. Run the model-build "
            "pipeline again to register a version with baselines."
        )
        alarm = unmonitored_alarm()
        statistics = constraints = ""
    else:
        constraints = baselines.constraints_uri
        statistics = baselines.statistics_uri
        alarm = drift_alarm(_read_s3_text(s3, constraints), constraints)
    return MonitoringInputs(
        image_uri=image,
        statistics_uri=statistics,
        constraints_uri=constraints,
        drift_features=alarm.features,
        drift_threshold=alarm.threshold,
        notification_topic_arn=topic_arn,
    )


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` as indented JSON, reporting an unwritable path as a configuration error."""
    try:
        path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"cannot write {path}: {error.strerror}") from None


def run(args: argparse.Namespace) -> int:
    """Validate every input, choose the model version, and write both stage exports."""
    project = load_project(args.project_file)
    role_arn = _required(
        args.model_execution_role_arn, "--model-execution-role-arn", "MODEL_EXECUTION_ROLE_ARN"
    )
    bucket = _required(args.artifact_bucket, "--artifact-bucket", "ARTIFACT_BUCKET")
    validate_account_inputs(role_arn, bucket)
    pinned = _pinned_version(args.model_package_version)
    page_size = _page_size(args.page_size)
    topic_arn = _topic_arn(args.notification_topic_arn)
    configs = {
        "staging": load_stage_config(args.staging_config, "staging"),
        "prod": load_stage_config(args.prod_config, "prod"),
    }
    group = args.model_package_group_name or project.model_package_group
    region = args.region or project.region

    sagemaker = sagemaker_client(region)
    chosen = select_version(sagemaker, group, region, pinned, page_size)
    monitoring = monitoring_inputs(sagemaker, s3_client(region), chosen.arn, region, topic_arn)
    deployment = Deployment(
        model_package_arn=chosen.arn,
        model_package_version=chosen.version,
        execution_role_arn=role_arn,
        artifact_bucket=bucket,
        source_commit=resolve_source_commit(args.source_commit),
        monitoring=monitoring,
    )
    outputs = {"staging": args.export_staging_config, "prod": args.export_prod_config}
    for stage in STAGES:
        write_json(outputs[stage], build_export(project, configs[stage], deployment))
    print(
        f"Deploying {group} version {chosen.version} ({chosen.arn}); wrote "
        f"{outputs['staging']} and {outputs['prod']}"
    )
    return 0


def _client_error_message(error: Exception) -> str:
    details = error.response.get("Error", {}) if isinstance(error, ClientError) else {}
    operation = getattr(error, "operation_name", "an AWS call")
    return (
        f"{operation} failed with {details.get('Code', 'an error')}: "
        f"{details.get('Message', str(error))}. Check that the CodeBuild role (or your "
        "credentials) may call it in this region."
    )


NO_CREDENTIALS = (
    "no AWS credentials found. Locally, set AWS_PROFILE or run `aws configure`; in CodeBuild "
    "the project's service role provides them."
)

# Expected failures, most specific first: (kind, message for the user, exit status).
FAILURES: tuple[tuple[type[Exception], Callable[[Exception], str], int], ...] = (
    (ConfigError, lambda error: f"configuration error: {error}", EXIT_FAILURE),
    (NoApprovedVersionError, str, EXIT_NO_APPROVED_VERSION),
    (RegistryError, str, EXIT_FAILURE),
    (NoCredentialsError, lambda _error: NO_CREDENTIALS, EXIT_FAILURE),
    (
        EndpointConnectionError,
        lambda error: f"could not reach SageMaker ({error}); check the region and AWS_ENDPOINT_URL",
        EXIT_FAILURE,
    ),
    (ClientError, _client_error_message, EXIT_FAILURE),
    (BotoCoreError, lambda error: f"AWS SDK error: {error}", EXIT_FAILURE),
)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status instead of raising for every expected failure."""
    args = build_parser().parse_args(argv)
    try:
        return run(args)
    except (ConfigError, RegistryError, ClientError, BotoCoreError) as error:
        _kind, describe, status = next(entry for entry in FAILURES if isinstance(error, entry[0]))
        print(f"build.py: {describe(error)}", file=sys.stderr)
        return status


if __name__ == "__main__":
    sys.exit(main())
