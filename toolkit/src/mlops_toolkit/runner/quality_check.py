"""Run a QualityCheck step (data quality) as SageMaker's baselining job and check would.

1. Compute ``statistics.json`` and ``constraints.json`` (Model Monitor's formats) for the
   baseline dataset and upload them to the step's output.
2. Unless ``SkipCheck``, compare the dataset with the previous baseline (the supplied files, else
   the drift-check baseline of the group's newest Approved version) and, with
   ``FailOnViolation``, fail on violations. As in SageMaker, a check needs a previous baseline:
   a first run passes SkipCheck and RegisterNewBaseline.
3. Resolve the properties RegisterModel reads: ``CalculatedBaseline*`` (this run's files) and
   ``BaselineUsedForDriftCheck*`` (the new files with ``RegisterNewBaseline``, else the previous).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from mlops_toolkit.aws import newest_approved_package
from mlops_toolkit.errors import StepFailed, UnsupportedStepError
from mlops_toolkit.monitoring import baseline_source
from mlops_toolkit.runner.context import StepContext, StepOutcome
from mlops_toolkit.runner.processing import stage_inputs
from mlops_toolkit.runner.workspace import container_path

# The statistics need numpy: imported when a check step runs rather than when local-run starts
# (a tenth of a second of its start-up), while the step beside it (training) runs.
if TYPE_CHECKING:
    from mlops_toolkit.monitoring.monitor_stats import Table

DATA_QUALITY = "DATA_QUALITY"
STATISTICS, CONSTRAINTS, VIOLATIONS = (
    "statistics.json",
    "constraints.json",
    "constraint_violations.json",
)


def flag(value: Any, name: str, step: str) -> bool:
    if isinstance(value, bool):
        return value
    if str(value).lower() in ("true", "false"):
        return str(value).lower() == "true"
    raise StepFailed(f"step {step}: {name} must be true or false, not {value!r}")


def read_dataset(folder: Path, header: bool, step: str) -> Table:
    from mlops_toolkit.monitoring.monitor_stats import Table

    rows: list[list[str]] = []
    names: list[str] | None = None
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        with path.open(newline="", encoding="utf-8") as handle:
            file_rows = [row for row in csv.reader(handle) if row]
        if header and file_rows:
            if names is not None and file_rows[0] != names:
                raise StepFailed(f"step {step}: {path.name} has a different header than the rest")
            names, file_rows = file_rows[0], file_rows[1:]
        rows += file_rows
    if not rows:
        raise StepFailed(f"step {step}: the baseline dataset under {folder} holds no rows")
    width = len(names) if names else len(rows[0])
    names = names or [f"_c{index}" for index in range(width)]
    wrong = [index for index, row in enumerate(rows) if len(row) != width]
    if wrong:
        raise StepFailed(
            f"step {step}: {len(wrong)} baseline row(s) do not have {width} columns "
            f"(first: data row {wrong[0] + 1})"
        )
    return Table(names, [[row[i] or None for row in rows] for i in range(width)])


def dataset_header(arguments: dict[str, Any], step: str) -> bool:
    dataset_format = json.loads(arguments.get("Environment", {}).get("dataset_format", "{}"))
    if set(dataset_format) != {"csv"}:
        raise UnsupportedStepError(
            f"step {step}: dataset format {dataset_format} does not run locally (CSV only)"
        )
    return bool(dataset_format["csv"].get("header", True))


def previous_baseline(step: dict[str, Any], client, name: str) -> tuple[str, str] | None:
    supplied = step.get("SuppliedBaselineStatistics"), step.get("SuppliedBaselineConstraints")
    if any(supplied):
        if not all(supplied):
            raise StepFailed(f"step {name}: supply both baseline statistics and constraints")
        return str(supplied[0]), str(supplied[1])
    group = step.get("ModelPackageGroupName")
    try:
        approved = newest_approved_package(client, group)
    except ClientError:
        return None
    if approved is None:
        return None
    return baseline_source.registered_uris(client, approved)


def write_json(folder: Path, name: str, document: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")


def _compare(table: Table, previous: tuple[str, str], ctx: StepContext, out: Path) -> list:
    from mlops_toolkit.monitoring.drift_check import Shape, check, violations_document

    baseline = baseline_source.load(*previous, ctx.store.read)
    shape = Shape({len(table.names): table.row_count})
    found = check(baseline.statistics, baseline.constraints, table, shape)
    write_json(out, VIOLATIONS, violations_document(found))
    ctx.log(f"# compared with {previous[0]}: {len(found)} violation(s)")
    return found


def compute_baseline(arguments: dict[str, Any], ctx: StepContext) -> tuple[Table, Path, str]:
    """The baselining job: the dataset's statistics and suggested constraints, in its output."""
    from mlops_toolkit.monitoring.monitor_stats import statistics, suggest_constraints

    header = dataset_header(arguments, ctx.name)
    stage_inputs(arguments, ctx)
    dataset = container_path(ctx.workspace, arguments["Environment"]["dataset_source"])
    table = read_dataset(dataset, header, ctx.name)
    [output] = arguments["ProcessingOutputConfig"]["Outputs"]
    out = container_path(ctx.workspace, output["S3Output"]["LocalPath"])
    stats = statistics(table)
    write_json(out, STATISTICS, stats)
    write_json(out, CONSTRAINTS, suggest_constraints(stats))
    ctx.log(f"# baseline of {table.row_count} row(s), features: {', '.join(table.names)}")
    return table, out, str(output["S3Output"]["S3Uri"]).rstrip("/")


def check_properties(
    uri: str, used: tuple[str, str], skip: bool, ctx: StepContext
) -> dict[str, Any]:
    """What SageMaker's QualityCheckStepMetadata reports, which later steps ``Get``."""
    return {
        "CalculatedBaselineStatistics": f"{uri}/{STATISTICS}",
        "CalculatedBaselineConstraints": f"{uri}/{CONSTRAINTS}",
        "BaselineUsedForDriftCheckStatistics": used[0],
        "BaselineUsedForDriftCheckConstraints": used[1],
        "CheckJobArn": ctx.arn("processing-job"),
        "ViolationReport": None if skip else f"{uri}/{VIOLATIONS}",
    }


def run_quality_check(
    step: dict[str, Any], arguments: dict[str, Any], ctx: StepContext, client
) -> StepOutcome:
    if step.get("CheckType") != DATA_QUALITY:
        raise UnsupportedStepError(
            f"step {ctx.name}: check type {step.get('CheckType')} does not run locally "
            f"(only {DATA_QUALITY})"
        )
    skip = flag(step.get("SkipCheck", False), "SkipCheck", ctx.name)
    register_new = flag(step.get("RegisterNewBaseline", False), "RegisterNewBaseline", ctx.name)
    table, out, uri = compute_baseline(arguments, ctx)
    previous = previous_baseline(step, client, ctx.name)
    if previous is None and not (skip and register_new):
        raise StepFailed(
            f"step {ctx.name}: there is no previous data-quality baseline (no supplied files and "
            f"no Approved version in {step.get('ModelPackageGroupName')}). On a first run pass "
            "SkipDataQualityCheck=true and RegisterNewDataQualityBaseline=true."
        )
    if skip:
        ctx.log("# SkipCheck: not compared with a previous baseline")
    violations = [] if skip else _compare(table, previous, ctx, out)
    ctx.store.upload(out, uri)
    if violations and flag(step.get("FailOnViolation", True), "FailOnViolation", ctx.name):
        listed = "; ".join(f"{v.feature_name}: {v.constraint_check_type}" for v in violations)
        raise StepFailed(
            f"step {ctx.name}: the data violates the baseline ({listed}); see {uri}/{VIOLATIONS}"
        )
    calculated = (f"{uri}/{STATISTICS}", f"{uri}/{CONSTRAINTS}")
    used = calculated if register_new or previous is None else previous
    details = {
        "skip_check": skip,
        "register_new_baseline": register_new,
        "violations": len(violations),
        "baseline_used_for_drift_check": used[0],
    }
    return StepOutcome(check_properties(uri, used, skip, ctx), details=details)
