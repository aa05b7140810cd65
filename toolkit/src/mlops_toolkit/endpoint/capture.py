"""Write SageMaker data capture records for a local endpoint.

Same layout and record shape as an endpoint with DataCaptureConfig writes to S3, under a local
folder instead: ``<root>/<endpoint>/<variant>/yyyy/mm/dd/hh/<file>.jsonl``, one JSON object per
line with ``captureData.endpointInput``/``endpointOutput`` and ``eventMetadata``. Model monitoring
code can read these files as it would read the captured S3 objects.
"""

from __future__ import annotations

import base64
import json
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

DEFAULT_VARIANT = "AllTraffic"
EVENT_VERSION = "0"
_TEXT_ENCODINGS = {"text/csv": "CSV", "application/json": "JSON"}


def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def encode_payload(data: bytes, content_type: str | None, mode: str) -> dict[str, str]:
    """CSV and JSON are captured as text; anything else as base64, as SageMaker does."""
    encoding = _TEXT_ENCODINGS.get(_media_type(content_type))
    text: str | None = None
    if encoding is not None:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            encoding = None
    if encoding is None or text is None:
        encoding, text = "BASE64", base64.b64encode(data).decode("ascii")
    return {
        "observedContentType": content_type or "",
        "mode": mode,
        "data": text,
        "encoding": encoding,
    }


@dataclass(frozen=True)
class Exchange:
    request: bytes
    request_type: str | None
    response: bytes
    response_type: str
    inference_id: str | None = None


def capture_record(exchange: Exchange, when: datetime) -> dict[str, Any]:
    metadata: dict[str, str] = {
        "eventId": str(uuid.uuid4()),
        "inferenceTime": when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z",
    }
    if exchange.inference_id:
        metadata["inferenceId"] = exchange.inference_id
    return {
        "captureData": {
            "endpointInput": encode_payload(exchange.request, exchange.request_type, "INPUT"),
            "endpointOutput": encode_payload(exchange.response, exchange.response_type, "OUTPUT"),
        },
        "eventMetadata": metadata,
        "eventVersion": EVENT_VERSION,
    }


class CaptureWriter:
    """Appends records to one file per hour, as SageMaker partitions captured data."""

    def __init__(self, root: Path, endpoint_name: str, variant: str = DEFAULT_VARIANT) -> None:
        self.base = root / endpoint_name / variant
        self._lock = threading.Lock()
        self._hour: str | None = None
        self._handle: IO[str] | None = None
        self.files: list[Path] = []

    def _file_for(self, when: datetime) -> IO[str]:
        hour = when.strftime("%Y/%m/%d/%H")
        if hour != self._hour or self._handle is None:
            self._close_handle()
            name = f"{when:%M-%S}-{when.microsecond // 1000:03d}-{uuid.uuid4()}.jsonl"
            path = self.base / hour / name
            path.parent.mkdir(parents=True, exist_ok=True)
            self._handle, self._hour = path.open("a", encoding="utf-8"), hour
            self.files.append(path)
        return self._handle

    def write(self, exchange: Exchange) -> None:
        when = datetime.now(UTC)
        line = json.dumps(capture_record(exchange, when))
        with self._lock:
            handle = self._file_for(when)
            handle.write(line + "\n")
            # Flushed per record: a monitoring job may read the file while the endpoint serves.
            handle.flush()

    def close(self) -> None:
        with self._lock:
            self._close_handle()

    def _close_handle(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
