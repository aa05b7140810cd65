"""Resolve the expressions of a pipeline definition: ``Get``, ``Std:Join`` and ``Std:JsonGet``.

SageMaker evaluates these when an execution runs; the local runner evaluates them the same way,
against the parameters of the run, its execution variables and the properties of the steps that
already ran (kept in the shape of the matching Describe* response, as SageMaker does).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops_toolkit.errors import ResolutionError

# One segment of a property path: `.Name`, `[0]` or `['name']`.
_TOKEN = re.compile(r"\.?([A-Za-z0-9_:-]+)|\[(\d+)\]|\[['\"]([^'\"]*)['\"]\]")

Token = str | int


@dataclass(frozen=True)
class PropertyFileRef:
    step: str
    name: str


@dataclass
class RunState:
    """What expressions can read: grows as steps finish."""

    parameters: dict[str, Any]
    execution: dict[str, Any]
    read_s3: Callable[[str], bytes]
    properties: dict[str, dict[str, Any]] = field(default_factory=dict)
    property_files: dict[str, dict[str, Path]] = field(default_factory=dict)


def parse_path(path: str) -> list[Token]:
    """``Outputs['train'].S3Output.S3Uri`` → ``["Outputs", "train", "S3Output", "S3Uri"]``."""
    tokens: list[Token] = []
    position = 0
    while position < len(path):
        match = _TOKEN.match(path, position)
        if not match or match.end() == position:
            raise ResolutionError(f"cannot parse the property path {path!r} at {path[position:]!r}")
        name, index, key = match.groups()
        tokens.append(int(index) if index is not None else (name if name is not None else key))
        position = match.end()
    return tokens


def _named_item(items: list[Any], key: str) -> Any:
    """Lists of named things (outputs, channels) are addressed by their *Name field."""
    for item in items:
        if isinstance(item, dict) and any(
            label.endswith("Name") and value == key for label, value in item.items()
        ):
            return item
    raise KeyError(key)


def walk(root: Any, tokens: list[Token]) -> Any:
    current = root
    for token in tokens:
        if (isinstance(token, int) and isinstance(current, list)) or isinstance(current, dict):
            current = current[token]
        elif isinstance(current, list):
            current = _named_item(current, str(token))
        else:
            raise KeyError(token)
    return current


def as_text(value: Any) -> str:
    """How a value reads inside ``Std:Join`` (SageMaker writes booleans in lower case)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        raise ResolutionError("Std:Join cannot join a value that resolved to nothing")
    return str(value)


class Resolver:
    def __init__(self, state: RunState) -> None:
        self.state = state

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(item) for item in value]
        if not isinstance(value, dict):
            return value
        if set(value) == {"Get"}:
            return self._get(value["Get"])
        if set(value) == {"Std:Join"}:
            join = value["Std:Join"]
            return join["On"].join(as_text(self.resolve(item)) for item in join["Values"])
        if set(value) == {"Std:JsonGet"}:
            return self._json_get(value["Std:JsonGet"])
        functions = [key for key in value if key.startswith("Std:")]
        if functions:
            raise ResolutionError(
                f"the local runner does not implement the function {functions[0]}"
            )
        return {key: self.resolve(item) for key, item in value.items()}

    def _get(self, reference: str) -> Any:
        root, _, rest = reference.partition(".")
        if root == "Parameters":
            if rest not in self.state.parameters:
                raise ResolutionError(f"{reference}: the pipeline declares no parameter {rest!r}")
            return self.state.parameters[rest]
        if root == "Execution":
            if rest not in self.state.execution:
                raise ResolutionError(f"{reference}: unknown execution variable {rest!r}")
            return self.state.execution[rest]
        if root == "Steps":
            return self._step_property(reference, rest)
        raise ResolutionError(f"cannot resolve Get {reference!r}: unknown root {root!r}")

    def _step_property(self, reference: str, rest: str) -> Any:
        tokens = parse_path("." + rest)
        step, path = str(tokens[0]), tokens[1:]
        if path[:1] == ["PropertyFiles"] and len(path) == 2:
            return PropertyFileRef(step, str(path[1]))
        if step not in self.state.properties:
            raise ResolutionError(f"{reference}: step {step!r} has not run (yet)")
        try:
            return walk(self.state.properties[step], path)
        except (KeyError, IndexError, TypeError):
            raise ResolutionError(f"{reference}: step {step!r} has no such property") from None

    def _json_get(self, spec: dict[str, Any]) -> Any:
        path = spec["Path"]
        if "PropertyFile" in spec:
            document, source = self._property_file(spec["PropertyFile"])
        else:
            uri = self.resolve(spec["S3Uri"])
            document, source = _parse_json(self.state.read_s3(uri), uri), uri
        try:
            return walk(document, parse_path("." + path))
        except (KeyError, IndexError, TypeError):
            raise ResolutionError(f"Std:JsonGet: {source} has no value at {path!r}") from None

    def _property_file(self, reference: Any) -> tuple[Any, str]:
        ref = self.resolve(reference)
        if not isinstance(ref, PropertyFileRef):
            raise ResolutionError(f"Std:JsonGet: {reference!r} does not name a property file")
        files = self.state.property_files.get(ref.step, {})
        if ref.name not in files:
            raise ResolutionError(
                f"Std:JsonGet: step {ref.step!r} has no property file {ref.name!r} (has it run?)"
            )
        path = files[ref.name]
        if not path.is_file():
            raise ResolutionError(
                f"property file {ref.name!r} of step {ref.step!r}: the step did not write {path}"
            )
        label = f"property file {ref.name} ({path})"
        return _parse_json(path.read_bytes(), label), label


def _parse_json(raw: bytes, source: str) -> Any:
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ResolutionError(f"{source} is not JSON: {error}") from None
