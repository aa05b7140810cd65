"""Demo stages for monitoring: traffic through the local endpoint is captured as SageMaker data
capture, ``drift-report`` compares it with the approved version's data-quality baseline, and a
drift finding triggers retraining (locally: the pipeline runs again and registers a version).

Unseen categories (``sex`` not F/I/M) never reach the capture: the endpoint refuses them with a
400, as in SageMaker, so they show up as client errors rather than drift. The shifted traffic
therefore scales three weight columns by 1.3 and leaves ``sex`` empty in half the rows, which
the endpoint accepts and imputes.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import boto3
from botocore.exceptions import ClientError

from demo.project import child_env
from demo.stages import CLIENT_CONFIG, DemoContext, DemoError, Stage, run_child

BATCH_ROWS = 50
SHIFT_FACTOR = 1.3
SHIFTED_WEIGHTS = ("whole_weight", "shucked_weight", "viscera_weight")
FEATURES = (
    "sex",
    "length",
    "diameter",
    "height",
    "whole_weight",
    "shucked_weight",
    "viscera_weight",
    "shell_weight",
)
EXPECTED_DRIFT = {*SHIFTED_WEIGHTS, "sex"}
EXIT_VIOLATIONS = 3


def _held_out_rows(ctx: DemoContext) -> list[list[str]]:
    """The test split's raw features (label dropped): rows the model never trained on."""
    preprocess = next(s for s in ctx.run_summary["steps"] if "test" in s.get("outputs", {}))
    path = Path(preprocess["outputs"]["test"]["local_path"]) / "test_raw.csv"
    return [line.split(",")[1:] for line in path.read_text("utf-8").splitlines() if line]


def _shifted(rows: list[list[str]]) -> list[list[str]]:
    scaled = {FEATURES.index(name) for name in SHIFTED_WEIGHTS}
    return [
        [
            ""
            if index == 0 and number % 2 == 0
            else f"{float(value) * SHIFT_FACTOR:.4f}"
            if index in scaled
            else value
            for index, value in enumerate(row)
        ]
        for number, row in enumerate(rows)
    ]


def _capture_into(ctx: DemoContext, phase: str) -> Path:
    """Point the endpoint's data capture at a folder of its own for this phase of traffic."""
    from mlops_toolkit.endpoint.capture import CaptureWriter

    if ctx.endpoint.capture is not None:
        ctx.endpoint.capture.close()
    root = ctx.output_dir / "traffic" / phase
    ctx.endpoint.capture = CaptureWriter(root, ctx.endpoint.endpoint_name)
    return root


def _send(ctx: DemoContext, rows: list[list[str]]) -> None:
    runtime = boto3.client("sagemaker-runtime", config=CLIENT_CONFIG)
    for start in range(0, len(rows), BATCH_ROWS):
        body = "\n".join(",".join(row) for row in rows[start : start + BATCH_ROWS])
        runtime.invoke_endpoint(
            EndpointName=ctx.endpoint.endpoint_name, ContentType="text/csv", Body=body
        )
    ctx.endpoint.capture.close()


def _drift_report(ctx: DemoContext, capture: Path, phase: str):
    from mlops_toolkit.monitoring import drift

    output = ctx.output_dir / "drift" / phase
    ctx.console.file.flush()
    # The demo runs outside the project folder: name the group its pyproject.toml would give.
    group = ctx.rendered().settings["model_package_group_name"]
    code = drift.main([str(capture), "--model-package-group", group, "--output-dir", str(output)])
    violations = json.loads((output / drift.VIOLATIONS_FILE).read_text("utf-8"))["violations"]
    ctx.extras.setdefault("drift", {})[phase] = {
        "exit": code,
        "features": sorted({v["feature_name"] for v in violations}),
        "violations": len(violations),
        "html": str(output / drift.HTML_FILE),
    }
    return code, violations


def expect_no_drift(ctx: DemoContext, capture: Path, what: str) -> None:
    """drift-report on the unshifted rows' capture: no violations."""
    code, violations = _drift_report(ctx, capture, "normal")
    if code != 0 or violations:
        raise DemoError(f"drift-report found drift in {what} (exit {code})")


def expect_shifted_drift(ctx: DemoContext, capture: Path) -> None:
    """drift-report on the shifted rows' capture: violations on exactly the shifted features."""
    code, violations = _drift_report(ctx, capture, "shifted")
    found = {v["feature_name"] for v in violations}
    if code != EXIT_VIOLATIONS or found != EXPECTED_DRIFT:
        raise DemoError(
            f"expected violations on exactly {sorted(EXPECTED_DRIFT)}, drift-report exited "
            f"{code} with violations on {sorted(found)}"
        )


def normal_traffic(ctx: DemoContext) -> None:
    rows = _held_out_rows(ctx)
    capture = _capture_into(ctx, "normal")
    _send(ctx, rows)
    ctx.console.print(f"  sent {len(rows)} held-out rows; captured under {capture}")
    expect_no_drift(ctx, capture, "unshifted traffic")


def _refused_unseen_category(ctx: DemoContext, row: list[str]) -> str:
    runtime = boto3.client("sagemaker-runtime", config=CLIENT_CONFIG)
    try:
        runtime.invoke_endpoint(
            EndpointName=ctx.endpoint.endpoint_name,
            ContentType="text/csv",
            Body=",".join(["X", *row[1:]]),
        )
    except ClientError as error:
        return f"{error.response['ResponseMetadata']['HTTPStatusCode']} (not captured)"
    raise DemoError("the endpoint accepted sex=X, a category the model never saw")


def shifted_traffic(ctx: DemoContext) -> None:
    rows = _shifted(_held_out_rows(ctx))
    capture = _capture_into(ctx, "shifted")
    refused = _refused_unseen_category(ctx, rows[1])
    _send(ctx, rows)
    ctx.console.print(
        f"  sent {len(rows)} rows with {', '.join(SHIFTED_WEIGHTS)} x{SHIFT_FACTOR} and sex empty "
        f"in every other row; a row with sex=X was refused: {refused}"
    )
    expect_shifted_drift(ctx, capture)


def retrain_on_drift(ctx: DemoContext) -> None:
    """What the drift alarm's EventBridge rule does in AWS: start the pipeline (defaults)."""
    if not ctx.extras.get("drift", {}).get("shifted", {}).get("violations"):
        raise DemoError("no drift was found, so nothing triggers a retrain")
    project = ctx.rendered()
    run_dir = ctx.output_dir / "retrain-run"
    command = [sys.executable, "-m", "mlops_toolkit.runner"]
    command += ["--role-arn", ctx.role_arn, "--artifact-bucket", ctx.bucket]
    command += ["--input-data", str(ctx.input_data), "--run-dir", str(run_dir)]
    env = child_env(project)
    ctx.console.print("  drift found: the retraining trigger starts the pipeline again")
    started = time.monotonic()
    ctx.console.file.flush()
    if run_child(command, project.modelbuild, env) != 0:
        raise DemoError(f"the retraining run failed; step logs are under {run_dir / 'logs'}")
    summary = json.loads((run_dir / "run-summary.json").read_text("utf-8"))
    arn = summary.get("model_package_arn")
    if not arn or arn == ctx.run_summary.get("model_package_arn"):
        raise DemoError("the retraining run registered no new model version")
    ctx.extras["retrained"] = {"arn": arn, "seconds": time.monotonic() - started}
    ctx.console.print(f"  retrained and registered a new version: [bold]{arn}[/]", soft_wrap=True)


MONITORING_STAGES = [
    Stage("Send held-out traffic; drift-report finds no drift", normal_traffic),
    Stage("Send shifted traffic; drift-report finds the drifted features", shifted_traffic),
    Stage("Drift triggers retraining: run the pipeline, register a new version", retrain_on_drift),
]
