"""The scikit-learn model on disk and in memory: the one place that knows the framework.

train.py saves through it, and the artifact carries it in ``code/`` beside inference.py, so the
endpoint and the evaluate step load and predict exactly the same way.

The model is stored with joblib (a pickle), scikit-learn's own documented way to persist an
estimator. A pickle runs code while it loads, so this module must only ever load artifacts this
project wrote: train.py writes them to the project's own bucket and only the project's endpoint
and evaluate step read them back; never point it at a file from anywhere else. A pickle also
binds the artifact to the scikit-learn release that wrote it: training, evaluation and serving
all run the same scikit-learn image (1.9-0), and local runs pin scikit-learn==1.9.1, so the
versions match (scikit-learn warns on load when they do not).
"""

from __future__ import annotations

from pathlib import Path

import joblib
import numpy as np
from sklearn.ensemble import HistGradientBoostingRegressor

MODEL_FILE = "model.joblib"
# Every file save_model writes (the handler checks they are all present before loading).
MODEL_FILES = (MODEL_FILE,)


def save_model(model: HistGradientBoostingRegressor, model_dir: Path) -> None:
    model_dir.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, Path(model_dir) / MODEL_FILE)


def load_model(model_dir: Path) -> HistGradientBoostingRegressor:
    """The estimator in ``model_dir``; ValueError names the file when it is not a valid model."""
    path = Path(model_dir) / MODEL_FILE
    try:
        model = joblib.load(path)
    except FileNotFoundError:
        raise  # absent is not corrupt: callers report a missing file in their own words
    except Exception as error:
        # Unpickling garbage fails in many ways (UnpicklingError, EOFError, KeyError, ValueError,
        # ImportError, ...); to the caller they all mean the same: not a model.
        raise ValueError(
            f"{MODEL_FILE} is not a valid scikit-learn model ({type(error).__name__}: {error})"
        ) from None
    # A pickle can hold anything: fail here, naming the file, rather than later in predict.
    if not isinstance(model, HistGradientBoostingRegressor):
        raise ValueError(
            f"{MODEL_FILE} is not a valid model: it holds a {type(model).__name__}, not a "
            "HistGradientBoostingRegressor"
        )
    if not hasattr(model, "n_iter_"):
        raise ValueError(f"{MODEL_FILE} is not a valid model: its estimator was never fitted")
    return model


def feature_count(model: HistGradientBoostingRegressor) -> int:
    return int(model.n_features_in_)


def predict(model: HistGradientBoostingRegressor, features: np.ndarray) -> np.ndarray:
    """One prediction per row of processed features, in the preprocessor's column order."""
    return np.asarray(model.predict(np.asarray(features, dtype=float))).ravel()
