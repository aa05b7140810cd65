"""Where a local run keeps things: one folder per run, a container-like tree per step.

<run>/definition.json        the definition that ran (parameters not yet applied)
<run>/run-summary.json       per-step status, times, outputs, metrics, model package
<run>/logs/<Step>.log        everything the step printed
<run>/steps/<Step>/opt/ml/…  the step's container paths (inputs, outputs, model)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from mlops_toolkit.errors import LocalRunError

CONTAINER_ROOT = PurePosixPath("/opt/ml")


@dataclass(frozen=True)
class RunLayout:
    root: Path

    @property
    def summary_file(self) -> Path:
        return self.root / "run-summary.json"

    @property
    def definition_file(self) -> Path:
        return self.root / "definition.json"

    def workspace(self, step: str) -> Path:
        return self.root / "steps" / step

    def log_file(self, step: str) -> Path:
        return self.root / "logs" / f"{step}.log"


def container_path(workspace: Path, path: str) -> Path:
    """``/opt/ml/processing/input`` → ``<workspace>/opt/ml/processing/input``."""
    pure = PurePosixPath(path)
    if not pure.is_absolute() or ".." in pure.parts:
        raise LocalRunError(f"container path {path!r} must be absolute and must not contain '..'")
    return workspace.joinpath(*pure.parts[1:])


def map_argument(argument: str, workspace: Path) -> str:
    """Rewrite an argument naming a container path (``/opt/ml/…``) into the step's workspace."""
    pure = PurePosixPath(argument)
    if pure.is_absolute() and pure.is_relative_to(CONTAINER_ROOT):
        return str(container_path(workspace, argument))
    return argument
