"""``local-transform``: run a registered model version over a prefix as a batch transform job.

    local-transform --latest-approved --input data/batch/ --output predictions/
    local-transform --model-package-arn ARN --input s3://bucket/in/ --output s3://bucket/out/

Inputs and outputs are local folders or S3 prefixes (the stand-in's, when no AWS is
configured). The model is loaded exactly as ``serve-local`` loads it; data capture goes to
``--capture-dir`` as a transform job's ``DataCaptureConfig`` writes it (input and output
manifests), which ``drift-report`` reads.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from mlops_toolkit.aws import CLIENT_CONFIG, boto_session
from mlops_toolkit.cli_support import CliError, env_default, run_cli
from mlops_toolkit.config import load_config
from mlops_toolkit.endpoint.endpoint import add_source_arguments, resolve_source
from mlops_toolkit.endpoint.handler import InferenceHandler
from mlops_toolkit.endpoint.model_source import fetch_model
from mlops_toolkit.errors import LocalRunError
from mlops_toolkit.local_aws import stand_in_unless_configured
from mlops_toolkit.transform.capture import ManifestCapture
from mlops_toolkit.transform.objects import Store
from mlops_toolkit.transform.transform import (
    DEFAULT_RECORDS_PER_BATCH,
    TransformResult,
    TransformSettings,
    run_transform,
)

DEFAULT_CAPTURE_DIR = Path("local-transform") / "data-capture"


def build_parser() -> argparse.ArgumentParser:
    config = load_config()
    parser = argparse.ArgumentParser(
        prog="local-transform",
        description="Run a registered model version over every object under a prefix, as a "
        "SageMaker batch transform job would (SplitType Line, AssembleWith Line).",
    )
    add_source_arguments(parser, config, "run")
    parser.add_argument("--input", required=True, help="folder, file or s3:// prefix to score")
    parser.add_argument("--output", required=True, help="folder or s3:// prefix for *.out files")
    parser.add_argument(
        "--region",
        default=env_default("AWS_REGION", env_default("AWS_DEFAULT_REGION", config.region)),
    )
    parser.add_argument(
        "--job-name",
        default=f"{config.endpoint_name}-transform",
        help="names the capture folder (default %(default)s)",
    )
    parser.add_argument("--content-type", default="text/csv")
    parser.add_argument("--accept", default="text/csv")
    parser.add_argument(
        "--records-per-batch",
        type=int,
        default=DEFAULT_RECORDS_PER_BATCH,
        help="lines per request to the handler (MultiRecord; default %(default)s)",
    )
    parser.add_argument(
        "--capture-dir",
        type=Path,
        default=DEFAULT_CAPTURE_DIR,
        help="capture destination: manifests go to <this>/<job name>/input|output/yyyy/mm/dd/hh/ "
        "(default %(default)s)",
    )
    parser.add_argument("--no-capture", action="store_true", help="do not capture the input")
    return parser


def transform(args: argparse.Namespace, session) -> TransformResult:
    """Load the model, run the transform, and clean up the unpacked artifact."""
    work_dir = Path(tempfile.mkdtemp(prefix="local-transform-"))
    try:
        source = resolve_source(args, session)
        s3 = session.client("s3", config=CLIENT_CONFIG)
        handler = InferenceHandler(fetch_model(s3, source, work_dir), source.environment)
        capture = None if args.no_capture else ManifestCapture(args.capture_dir / args.job_name)
        settings = TransformSettings(args.content_type, args.accept, args.records_per_batch)
        return run_transform(handler, Store(s3), args.input, args.output, settings, capture)
    except LocalRunError as error:
        raise CliError(str(error)) from None
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)


def _report(result: TransformResult) -> None:
    print(f"Transformed {result.records} record(s) into {len(result.outputs)} output(s):")
    for output in result.outputs:
        print(f"  {output}")
    if result.capture_files:
        folder = Path(result.capture_files[0]).parents[5]
        print(f"  data capture manifests under {folder}")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    def body() -> int:
        needs_aws = not args.model_data or any(
            str(path).startswith("s3://") for path in (args.input, args.output)
        )
        if not needs_aws:  # a local artifact over local folders needs no AWS at all
            _report(transform(args, boto_session(args.region)))
            return 0
        state_dir = load_config().state_dir
        with stand_in_unless_configured(args.region, state_dir, print, keep=False):
            _report(transform(args, boto_session(args.region)))
        return 0

    return run_cli(body)


if __name__ == "__main__":
    sys.exit(main())
