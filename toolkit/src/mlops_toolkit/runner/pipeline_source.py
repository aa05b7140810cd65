"""Where local-run gets the pipeline from: a function that builds it, or a definition file.

A function (``package.module:function``) is called with the keyword arguments it declares among
``role_arn``, ``default_bucket``, ``region``, ``boto_session``, ``pipeline_name`` and
``git_commit``; it returns a SageMaker Python SDK v3 ``Pipeline``. Building it uploads the step
code, as ``pipeline.definition()`` does in SageMaker's own workflow. A definition file is the
JSON ``pipeline.definition()`` returned; the code it names must already be where it points (or be
uploaded with ``--code DIR=S3_URI``).
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops_toolkit.artifacts import LocalObject
from mlops_toolkit.cli_support import CliError, quiet_sdk_logs

OFFERED = ("role_arn", "default_bucket", "region", "boto_session", "pipeline_name", "git_commit")


@dataclass(frozen=True)
class BuildInputs:
    role_arn: str | None
    default_bucket: str | None
    region: str
    boto_session: Any
    pipeline_name: str | None = None
    git_commit: str = "unknown"


@dataclass(frozen=True)
class BuiltPipeline:
    name: str
    definition: dict[str, Any]
    # Objects the build uploaded, by S3 URI, where a local copy of each is known.
    uploads: dict[str, LocalObject] = field(default_factory=dict)


def import_function(reference: str) -> Callable[..., Any]:
    module_name, sep, attribute = reference.partition(":")
    if not sep or not module_name or not attribute:
        raise CliError(f"--pipeline expects module:function, got {reference!r}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise CliError(
            f"--pipeline {reference}: cannot import {module_name} ({error}); install the project "
            "(pip install -e .) or run from its folder"
        ) from None
    function = getattr(module, attribute, None)
    if not callable(function):
        raise CliError(f"--pipeline {reference}: {module_name} has no function {attribute}")
    return function


def call_arguments(function: Callable[..., Any], inputs: BuildInputs) -> dict[str, Any]:
    """The offered arguments the function declares; a required one we cannot give is an error."""
    parameters = inspect.signature(function).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    arguments = {
        name: getattr(inputs, name)
        for name in OFFERED
        if (name in parameters or takes_any) and getattr(inputs, name) is not None
    }
    missing = [
        name
        for name, parameter in parameters.items()
        if parameter.default is inspect.Parameter.empty
        and parameter.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
        and name not in arguments
    ]
    if missing:
        hints = {"role_arn": "--role-arn", "default_bucket": "--artifact-bucket"}
        raise CliError(
            f"the pipeline function needs {', '.join(missing)}, which local-run cannot supply"
            + "".join(f"; pass {hints[name]}" for name in missing if name in hints)
            + f" (it offers {', '.join(OFFERED)})"
        )
    return arguments


def build_from_function(reference: str, inputs: BuildInputs, verbose: bool) -> BuiltPipeline:
    # The SDK creates a client while importing; without a default region that import fails.
    os.environ.setdefault("AWS_DEFAULT_REGION", inputs.region)
    function = import_function(reference)
    quiet_sdk_logs(verbose)
    pipeline = function(**call_arguments(function, inputs))
    if not (hasattr(pipeline, "definition") and hasattr(pipeline, "name")):
        raise CliError(
            f"--pipeline {reference} returned {type(pipeline).__name__}, not a SageMaker Pipeline"
        )
    return BuiltPipeline(pipeline.name, json.loads(pipeline.definition()))


def load_definition_file(path: Path, pipeline_name: str | None) -> BuiltPipeline:
    try:
        definition = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise CliError(f"--definition {path}: {error.strerror}") from None
    except json.JSONDecodeError as error:
        raise CliError(f"--definition {path} is not JSON ({error})") from None
    if not isinstance(definition, dict) or not isinstance(definition.get("Steps"), list):
        raise CliError(f"--definition {path} is not a pipeline definition (it has no Steps list)")
    return BuiltPipeline(pipeline_name or path.stem, definition)


def git_commit() -> str:
    """The commit being built: CodeBuild's resolved source version, else the local checkout."""
    if commit := os.environ.get("CODEBUILD_RESOLVED_SOURCE_VERSION"):
        return commit
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() or "unknown"
