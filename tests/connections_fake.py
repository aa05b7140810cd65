"""A small stand-in for AWS CodeConnections, which moto (5.x) does not implement.

It is an HTTP endpoint on 127.0.0.1 that boto3 reaches through ``AWS_ENDPOINT_URL_CODECONNECTIONS``
(and ``..._CODESTAR_CONNECTIONS`` for the service's pre-2024 name), so the bootstrap runs
unchanged, in its own process, and the IAM contract's call recorder sees every call. It answers
the five calls the bootstrap makes (CreateConnection, GetConnection, ListConnections,
ListTagsForResource, DeleteConnection) as the API reference describes them, in JSON 1.0: the
format botocore picks for both services (codeconnections' model also lists Smithy RPC v2 CBOR,
second). botocore validates every request against the service model before it is sent.

A new connection is PENDING, as in AWS; ``complete_handshake`` plays the person in the console,
either at once or after a number of GetConnection calls (to exercise the bootstrap's polling).
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ACCOUNT = "123456789012"
REGION = "us-east-1"
SERVICES = {
    "codeconnections": "AWS_ENDPOINT_URL_CODECONNECTIONS",
    "codestar-connections": "AWS_ENDPOINT_URL_CODESTAR_CONNECTIONS",
}


@dataclass
class Connection:
    arn: str
    name: str
    provider: str
    tags: list[dict[str, str]]
    status: str = "PENDING"
    # GetConnection calls still answered PENDING before the handshake completes by itself.
    pending_reads: int | None = None

    def describe(self) -> dict[str, str]:
        return {
            "ConnectionName": self.name,
            "ConnectionArn": self.arn,
            "ProviderType": self.provider,
            "OwnerAccountId": ACCOUNT,
            "ConnectionStatus": self.status,
        }


class NotFound(Exception):
    pass


@dataclass
class ConnectionsFake:
    connections: dict[str, Connection] = field(default_factory=dict)
    calls: list[tuple[str, str]] = field(default_factory=list)
    # How many GetConnection calls a new connection answers PENDING before it becomes AVAILABLE
    # by itself (None: only complete_handshake makes it AVAILABLE).
    handshake_after_reads: int | None = None
    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, provider: str, name: str, service: str = "codeconnections", **kw: Any) -> str:
        """A connection made outside the bootstrap (e.g. by a platform team); returns its ARN."""
        arn = f"arn:aws:{service}:{REGION}:{ACCOUNT}:connection/{uuid.uuid4()}"
        self.connections[arn] = Connection(arn, name, provider, kw.pop("tags", []), **kw)
        return arn

    def complete_handshake(self, arn: str | None = None) -> None:
        for connection in self.connections.values():
            if arn in (None, connection.arn):
                connection.status = "AVAILABLE"

    def environment(self) -> dict[str, str]:
        return {variable: self.url for variable in SERVICES.values()}

    def handle(self, service: str, operation: str, request: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            self.calls.append((service, operation))
            return getattr(self, f"_{operation}")(service, request)

    def _CreateConnection(self, service: str, request: dict[str, Any]) -> dict[str, Any]:
        arn = self.add(
            request["ProviderType"],
            request["ConnectionName"],
            service,
            tags=request.get("Tags", []),
            pending_reads=self.handshake_after_reads,
        )
        return {"ConnectionArn": arn, "Tags": request.get("Tags", [])}

    def _GetConnection(self, service: str, request: dict[str, Any]) -> dict[str, Any]:
        connection = self._find(request["ConnectionArn"])
        if connection.status == "PENDING" and connection.pending_reads is not None:
            if connection.pending_reads <= 0:
                connection.status = "AVAILABLE"
            connection.pending_reads -= 1
        return {"Connection": connection.describe()}

    def _ListConnections(self, service: str, request: dict[str, Any]) -> dict[str, Any]:
        wanted = request.get("ProviderTypeFilter")
        found = [
            c.describe()
            for c in self.connections.values()
            if wanted in (None, c.provider) and c.arn.split(":")[2] == service
        ]
        return {"Connections": found}

    def _ListTagsForResource(self, service: str, request: dict[str, Any]) -> dict[str, Any]:
        return {"Tags": self._find(request["ResourceArn"]).tags}

    def _DeleteConnection(self, service: str, request: dict[str, Any]) -> dict[str, Any]:
        self._find(request["ConnectionArn"])
        del self.connections[request["ConnectionArn"]]
        return {}

    def _find(self, arn: str) -> Connection:
        if arn not in self.connections:
            raise NotFound(f"Connection {arn} does not exist")
        return self.connections[arn]


def _handler(fake: ConnectionsFake) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if "X-Amz-Target" not in self.headers:
                # A botocore that moved these services to another wire format: say so plainly.
                message = {"message": f"the fake speaks JSON 1.0 only, not {self.path}"}
                self._send(400, {"Content-Type": "application/json"}, json.dumps(message).encode())
                return
            self._json(body)

        def _json(self, body: bytes) -> None:
            target = self.headers["X-Amz-Target"]
            operation = target.rsplit(".", 1)[1]
            # Each service's own prefix: CodeConnections_20231201, CodeStar_connections_20191201.
            service = "codeconnections" if "CodeConnections" in target else "codestar-connections"
            headers = {"Content-Type": "application/x-amz-json-1.0"}
            try:
                result = fake.handle(service, operation, json.loads(body or b"{}"))
            except NotFound as missing:
                error = {"__type": "ResourceNotFoundException", "message": str(missing)}
                self._send(400, headers, json.dumps(error).encode())
                return
            self._send(200, headers, json.dumps(result).encode())

        def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
            self.send_response(status)
            for key, value in {**headers, "Content-Length": str(len(body))}.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body)

    return Handler


@contextmanager
def connections_fake() -> Iterator[ConnectionsFake]:
    fake = ConnectionsFake()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
