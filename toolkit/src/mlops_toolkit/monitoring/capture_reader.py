"""Read SageMaker data-capture files (JSON Lines) back into a table of request rows.

A capture file holds one JSON object per line; ``captureData.endpointInput`` carries the request
body as text (``encoding`` ``CSV`` or ``JSON``) or as base64 (``BASE64``). Each line of a CSV body
is one record, matched to the baseline's features by position, as Model Monitor matches headerless
captured CSV. JSON bodies take the shapes the inference handler accepts: ``{"instances": [...]}``
or a list, of rows (lists, by position) or objects (by feature name). Problems name the file and
the line, because a capture tree holds many files.

A batch transform's capture is different (``transform/capture.py``): manifests under ``input/``
that name the objects the job read. Those are followed back to the objects, each line of which is
one CSV record; ``output/`` manifests name predictions, which data quality does not look at.
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from mlops_toolkit.artifacts import S3Location, is_s3_uri
from mlops_toolkit.errors import LocalRunError
from mlops_toolkit.monitoring.drift_check import Shape
from mlops_toolkit.monitoring.monitor_stats import Table

CSV_MEDIA_TYPE = "text/csv"
JSON_MEDIA_TYPE = "application/json"
JSON_SHAPES = '{"instances": [...]} or a list of rows'
Row = list[str | None]
MANIFEST_SUFFIX = ".manifest"


class CaptureError(LocalRunError):
    """A capture file is missing, unreadable or not in SageMaker's data-capture layout."""


@dataclass
class Records:
    rows: list[Row] = field(default_factory=list)
    requests: int = 0
    files: int = 0


def capture_files(path: Path) -> list[Path]:
    if not path.exists():
        raise CaptureError(f"{path} does not exist; give a capture file or the folder holding them")
    if path.is_file():
        return [path]
    files = sorted(p for p in path.rglob("*.jsonl") if p.is_file())
    files += sorted(
        p
        for p in path.rglob(f"*{MANIFEST_SUFFIX}")
        if p.is_file() and "input" in p.relative_to(path).parts
    )
    if not files:
        raise CaptureError(
            f"no data-capture files under {path}: an endpoint writes *.jsonl under "
            "<endpoint>/<variant>/yyyy/mm/dd/hh/ once it has served requests with capture on; a "
            "batch transform writes *.manifest under input/yyyy/mm/dd/hh/"
        )
    return files


def _endpoint_input(line: str, where: str) -> dict:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as error:
        raise CaptureError(f"{where}: not a JSON object ({error.msg})") from None
    captured = record.get("captureData") if isinstance(record, dict) else None
    request = captured.get("endpointInput") if isinstance(captured, dict) else None
    if not isinstance(request, dict) or not isinstance(request.get("data"), str):
        raise CaptureError(
            f"{where}: no captureData.endpointInput.data; this is not a SageMaker data-capture "
            "record (or the endpoint captured only its output)"
        )
    return request


def _media_type(request: dict, where: str) -> str:
    media = str(request.get("observedContentType", "")).split(";", 1)[0].strip().lower()
    if media not in (CSV_MEDIA_TYPE, JSON_MEDIA_TYPE):
        raise CaptureError(
            f"{where}: the request was {media or 'of no content type'}; drift-report reads "
            f"{CSV_MEDIA_TYPE} and {JSON_MEDIA_TYPE} requests"
        )
    return media


def _request_text(request: dict, where: str) -> str:
    encoding = request.get("encoding", "CSV")
    if encoding in ("CSV", "JSON"):
        return request["data"]
    if encoding != "BASE64":
        raise CaptureError(f"{where}: unknown encoding {encoding!r} (expected CSV, JSON, BASE64)")
    try:
        return base64.b64decode(request["data"], validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as error:
        raise CaptureError(f"{where}: the BASE64 data is not UTF-8 text ({error})") from None


def _cell(value: object) -> str | None:
    return None if value is None else str(value)


def _json_row(instance: object, names: list[str], where: str) -> Row:
    if isinstance(instance, list):
        return [_cell(value) for value in instance]
    if isinstance(instance, dict):
        unknown = [key for key in instance if key not in names]
        return [_cell(instance.get(name)) for name in names] + [
            _cell(instance[key]) for key in unknown
        ]
    raise CaptureError(f"{where}: a JSON request row must be a list or an object")


def json_rows(text: str, names: list[str], where: str) -> list[Row]:
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as error:
        raise CaptureError(
            f"{where}: the captured JSON request is not valid ({error.msg})"
        ) from None
    instances = payload.get("instances") if isinstance(payload, dict) else payload
    if not isinstance(instances, list):
        raise CaptureError(f"{where}: a JSON request must be {JSON_SHAPES}")
    return [_json_row(instance, names, where) for instance in instances]


def request_rows(request: dict, names: list[str], where: str) -> list[Row]:
    media = _media_type(request, where)
    text = _request_text(request, where)
    if media == JSON_MEDIA_TYPE:
        return json_rows(text, names, where)
    return [list(row) for row in csv.reader(io.StringIO(text)) if row]


def read_file(path: Path, names: list[str], records: Records) -> None:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise CaptureError(f"cannot read {path}: {error}") from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path}, line {number}"
        records.rows += request_rows(_endpoint_input(line, where), names, where)
        records.requests += 1
    records.files += 1


def manifest_locations(path: Path) -> list[str]:
    """The object locations a batch capture manifest names (prefix + each relative key)."""
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CaptureError(f"cannot read the manifest {path}: {error}") from None
    head = body[0] if isinstance(body, list) and body else None
    prefix = head.get("prefix") if isinstance(head, dict) else None
    keys = body[1:] if isinstance(prefix, str) else None
    if keys is None or not all(isinstance(key, str) for key in keys):
        raise CaptureError(
            f'{path}: not a batch transform capture manifest ([{{"prefix": "s3://…/"}}, "key", …])'
        )
    return [prefix + key for key in keys]


def _object_text(location: str, s3: Any) -> str:
    try:
        if not is_s3_uri(location):
            return Path(location).read_text(encoding="utf-8")
        where = S3Location.parse(location)
        client = s3 or boto3.client("s3")
        return client.get_object(Bucket=where.bucket, Key=where.key)["Body"].read().decode()
    except (OSError, UnicodeDecodeError, ClientError, BotoCoreError) as error:
        raise CaptureError(
            f"cannot read {location}, which a capture manifest names (the transform's input "
            f"must stay where it was for drift to be measured): {error}"
        ) from None


def read_manifest(path: Path, records: Records, s3: Any = None) -> None:
    for location in manifest_locations(path):
        text = _object_text(location, s3)
        records.rows += [list(row) for row in csv.reader(io.StringIO(text)) if row]
        records.requests += 1
    records.files += 1


def read_capture(path: Path, names: list[str], s3: Any = None) -> Records:
    """Every request row under ``path``; ``names`` are the baseline's features, in order."""
    records = Records()
    for file in capture_files(path):
        if file.suffix == MANIFEST_SUFFIX:
            read_manifest(file, records, s3)
        else:
            read_file(file, names, records)
    if not records.rows:
        raise CaptureError(f"the capture under {path} holds no request rows")
    return records


def to_table(rows: list[Row], names: list[str]) -> tuple[Table, Shape]:
    """Cells by position; a short record has no value for the features it lacks."""
    columns: list[list[str | None]] = [
        [row[index] if index < len(row) else None for row in rows] for index in range(len(names))
    ]
    return Table(list(names), columns), Shape(dict(Counter(len(row) for row in rows)))
