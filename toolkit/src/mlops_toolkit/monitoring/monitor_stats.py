"""Data-quality statistics and suggested constraints in Model Monitor's file formats.

``statistics.json`` and ``constraints.json`` come out with the fields, names and types Model
Monitor's analyzer container writes, so files made here and files made by a baselining job are
interchangeable: a monitoring schedule can use a baseline computed locally and ``drift-report``
can read a baseline computed in SageMaker.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from mlops_toolkit.monitoring.kll import build_sketch

FORMAT_VERSION = 0.0
INTEGRAL, FRACTIONAL, STRING, UNKNOWN = "Integral", "Fractional", "String", "Unknown"
NUMERIC_TYPES = (INTEGRAL, FRACTIONAL)
HISTOGRAM_BUCKETS = 10
# Model Monitor lists a string feature's values as its domain only when there are few of them.
MAX_DOMAIN_SIZE = 20
# Defaults of Model Monitor's suggested constraints.
MONITORING_CONFIG = {
    "evaluate_constraints": "Enabled",
    "emit_metrics": "Enabled",
    "datatype_check_threshold": 1.0,
    "domain_content_threshold": 1.0,
    "distribution_constraints": {
        "perform_comparison": "Enabled",
        "comparison_threshold": 0.1,
        "comparison_method": "Robust",
        "categorical_comparison_threshold": 0.1,
        "categorical_drift_method": "LInfinity",
    },
}


@dataclass(frozen=True)
class Table:
    """Columns of raw cells (``None`` where a row had no value), in feature order."""

    names: list[str]
    columns: list[list[str | None]]

    @property
    def row_count(self) -> int:
        return len(self.columns[0]) if self.columns else 0


def as_number(cell: str) -> float | None:
    try:
        value = float(cell)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def present_cells(cells: list[str | None]) -> list[str]:
    return [cell for cell in cells if cell is not None and cell.strip() != ""]


def infer_type(cells: list[str]) -> str:
    if not cells:
        return UNKNOWN
    numbers = [as_number(cell) for cell in cells]
    if any(number is None for number in numbers):
        return STRING
    integral = all(
        "." not in cell and float(n).is_integer() for cell, n in zip(cells, numbers, strict=True)
    )
    return INTEGRAL if integral else FRACTIONAL


def _common(cells: list[str | None], present: list[str]) -> dict:
    return {"num_present": len(present), "num_missing": len(cells) - len(present)}


def histogram(values: np.ndarray) -> list[dict]:
    low, high = float(values.min()), float(values.max())
    counts, edges = np.histogram(values, bins=HISTOGRAM_BUCKETS, range=(low, high))
    return [
        {"lower_bound": float(edges[i]), "upper_bound": float(edges[i + 1]), "count": float(n)}
        for i, n in enumerate(counts)
    ]


def numerical_statistics(cells: list[str | None], present: list[str]) -> dict:
    values = np.asarray([float(cell) for cell in present], dtype=float)
    return {
        "common": _common(cells, present),
        "mean": float(values.mean()),
        "sum": float(values.sum()),
        "std_dev": float(values.std()),
        "min": float(values.min()),
        "max": float(values.max()),
        "distribution": {"kll": {"buckets": histogram(values), "sketch": build_sketch(values)}},
    }


def string_statistics(cells: list[str | None], present: list[str]) -> dict:
    values, counts = np.unique(np.asarray(present, dtype=object).astype(str), return_counts=True)
    buckets = [{"value": str(v), "count": float(n)} for v, n in zip(values, counts, strict=True)]
    return {
        "common": _common(cells, present),
        "distinct_count": float(len(values)),
        "distribution": {"categorical": {"buckets": buckets}},
    }


def feature_statistics(name: str, cells: list[str | None]) -> dict:
    present = [cell.strip() for cell in present_cells(cells)]
    inferred = infer_type(present)
    feature: dict = {"name": name, "inferred_type": inferred}
    if inferred in NUMERIC_TYPES:
        feature["numerical_statistics"] = numerical_statistics(cells, present)
    else:
        feature["string_statistics"] = string_statistics(cells, present)
    return feature


def statistics(table: Table) -> dict:
    return {
        "version": FORMAT_VERSION,
        "dataset": {"item_count": table.row_count},
        "features": [
            feature_statistics(name, cells)
            for name, cells in zip(table.names, table.columns, strict=True)
        ],
    }


def feature_constraints(feature: dict) -> dict:
    section = feature.get("numerical_statistics") or feature["string_statistics"]
    common = section["common"]
    total = common["num_present"] + common["num_missing"]
    constraint: dict = {
        "name": feature["name"],
        "inferred_type": feature["inferred_type"],
        "completeness": common["num_present"] / total if total else 0.0,
    }
    if "numerical_statistics" in feature:
        constraint["num_constraints"] = {"is_non_negative": section["min"] >= 0}
    elif 0 < section["distinct_count"] <= MAX_DOMAIN_SIZE:
        domains = [bucket["value"] for bucket in section["distribution"]["categorical"]["buckets"]]
        constraint["string_constraints"] = {"domains": domains}
    return constraint


def suggest_constraints(stats: dict) -> dict:
    return {
        "version": FORMAT_VERSION,
        "features": [feature_constraints(feature) for feature in stats["features"]],
        "monitoring_config": MONITORING_CONFIG,
    }
