"""Progress and results of a local run, for people (rich); the JSON summary is for programs."""

from __future__ import annotations

import threading
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.status import Status
from rich.table import Table

from mlops_toolkit.runner.summary import (
    FAILED,
    NOT_EXECUTED,
    NOT_STARTED,
    STOPPED,
    SUCCEEDED,
    RunSummary,
    StepRecord,
)

_STYLE = {
    SUCCEEDED: "green",
    FAILED: "bold red",
    NOT_EXECUTED: "dim",
    NOT_STARTED: "dim",
    STOPPED: "yellow",
}
_MARK = {SUCCEEDED: "✔", FAILED: "✘", NOT_EXECUTED: "–", NOT_STARTED: "·", STOPPED: "■"}


class Reporter:
    """Told about each step as the run goes; the base class stays silent (library use)."""

    def step_started(self, record: StepRecord) -> None:
        """A step is about to run."""

    def step_finished(self, record: StepRecord) -> None:
        """A step ended (any status, including not executed)."""


class RichReporter(Reporter):
    """One spinner naming the steps running now; a line per step as it ends. Steps start and
    end on their own threads."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._status: Status | None = None
        self._running: dict[str, str] = {}
        self._lock = threading.RLock()

    def _spin(self) -> None:
        text = ", ".join(f"[bold]{escape(n)}[/] ({escape(t)})" for n, t in self._running.items())
        if not self._running:
            self.stop()
        elif self._status is None:
            self._status = self.console.status(f"{text} running…")
            self._status.start()
        else:
            self._status.update(f"{text} running…")

    def step_started(self, record: StepRecord) -> None:
        with self._lock:
            self._running[record.name] = record.type
            self._spin()

    def stop(self) -> None:
        """Stop the spinner (also when the run is interrupted mid-step)."""
        with self._lock:
            if self._status is not None:
                self._status.stop()
                self._status = None

    def step_finished(self, record: StepRecord) -> None:
        with self._lock:
            self._running.pop(record.name, None)
            self._spin()
            self._print_result(record)

    def _print_result(self, record: StepRecord) -> None:
        style = _STYLE.get(record.status, "")
        took = f" {record.seconds:.1f} s" if record.seconds is not None else ""
        mark = _MARK.get(record.status, "?")
        line = f"[{style}]{mark} {escape(record.name)}[/] ({escape(record.type)}){took}"
        if record.status == NOT_EXECUTED:
            line += f" [dim]{escape(record.message or '')}[/]"
        self.console.print(line)
        if record.status == FAILED and record.message:
            # Step messages quote data and paths: printed as text, never read as markup.
            self.console.print(f"  [red]{escape(record.message)}[/]", highlight=False)


def numeric_leaves(document: Any, prefix: str = "") -> dict[str, float]:
    """``{"mse": {"value": 4.2}}`` → ``{"mse.value": 4.2}``: every number in a metrics file."""
    if isinstance(document, dict):
        leaves: dict[str, float] = {}
        for key, value in document.items():
            leaves |= numeric_leaves(value, f"{prefix}.{key}" if prefix else str(key))
        return leaves
    if isinstance(document, (int, float)) and not isinstance(document, bool):
        return {prefix: float(document)}
    return {}


def steps_table(summary: RunSummary) -> Table:
    table = Table(title=f"Local run {summary.execution_id}: {summary.status}", title_justify="left")
    for column in ("Step", "Type", "Status", "Seconds"):
        table.add_column(column, justify="right" if column == "Seconds" else "left")
    for record in summary.steps:
        seconds = f"{record.seconds:.2f}" if record.seconds is not None else ""
        style = _STYLE.get(record.status, "")
        table.add_row(escape(record.name), record.type, f"[{style}]{record.status}[/]", seconds)
    return table


def metrics_table(summary: RunSummary) -> Table | None:
    rows = [
        (source, name, value)
        for source, document in summary.metrics.items()
        for name, value in numeric_leaves(document).items()
    ]
    if not rows:
        return None
    table = Table(title="Metrics", title_justify="left")
    table.add_column("From")
    table.add_column("Metric")
    table.add_column("Value", justify="right")
    for source, name, value in rows:
        table.add_row(source, name, f"{value:.4f}")
    return table


def render_summary(console: Console, summary: RunSummary, summary_file: str) -> None:
    console.print(steps_table(summary))
    metrics = metrics_table(summary)
    if metrics is not None:
        console.print(metrics)
    if summary.failure_reason:
        console.print(f"[bold red]Failed:[/] {escape(summary.failure_reason)}", highlight=False)
    if summary.model_package_arn:
        console.print(f"Registered model package: {summary.model_package_arn}", soft_wrap=True)
    lines = {
        "Artifacts and step workspaces": f"{summary.run_dir}/steps",
        "Step logs": f"{summary.run_dir}/logs",
        "Run summary": summary_file,
    }
    for label, path in lines.items():
        console.print(f"{label}: {escape(path)}", soft_wrap=True)
