"""``serve-local``: serve a registered model version on loopback, answering the SageMaker runtime.

``POST /endpoints/<name>/invocations`` is the path boto3's ``sagemaker-runtime invoke_endpoint``
calls, so pointing ``AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME`` here makes unchanged client code get
real predictions from the inference handler inside the model artifact (``code/inference.py``),
the same code the cloud endpoint runs. ``GET /ping`` and ``POST /invocations`` answer as the
serving container does. Handler errors that ask for a 4xx (``status_code`` on the exception) come
back as SageMaker's ``ModelError`` with that status and the handler's message.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import shutil
import signal
import sys
import tempfile
import threading
import traceback
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

from mlops_toolkit.aws import CLIENT_CONFIG, boto_session
from mlops_toolkit.cli_support import CliError, env_default, run_cli
from mlops_toolkit.config import load_config
from mlops_toolkit.endpoint.capture import DEFAULT_VARIANT, CaptureWriter, Exchange
from mlops_toolkit.endpoint.handler import InferenceHandler, client_error_status
from mlops_toolkit.endpoint.model_source import (
    ModelSource,
    describe_package,
    fetch_model,
    latest_approved,
)
from mlops_toolkit.errors import LocalRunError
from mlops_toolkit.local_aws import stand_in_unless_configured

LOOPBACK = "127.0.0.1"
DEFAULT_PORT = 8080  # the serving container's port
DEFAULT_CAPTURE_DIR = Path("local-endpoint") / "data-capture"
_INVOCATIONS = re.compile(r"^/endpoints/(?P<name>[^/]+)/invocations$")
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


def error_reply(status: int, code: str, message: str, extra: dict | None = None) -> Reply:
    body = json.dumps({"message": message, "Message": message, **(extra or {})}).encode()
    headers = {"Content-Type": "application/json", "x-amzn-ErrorType": code}
    return Reply(status, body, headers)


def model_error(status: int, message: str, variant: str) -> Reply:
    """Shaped like SageMaker's ModelError, so clients catch the same exception type."""
    summary = f'Received client error ({status}) from {variant} with message "{message}".'
    extra = {
        "ErrorCode": "CLIENT_ERROR_FROM_MODEL",
        "OriginalStatusCode": status,
        "OriginalMessage": message,
    }
    return error_reply(status, "ModelError", summary, extra)


class LocalEndpoint:
    """An HTTP server on loopback around an InferenceHandler. ``start()``/``stop()`` or ``with``."""

    def __init__(
        self,
        handler: InferenceHandler,
        endpoint_name: str,
        *,
        port: int = 0,
        capture: CaptureWriter | None = None,
        variant: str = DEFAULT_VARIANT,
    ) -> None:
        self.handler, self.endpoint_name, self.variant = handler, endpoint_name, variant
        self.capture = capture
        self._requested_port = port
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the endpoint is not running; call start() first")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def start(self) -> LocalEndpoint:
        server = ThreadingHTTPServer((LOOPBACK, self._requested_port), _RequestHandler)
        server.daemon_threads = True
        server.endpoint = self  # type: ignore[attr-defined]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self.capture is not None:
            self.capture.close()

    def __enter__(self) -> LocalEndpoint:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def invoke(self, name: str | None, body: bytes, headers: dict[str, str]) -> Reply:
        if name is not None and name != self.endpoint_name:
            return error_reply(
                400,
                "ValidationException",
                f"Endpoint {name} not found (this serves {self.endpoint_name}).",
            )
        content_type, accept = headers.get("content-type"), headers.get("accept")
        try:
            payload, media = self.handler.invoke(body, content_type, accept)
        except Exception as error:  # every handler failure becomes an HTTP reply
            status = client_error_status(error)
            if status is not None:
                return model_error(status, str(error), self.variant)
            logger.error("inference handler failed:\n%s", traceback.format_exc())
            return model_error(500, f"{type(error).__name__}: {error}", self.variant)
        if self.capture is not None:
            inference_id = headers.get("x-amzn-sagemaker-inference-id")
            self.capture.write(Exchange(body, content_type, payload, media, inference_id))
        return Reply(
            200,
            payload,
            {"Content-Type": media, "x-Amzn-Invoked-Production-Variant": self.variant},
        )


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as boto3's connection pool expects

    def log_message(self, format: str, *args: object) -> None:
        logger.debug("%s %s", self.address_string(), format % args)

    def _send(self, reply: Reply) -> None:
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        self.wfile.write(reply.body)

    def do_GET(self) -> None:
        if urlsplit(self.path).path == "/ping":
            self._send(Reply(200, b"", {"Content-Type": "text/plain"}))
        else:
            self._send(error_reply(404, "UnknownOperationException", f"no GET {self.path}"))

    def do_POST(self) -> None:
        path = urlsplit(self.path).path
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        endpoint: LocalEndpoint = self.server.endpoint  # type: ignore[attr-defined]
        headers = {name.lower(): value for name, value in self.headers.items()}
        if path == "/invocations":
            self._send(endpoint.invoke(None, body, headers))
        elif match := _INVOCATIONS.match(path):
            self._send(endpoint.invoke(match.group("name"), body, headers))
        else:
            self._send(error_reply(404, "UnknownOperationException", f"no POST {path}"))


def add_source_arguments(parser: argparse.ArgumentParser, config, verb: str) -> None:
    """The one required choice of model version that ``resolve_source`` reads."""
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--model-package-arn", help=f"the model version to {verb}")
    which.add_argument(
        "--latest-approved",
        nargs="?",
        const=config.model_package_group,
        metavar="GROUP",
        help=f"{verb} the newest Approved version of GROUP (default: [tool.mlops-toolkit] "
        "model-package-group, %(const)s)",
    )
    which.add_argument("--model-data", type=Path, help="a local model.tar.gz (or its folder)")


def resolve_source(args: argparse.Namespace, session) -> ModelSource:
    if args.model_data:
        return ModelSource(model_data_url=str(args.model_data))
    client = session.client("sagemaker", config=CLIENT_CONFIG)
    if not (args.model_package_arn or args.latest_approved):
        raise CliError(
            "--latest-approved needs a GROUP here: this project sets no model-package-group "
            "in [tool.mlops-toolkit]"
        )
    arn = args.model_package_arn or latest_approved(client, args.latest_approved)
    return describe_package(client, arn)


def load_endpoint(
    source: ModelSource,
    session,
    work_dir: Path,
    endpoint_name: str,
    port: int = 0,
    capture_dir: Path | None = None,
) -> LocalEndpoint:
    """Fetch the artifact, load its handler and build (not start) the endpoint."""
    model_dir = fetch_model(session.client("s3", config=CLIENT_CONFIG), source, work_dir)
    handler = InferenceHandler(model_dir, source.environment)
    capture = CaptureWriter(capture_dir, endpoint_name) if capture_dir else None
    return LocalEndpoint(handler, endpoint_name, port=port, capture=capture)


def build_parser() -> argparse.ArgumentParser:
    config = load_config()
    parser = argparse.ArgumentParser(
        prog="serve-local",
        description="Serve a registered model version on 127.0.0.1 as a SageMaker endpoint would.",
    )
    add_source_arguments(parser, config, "serve")
    parser.add_argument(
        "--region",
        default=env_default("AWS_REGION", env_default("AWS_DEFAULT_REGION", config.region)),
    )
    parser.add_argument("--endpoint-name", default=config.endpoint_name)
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help="0 picks a free port (default %(default)s)"
    )
    parser.add_argument(
        "--capture-dir",
        type=Path,
        default=DEFAULT_CAPTURE_DIR,
        help="where data capture JSONL goes (default %(default)s)",
    )
    parser.add_argument("--no-capture", action="store_true", help="do not capture requests")
    return parser


def _wait_for_signal() -> None:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass


def _announce(endpoint: LocalEndpoint, source: ModelSource) -> None:
    print(f"Serving {source.model_package_arn or source.model_data_url}", flush=True)
    print(f"  endpoint {endpoint.endpoint_name} at {endpoint.url}", flush=True)
    print(f"  export AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME={endpoint.url}", flush=True)
    if endpoint.capture is not None:
        print(f"  data capture under {endpoint.capture.base}", flush=True)
    print("Ctrl-C stops it.", flush=True)


def serve(args: argparse.Namespace, session) -> int:
    """Load the model, serve it until Ctrl-C or SIGTERM, then clean up."""
    work_dir = Path(tempfile.mkdtemp(prefix="serve-local-"))
    try:
        source = resolve_source(args, session)
        capture_dir = None if args.no_capture else args.capture_dir
        endpoint = load_endpoint(
            source, session, work_dir, args.endpoint_name, args.port, capture_dir
        )
        try:
            endpoint.start()
        except OSError as error:
            raise CliError(
                f"cannot listen on {LOOPBACK}:{args.port} ({error.strerror}); "
                "pass --port 0 for a free port"
            ) from None
        _announce(endpoint, source)
        try:
            _wait_for_signal()
        finally:
            endpoint.stop()
    except LocalRunError as error:
        raise CliError(str(error)) from None
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
    return 0


def _say(text: str) -> None:
    print(text, flush=True)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    def body() -> int:
        if args.model_data:  # a local artifact needs no AWS at all
            return serve(args, boto_session(args.region))
        # Without AWS configured, the registry local-run kept in the project's local folder.
        with stand_in_unless_configured(args.region, load_config().state_dir, _say, keep=False):
            return serve(args, boto_session(args.region))

    return run_cli(body)


if __name__ == "__main__":
    sys.exit(main())
