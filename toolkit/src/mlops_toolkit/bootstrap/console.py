"""Asking before acting: a question on a terminal, ``--yes`` for scripts."""

from __future__ import annotations

from typing import TextIO

from mlops_toolkit.bootstrap.errors import ConfigError


def confirm(question: str, expected: str | None, stdin: TextIO, out: TextIO) -> bool:
    """Ask ``question``; True for y/yes, or for exactly ``expected`` when given."""
    print(question, end=" ", file=out, flush=True)
    answer = stdin.readline().strip()
    if expected is not None:
        return answer == expected
    return answer.lower() in ("y", "yes")


def require_consent(assume_yes: bool, interactive: bool, verb: str) -> None:
    """Refuse to change anything unattended unless ``--yes`` was given."""
    if not assume_yes and not interactive:
        raise ConfigError(
            f"stdin is not a terminal, so nobody can confirm; pass --yes to {verb} without a "
            "question, or --dry-run to only look."
        )
