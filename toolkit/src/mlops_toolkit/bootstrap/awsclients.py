"""boto3 clients for the bootstrap: one session, standard retries, short timeouts."""

from __future__ import annotations

import os
from typing import Any

import boto3
from botocore.config import Config

from mlops_toolkit.bootstrap.faults import FAULT_ENV, install, parse_faults

ATTEMPTS_ENV = "MLOPS_BOOTSTRAP_MAX_ATTEMPTS"
# Few attempts: a throttled or unreachable AWS is reported within seconds, and every step can be
# re-run, so retrying for minutes would only hide the problem.
DEFAULT_MAX_ATTEMPTS = 4
USER_AGENT_APP_ID = "mlops-template-bootstrap"


class Aws:
    """Creates each service's client once, for the project's region."""

    def __init__(self, region: str, profile: str | None = None) -> None:
        self.region = region
        self.session = boto3.session.Session(region_name=region, profile_name=profile)
        self.config = Config(
            retries={"mode": "standard", "max_attempts": _max_attempts()},
            connect_timeout=10,
            read_timeout=60,
            user_agent_appid=USER_AGENT_APP_ID,
        )
        self.faults = parse_faults(os.environ.get(FAULT_ENV))
        self._clients: dict[str, Any] = {}

    def client(self, service: str) -> Any:
        if service not in self._clients:
            client = self.session.client(service, config=self.config)
            install(client, self.faults)
            self._clients[service] = client
        return self._clients[service]


def _max_attempts() -> int:
    text = os.environ.get(ATTEMPTS_ENV, "")
    return int(text) if text.isdigit() and int(text) > 0 else DEFAULT_MAX_ATTEMPTS
