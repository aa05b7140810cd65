"""The objects a transform reads and writes: under a local folder or an S3 prefix.

SageMaker's ``S3DataType: S3Prefix`` input takes every object under the prefix, and writes one
``<object>.out`` per input under the output path, keeping the input's path relative to the
prefix. Both ends here accept a local folder too, so a transform needs no AWS at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from mlops_toolkit.artifacts import S3Location, is_s3_uri, relative_key
from mlops_toolkit.errors import LocalRunError

OUTPUT_SUFFIX = ".out"


@dataclass(frozen=True)
class InputObject:
    """One object to transform: its name relative to the input prefix, and where it is."""

    name: str
    location: str


class Store:
    """Reads objects under an input location and writes outputs under an output location."""

    def __init__(self, s3: Any) -> None:
        self.s3 = s3

    def list_inputs(self, source: str) -> list[InputObject]:
        objects = self._list_s3(source) if is_s3_uri(source) else self._list_local(Path(source))
        if not objects:
            raise LocalRunError(f"no objects to transform under {source}")
        return objects

    def read(self, item: InputObject) -> bytes:
        if not is_s3_uri(item.location):
            return Path(item.location).read_bytes()
        where = S3Location.parse(item.location)
        try:
            return self.s3.get_object(Bucket=where.bucket, Key=where.key)["Body"].read()
        except ClientError as error:
            raise LocalRunError(f"cannot read {item.location}: {_message(error)}") from None

    def write_output(self, destination: str, item: InputObject, body: bytes) -> str:
        """Write ``body`` as ``<destination>/<name>.out``; returns where it went."""
        name = item.name + OUTPUT_SUFFIX
        if not is_s3_uri(destination):
            path = Path(destination) / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(body)
            return str(path)
        where = S3Location.parse(destination).child(name)
        try:
            self.s3.put_object(Bucket=where.bucket, Key=where.key, Body=body)
        except ClientError as error:
            raise LocalRunError(f"cannot write {where.uri}: {_message(error)}") from None
        return where.uri

    @staticmethod
    def _list_local(folder: Path) -> list[InputObject]:
        if folder.is_file():
            return [InputObject(folder.name, str(folder))]
        if not folder.is_dir():
            raise LocalRunError(f"input {folder} does not exist")
        files = sorted(path for path in folder.rglob("*") if path.is_file())
        return [InputObject(path.relative_to(folder).as_posix(), str(path)) for path in files]

    def _list_s3(self, source: str) -> list[InputObject]:
        prefix = S3Location.parse(source)
        paginator = self.s3.get_paginator("list_objects_v2")
        objects = []
        try:
            for page in paginator.paginate(Bucket=prefix.bucket, Prefix=prefix.key):
                for entry in page.get("Contents", []):
                    key = entry["Key"]
                    # "Folder" markers the console creates hold nothing to transform.
                    if not key.endswith("/"):
                        name = relative_key(prefix.key, key)
                        objects.append(InputObject(name, f"s3://{prefix.bucket}/{key}"))
        except ClientError as error:
            raise LocalRunError(f"cannot list {source}: {_message(error)}") from None
        return sorted(objects, key=lambda item: item.name)


def _message(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Message") or error)
