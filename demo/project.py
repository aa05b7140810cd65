"""Render the template into the demo's output folder and make the generated code importable."""

from __future__ import annotations

import json
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from cookiecutter.main import cookiecutter

TEMPLATE_ROOT = Path(__file__).resolve().parents[1]
# The only copy of the sample data: every generated model-build repo ships it, and the demo, the
# template's tests and the benchmarks read it from the template tree, inside this repository.
SAMPLE_DATA = (
    TEMPLATE_ROOT
    / "{{cookiecutter.project_slug}}"
    / "{{cookiecutter.project_slug}}-modelbuild"
    / "data"
    / "abalone.csv"
)
# Local caches and outputs are not part of the template; cookiecutter would try to render them.
_NOT_TEMPLATE = (
    ".git",
    ".venv*",
    "demo-output",
    "__pycache__",
    "*.pyc",
    ".ruff_cache",
    ".pytest_cache",
    "*.egg-info",
    "local-runs",
    "local-endpoint",
)


@dataclass(frozen=True)
class RenderedProject:
    root: Path
    modelbuild: Path
    settings: dict

    @property
    def src(self) -> Path:
        return self.modelbuild / "src"


def _cookiecutter_config(directory: Path) -> str:
    """Keep cookiecutter's replay files and clones inside the demo folder, not in $HOME."""
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "cookiecutter-config.yaml"
    config.write_text(
        f"replay_dir: {json.dumps(str(directory / 'replay'))}\n"
        f"cookiecutters_dir: {json.dumps(str(directory / 'cookiecutters'))}\n",
        encoding="utf-8",
    )
    return str(config)


def render(output_dir: Path, **answers: str) -> RenderedProject:
    """Render with every default answer but ``answers``, from a clean copy of the template."""
    clean = output_dir / "template"
    shutil.copytree(TEMPLATE_ROOT, clean, ignore=shutil.ignore_patterns(*_NOT_TEMPLATE))
    root = Path(
        cookiecutter(
            str(clean),
            no_input=True,
            extra_context=answers,
            output_dir=str(output_dir / "project"),
            config_file=_cookiecutter_config(output_dir / "cookiecutter"),
        )
    )
    [modelbuild] = sorted(root.glob("*-modelbuild"))
    settings = json.loads((modelbuild / "src" / "modelbuild" / "project.json").read_text("utf-8"))
    return RenderedProject(root=root, modelbuild=modelbuild, settings=settings)


def child_env(project: RenderedProject) -> dict[str, str]:
    """This process's environment, with the generated package importable in a child (ahead of
    whatever PYTHONPATH already names, such as a toolkit source tree)."""
    inherited = [os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else []
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(project.src), *inherited])}


def import_generated(project: RenderedProject) -> None:
    """Let this process import the generated ``modelbuild`` package (no install needed: every
    dependency is already in the template's virtualenv)."""
    if str(project.src) not in sys.path:
        sys.path.insert(0, str(project.src))
