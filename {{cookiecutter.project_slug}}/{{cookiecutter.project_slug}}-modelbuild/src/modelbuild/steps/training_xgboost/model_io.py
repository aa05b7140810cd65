"""The XGBoost model on disk and in memory: the one place that knows the framework.

train.py saves through it, and the artifact carries it in ``code/`` beside inference.py, so the
endpoint and the evaluate step load and predict exactly the same way. The model is stored in
XGBoost's own JSON format, never pickled: a pickle ties the artifact to one XGBoost build and runs
arbitrary code on load.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xgboost as xgb

MODEL_FILE = "xgboost-model.json"
# Every file save_model writes (the handler checks they are all present before loading).
MODEL_FILES = (MODEL_FILE,)


def save_model(booster: xgb.Booster, model_dir: Path) -> None:
    model_dir.mkdir(parents=True, exist_ok=True)
    booster.save_model(str(model_dir / MODEL_FILE))


def load_model(model_dir: Path) -> xgb.Booster:
    """The booster in ``model_dir``; ValueError names the file when it is not a valid model."""
    booster = xgb.Booster()
    try:
        booster.load_model(str(Path(model_dir) / MODEL_FILE))
    except xgb.core.XGBoostError as error:
        raise ValueError(f"{MODEL_FILE} is not a valid XGBoost model ({error})") from None
    return booster


def feature_count(booster: xgb.Booster) -> int:
    return booster.num_features()


def predict(booster: xgb.Booster, features: np.ndarray) -> np.ndarray:
    """One prediction per row of processed features, in the preprocessor's column order."""
    matrix = xgb.DMatrix(features, feature_names=booster.feature_names)
    return booster.predict(matrix)
