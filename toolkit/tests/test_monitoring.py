"""Data-quality baselines in Model Monitor's formats, and drift checks against them.

Synthetic abalone-like rows (one categorical and seven numeric features): a baseline from one
part, "traffic" from a held-out part, shifted on purpose where a test says so.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mlops_toolkit.endpoint.capture import CaptureWriter, Exchange
from mlops_toolkit.monitoring import drift
from mlops_toolkit.monitoring.capture_reader import to_table
from mlops_toolkit.monitoring.drift_check import check
from mlops_toolkit.monitoring.kll import build_sketch, cdf
from mlops_toolkit.monitoring.monitor_stats import Table, statistics, suggest_constraints

FEATURES = [
    "sex",
    "length",
    "diameter",
    "height",
    "whole_weight",
    "shucked_weight",
    "viscera_weight",
    "shell_weight",
]
WEIGHTS = ("whole_weight", "shucked_weight", "viscera_weight", "shell_weight")


def synthetic_abalone(count: int, seed: int) -> list[list[str]]:
    """Rows shaped like UCI abalone's features (strings, as a CSV holds them)."""
    rng = np.random.default_rng(seed)
    sex = rng.choice(["M", "F", "I"], size=count)
    length = rng.uniform(0.15, 0.75, size=count)
    diameter = 0.8 * length + rng.normal(0, 0.01, count)
    height = 0.27 * length + rng.normal(0, 0.01, count)
    whole = 4.5 * length**3 + rng.normal(0, 0.02, count).clip(-0.01, None)
    shucked, viscera, shell = 0.43 * whole, 0.22 * whole, 0.29 * whole
    numeric = np.column_stack([length, diameter, height, whole, shucked, viscera, shell])
    return [[str(sex[i]), *(f"{value:.4f}" for value in numeric[i])] for i in range(count)]


def features_only(rows: list[list[str]]) -> list[list[str]]:
    return [row[: len(FEATURES)] for row in rows]


def table_of(rows: list[list[str | None]]) -> Table:
    return to_table(rows, FEATURES)[0]


@pytest.fixture(scope="module")
def split() -> tuple[list[list[str]], list[list[str]]]:
    rows = features_only(synthetic_abalone(count=1000, seed=11))
    return rows[:700], rows[700:]


@pytest.fixture(scope="module")
def baseline(split) -> tuple[dict, dict]:
    stats = statistics(table_of(split[0]))
    return stats, suggest_constraints(stats)


def violations_for(baseline: tuple[dict, dict], rows: list[list[str | None]]) -> list:
    table, shape = to_table(rows, FEATURES)
    return check(*baseline, table, shape)


def test_statistics_have_the_fields_model_monitor_writes(baseline, split):
    stats = json.loads(json.dumps(baseline[0]))  # plain JSON types only
    assert stats["version"] == 0.0 and stats["dataset"] == {"item_count": 700}
    assert [f["name"] for f in stats["features"]] == FEATURES
    sex, *numeric = stats["features"]
    assert sex["inferred_type"] == "String"
    strings = sex["string_statistics"]
    assert strings["common"] == {"num_present": 700, "num_missing": 0}
    assert strings["distinct_count"] == 3.0
    buckets = strings["distribution"]["categorical"]["buckets"]
    counted = {value: sum(row[0] == value for row in split[0]) for value in ("F", "I", "M")}
    assert {b["value"]: b["count"] for b in buckets} == counted
    for feature in numeric:
        assert feature["inferred_type"] == "Fractional"
        section = feature["numerical_statistics"]
        assert set(section) == {"common", "mean", "sum", "std_dev", "min", "max", "distribution"}
        column = np.array([float(row[FEATURES.index(feature["name"])]) for row in split[0]])
        assert section["mean"] == pytest.approx(column.mean())
        assert section["sum"] == pytest.approx(column.sum())
        assert section["std_dev"] == pytest.approx(column.std())
        assert (section["min"], section["max"]) == (column.min(), column.max())
        kll = section["distribution"]["kll"]
        assert sum(bucket["count"] for bucket in kll["buckets"]) == 700
        assert set(kll["buckets"][0]) == {"lower_bound", "upper_bound", "count"}
        assert kll["sketch"]["parameters"] == {"c": 0.64, "k": 2048.0}
        assert sorted(value for level in kll["sketch"]["data"] for value in level) == sorted(column)


def test_constraints_have_the_fields_model_monitor_writes(baseline):
    constraints = json.loads(json.dumps(baseline[1]))
    assert constraints["version"] == 0.0
    by_name = {feature["name"]: feature for feature in constraints["features"]}
    assert list(by_name) == FEATURES
    assert by_name["sex"] == {
        "name": "sex",
        "inferred_type": "String",
        "completeness": 1.0,
        "string_constraints": {"domains": ["F", "I", "M"]},
    }
    assert by_name["length"] == {
        "name": "length",
        "inferred_type": "Fractional",
        "completeness": 1.0,
        "num_constraints": {"is_non_negative": True},
    }
    config = constraints["monitoring_config"]
    assert config["evaluate_constraints"] == config["emit_metrics"] == "Enabled"
    assert config["datatype_check_threshold"] == config["domain_content_threshold"] == 1.0
    assert config["distribution_constraints"] == {
        "perform_comparison": "Enabled",
        "comparison_threshold": 0.1,
        "comparison_method": "Robust",
        "categorical_comparison_threshold": 0.1,
        "categorical_drift_method": "LInfinity",
    }


def test_a_large_sketch_keeps_every_value_counted_and_the_distribution_close():
    values = np.random.default_rng(3).normal(size=20_000)
    sketch = build_sketch(values)
    weights = sum(len(level) * 2**height for height, level in enumerate(sketch["data"]))
    assert weights == 20_000
    assert sum(len(level) for level in sketch["data"]) < 4_000
    points = np.linspace(-2, 2, 9)
    exact = np.searchsorted(np.sort(values), points, side="right") / len(values)
    assert np.max(np.abs(cdf(sketch, points) - exact)) < 0.01


def test_no_false_alarm_on_a_held_out_unshifted_split(baseline, split):
    assert violations_for(baseline, split[1]) == []


def _scaled(rows, columns, factor):
    indexes = [FEATURES.index(c) for c in columns]
    return [
        [f"{float(v) * factor:.4f}" if i in indexes else v for i, v in enumerate(row)]
        for row in rows
    ]


def _with(rows, column, value, every):
    index = FEATURES.index(column)
    return [
        [value if i == index and n % every == 0 else v for i, v in enumerate(row)]
        for n, row in enumerate(rows)
    ]


SHIFTS = {
    "weights-scaled": (
        lambda rows: _scaled(rows, WEIGHTS[:3], 1.3),
        {(w, "baseline_drift_check") for w in WEIGHTS[:3]},
    ),
    "unseen-category": (
        lambda rows: _with(rows, "sex", "X", 2),
        {("sex", "categorical_values_check"), ("sex", "baseline_drift_check")},
    ),
    "missing-values": (
        lambda rows: _with(rows, "height", None, 5),
        {("height", "completeness_check")},
    ),
    "wrong-type": (
        lambda rows: _with(rows, "diameter", "big", 10),
        {("diameter", "data_type_check")},
    ),
    "short-records": (
        lambda rows: [row[:-1] if n % 4 == 0 else row for n, row in enumerate(rows)],
        {("shell_weight", "missing_column_check"), ("shell_weight", "completeness_check")},
    ),
    "long-records": (
        lambda rows: [[*row, "1"] if n % 4 == 0 else row for n, row in enumerate(rows)],
        {("_c8", "extra_column_check")},
    ),
}


@pytest.mark.parametrize("shift", SHIFTS.values(), ids=SHIFTS.keys())
def test_each_injected_shift_is_found_on_its_feature_only(baseline, split, shift):
    transform, expected = shift
    found = violations_for(baseline, transform(split[1]))
    assert {(v.feature_name, v.constraint_check_type) for v in found} == expected
    assert all(v.description for v in found)


def _write_baseline(folder: Path, stats: dict, constraints: dict) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "statistics.json").write_text(json.dumps(stats))
    (folder / "constraints.json").write_text(json.dumps(constraints))
    return ["--statistics", str(folder / "statistics.json")] + [
        "--constraints",
        str(folder / "constraints.json"),
    ]


def _capture(root: Path, rows: list[list[str]], batch: int = 25) -> Path:
    writer = CaptureWriter(root, "abalone-local")
    for start in range(0, len(rows), batch):
        body = "\n".join(",".join(row) for row in rows[start : start + batch]).encode()
        writer.write(Exchange(body, "text/csv", b"9.0\n", "text/csv"))
    writer.close()
    return root


def test_drift_report_writes_model_monitor_violations_and_a_picture(baseline, split, tmp_path):
    flags = _write_baseline(tmp_path / "baseline", *baseline)
    clean = _capture(tmp_path / "clean", split[1])
    shifted = _capture(
        tmp_path / "shifted", _with(_scaled(split[1], WEIGHTS[:3], 1.3), "sex", "X", 2)
    )

    assert drift.main([str(clean), *flags, "--output-dir", str(tmp_path / "ok")]) == 0
    assert json.loads((tmp_path / "ok" / "constraint_violations.json").read_text()) == {
        "violations": []
    }
    assert drift.main([str(shifted), *flags, "--output-dir", str(tmp_path / "bad")]) == 3

    report = json.loads((tmp_path / "bad" / "constraint_violations.json").read_text())
    assert {v["feature_name"] for v in report["violations"]} == {"sex", *WEIGHTS[:3]}
    for violation in report["violations"]:
        assert set(violation) == {"feature_name", "constraint_check_type", "description"}
    current = json.loads((tmp_path / "bad" / "statistics.json").read_text())
    assert current["dataset"]["item_count"] == len(split[1])
    html = (tmp_path / "bad" / "drift-report.html").read_text()
    assert html.count("DRIFT</span>") == 4 and html.count("<svg") == len(FEATURES)
    assert "DRIFT</span>" not in (tmp_path / "ok" / "drift-report.html").read_text()


def test_json_requests_are_read_by_position_or_by_name(baseline, split, tmp_path):
    flags = _write_baseline(tmp_path / "baseline", *baseline)
    writer = CaptureWriter(tmp_path / "capture", "abalone-local")
    half = len(split[1]) // 2
    as_lists = {"instances": [[*row[:1], *map(float, row[1:])] for row in split[1][:half]]}
    as_objects = [dict(zip(FEATURES, row, strict=True)) for row in split[1][half:]]
    for payload in (as_lists, as_objects):
        body = json.dumps(payload).encode()
        writer.write(Exchange(body, "application/json", b"{}", "application/json"))
    writer.close()

    out = tmp_path / "out"
    assert drift.main([str(tmp_path / "capture"), *flags, "--output-dir", str(out)]) == 0
    assert json.loads((out / "statistics.json").read_text())["dataset"]["item_count"] == len(
        split[1]
    )


def _record(data: str) -> str:
    request = {"observedContentType": "text/csv", "mode": "INPUT", "data": data, "encoding": "CSV"}
    return json.dumps({"captureData": {"endpointInput": request}, "eventVersion": "0"})


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "does not exist"),
        ("", "no data-capture files"),
        (_record("M,1,2,3,4,5,6,7") + "\n{not json\n", "line 2: not a JSON object"),
        (json.dumps({"eventMetadata": {}}) + "\n", "line 1: no captureData.endpointInput.data"),
        (
            _record("x").replace("text/csv", "image/png") + "\n",
            "line 1: the request was image/png",
        ),
    ],
    ids=["missing", "empty-folder", "not-json", "not-a-capture-record", "unsupported-type"],
)
def test_missing_or_malformed_capture_is_a_clear_error(
    baseline, tmp_path, capsys, content, message
):
    flags = _write_baseline(tmp_path / "baseline", *baseline)
    capture = tmp_path / "capture"
    if content is not None:
        capture.mkdir()
        if content:
            (capture / "part.jsonl").write_text(content)
    code = drift.main([str(capture), *flags, "--output-dir", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err
    if content:
        assert "part.jsonl" in err
    assert "Traceback" not in err


def test_a_baseline_file_that_is_not_model_monitor_format_is_named(baseline, tmp_path, capsys):
    flags = _write_baseline(tmp_path / "baseline", *baseline)
    (tmp_path / "baseline" / "constraints.json").write_text(json.dumps({"violations": []}))
    capture = _capture(tmp_path / "capture", [["M", *["0.5"] * 7]])
    code = drift.main([str(capture), *flags, "--output-dir", str(tmp_path / "out")])
    assert code == 2
    assert "constraints.json is not a Model Monitor constraints file" in capsys.readouterr().err


def test_a_baseline_feature_the_data_lacks_is_a_missing_column(baseline, split):
    stats, constraints = baseline
    renamed = json.loads(json.dumps(constraints))
    renamed["features"][1]["name"] = "length_mm"
    table, shape = to_table(split[1], FEATURES)
    found = check(stats, renamed, table, shape)
    assert [(v.feature_name, v.constraint_check_type) for v in found] == [
        ("length_mm", "missing_column_check")
    ]
