"""Compare data with a data-quality baseline, as a Model Monitor monitoring job does.

The result is ``constraint_violations.json`` in Model Monitor's format. Check types and the
meaning of each ``monitoring_config`` setting follow Model Monitor's documentation:

- data_type_check: a numeric feature's share of values of the baseline type is below
  ``datatype_check_threshold``;
- completeness_check: fewer values present than the baseline's ``completeness``;
- categorical_values_check: a string feature's share of values inside the baseline ``domains`` is
  below ``domain_content_threshold``;
- baseline_drift_check: the distance between the baseline and current distributions is above the
  threshold (numeric: largest gap between the distribution functions; string: ``LInfinity``,
  the largest gap between the value frequencies). ``Robust`` raises the numeric threshold to the
  two-sample Kolmogorov-Smirnov critical value at 95 % when samples are too small for it;
- missing_column_check / extra_column_check: records with fewer / more columns than features.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from mlops_toolkit.monitoring.kll import build_sketch, linf_distance
from mlops_toolkit.monitoring.monitor_stats import (
    INTEGRAL,
    NUMERIC_TYPES,
    Table,
    as_number,
    present_cells,
)

# c(alpha) of the two-sample Kolmogorov-Smirnov test at alpha = 0.05.
KS_CRITICAL_FACTOR = 1.358
ENABLED = "Enabled"


@dataclass(frozen=True)
class Violation:
    feature_name: str
    constraint_check_type: str
    description: str


@dataclass(frozen=True)
class Shape:
    """How many columns each captured record had (width → records)."""

    widths: dict[int, int]


def violations_document(violations: list[Violation]) -> dict:
    return {"violations": [asdict(violation) for violation in violations]}


def _percent(share: float) -> str:
    return f"{100 * share:.4g}%"


def _type_matches(cell: str, expected: str) -> bool:
    number = as_number(cell)
    if number is None:
        return False
    return expected != INTEGRAL or float(number).is_integer()


def data_type_check(name: str, expected: str, present: list[str], config: dict) -> list[Violation]:
    if expected not in NUMERIC_TYPES or not present:
        return []
    share = sum(_type_matches(cell, expected) for cell in present) / len(present)
    threshold = float(config.get("datatype_check_threshold", 1.0))
    if share >= threshold:
        return []
    return [
        Violation(
            name,
            "data_type_check",
            f"Data type match requirement is not met. Expected data type: {expected}, "
            f"expected match: {_percent(threshold)}. Observed: only {_percent(share)} of the "
            f"data is {expected}.",
        )
    ]


def completeness_check(name: str, constraint: dict, cells: list, present: list) -> list[Violation]:
    expected = float(constraint.get("completeness", 0.0))
    observed = len(present) / len(cells) if cells else 0.0
    if observed >= expected - 1e-9:
        return []
    return [
        Violation(
            name,
            "completeness_check",
            f"Data completeness requirement is not met. Expected completeness: "
            f"{_percent(expected)}, observed: {_percent(observed)}.",
        )
    ]


def categorical_values_check(
    name: str, constraint: dict, present: list[str], config: dict
) -> list[Violation]:
    domains = constraint.get("string_constraints", {}).get("domains")
    if not domains or not present:
        return []
    allowed = set(domains)
    unknown = sorted({cell for cell in present if cell not in allowed})
    share = 1 - sum(cell not in allowed for cell in present) / len(present)
    threshold = float(config.get("domain_content_threshold", 1.0))
    if share >= threshold:
        return []
    shown = ", ".join(repr(value) for value in unknown[:5])
    return [
        Violation(
            name,
            "categorical_values_check",
            f"Data content requirement is not met: only {_percent(share)} of the values are in "
            f"the baseline domain ({', '.join(domains)}); expected {_percent(threshold)}. "
            f"Values not in the domain: {shown}.",
        )
    ]


def _numeric_threshold(distribution: dict, baseline_count: int, current_count: int) -> float:
    threshold = float(distribution.get("comparison_threshold", 0.1))
    if distribution.get("comparison_method") != "Robust" or not baseline_count or not current_count:
        return threshold
    sizes = (baseline_count + current_count) / (baseline_count * current_count)
    return max(threshold, KS_CRITICAL_FACTOR * math.sqrt(sizes))


def _categorical_distance(baseline: dict, present: list[str]) -> float:
    buckets = baseline["string_statistics"]["distribution"]["categorical"]["buckets"]
    total = sum(bucket["count"] for bucket in buckets) or 1.0
    expected = {bucket["value"]: bucket["count"] / total for bucket in buckets}
    observed = {value: present.count(value) / len(present) for value in set(present)}
    return max(abs(expected.get(v, 0.0) - observed.get(v, 0.0)) for v in {*expected, *observed})


def drift_distance(baseline: dict, present: list[str], config: dict) -> tuple[float, float] | None:
    """(distance, threshold), or None when the distributions cannot be compared."""
    distribution = config.get("distribution_constraints", {})
    if distribution.get("perform_comparison", ENABLED) != ENABLED or not present:
        return None
    if "string_statistics" in baseline:
        threshold = float(distribution.get("categorical_comparison_threshold", 0.1))
        return _categorical_distance(baseline, present), threshold
    numbers = [n for n in (as_number(cell) for cell in present) if n is not None]
    if not numbers:
        return None
    section = baseline["numerical_statistics"]
    distance = linf_distance(section["distribution"]["kll"]["sketch"], build_sketch(numbers))
    threshold = _numeric_threshold(distribution, section["common"]["num_present"], len(numbers))
    return distance, threshold


def baseline_drift_check(
    name: str, baseline: dict, present: list[str], config: dict
) -> list[Violation]:
    measured = drift_distance(baseline, present, config)
    if measured is None or measured[0] <= measured[1]:
        return []
    distance, threshold = measured
    return [
        Violation(
            name,
            "baseline_drift_check",
            f"Baseline drift distance: {distance:.4g} exceeds threshold: {threshold:.4g}",
        )
    ]


def column_checks(names: list[str], shape: Shape) -> list[Violation]:
    expected = len(names)
    total = sum(shape.widths.values())
    found: list[Violation] = []
    for width, count in sorted(shape.widths.items()):
        if width < expected:
            for name in names[width:]:
                found.append(
                    Violation(
                        name,
                        "missing_column_check",
                        f"{count} of {total} record(s) have {width} column(s) instead of "
                        f"{expected}; this feature (column {names.index(name) + 1}) is missing "
                        "from them.",
                    )
                )
    widest = max(shape.widths, default=expected)
    if widest > expected:
        extra = sum(count for width, count in shape.widths.items() if width > expected)
        found.append(
            Violation(
                f"_c{expected}",
                "extra_column_check",
                f"{extra} of {total} record(s) have more than the {expected} baseline column(s) "
                f"(up to {widest}).",
            )
        )
    return found


def check(statistics: dict, constraints: dict, table: Table, shape: Shape) -> list[Violation]:
    config = constraints.get("monitoring_config", {})
    if config.get("evaluate_constraints", ENABLED) != ENABLED:
        return []
    baseline = {feature["name"]: feature for feature in statistics["features"]}
    found = column_checks(table.names, shape)
    for constraint in constraints["features"]:
        name = constraint["name"]
        if name not in table.names:
            found.append(
                Violation(name, "missing_column_check", "The data has no column of this name.")
            )
            continue
        cells = table.columns[table.names.index(name)]
        present = [cell.strip() for cell in present_cells(cells)]
        found += data_type_check(name, constraint["inferred_type"], present, config)
        found += completeness_check(name, constraint, cells, present)
        found += categorical_values_check(name, constraint, present, config)
        if name in baseline:
            found += baseline_drift_check(name, baseline[name], present, config)
    return found
