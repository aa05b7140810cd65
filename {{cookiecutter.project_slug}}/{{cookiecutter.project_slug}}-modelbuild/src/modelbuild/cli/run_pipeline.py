"""``run-pipeline``: upsert the pipeline, start an execution, and wait for it to finish."""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from botocore.exceptions import ClientError

from modelbuild.aws import boto_session, newest_approved_package, sagemaker_client
from modelbuild.cli.common import (
    CliError,
    add_location_arguments,
    build_pipeline,
    parse_key_values,
    run_cli,
)
from modelbuild.settings import load_settings

TERMINAL_STATUSES = {"Succeeded", "Failed", "Stopped"}
BASELINE_PARAMETERS = ("SkipDataQualityCheck", "RegisterNewDataQualityBaseline")
# CodeBuild allows a build up to 8 hours; waiting as long by default lets it report the result.
DEFAULT_TIMEOUT_SECONDS = 8 * 3600
EXIT_FAILED = 1
EXIT_TIMEOUT = 3


@dataclass(frozen=True)
class WaitResult:
    status: str
    failure_reason: str | None
    waited_seconds: float


def build_parser() -> argparse.ArgumentParser:
    settings = load_settings()
    parser = argparse.ArgumentParser(
        prog="run-pipeline",
        description="Create or update the SageMaker pipeline, start it, and wait for the result.",
    )
    add_location_arguments(parser, settings)
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a pipeline parameter for this execution (repeatable), e.g. MseThreshold=5",
    )
    parser.add_argument(
        "--tag",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra tag for the pipeline (repeatable); project and owner tags are always set",
    )
    parser.add_argument("--description", default=settings.description, help="pipeline description")
    parser.add_argument(
        "--wait", action=argparse.BooleanOptionalAction, default=True, help="wait for the result"
    )
    parser.add_argument(
        "--timeout",
        type=positive_number,
        default=DEFAULT_TIMEOUT_SECONDS,
        help="seconds to wait before giving up (default: %(default)s, CodeBuild's maximum)",
    )
    parser.add_argument(
        "--poll-interval", type=positive_number, default=30.0, help="seconds between status checks"
    )
    return parser


def positive_number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


def coerce_parameters(overrides: dict[str, str], declared: list[dict]) -> dict[str, object]:
    """Check overrides against the definition's parameters and convert them to their types."""
    by_name = {parameter["Name"]: parameter for parameter in declared}
    converted: dict[str, object] = {}
    for name, text in overrides.items():
        if name not in by_name:
            raise CliError(
                f"--param {name}: the pipeline has no such parameter. "
                f"Known parameters: {', '.join(sorted(by_name))}."
            )
        parameter = by_name[name]
        converters: dict[str, Callable[[str], object]] = {"Integer": int, "Float": float}
        try:
            value = converters.get(parameter["Type"], str)(text)
        except ValueError:
            raise CliError(
                f"--param {name}: expected a {parameter['Type']} value, got {text!r}."
            ) from None
        allowed = parameter.get("EnumValues")
        if allowed and value not in allowed:
            raise CliError(f"--param {name}: {text!r} is not one of {', '.join(allowed)}.")
        converted[name] = value
    return converted


def first_run_baseline(client, group: str, overrides: dict[str, object]) -> dict[str, object]:
    """Parameters that let the first execution of a project succeed.

    The data-quality check compares new training data with the baseline of the newest Approved
    version; before one exists there is nothing to compare with and SageMaker fails the step. Until
    then, skip the check and register the new baseline, as AWS's monitoring template asks users to
    do by hand. Explicit ``--param`` values always win.
    """
    if any(name in overrides for name in BASELINE_PARAMETERS):
        return {}
    try:
        approved = newest_approved_package(client, group)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") not in (
            "ValidationException",
            "ResourceNotFound",
        ):
            raise
        approved = None  # the group does not exist yet: the first run creates it
    if approved:
        described = client.describe_model_package(ModelPackageName=approved)
        if described.get("DriftCheckBaselines", {}).get("ModelDataQuality"):
            return {}
    print(
        f"No Approved version with a data-quality baseline in {group} yet: this run skips the "
        "check and registers a new baseline (SkipDataQualityCheck=true, "
        "RegisterNewDataQualityBaseline=true).",
        file=sys.stderr,
    )
    # Spelled as SageMaker's Boolean parameters expect; str(True) would send "True".
    return {name: "true" for name in BASELINE_PARAMETERS}


def wait_for_execution(
    client,
    execution_arn: str,
    timeout: float,
    poll_interval: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> WaitResult | None:
    """Poll until the execution ends; ``None`` if ``timeout`` passes first."""
    started = clock()
    while True:
        described = client.describe_pipeline_execution(PipelineExecutionArn=execution_arn)
        status = described["PipelineExecutionStatus"]
        waited = clock() - started
        if status in TERMINAL_STATUSES:
            return WaitResult(status, described.get("FailureReason"), waited)
        if waited >= timeout:
            return None
        print(f"  {status} after {waited:.0f} s", file=sys.stderr)
        sleep(min(poll_interval, max(timeout - waited, 0.0)))


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    def body() -> int:
        settings = load_settings()
        overrides = parse_key_values(args.param, "--param")
        extra_tags = parse_key_values(args.tag, "--tag")
        session = boto_session(args.region)
        pipeline = build_pipeline(args, session)
        declared = [parameter.to_request() for parameter in pipeline.parameters]
        parameters = coerce_parameters(overrides, declared)
        client = sagemaker_client(session)
        group = settings.model_package_group_name
        parameters |= first_run_baseline(client, group, parameters)
        tags = settings.tags + [{"Key": k, "Value": v} for k, v in extra_tags.items()]
        upserted = pipeline.upsert(role_arn=args.role_arn, description=args.description, tags=tags)
        print(f"Upserted {upserted['PipelineArn']}", file=sys.stderr)
        execution = pipeline.start(parameters=parameters or None)
        execution_arn = execution.arn
        print(f"Started {execution_arn}", file=sys.stderr)
        report = {"pipeline_arn": upserted["PipelineArn"], "execution_arn": execution_arn}
        if not args.wait:
            print(json.dumps(report))
            return 0
        result = wait_for_execution(client, execution_arn, args.timeout, args.poll_interval)
        if result is None:
            report["status"] = "TimedOut"
            print(json.dumps(report))
            print(
                f"error: gave up after {args.timeout:.0f} s; the execution is still running "
                f"(see it with `aws sagemaker describe-pipeline-execution "
                f"--pipeline-execution-arn {execution_arn}`).",
                file=sys.stderr,
            )
            return EXIT_TIMEOUT
        report |= {"status": result.status, "failure_reason": result.failure_reason}
        print(json.dumps(report))
        if result.status != "Succeeded":
            print(f"error: execution {result.status}: {result.failure_reason}", file=sys.stderr)
            return EXIT_FAILED
        return 0

    return run_cli(body)


if __name__ == "__main__":
    sys.exit(main())
