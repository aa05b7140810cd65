"""A loopback stand-in for the SageMaker runtime invoke path, correct or deliberately broken.

Requests arrive as ``POST /<behaviour>/endpoints/<name>/invocations``: the behaviour is the
first path segment of the base URL handed to boto3 (AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME), so one
server serves every variant and records what it was sent.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CORRECT = "correct"
BROKEN = (
    "wrong-content-type",
    "wrong-row-count",
    "non-numeric",
    "out-of-range",
    "not-finite",
    "model-error",
)
PATH_RE = re.compile(r"/(?P<behaviour>[a-z-]+)/endpoints/(?P<endpoint>[^/]+)/invocations")


@dataclass(frozen=True)
class Invocation:
    """One request the stub received."""

    behaviour: str
    endpoint: str
    content_type: str
    accept: str
    body: str


def predict_rings(row: str) -> float:
    """A deterministic, plausible ring count for one raw row (heavier shells, more rings)."""
    fields = row.split(",")
    shell_weight = float(fields[7])
    infant_offset = 0.0 if fields[0] == "I" else 2.0
    return round(4.0 + infant_offset + 18.0 * shell_weight, 4)


def _answer(behaviour: str, rows: list[str]) -> tuple[int, str, str]:
    """(status, content type, body) the given behaviour returns for ``rows``."""
    lines = [f"{predict_rings(row)}" for row in rows]
    if behaviour == "wrong-content-type":
        return 200, "application/json", json.dumps({"predictions": lines})
    if behaviour == "wrong-row-count":
        lines.append(lines[-1])
    elif behaviour == "non-numeric":
        lines[0] = "eleven"
    elif behaviour == "out-of-range":
        lines[0] = "97.5"
    elif behaviour == "not-finite":
        lines[0] = "nan"
    elif behaviour == "model-error":
        return 424, "application/json", json.dumps({"message": "Received client error from model"})
    return 200, "text/csv", "\n".join(lines) + "\n"


class RuntimeStub:
    """Threaded HTTP server on 127.0.0.1 with a free port; ``url_for`` picks the behaviour."""

    def __init__(self) -> None:
        self.invocations: list[Invocation] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def url_for(self, behaviour: str) -> str:
        return f"http://127.0.0.1:{self._server.server_port}/{behaviour}"

    def clear(self) -> None:
        with self._lock:
            self.invocations.clear()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def _record(self, invocation: Invocation) -> None:
        with self._lock:
            self.invocations.append(invocation)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length).decode("utf-8")
                match = PATH_RE.fullmatch(self.path)
                if match is None:
                    self._send(404, "application/json", json.dumps({"message": "no such path"}))
                    return
                stub._record(
                    Invocation(
                        behaviour=match["behaviour"],
                        endpoint=match["endpoint"],
                        content_type=self.headers.get("Content-Type", ""),
                        accept=self.headers.get("Accept", ""),
                        body=body,
                    )
                )
                rows = [row for row in body.splitlines() if row.strip()]
                self._send(*_answer(match["behaviour"], rows))

            def _send(self, status: int, content_type: str, text: str) -> None:
                payload = text.encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                if status >= 400:
                    self.send_header("x-amzn-ErrorType", "ModelError")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: object) -> None:
                """Keep test output quiet."""

        return Handler
