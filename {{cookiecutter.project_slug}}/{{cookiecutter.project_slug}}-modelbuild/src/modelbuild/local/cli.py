"""``local-run``: build the pipeline, then execute its definition on this machine.

The pipeline is built exactly as ``run-pipeline`` builds it (the step code is uploaded to the
artifact bucket), against whatever AWS ``AWS_ENDPOINT_URL`` points at: the embedded stand-in of
``make demo``, or a real account. Steps run here instead of as SageMaker jobs; outputs and the
registered model version land in that AWS.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from modelbuild.aws import boto_session
from modelbuild.cli.common import (
    CliError,
    add_location_arguments,
    build_pipeline,
    parse_key_values,
    run_cli,
)
from modelbuild.cli.run_pipeline import coerce_parameters
from modelbuild.local.console import RichReporter, render_summary
from modelbuild.local.errors import LocalRunError
from modelbuild.local.parameters import INPUT_DATA_PARAMETER, input_data_value, resolve_parameters
from modelbuild.local.runner import LocalRun, RunOptions, new_execution_id
from modelbuild.local.summary import SUCCEEDED
from modelbuild.settings import load_settings

DEFAULT_RUNS_DIR = Path("local-runs")
EXIT_FAILED = 1
EXIT_INTERRUPTED = 130


def build_parser() -> argparse.ArgumentParser:
    settings = load_settings()
    parser = argparse.ArgumentParser(
        prog="local-run",
        description=(
            "Run the pipeline on this machine from the definition the SDK generates: same steps, "
            "same scripts, same parameters as in SageMaker; no Docker, no SageMaker jobs."
        ),
    )
    add_location_arguments(parser, settings)
    parser.add_argument(
        "--input-data",
        metavar="PATH_OR_S3_URI",
        help=(
            "raw data for this run: a local file or folder, or an S3 URI "
            f"(sets the {INPUT_DATA_PARAMETER} parameter)"
        ),
    )
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a pipeline parameter (repeatable), e.g. MseThreshold=5",
    )
    parser.add_argument(
        "--runs-dir",
        type=Path,
        default=DEFAULT_RUNS_DIR,
        help="where each run gets its own folder (default: %(default)s)",
    )
    parser.add_argument(
        "--run-dir",
        type=Path,
        help="exact folder for this run (default: <runs-dir>/<execution id>)",
    )
    parser.add_argument(
        "--json", action="store_true", help="print the run summary as JSON on stdout when done"
    )
    return parser


def parameter_overrides(args: argparse.Namespace) -> dict[str, str]:
    overrides = parse_key_values(args.param, "--param")
    if args.input_data:
        if INPUT_DATA_PARAMETER in overrides:
            raise CliError(
                f"give the input data once: --input-data or --param {INPUT_DATA_PARAMETER}="
            )
        overrides[INPUT_DATA_PARAMETER] = input_data_value(args.input_data)
    return overrides


def build_definition(args: argparse.Namespace, session) -> tuple[str, dict]:
    """Build the pipeline as run-pipeline does (this uploads the step code): name, definition."""
    pipeline = build_pipeline(args, session)
    return pipeline.name, json.loads(pipeline.definition())


def prepare_run(args: argparse.Namespace, console: Console) -> tuple[LocalRun, RichReporter]:
    overrides = parameter_overrides(args)
    session = boto_session(args.region)
    pipeline_name, definition = build_definition(args, session)
    declared = definition.get("Parameters", [])
    parameters = resolve_parameters(declared, coerce_parameters(overrides, declared))
    execution_id = new_execution_id()
    options = RunOptions(
        run_dir=args.run_dir or args.runs_dir / execution_id,
        pipeline_name=pipeline_name,
        region=session.region_name,
        execution_id=execution_id,
        tags=load_settings().tags,
    )
    reporter = RichReporter(console)
    try:
        return LocalRun(definition, parameters, options, session, reporter), reporter
    except LocalRunError as error:
        raise CliError(str(error)) from None


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    console = Console(stderr=True)

    def body() -> int:
        run, reporter = prepare_run(args, console)
        summary_file = run.layout.summary_file
        console.print(
            f"Local run [bold]{run.options.execution_id}[/] of pipeline "
            f"{run.options.pipeline_name} in {escape(str(run.layout.root))}",
            soft_wrap=True,
        )
        try:
            summary = run.run()
        except KeyboardInterrupt:
            reporter.stop()
            console.print(f"[yellow]Interrupted.[/] Partial summary: {escape(str(summary_file))}")
            return EXIT_INTERRUPTED
        render_summary(console, summary, str(summary_file))
        if args.json:
            print(json.dumps(summary.to_dict(), indent=2, default=str))
        return 0 if summary.status == SUCCEEDED else EXIT_FAILED

    return run_cli(body)


if __name__ == "__main__":
    sys.exit(main())
