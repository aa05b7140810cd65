"""The drift report as one self-contained HTML file: a card per feature with the baseline and
current distributions side by side (inline SVG), drifted features first and marked in red."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

import numpy as np

from mlops_toolkit.monitoring.drift_check import Violation
from mlops_toolkit.monitoring.kll import cdf

BINS = 12
WIDTH, HEIGHT, PAD = 360, 150, 22
BASELINE_COLOUR, CURRENT_COLOUR, ALERT_COLOUR = "#8c8c8c", "#1f77b4", "#c62828"
# No f-string: doubled braces look like template syntax, which generated files must not hold.
STYLE = (
    "body {font-family: sans-serif; margin: 20px} h3 {margin: 2px 0} "
    ".card {display: inline-block; vertical-align: top; margin: 6px; padding: 8px; "
    "border-radius: 6px; width: " + str(WIDTH + 10) + "px}"
)


@dataclass(frozen=True)
class Series:
    labels: list[str]
    baseline: list[float]
    current: list[float]


def numeric_series(baseline: dict, current: dict) -> Series:
    """Shares per bin over the range both data sets cover, read from their sketches."""
    low = min(baseline["min"], current["min"])
    high = max(baseline["max"], current["max"])
    edges = np.linspace(low, high if high > low else low + 1.0, BINS + 1)
    edges[0] = np.nextafter(edges[0], -np.inf)

    def shares(section: dict) -> list[float]:
        cumulative = cdf(section["distribution"]["kll"]["sketch"], edges)
        return [float(x) for x in np.diff(cumulative)]

    labels = [f"{edges[i + 1]:.3g}" for i in range(BINS)]
    return Series(labels, shares(baseline), shares(current))


def categorical_series(baseline: dict, current: dict) -> Series:
    def shares(section: dict) -> dict[str, float]:
        buckets = section["distribution"]["categorical"]["buckets"]
        total = sum(bucket["count"] for bucket in buckets) or 1.0
        return {bucket["value"]: bucket["count"] / total for bucket in buckets}

    before, after = shares(baseline), shares(current)
    labels = sorted({*before, *after})
    return Series(labels, [before.get(v, 0.0) for v in labels], [after.get(v, 0.0) for v in labels])


def series_for(baseline: dict, current: dict | None) -> Series | None:
    if current is None:
        return None
    if "numerical_statistics" in baseline and "numerical_statistics" in current:
        return numeric_series(baseline["numerical_statistics"], current["numerical_statistics"])
    if "string_statistics" in baseline and "string_statistics" in current:
        return categorical_series(baseline["string_statistics"], current["string_statistics"])
    return None


def svg(series: Series, drifted: bool) -> str:
    top = max([*series.baseline, *series.current, 1e-9])
    slot = (WIDTH - 2 * PAD) / len(series.labels)
    bar = slot * 0.4
    parts = [f'<svg width="{WIDTH}" height="{HEIGHT + PAD}" role="img">']
    current_colour = ALERT_COLOUR if drifted else CURRENT_COLOUR
    for index, label in enumerate(series.labels):
        x = PAD + index * slot
        for offset, value, colour in (
            (0.0, series.baseline[index], BASELINE_COLOUR),
            (bar, series.current[index], current_colour),
        ):
            height = (HEIGHT - PAD) * value / top
            parts.append(
                f'<rect x="{x + offset:.1f}" y="{HEIGHT - height:.1f}" width="{bar:.1f}" '
                f'height="{height:.1f}" fill="{colour}"><title>{escape(label)}: '
                f"{100 * value:.1f}%</title></rect>"
            )
        if len(series.labels) < 6 or index % 2 == 0:
            parts.append(
                f'<text x="{x:.1f}" y="{HEIGHT + 14}" font-size="9">{escape(label)}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)


def card(feature: dict, current: dict | None, violations: list[Violation]) -> str:
    drifted = bool(violations)
    series = series_for(feature, current)
    picture = svg(series, drifted) if series else "<p>No comparable current values.</p>"
    notes = "".join(
        f"<li><b>{escape(v.constraint_check_type)}</b>: {escape(v.description)}</li>"
        for v in violations
    )
    style = f"border:2px solid {ALERT_COLOUR if drifted else '#ddd'}"
    badge = f' <span style="color:{ALERT_COLOUR}">DRIFT</span>' if drifted else " (ok)"
    return (
        f'<div class="card" style="{style}"><h3>{escape(feature["name"])}{badge}</h3>'
        f"<small>{escape(feature['inferred_type'])}</small>{picture}<ul>{notes}</ul></div>"
    )


def render(baseline: dict, current: dict, violations: list[Violation], source: str) -> str:
    by_feature: dict[str, list[Violation]] = {}
    for violation in violations:
        by_feature.setdefault(violation.feature_name, []).append(violation)
    current_features = {feature["name"]: feature for feature in current["features"]}
    features = sorted(baseline["features"], key=lambda f: f["name"] not in by_feature)
    cards = "".join(
        card(f, current_features.get(f["name"]), by_feature.get(f["name"], [])) for f in features
    )
    others = [v for name, vs in by_feature.items() if name not in current_features for v in vs]
    extra = "".join(f"<li>{escape(v.feature_name)}: {escape(v.description)}</li>" for v in others)
    drifted = ", ".join(sorted(n for n in by_feature if n in current_features)) or "none"
    headline = (
        f"{len(violations)} violation(s); drifted features: {escape(drifted)}"
        if violations
        else "No violations: current data matches the baseline."
    )
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>Drift report</title>
<style>{STYLE}</style></head>
<body><h1>Data drift report</h1><p><b>{headline}</b></p>
<p>{current["dataset"]["item_count"]} captured record(s) from {escape(source)} compared with
{baseline["dataset"]["item_count"]} baseline record(s). Bars: share of records per value range
(<span style="color:{BASELINE_COLOUR}">baseline</span>,
<span style="color:{CURRENT_COLOUR}">current</span>,
<span style="color:{ALERT_COLOUR}">current, drifted</span>).</p>
<ul>{extra}</ul>{cards}</body></html>
"""
