"""A deterministic KLL-style quantile sketch, shaped as Model Monitor writes it in statistics.json.

``data`` is a list of levels, level 0 first; an item at level ``h`` stands for ``2**h`` values.
Level capacities shrink by the factor ``c`` below the top level (capacity ``k``); a level over its
capacity is sorted and every other item moves up one level. Fewer than ``k`` values are kept
exactly, so small data sets compare without any sketch error.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

SKETCH_K = 2048
SKETCH_C = 0.64
MIN_CAPACITY = 2


def _capacities(height: int, k: int, c: float) -> list[int]:
    return [max(MIN_CAPACITY, int(k * c ** (height - 1 - level))) for level in range(height)]


def _compact(levels: list[list[float]], level: int) -> None:
    items = sorted(levels[level])
    # An odd item out stays behind, so the total weight is kept exactly.
    kept, movable = (items[:1], items[1:]) if len(items) % 2 else ([], items)
    if level + 1 == len(levels):
        levels.append([])
    levels[level] = kept
    levels[level + 1].extend(movable[1::2])


def build_sketch(values: Sequence[float], k: int = SKETCH_K, c: float = SKETCH_C) -> dict:
    levels: list[list[float]] = [sorted(float(v) for v in values)]
    while True:
        capacities = _capacities(len(levels), k, c)
        over = [i for i, items in enumerate(levels) if len(items) > capacities[i]]
        if not over:
            break
        _compact(levels, over[0])
    return {"parameters": {"c": c, "k": float(k)}, "data": [sorted(items) for items in levels]}


def weighted_items(sketch: dict) -> tuple[np.ndarray, np.ndarray]:
    """The sketch's items, sorted, with the number of values each stands for."""
    values: list[float] = []
    weights: list[float] = []
    for level, items in enumerate(sketch.get("data", [])):
        values.extend(float(item) for item in items)
        weights.extend([2.0**level] * len(items))
    order = np.argsort(values, kind="stable")
    return np.asarray(values, dtype=float)[order], np.asarray(weights, dtype=float)[order]


def cdf(sketch: dict, points: np.ndarray) -> np.ndarray:
    """Share of values at or below each point, as the sketch estimates it."""
    values, weights = weighted_items(sketch)
    if not len(values):
        return np.zeros(len(points))
    cumulative = np.cumsum(weights) / weights.sum()
    positions = np.searchsorted(values, points, side="right")
    return np.where(positions > 0, cumulative[np.maximum(positions - 1, 0)], 0.0)


def linf_distance(baseline: dict, current: dict) -> float:
    """Largest gap between the two estimated distribution functions (the L-infinity norm)."""
    points = np.union1d(weighted_items(baseline)[0], weighted_items(current)[0])
    if not len(points):
        return 0.0
    return float(np.max(np.abs(cdf(baseline, points) - cdf(current, points))))
