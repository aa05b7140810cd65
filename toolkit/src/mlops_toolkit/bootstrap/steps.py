"""What a bootstrap step is: a read-only look at one resource, then the change it needs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

from mlops_toolkit.bootstrap.awsclients import Aws
from mlops_toolkit.bootstrap.project import Project
from mlops_toolkit.bootstrap.state import State

# Actions an inspection can call for; NOTHING and BLOCKED make no change.
NOTHING = "nothing"
CREATE = "create"
UPDATE = "update"
REPLACE = "replace"
PUSH = "push"
BLOCKED = "blocked"
DEFAULT_CONNECTION_WAIT_SECONDS = 15 * 60


@dataclass
class Context:
    """Everything a step needs: the project, AWS, the record, and where to report."""

    project: Project
    aws: Aws
    state: State
    account_id: str
    git_mode: str
    out: TextIO
    # How long the bootstrap waits for a new connection's handshake (seconds; 0: not at all).
    connection_wait: float = DEFAULT_CONNECTION_WAIT_SECONDS


@dataclass(frozen=True)
class Finding:
    """What an inspection found: the action needed and a few words for the plan."""

    action: str
    note: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Step:
    """One resource: ``inspect`` only reads; ``apply`` makes the change and returns what to
    record. A step whose resource needs nothing is recorded from its finding alone."""

    key: str
    kind: str
    name: str
    inspect: Callable[[Context], Finding]
    apply: Callable[[Context, Finding], dict[str, Any]]


def tag_value(tags: list[dict[str, str]] | None, key: str) -> str | None:
    """The value of tag ``key`` in an AWS ``[{Key, Value}]`` list."""
    for tag in tags or []:
        if tag.get("Key") == key:
            return tag.get("Value")
    return None
