"""Training entry point (script mode) for the SageMaker PyTorch container.

Fits a small multilayer perceptron on the preprocessed channels with plain PyTorch, stopping early
on the validation channel and keeping the best epoch's weights. Arguments, channels and the
artifact's serving code come from training_io.py beside this file; the model is built, saved and
scored through model_io.py, so the numbers logged here are the ones the endpoint reproduces.
Needs only numpy and torch; never imports ``modelbuild``.

Model artifact (``model_dir``): model-config.json (architecture and label scaling), model.pt (a
CPU state_dict), preprocessor.json and code/ (inference.py, model_io.py), so the artifact serves
raw rows on its own.

Each epoch logs one tab-separated line, ``[12] train-mse:4.101 validation-mse:4.617`` (mean
squared error in rings², the unit of the quality gate); the SageMaker metric regex for it is
``validation-mse:([0-9.]+)``.

Runs on CUDA when the instance has a GPU (``device=auto``) and on the CPU otherwise. The same seed
on the same device and PyTorch build gives the same weights.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
from dataclasses import dataclass
from typing import Any

import model_io
import numpy as np
import torch
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

DEVICES = ("auto", "cpu", "cuda")


def layer_sizes(text: str) -> list[int] | None:
    """``"64,64"`` → ``[64, 64]``; None unless every entry is a positive whole number.

    A string, because hyperparameters are scalars: spaces and JSON brackets are tolerated since
    people write lists either way.
    """
    words = str(text).strip().strip("[]").replace(",", " ").split()
    if not words or not all(word.isdigit() and int(word) > 0 for word in words):
        return None
    return [int(word) for word in words]


RULES: Rules = {
    "hidden_sizes": (
        lambda v: layer_sizes(v) is not None,
        "one or more positive whole numbers separated by commas, e.g. 64,64",
    ),
    "epochs": (lambda v: v >= 1, "at least 1"),
    "early_stopping_patience": (lambda v: v >= 0, "0 (off) or more"),
    "batch_size": (lambda v: v >= 1, "at least 1"),
    "learning_rate": (lambda v: 0 < v <= 1, "in (0, 1]"),
    "weight_decay": (lambda v: v >= 0, "at least 0"),
    "dropout": (lambda v: 0 <= v < 1, "in [0, 1)"),
    "seed": (lambda v: 0 <= v < 2**32, "in [0, 2**32)"),
    "device": (lambda v: v in DEVICES, "one of " + ", ".join(DEVICES)),
}


@dataclass(frozen=True)
class TrainingResult:
    model: model_io.MLPRegressor
    train_mse: list[float]
    validation_mse: list[float]
    best_epoch: int
    kept_epoch: int
    device: torch.device


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, dict[str, Any]]:
    return parse_training_args(
        argv, "Train the PyTorch MLP regressor on preprocessed CSV channels.", RULES
    )


def choose_device(requested: str) -> torch.device:
    """``auto`` uses the GPU whenever there is one; asking for one that is absent is an error,
    not a silent fall-back that turns a GPU job into a slow CPU job."""
    if requested == "cpu":
        return torch.device("cpu")
    available = torch.cuda.is_available()
    if requested == "cuda" and not available:
        raise TrainingError(
            "device=cuda, but PyTorch sees no CUDA GPU on this instance; choose a GPU instance "
            "type or set device to auto or cpu"
        )
    return torch.device("cuda" if available else "cpu")


def make_reproducible(seed: int) -> torch.Generator:
    """Make a rerun reproduce the weights; returns the generator that orders the batches."""
    # cuBLAS is only deterministic with a fixed workspace, which must be set before its first use.
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True)
    # Layers this small gain nothing from intra-op threads, which only add synchronisation (ten
    # times slower on two busy cores); one thread also makes CPU results independent of the
    # instance's core count.
    torch.set_num_threads(1)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def mse(model: model_io.MLPRegressor, data: Dataset) -> float:
    """In rings², through model_io.predict: exactly what evaluation and the endpoint compute."""
    errors = model_io.predict(model, data.features).astype(float) - data.labels
    return float(np.mean(errors**2))


def build_model(
    train: Dataset, hyperparameters: dict[str, Any], device: torch.device
) -> model_io.MLPRegressor:
    std = float(train.labels.std())
    config = model_io.ModelConfig(
        input_size=train.features.shape[1],
        hidden_sizes=layer_sizes(hyperparameters["hidden_sizes"]),
        dropout=hyperparameters["dropout"],
        label_mean=float(train.labels.mean()),
        # A constant label has no spread to scale away.
        label_std=std if std > 0 else 1.0,
        label_min=float(train.labels.min()),
        label_max=float(train.labels.max()),
        feature_min=train.features.min(axis=0).tolist(),
        feature_max=train.features.max(axis=0).tolist(),
    )
    return model_io.MLPRegressor(config).to(device)


def train_epoch(
    model: model_io.MLPRegressor,
    optimizer: torch.optim.Optimizer,
    tensors: tuple[torch.Tensor, torch.Tensor],
    batch_size: int,
    generator: torch.Generator,
) -> None:
    """One pass over the shuffled training rows; the loss compares standardized labels."""
    features, targets = tensors
    model.train()
    order = torch.randperm(len(features), generator=generator).to(features.device)
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        optimizer.zero_grad()
        loss = torch.nn.functional.mse_loss(model(features[rows]), targets[rows])
        loss.backward()
        optimizer.step()


def as_tensors(
    data: Dataset, model: model_io.MLPRegressor, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """The whole channel on the device once, labels standardized like the model's output."""
    features = torch.tensor(data.features, dtype=torch.float32, device=device)
    targets = (data.labels - model.config.label_mean) / model.config.label_std
    return features, torch.tensor(targets, dtype=torch.float32, device=device)


def snapshot(model: model_io.MLPRegressor) -> dict[str, torch.Tensor]:
    return {name: tensor.detach().clone() for name, tensor in model.state_dict().items()}


def fit(
    train: Dataset, validation: Dataset, hyperparameters: dict[str, Any], device: torch.device
) -> TrainingResult:
    """Train on train; only the validation channel decides when to stop and what to keep."""
    generator = make_reproducible(hyperparameters["seed"])
    model = build_model(train, hyperparameters, device)
    optimizer = torch.optim.Adam(
        model.parameters(),
        lr=hyperparameters["learning_rate"],
        weight_decay=hyperparameters["weight_decay"],
    )
    tensors = as_tensors(train, model, device)
    patience = hyperparameters["early_stopping_patience"]
    train_mse: list[float] = []
    validation_mse: list[float] = []
    best_epoch, best_weights = 0, snapshot(model)
    for epoch in range(1, hyperparameters["epochs"] + 1):
        train_epoch(model, optimizer, tensors, hyperparameters["batch_size"], generator)
        train_mse.append(mse(model, train))
        validation_mse.append(mse(model, validation))
        scores = f"train-mse:{train_mse[-1]:.6f}\tvalidation-mse:{validation_mse[-1]:.6f}"
        print(f"[{epoch}]\t{scores}", flush=True)
        if not best_epoch or validation_mse[-1] < validation_mse[best_epoch - 1]:
            best_epoch, best_weights = epoch, snapshot(model)
        elif patience and epoch - best_epoch >= patience:
            break
    # Without early stopping every epoch runs and the last one is kept, as asked for.
    kept_epoch = best_epoch if patience else len(validation_mse)
    if patience:
        model.load_state_dict(best_weights)
    model.eval()
    return TrainingResult(model, train_mse, validation_mse, best_epoch, kept_epoch, device)


def summarize(result: TrainingResult, hyperparameters: dict[str, Any]) -> dict[str, Any]:
    return {
        "hyperparameters": hyperparameters,
        "device": result.device.type,
        "epochs_run": len(result.validation_mse),
        "best_epoch": result.best_epoch,
        "kept_epoch": result.kept_epoch,
        "validation_mse_of_kept_model": result.validation_mse[result.kept_epoch - 1],
        "train_mse_per_epoch": result.train_mse,
        "validation_mse_per_epoch": result.validation_mse,
    }


def run(args: argparse.Namespace, hyperparameters: dict[str, Any]) -> TrainingResult:
    device = choose_device(hyperparameters["device"])
    print(f"train: device {device.type}, PyTorch {torch.__version__}", flush=True)
    _, train, validation = load_training_data(args)
    result = fit(train, validation, hyperparameters, device)
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
        f"train: kept epoch {result.kept_epoch} of {len(result.validation_mse)}; validation "
        f"mse of the saved model {result.validation_mse[result.kept_epoch - 1]:.6f}; "
        f"model written to {args.model_dir}"
    )
    log_objective(result.validation_mse[result.kept_epoch - 1])
    return 0


if __name__ == "__main__":
    sys.exit(main())
