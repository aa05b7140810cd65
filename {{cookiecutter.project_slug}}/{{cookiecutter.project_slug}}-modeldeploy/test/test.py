#!/usr/bin/env python3
"""Staging test: the staging endpoint is in service, captures data, and answers real rows.

Runs in the staging-test CodeBuild project (test/buildspec.yml) once the staging stack is
deployed. Every check is written to the results file; any failure makes the exit status non-zero,
which stops the pipeline before the manual approval for production.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from endpoint_checks import (
    CSV,
    Bounds,
    PayloadError,
    ResponseError,
    latency_summary,
    load_payload,
    parse_predictions,
)
from endpoint_status import EndpointCheckFailed, check_data_capture, wait_until_in_service

HERE = Path(__file__).resolve().parent
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EPILOG = """\
Exit status: 0 every check passed; 1 a check failed; 2 the inputs (build config, payload,
options) are unusable. The results file is written in every case.
"""


class InputError(ValueError):
    """An unusable input to the staging test itself (not a fault of the endpoint)."""


@dataclass
class Report:
    """Outcome of every check, written as the results file."""

    endpoint_name: str | None
    rows_sent: int = 0
    checks: list[dict[str, Any]] = field(default_factory=list)
    latency_ms: dict[str, float | int] = field(default_factory=dict)
    predictions: dict[str, float] = field(default_factory=dict)

    def record(self, check: str, passed: bool, detail: str) -> None:
        self.checks.append({"name": check, "passed": passed, "detail": detail})
        print(f"{'PASS' if passed else 'FAIL'} {check}: {detail}")

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(check["passed"] for check in self.checks)

    def as_dict(self) -> dict[str, Any]:
        return {
            "endpoint_name": self.endpoint_name,
            "passed": self.passed,
            "rows_sent": self.rows_sent,
            "checks": self.checks,
            "latency_ms": self.latency_ms,
            "predictions": self.predictions,
        }


@dataclass(frozen=True)
class Answer:
    """One endpoint response and how long it took."""

    content_type: str
    body: bytes
    latency_ms: float


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
        "--build-config",
        type=Path,
        default=_env("BUILD_CONFIG"),
        help="staging config export written by build.py (BUILD_CONFIG; required)",
    )
    add(
        "--export-test-results",
        type=Path,
        default=Path(_env("EXPORT_TEST_RESULTS") or "test-results.json"),
        help="results file to write (EXPORT_TEST_RESULTS; default: %(default)s)",
    )
    add(
        "--payload",
        type=Path,
        default=HERE / "sample-payload.csv",
        help="raw feature rows to send (default: test/sample-payload.csv)",
    )
    add(
        "--timeout-seconds", type=float, default=1800.0, help="wait for InService at most this long"
    )
    add(
        "--poll-seconds",
        type=float,
        default=30.0,
        help="seconds between status checks (default: %(default)s)",
    )
    add(
        "--min-prediction",
        type=float,
        default=0.0,
        help="smallest plausible prediction (default: %(default)s)",
    )
    add(
        "--max-prediction",
        type=float,
        default=40.0,
        help="largest plausible prediction (default: %(default)s)",
    )
    add(
        "--region",
        default=_env("AWS_REGION") or _env("AWS_DEFAULT_REGION"),
        help="AWS region (AWS_REGION / AWS_DEFAULT_REGION; default: project.json)",
    )
    return parser


def read_endpoint_name(path: Path | None) -> str:
    """The endpoint the staging stack was deployed with, from build.py's export."""
    if path is None:
        raise InputError("BUILD_CONFIG is not set: set it or pass --build-config")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise InputError(f"cannot read build config {path}: {error.strerror}") from None
    except json.JSONDecodeError as error:
        raise InputError(f"build config {path} is not valid JSON ({error})") from None
    parameters = data.get("Parameters") if isinstance(data, dict) else None
    name = parameters.get("EndpointName") if isinstance(parameters, dict) else None
    if not isinstance(name, str) or not name:
        raise InputError(f"build config {path} has no Parameters.EndpointName; is it build.py's?")
    return name


def resolve_region(explicit: str | None) -> str:
    """The region from the options/environment, else the one the project was generated for."""
    if explicit:
        return explicit
    try:
        return json.loads((HERE.parent / "project.json").read_text(encoding="utf-8"))["aws_region"]
    except (OSError, ValueError, KeyError):
        raise InputError("no region: set AWS_REGION or pass --region") from None


def check_options(args: argparse.Namespace) -> Bounds:
    """Reject option values that would make the test meaningless."""
    if args.timeout_seconds <= 0 or args.poll_seconds <= 0:
        raise InputError("--timeout-seconds and --poll-seconds must be greater than 0")
    if args.min_prediction >= args.max_prediction:
        raise InputError("--min-prediction must be below --max-prediction")
    return Bounds(args.min_prediction, args.max_prediction)


def make_clients(region: str) -> tuple[Any, Any]:
    """SageMaker and SageMaker runtime clients; both honour AWS_ENDPOINT_URL* overrides."""
    session = boto3.session.Session(region_name=region)
    control = session.client(
        "sagemaker", config=Config(retries={"mode": "standard", "max_attempts": 3})
    )
    # Invocations time out after 60 s on SageMaker's side; wait a little longer than that.
    runtime = session.client(
        "sagemaker-runtime",
        config=Config(read_timeout=70, retries={"mode": "standard", "max_attempts": 2}),
    )
    return control, runtime


def describe_endpoint(client: Any, name: str) -> dict[str, Any]:
    """DescribeEndpoint, with a missing endpoint or an AWS error reported as a failed check."""
    try:
        return client.describe_endpoint(EndpointName=name)
    except ClientError as error:
        message = error.response.get("Error", {}).get("Message", str(error))
        raise EndpointCheckFailed(
            "endpoint_in_service",
            f"cannot describe endpoint {name} ({message}); did the staging stack deploy?",
        ) from None
    except BotoCoreError as error:
        raise EndpointCheckFailed(
            "endpoint_in_service", f"cannot call DescribeEndpoint: {error}"
        ) from None


def invoke(runtime: Any, name: str, rows: Sequence[str]) -> Answer:
    """Send ``rows`` as one text/csv request and time the round trip."""
    started = time.perf_counter()
    response = runtime.invoke_endpoint(
        EndpointName=name, ContentType=CSV, Accept=CSV, Body="\n".join(rows).encode("utf-8")
    )
    body = response["Body"].read()
    elapsed_ms = (time.perf_counter() - started) * 1000
    return Answer(response.get("ContentType", ""), body, elapsed_ms)


def ask(
    runtime: Any, name: str, rows: Sequence[str], bounds: Bounds
) -> tuple[list[float], float | None, str | None]:
    """(predictions, latency in ms or None, what went wrong or None) for one request."""
    try:
        answer = invoke(runtime, name, rows)
    except ClientError as error:
        details = error.response.get("Error", {})
        return [], None, f"{details.get('Code', 'error')}: {details.get('Message', error)}"
    except BotoCoreError as error:
        return [], None, str(error)
    try:
        predictions = parse_predictions(answer.content_type, answer.body, len(rows), bounds)
    except ResponseError as error:
        return [], answer.latency_ms, str(error)
    return predictions, answer.latency_ms, None


def _prediction_stats(predictions: Sequence[float]) -> dict[str, float]:
    if not predictions:
        return {}
    return {
        "min": min(predictions),
        "max": max(predictions),
        "mean": round(statistics.fmean(predictions), 4),
    }


def _first_failures(failures: Sequence[str], total: int, shown: int = 3) -> str:
    more = f"; and {len(failures) - shown} more" if len(failures) > shown else ""
    return f"{len(failures)}/{total} failed: " + "; ".join(failures[:shown]) + more


def check_single_rows(
    report: Report, runtime: Any, name: str, rows: Sequence[str], bounds: Bounds
) -> None:
    """One request per row: every row must get a plausible prediction; latency is measured here."""
    latencies: list[float] = []
    predictions: list[float] = []
    failures: list[str] = []
    for number, row in enumerate(rows, start=1):
        values, latency, problem = ask(runtime, name, [row], bounds)
        if latency is not None:
            latencies.append(latency)
        if problem is not None:
            failures.append(f"row {number}: {problem}")
        predictions.extend(values)
    report.latency_ms = latency_summary(latencies)
    report.predictions = _prediction_stats(predictions)
    if failures:
        report.record("single_row_invocations", False, _first_failures(failures, len(rows)))
        return
    report.record(
        "single_row_invocations",
        True,
        f"{len(rows)} rows answered in [{bounds.low:g}, {bounds.high:g}]; latency p50 "
        f"{report.latency_ms['p50']} ms, p95 {report.latency_ms['p95']} ms",
    )


def check_batch(
    report: Report, runtime: Any, name: str, rows: Sequence[str], bounds: Bounds
) -> None:
    """All rows in one request: the answer must hold exactly one prediction per row."""
    values, _latency, problem = ask(runtime, name, rows, bounds)
    if problem is not None:
        report.record("batch_invocation", False, f"{len(rows)}-row request: {problem}")
        return
    report.record("batch_invocation", True, f"{len(values)} predictions for {len(rows)} rows")


def run_checks(
    report: Report, name: str, args: argparse.Namespace, rows: list[str], bounds: Bounds
) -> None:
    """Every staging check in order; invocations are skipped only if the endpoint never serves."""
    control, runtime = make_clients(resolve_region(args.region))
    try:
        description = wait_until_in_service(
            lambda: describe_endpoint(control, name), args.timeout_seconds, args.poll_seconds
        )
    except EndpointCheckFailed as failure:
        report.record(failure.check, False, str(failure))
        return
    report.record("endpoint_in_service", True, f"{name} is InService")
    try:
        report.record("data_capture_enabled", True, check_data_capture(description))
    except EndpointCheckFailed as failure:
        report.record(failure.check, False, str(failure))
    report.rows_sent = len(rows)
    check_single_rows(report, runtime, name, rows, bounds)
    check_batch(report, runtime, name, rows, bounds)


def write_results(report: Report, path: Path) -> bool:
    """Write the results file; False (with a message) when it cannot be written."""
    try:
        path.write_text(json.dumps(report.as_dict(), indent=2) + "\n", encoding="utf-8")
    except OSError as error:
        print(f"test.py: cannot write results to {path}: {error.strerror}", file=sys.stderr)
        return False
    print(f"Results written to {path}")
    return True


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: run the checks, write the results, return the exit status."""
    args = build_parser().parse_args(argv)
    report = Report(endpoint_name=None)
    status = EXIT_FAILED
    try:
        bounds = check_options(args)
        name = read_endpoint_name(args.build_config)
        rows = load_payload(args.payload)
    except (InputError, PayloadError) as error:
        report.record("inputs", False, str(error))
        status = EXIT_BAD_INPUT
    else:
        report.endpoint_name = name
        try:
            run_checks(report, name, args, rows, bounds)
        except InputError as error:
            report.record("inputs", False, str(error))
            status = EXIT_BAD_INPUT
    written = write_results(report, args.export_test_results)
    return 0 if report.passed and written else status


if __name__ == "__main__":
    sys.exit(main())
