"""local-transform: every object under a prefix scored by the artifact's own handler, written as
SageMaker writes transform outputs, with data capture (SageMaker's batch manifests) that
drift-report reads back."""

from __future__ import annotations

import json
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mlops_toolkit.endpoint.handler import InferenceHandler
from mlops_toolkit.errors import LocalRunError
from mlops_toolkit.monitoring.capture_reader import read_capture
from mlops_toolkit.transform import cli
from mlops_toolkit.transform.capture import ManifestCapture
from mlops_toolkit.transform.objects import Store
from mlops_toolkit.transform.transform import TransformSettings, run_transform

# A packed handler like the model-build artifact's: raw CSV rows in, one prediction per row out.
# It refuses a row whose first column is not F, I or M, as the real preprocessing does.
HANDLER = textwrap.dedent(
    """
    def model_fn(model_dir):
        return 10.0

    def input_fn(body, content_type):
        assert content_type == "text/csv", content_type
        rows = [line.split(",") for line in body.decode().splitlines() if line.strip()]
        for row in rows:
            if row[0] not in ("F", "I", "M"):
                raise ValueError(f"unknown sex {row[0]!r}")
        return rows

    def predict_fn(rows, model):
        return [model + sum(float(value) for value in row[1:]) for row in rows]

    def output_fn(predictions, accept):
        return "".join(f"{value}\\n" for value in predictions), "text/csv"
    """
)
NAMES = ["sex", "length", "weight"]


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "model"
    (folder / "code").mkdir(parents=True)
    (folder / "code" / "inference.py").write_text(HANDLER, encoding="utf-8")
    return folder


def _inputs(root: Path) -> Path:
    (root / "day" / "2").mkdir(parents=True)
    (root / "day" / "a.csv").write_text("F,1,2\nM,0.5,0.5\n\nI,3,4\n", encoding="utf-8")
    (root / "day" / "2" / "b.csv").write_text("M,1,1\n", encoding="utf-8")
    return root / "day"


def test_each_input_gets_an_out_file_with_one_prediction_per_line(model_dir, tmp_path):
    source = _inputs(tmp_path / "in")
    capture = ManifestCapture(tmp_path / "capture", datetime(2026, 3, 4, 5, tzinfo=UTC))
    result = run_transform(
        InferenceHandler(model_dir),
        Store(s3=None),
        str(source),
        str(tmp_path / "out"),
        TransformSettings(records_per_batch=2),
        capture,
    )
    assert result.records == 4
    assert (tmp_path / "out" / "a.csv.out").read_text() == "13.0\n11.0\n17.0\n"
    assert (tmp_path / "out" / "2" / "b.csv.out").read_text() == "12.0\n"
    # One manifest per channel, in the hour the job started, naming objects by key under the
    # prefix (objects in key order), as a transform job's DataCaptureConfig writes them.
    hour = Path("2026", "03", "04", "05")
    (inputs,) = (tmp_path / "capture" / "input" / hour).glob("*.manifest")
    (outputs,) = (tmp_path / "capture" / "output" / hour).glob("*.manifest")
    inputs, outputs = json.loads(inputs.read_text()), json.loads(outputs.read_text())
    assert inputs == [{"prefix": source.resolve().as_posix() + "/"}, "2/b.csv", "a.csv"]
    out = (tmp_path / "out").resolve().as_posix()
    assert outputs == [{"prefix": out + "/"}, "2/b.csv.out", "a.csv.out"]
    # drift-report follows the input manifest back to the rows (output manifests are skipped).
    records = read_capture(tmp_path / "capture", NAMES)
    assert records.requests == 2
    assert records.rows == [
        ["M", "1", "1"],
        ["F", "1", "2"],
        ["M", "0.5", "0.5"],
        ["I", "3", "4"],
    ]


def test_a_failed_transform_writes_no_capture(model_dir, tmp_path):
    source = tmp_path / "in"
    source.mkdir()
    (source / "bad.csv").write_text("X,1,1\n", encoding="utf-8")
    capture = ManifestCapture(tmp_path / "capture")
    with pytest.raises(LocalRunError):
        run_transform(
            InferenceHandler(model_dir),
            Store(None),
            str(source),
            str(tmp_path / "o"),
            TransformSettings(),
            capture,
        )
    assert not (tmp_path / "capture").exists()


def test_a_manifest_that_is_not_one_is_named(tmp_path):
    path = tmp_path / "input" / "x.manifest"
    path.parent.mkdir()
    path.write_text('["no-prefix.csv"]')
    with pytest.raises(LocalRunError, match=r"x\.manifest: not a batch transform capture manifest"):
        read_capture(tmp_path, NAMES)


def test_a_row_the_handler_refuses_fails_the_job_naming_the_object(model_dir, tmp_path):
    source = tmp_path / "in"
    source.mkdir()
    (source / "bad.csv").write_text("F,1,1\nX,1,1\n", encoding="utf-8")
    with pytest.raises(LocalRunError, match=r"bad\.csv mini-batch 1: .*unknown sex 'X'"):
        run_transform(
            InferenceHandler(model_dir),
            Store(None),
            str(source),
            str(tmp_path / "o"),
            TransformSettings(),
        )


def test_a_handler_answering_fewer_lines_than_records_is_refused(model_dir, tmp_path):
    short = HANDLER.replace("for value in predictions)", "for value in predictions[:1])")
    (model_dir / "code" / "inference.py").write_text(short, encoding="utf-8")
    source = _inputs(tmp_path / "in")
    with pytest.raises(LocalRunError, match="answered 1 line.* for 2 record"):
        run_transform(
            InferenceHandler(model_dir),
            Store(None),
            str(source),
            str(tmp_path / "o"),
            TransformSettings(records_per_batch=2),
        )


def test_an_empty_input_is_an_error(model_dir, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(LocalRunError, match="no objects to transform"):
        Store(None).list_inputs(str(tmp_path / "empty"))


def test_the_command_reads_and_writes_s3_prefixes(model_dir, tmp_path, account, stand_in):
    s3 = stand_in.client("s3")
    bucket = account.bucket
    s3.put_object(Bucket=bucket, Key="batch/input/", Body=b"")
    s3.put_object(Bucket=bucket, Key="batch/input/one.csv", Body=b"F,1,1\nI,2,2\n")
    s3.put_object(Bucket=bucket, Key="batch/input/more/two.csv", Body=b"M,0,0\n")
    status = cli.main(
        [
            "--model-data",
            str(model_dir),
            "--input",
            f"s3://{bucket}/batch/input/",
            "--output",
            f"s3://{bucket}/batch/output",
            "--capture-dir",
            str(tmp_path / "capture"),
            "--job-name",
            "nightly",
        ]
    )
    assert status == 0
    body = s3.get_object(Bucket=bucket, Key="batch/output/one.csv.out")["Body"].read()
    assert body == b"12.0\n14.0\n"
    body = s3.get_object(Bucket=bucket, Key="batch/output/more/two.csv.out")["Body"].read()
    assert body == b"10.0\n"
    (manifest,) = (tmp_path / "capture" / "nightly" / "input").rglob("*.manifest")
    assert json.loads(manifest.read_text()) == [
        {"prefix": f"s3://{bucket}/batch/input/"},
        "more/two.csv",
        "one.csv",
    ]
    assert read_capture(tmp_path / "capture" / "nightly", NAMES, s3).requests == 2
