"""Training entry point (script mode) for the SageMaker XGBoost container.

SageMaker's ModelTrainer driver runs ``python train.py --<name> <value> ...`` once per
hyperparameter and sets SM_CHANNEL_<NAME>, SM_MODEL_DIR and SM_OUTPUT_DATA_DIR. Defaults for
every hyperparameter come from hyperparameters.json beside this file, the single source of truth
the pipeline also reads. Needs only numpy, pandas and xgboost; never imports ``modelbuild``.

Model artifact (``model_dir``): xgboost-model.json (XGBoost's own format), preprocessor.json and
code/inference.py, so the artifact serves raw rows on its own.

Each boosting round logs one tab-separated line, ``[12] train-rmse:2.101 validation-rmse:2.317``;
the SageMaker metric regex for it is ``validation-rmse:([0-9.]+)``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb

HERE = Path(__file__).resolve().parent
HYPERPARAMETERS_FILE = HERE / "hyperparameters.json"
INFERENCE_SCRIPT = HERE / "inference.py"
MODEL_FILE = "xgboost-model.json"
PREPROCESSOR_FILE = "preprocessor.json"
SUMMARY_FILE = "training-summary.json"
EVAL_METRIC = "rmse"
# Hyperparameters that steer the boosting loop rather than being XGBoost booster parameters.
LOOP_CONTROLS = ("num_round", "early_stopping_rounds")

_RULES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "num_round": (lambda v: v >= 1, "at least 1"),
    "early_stopping_rounds": (lambda v: v >= 0, "0 (off) or more"),
    "max_depth": (lambda v: v >= 1, "at least 1"),
    "eta": (lambda v: 0 < v <= 1, "in (0, 1]"),
    "gamma": (lambda v: v >= 0, "at least 0"),
    "min_child_weight": (lambda v: v >= 0, "at least 0"),
    "subsample": (lambda v: 0 < v <= 1, "in (0, 1]"),
    "colsample_bytree": (lambda v: 0 < v <= 1, "in (0, 1]"),
    "lambda": (lambda v: v >= 0, "at least 0"),
    "alpha": (lambda v: v >= 0, "at least 0"),
}


class TrainingError(Exception):
    """Training input that breaks a rule; the message says which file or setting and why."""


@dataclass(frozen=True)
class Dataset:
    features: np.ndarray
    labels: np.ndarray


@dataclass(frozen=True)
class TrainingResult:
    booster: xgb.Booster
    validation_rmse: list[float]
    rounds_kept: int


def load_default_hyperparameters(path: Path = HYPERPARAMETERS_FILE) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def _integer(text: str) -> int:
    # The SDK may hand an integer over as "300.0"; accept that, but not "300.5".
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not value.is_integer():
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number")
    return int(value)


def _caster(default: Any) -> Callable[[str], Any]:
    if isinstance(default, bool):
        raise TypeError("boolean hyperparameters are not supported")
    if isinstance(default, int):
        return _integer
    return float if isinstance(default, float) else str


def check_hyperparameters(hyperparameters: dict[str, Any]) -> list[str]:
    """Every value outside its allowed range, as one message each."""
    problems = []
    for name, (is_valid, allowed) in _RULES.items():
        if name in hyperparameters and not is_valid(hyperparameters[name]):
            problems.append(f"{name}={hyperparameters[name]} must be {allowed}")
    return problems


def _env_path(variable: str, fallback: str) -> Path:
    return Path(os.environ.get(variable, fallback))


def build_parser(defaults: dict[str, Any]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Train the XGBoost model on preprocessed CSV channels.",
        allow_abbrev=False,
    )
    paths = parser.add_argument_group("locations (default: SageMaker environment)")
    for flag, variable, fallback in (
        ("--train-dir", "SM_CHANNEL_TRAIN", "/opt/ml/input/data/train"),
        ("--validation-dir", "SM_CHANNEL_VALIDATION", "/opt/ml/input/data/validation"),
        ("--preprocessor-dir", "SM_CHANNEL_PREPROCESSOR", "/opt/ml/input/data/preprocessor"),
        ("--model-dir", "SM_MODEL_DIR", "/opt/ml/model"),
        ("--output-data-dir", "SM_OUTPUT_DATA_DIR", "/opt/ml/output/data"),
    ):
        paths.add_argument(flag, type=Path, default=_env_path(variable, fallback))
    tuning = parser.add_argument_group(
        f"hyperparameters (defaults from {HYPERPARAMETERS_FILE.name})"
    )
    for name, default in defaults.items():
        tuning.add_argument(f"--{name}", dest=name, type=_caster(default), default=default)
    return parser


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, dict[str, Any]]:
    defaults = load_default_hyperparameters()
    parser = build_parser(defaults)
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        flags = [item for item in unknown if item.startswith("--")] or unknown
        parser.error(
            f"unknown hyperparameter(s) {', '.join(flags)}; known: {', '.join(defaults)} "
            f"(add a new one to {HYPERPARAMETERS_FILE.name} first)"
        )
    hyperparameters = {name: getattr(args, name) for name in defaults}
    problems = check_hyperparameters(hyperparameters)
    if problems:
        parser.error("invalid hyperparameter(s): " + "; ".join(problems))
    return args, hyperparameters


def load_feature_names(preprocessor_dir: Path) -> list[str]:
    path = preprocessor_dir / PREPROCESSOR_FILE
    if not path.is_file():
        raise TrainingError(f"channel 'preprocessor' has no {PREPROCESSOR_FILE} ({path})")
    try:
        return list(json.loads(path.read_text(encoding="utf-8"))["processed_feature_names"])
    except (json.JSONDecodeError, KeyError, TypeError):
        raise TrainingError(
            f"{path} is not a preprocess step's {PREPROCESSOR_FILE} (no processed_feature_names)"
        ) from None


def load_channel(directory: Path, channel: str, feature_count: int) -> Dataset:
    """All CSV files of a channel: headerless, label first, then the processed features."""
    files = sorted(directory.glob("*.csv"))
    if not files:
        raise TrainingError(f"channel '{channel}' has no .csv file in {directory}")
    try:
        frame = pd.concat([pd.read_csv(path, header=None) for path in files], ignore_index=True)
    except pd.errors.EmptyDataError:
        raise TrainingError(f"channel '{channel}' has an empty .csv file in {directory}") from None
    if frame.shape[1] != feature_count + 1:
        raise TrainingError(
            f"channel '{channel}' has {frame.shape[1]} columns; expected the label plus "
            f"{feature_count} features named in {PREPROCESSOR_FILE}"
        )
    values = frame.apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
    if np.isnan(values).any():
        row = int(np.flatnonzero(np.isnan(values).any(axis=1))[0]) + 1
        raise TrainingError(
            f"channel '{channel}' has empty or non-numeric values (first in data row {row}); "
            "it must hold the preprocess step's output"
        )
    return Dataset(features=values[:, 1:], labels=values[:, 0])


class RoundLogger(xgb.callback.TrainingCallback):
    """One regex-friendly line per round, for SageMaker metric definitions and humans."""

    def after_iteration(self, model: xgb.Booster, epoch: int, evals_log: dict) -> bool:
        scores = "\t".join(
            f"{data}-{EVAL_METRIC}:{metrics[EVAL_METRIC][-1]:.6f}"
            for data, metrics in evals_log.items()
        )
        print(f"[{epoch}]\t{scores}", flush=True)
        return False


def fit(
    train: Dataset, validation: Dataset, feature_names: list[str], hyperparameters: dict[str, Any]
) -> TrainingResult:
    """Boost on train; only the validation channel decides when to stop and what to keep."""
    params = {k: v for k, v in hyperparameters.items() if k not in LOOP_CONTROLS}
    params["eval_metric"] = EVAL_METRIC
    dtrain = xgb.DMatrix(train.features, label=train.labels, feature_names=feature_names)
    dvalid = xgb.DMatrix(validation.features, label=validation.labels, feature_names=feature_names)
    callbacks: list[xgb.callback.TrainingCallback] = [RoundLogger()]
    patience = hyperparameters["early_stopping_rounds"]
    if patience:
        callbacks.append(
            xgb.callback.EarlyStopping(
                rounds=patience, data_name="validation", metric_name=EVAL_METRIC, save_best=True
            )
        )
    history: dict = {}
    booster = xgb.train(
        params,
        dtrain,
        num_boost_round=hyperparameters["num_round"],
        evals=[(dtrain, "train"), (dvalid, "validation")],
        evals_result=history,
        callbacks=callbacks,
        verbose_eval=False,
    )
    return TrainingResult(
        booster=booster,
        validation_rmse=[float(v) for v in history["validation"][EVAL_METRIC]],
        rounds_kept=booster.num_boosted_rounds(),
    )


def save_model(model_dir: Path, booster: xgb.Booster, preprocessor_dir: Path) -> None:
    (model_dir / "code").mkdir(parents=True, exist_ok=True)
    booster.save_model(str(model_dir / MODEL_FILE))
    shutil.copyfile(preprocessor_dir / PREPROCESSOR_FILE, model_dir / PREPROCESSOR_FILE)
    shutil.copyfile(INFERENCE_SCRIPT, model_dir / "code" / INFERENCE_SCRIPT.name)


def save_summary(output_dir: Path, result: TrainingResult, hyperparameters: dict) -> None:
    output_dir.mkdir(parents=True, exist_ok=True)
    summary = {
        "hyperparameters": hyperparameters,
        "rounds_run": len(result.validation_rmse),
        "rounds_kept": result.rounds_kept,
        "validation_rmse_of_kept_model": result.validation_rmse[result.rounds_kept - 1],
        "validation_rmse_per_round": result.validation_rmse,
    }
    (output_dir / SUMMARY_FILE).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")


def run(args: argparse.Namespace, hyperparameters: dict[str, Any]) -> TrainingResult:
    feature_names = load_feature_names(args.preprocessor_dir)
    train = load_channel(args.train_dir, "train", len(feature_names))
    validation = load_channel(args.validation_dir, "validation", len(feature_names))
    result = fit(train, validation, feature_names, hyperparameters)
    save_model(args.model_dir, result.booster, args.preprocessor_dir)
    save_summary(args.output_data_dir, result, hyperparameters)
    return result


def main(argv: list[str] | None = None) -> int:
    args, hyperparameters = parse_args(argv)
    print(f"train: hyperparameters {json.dumps(hyperparameters, sort_keys=True)}", flush=True)
    try:
        result = run(args, hyperparameters)
    except TrainingError as error:
        print(f"train: error: {error}", file=sys.stderr)
        return 1
    print(
        f"train: kept {result.rounds_kept} of {len(result.validation_rmse)} rounds; validation "
        f"rmse of the saved model {result.validation_rmse[result.rounds_kept - 1]:.6f}; "
        f"model written to {args.model_dir}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
