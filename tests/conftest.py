"""Shared helpers for the template's own tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from cookiecutter.main import cookiecutter

TEMPLATE_DIR = Path(__file__).resolve().parents[1]
# local-run's warm fork servers (one per project the tests generate) leave soon after the suite.
os.environ.setdefault("MLOPS_TOOLKIT_FORK_SERVER_IDLE", "5")


def isolated_config(directory: Path) -> str:
    """A cookiecutter config that keeps replay files and clones out of the user's home."""
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "cookiecutter-config.yaml"
    config.write_text(
        f"replay_dir: {json.dumps(str(directory / 'replay'))}\n"
        f"cookiecutters_dir: {json.dumps(str(directory / 'cookiecutters'))}\n"
    )
    return str(config)


def render_project(output_dir: Path, **answers: str) -> Path:
    """Render the template without prompts; returns the generated project folder."""
    return Path(
        cookiecutter(
            str(TEMPLATE_DIR),
            no_input=True,
            extra_context=answers,
            output_dir=str(output_dir),
            config_file=isolated_config(output_dir.parent / f"{output_dir.name}-cookiecutter"),
        )
    )


@pytest.fixture
def render(tmp_path: Path) -> Callable[..., Path]:
    return lambda **answers: render_project(tmp_path, **answers)


def run_generated_pytest(repo: Path, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    """Run a generated repo's own test suite with this interpreter (the SDK is installed once)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def repository_files() -> list[str]:
    """Tracked files and new ones not ignored: what a commit of this working tree would hold."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=TEMPLATE_DIR,
        capture_output=True,
        check=True,
    ).stdout.decode()
    return [name for name in listed.split("\0") if name and (TEMPLATE_DIR / name).is_file()]
