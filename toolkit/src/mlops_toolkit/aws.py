"""boto3 sessions and clients shared by the commands.

Clients honour ``AWS_ENDPOINT_URL`` (boto3 does that itself), which is how a local run, the tests
and the demo point everything at a stand-in instead of AWS.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

import boto3
from botocore.config import Config

# Standard mode retries throttling with back-off; a handful of attempts keeps errors prompt.
CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5})

_clients: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_clients_lock = threading.Lock()


def boto_session(region: str | None) -> boto3.Session:
    return boto3.Session(region_name=region) if region else boto3.Session()


def client(session: boto3.Session, service: str) -> Any:
    """The session's one client for ``service``, with CLIENT_CONFIG. Creating a client loads the
    service's model (10 to 40 ms each), and clients are safe to share between threads."""
    with _clients_lock:
        made = _clients.setdefault(session, {})
        if service not in made:
            made[service] = session.client(service, config=CLIENT_CONFIG)
        return made[service]


class LazyClient:
    """Stands for ``client(session, service)``, made on the first call: a local run that never
    calls SageMaker before its first step does not wait for its model to load (60 to 100 ms)."""

    def __init__(self, session: boto3.Session, service: str) -> None:
        self._session, self._service = session, service

    def __getattr__(self, name: str) -> Any:
        return getattr(client(self._session, self._service), name)


def newest_approved_package(client, group: str) -> str | None:
    """ARN of the newest Approved version in ``group`` (the one a deployment picks), or None."""
    found = client.list_model_packages(
        ModelPackageGroupName=group,
        ModelApprovalStatus="Approved",
        SortBy="CreationTime",
        SortOrder="Descending",
        MaxResults=1,
    ).get("ModelPackageSummaryList", [])
    return found[0]["ModelPackageArn"] if found else None
