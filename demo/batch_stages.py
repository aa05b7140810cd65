"""Demo stages for ``make demo DEPLOYMENT=batch``: the approved version scores S3 prefixes as a
SageMaker batch transform does (``mlops_toolkit.transform``: the packed handler, one ``.out`` per
input object, capture manifests), ``drift-report`` reads the transform's capture, and drift on
the shifted prefix triggers retraining, as the batch drift alarm's rule does in AWS.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from demo.monitoring_stages import (
    SHIFT_FACTOR,
    SHIFTED_WEIGHTS,
    _held_out_rows,
    _shifted,
    expect_no_drift,
    expect_shifted_drift,
    retrain_on_drift,
)
from demo.stages import CLIENT_CONFIG, DemoContext, DemoError, Stage

# Rows per input object: a prefix of several objects, as a day's batch often is.
ROWS_PER_OBJECT = 100


def _upload_inputs(ctx: DemoContext, phase: str, rows: list[list[str]]) -> str:
    """Put ``rows`` under the stand-in bucket as a few CSV objects; returns the input prefix."""
    s3 = ctx.aws.client("s3")
    prefix = f"{ctx.rendered().settings['project_slug']}/batch/{phase}"
    for number, start in enumerate(range(0, len(rows), ROWS_PER_OBJECT)):
        chunk = rows[start : start + ROWS_PER_OBJECT]
        body = "".join(",".join(row) + "\n" for row in chunk)
        s3.put_object(Bucket=ctx.bucket, Key=f"{prefix}/input/part-{number:03d}.csv", Body=body)
    return f"s3://{ctx.bucket}/{prefix}"


def _transform(ctx: DemoContext, phase: str, rows: list[list[str]]) -> Path:
    """Run the newest Approved version over the phase's input prefix; returns the capture."""
    from mlops_toolkit.endpoint.handler import InferenceHandler
    from mlops_toolkit.endpoint.model_source import describe_package, fetch_model, latest_approved
    from mlops_toolkit.errors import LocalRunError
    from mlops_toolkit.transform.capture import ManifestCapture
    from mlops_toolkit.transform.objects import Store
    from mlops_toolkit.transform.transform import TransformSettings, run_transform

    client = ctx.aws.client("sagemaker")
    group = ctx.rendered().settings["model_package_group_name"]
    source = describe_package(client, latest_approved(client, group))
    prefix = _upload_inputs(ctx, phase, rows)
    capture_dir = ctx.output_dir / "batch-capture" / phase
    work_dir = Path(tempfile.mkdtemp(prefix="demo-transform-", dir=ctx.output_dir))
    s3 = ctx.aws.session().client("s3", config=CLIENT_CONFIG)
    try:
        handler = InferenceHandler(fetch_model(s3, source, work_dir), source.environment)
        result = run_transform(
            handler,
            Store(s3),
            f"{prefix}/input/",
            f"{prefix}/output/",
            TransformSettings(),
            ManifestCapture(capture_dir),
        )
    except LocalRunError as error:
        raise DemoError(f"the {phase} batch transform failed: {error}") from None
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
    _check_outputs(ctx, result.outputs, len(rows))
    ctx.extras.setdefault("batch", {})[phase] = {"outputs": result.outputs, "rows": len(rows)}
    ctx.console.print(
        f"  transformed {result.records} rows from {prefix}/input/ into "
        f"{len(result.outputs)} .out objects under {prefix}/output/; capture manifests under "
        f"{capture_dir}",
        soft_wrap=True,
    )
    return capture_dir


def _check_outputs(ctx: DemoContext, outputs: list[str], expected: int) -> None:
    """Every input row got one numeric prediction, in its object's .out."""
    s3 = ctx.aws.client("s3")
    predictions: list[float] = []
    for uri in outputs:
        key = uri.removeprefix(f"s3://{ctx.bucket}/")
        body = s3.get_object(Bucket=ctx.bucket, Key=key)["Body"].read().decode()
        try:
            predictions += [float(line) for line in body.splitlines()]
        except ValueError as error:
            raise DemoError(f"{uri} holds a line that is not a prediction: {error}") from None
    if len(predictions) != expected:
        raise DemoError(f"sent {expected} rows, the .out objects hold {len(predictions)} lines")


def normal_batch(ctx: DemoContext) -> None:
    capture = _transform(ctx, "normal", _held_out_rows(ctx))
    expect_no_drift(ctx, capture, "the unshifted batch")


def shifted_batch(ctx: DemoContext) -> None:
    rows = _shifted(_held_out_rows(ctx))
    capture = _transform(ctx, "shifted", rows)
    ctx.console.print(
        f"  the shifted batch has {', '.join(SHIFTED_WEIGHTS)} x{SHIFT_FACTOR} and sex empty in "
        "every other row"
    )
    expect_shifted_drift(ctx, capture)


BATCH_STAGES = [
    Stage("Batch transform of held-out rows; drift-report finds no drift", normal_batch),
    Stage("Batch transform of shifted rows; drift-report finds the drift", shifted_batch),
    Stage("Drift triggers retraining: run the pipeline, register a new version", retrain_on_drift),
]
