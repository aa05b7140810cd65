"""Training entry point (script mode) for the SageMaker scikit-learn container.

Boosts regression trees with scikit-learn's HistGradientBoostingRegressor on the preprocessed
channels, stopping early on the validation channel. Arguments, channels and the artifact's serving
code come from training_io.py beside this file; the model is saved through model_io.py. Needs only
numpy, pandas and scikit-learn; never imports ``modelbuild``.

Model artifact (``model_dir``): model.joblib, preprocessor.json and code/ (inference.py,
model_io.py), so the artifact serves raw rows on its own.

Early stopping is scikit-learn's own (``n_iter_no_change`` iterations without improvement), fed
the validation channel through ``fit(X_val=..., y_val=...)`` so that it never carves a random
internal split out of the training rows. scikit-learn keeps the iterations it ran after the best
one; the saved model is refit with ``max_iter`` set to the best iteration count, which reproduces
those first trees exactly (same data, same seed), so what is served is the best validation model.

After fitting, each boosting iteration logs one tab-separated line of true mean squared errors,
``[12] train-mse:4.101 validation-mse:4.617`` (0-based, like XGBoost's rounds); the SageMaker
metric regex for it is ``validation-mse:([0-9.]+)``. The errors come from ``staged_predict``
rather than ``train_score_``/``validation_score_``: those hold the negated loss (half the MSE for
squared_error, another unit for other losses) and stay empty without early stopping.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from typing import Any

import model_io
import numpy as np
from sklearn.ensemble import HistGradientBoostingRegressor
from training_io import (
    Dataset,
    Rules,
    TrainingError,
    load_training_data,
    log_objective,
    package_serving_code,
    save_summary,
)
from training_io import parse_args as parse_training_args

METRIC = "mse"
# scikit-learn's regression losses that need no extra parameter; rings are positive counts, so
# poisson and gamma apply too. Whatever the loss, iterations are logged and chosen by MSE, the
# metric the pipeline's quality gate compares.
LOSSES = ("squared_error", "absolute_error", "poisson", "gamma")
# scikit-learn's interaction constraints by name; "none" lets every feature meet every other.
INTERACTIONS = ("none", "pairwise", "no_interactions")
# Hyperparameters passed to the estimator under the same name; the rest are translated in
# make_estimator.
ESTIMATOR_PARAMETERS = (
    "loss",
    "learning_rate",
    "min_samples_leaf",
    "l2_regularization",
    "max_features",
    "max_bins",
    "random_state",
)

RULES: Rules = {
    "loss": (lambda v: v in LOSSES, f"one of {', '.join(LOSSES)}"),
    "max_iter": (lambda v: v >= 1, "at least 1"),
    "n_iter_no_change": (lambda v: v >= 0, "0 (off) or more"),
    "learning_rate": (lambda v: 0 < v <= 1, "in (0, 1]"),
    "max_leaf_nodes": (lambda v: v == 0 or v >= 2, "0 (no limit) or at least 2"),
    "max_depth": (lambda v: v >= 0, "0 (no limit) or more"),
    "min_samples_leaf": (lambda v: v >= 1, "at least 1"),
    "l2_regularization": (lambda v: v >= 0, "at least 0"),
    "max_features": (lambda v: 0 < v <= 1, "in (0, 1]"),
    "max_bins": (lambda v: 2 <= v <= 255, "in [2, 255]"),
    "random_state": (lambda v: 0 <= v < 2**32, "in [0, 2**32)"),
    "interaction_cst": (lambda v: v in INTERACTIONS, f"one of {', '.join(INTERACTIONS)}"),
    "monotonic_cst": (
        lambda v: _constraints(v) is not None,
        "a tuple of -1, 0 and 1 in feature order, like XGBoost's: (0,1,-1), or () for none",
    ),
}


def _constraints(text: str) -> list[int] | None:
    """XGBoost's spelling of per-feature monotonic constraints, or None when it is not that."""
    inner = text.strip()
    if not (inner.startswith("(") and inner.endswith(")")):
        return None
    cells = [cell.strip() for cell in inner[1:-1].split(",") if cell.strip()]
    if any(cell not in ("-1", "0", "1") for cell in cells):
        return None
    return [int(cell) for cell in cells]


def monotonic_constraints(text: str, feature_count: int) -> list[int]:
    """One constraint per feature: those given, then 0 (free) for the rest, so that one-hot columns
    a missing category adds after the numeric features need no constraint of their own."""
    given = _constraints(text) or []
    return given + [0] * (feature_count - len(given))


@dataclass(frozen=True)
class TrainingResult:
    model: HistGradientBoostingRegressor
    train_mse: list[float]
    validation_mse: list[float]
    iterations_kept: int


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, dict[str, Any]]:
    return parse_training_args(
        argv, "Train the scikit-learn gradient boosting model on preprocessed CSV channels.", RULES
    )


def make_estimator(
    hyperparameters: dict[str, Any], max_iter: int, feature_count: int = 0
) -> HistGradientBoostingRegressor:
    """The estimator; 0 means "no limit" for the tree sizes and "off" for early stopping, because
    hyperparameters travel as numbers or strings and scikit-learn spells those as None/False.

    Monotonic constraints name the leading features; the rest (one-hot columns a category missing
    from the constraints adds) are padded with 0, unconstrained, up to ``feature_count``."""
    patience = hyperparameters["n_iter_no_change"]
    monotonic = monotonic_constraints(hyperparameters["monotonic_cst"], feature_count)
    interactions = hyperparameters["interaction_cst"]
    return HistGradientBoostingRegressor(
        **{name: hyperparameters[name] for name in ESTIMATOR_PARAMETERS},
        max_iter=max_iter,
        max_leaf_nodes=hyperparameters["max_leaf_nodes"] or None,
        max_depth=hyperparameters["max_depth"] or None,
        early_stopping=patience > 0,
        # scikit-learn rejects 0 even when early stopping is off; the value is then unused.
        n_iter_no_change=patience or 10,
        monotonic_cst=monotonic if any(monotonic) else None,
        interaction_cst=None if interactions == "none" else interactions,
    )


def fit_estimator(
    hyperparameters: dict[str, Any], max_iter: int, train: Dataset, validation: Dataset
) -> HistGradientBoostingRegressor:
    estimator = make_estimator(hyperparameters, max_iter, train.features.shape[1])
    if not estimator.early_stopping:
        # scikit-learn refuses validation data it would not use.
        return estimator.fit(train.features, train.labels)
    return estimator.fit(
        train.features, train.labels, X_val=validation.features, y_val=validation.labels
    )


def staged_mse(model: HistGradientBoostingRegressor, data: Dataset) -> list[float]:
    """Mean squared error after each iteration (the model's own scores are half of it)."""
    return [float(np.mean((p - data.labels) ** 2)) for p in model.staged_predict(data.features)]


def fit(train: Dataset, validation: Dataset, hyperparameters: dict[str, Any]) -> TrainingResult:
    """Boost on train; only the validation channel decides when to stop and what to keep."""
    model = fit_estimator(hyperparameters, hyperparameters["max_iter"], train, validation)
    train_mse, validation_mse = staged_mse(model, train), staged_mse(model, validation)
    kept = len(validation_mse)
    if hyperparameters["n_iter_no_change"]:
        kept = int(np.argmin(validation_mse)) + 1
    if kept < model.n_iter_:
        model = fit_estimator(hyperparameters, kept, train, validation)
    return TrainingResult(model, train_mse, validation_mse, iterations_kept=kept)


def log_iterations(result: TrainingResult) -> None:
    """One regex-friendly line per iteration, for SageMaker metric definitions and humans."""
    for iteration, (train_mse, validation_mse) in enumerate(
        zip(result.train_mse, result.validation_mse, strict=True)
    ):
        scores = f"train-{METRIC}:{train_mse:.6f}\tvalidation-{METRIC}:{validation_mse:.6f}"
        print(f"[{iteration}]\t{scores}", flush=True)


def summarize(result: TrainingResult, hyperparameters: dict[str, Any]) -> dict[str, Any]:
    return {
        "hyperparameters": hyperparameters,
        "iterations_run": len(result.validation_mse),
        "iterations_kept": result.iterations_kept,
        "validation_mse_of_kept_model": result.validation_mse[result.iterations_kept - 1],
        "validation_mse_per_iteration": result.validation_mse,
    }


def run(args: argparse.Namespace, hyperparameters: dict[str, Any]) -> TrainingResult:
    _, train, validation = load_training_data(args)
    result = fit(train, validation, hyperparameters)
    log_iterations(result)
    model_io.save_model(result.model, args.model_dir)
    package_serving_code(args.model_dir, args.preprocessor_dir)
    save_summary(args.output_data_dir, summarize(result, hyperparameters))
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
        f"train: kept {result.iterations_kept} of {len(result.validation_mse)} iterations; "
        f"validation mse of the saved model "
        f"{result.validation_mse[result.iterations_kept - 1]:.6f}; "
        f"model written to {args.model_dir}"
    )
    log_objective(result.validation_mse[result.iterations_kept - 1])
    return 0


if __name__ == "__main__":
    sys.exit(main())
