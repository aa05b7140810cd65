"""The record of a local run, written to ``run-summary.json`` whatever the outcome."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Step statuses, named as SageMaker names them where it has a name for the case.
SUCCEEDED = "Succeeded"
FAILED = "Failed"
NOT_STARTED = "NotStarted"  # the run stopped before reaching the step
NOT_EXECUTED = "NotExecuted"  # on the branch a Condition step did not take
STOPPED = "Stopped"  # interrupted (Ctrl-C) while running


@dataclass
class StepRecord:
    name: str
    type: str
    status: str = NOT_STARTED
    started_at: str | None = None
    seconds: float | None = None
    message: str | None = None
    log: str | None = None
    outputs: dict[str, dict[str, str]] = field(default_factory=dict)
    property_files: dict[str, Any] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class RunSummary:
    pipeline_name: str
    execution_id: str
    execution_arn: str
    run_dir: str
    parameters: dict[str, Any]
    started_at: str
    status: str = NOT_STARTED
    failure_reason: str | None = None
    seconds: float | None = None
    steps: list[StepRecord] = field(default_factory=list)

    def step(self, name: str) -> StepRecord:
        return next(record for record in self.steps if record.name == name)

    @property
    def model_package_arn(self) -> str | None:
        arns = [
            r.details["model_package_arn"] for r in self.steps if "model_package_arn" in r.details
        ]
        return arns[-1] if arns else None

    @property
    def metrics(self) -> dict[str, Any]:
        """Every property file the run read, keyed ``<Step>.<PropertyFile>``."""
        return {
            f"{record.name}.{name}": content
            for record in self.steps
            for name, content in record.property_files.items()
        }

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["model_package_arn"] = self.model_package_arn
        data["metrics"] = self.metrics
        return data

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=2, default=str) + "\n", encoding="utf-8")
