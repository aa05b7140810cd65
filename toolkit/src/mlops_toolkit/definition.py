"""Read a pipeline definition (the JSON SageMaker runs) back into a graph of steps.

The runner follows this graph, so the pipeline runs locally exactly as the SDK generated it:
every step, including those nested under conditions, with what it depends on.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

_STEP_REFERENCE = re.compile(r"^Steps\.([A-Za-z0-9_-]+)[.\[]")


@dataclass
class StepNode:
    name: str
    type: str
    depends_on: set[str] = field(default_factory=set)
    if_steps: list[str] = field(default_factory=list)
    else_steps: list[str] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict, repr=False)


def _references(value: Any) -> Iterator[str]:
    """Every step named by a ``{"Get": "Steps.<name>..."}`` anywhere inside ``value``."""
    if isinstance(value, dict):
        get = value.get("Get")
        if isinstance(get, str) and (match := _STEP_REFERENCE.match(get)):
            yield match.group(1)
        for item in value.values():
            yield from _references(item)
    elif isinstance(value, list):
        for item in value:
            yield from _references(item)


def _collect(steps: list[dict[str, Any]], nodes: dict[str, StepNode]) -> None:
    for step in steps:
        node = StepNode(name=step["Name"], type=step["Type"], raw=step)
        arguments = step.get("Arguments", {})
        # A condition depends on what its conditions read, not on what its branches read.
        scanned = arguments.get("Conditions", []) if step["Type"] == "Condition" else arguments
        node.depends_on = set(_references(scanned)) | set(step.get("DependsOn", []))
        nodes[node.name] = node
        if step["Type"] == "Condition":
            node.if_steps = [s["Name"] for s in arguments.get("IfSteps", [])]
            node.else_steps = [s["Name"] for s in arguments.get("ElseSteps", [])]
            _collect(arguments.get("IfSteps", []), nodes)
            _collect(arguments.get("ElseSteps", []), nodes)
            for branch_step in node.if_steps + node.else_steps:
                nodes[branch_step].depends_on.add(node.name)


def step_graph(definition: dict[str, Any]) -> dict[str, StepNode]:
    """All steps, including those nested under conditions, keyed by name, in definition order."""
    nodes: dict[str, StepNode] = {}
    _collect(definition.get("Steps", []), nodes)
    return nodes
