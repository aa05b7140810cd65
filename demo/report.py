"""The summary ``make demo`` ends with."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from demo.stages import DemoContext

METRICS = ("mse", "rmse", "mae", "r2")


def stages_table(timings: list[tuple[str, float]]) -> Table:
    table = Table(title="Demo stages", title_justify="left")
    table.add_column("Stage")
    table.add_column("Seconds", justify="right")
    for title, seconds in timings:
        table.add_row(title, f"{seconds:.1f}")
    return table


def steps_table(ctx: DemoContext) -> Table:
    table = Table(title="Pipeline steps (local run)", title_justify="left")
    for column in ("Step", "Type", "Status", "Seconds"):
        table.add_column(column, justify="right" if column == "Seconds" else "left")
    for step in ctx.run_summary.get("steps", []):
        seconds = f"{step['seconds']:.2f}" if step.get("seconds") is not None else ""
        table.add_row(step["name"], step["type"], step["status"], seconds)
    return table


def metrics_table(ctx: DemoContext) -> Table:
    table = Table(title="Test metrics", title_justify="left")
    table.add_column("Metric")
    table.add_column("Value", justify="right")
    for report in ctx.run_summary.get("metrics", {}).values():
        measured = report.get("regression_metrics", {})
        for name in METRICS:
            if name in measured:
                table.add_row(name.upper(), f"{measured[name]['value']:.3f}")
    return table


def predictions_table(ctx: DemoContext) -> Table:
    title = "Predictions from the local endpoint (boto3 invoke_endpoint)"
    table = Table(title=title, title_justify="left")
    table.add_column("Raw features (sex, length, …, shell_weight)")
    table.add_column("True rings", justify="right")
    table.add_column("Predicted", justify="right")
    for prediction in ctx.predictions:
        table.add_row(
            ",".join(prediction.features),
            f"{prediction.true_rings:g}",
            f"{prediction.predicted:.2f}",
        )
    return table


def print_monitoring(console: Console, ctx: DemoContext) -> None:
    drift = ctx.extras.get("drift", {})
    if not drift:
        return
    table = Table(title="Data drift (drift-report against the approved baseline)")
    for column in ("Traffic", "Exit", "Violations", "Drifted features"):
        table.add_column(column)
    for phase, found in drift.items():
        features = ", ".join(found["features"]) or "none"
        table.add_row(phase, str(found["exit"]), str(found["violations"]), features)
    console.print(table)
    for phase, found in drift.items():
        console.print(f"Drift picture ({phase} traffic): {found['html']}", soft_wrap=True)
    retrained = ctx.extras.get("retrained")
    if retrained:
        console.print(
            f"Retrained on drift: [bold]{retrained['arn']}[/] ({retrained['seconds']:.1f} s)",
            soft_wrap=True,
        )


def print_summary(console: Console, ctx: DemoContext, timings: list[tuple[str, float]]) -> None:
    console.rule("Summary")
    console.print(stages_table(timings))
    console.print(steps_table(ctx))
    steps_seconds = sum(s.get("seconds") or 0.0 for s in ctx.run_summary.get("steps", []))
    console.print(
        f"local-run took {ctx.run_seconds:.1f} s in all ({steps_seconds:.1f} s from preprocess to "
        "registered; the rest is building the pipeline with the SageMaker SDK)"
    )
    console.print(metrics_table(ctx))
    arn = ctx.run_summary.get("model_package_arn")
    console.print(f"Model package: [bold]{arn}[/] (Approved)", soft_wrap=True)
    if ctx.predictions:
        console.print(predictions_table(ctx))
        console.print(f"A malformed row was refused: {ctx.rejected_payload}", soft_wrap=True)
    for phase, batch in ctx.extras.get("batch", {}).items():
        console.print(
            f"Batch transform ({phase}): {batch['rows']} rows, predictions in "
            + ", ".join(batch["outputs"]),
            soft_wrap=True,
        )
    if ctx.endpoint is not None and ctx.endpoint.capture is not None:
        for path in ctx.endpoint.capture.files:
            console.print(f"Data capture: {path}", soft_wrap=True)
    print_monitoring(console, ctx)
    console.print(f"Run folder (logs, workspaces, summary): {ctx.run_dir}", soft_wrap=True)
    if ctx.project is not None:
        console.print(f"Generated project: {ctx.project.root}", soft_wrap=True)
