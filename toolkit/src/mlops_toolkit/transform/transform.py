"""Score every input object with the model's own inference handler, as a transform job does.

With ``SplitType: Line`` and ``BatchStrategy: MultiRecord`` SageMaker splits each object into
lines, packs them into mini-batches (one request each to the serving container), and with
``AssembleWith: Line`` joins the answers into ``<object>.out`` with one prediction per line, in
input order. The handler is the artifact's packed ``code/inference.py``: it receives raw rows and
preprocesses them itself, exactly as behind an endpoint. With data capture on, the transform
writes SageMaker's batch capture manifests (see ``capture.py``), which ``drift-report`` reads.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from mlops_toolkit.artifacts import is_s3_uri
from mlops_toolkit.endpoint.handler import InferenceHandler
from mlops_toolkit.errors import LocalRunError
from mlops_toolkit.transform.capture import ManifestCapture
from mlops_toolkit.transform.objects import OUTPUT_SUFFIX, InputObject, Store

DEFAULT_RECORDS_PER_BATCH = 100


@dataclass(frozen=True)
class TransformSettings:
    """The transform job's request settings that change what the handler sees."""

    content_type: str = "text/csv"
    accept: str = "text/csv"
    records_per_batch: int = DEFAULT_RECORDS_PER_BATCH


@dataclass
class TransformResult:
    """What a transform wrote: one output per input, and how many records it scored."""

    outputs: list[str] = field(default_factory=list)
    records: int = 0
    capture_files: list[str] = field(default_factory=list)


def _lines(body: bytes) -> list[bytes]:
    # SplitType Line: one record per line; blank lines carry no record.
    return [line for line in body.splitlines() if line.strip()]


def mini_batches(records: list[bytes], size: int) -> Iterator[list[bytes]]:
    if size < 1:
        raise LocalRunError(f"records per mini-batch must be at least 1, got {size}")
    for start in range(0, len(records), size):
        yield records[start : start + size]


def _answer_lines(payload: bytes, expected: int, where: str) -> list[bytes]:
    answers = _lines(payload)
    if len(answers) != expected:
        raise LocalRunError(
            f"{where}: the handler answered {len(answers)} line(s) for {expected} record(s); "
            "AssembleWith Line needs one prediction per input line"
        )
    return answers


def transform_object(
    handler: InferenceHandler,
    body: bytes,
    settings: TransformSettings,
    where: str,
) -> tuple[bytes, int]:
    """The ``.out`` body for one input object, and the number of records scored."""
    records = _lines(body)
    assembled: list[bytes] = []
    for number, batch in enumerate(mini_batches(records, settings.records_per_batch), 1):
        request = b"\n".join(batch) + b"\n"
        label = f"{where} mini-batch {number}"
        try:
            payload, _media = handler.invoke(request, settings.content_type, settings.accept)
        except Exception as error:  # noqa: BLE001 - any handler failure fails the job, named
            raise LocalRunError(f"{label}: the inference handler failed ({error})") from None
        assembled += _answer_lines(payload, len(batch), label)
    output = b"\n".join(assembled) + (b"\n" if assembled else b"")
    return output, len(records)


def _prefix(location: str, name: str) -> str:
    """The prefix a manifest names: ``location`` less ``name``; absolute for a local folder, so
    the manifest can be read from anywhere."""
    prefix = location[: len(location) - len(name)]
    if is_s3_uri(prefix):
        return prefix
    return Path(prefix or ".").resolve().as_posix() + "/"


def run_transform(
    handler: InferenceHandler,
    store: Store,
    source: str,
    destination: str,
    settings: TransformSettings,
    capture: ManifestCapture | None = None,
) -> TransformResult:
    """Transform every object under ``source`` into ``destination``; stops at the first error,
    as a transform job fails (partial outputs stay, as SageMaker leaves them). Capture manifests
    name what was read and written, so a failed job leaves none."""
    result = TransformResult()
    inputs: list[InputObject] = store.list_inputs(source)
    for item in inputs:
        body, count = transform_object(handler, store.read(item), settings, item.location)
        result.outputs.append(store.write_output(destination, item, body))
        result.records += count
    if capture is not None:
        names = [item.name for item in inputs]
        capture.write("input", _prefix(inputs[0].location, names[0]), names)
        outputs = [name + OUTPUT_SUFFIX for name in names]
        capture.write("output", _prefix(result.outputs[0], outputs[0]), outputs)
        result.capture_files = [str(path) for path in capture.files]
    return result
