"""Training entry point (script mode) for the SageMaker XGBoost container.

Boosts regression trees on the preprocessed channels, stopping early on the validation channel.
Arguments, channels and the artifact's serving code come from training_io.py beside this file;
the model is saved through model_io.py. Needs only numpy, pandas and xgboost; never imports
``modelbuild``.

Model artifact (``model_dir``): xgboost-model.json (XGBoost's own format), preprocessor.json and
code/ (inference.py, model_io.py), so the artifact serves raw rows on its own.

Each boosting round logs one tab-separated line, ``[12] train-rmse:2.101 validation-rmse:2.317``;
the SageMaker metric regex for it is ``validation-rmse:([0-9.]+)``.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from typing import Any

import model_io
import xgboost as xgb
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

EVAL_METRIC = "rmse"
# Hyperparameters that steer the boosting loop rather than being XGBoost booster parameters.
LOOP_CONTROLS = ("num_round", "early_stopping_rounds")

RULES: Rules = {
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


@dataclass(frozen=True)
class TrainingResult:
    booster: xgb.Booster
    validation_rmse: list[float]
    rounds_kept: int


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, dict[str, Any]]:
    return parse_training_args(argv, "Train the XGBoost model on preprocessed CSV channels.", RULES)


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


def summarize(result: TrainingResult, hyperparameters: dict[str, Any]) -> dict[str, Any]:
    return {
        "hyperparameters": hyperparameters,
        "rounds_run": len(result.validation_rmse),
        "rounds_kept": result.rounds_kept,
        "validation_rmse_of_kept_model": result.validation_rmse[result.rounds_kept - 1],
        "validation_rmse_per_round": result.validation_rmse,
    }


def run(args: argparse.Namespace, hyperparameters: dict[str, Any]) -> TrainingResult:
    feature_names, train, validation = load_training_data(args)
    result = fit(train, validation, feature_names, hyperparameters)
    model_io.save_model(result.booster, args.model_dir)
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
        f"train: kept {result.rounds_kept} of {len(result.validation_rmse)} rounds; validation "
        f"rmse of the saved model {result.validation_rmse[result.rounds_kept - 1]:.6f}; "
        f"model written to {args.model_dir}"
    )
    log_objective(result.validation_rmse[result.rounds_kept - 1] ** 2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
