"""What every framework's train.py shares: SageMaker script-mode arguments, the preprocessed
channels and the self-contained model artifact.

SageMaker's ModelTrainer driver runs ``python train.py --<name> <value> ...`` once per
hyperparameter from the source folder (so this module imports as a sibling) and sets
SM_CHANNEL_<NAME>, SM_MODEL_DIR and SM_OUTPUT_DATA_DIR. Defaults for every hyperparameter come
from hyperparameters.json beside train.py, the single source of truth the pipeline also reads.
Needs only numpy and pandas; never imports ``modelbuild``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
HYPERPARAMETERS_FILE = HERE / "hyperparameters.json"
PREPROCESSOR_FILE = "preprocessor.json"
SUMMARY_FILE = "training-summary.json"
# The serving code travels inside the artifact (code/), so the artifact serves raw rows on its
# own: the handler plus the framework's loader it imports. Nothing more: the endpoint runs network
# isolated, so a code/requirements.txt (the framework containers pip-install it at startup) would
# keep it from starting.
SERVING_SCRIPTS = (HERE / "inference.py", HERE / "model_io.py")

# The objective of a tuning job: the pipeline's metric definition (modelbuild/tuning.py) reads
# this line. Every framework prints it once, last: the validation MSE, in rings² (the quality
# gate's unit), of the model it saved, whatever it logged per round before.
OBJECTIVE_PREFIX = "saved-model-validation-mse:"

# A rule per hyperparameter: (is the value allowed?, the allowed range in words).
Rules = dict[str, tuple[Callable[[Any], bool], str]]


class TrainingError(Exception):
    """Training input that breaks a rule; the message says which file or setting and why."""


@dataclass(frozen=True)
class Dataset:
    features: np.ndarray
    labels: np.ndarray


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


def check_hyperparameters(hyperparameters: dict[str, Any], rules: Rules) -> list[str]:
    """Every value outside its allowed range, as one message each."""
    problems = []
    for name, (is_valid, allowed) in rules.items():
        if name in hyperparameters and not is_valid(hyperparameters[name]):
            problems.append(f"{name}={hyperparameters[name]} must be {allowed}")
    return problems


def _env_path(variable: str, fallback: str) -> Path:
    return Path(os.environ.get(variable, fallback))


def build_parser(description: str, defaults: dict[str, Any]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description, allow_abbrev=False)
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


def parse_args(
    argv: list[str] | None, description: str, rules: Rules
) -> tuple[argparse.Namespace, dict[str, Any]]:
    """Locations and hyperparameters; unknown or out-of-range values exit with status 2."""
    defaults = load_default_hyperparameters()
    parser = build_parser(description, defaults)
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        flags = [item for item in unknown if item.startswith("--")] or unknown
        parser.error(
            f"unknown hyperparameter(s) {', '.join(flags)}; known: {', '.join(defaults)} "
            f"(add a new one to {HYPERPARAMETERS_FILE.name} first)"
        )
    hyperparameters = {name: getattr(args, name) for name in defaults}
    problems = check_hyperparameters(hyperparameters, rules)
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


def load_training_data(args: argparse.Namespace) -> tuple[list[str], Dataset, Dataset]:
    """Feature names, train and validation, each checked against the preprocessor's schema."""
    feature_names = load_feature_names(args.preprocessor_dir)
    train = load_channel(args.train_dir, "train", len(feature_names))
    validation = load_channel(args.validation_dir, "validation", len(feature_names))
    return feature_names, train, validation


def package_serving_code(model_dir: Path, preprocessor_dir: Path) -> None:
    """Put what the endpoint needs besides the model itself into the artifact."""
    (model_dir / "code").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(preprocessor_dir / PREPROCESSOR_FILE, model_dir / PREPROCESSOR_FILE)
    for script in SERVING_SCRIPTS:
        shutil.copyfile(script, model_dir / "code" / script.name)


def log_objective(validation_mse: float) -> None:
    print(f"{OBJECTIVE_PREFIX}{validation_mse:.6f}", flush=True)


def save_summary(output_dir: Path, summary: dict[str, Any]) -> None:
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / SUMMARY_FILE).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
