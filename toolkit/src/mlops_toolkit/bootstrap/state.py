"""The bootstrap's record, ``.mlops-bootstrap.json`` in the project folder.

It lists what each finished step created (names, ARNs, commits) so a re-run skips it and teardown
knows what is this project's. It is written after every step, atomically, so an interrupted run
leaves a record of exactly what it finished. AWS stays the source of truth: every step also looks
its resource up before creating it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from mlops_toolkit.bootstrap.errors import ConfigError

FORMAT = 1


@dataclass
class State:
    path: Path
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def account_id(self) -> str | None:
        return self.data.get("account_id")

    @property
    def steps(self) -> dict[str, dict[str, Any]]:
        return self.data.setdefault("steps", {})

    def step(self, key: str) -> dict[str, Any] | None:
        return self.steps.get(key)

    def record(self, key: str, **details: Any) -> None:
        """Mark step ``key`` finished with ``details`` and write the file at once."""
        self.steps[key] = {**details, "finished_at": _now()}
        self.save()

    def bind_account(self, account_id: str, region: str) -> None:
        """Tie the record to one account and region; refuse to mix two accounts' resources."""
        if self.account_id not in (None, account_id):
            raise ConfigError(
                f"{self.path} records resources in account {self.account_id}, but the current "
                f"credentials are for account {account_id}. Switch to the credentials of account "
                f"{self.account_id} (e.g. AWS_PROFILE), or move the file away to start afresh."
            )
        self.data.update(format=FORMAT, account_id=account_id, region=region)

    def save(self) -> None:
        self.data["updated_at"] = _now()
        temporary = self.path.with_name(self.path.name + ".tmp")
        temporary.write_text(json.dumps(self.data, indent=2, sort_keys=True) + "\n", "utf-8")
        os.replace(temporary, self.path)

    def delete(self) -> None:
        self.path.unlink(missing_ok=True)


def load_state(path: Path) -> State:
    """Read the record at ``path``; a missing file is an empty record."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return State(path)
    except (OSError, ValueError) as error:
        raise ConfigError(
            f"{path} is not readable JSON ({error}). Fix it, or move it away: the bootstrap then "
            "looks every resource up again and records what it finds."
        ) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ConfigError(f"{path} is not a bootstrap record of format {FORMAT}.")
    return State(path, data)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
