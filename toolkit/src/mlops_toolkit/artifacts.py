"""Move step inputs and outputs between S3 and the local workspaces.

S3 stays the record: every output is uploaded to the URI the definition gives it, so anything
that reads those URIs later (the model registry, a deploy, a person with the AWS CLI) finds real
objects. A step's inputs are copied from the local output of the step that wrote them when there
is one, which saves a download per input; anything else (the raw data) comes from S3 or, for
``--input-data``, straight from a local path. Objects the run knows a local copy of (the step code
a cached definition put back) are still listed in S3, but copied from that file wherever S3 holds
the same bytes.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from boto3.exceptions import S3UploadFailedError
from botocore.exceptions import ClientError

from mlops_toolkit.errors import StepFailed


@dataclass(frozen=True)
class S3Location:
    bucket: str
    key: str

    @classmethod
    def parse(cls, uri: str) -> S3Location:
        if not is_s3_uri(uri):
            raise ValueError(f"not an S3 URI: {uri!r}")
        bucket, _, key = uri[len("s3://") :].partition("/")
        if not bucket:
            raise ValueError(f"S3 URI without a bucket: {uri!r}")
        return cls(bucket, key)

    def child(self, relative: str) -> S3Location:
        return S3Location(self.bucket, f"{self.key.rstrip('/')}/{relative}".lstrip("/"))

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def is_s3_uri(text: str) -> bool:
    return isinstance(text, str) and text.startswith("s3://")


def relative_key(prefix: str, key: str) -> str:
    """Where an object lands under an input's local path, as SageMaker lays out S3Prefix inputs."""
    if key == prefix:
        return key.rsplit("/", 1)[-1]
    if prefix.endswith("/") or key.startswith(prefix + "/"):
        return key[len(prefix) :].lstrip("/")
    # A prefix that stops mid-name (``data/tr`` matching ``data/train/…``) keeps the last segment.
    parent = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
    return key[len(parent) :].lstrip("/")


def _copy_into(source: Path, destination: Path, name: str | None = None) -> int:
    """Copy a folder's contents, or one file (named ``name``, else its own name), into it."""
    if source.is_dir():
        shutil.copytree(source, destination, dirs_exist_ok=True)
        return sum(1 for path in source.rglob("*") if path.is_file())
    shutil.copy2(source, destination / (name or source.name))
    return 1


@dataclass(frozen=True)
class LocalObject:
    """A file, and the ETag S3 gives an object uploaded from it in one part (its MD5)."""

    path: Path
    etag: str

    @classmethod
    def of(cls, path: Path) -> LocalObject:
        return cls(path, _md5(path))

    def matches(self, listed: dict) -> bool:
        """Whether an object of a listing holds this file's bytes. An object uploaded in parts or
        encrypted with KMS has another kind of ETag: it never matches, and is transferred."""
        return listed.get("ETag", "").strip('"') == self.etag

    def copy_to(self, target: Path) -> bool:
        """Copy the file to ``target`` if it still holds the bytes it was known by (it is checked
        as it is copied: a file changed or removed since means a download instead)."""
        try:
            return _md5(self.path, copy_to=target) == self.etag
        except OSError:
            return False


def _md5(path: Path, copy_to: Path | None = None) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as source, (copy_to or Path(os.devnull)).open("wb") as copy:
        for block in iter(lambda: source.read(1 << 20), b""):
            digest.update(block)
            copy.write(block)
    return digest.hexdigest()


# Up to s3transfer's multipart threshold an object moves in one request without its transfer
# manager (a pool of threads per file, about 5 ms each time): the same single-part object, ETag
# included.
SINGLE_REQUEST_BYTES = 8 * 1024 * 1024


def put_file(s3, path: Path, bucket: str, key: str) -> None:
    if path.stat().st_size <= SINGLE_REQUEST_BYTES:
        with path.open("rb") as body:
            s3.put_object(Bucket=bucket, Key=key, Body=body)
    else:
        s3.upload_file(str(path), bucket, key)


def get_file(s3, bucket: str, key: str, target: Path, size: int) -> None:
    """Download an object whose listing gave its ``size``."""
    if size <= SINGLE_REQUEST_BYTES:
        target.write_bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    else:
        s3.download_file(bucket, key, str(target))


def _listing_prefixes(keys: Iterable[str]) -> list[str]:
    """The fewest folder prefixes that hold all of ``keys``, none inside another."""
    folders = sorted({key[: key.rfind("/") + 1] or key for key in keys})
    kept: list[str] = []
    for folder in folders:
        if not kept or not folder.startswith(kept[-1]):
            kept.append(folder)
    return kept


def _listed(s3, bucket: str, prefix: str) -> Iterator[dict]:
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        yield from page.get("Contents", [])


def put_missing(s3, objects: dict[str, LocalObject]) -> int:
    """Upload each file to its S3 URI unless S3 already holds those bytes there: a listing per
    folder instead of an upload per object. Returns how many were uploaded."""
    by_bucket: dict[str, dict[str, LocalObject]] = {}
    for uri, local in objects.items():
        location = S3Location.parse(uri)
        by_bucket.setdefault(location.bucket, {})[location.key] = local
    uploaded = 0
    for bucket, wanted in by_bucket.items():
        present = {
            item["Key"]
            for prefix in _listing_prefixes(wanted)
            for item in _listed(s3, bucket, prefix)
            if item["Key"] in wanted and wanted[item["Key"]].matches(item)
        }
        for key, local in wanted.items():
            if key not in present:
                put_file(s3, local.path, bucket, key)
                uploaded += 1
    return uploaded


def _describe(error: Exception) -> str:
    if isinstance(error, ClientError):
        details = error.response.get("Error", {})
        return f"{details.get('Code')}: {details.get('Message')}"
    return str(error)


class ArtifactStore:
    def __init__(self, s3_client, known: dict[str, LocalObject] | None = None) -> None:
        self._s3 = s3_client
        self._local: dict[str, Path] = {}
        # Steps side by side record and look up local copies at the same time.
        self._local_lock = threading.Lock()
        # Single objects (by URI) of which a local file may hold the same bytes.
        self._known = dict(known or {})

    def record(self, uri: str, local: Path) -> None:
        """Remember that ``local`` holds exactly what was uploaded to ``uri``."""
        with self._local_lock:
            self._local[uri.rstrip("/")] = local

    def local_copy(self, uri: str) -> Path | None:
        wanted = uri.rstrip("/")
        with self._local_lock:
            recorded = list(self._local.items())
        for prefix, path in recorded:
            if wanted == prefix:
                return path
            if wanted.startswith(prefix + "/") and path.is_dir():
                candidate = path / wanted[len(prefix) + 1 :]
                return candidate if candidate.exists() else None
        return None

    def stage(self, source: str, destination: Path, label: str) -> int:
        """Copy ``source`` (an S3 URI or a local path) into the directory ``destination``."""
        destination.mkdir(parents=True, exist_ok=True)
        if is_s3_uri(source):
            local = self.local_copy(source)
            if local is not None:
                # A single object lands under its key's last segment, as a download would.
                return _copy_into(local, destination, source.rstrip("/").rsplit("/", 1)[-1])
            return self._download(source, destination, label)
        return self._copy_local(source, destination, label)

    def _copy_local(self, source: str, destination: Path, label: str) -> int:
        path = Path(source.removeprefix("file://")).expanduser()
        if not path.exists():
            raise StepFailed(f"{label}: {path} does not exist")
        try:
            return _copy_into(path, destination)
        except OSError as error:
            raise StepFailed(f"{label}: cannot read {path} ({error.strerror or error})") from None

    def _download(self, uri: str, destination: Path, label: str) -> int:
        location = S3Location.parse(uri)
        try:
            items = [
                item
                for item in _listed(self._s3, location.bucket, location.key)
                if not item["Key"].endswith("/")
            ]
            if not items:
                raise StepFailed(f"{label}: no objects found at {uri}")
            for item in items:
                target = destination / relative_key(location.key, item["Key"])
                target.parent.mkdir(parents=True, exist_ok=True)
                known = self._known.get(f"s3://{location.bucket}/{item['Key']}")
                if known is None or not known.matches(item) or not known.copy_to(target):
                    get_file(self._s3, location.bucket, item["Key"], target, item["Size"])
        except ClientError as error:
            raise StepFailed(f"{label}: cannot read {uri}: {_describe(error)}") from None
        return len(items)

    def upload(self, source: Path, uri: str) -> int:
        """Upload a file, or every file under a directory, to ``uri`` (a key or a prefix)."""
        location = S3Location.parse(uri)
        files = (
            [source] if source.is_file() else sorted(p for p in source.rglob("*") if p.is_file())
        )
        try:
            for path in files:
                target = (
                    location
                    if source.is_file()
                    else location.child(path.relative_to(source).as_posix())
                )
                put_file(self._s3, path, target.bucket, target.key)
        except (ClientError, S3UploadFailedError) as error:
            raise StepFailed(f"cannot upload to {uri}: {_describe(error)}") from None
        self.record(uri, source)
        return len(files)

    def read(self, uri: str) -> bytes:
        local = self.local_copy(uri)
        if local is not None and local.is_file():
            return local.read_bytes()
        location = S3Location.parse(uri)
        try:
            return self._s3.get_object(Bucket=location.bucket, Key=location.key)["Body"].read()
        except ClientError as error:
            raise StepFailed(f"cannot read {uri}: {_describe(error)}") from None
