"""``local-run``: build a pipeline, then execute its definition on this machine.

The pipeline comes from a function that builds it (``--pipeline module:function``, defaulted
from ``[tool.mlops-toolkit]``) or from a definition file. Steps run here instead of as
SageMaker jobs, against whatever AWS ``AWS_ENDPOINT_URL`` or the credentials point at; with
neither configured, local-run starts an AWS stand-in itself, keeps its resources in the project's
local folder between runs, and stops it at the end.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from mlops_toolkit.artifacts import S3Location, put_file
from mlops_toolkit.aws import LazyClient, boto_session, client
from mlops_toolkit.cli_support import (
    CliError,
    coerce_parameters,
    env_default,
    parse_key_values,
    run_cli,
)
from mlops_toolkit.config import ProjectConfig, load_config
from mlops_toolkit.errors import LocalRunError
from mlops_toolkit.local_aws import stand_in_unless_configured
from mlops_toolkit.runner import fork_server, warm_server
from mlops_toolkit.runner.console import RichReporter, render_summary
from mlops_toolkit.runner.definition_cache import DefinitionCache, cached_build
from mlops_toolkit.runner.first_run import first_run_overrides
from mlops_toolkit.runner.parameters import input_data_value, resolve_parameters
from mlops_toolkit.runner.pipeline_source import (
    OFFERED,
    BuildInputs,
    BuiltPipeline,
    build_from_function,
    git_commit,
    load_definition_file,
)
from mlops_toolkit.runner.runner import (
    LocalRun,
    RunOptions,
    default_parallel_steps,
    new_execution_id,
)
from mlops_toolkit.runner.scripts import base_environment
from mlops_toolkit.runner.summary import SUCCEEDED
from mlops_toolkit.stand_in import DEFAULT_REGION

DEFAULT_RUNS_DIR = Path("local-runs")
DEFINITION_CACHE_DIR = "definitions"
ENV_ROLE_ARN = "SAGEMAKER_PIPELINE_ROLE_ARN"
ENV_ARTIFACT_BUCKET = "ARTIFACT_BUCKET"
EXIT_FAILED = 1
EXIT_INTERRUPTED = 130


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, not {text!r}")
    return value


def build_parser(config: ProjectConfig) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="local-run",
        description=(
            "Run a SageMaker pipeline on this machine from the definition the SDK generates: "
            "same steps, same scripts, same parameters as in SageMaker; no Docker, no jobs."
        ),
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--pipeline",
        default=config.pipeline,
        metavar="MODULE:FUNCTION",
        help="function that builds the pipeline (default: [tool.mlops-toolkit] pipeline, "
        "%(default)s)",
    )
    source.add_argument("--definition", type=Path, help="a pipeline definition JSON file instead")
    parser.add_argument(
        "--code",
        action="append",
        default=[],
        metavar="DIR=S3_URI",
        help="upload DIR to S3_URI before the run (the step code a --definition names)",
    )
    region = env_default("AWS_REGION", env_default("AWS_DEFAULT_REGION", config.region))
    parser.add_argument("--region", default=region, help="AWS region (default: %(default)s)")
    parser.add_argument("--pipeline-name", help="pipeline name (default: the pipeline's own)")
    parser.add_argument(
        "--role-arn",
        default=env_default(ENV_ROLE_ARN),
        help=f"execution role the pipeline is built with (default: ${ENV_ROLE_ARN})",
    )
    parser.add_argument(
        "--artifact-bucket",
        default=env_default(ENV_ARTIFACT_BUCKET),
        help=f"S3 bucket for step code and artifacts (default: ${ENV_ARTIFACT_BUCKET})",
    )
    parser.add_argument(
        "--stand-in",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="run against an AWS stand-in started here (default: only when neither "
        "AWS_ENDPOINT_URL nor AWS credentials are configured)",
    )
    parser.add_argument(
        "--input-data",
        metavar="PATH_OR_S3_URI",
        help="raw data for this run: a local file or folder, or an S3 URI (sets the parameter "
        f"[tool.mlops-toolkit] input-parameter names: {config.input_parameter})",
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
        "--definition-cache",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="reuse the definition built last time while the pipeline's package, the SDK and the "
        f"build inputs are unchanged (kept in <local-dir>/{DEFINITION_CACHE_DIR}; default: on)",
    )
    parser.add_argument(
        "--fork-server",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="run Python steps in children of a process that has already imported numpy, pandas, "
        "scikit-learn and XGBoost (default: on where the OS can fork, unless "
        f"{fork_server.ENV_DISABLE}=0); each step keeps its own process, folder, environment, "
        "log, exit status and timeout. The server stays warm for later runs until idle for "
        f"{warm_server.ENV_IDLE} seconds (default 600; 0: it stops with this run)",
    )
    parser.add_argument(
        "--max-parallel-steps",
        type=positive_int,
        default=default_parallel_steps(),
        metavar="N",
        help="steps that may run at once, as SageMaker's MaxParallelExecutionSteps: a step starts "
        "as soon as the steps it depends on have succeeded (default: one per CPU, at most 4: "
        "%(default)s; 1 runs them one after another)",
    )
    parser.add_argument(
        "--json", action="store_true", help="print the run summary as JSON on stdout when done"
    )
    parser.add_argument(
        "--verbose", action="store_true", help="show the SageMaker SDK's own log messages"
    )
    return parser


def parameter_overrides(args: argparse.Namespace, config: ProjectConfig) -> dict[str, str]:
    overrides = parse_key_values(args.param, "--param")
    if args.input_data:
        name = config.input_parameter
        if not name:
            raise CliError(
                "--input-data needs to know which parameter it sets: add input-parameter to "
                "[tool.mlops-toolkit] in pyproject.toml, or pass --param NAME=URI"
            )
        if name in overrides:
            raise CliError(f"give the input data once: --input-data or --param {name}=")
        overrides[name] = input_data_value(args.input_data)
    return overrides


@contextmanager
def stand_in_if_needed(
    args: argparse.Namespace, config: ProjectConfig, console: Console
) -> Iterator[argparse.Namespace]:
    """Yield the arguments to run with: as given, or pointed at a stand-in started here."""

    def say(text: str) -> None:
        console.print(escape(text), soft_wrap=True)

    with stand_in_unless_configured(
        args.region, config.state_dir, say, keep=True, wanted=args.stand_in
    ) as provisioned:
        if provisioned is None:
            yield args
        else:
            yield argparse.Namespace(
                **{
                    **vars(args),
                    "region": args.region or DEFAULT_REGION,
                    "role_arn": args.role_arn or provisioned.role_arn,
                    "artifact_bucket": args.artifact_bucket or provisioned.bucket,
                }
            )


def upload_code(pairs: list[str], session) -> None:
    s3 = client(session, "s3")
    for folder_text, uri in parse_key_values(pairs, "--code").items():
        folder, target = Path(folder_text), S3Location.parse(uri)
        if not folder.is_dir():
            raise CliError(f"--code {folder_text}={uri}: {folder} is not a folder")
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            key = f"{target.key.rstrip('/')}/{path.relative_to(folder).as_posix()}".lstrip("/")
            put_file(s3, path, target.bucket, key)


def load_pipeline(args: argparse.Namespace, config: ProjectConfig, session) -> BuiltPipeline:
    if args.definition:
        return load_definition_file(args.definition, args.pipeline_name)
    if not args.pipeline:
        raise CliError(
            "which pipeline? pass --pipeline module:function (or --definition FILE), or set "
            "pipeline in [tool.mlops-toolkit] of the project's pyproject.toml"
        )
    inputs = BuildInputs(
        role_arn=args.role_arn,
        default_bucket=args.artifact_bucket,
        region=session.region_name,
        boto_session=session,
        pipeline_name=args.pipeline_name,
        git_commit=git_commit(),
    )
    if not args.definition_cache:
        return build_from_function(args.pipeline, inputs, args.verbose)

    def build() -> BuiltPipeline:
        return build_from_function(args.pipeline, inputs, args.verbose)

    cache = DefinitionCache(config.root / config.local_dir / DEFINITION_CACHE_DIR)
    described = {name: getattr(inputs, name) for name in OFFERED if name != "boto_session"}
    return cached_build(cache, args.pipeline, described, session, build)


def run_parameters(
    args: argparse.Namespace, config: ProjectConfig, built: BuiltPipeline, session, console
) -> dict:
    overrides = parameter_overrides(args, config)
    declared = built.definition.get("Parameters", [])
    given = coerce_parameters(overrides, declared)
    defaults = resolve_parameters(declared, given)
    sagemaker = LazyClient(session, "sagemaker")
    first = first_run_overrides(built.definition, defaults, set(given), sagemaker)
    if first:
        console.print(
            "No Approved version with a data-quality baseline yet: this run skips the check and "
            f"registers a new baseline ({', '.join(f'{k}=true' for k in sorted(first))}).",
            soft_wrap=True,
        )
    return resolve_parameters(declared, given | coerce_parameters(first, declared))


def prepare_run(
    args: argparse.Namespace, config: ProjectConfig, console: Console
) -> tuple[LocalRun, RichReporter]:
    session = boto_session(args.region)
    upload_code(args.code, session)
    built = load_pipeline(args, config, session)
    parameters = run_parameters(args, config, built, session, console)
    execution_id = new_execution_id()
    options = RunOptions(
        # Absolute: each step's script runs inside its own workspace, not in this folder.
        run_dir=(args.run_dir or args.runs_dir / execution_id).resolve(),
        pipeline_name=args.pipeline_name or built.name,
        region=session.region_name,
        execution_id=execution_id,
        tags=config.tag_list,
        local_objects=built.uploads,
        max_parallel_steps=args.max_parallel_steps,
    )
    reporter = RichReporter(console)
    return LocalRun(built.definition, parameters, options, session, reporter), reporter


def execute(args: argparse.Namespace, config: ProjectConfig, console: Console) -> int:
    run, reporter = prepare_run(args, config, console)
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


def main(argv: list[str] | None = None) -> int:
    console = Console(stderr=True)

    def body() -> int:
        try:
            config = load_config()
            args = build_parser(config).parse_args(argv)
            # Started first: it imports the step libraries while the pipeline is being built.
            with (
                fork_server.fork_server(args.fork_server, base_environment()),
                stand_in_if_needed(args, config, console) as effective,
            ):
                return execute(effective, config, console)
        except LocalRunError as error:
            raise CliError(str(error)) from None

    return run_cli(body)


if __name__ == "__main__":
    sys.exit(main())
