"""Reuse the definition a pipeline function built, while nothing it was built from changed.

Building the template's pipeline costs about four seconds, most of it importing the SageMaker
SDK; the definition it returns depends only on the code and the inputs it is given. The cache key
is a digest of: the pipeline's package files (every file of the package its module belongs to,
the step code it uploads included), the SageMaker SDK, toolkit and Python versions, and the build
inputs (role, bucket, region, pipeline name, git commit). An entry keeps the definition and a
copy of every object the build uploaded to S3 (recorded from the session's ``PutObject`` and
``CreateMultipartUpload`` calls); a hit uploads again, from these local files, those S3 does not
hold as they are, so the run finds its code wherever it runs, and its steps copy their code from
these files instead of downloading it. A process that has imported the pipeline's module
already builds anew (its code may have been changed in memory). A pipeline function that also
reads something outside its package (environment variables, other files) should run with
``--no-definition-cache``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import platform
import shutil
import sys
import tempfile
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from mlops_toolkit.artifacts import LocalObject, put_missing
from mlops_toolkit.aws import client
from mlops_toolkit.runner.pipeline_source import BuiltPipeline

FORMAT = 1
KEEP_ENTRIES = 8
_UPLOAD_CALLS = ("PutObject", "CreateMultipartUpload")
_SKIPPED_PARTS = frozenset({"__pycache__", ".pytest_cache", ".ruff_cache"})


def _installed(distribution: str) -> str:
    try:
        return version(distribution)
    except PackageNotFoundError:
        return "not installed"


def package_files(module_name: str) -> list[Path] | None:
    """Every file of the top-level package ``module_name`` lives in (None: cannot tell)."""
    try:
        spec = importlib.util.find_spec(module_name.split(".")[0])
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    if spec.submodule_search_locations:
        roots = [Path(location) for location in spec.submodule_search_locations]
        return sorted(
            path
            for root in roots
            for path in root.rglob("*")
            if path.is_file()
            and not _SKIPPED_PARTS.intersection(path.relative_to(root).parts)
            and path.suffix != ".pyc"
        )
    return [Path(spec.origin)] if spec.origin and Path(spec.origin).is_file() else None


def cache_key(reference: str, build_inputs: dict[str, Any]) -> str | None:
    """None where the files cannot vouch for the code: no package files found, or the module is
    already imported in this process (it may have been changed in memory since, as tests do)."""
    module_name = reference.partition(":")[0]
    if module_name in sys.modules:
        return None
    files = package_files(module_name)
    if not files:
        return None
    digest = hashlib.sha256()
    identity = {
        "format": FORMAT,
        "reference": reference,
        "inputs": build_inputs,
        "sagemaker": _installed("sagemaker"),
        "toolkit": _installed("mlops-template-toolkit"),
        "python": platform.python_version(),
    }
    digest.update(json.dumps(identity, sort_keys=True, default=str).encode("utf-8"))
    for path in files:
        digest.update(str(path).encode("utf-8") + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:32]


class UploadRecorder:
    """Notes the bucket and key of every upload made through a boto3 session's clients."""

    def __init__(self, session) -> None:
        self.session = session
        self.objects: list[tuple[str, str]] = []

    def _record(self, params: dict[str, Any], **_: Any) -> None:
        self.objects.append((params["Bucket"], params["Key"]))

    def __enter__(self) -> UploadRecorder:
        for call in _UPLOAD_CALLS:
            self.session.events.register(f"before-parameter-build.s3.{call}", self._record)
        return self

    def __exit__(self, *exc_info: object) -> None:
        for call in _UPLOAD_CALLS:
            self.session.events.unregister(f"before-parameter-build.s3.{call}", self._record)


class DefinitionCache:
    def __init__(self, root: Path) -> None:
        self.root = root

    def load(self, key: str, session) -> BuiltPipeline | None:
        """The cached build, with its uploads put back where S3 lacks them; None on a miss."""
        entry = self.root / key
        try:
            index = json.loads((entry / "entry.json").read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            return None
        uploads = _copies(entry, index["objects"])
        put_missing(client(session, "s3"), uploads)
        (entry / "entry.json").touch()
        return BuiltPipeline(index["name"], index["definition"], uploads)

    def store(self, key: str, built: BuiltPipeline, objects, session) -> BuiltPipeline:
        """Keep the build and a copy of ``objects``; returns it with those copies as its uploads."""
        self.root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=self.root))
        s3 = client(session, "s3")
        unique = list(dict.fromkeys(objects))
        (staging / "objects").mkdir()
        for number, (bucket, object_key) in enumerate(unique):
            s3.download_file(bucket, object_key, str(staging / "objects" / str(number)))
        index = {"name": built.name, "definition": built.definition, "objects": unique}
        (staging / "entry.json").write_text(json.dumps(index), encoding="utf-8")
        target = self.root / key
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
        self._prune()
        return BuiltPipeline(built.name, built.definition, _copies(target, unique))

    def _prune(self) -> None:
        entries = sorted(
            (path for path in self.root.iterdir() if (path / "entry.json").is_file()),
            key=lambda path: (path / "entry.json").stat().st_mtime,
            reverse=True,
        )
        for stale in entries[KEEP_ENTRIES:]:
            shutil.rmtree(stale, ignore_errors=True)


def _copies(entry: Path, objects: list) -> dict[str, LocalObject]:
    return {
        f"s3://{bucket}/{key}": LocalObject.of(entry / "objects" / str(number))
        for number, (bucket, key) in enumerate(objects)
    }


def cached_build(
    cache: DefinitionCache,
    reference: str,
    build_inputs: dict[str, Any],
    session,
    build: Callable[[], BuiltPipeline],
) -> BuiltPipeline:
    key = cache_key(reference, build_inputs)
    if key is None:
        return build()
    hit = cache.load(key, session)
    if hit is not None:
        return hit
    with UploadRecorder(session) as recorder:
        built = build()
    # A build that uploaded nothing we saw may have used a client of its own: not safe to reuse.
    if recorder.objects:
        return cache.store(key, built, recorder.objects, session)
    return built
