"""Which AWS regions have everything a generated project uses, read from region_support.json.

The file is built from the pinned libraries' own data (cfn-lint's per-region resource types, the
SageMaker SDK's image tables, botocore's endpoints) by ``python -m mlops_template.region_support``;
this module reads it with the standard library alone, because the pre-generation hook runs in the
user's cookiecutter or Copier Python, which has none of those libraries (see docs/regions.md).
"""

from __future__ import annotations

import difflib
import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path

DATA_FILE = Path(__file__).with_name("region_support.json")
MISSING_KINDS = ("resource_types", "services", "images")
# botocore: endpoints; cfn-lint: resource types; sagemaker-core: the SDK's image tables.
MESSAGE_LIBRARIES = ("botocore", "cfn-lint", "sagemaker-core")
# Region names of every partition (e.g. eusc-de-east-1); a name that cannot be a region is
# reported as such, and the slug's region-dependent checks wait for a plausible one.
REGION_SYNTAX = re.compile(r"[a-z]{2,4}(-[a-z]+)+-\d+", re.ASCII)


@dataclass(frozen=True)
class RegionGaps:
    """What a region lacks of what the project uses (empty tuples: nothing)."""

    resource_types: tuple[str, ...] = ()
    services: tuple[str, ...] = ()
    images: tuple[str, ...] = ()
    # cfn-lint has no resource type list for the region, so no type is confirmed there.
    resource_types_unconfirmed: bool = False

    def __bool__(self) -> bool:
        return bool(self.resource_types or self.services or self.images)


@functools.cache
def region_data() -> dict:
    return json.loads(DATA_FILE.read_text(encoding="utf-8"))


def known_regions() -> frozenset[str]:
    """Every region the data describes (all of botocore's and cfn-lint's)."""
    return frozenset(region_data()["regions"])


def frameworks() -> tuple[str, ...]:
    return tuple(region_data()["frameworks"])


def built_from() -> str:
    """The versions of the libraries whose data decided, for messages."""
    versions = region_data()["built_from"]
    return ", ".join(f"{name} {versions[name]}" for name in MESSAGE_LIBRARIES)


def needs(framework: str | None) -> dict[str, frozenset[str]]:
    """What a project with ``framework`` uses; None (not chosen yet, or not a framework): what
    every framework's project uses."""
    per_framework = region_data()["frameworks"]
    chosen = [per_framework[framework]] if framework in per_framework else per_framework.values()
    return {
        kind: frozenset.intersection(*(frozenset(need[kind]) for need in chosen))
        for kind in MISSING_KINDS
    }


def region_gaps(region: str, framework: str | None) -> RegionGaps | None:
    """What ``region`` lacks for a ``framework`` project; None for a region the data lacks."""
    entry = region_data()["regions"].get(region)
    if entry is None:
        return None
    used = needs(framework)
    missing = {kind: tuple(item for item in entry[kind] if item in used[kind]) for kind in used}
    return RegionGaps(**missing, resource_types_unconfirmed=bool(entry.get("no_cfn_lint_data")))


def complete_regions(framework: str | None) -> list[str]:
    """The regions with everything a ``framework`` project uses, sorted."""
    return sorted(region for region in known_regions() if not region_gaps(region, framework))


def partition(region: str) -> str | None:
    entry = region_data()["regions"].get(region)
    return None if entry is None else entry["partition"]


def nearest_complete_regions(region: str, framework: str | None, count: int = 3) -> list[str]:
    """Regions with everything in ``region``'s partition, nearest by name first: the most
    leading name parts in common (ap-southeast-5 is near ap-southeast-1), then the number."""
    candidates = [
        name
        for name in complete_regions(framework)
        if name != region and partition(name) == partition(region)
    ]
    return sorted(candidates, key=lambda name: _distance(region, name))[:count]


def _distance(region: str, other: str) -> tuple[int, int, str]:
    parts, other_parts = region.split("-"), other.split("-")
    shared = 0
    for mine, theirs in zip(parts[:-1], other_parts[:-1], strict=False):
        if mine != theirs:
            break
        shared += 1
    number_gap = abs(_number(parts[-1]) - _number(other_parts[-1]))
    return (-shared, number_gap, other)


def _number(text: str) -> int:
    return int(text) if text.isdigit() else 0


def closest_regions(name: str, known: frozenset[str], count: int = 3) -> list[str]:
    """The known region names most similar to ``name`` (a misspelling), best first."""
    return difflib.get_close_matches(name.lower(), sorted(known), n=count, cutoff=0.5)


def summary_table() -> str:
    """docs/regions.md's table of refused regions and what each lacks, from the data file."""
    lines = [
        f"Accepted for every framework: {', '.join(f'`{r}`' for r in complete_regions(None))}.",
        "",
        f"Refused (data from {built_from()}):",
        "",
        "| Region | Partition | Lacks (every framework) | Lacks for one framework |",
        "|---|---|---|---|",
    ]
    for region in sorted(known_regions()):
        common = region_gaps(region, None)
        per_framework = {name: region_gaps(region, name) for name in frameworks()}
        if not common and not any(per_framework.values()):
            continue
        lines.append(
            f"| `{region}` | {partition(region)} | {_common_cell(common)} | "
            f"{_framework_cell(common, per_framework)} |"
        )
    return "\n".join(lines) + "\n"


def _common_cell(gaps: RegionGaps) -> str:
    parts = [f"service {service}" for service in gaps.services]
    if gaps.resource_types_unconfirmed:
        parts.append(f"cfn-lint lists no resource types ({len(gaps.resource_types)} unconfirmed)")
    else:
        parts += list(gaps.resource_types)
    parts += [f"image {image}" for image in gaps.images]
    return ", ".join(parts) or "—"


def _framework_cell(common: RegionGaps, per_framework: dict[str, RegionGaps | None]) -> str:
    parts = []
    for name, gaps in per_framework.items():
        extra = [image for image in (gaps.images if gaps else ()) if image not in common.images]
        if extra:
            parts.append(f"{name}: {', '.join(extra)}")
    return "; ".join(parts) or "—"


if __name__ == "__main__":
    print(summary_table(), end="")
