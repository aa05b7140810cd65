"""Evaluate step: score the trained model on the held-out test split.

Runs on its own inside the training framework's container (numpy and pandas besides the standard
library, plus whatever the model's own loader needs); never imports ``modelbuild``. Reads
``<base>/model/model.tar.gz`` and ``<base>/test/test.csv`` (headerless, label first), writes
``<base>/evaluation/evaluation.json``, whose ``regression_metrics.mse.value`` the pipeline's
quality gate compares.

The model is loaded and called through ``code/model_io.py`` inside the archive, the module the
endpoint uses too: evaluation scores exactly what would be served, and this script stays the same
whichever framework trained the model.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd

MODEL_ARCHIVE = "model.tar.gz"
MODEL_LOADER = "code/model_io.py"
TEST_FILE = "test.csv"
REPORT_FILE = "evaluation.json"


class EvaluationError(Exception):
    """Missing or inconsistent inputs; the message names the file and what is wrong."""


@dataclass(frozen=True)
class TrainedModel:
    model: Any
    loader: ModuleType

    def feature_count(self) -> int:
        return self.loader.feature_count(self.model)

    def predict(self, features: np.ndarray) -> np.ndarray:
        return np.asarray(self.loader.predict(self.model, features), dtype=float).ravel()


def _check_members(tar: tarfile.TarFile, archive: Path) -> None:
    # Checked by hand rather than with extractall(filter="data"): older container Pythons lack it.
    for member in tar.getmembers():
        path = Path(member.name)
        if path.is_absolute() or ".." in path.parts or not (member.isfile() or member.isdir()):
            raise EvaluationError(f"{archive} holds {member.name!r}, which is not a plain file")


def _unpack(archive: Path, destination: Path) -> None:
    if not archive.is_file():
        raise EvaluationError(f"model archive not found: {archive}")
    try:
        with tarfile.open(archive, "r:gz") as tar:
            _check_members(tar, archive)
            tar.extractall(destination)
    except (tarfile.TarError, OSError) as error:
        raise EvaluationError(f"{archive} is not a readable .tar.gz ({error})") from None


def _import_loader(path: Path, archive: Path) -> ModuleType:
    if not path.is_file():
        raise EvaluationError(f"{archive} holds no {MODEL_LOADER}; was it made by train.py?")
    spec = importlib.util.spec_from_file_location("model_io", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["model_io"] = module
    spec.loader.exec_module(module)
    return module


def load_model(archive: Path, workdir: Path) -> TrainedModel:
    """Unpack the archive into ``workdir`` and load the model with the loader it carries."""
    _unpack(archive, workdir)
    loader = _import_loader(workdir / MODEL_LOADER, archive)
    missing = [name for name in loader.MODEL_FILES if not (workdir / name).is_file()]
    if missing:
        raise EvaluationError(f"{archive} holds no {', '.join(missing)}; was it made by train.py?")
    try:
        model = loader.load_model(workdir)
    except (ValueError, OSError) as error:
        raise EvaluationError(f"{archive}: {error}") from None
    return TrainedModel(model=model, loader=loader)


def load_test(path: Path, feature_count: int) -> tuple[np.ndarray, np.ndarray]:
    if not path.is_file():
        raise EvaluationError(f"test data not found: {path}")
    try:
        frame = pd.read_csv(path, header=None)
    except pd.errors.EmptyDataError:
        raise EvaluationError(f"test data is empty: {path}") from None
    if frame.shape[1] != feature_count + 1:
        raise EvaluationError(
            f"{path} has {frame.shape[1]} columns; the model expects the label plus "
            f"{feature_count} features"
        )
    values = frame.apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
    if np.isnan(values).any():
        row = int(np.flatnonzero(np.isnan(values).any(axis=1))[0]) + 1
        raise EvaluationError(f"{path} has an empty or non-numeric value in row {row}")
    return values[:, 1:], values[:, 0]


def regression_metrics(labels: np.ndarray, predictions: np.ndarray) -> dict:
    errors = predictions.astype(float) - labels
    squared, absolute = errors**2, np.abs(errors)
    mse = float(squared.mean())
    spread = float(((labels - labels.mean()) ** 2).sum())
    # With a constant label R² is undefined; report 1 for a perfect fit and 0 otherwise.
    r2 = 1.0 - float(squared.sum()) / spread if spread > 0 else float(mse == 0.0)
    return {
        "regression_metrics": {
            "mse": {"value": mse, "standard_deviation": float(squared.std())},
            "rmse": {"value": math.sqrt(mse)},
            "mae": {"value": float(absolute.mean()), "standard_deviation": float(absolute.std())},
            "r2": {"value": r2},
        }
    }


def run(base_dir: Path) -> dict:
    with tempfile.TemporaryDirectory(prefix="model-") as workdir:
        trained = load_model(base_dir / "model" / MODEL_ARCHIVE, Path(workdir))
        features, labels = load_test(base_dir / "test" / TEST_FILE, trained.feature_count())
        report = regression_metrics(labels, trained.predict(features))
    output_dir = base_dir / "evaluation"
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / REPORT_FILE).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return report


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Score the trained model on the test split.")
    parser.add_argument("--base-dir", type=Path, default=Path("/opt/ml/processing"))
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        report = run(args.base_dir)
    except EvaluationError as error:
        print(f"evaluate: error: {error}", file=sys.stderr)
        return 1
    metrics = report["regression_metrics"]
    print(
        "evaluate: "
        + ", ".join(f"{name} {values['value']:.4f}" for name, values in metrics.items())
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
