"""Shared fixtures.

Step-script tests use small synthetic abalone-like data made here (seeded), never the real data
set: the rows follow the raw schema and carry enough signal for a model to learn.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

# AWS stand-in fixtures (moto) for every test module; importing it also swaps in fake credentials.
from aws_stand_in import aws, built_definition, definition  # noqa: F401
from fast_training import FAST_TRAINING

from modelbuild.steps import preprocess
from modelbuild.steps.training import train

STEPS_DIR = Path(preprocess.__file__).resolve().parent
SYNTHETIC_ROWS = 300


def synthetic_abalone(count: int = SYNTHETIC_ROWS, seed: int = 7) -> list[list[str]]:
    """Raw rows as the CSV holds them (strings, label last), shaped like UCI abalone."""
    rng = np.random.default_rng(seed)
    sex = rng.choice(["M", "F", "I"], size=count)
    length = rng.uniform(0.15, 0.75, size=count)
    diameter = 0.8 * length + rng.normal(0, 0.01, count)
    height = 0.27 * length + rng.normal(0, 0.01, count)
    whole = 4.5 * length**3 + rng.normal(0, 0.02, count).clip(-0.01, None)
    shucked, viscera, shell = 0.43 * whole, 0.22 * whole, 0.29 * whole
    rings = np.clip(np.round(3 + 25 * shell - 1.5 * (sex == "I") + rng.normal(0, 1, count)), 1, 29)
    numeric = np.column_stack([length, diameter, height, whole, shucked, viscera, shell])
    return [
        [str(sex[i]), *(f"{value:.4f}" for value in numeric[i]), str(int(rings[i]))]
        for i in range(count)
    ]


def write_csv(path: Path, rows: list[list[str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(",".join(row) + "\n" for row in rows), encoding="utf-8")
    return path


@pytest.fixture
def make_rows() -> Callable[..., list[list[str]]]:
    return synthetic_abalone


@pytest.fixture
def write_rows() -> Callable[[Path, list[list[str]]], Path]:
    return write_csv


@pytest.fixture
def raw_rows() -> list[list[str]]:
    return synthetic_abalone()


@pytest.fixture
def processing_dir(tmp_path: Path, raw_rows: list[list[str]]) -> Path:
    """A processing base dir whose input channel holds the synthetic rows in one file."""
    write_csv(tmp_path / "input" / "abalone.csv", raw_rows)
    return tmp_path


@pytest.fixture(scope="session")
def preprocessed_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Preprocess output shared by many tests; they must treat it as read-only."""
    base = tmp_path_factory.mktemp("preprocessed")
    write_csv(base / "input" / "abalone.csv", synthetic_abalone())
    assert preprocess.main(["--base-dir", str(base)]) == 0
    return base


def channel_flags(split_dir: Path, model_dir: Path, output_dir: Path) -> list[str]:
    return [
        *("--train-dir", str(split_dir / "train")),
        *("--validation-dir", str(split_dir / "validation")),
        *("--preprocessor-dir", str(split_dir / "preprocessor")),
        *("--model-dir", str(model_dir)),
        *("--output-data-dir", str(output_dir)),
    ]


@pytest.fixture
def flags(preprocessed_dir: Path, tmp_path: Path) -> list[str]:
    """train.py's locations: the shared preprocessed channels in, this test's own folders out."""
    return channel_flags(preprocessed_dir, tmp_path / "model", tmp_path / "output")


def driver_arguments(hyperparameters: dict) -> list[str]:
    """The command line SageMaker's ModelTrainer driver builds: strings as-is, the rest as JSON."""
    return [
        item
        for name, value in hyperparameters.items()
        for item in (f"--{name}", value if isinstance(value, str) else json.dumps(value))
    ]


@pytest.fixture(scope="session")
def model_dir(preprocessed_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model directory as train.py leaves it (what SageMaker packs into model.tar.gz)."""
    work = tmp_path_factory.mktemp("trained")
    flags = channel_flags(preprocessed_dir, work / "model", work / "output")
    assert train.main([*flags, *FAST_TRAINING]) == 0
    return work / "model"


@pytest.fixture
def run_script() -> Callable[..., subprocess.CompletedProcess]:
    """Run a step script the way its container does: a plain file, no access to ``modelbuild``.

    ``-E -s`` drop PYTHONPATH and user site-packages; the script's own folder stays on the
    import path, as it is in the container, so sibling modules import.
    """

    def run(relative_path: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-E", "-s", str(STEPS_DIR / relative_path), *args],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=120,
        )

    return run


@pytest.fixture
def third_party_imports() -> Callable[[str], set[str]]:
    """Top-level packages a step script imports beyond the standard library."""

    def imports(relative_path: str) -> set[str]:
        tree = ast.parse((STEPS_DIR / relative_path).read_text(encoding="utf-8"))
        names = {
            alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.Import)
            for alias in node.names
        }
        names |= {
            node.module
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module
        }
        roots = {name.split(".")[0] for name in names}
        siblings = {path.stem for path in (STEPS_DIR / relative_path).parent.glob("*.py")}
        return {root for root in roots if root not in sys.stdlib_module_names | siblings}

    return imports
