"""Checks on the staging test's payload and on the endpoint's answers (no AWS calls here).

The endpoint's contract, set by the model-build repo's inference handler: a ``text/csv`` body of
raw abalone rows (no header, no label) in, ``text/csv`` with one prediction per row out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

CSV = "text/csv"
FEATURE_COLUMNS = (
    "sex",
    "length",
    "diameter",
    "height",
    "whole_weight",
    "shucked_weight",
    "viscera_weight",
    "shell_weight",
)
SEX_VALUES = ("M", "F", "I")


class PayloadError(ValueError):
    """The checked-in sample payload is not rows the endpoint's contract accepts."""


class ResponseError(ValueError):
    """An endpoint answer that breaks the contract; the message says which rule."""


@dataclass(frozen=True)
class Bounds:
    """The range a plausible prediction (a ring count) lies in."""

    low: float
    high: float


def _check_row(fields: list[str], line_number: int, source: str) -> None:
    where = f"{source} line {line_number}"
    if len(fields) != len(FEATURE_COLUMNS):
        raise PayloadError(
            f"{where}: expected {len(FEATURE_COLUMNS)} columns ({', '.join(FEATURE_COLUMNS)}) "
            f"without header or label, got {len(fields)}"
        )
    if fields[0] not in SEX_VALUES:
        raise PayloadError(
            f"{where}: sex must be one of {', '.join(SEX_VALUES)}, got {fields[0]!r}"
        )
    for name, text in zip(FEATURE_COLUMNS[1:], fields[1:], strict=True):
        try:
            value = float(text)
        except ValueError:
            raise PayloadError(f"{where}: {name} must be a number, got {text!r}") from None
        if not math.isfinite(value) or value < 0:
            raise PayloadError(f"{where}: {name} must be a finite number >= 0, got {text!r}")


def load_payload(path: Path) -> list[str]:
    """The payload's rows, exactly as they will be sent, after checking each one."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise PayloadError(f"cannot read payload {path}: {error.strerror}") from None
    rows: list[str] = []
    for line_number, line in enumerate(text.splitlines(), start=1):
        row = line.strip()
        if row:
            _check_row(row.split(","), line_number, str(path))
            rows.append(row)
    if not rows:
        raise PayloadError(f"payload {path} has no rows")
    return rows


def _media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def _parse_prediction(text: str, line_number: int, bounds: Bounds) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ResponseError(f"line {line_number} is not a number: {text!r}") from None
    if not math.isfinite(value):
        raise ResponseError(f"line {line_number} is not a finite number: {text!r}")
    if not bounds.low <= value <= bounds.high:
        raise ResponseError(
            f"line {line_number} = {value:g} is outside the plausible range "
            f"[{bounds.low:g}, {bounds.high:g}]"
        )
    return value


def parse_predictions(
    content_type: str, body: bytes, rows_sent: int, bounds: Bounds
) -> list[float]:
    """The predictions in one response, or ResponseError naming the first broken rule."""
    if _media_type(content_type) != CSV:
        raise ResponseError(f"content type is {content_type!r}, expected {CSV}")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise ResponseError("body is not UTF-8 text") from None
    lines = text.strip().splitlines()
    if len(lines) != rows_sent:
        raise ResponseError(
            f"{len(lines)} prediction line(s) for {rows_sent} row(s) sent; expected one per row"
        )
    return [
        _parse_prediction(line.strip(), number, bounds)
        for number, line in enumerate(lines, start=1)
    ]


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile: the smallest value with at least ``fraction`` of values <= it."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    ordered = sorted(values)
    rank = math.ceil(fraction * len(ordered))
    return ordered[rank - 1]


def latency_summary(latencies_ms: Sequence[float]) -> dict[str, float | int]:
    """p50, p95 and max of request latencies in milliseconds, rounded for the report."""
    if not latencies_ms:
        return {"count": 0}
    return {
        "count": len(latencies_ms),
        "p50": round(percentile(latencies_ms, 0.50), 2),
        "p95": round(percentile(latencies_ms, 0.95), 2),
        "max": round(max(latencies_ms), 2),
    }
