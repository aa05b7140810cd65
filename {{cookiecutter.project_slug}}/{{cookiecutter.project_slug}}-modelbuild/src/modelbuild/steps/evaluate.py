"""Evaluate step: score the trained model on the held-out test split.

Runs on its own inside the SageMaker XGBoost container (numpy, pandas and xgboost besides the
standard library); never imports ``modelbuild``. Reads ``<base>/model/model.tar.gz`` and
``<base>/test/test.csv`` (headerless, label first), writes ``<base>/evaluation/evaluation.json``,
whose ``regression_metrics.mse.value`` the pipeline's quality gate compares.

The model is read from the archive as XGBoost JSON, never unpickled: a pickle ties the artifact to
one XGBoost build and runs arbitrary code on load.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tarfile
from pathlib import Path

import numpy as np
import pandas as pd
import xgboost as xgb

MODEL_ARCHIVE = "model.tar.gz"
MODEL_FILE = "xgboost-model.json"
TEST_FILE = "test.csv"
REPORT_FILE = "evaluation.json"


class EvaluationError(Exception):
    """Missing or inconsistent inputs; the message names the file and what is wrong."""


def load_booster(archive: Path) -> xgb.Booster:
    """Read the model straight out of the archive: nothing in it is written to disk."""
    if not archive.is_file():
        raise EvaluationError(f"model archive not found: {archive}")
    try:
        with tarfile.open(archive, "r:gz") as tar:
            member = next(
                (
                    m
                    for m in tar.getmembers()
                    if m.isfile() and Path(m.name).parts[-1:] == (MODEL_FILE,)
                ),
                None,
            )
            if member is None:
                raise EvaluationError(f"{archive} holds no {MODEL_FILE}; was it made by train.py?")
            raw = tar.extractfile(member).read()
    except (tarfile.TarError, OSError) as error:
        raise EvaluationError(f"{archive} is not a readable .tar.gz ({error})") from None
    booster = xgb.Booster()
    try:
        booster.load_model(bytearray(raw))
    except xgb.core.XGBoostError as error:
        raise EvaluationError(f"{MODEL_FILE} in {archive} is not a valid model ({error})") from None
    return booster


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
    booster = load_booster(base_dir / "model" / MODEL_ARCHIVE)
    features, labels = load_test(base_dir / "test" / TEST_FILE, booster.num_features())
    matrix = xgb.DMatrix(features, feature_names=booster.feature_names)
    report = regression_metrics(labels, booster.predict(matrix))
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
