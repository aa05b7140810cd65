#!/usr/bin/env python3
"""Staging batch test: the staging transform pipeline scores a small input and its output is sound.

Runs in the staging-test CodeBuild project (test/buildspec.yml) once the staging batch stack is
deployed: it uploads the sample rows under the stage's input prefix (a folder of this run's own),
starts the stage's pipeline with that folder as InputS3Uri, waits for the transform, and checks
that ``<object>.out`` holds one plausible prediction per row, as AssembleWith Line writes it.
Every check goes to the results file; a failure makes the exit status non-zero, which stops the
pipeline before the manual approval for production.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from endpoint_checks import CSV, Bounds, PayloadError, ResponseError, load_payload
from endpoint_checks import parse_predictions as parse_lines

HERE = Path(__file__).resolve().parent
EXIT_FAILED, EXIT_BAD_INPUT = 1, 2
SAMPLE_OBJECT = "sample.csv"
DONE = {"Succeeded", "Failed", "Stopped"}
REQUIRED = ("BatchName", "ArtifactBucket", "ProjectSlug", "StageName")


class InputError(ValueError):
    """An unusable input to the test itself (not a fault of the transform)."""


def _env(name: str) -> str | None:
    return os.environ.get(name) or None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add(
        "--build-config",
        type=Path,
        default=_env("BUILD_CONFIG"),
        help="staging config export (BUILD_CONFIG; required)",
    )
    add(
        "--export-test-results",
        type=Path,
        default=Path(_env("EXPORT_TEST_RESULTS") or "batch-test-results.json"),
        help="results file to write (EXPORT_TEST_RESULTS; default: %(default)s)",
    )
    add("--sample", type=Path, default=HERE / "sample-payload.csv", help="raw rows to transform")
    add("--timeout-seconds", type=float, default=3600.0, help="wait for the transform this long")
    add("--poll-seconds", type=float, default=30.0, help="seconds between status checks")
    add("--min-prediction", type=float, default=0.0, help="smallest plausible prediction")
    add("--max-prediction", type=float, default=40.0, help="largest plausible prediction")
    add("--region", default=_env("AWS_REGION") or _env("AWS_DEFAULT_REGION"), help="AWS region")
    return parser


def read_batch_config(path: Path | None) -> dict[str, str]:
    """The parameters the staging batch stack was deployed with (batch-export.jq's output)."""
    if path is None:
        raise InputError("BUILD_CONFIG is not set: set it or pass --build-config")
    try:
        parameters = json.loads(path.read_text(encoding="utf-8")).get("Parameters") or {}
    except (OSError, ValueError, AttributeError) as error:
        raise InputError(f"cannot read the batch build config {path}: {error}") from None
    missing = [key for key in REQUIRED if not isinstance(parameters.get(key), str)]
    if missing:
        raise InputError(f"batch build config {path} lacks Parameters {', '.join(missing)}")
    return parameters


def start_transform(sagemaker: Any, s3: Any, config: dict[str, str], rows: list[str]) -> str:
    """Upload the rows as this run's own input folder and start the stage's pipeline on it."""
    bucket = config["ArtifactBucket"]
    prefix = f"{config['ProjectSlug']}/batch/{config['StageName']}/input/staging-test-"
    folder = f"{prefix}{uuid.uuid4().hex[:12]}/"
    body = "".join(row + "\n" for row in rows).encode()
    s3.put_object(Bucket=bucket, Key=folder + SAMPLE_OBJECT, Body=body)
    started = sagemaker.start_pipeline_execution(
        PipelineName=config["BatchName"],
        PipelineParameters=[{"Name": "InputS3Uri", "Value": f"s3://{bucket}/{folder}"}],
        ClientRequestToken=uuid.uuid4().hex,
    )
    return started["PipelineExecutionArn"]


def wait_for(sagemaker: Any, arn: str, timeout: float, poll: float) -> str:
    deadline = time.monotonic() + timeout
    while True:
        status = sagemaker.describe_pipeline_execution(PipelineExecutionArn=arn)
        state = status["PipelineExecutionStatus"]
        if state in DONE or time.monotonic() >= deadline:
            return state
        time.sleep(poll)


def read_predictions(s3: Any, config: dict[str, str], arn: str) -> bytes:
    """``sample.csv.out`` under output/<execution id>/, where the pipeline writes it."""
    execution_id = arn.rsplit("/", 1)[-1]
    key = (
        f"{config['ProjectSlug']}/batch/{config['StageName']}/output/{execution_id}/"
        f"{SAMPLE_OBJECT}.out"
    )
    return s3.get_object(Bucket=config["ArtifactBucket"], Key=key)["Body"].read()


def run_checks(args: argparse.Namespace, checks: list[dict[str, Any]]) -> None:
    def record(name: str, passed: bool, detail: str) -> None:
        checks.append({"name": name, "passed": passed, "detail": detail})
        print(f"{'PASS' if passed else 'FAIL'} {name}: {detail}")

    if args.timeout_seconds <= 0 or args.poll_seconds <= 0:
        raise InputError("--timeout-seconds and --poll-seconds must be greater than 0")
    config = read_batch_config(args.build_config)
    rows = load_payload(args.sample)
    session = boto3.session.Session(region_name=args.region)
    retries = Config(retries={"mode": "standard", "max_attempts": 3})
    sagemaker, s3 = session.client("sagemaker", config=retries), session.client("s3")
    arn = start_transform(sagemaker, s3, config, rows)
    state = wait_for(sagemaker, arn, args.timeout_seconds, args.poll_seconds)
    record("transform", state == "Succeeded", f"{arn} ended {state}")
    if state != "Succeeded":
        return
    bounds = Bounds(args.min_prediction, args.max_prediction)
    try:
        predictions = parse_lines(CSV, read_predictions(s3, config, arn), len(rows), bounds)
    except ResponseError as error:
        record("predictions", False, str(error))
    else:
        record("predictions", True, f"{len(predictions)} rows, one plausible prediction each")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    checks: list[dict[str, Any]] = []
    status = EXIT_FAILED
    try:
        run_checks(args, checks)
    except (InputError, PayloadError) as error:
        checks.append({"name": "inputs", "passed": False, "detail": str(error)})
        print(f"FAIL inputs: {error}")
        status = EXIT_BAD_INPUT
    except (ClientError, BotoCoreError) as error:
        checks.append({"name": "aws", "passed": False, "detail": str(error)})
        print(f"FAIL aws: {error}")
    passed = bool(checks) and all(check["passed"] for check in checks)
    try:
        args.export_test_results.write_text(
            json.dumps({"passed": passed, "checks": checks}, indent=2) + "\n", encoding="utf-8"
        )
    except OSError as error:
        print(f"batch_test.py: cannot write {args.export_test_results}: {error}", file=sys.stderr)
        return EXIT_FAILED
    return 0 if passed else status


if __name__ == "__main__":
    sys.exit(main())
