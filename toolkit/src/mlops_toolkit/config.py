"""The project's ``[tool.mlops-toolkit]`` table: what the commands default to in that project.

Read from the nearest ``pyproject.toml`` at or above the working directory. Every key is
optional; flags override them, and a project without the table passes what it needs as flags.

    [tool.mlops-toolkit]
    pipeline = "mypackage.pipeline:get_pipeline"   # local-run --pipeline
    region = "eu-west-1"                           # default region (stand-in and commands)
    input-parameter = "InputDataUrl"               # the parameter local-run --input-data sets
    model-package-group = "my-models"              # serve-local / drift-report default group
    endpoint-name = "my-project-local"             # serve-local's endpoint name
    local-dir = ".local"                           # stand-in state kept between runs
    tags = { project = "my-project" }              # tags on a model package group a run creates
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

from mlops_toolkit.errors import LocalRunError

TABLE = "mlops-toolkit"
_KEYS = {
    "pipeline": str,
    "region": str,
    "input-parameter": str,
    "model-package-group": str,
    "endpoint-name": str,
    "local-dir": str,
    "tags": dict,
}


@dataclass(frozen=True)
class ProjectConfig:
    root: Path
    pipeline: str | None = None
    region: str | None = None
    input_parameter: str | None = None
    model_package_group: str | None = None
    endpoint_name: str = "local-endpoint"
    local_dir: Path = Path(".local")
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def tag_list(self) -> list[dict[str, str]]:
        return [{"Key": key, "Value": value} for key, value in self.tags.items()]

    @property
    def state_dir(self) -> Path:
        """Where the stand-in's resources are kept between runs."""
        return self.root / self.local_dir / "stand-in"


def find_pyproject(start: Path) -> Path | None:
    for folder in [start, *start.parents]:
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            return candidate
    return None


def _checked(table: dict[str, Any], source: Path) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key not in _KEYS:
            raise LocalRunError(
                f"{source}: [tool.{TABLE}] has an unknown key {key!r} "
                f"(known: {', '.join(sorted(_KEYS))})"
            )
        if not isinstance(value, _KEYS[key]):
            raise LocalRunError(
                f"{source}: [tool.{TABLE}] {key} must be a {_KEYS[key].__name__}, "
                f"not {type(value).__name__}"
            )
        values[key.replace("-", "_")] = value
    bad_tags = [k for k, v in values.get("tags", {}).items() if not isinstance(v, str)]
    if bad_tags:
        raise LocalRunError(f"{source}: [tool.{TABLE}] tags {bad_tags} must have string values")
    if "local_dir" in values:
        values["local_dir"] = Path(values["local_dir"])
    return values


def load_config(start: Path | None = None) -> ProjectConfig:
    start = (start or Path.cwd()).resolve()
    pyproject = find_pyproject(start)
    if pyproject is None:
        return ProjectConfig(root=start)
    try:
        document = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise LocalRunError(f"{pyproject} is not valid TOML ({error})") from None
    table = document.get("tool", {}).get(TABLE, {})
    return ProjectConfig(root=pyproject.parent, **_checked(table, pyproject))
