"""Batch transform data capture in SageMaker's layout: manifests, not copies of the data.

A transform job with ``DataCaptureConfig`` writes, under its ``DestinationS3Uri``, one manifest
in ``input/yyyy/mm/dd/hh/`` naming the objects it read and one in ``output/yyyy/mm/dd/hh/`` naming
the ``.out`` objects it wrote (the hour is the job's start). A manifest is a JSON array: first
``{"prefix": <location>}``, then each object's key relative to that prefix. Model Monitor's
``BatchTransformInput`` follows the input manifests back to the data, and so does drift-report.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

from mlops_toolkit.errors import LocalRunError

MANIFEST_SUFFIX = ".manifest"
CHANNELS = ("input", "output")


def manifest_body(prefix: str, names: list[str]) -> list[object]:
    """The manifest SageMaker writes for ``names`` under ``prefix`` (which ends with "/")."""
    return [{"prefix": prefix if prefix.endswith("/") else prefix + "/"}, *names]


class ManifestCapture:
    """Writes one input and one output manifest per transform, as a transform job does."""

    def __init__(self, root: Path, started: datetime | None = None) -> None:
        self.root = root
        self.started = started or datetime.now(UTC)
        self.files: list[Path] = []

    def write(self, channel: str, prefix: str, names: list[str]) -> Path:
        if channel not in CHANNELS:
            raise LocalRunError(f"capture channel {channel!r} is not one of {', '.join(CHANNELS)}")
        folder = self.root / channel / self.started.strftime("%Y/%m/%d/%H")
        path = folder / f"{uuid.uuid4()}{MANIFEST_SUFFIX}"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(manifest_body(prefix, names), indent=1) + "\n", "utf-8")
        except OSError as error:
            raise LocalRunError(f"cannot write the capture manifest {path}: {error}") from None
        self.files.append(path)
        return path
