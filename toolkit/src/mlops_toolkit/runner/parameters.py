"""Pipeline parameter values for a local run: the definition's defaults plus overrides."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlops_toolkit.artifacts import is_s3_uri
from mlops_toolkit.errors import LocalRunError


def input_data_value(text: str) -> str:
    """An S3 URI as given; a local path made absolute, so the record of the run is unambiguous.
    Whether the file exists is checked when the step that reads it stages its inputs."""
    if is_s3_uri(text):
        return text
    return str(Path(text.removeprefix("file://")).expanduser().resolve())


def resolve_parameters(declared: list[dict[str, Any]], overrides: dict[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for parameter in declared:
        name = parameter["Name"]
        if name in overrides:
            values[name] = overrides[name]
        elif "DefaultValue" in parameter:
            values[name] = parameter["DefaultValue"]
        else:
            raise LocalRunError(f"parameter {name} has no default value: pass --param {name}=VALUE")
    return values
