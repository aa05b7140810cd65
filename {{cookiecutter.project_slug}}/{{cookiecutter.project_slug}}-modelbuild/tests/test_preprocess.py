"""preprocess.py: validation of raw data, the fitted transform, the split and its outputs."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from modelbuild.steps import preprocess

OUTPUT_FILES = (
    "train/train.csv",
    "validation/validation.csv",
    "test/test.csv",
    "test/test_raw.csv",
    "preprocessor/preprocessor.json",
)


# The sample the README's `local-run --input-data data/abalone.csv` reads.
SAMPLE_DATA = Path(__file__).resolve().parents[1] / "data" / "abalone.csv"


def read(base: Path, relative: str) -> pd.DataFrame:
    return pd.read_csv(base / relative, header=None, keep_default_na=False, na_values=[""])


def run_ok(base: Path, *args: str) -> None:
    assert preprocess.main(["--base-dir", str(base), *args]) == 0


def test_the_sample_data_this_repo_ships_passes_every_input_rule(tmp_path: Path) -> None:
    (tmp_path / "input").mkdir()
    shutil.copyfile(SAMPLE_DATA, tmp_path / "input" / SAMPLE_DATA.name)
    run_ok(tmp_path)
    splits = [len(read(tmp_path, f"{name}/{name}.csv")) for name in ("train", "validation", "test")]
    assert sum(splits) == len(SAMPLE_DATA.read_text(encoding="utf-8").splitlines())


def test_writes_every_output_with_label_first(processing_dir: Path, raw_rows) -> None:
    run_ok(processing_dir)
    sizes = {
        name: len(read(processing_dir, f"{name}/{name}.csv"))
        for name in ("train", "validation", "test")
    }
    assert sizes == {"train": 210, "validation": 45, "test": 45}
    spec = json.loads((processing_dir / "preprocessor/preprocessor.json").read_text())
    assert spec["raw_feature_columns"] == list(preprocess.RAW_FEATURES)
    assert spec["label"] == "rings"
    assert spec["processed_feature_names"] == [
        *preprocess.NUMERIC_FEATURES,
        "sex_F",
        "sex_I",
        "sex_M",
    ]
    for name in ("train", "validation", "test"):
        frame = read(processing_dir, f"{name}/{name}.csv")
        assert frame.shape[1] == 1 + len(spec["processed_feature_names"])
    test, test_raw = (
        read(processing_dir, "test/test.csv"),
        read(processing_dir, "test/test_raw.csv"),
    )
    assert test_raw.shape == (45, 9)
    # The same rows in the same order: label first in both, then features processed or raw.
    assert test[0].tolist() == test_raw[0].tolist()
    raw_lookup = {tuple(row[:8]): float(row[8]) for row in raw_rows}
    for row in test_raw.itertuples(index=False):
        key = (row[1], *(f"{value:.4f}" for value in row[2:]))
        assert raw_lookup[key] == row[0]


def test_standardizes_numeric_and_one_hot_encodes_sex(processing_dir: Path) -> None:
    run_ok(processing_dir)
    train = read(processing_dir, "train/train.csv").to_numpy()
    numeric, onehot = train[:, 1:8], train[:, 8:]
    np.testing.assert_allclose(numeric.mean(axis=0), 0.0, atol=1e-9)
    np.testing.assert_allclose(numeric.std(axis=0), 1.0, atol=1e-9)
    assert set(np.unique(onehot)) == {0.0, 1.0}
    assert (onehot.sum(axis=1) == 1).all()


def test_fits_the_transform_on_training_rows_only(processing_dir: Path) -> None:
    run_ok(processing_dir)
    spec = json.loads((processing_dir / "preprocessor/preprocessor.json").read_text())
    validation = read(processing_dir, "validation/validation.csv").to_numpy()
    train_rows = pd.read_csv(processing_dir / "input/abalone.csv", header=None)
    assert spec["numeric"]["length"]["mean"] != pytest.approx(train_rows[1].mean(), abs=1e-12)
    # Validation rows, standardized with training statistics, are not exactly centred.
    assert abs(validation[:, 1:8].mean(axis=0)).max() > 1e-6


def test_split_is_reproducible_and_follows_the_seed(tmp_path: Path, raw_rows, write_rows) -> None:
    contents = {}
    for run, seed in (("a", "5"), ("b", "5"), ("c", "6")):
        write_rows(tmp_path / run / "input" / "abalone.csv", raw_rows)
        run_ok(tmp_path / run, "--seed", seed)
        contents[run] = (tmp_path / run / "test" / "test.csv").read_bytes()
    assert contents["a"] == contents["b"]
    assert contents["a"] != contents["c"]


def test_fractions_set_the_split_sizes(processing_dir: Path) -> None:
    run_ok(processing_dir, "--train-fraction", "0.5", "--validation-fraction", "0.3")
    sizes = [len(read(processing_dir, f"{n}/{n}.csv")) for n in ("train", "validation", "test")]
    assert sizes == [150, 90, 60]


def test_reads_every_csv_in_the_input_channel(tmp_path: Path, raw_rows, write_rows) -> None:
    write_rows(tmp_path / "input" / "part-1.csv", raw_rows[:100])
    write_rows(tmp_path / "input" / "more" / "part-2.csv", raw_rows[100:])
    (tmp_path / "input" / "notes.txt").write_text("not data")
    run_ok(tmp_path)
    total = sum(len(read(tmp_path, f"{n}/{n}.csv")) for n in ("train", "validation", "test"))
    assert total == len(raw_rows)


def test_imputes_missing_features_and_gives_missing_sex_its_own_category(
    tmp_path: Path, raw_rows: list[list[str]], write_rows
) -> None:
    for row in raw_rows[::5]:
        row[0] = ""
    for row in raw_rows[1::7]:
        row[2] = "?"
    write_rows(tmp_path / "input" / "abalone.csv", raw_rows)
    run_ok(tmp_path)
    spec = json.loads((tmp_path / "preprocessor/preprocessor.json").read_text())
    assert spec["categorical"]["sex"] == ["F", "I", "M", "missing"]
    test, test_raw = read(tmp_path, "test/test.csv"), read(tmp_path, "test/test_raw.csv")
    assert not test.isna().any().any()
    missing_sex = test_raw[1].isna().to_numpy()
    assert missing_sex.any()
    assert (test[11].to_numpy() == missing_sex.astype(float)).all()
    missing_diameter = test_raw[3].isna().to_numpy()
    median = spec["numeric"]["diameter"]
    imputed = (median["median"] - median["mean"]) / median["scale"]
    assert np.allclose(test[2].to_numpy()[missing_diameter], imputed)


def _with(rows: list[list[str]], changes: dict[tuple[int, int], str]) -> list[list[str]]:
    for (row, column), value in changes.items():
        rows[row][column] = value
    return rows


BAD_INPUTS: dict[str, tuple[Callable[[list[list[str]]], list[list[str]]], list[str]]] = {
    "empty file": (lambda rows: [], ["no data rows", "abalone.csv"]),
    "wrong column count": (
        lambda rows: [*rows[:4], rows[4][:8], *rows[5:9], [*rows[9], "1"], *rows[10:]],
        ["2 row(s) do not have 9 columns", "first: row 5 of abalone.csv has 8"],
    ),
    "non-numeric": (
        lambda rows: _with(rows, {(2, 1): "abc", (9, 1): "1.2.3"}),
        ["column 'length'", "2 row(s) are not finite numbers", "row 3 of abalone.csv", "'abc'"],
    ),
    "infinite": (
        lambda rows: _with(rows, {(6, 4): "inf"}),
        ["column 'whole_weight'", "1 row(s) are not finite numbers", "row 7", "'inf'"],
    ),
    "unknown sex": (
        lambda rows: _with(rows, {(3, 0): "X", (4, 0): "m"}),
        ["column 'sex'", "2 row(s) are not one of F, I, M", "row 4 of abalone.csv", "'X'"],
    ),
    "all-missing column": (
        lambda rows: _with(rows, {(i, 2): "" for i in range(len(rows))}),
        ["column 'diameter'", "all 300 row(s) are missing"],
    ),
    "missing target": (
        lambda rows: _with(rows, {(10, 8): "", (20, 8): "NA"}),
        ["column 'rings'", "2 row(s) have no value", "row 11 of abalone.csv"],
    ),
    "header row": (
        lambda rows: [list(preprocess.RAW_COLUMNS), *rows],
        ["row 1 of abalone.csv is a header row", "headerless"],
    ),
    "several problems": (
        lambda rows: _with(rows, {(0, 0): "Q", (1, 5): "heavy"}),
        ["2 problem(s)", "column 'sex'", "column 'shucked_weight'"],
    ),
    "too few rows": (lambda rows: rows[:3], ["3 data row(s) are too few"]),
}


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_rejects_bad_data_and_writes_nothing(
    case: str, tmp_path: Path, raw_rows, write_rows, capsys: pytest.CaptureFixture[str]
) -> None:
    assert len(raw_rows) == 300  # the expected messages count rows
    mutate, expected = BAD_INPUTS[case]
    write_rows(tmp_path / "input" / "abalone.csv", mutate(raw_rows))
    assert preprocess.main(["--base-dir", str(tmp_path)]) == 1
    error = capsys.readouterr().err
    for fragment in expected:
        assert fragment in error
    assert sorted(path.name for path in tmp_path.iterdir()) == ["input"]


def test_rejects_an_input_channel_without_csv(tmp_path: Path, capsys) -> None:
    (tmp_path / "input").mkdir()
    assert preprocess.main(["--base-dir", str(tmp_path)]) == 1
    assert "no .csv file found under" in capsys.readouterr().err


def test_rejects_a_file_that_is_not_utf8(tmp_path: Path, capsys) -> None:
    (tmp_path / "input").mkdir()
    (tmp_path / "input" / "abalone.csv").write_bytes(b"M,0.4\xff,0.3,0.1,0.5,0.2,0.1,0.1,9\n")
    assert preprocess.main(["--base-dir", str(tmp_path)]) == 1
    assert "abalone.csv is not UTF-8 text" in capsys.readouterr().err
    assert sorted(path.name for path in tmp_path.iterdir()) == ["input"]


def test_rejects_a_feature_with_no_value_in_the_training_rows() -> None:
    train = pd.DataFrame({column: [1.0, 2.0] for column in preprocess.RAW_FEATURES})
    train["height"] = np.nan
    with pytest.raises(preprocess.InputDataError, match="column\\(s\\) height have no value"):
        preprocess.check_training_columns(train)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--train-fraction", "1.5"], "must be strictly between 0 and 1"),
        (
            ["--train-fraction", "0.8", "--validation-fraction", "0.2"],
            "must leave rows for the test",
        ),
    ],
)
def test_rejects_bad_fractions(processing_dir: Path, flags, message, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        preprocess.main(["--base-dir", str(processing_dir), *flags])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_runs_standalone(processing_dir: Path, run_script) -> None:
    done = run_script("preprocess.py", "--base-dir", str(processing_dir), cwd=processing_dir)
    assert done.returncode == 0, done.stderr
    assert all((processing_dir / name).is_file() for name in OUTPUT_FILES)


def test_imports_only_what_the_scikit_learn_container_has(third_party_imports) -> None:
    assert third_party_imports("preprocess.py") <= {"numpy", "pandas", "sklearn"}
