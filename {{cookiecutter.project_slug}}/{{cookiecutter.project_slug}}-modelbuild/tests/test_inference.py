"""inference.py: the serving handlers, the numpy transform and the model artifact they serve."""

from __future__ import annotations

import importlib.util
import inspect
import json
import subprocess
import sys
import types
from pathlib import Path

import model_io
import numpy as np
import pandas as pd
import pytest

from modelbuild.steps import preprocess
from modelbuild.steps.training import inference

GOOD_ROW = ["M", "0.455", "0.365", "0.095", "0.514", "0.2245", "0.101", "0.15"]
GOOD_OBJECT = dict(zip(inference.RAW_FEATURES, GOOD_ROW, strict=True))


@pytest.fixture(scope="module")
def model(model_dir: Path) -> inference.LoadedModel:
    return inference.model_fn(str(model_dir))


@pytest.fixture(scope="module")
def test_split(preprocessed_dir: Path) -> tuple[pd.DataFrame, np.ndarray]:
    """Raw test rows (label first) and the processed features of the same rows."""
    raw = pd.read_csv(
        preprocessed_dir / "test" / "test_raw.csv", header=None, dtype=str, keep_default_na=False
    )
    processed = pd.read_csv(preprocessed_dir / "test" / "test.csv", header=None).to_numpy()
    return raw, processed[:, 1:]


def reference_predictions(model: inference.LoadedModel, processed: np.ndarray) -> np.ndarray:
    """The framework's own predictions for already-processed rows, at the precision served."""
    return np.asarray(model_io.predict(model.model, processed)).astype(np.float32)


def serve(model: inference.LoadedModel, body, content_type: str, accept: str) -> tuple[str, str]:
    batch = inference.input_fn(body, content_type)
    return inference.output_fn(inference.predict_fn(batch, model), accept)


def random_frame(rng: np.random.Generator, rows: int, sexes: list) -> pd.DataFrame:
    frame = pd.DataFrame(
        rng.normal(1.0, 0.5, (rows, len(preprocess.NUMERIC_FEATURES))),
        columns=list(preprocess.NUMERIC_FEATURES),
    )
    frame = frame.mask(rng.random(frame.shape) < 0.1)
    frame.insert(0, "sex", pd.Series(rng.choice(np.array(sexes, dtype=object), rows), dtype=object))
    return frame


def as_batch(frame: pd.DataFrame) -> inference.RawBatch:
    sexes = [None if pd.isna(value) else value for value in frame["sex"]]
    return inference.RawBatch(
        numeric=frame[list(inference.NUMERIC_FEATURES)].to_numpy(dtype=float),
        categorical={"sex": sexes},
    )


@pytest.mark.parametrize(
    "training_sexes", [["F", "I", "M"], ["F", "I", "M", np.nan]], ids=["complete", "with-missing"]
)
def test_numpy_transform_equals_the_scikit_learn_column_transformer(training_sexes) -> None:
    rng = np.random.default_rng(3)
    fitted = preprocess.build_transformer().fit(random_frame(rng, 200, training_sexes))
    spec = json.loads(json.dumps(preprocess.export_transformer(fitted)))
    numpy_side = inference.Preprocessor.from_dict(spec)
    # Unseen rows, with missing numbers, missing sex and a category never seen in training.
    unseen = random_frame(rng, 100, ["F", "I", "M", np.nan, "Z"])
    expected = fitted.transform(unseen)
    actual = numpy_side.transform(as_batch(unseen))
    assert actual.shape == expected.shape
    np.testing.assert_allclose(actual, expected, rtol=0, atol=1e-12)
    unknown = (unseen["sex"] == "Z").to_numpy()
    assert unknown.any() and (actual[unknown, 7:] == 0).all()


def test_raw_schema_matches_the_preprocess_step() -> None:
    assert inference.RAW_FEATURES == preprocess.RAW_FEATURES
    assert inference.NUMERIC_FEATURES == preprocess.NUMERIC_FEATURES
    assert inference.CATEGORICAL_FEATURES == preprocess.CATEGORICAL_FEATURES
    assert inference.ALLOWED_CATEGORIES == preprocess.ALLOWED_CATEGORIES
    assert inference.MISSING_TOKENS == preprocess.MISSING_TOKENS


@pytest.mark.parametrize("as_bytes", [True, False], ids=["bytes", "str"])
def test_csv_round_trip_equals_the_model_on_the_processed_rows(model, test_split, as_bytes) -> None:
    raw, processed = test_split
    body = "\n".join(",".join(row[1:]) for row in raw.itertuples(index=False)) + "\n"
    payload = body.encode() if as_bytes else body
    text, content_type = serve(model, payload, "text/csv; charset=utf-8", "text/csv")
    assert content_type == "text/csv"
    returned = np.array([np.float32(line) for line in text.splitlines()])
    np.testing.assert_array_equal(returned, reference_predictions(model, processed))


def test_json_lists_and_objects_round_trip(model, test_split) -> None:
    raw, processed = test_split
    rows = [list(row[1:]) for row in raw.head(10).itertuples(index=False)]
    numbers = [[row[0], *(float(v) if v else None for v in row[1:])] for row in rows]
    objects = [dict(zip(inference.RAW_FEATURES, row, strict=True)) for row in numbers]
    expected = reference_predictions(model, processed[:10])
    for payload in ({"instances": numbers}, {"instances": objects}, objects):
        text, content_type = serve(
            model, json.dumps(payload), "application/json", "application/json"
        )
        assert content_type == "application/json"
        returned = np.array(json.loads(text)["predictions"], dtype=np.float32)
        np.testing.assert_array_equal(returned, expected)


def test_missing_values_are_imputed_with_the_training_median(model) -> None:
    median = model.preprocessor.medians[0]
    with_median = ",".join([GOOD_ROW[0], repr(float(median)), *GOOD_ROW[2:]])
    for missing in ("", "?", "NaN"):
        blank = ",".join([GOOD_ROW[0], missing, *GOOD_ROW[2:]])
        text, _ = serve(model, f"{blank}\n{with_median}\n", "text/csv", "text/csv")
        first, second = text.split()
        assert first == second
    via_json, _ = serve(
        model, json.dumps([[GOOD_ROW[0], None, *GOOD_ROW[2:]]]), "application/json", "text/csv"
    )
    assert via_json.split()[0] == first


BAD_CSV = {
    "empty body": ("\n\n", "holds no rows"),
    "too few values": (",".join(GOOD_ROW[:7]), "row 1 has 7 values; expected 8"),
    "label included": (",".join([*GOOD_ROW, "9"]), "without the rings label"),
    "header": (",".join(inference.RAW_FEATURES), "row 1 is a header"),
    "not a number": (
        ",".join(GOOD_ROW) + "\nM,big," + ",".join(GOOD_ROW[2:]),
        "row 2, column 'length': 'big' is not a finite number",
    ),
    "infinite": (",".join([*GOOD_ROW[:3], "inf", *GOOD_ROW[4:]]), "column 'height': 'inf'"),
    "unknown sex": (
        ",".join(["X", *GOOD_ROW[1:]]),
        "row 1, column 'sex': 'X' is not one of F, I, M",
    ),
}


@pytest.mark.parametrize("case", BAD_CSV)
def test_rejects_bad_csv_payloads(case: str) -> None:
    body, message = BAD_CSV[case]
    with pytest.raises(inference.InvalidPayload) as error:
        inference.input_fn(body, "text/csv")
    assert message in str(error.value)


BAD_JSON = {
    "not json": ("{instances", "the body is not valid JSON"),
    "wrong shape": ('{"rows": []}', 'must be {"instances": [...]}'),
    "scalar row": ('{"instances": [5]}', "row 1 must be a list of values or an object"),
    "wrong width": (json.dumps({"instances": [GOOD_ROW[:5]]}), "row 1 has 5 values"),
    "unknown key": (
        json.dumps([{**GOOD_OBJECT, "age": 3}]),
        "unknown keys ['age']",
    ),
    "missing key": (
        json.dumps([{k: v for k, v in GOOD_OBJECT.items() if k != "height"}]),
        "missing keys ['height']",
    ),
    "boolean number": (json.dumps([["F", True, *GOOD_ROW[2:]]]), "column 'length': True"),
    "numeric sex": (json.dumps([[1, *GOOD_ROW[1:]]]), "column 'sex': 1 is not one of"),
    "no rows": ('{"instances": []}', "holds no rows"),
}


@pytest.mark.parametrize("case", BAD_JSON)
def test_rejects_bad_json_payloads(case: str) -> None:
    body, message = BAD_JSON[case]
    with pytest.raises(inference.InvalidPayload) as error:
        inference.input_fn(body, "application/json")
    assert message in str(error.value)


def test_rejects_a_body_that_is_not_utf8() -> None:
    with pytest.raises(inference.InvalidPayload, match="not UTF-8"):
        inference.input_fn(b"M,\xff\xfe", "text/csv")


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-npy", "", None])
def test_rejects_unsupported_content_types(content_type) -> None:
    with pytest.raises(inference.UnsupportedMediaType, match="is not supported"):
        inference.input_fn(",".join(GOOD_ROW), content_type)


@pytest.mark.parametrize(
    ("accept", "chosen"),
    [
        (None, "application/json"),
        ("*/*", "application/json"),
        ("text/csv", "text/csv"),
        ("TEXT/CSV; charset=utf-8", "text/csv"),
        ("application/json;q=0.2, text/csv", "text/csv"),
        ("text/csv;q=0.5, application/json", "application/json"),
        ("image/png, text/*", "text/csv"),
        ("text/csv;q=0, */*", "application/json"),
    ],
)
def test_negotiates_the_response_type(accept, chosen) -> None:
    body, content_type = inference.output_fn(np.array([9.5], dtype=np.float32), accept)
    assert content_type == chosen
    assert body == ("9.5\n" if chosen == "text/csv" else '{"predictions": [9.5]}')


def test_rejects_an_accept_header_it_cannot_satisfy() -> None:
    with pytest.raises(inference.UnsupportedMediaType, match="allows neither"):
        inference.output_fn(np.array([1.0]), "image/png")


def test_client_errors_are_value_errors_with_http_status() -> None:
    assert issubclass(inference.InvalidPayload, ValueError)
    assert issubclass(inference.UnsupportedMediaType, ValueError)
    assert inference.InvalidPayload("x").status_code == 400
    assert inference.UnsupportedMediaType("x").status_code == 415


def test_inside_the_serving_toolkit_client_errors_keep_their_status(monkeypatch) -> None:
    """The toolkit answers 500 unless the error is its own type; ours must be that type there."""

    class BaseInferenceToolkitError(Exception):
        pass

    errors = types.ModuleType("sagemaker_inference.errors")
    errors.BaseInferenceToolkitError = BaseInferenceToolkitError
    monkeypatch.setitem(sys.modules, "sagemaker_inference", types.ModuleType("sagemaker_inference"))
    monkeypatch.setitem(sys.modules, "sagemaker_inference.errors", errors)
    spec = importlib.util.spec_from_file_location("served_inference", inference.__file__)
    served = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "served_inference", served)
    spec.loader.exec_module(served)
    with pytest.raises(BaseInferenceToolkitError) as error:
        served.input_fn("x", "text/plain")
    assert (error.value.status_code, error.value.phrase) == (415, "Unsupported Media Type")
    assert "text/plain" in error.value.message


def test_handlers_take_exactly_the_arguments_the_toolkit_passes() -> None:
    # The toolkit counts parameters to decide whether to pass a context: no extras allowed.
    arity = {
        name: len(inspect.signature(getattr(inference, name)).parameters)
        for name in ("model_fn", "input_fn", "predict_fn", "output_fn")
    }
    assert arity == {"model_fn": 1, "input_fn": 2, "predict_fn": 2, "output_fn": 2}


ARTIFACT_FILES = (*model_io.MODEL_FILES, "preprocessor.json")


@pytest.mark.parametrize("missing", ARTIFACT_FILES)
def test_model_fn_names_a_missing_artifact_file(model_dir: Path, tmp_path: Path, missing) -> None:
    for name in ARTIFACT_FILES:
        if name != missing:
            (tmp_path / name).write_bytes((model_dir / name).read_bytes())
    with pytest.raises(FileNotFoundError, match=missing):
        inference.model_fn(str(tmp_path))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"format_version": 9}, "format_version 9"),
        ({"raw_feature_columns": ["sex", "length"]}, "expects raw columns"),
        (
            {"processed_feature_names": ["a", "b"]},
            "the model takes 10 features but preprocessor.json produces 2",
        ),
        ({"numeric": "broken"}, "preprocessor.json is malformed"),
    ],
)
def test_model_fn_rejects_a_mismatched_preprocessor(
    model_dir: Path, tmp_path: Path, change: dict, message: str
) -> None:
    for name in model_io.MODEL_FILES:
        (tmp_path / name).write_bytes((model_dir / name).read_bytes())
    spec = json.loads((model_dir / "preprocessor.json").read_text())
    (tmp_path / "preprocessor.json").write_text(json.dumps({**spec, **change}))
    with pytest.raises(ValueError, match=message):
        inference.model_fn(str(tmp_path))


SERVE_FROM_ARTIFACT = """
import importlib.util, sys
model_dir = sys.argv[1]
# The serving containers put code/ on the import path, so the handler finds model_io beside it.
sys.path.insert(0, model_dir + "/code")
spec = importlib.util.spec_from_file_location("inference", model_dir + "/code/inference.py")
handler = importlib.util.module_from_spec(spec)
sys.modules["inference"] = handler
spec.loader.exec_module(handler)
model = handler.model_fn(model_dir)
batch = handler.input_fn(sys.argv[2].encode(), "text/csv")
print(handler.output_fn(handler.predict_fn(batch, model), "text/csv")[0], end="")
"""


def test_the_model_artifact_serves_on_its_own(model_dir: Path, model, tmp_path: Path) -> None:
    body = ",".join(GOOD_ROW)
    # -B: the shared model directory must stay exactly as train.py wrote it (no __pycache__).
    done = subprocess.run(
        [sys.executable, "-I", "-B", "-c", SERVE_FROM_ARTIFACT, str(model_dir), body],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == serve(model, body, "text/csv", "text/csv")[0]


def test_imports_no_framework_only_numpy(third_party_imports) -> None:
    # The framework lives in model_io.py; sagemaker_inference is imported only when present
    # (inside the serving container).
    assert third_party_imports("training/inference.py") <= {"numpy", "sagemaker_inference"}


def test_model_fn_reports_a_corrupt_model_file(model_dir: Path, tmp_path: Path) -> None:
    for name in ARTIFACT_FILES:
        (tmp_path / name).write_bytes((model_dir / name).read_bytes())
    for name in model_io.MODEL_FILES:
        (tmp_path / name).write_bytes(b'{"truncated": ')
    with pytest.raises(ValueError, match="is not a valid"):
        inference.model_fn(str(tmp_path))
