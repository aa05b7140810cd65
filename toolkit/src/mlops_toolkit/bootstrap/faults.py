"""Fault injection for rehearsing failures: ``MLOPS_BOOTSTRAP_FAULT=Operation:kind[:times]``.

Lets the tests (and anyone checking the resume logic before trusting it with a real account) make
one AWS operation fail the way real ones do, through botocore's real parsing and retry code:

- ``deny``: AWS answers AccessDenied (not retried);
- ``throttle``: AWS answers with a throttling error (retried by the SDK, then given up);
- ``drop``: the connection drops before the request is sent (retried, then given up);
- ``lost-reply``: AWS performs the operation, then the connection drops before the reply.

``times`` limits how many calls fail (default: every call). Several faults are separated by ';',
e.g. ``CreateStack:drop;CreateRepository:throttle:1``. Unset, nothing is installed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.exceptions import ConnectionClosedError

from mlops_toolkit.bootstrap.errors import ConfigError

FAULT_ENV = "MLOPS_BOOTSTRAP_FAULT"
KINDS = ("deny", "throttle", "drop", "lost-reply")
INJECTED = "(injected by MLOPS_BOOTSTRAP_FAULT)"


@dataclass
class Fault:
    operation: str
    kind: str
    remaining: int | None = None

    def fire(self) -> bool:
        """Whether this call fails; counts the call against ``times``."""
        if self.remaining is None:
            return True
        if self.remaining <= 0:
            return False
        self.remaining -= 1
        return True


def parse_faults(text: str | None) -> list[Fault]:
    """Parse the environment variable's value; a malformed spec is a ConfigError."""
    faults = []
    for spec in filter(None, (part.strip() for part in (text or "").split(";"))):
        parts = spec.split(":")
        if len(parts) not in (2, 3) or parts[1] not in KINDS or not parts[0].isalnum():
            raise ConfigError(
                f"{FAULT_ENV}: {spec!r} is not Operation:kind[:times] with kind one of "
                f"{', '.join(KINDS)}."
            )
        times = parts[2] if len(parts) == 3 else None
        if times is not None and not times.isdigit():
            raise ConfigError(f"{FAULT_ENV}: times in {spec!r} must be a whole number.")
        faults.append(Fault(parts[0], parts[1], int(times) if times is not None else None))
    return faults


def install(client: Any, faults: list[Fault]) -> None:
    """Register ``faults`` on one boto3 client (only those for its operations matter)."""
    service_id = client.meta.service_model.service_id.hyphenize()
    protocol = client.meta.service_model.protocol
    for fault in faults:
        if fault.operation not in client.meta.service_model.operation_names:
            continue
        if fault.kind == "lost-reply":
            event = f"after-call.{service_id}.{fault.operation}"
            client.meta.events.register(event, _lose_reply(fault))
        else:
            event = f"before-send.{service_id}.{fault.operation}"
            client.meta.events.register(event, _fail_send(fault, protocol))


def _lose_reply(fault: Fault):
    def handler(**kwargs: Any) -> None:
        if fault.fire():
            raise ConnectionClosedError(endpoint_url=f"{fault.operation} reply {INJECTED}")

    return handler


def _fail_send(fault: Fault, protocol: str):
    def handler(request: Any, **kwargs: Any) -> AWSResponse | None:
        if not fault.fire():
            return None
        if fault.kind == "drop":
            raise ConnectionClosedError(endpoint_url=f"{request.url} {INJECTED}")
        if fault.kind == "deny":
            return _error_response(request.url, protocol, 403, "AccessDenied", "not authorized")
        return _error_response(request.url, protocol, 400, "Throttling", "Rate exceeded")

    return handler


def _error_response(url: str, protocol: str, status: int, code: str, text: str) -> AWSResponse:
    """An error reply shaped the way the service's protocol shapes it, for botocore to parse."""
    message = f"{text} {INJECTED}"
    if protocol in ("json", "rest-json"):
        body = json.dumps({"__type": code, "message": message}).encode()
        headers = {"x-amzn-errortype": code, "content-type": "application/x-amz-json-1.1"}
    elif protocol == "query":
        body = (
            f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code>"
            f"<Message>{message}</Message></Error><RequestId>fault</RequestId></ErrorResponse>"
        ).encode()
        headers = {"content-type": "text/xml"}
    elif protocol == "rest-xml":
        body = f"<Error><Code>{code}</Code><Message>{message}</Message></Error>".encode()
        headers = {"content-type": "application/xml"}
    else:
        raise ConfigError(f"{FAULT_ENV}: cannot shape an error for the {protocol!r} protocol.")
    return AWSResponse(url, status, headers, _Body(body))


class _Body:
    """The one method botocore reads a raw response body through."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **kwargs: Any) -> Iterator[bytes]:
        yield self._data
