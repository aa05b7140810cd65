"""Evaluate a Condition step's conditions, with the same types and semantics as SageMaker."""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mlops_toolkit.errors import ResolutionError, UnsupportedStepError

_COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "Equals": operator.eq,
    "GreaterThan": operator.gt,
    "GreaterThanOrEqualTo": operator.ge,
    "LessThan": operator.lt,
    "LessThanOrEqualTo": operator.le,
}
SUPPORTED_TYPES = (*_COMPARISONS, "In", "Not", "Or")


@dataclass(frozen=True)
class Outcome:
    """One evaluated condition, kept for the run summary."""

    type: str
    result: bool
    left: Any = None
    right: Any = None


def _comparable(left: Any, right: Any) -> tuple[Any, Any]:
    """Numbers compare as numbers even when one side arrives as text (a Join, a String param)."""
    numbers = (int, float)
    if isinstance(left, numbers) and isinstance(right, str):
        return left, _number(right)
    if isinstance(right, numbers) and isinstance(left, str):
        return _number(left), right
    return left, right


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ResolutionError(f"cannot compare the text {text!r} with a number") from None


def evaluate(condition: dict[str, Any], resolve: Callable[[Any], Any]) -> Outcome:
    kind = condition.get("Type")
    if kind in _COMPARISONS:
        left, right = _comparable(resolve(condition["LeftValue"]), resolve(condition["RightValue"]))
        try:
            return Outcome(kind, bool(_COMPARISONS[kind](left, right)), left, right)
        except TypeError:
            raise ResolutionError(
                f"condition {kind}: cannot compare {left!r} with {right!r}"
            ) from None
    if kind == "In":
        query = resolve(condition["QueryValue"])
        values = [_comparable(query, resolve(v))[1] for v in condition["Values"]]
        return Outcome(kind, query in values, query, values)
    if kind == "Not":
        inner = evaluate(condition["Condition"], resolve)
        return Outcome(kind, not inner.result, inner)
    if kind == "Or":
        inner_outcomes = [evaluate(c, resolve) for c in condition["Conditions"]]
        return Outcome(kind, any(o.result for o in inner_outcomes), inner_outcomes)
    raise UnsupportedStepError(
        f"condition type {kind!r} is not supported locally "
        f"(supported: {', '.join(SUPPORTED_TYPES)})"
    )


def evaluate_all(conditions: list[dict[str, Any]], resolve: Callable[[Any], Any]) -> list[Outcome]:
    """SageMaker takes the if-branch only when every listed condition holds."""
    return [evaluate(condition, resolve) for condition in conditions]
