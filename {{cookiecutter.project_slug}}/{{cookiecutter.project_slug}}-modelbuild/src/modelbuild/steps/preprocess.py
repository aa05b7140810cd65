"""Preprocess step: validate the raw abalone CSV, fit the feature transform, split, write outputs.

Runs on its own inside the SageMaker scikit-learn container (only numpy, pandas and scikit-learn
besides the standard library), so it must never import from the ``modelbuild`` package.

Outputs under ``--base-dir`` (headerless CSV, label first):
  train/train.csv, validation/validation.csv, test/test.csv   processed features
  test/test_raw.csv                                           the same test rows, unprocessed
  preprocessor/preprocessor.json                              fitted transform as plain JSON
  baseline/baseline.csv        raw training features with a header row (data-quality baseline)
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

LABEL = "rings"
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
RAW_COLUMNS = (*RAW_FEATURES, LABEL)
ALLOWED_CATEGORIES = {"sex": ("F", "I", "M")}
# Cells that mean "no value", compared case-insensitively after stripping spaces.
MISSING_TOKENS = frozenset({"", "?", "na", "n/a", "nan", "null"})
# A missing category becomes a category of its own rather than a guess at the most common one.
MISSING_CATEGORY = "missing"
PREPROCESSOR_FORMAT_VERSION = 1
OUTPUT_DIRS = ("train", "validation", "test", "preprocessor", "baseline")
# The data-quality baseline: the training rows' raw features exactly as the endpoint receives
# them (same columns, same order, no label), plus a header row. Model Monitor names features after
# that header and matches the headerless captured requests to them by position.
BASELINE_FILE = "baseline.csv"


class InputDataError(Exception):
    """The raw data breaks a rule; the message names the rule, the column and the rows."""


@dataclass(frozen=True)
class RawTable:
    """Every data row as stripped strings, with where each row came from (for messages)."""

    rows: list[list[str]]
    origins: list[str]


@dataclass(frozen=True)
class Split:
    train: np.ndarray
    validation: np.ndarray
    test: np.ndarray


def find_input_files(input_dir: Path) -> list[Path]:
    files = sorted(path for path in input_dir.rglob("*.csv") if path.is_file())
    if not files:
        raise InputDataError(
            f"no .csv file found under {input_dir}; the input channel must hold the raw data "
            f"as headerless CSV with {len(RAW_COLUMNS)} columns ({', '.join(RAW_COLUMNS)})"
        )
    return files


def _is_header(cells: list[str]) -> bool:
    return [cell.lower() for cell in cells] == list(RAW_COLUMNS)


def _read_file(path: Path, name: str, table: RawTable, wrong_width: list[tuple[str, int]]) -> None:
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            for cells in reader:
                if not cells or (len(cells) == 1 and not cells[0].strip()):
                    continue
                origin = f"row {reader.line_num} of {name}"
                if len(cells) != len(RAW_COLUMNS):
                    wrong_width.append((origin, len(cells)))
                    continue
                stripped = [cell.strip() for cell in cells]
                if _is_header(stripped):
                    raise InputDataError(
                        f"{origin} is a header row; the input must be headerless CSV with the "
                        f"columns in this order: {', '.join(RAW_COLUMNS)}"
                    )
                table.rows.append(stripped)
                table.origins.append(origin)
    except UnicodeDecodeError as error:
        raise InputDataError(f"{name} is not UTF-8 text ({error.reason})") from None


def read_rows(files: Sequence[Path], root: Path) -> RawTable:
    """Read every file; rows with the wrong number of fields are reported together."""
    table = RawTable(rows=[], origins=[])
    wrong_width: list[tuple[str, int]] = []
    for path in files:
        _read_file(path, path.relative_to(root).as_posix(), table, wrong_width)
    if wrong_width:
        first_origin, width = wrong_width[0]
        raise InputDataError(
            f"{len(wrong_width)} row(s) do not have {len(RAW_COLUMNS)} columns "
            f"({', '.join(RAW_COLUMNS)}); first: {first_origin} has {width}"
        )
    if not table.rows:
        names = ", ".join(path.relative_to(root).as_posix() for path in files)
        raise InputDataError(f"the input holds no data rows (read: {names})")
    return table


def _problem(column: str, rule: str, bad: np.ndarray, cells: list[str], table: RawTable) -> str:
    first = int(np.flatnonzero(bad)[0])
    return (
        f"column '{column}': {int(bad.sum())} row(s) {rule}; "
        f"first: {table.origins[first]}, value {cells[first]!r}"
    )


def _numeric_column(
    column: str, cells: list[str], missing: np.ndarray, table: RawTable, problems: list[str]
) -> np.ndarray:
    present = pd.Series(
        [None if gone else cell for cell, gone in zip(cells, missing, strict=True)], dtype=object
    )
    values = pd.to_numeric(present, errors="coerce").to_numpy(dtype=float)
    not_numbers = ~missing & ~np.isfinite(values)
    if not_numbers.any():
        problems.append(_problem(column, "are not finite numbers", not_numbers, cells, table))
    if column == LABEL and missing.any():
        problems.append(
            _problem(column, "have no value (every row needs the target)", missing, cells, table)
        )
    return values


def _categorical_column(
    column: str, cells: list[str], missing: np.ndarray, table: RawTable, problems: list[str]
) -> np.ndarray:
    allowed = ALLOWED_CATEGORIES[column]
    unknown = ~missing & ~np.isin(np.asarray(cells, dtype=object), allowed)
    if unknown.any():
        rule = f"are not one of {', '.join(allowed)} (case-sensitive)"
        problems.append(_problem(column, rule, unknown, cells, table))
    return np.asarray(
        [None if gone else cell for cell, gone in zip(cells, missing, strict=True)], dtype=object
    )


def parse_table(table: RawTable) -> pd.DataFrame:
    """Typed frame (NaN/None for missing cells), or every broken rule in one error."""
    problems: list[str] = []
    columns: dict[str, np.ndarray] = {}
    for index, column in enumerate(RAW_COLUMNS):
        cells = [row[index] for row in table.rows]
        missing = np.fromiter((cell.lower() in MISSING_TOKENS for cell in cells), bool, len(cells))
        if missing.all():
            problems.append(f"column '{column}': all {len(cells)} row(s) are missing")
            continue
        parse = _categorical_column if column in CATEGORICAL_FEATURES else _numeric_column
        columns[column] = parse(column, cells, missing, table, problems)
    if problems:
        raise InputDataError(
            f"{len(problems)} problem(s) in {len(table.rows)} data row(s):\n  - "
            + "\n  - ".join(problems)
        )
    return pd.DataFrame(columns, columns=list(RAW_COLUMNS))


def split_rows(
    row_count: int, seed: int, train_fraction: float, validation_fraction: float
) -> Split:
    train_count = int(round(row_count * train_fraction))
    validation_count = int(round(row_count * validation_fraction))
    test_count = row_count - train_count - validation_count
    if min(train_count, validation_count, test_count) < 1:
        raise InputDataError(
            f"{row_count} data row(s) are too few to split into train/validation/test with "
            f"fractions {train_fraction}/{validation_fraction}/"
            f"{1 - train_fraction - validation_fraction:.2f}; each part needs at least one row"
        )
    order = np.random.default_rng(seed).permutation(row_count)
    return Split(
        train=order[:train_count],
        validation=order[train_count : train_count + validation_count],
        test=order[train_count + validation_count :],
    )


def build_transformer() -> ColumnTransformer:
    numeric = Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())])
    categorical = Pipeline(
        [
            ("impute", SimpleImputer(strategy="constant", fill_value=MISSING_CATEGORY)),
            ("encode", OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
        ]
    )
    return ColumnTransformer(
        [
            ("numeric", numeric, list(NUMERIC_FEATURES)),
            ("categorical", categorical, list(CATEGORICAL_FEATURES)),
        ],
        verbose_feature_names_out=False,
    )


def check_training_columns(train: pd.DataFrame) -> None:
    """A feature with no value in the training rows cannot be imputed from them."""
    empty = [column for column in RAW_FEATURES if train[column].isna().all()]
    if empty:
        raise InputDataError(
            f"column(s) {', '.join(empty)} have no value in any of the {len(train)} training "
            "row(s); supply more data or a different --seed"
        )


def export_transformer(transformer: ColumnTransformer) -> dict:
    """The fitted parameters as plain JSON, so serving needs neither pickle nor scikit-learn."""
    numeric = transformer.named_transformers_["numeric"]
    imputer, scaler = numeric.named_steps["impute"], numeric.named_steps["scale"]
    encoder = transformer.named_transformers_["categorical"].named_steps["encode"]
    return {
        "format_version": PREPROCESSOR_FORMAT_VERSION,
        "raw_feature_columns": list(RAW_FEATURES),
        "label": LABEL,
        "numeric": {
            column: {
                "median": float(imputer.statistics_[index]),
                "mean": float(scaler.mean_[index]),
                "scale": float(scaler.scale_[index]),
            }
            for index, column in enumerate(NUMERIC_FEATURES)
        },
        "categorical": {
            column: [str(value) for value in encoder.categories_[index]]
            for index, column in enumerate(CATEGORICAL_FEATURES)
        },
        "categorical_missing_value": MISSING_CATEGORY,
        "processed_feature_names": [str(name) for name in transformer.get_feature_names_out()],
    }


def _features_frame(frame: pd.DataFrame) -> pd.DataFrame:
    # scikit-learn's imputer expects NaN (not None) as the missing marker in object columns.
    features = frame.loc[:, list(RAW_FEATURES)].copy()
    for column in CATEGORICAL_FEATURES:
        features[column] = features[column].astype(object).where(features[column].notna(), np.nan)
    return features


def _labelled(labels: pd.Series, features: np.ndarray) -> pd.DataFrame:
    return pd.concat(
        [labels.reset_index(drop=True), pd.DataFrame(features)], axis=1, ignore_index=True
    )


def write_baseline(path: Path, train: pd.DataFrame) -> None:
    """Missing cells stay empty, so the baseline's completeness is the training data's own."""
    train.loc[:, list(RAW_FEATURES)].to_csv(path, header=True, index=False)


def write_outputs(
    base_dir: Path, frame: pd.DataFrame, split: Split, transformer: ColumnTransformer
) -> None:
    for directory in OUTPUT_DIRS:
        (base_dir / directory).mkdir(parents=True, exist_ok=True)
    for name, rows in (
        ("train", split.train),
        ("validation", split.validation),
        ("test", split.test),
    ):
        part = frame.iloc[rows]
        processed = transformer.transform(_features_frame(part))
        _labelled(part[LABEL], processed).to_csv(
            base_dir / name / f"{name}.csv", header=False, index=False
        )
    frame.iloc[split.test].loc[:, [LABEL, *RAW_FEATURES]].to_csv(
        base_dir / "test" / "test_raw.csv", header=False, index=False
    )
    write_baseline(base_dir / "baseline" / BASELINE_FILE, frame.iloc[split.train])
    (base_dir / "preprocessor" / "preprocessor.json").write_text(
        json.dumps(export_transformer(transformer), indent=2) + "\n", encoding="utf-8"
    )


def run(base_dir: Path, seed: int, train_fraction: float, validation_fraction: float) -> Split:
    """Validate and split everything first: a failure must leave no partial outputs behind."""
    input_dir = base_dir / "input"
    table = read_rows(find_input_files(input_dir), input_dir)
    frame = parse_table(table)
    split = split_rows(len(frame), seed, train_fraction, validation_fraction)
    train = frame.iloc[split.train]
    check_training_columns(train)
    transformer = build_transformer().fit(_features_frame(train))
    write_outputs(base_dir, frame, split, transformer)
    return split


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"{text} must be strictly between 0 and 1")
    return value


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Validate raw abalone CSV, fit the feature transform, write the splits."
    )
    parser.add_argument("--base-dir", type=Path, default=Path("/opt/ml/processing"))
    parser.add_argument("--seed", type=int, default=42, help="seed of the row shuffle")
    parser.add_argument("--train-fraction", type=_fraction, default=0.7)
    parser.add_argument("--validation-fraction", type=_fraction, default=0.15)
    args = parser.parse_args(argv)
    if args.train_fraction + args.validation_fraction >= 1.0:
        parser.error("--train-fraction plus --validation-fraction must leave rows for the test set")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        split = run(args.base_dir, args.seed, args.train_fraction, args.validation_fraction)
    except InputDataError as error:
        print(f"preprocess: invalid input data: {error}", file=sys.stderr)
        return 1
    print(
        f"preprocess: wrote {len(split.train)} train, {len(split.validation)} validation and "
        f"{len(split.test)} test rows under {args.base_dir}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
