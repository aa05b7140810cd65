"""What a step executor is given, and what it hands back to the runner."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops_toolkit.artifacts import ArtifactStore


@dataclass(frozen=True)
class StepContext:
    name: str
    workspace: Path
    log_file: Path
    store: ArtifactStore
    job_name: str
    region: str
    account: str
    python: str = sys.executable

    def arn(self, resource: str) -> str:
        return f"arn:aws:sagemaker:{self.region}:{self.account}:{resource}/{self.job_name.lower()}"

    def log(self, line: str) -> None:
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("a", encoding="utf-8") as handle:
            handle.write(line.rstrip("\n") + "\n")


@dataclass
class StepOutcome:
    # The step's properties, shaped like the matching Describe* response, for later ``Get``s.
    properties: dict[str, Any]
    outputs: dict[str, dict[str, str]] = field(default_factory=dict)
    property_files: dict[str, Path] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)


def output_record(uri: str, local: Path) -> dict[str, str]:
    return {"s3_uri": uri, "local_path": str(local)}
