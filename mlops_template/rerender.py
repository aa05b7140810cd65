"""Telling a first generation from a re-render of an existing project.

Update tools render the template again (cruft renders it into a temporary folder to compute a diff;
`cookiecutter --overwrite-if-exists` renders over the project itself). The post-generation hook
must then neither create git repositories nor touch AWS.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

RERENDER_ENV = "MLOPS_TEMPLATE_RERENDER"
STATE_FILE_NAME = ".mlops-bootstrap.json"
TRUTHY = ("1", "yes", "true", "on")
CRUFT_RERENDERING_COMMANDS = ("update", "diff", "check")


def rerender_reason(
    answers: Mapping[str, object],
    project_dir: Path,
    repo_dirs: list[Path],
    env: Mapping[str, str],
    parent_command: list[str] | None = None,
) -> str | None:
    """Why this run is a re-render (a sentence), or None for a first generation."""
    if env.get(RERENDER_ENV, "").strip().lower() in TRUTHY:
        return f"{RERENDER_ENV} is set"
    if answers.get("_copier_operation") == "update":
        return "Copier is updating the project"
    if (project_dir / STATE_FILE_NAME).exists():
        return f"{STATE_FILE_NAME} exists: the project was bootstrapped before"
    existing = [repo.name for repo in repo_dirs if (repo / ".git").exists()]
    if existing:
        return f"{', '.join(existing)} already has a .git folder"
    command = parent_command if parent_command is not None else _parent_command()
    subcommand = _cruft_rerendering_subcommand(command)
    if subcommand:
        return f"`cruft {subcommand}` is re-rendering the template"
    return None


def _cruft_rerendering_subcommand(command: list[str]) -> str | None:
    names = [Path(part).name for part in command]
    if not any(name == "cruft" or name.startswith("cruft.") for name in names):
        return None
    return next((name for name in names if name in CRUFT_RERENDERING_COMMANDS), None)


def _parent_command() -> list[str]:
    """The command line of the process that runs the hook (cookiecutter, or cruft); Linux only,
    elsewhere empty, which is why RERENDER_ENV exists."""
    try:
        raw = Path(f"/proc/{os.getppid()}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]
