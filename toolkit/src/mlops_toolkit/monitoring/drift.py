"""``drift-report``: compare captured endpoint requests with a data-quality baseline.

Writes, like a Model Monitor monitoring job, ``constraint_violations.json`` and the current
``statistics.json``, plus ``drift-report.html`` for a person. Exit status: 0 when the data meets
the baseline, 3 when there are violations (1 or 2 when the check itself could not run).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from mlops_toolkit.artifacts import is_s3_uri
from mlops_toolkit.aws import CLIENT_CONFIG, boto_session
from mlops_toolkit.cli_support import CliError, run_cli
from mlops_toolkit.config import load_config
from mlops_toolkit.endpoint.model_source import latest_approved
from mlops_toolkit.errors import LocalRunError
from mlops_toolkit.local_aws import stand_in_unless_configured
from mlops_toolkit.monitoring import baseline_source, drift_html
from mlops_toolkit.monitoring.capture_reader import read_capture, to_table
from mlops_toolkit.monitoring.drift_check import Violation, check, violations_document
from mlops_toolkit.monitoring.monitor_stats import statistics

EXIT_VIOLATIONS = 3
VIOLATIONS_FILE = "constraint_violations.json"
STATISTICS_FILE = "statistics.json"
HTML_FILE = "drift-report.html"


@dataclass(frozen=True)
class Report:
    violations: list[Violation]
    records: int
    output_dir: Path

    @property
    def drifted_features(self) -> list[str]:
        return sorted({violation.feature_name for violation in self.violations})


def write_report(capture: Path, baseline: baseline_source.Baseline, output_dir: Path) -> Report:
    names = [feature["name"] for feature in baseline.constraints["features"]]
    records = read_capture(capture, names)
    table, shape = to_table(records.rows, names)
    violations = check(baseline.statistics, baseline.constraints, table, shape)
    current = statistics(table)
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / VIOLATIONS_FILE).write_text(
        json.dumps(violations_document(violations), indent=2) + "\n", "utf-8"
    )
    (output_dir / STATISTICS_FILE).write_text(json.dumps(current, indent=2) + "\n", "utf-8")
    html = drift_html.render(baseline.statistics, current, violations, str(capture))
    (output_dir / HTML_FILE).write_text(html, "utf-8")
    return Report(violations, table.row_count, output_dir)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="drift-report",
        description=(
            "Compare captured requests (an endpoint's SageMaker data-capture JSON Lines, or a "
            "batch transform's capture manifests) with a "
            "data-quality baseline; write Model Monitor's constraint_violations.json and an "
            "HTML picture. By default the baseline is the drift-check baseline of the newest "
            "Approved model version in the project's model package group ([tool.mlops-toolkit])."
        ),
    )
    parser.add_argument(
        "capture",
        type=Path,
        help="a capture .jsonl file, or a folder of endpoint or transform capture",
    )
    parser.add_argument("--statistics", help="baseline statistics.json (path or S3 URI)")
    parser.add_argument("--constraints", help="baseline constraints.json (path or S3 URI)")
    parser.add_argument("--model-package-arn", help="use this model version's drift baseline")
    parser.add_argument("--model-package-group", help="group whose newest Approved version to use")
    parser.add_argument("--region", help="AWS region (default: the configured one)")
    parser.add_argument(
        "--output-dir", type=Path, default=Path("drift-report"), help="default: %(default)s"
    )
    return parser


def resolve_baseline(args: argparse.Namespace) -> baseline_source.Baseline:
    session = boto_session(args.region or load_config().region)
    s3 = session.client("s3", config=CLIENT_CONFIG)

    def read(location: str) -> bytes:
        return baseline_source.read_bytes(location, s3)

    if args.statistics or args.constraints:
        if not (args.statistics and args.constraints) or args.model_package_arn:
            raise CliError("give both --statistics and --constraints (and no --model-package-arn)")
        return baseline_source.load(args.statistics, args.constraints, read)
    sagemaker = session.client("sagemaker", config=CLIENT_CONFIG)
    group = args.model_package_group or load_config().model_package_group
    if not (args.model_package_arn or group):
        raise CliError(
            "which baseline? pass --statistics and --constraints, --model-package-arn, or "
            "--model-package-group (or set model-package-group in [tool.mlops-toolkit])"
        )
    arn = args.model_package_arn or latest_approved(sagemaker, group)
    return baseline_source.load(*baseline_source.registered_uris(sagemaker, arn), read)


def print_report(console: Console, report: Report) -> None:
    html = escape(str(report.output_dir / HTML_FILE))
    if not report.violations:
        console.print(f"[green]No violations[/] in {report.records} record(s). Picture: {html}")
        return
    console.print(
        f"[red]{len(report.violations)} violation(s)[/] in {report.records} record(s), on: "
        f"{escape(', '.join(report.drifted_features))}"
    )
    for violation in report.violations:
        console.print(
            f"  {escape(violation.feature_name)}: {violation.constraint_check_type}: "
            f"{escape(violation.description)}",
            soft_wrap=True,
        )
    console.print(
        f"Violations: {escape(str(report.output_dir / VIOLATIONS_FILE))}; picture: {html}"
    )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    console = Console(stderr=True)

    def body() -> int:
        config = load_config()
        files_only = not any(is_s3_uri(f or "s3://") for f in (args.statistics, args.constraints))
        try:
            with stand_in_unless_configured(
                args.region or config.region,
                config.state_dir,
                lambda text: console.print(escape(text), soft_wrap=True),
                keep=False,
                wanted=False if files_only else None,
            ):
                report = write_report(args.capture, resolve_baseline(args), args.output_dir)
        except LocalRunError as error:
            raise CliError(str(error)) from None
        print_report(console, report)
        return EXIT_VIOLATIONS if report.violations else 0

    return run_cli(body)


if __name__ == "__main__":
    sys.exit(main())
