"""The PyTorch model on disk and in memory: the one place that knows the framework.

train.py saves through it, and the artifact carries it in ``code/`` beside inference.py, so the
endpoint and the evaluate step build, load and predict exactly the same way. Training runs a newer
PyTorch (2.10) than the serving image (2.6), so the model is stored in the two forms every version
reads: the architecture as plain JSON and the weights as a ``state_dict`` loaded with
``weights_only=True``. A pickled module would tie the artifact to one PyTorch build and to this
file's import path, and run arbitrary code on load. Nothing here may use an API newer than 2.6.
"""

from __future__ import annotations

import copy
import json
import math
import pickle
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch

CONFIG_FILE = "model-config.json"
WEIGHTS_FILE = "model.pt"
# Every file save_model writes, in load order: the weights only fit the architecture the config
# describes (the handler checks all are present before loading).
MODEL_FILES = (CONFIG_FILE, WEIGHTS_FILE)
FORMAT_VERSION = 1


@dataclass(frozen=True)
class ModelConfig:
    """Everything besides the weights that rebuilds the model: stored as model-config.json.

    The network learns the standardized label (unit-scale targets train well with one learning
    rate whatever the label's units); ``label_mean`` and ``label_std`` undo that. The training
    ranges bound what the model answers: ReLU units extrapolate linearly, so one mistyped
    measurement far outside the training data (abalone has a shell 1.13 mm... high, 25 standard
    deviations out) would otherwise get an absurd, even negative, age. Like a tree model, the
    network treats such a value as the nearest one it has seen, and never predicts outside the
    labels it was trained on.
    """

    input_size: int
    hidden_sizes: list[int]
    dropout: float
    label_mean: float
    label_std: float
    label_min: float
    label_max: float
    feature_min: list[float]
    feature_max: list[float]

    def to_dict(self) -> dict[str, Any]:
        return {"format_version": FORMAT_VERSION, **asdict(self)}


class MLPRegressor(torch.nn.Module):
    """A ReLU multilayer perceptron that predicts rings from processed features."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        layers: list[torch.nn.Module] = []
        width = config.input_size
        for size in config.hidden_sizes:
            layers += [torch.nn.Linear(width, size), torch.nn.ReLU()]
            if config.dropout > 0:
                layers.append(torch.nn.Dropout(config.dropout))
            width = size
        layers.append(torch.nn.Linear(width, 1))
        self.layers = torch.nn.Sequential(*layers)
        # Buffers follow the model to its device; not persistent, as the config already holds them.
        for name in ("feature_min", "feature_max"):
            values = torch.tensor(getattr(config, name), dtype=torch.float32)
            self.register_buffer(name, values, persistent=False)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Standardized predictions, shape (rows,): what the training loss compares."""
        return self.layers(features).squeeze(-1)


def save_model(model: MLPRegressor, model_dir: Path) -> None:
    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    (model_dir / CONFIG_FILE).write_text(
        json.dumps(model.config.to_dict(), indent=2) + "\n", encoding="utf-8"
    )
    # CPU tensors: the artifact must load on a CPU-only endpoint whatever trained it.
    weights = {name: tensor.detach().cpu() for name, tensor in model.state_dict().items()}
    torch.save(weights, model_dir / WEIGHTS_FILE)


def _invalid(name: str, what: str, reason: str) -> ValueError:
    return ValueError(f"{name} is not a valid {what} ({reason})")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _is_numbers(value: Any, length: Any) -> bool:
    return isinstance(value, list) and len(value) == length and all(map(_is_number, value))


def _bad_entries(data: dict[str, Any]) -> list[str]:
    """The entries of a parsed model-config.json that cannot describe a model."""
    get = data.get
    size = get("input_size")
    checks = {
        "input_size": _is_count(size),
        "hidden_sizes": isinstance(get("hidden_sizes"), list)
        and all(map(_is_count, get("hidden_sizes"))),
        "dropout": _is_number(get("dropout")) and 0 <= get("dropout") < 1,
        "label_mean": _is_number(get("label_mean")),
        "label_std": _is_number(get("label_std")) and get("label_std") > 0,
        "label_min": _is_number(get("label_min")),
        "label_max": _is_number(get("label_max")),
        "feature_min": _is_numbers(get("feature_min"), size),
        "feature_max": _is_numbers(get("feature_max"), size),
    }
    return [name for name, ok in checks.items() if not ok]


def _load_config(model_dir: Path) -> ModelConfig:
    what = "model configuration"
    try:
        data = json.loads((model_dir / CONFIG_FILE).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise _invalid(CONFIG_FILE, what, str(error)) from None
    if not isinstance(data, dict):
        raise _invalid(CONFIG_FILE, what, "not a JSON object")
    if data.get("format_version") != FORMAT_VERSION:
        version = data.get("format_version")
        raise _invalid(CONFIG_FILE, what, f"format_version {version!r}; this loader reads 1")
    bad = _bad_entries(data)
    if bad:
        raise _invalid(CONFIG_FILE, what, f"bad or missing {', '.join(bad)}")
    return ModelConfig(**{field.name: data[field.name] for field in fields(ModelConfig)})


def _load_weights(model: MLPRegressor, model_dir: Path) -> None:
    what = "PyTorch state_dict"
    try:
        weights = torch.load(model_dir / WEIGHTS_FILE, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, EOFError, RuntimeError, ValueError) as error:
        # PyTorch's messages run to paragraphs; the first line says what went wrong.
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise _invalid(WEIGHTS_FILE, what, reason) from None
    try:
        model.load_state_dict(weights)
    except (RuntimeError, TypeError, AttributeError) as error:
        reason = f"it does not fit the architecture in {CONFIG_FILE}: {str(error).strip()}"
        raise _invalid(WEIGHTS_FILE, what, reason) from None


def load_model(model_dir: Path) -> MLPRegressor:
    """The model in ``model_dir`` on the CPU, ready to predict.

    ValueError names the file when it is not a valid model.
    """
    model_dir = Path(model_dir)
    model = MLPRegressor(_load_config(model_dir))
    _load_weights(model, model_dir)
    return model.eval()


def feature_count(model: MLPRegressor) -> int:
    return model.config.input_size


def predict(model: MLPRegressor, features: np.ndarray) -> np.ndarray:
    """One prediction in rings per row of processed features, in the preprocessor's order.

    Computed in float64 on a copy of the model and returned as float32: a float32 matrix product
    may round a row differently depending on its neighbours in the batch, and a row's answer
    must not depend on what else the request holds (or on the batch evaluation used). Runs
    wherever the model's weights are: the CPU when loaded here, the training device while
    train.py scores each epoch.
    """
    config = model.config
    network = copy.deepcopy(model).double().eval()
    batch = torch.tensor(
        np.ascontiguousarray(features, dtype=np.float64).reshape(-1, config.input_size),
        device=network.feature_min.device,
    )
    batch = torch.minimum(torch.maximum(batch, network.feature_min), network.feature_max)
    with torch.no_grad():
        rings = network(batch) * config.label_std + config.label_mean
    return rings.clamp(config.label_min, config.label_max).cpu().numpy().astype(np.float32)
