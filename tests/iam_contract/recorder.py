"""Record every AWS API call a workload makes, from inside its own process.

A workload (``run-pipeline``, ``build.py``, ``test/test.py``, ``mlops-bootstrap``) runs as a
subprocess with a temporary directory first on ``PYTHONPATH`` that holds a ``sitecustomize.py``.
Python imports it at start-up; it wraps ``botocore.client.BaseClient._make_api_call`` so each call
appends one JSON line ``{service, operation, region, params}`` to the file named by
``IAM_CONTRACT_CALL_LOG``. Every boto3 client (the SageMaker SDK's, s3transfer's) goes through that
method, so nothing the workload asks of AWS escapes the record.

The call is logged before it is sent: a call the stand-in rejects still needs a permission.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LOG_VARIABLE = "IAM_CONTRACT_CALL_LOG"
# Comma-separated ``service:Operation`` (boto3 names) to answer with AccessDenied, as the account
# will: calls the contract deliberately does not grant, whose denial the workload handles.
DENY_VARIABLE = "IAM_CONTRACT_DENY"

SITECUSTOMIZE = '''\
"""Installed by the IAM contract tests: logs every botocore API call to $IAM_CONTRACT_CALL_LOG."""
import json
import os
import threading

import botocore.client
import botocore.exceptions

_log_path = os.environ["IAM_CONTRACT_CALL_LOG"]
_denied = set(filter(None, os.environ.get("IAM_CONTRACT_DENY", "").split(",")))
_lock = threading.Lock()
_original = botocore.client.BaseClient._make_api_call


def _plain(value):
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    # Bodies (bytes, files, streams) and datetimes: their content grants nothing.
    return "<" + type(value).__name__ + ">"


def _recording_make_api_call(self, operation_name, api_params):
    service = self.meta.service_model.service_name
    denied = f"{service}:{operation_name}" in _denied
    line = json.dumps(
        {
            "service": service,
            "operation": operation_name,
            "region": self.meta.region_name,
            "params": _plain(api_params),
            "denied": denied,
        }
    )
    with _lock, open(_log_path, "a", encoding="utf-8") as handle:
        handle.write(line + "\\n")
    if denied:
        error = {"Code": "AccessDenied", "Message": "denied by the IAM contract's stand-in"}
        raise botocore.exceptions.ClientError({"Error": error}, operation_name)
    return _original(self, operation_name, api_params)


botocore.client.BaseClient._make_api_call = _recording_make_api_call
'''


@dataclass(frozen=True)
class ApiCall:
    """One recorded call: boto3's service name, the operation and its parameters."""

    service: str
    operation: str
    region: str
    params: Mapping[str, Any]
    denied: bool = False

    def describe(self) -> str:
        return f"{self.service} {self.operation}"


class CallRecorder:
    """A ``sitecustomize.py`` and a call log in ``directory``; ``environment`` switches it on."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.site = directory / "site"
        self.site.mkdir(parents=True, exist_ok=True)
        (self.site / "sitecustomize.py").write_text(SITECUSTOMIZE, encoding="utf-8")
        self.log = directory / "calls.jsonl"

    def environment(
        self, env: Mapping[str, str], log: Path | None = None, deny: Iterable[str] = ()
    ) -> dict[str, str]:
        """``env`` with the recorder first on PYTHONPATH, the log file named and ``deny``
        (``service:Operation``) answered with AccessDenied."""
        paths = [str(self.site), *filter(None, [env.get("PYTHONPATH")])]
        return {
            **env,
            "PYTHONPATH": ":".join(paths),
            LOG_VARIABLE: str(log or self.log),
            DENY_VARIABLE: ",".join(sorted(deny)),
            "PYTHONDONTWRITEBYTECODE": "1",
        }

    def calls(self, log: Path | None = None) -> list[ApiCall]:
        return read_calls(log or self.log)


def read_calls(log: Path) -> list[ApiCall]:
    if not log.exists():
        return []
    return [
        ApiCall(raw["service"], raw["operation"], raw["region"], raw["params"], raw["denied"])
        for raw in map(json.loads, log.read_text(encoding="utf-8").splitlines())
    ]
