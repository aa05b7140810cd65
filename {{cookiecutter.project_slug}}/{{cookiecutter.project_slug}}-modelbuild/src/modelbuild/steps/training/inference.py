"""Serving handlers for the SageMaker framework containers: RAW rows in, rings out.

train.py copies this file and model_io.py into the model artifact (``code/``), so the cloud
endpoint and the local endpoint run exactly this code. Nothing here knows the framework: loading
and predicting are model_io.py's job. Besides that module it needs only numpy: the fitted feature
transform travels as ``preprocessor.json`` and is applied here with numpy, identically to the
scikit-learn transform the preprocess step fitted.

Requests: ``text/csv`` (one row per line, the 8 raw features in order, no header) or
``application/json`` (``{"instances": [[...8 values...], ...]}`` or a list of objects keyed by
column name). An empty field, ``null`` or one of MISSING_TOKENS is a missing value (imputed).
Responses: ``text/csv`` (one prediction per line) or ``application/json``
(``{"predictions": [...]}``).
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import model_io
import numpy as np

# The raw schema; must match preprocess.py (a test keeps the two in step).
CATEGORICAL_FEATURES = ("sex",)
NUMERIC_FEATURES = (
    "length",
    "diameter",
    "height",
    "whole_weight",
    "shucked_weight",
    "viscera_weight",
    "shell_weight",
)
RAW_FEATURES = ("sex", *NUMERIC_FEATURES)
ALLOWED_CATEGORIES = {"sex": ("F", "I", "M")}
MISSING_TOKENS = frozenset({"", "?", "na", "n/a", "nan", "null"})

PREPROCESSOR_FILE = "preprocessor.json"
SUPPORTED_PREPROCESSOR_VERSIONS = (1,)
CSV = "text/csv"
JSON = "application/json"
# What the framework containers substitute for a missing or */* Accept header.
DEFAULT_ACCEPT = JSON

try:
    # Inside the serving container, errors of this type reach the client with their own HTTP
    # status instead of a generic 500.
    from sagemaker_inference.errors import BaseInferenceToolkitError as _ServingError
except ImportError:
    _ServingError = Exception


class _ClientError(ValueError, _ServingError):
    status_code = 400
    phrase = "Bad Request"

    def __init__(self, message: str) -> None:
        ValueError.__init__(self, message)
        self.message = message


class InvalidPayload(_ClientError):
    """The request body breaks a rule; the message names the row, the column and the rule."""


class UnsupportedMediaType(_ClientError):
    """The Content-Type or Accept header names a format this model does not speak."""

    status_code = 415
    phrase = "Unsupported Media Type"


@dataclass(frozen=True)
class RawBatch:
    """Validated raw rows: numeric features as floats (NaN missing), categories (None missing)."""

    numeric: np.ndarray
    categorical: dict[str, list[str | None]]


@dataclass(frozen=True)
class Preprocessor:
    """The fitted transform from preprocessor.json: impute, standardize, one-hot encode."""

    numeric_features: tuple[str, ...]
    medians: np.ndarray
    means: np.ndarray
    scales: np.ndarray
    categories: dict[str, tuple[str, ...]]
    missing_category: str
    feature_names: tuple[str, ...]
    raw_features: tuple[str, ...]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Preprocessor:
        version = data.get("format_version")
        if version not in SUPPORTED_PREPROCESSOR_VERSIONS:
            raise ValueError(
                f"{PREPROCESSOR_FILE} has format_version {version!r}; this handler reads "
                f"{SUPPORTED_PREPROCESSOR_VERSIONS}"
            )
        try:
            numeric = data["numeric"]
            return cls(
                numeric_features=tuple(numeric),
                medians=np.array([numeric[name]["median"] for name in numeric], dtype=float),
                means=np.array([numeric[name]["mean"] for name in numeric], dtype=float),
                scales=np.array([numeric[name]["scale"] for name in numeric], dtype=float),
                categories={name: tuple(cats) for name, cats in data["categorical"].items()},
                missing_category=str(data["categorical_missing_value"]),
                feature_names=tuple(data["processed_feature_names"]),
                raw_features=tuple(data["raw_feature_columns"]),
            )
        except (KeyError, TypeError) as error:
            raise ValueError(
                f"{PREPROCESSOR_FILE} is malformed: bad or missing entry {error}"
            ) from None

    def transform(self, batch: RawBatch) -> np.ndarray:
        """Same arithmetic as the fitted scikit-learn ColumnTransformer, column order included."""
        numeric = np.where(np.isnan(batch.numeric), self.medians, batch.numeric)
        parts = [(numeric - self.means) / self.scales]
        for name, categories in self.categories.items():
            values = np.array(
                [
                    self.missing_category if value is None else value
                    for value in batch.categorical[name]
                ],
                dtype=object,
            )
            # An unseen category matches no column and encodes as all zeros.
            parts.append(np.column_stack([values == category for category in categories]))
        return np.hstack(parts).astype(float)


@dataclass(frozen=True)
class LoadedModel:
    model: Any
    preprocessor: Preprocessor


def _check_compatible(preprocessor: Preprocessor, model: Any) -> None:
    if preprocessor.raw_features != RAW_FEATURES or preprocessor.numeric_features != (
        NUMERIC_FEATURES
    ):
        raise ValueError(
            f"{PREPROCESSOR_FILE} expects raw columns {list(preprocessor.raw_features)}, but this "
            f"handler parses {list(RAW_FEATURES)}; retrain with matching step scripts"
        )
    if model_io.feature_count(model) != len(preprocessor.feature_names):
        raise ValueError(
            f"the model takes {model_io.feature_count(model)} features but {PREPROCESSOR_FILE} "
            f"produces {len(preprocessor.feature_names)}"
        )


def model_fn(model_dir: str) -> LoadedModel:
    directory = Path(model_dir)
    for name in (*model_io.MODEL_FILES, PREPROCESSOR_FILE):
        if not (directory / name).is_file():
            raise FileNotFoundError(
                f"{name} is missing from the model directory {directory}; the model artifact "
                "must come from train.py"
            )
    model = model_io.load_model(directory)
    preprocessor = Preprocessor.from_dict(
        json.loads((directory / PREPROCESSOR_FILE).read_text(encoding="utf-8"))
    )
    _check_compatible(preprocessor, model)
    return LoadedModel(model=model, preprocessor=preprocessor)


def _media_type(header: str | None) -> str:
    return (header or "").split(";", 1)[0].strip().lower()


def _body_text(body: Any) -> str:
    if isinstance(body, (bytes, bytearray)):
        try:
            return bytes(body).decode("utf-8")
        except UnicodeDecodeError as error:
            raise InvalidPayload(f"the request body is not UTF-8 text ({error.reason})") from None
    if isinstance(body, str):
        return body
    raise InvalidPayload(f"the request body must be text or bytes, not {type(body).__name__}")


def _is_missing_text(value: str) -> bool:
    return value.strip().lower() in MISSING_TOKENS


def _number(value: Any, row: int, column: str) -> float:
    if value is None or (isinstance(value, str) and _is_missing_text(value)):
        return math.nan
    number: float | None = None
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            number = None
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
        if math.isnan(number):
            return math.nan
    if number is None or not math.isfinite(number):
        raise InvalidPayload(
            f"row {row}, column '{column}': {value!r} is not a finite number "
            "(leave the value empty or null if it is missing)"
        )
    return number


def _category(value: Any, row: int, column: str) -> str | None:
    if value is None or (isinstance(value, str) and _is_missing_text(value)):
        return None
    allowed = ALLOWED_CATEGORIES[column]
    if not isinstance(value, str) or value.strip() not in allowed:
        raise InvalidPayload(
            f"row {row}, column '{column}': {value!r} is not one of {', '.join(allowed)} "
            "(leave the value empty or null if it is missing)"
        )
    return value.strip()


def rows_to_batch(rows: list[list[Any]]) -> RawBatch:
    """Validate positional raw rows (already the right width) into a RawBatch."""
    if not rows:
        raise InvalidPayload(
            f"the request holds no rows; send one row of {len(RAW_FEATURES)} values"
        )
    numeric_index = [RAW_FEATURES.index(name) for name in NUMERIC_FEATURES]
    numeric = np.array(
        [
            [_number(values[i], row, RAW_FEATURES[i]) for i in numeric_index]
            for row, values in enumerate(rows, start=1)
        ],
        dtype=float,
    ).reshape(len(rows), len(NUMERIC_FEATURES))
    categorical = {
        name: [
            _category(values[RAW_FEATURES.index(name)], row, name)
            for row, values in enumerate(rows, start=1)
        ]
        for name in CATEGORICAL_FEATURES
    }
    return RawBatch(numeric=numeric, categorical=categorical)


def _width_error(row: int, width: int) -> InvalidPayload:
    hint = (
        " (send features only, without the rings label)" if width == len(RAW_FEATURES) + 1 else ""
    )
    return InvalidPayload(
        f"row {row} has {width} values; expected {len(RAW_FEATURES)} "
        f"({', '.join(RAW_FEATURES)}){hint}"
    )


def _csv_rows(text: str) -> list[list[Any]]:
    lines = [line for line in text.splitlines() if line.strip()]
    rows: list[list[Any]] = []
    for row, cells in enumerate(csv.reader(lines), start=1):
        if len(cells) != len(RAW_FEATURES):
            raise _width_error(row, len(cells))
        if [cell.strip().lower() for cell in cells] == list(RAW_FEATURES):
            raise InvalidPayload(f"row {row} is a header; send data rows only")
        rows.append(cells)
    return rows


def _json_row(instance: Any, row: int) -> list[Any]:
    if isinstance(instance, list):
        if len(instance) != len(RAW_FEATURES):
            raise _width_error(row, len(instance))
        return instance
    if isinstance(instance, dict):
        unknown = sorted(set(instance) - set(RAW_FEATURES))
        absent = [name for name in RAW_FEATURES if name not in instance]
        if unknown or absent:
            raise InvalidPayload(
                f"row {row}: unknown keys {unknown}, missing keys {absent}; each object needs "
                f"exactly {', '.join(RAW_FEATURES)} (null for a missing value)"
            )
        return [instance[name] for name in RAW_FEATURES]
    raise InvalidPayload(f"row {row} must be a list of values or an object keyed by column name")


def _json_rows(text: str) -> list[list[Any]]:
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as error:
        raise InvalidPayload(
            f"the body is not valid JSON: {error.msg} (line {error.lineno}, column {error.colno})"
        ) from None
    if isinstance(payload, dict) and set(payload) == {"instances"}:
        payload = payload["instances"]
    if not isinstance(payload, list):
        raise InvalidPayload(
            'a JSON body must be {"instances": [...]} or a list of rows, each a list of '
            f"{len(RAW_FEATURES)} values or an object keyed by column name"
        )
    return [_json_row(instance, row) for row, instance in enumerate(payload, start=1)]


def input_fn(request_body: Any, request_content_type: str | None) -> RawBatch:
    media = _media_type(request_content_type)
    if media not in (CSV, JSON):
        raise UnsupportedMediaType(
            f"Content-Type {request_content_type!r} is not supported; send {CSV} or {JSON}"
        )
    text = _body_text(request_body)
    rows = _csv_rows(text) if media == CSV else _json_rows(text)
    return rows_to_batch(rows)


def predict_fn(input_data: RawBatch, model: LoadedModel) -> np.ndarray:
    return model_io.predict(model.model, model.preprocessor.transform(input_data))


def _accepted_ranges(accept: str) -> list[str]:
    """Media ranges from an Accept header, most preferred first; q=0 means "not this"."""
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(accept.split(",")):
        media, *params = (piece.strip() for piece in part.split(";"))
        quality = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if media and quality > 0:
            ranked.append((-quality, position, media.lower()))
    return [media for _, _, media in sorted(ranked)]


def response_type(accept: str | None) -> str:
    if not accept or not accept.strip():
        return DEFAULT_ACCEPT
    for media in _accepted_ranges(accept):
        if media in (CSV, JSON):
            return media
        if media == "*/*":
            return DEFAULT_ACCEPT
        if media in ("text/*", "application/*"):
            return CSV if media == "text/*" else JSON
    raise UnsupportedMediaType(f"Accept {accept!r} allows neither {CSV} nor {JSON}")


def _shortest(value: np.floating) -> str:
    # Rings need no more than float32 precision (XGBoost and PyTorch predict float32): print the
    # shortest text that reads back as the same float32.
    return np.format_float_positional(np.float32(value), unique=True, trim="-")


def output_fn(prediction: np.ndarray, accept: str | None) -> tuple[str, str]:
    media = response_type(accept)
    texts = [_shortest(value) for value in np.asarray(prediction).ravel()]
    if media == CSV:
        return "\n".join(texts) + "\n", CSV
    return json.dumps({"predictions": [float(text) for text in texts]}), JSON
