"""The demo's stages, in order. Each takes the shared context, does one thing, and raises
DemoError with a message for a person when it cannot. Later stages (deploy, bootstrap,
monitoring) append themselves to STAGES."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError
from rich.console import Console

from demo.project import RenderedProject, child_env, import_generated, render

SAMPLE_ROWS = 5
CHILD_STOP_SECONDS = 10
ENDPOINT_NAME_SUFFIX = "-local"
# A model package group's first run has no approved data-quality baseline to check against yet.
FIRST_RUN_PARAMETERS = [
    *("--param", "SkipDataQualityCheck=true"),
    *("--param", "RegisterNewDataQualityBaseline=true"),
]
# Few quick attempts: everything here talks to loopback servers.
CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 2})


class DemoError(Exception):
    """A stage cannot go on; the message says what is wrong and what to do."""


@dataclass
class Prediction:
    features: list[str]
    true_rings: float
    predicted: float


@dataclass
class DemoContext:
    output_dir: Path
    input_data: Path
    console: Console
    cleanup: ExitStack
    framework: str = "xgboost"
    deployment: str = "realtime"
    project: RenderedProject | None = None
    aws: Any = None  # mlops_toolkit.stand_in.EmbeddedAws
    role_arn: str = ""
    bucket: str = ""
    run_summary: dict[str, Any] = field(default_factory=dict)
    run_seconds: float = 0.0
    endpoint: Any = None  # mlops_toolkit.endpoint.endpoint.LocalEndpoint
    predictions: list[Prediction] = field(default_factory=list)
    rejected_payload: str = ""
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def run_dir(self) -> Path:
        return self.output_dir / "run"

    def rendered(self) -> RenderedProject:
        if self.project is None:
            raise DemoError("the template has not been rendered yet")
        return self.project


def check_sample_data(ctx: DemoContext) -> None:
    if not ctx.input_data.is_file():
        raise DemoError(
            f"sample data not found at {ctx.input_data}. The demo runs on the UCI Abalone CSV "
            "(headerless, 9 columns); put it there or pass --input-data PATH."
        )


def render_project(ctx: DemoContext) -> None:
    ctx.project = render(ctx.output_dir, framework=ctx.framework, deployment=ctx.deployment)
    import_generated(ctx.project)
    ctx.console.print(
        f"  rendered {ctx.project.root} (framework: {ctx.framework}, deployment: {ctx.deployment})",
        soft_wrap=True,
    )


def start_stand_in(ctx: DemoContext) -> None:
    from mlops_toolkit.stand_in import EmbeddedAws

    settings = ctx.rendered().settings
    slug = settings["project_slug"]
    aws = EmbeddedAws(
        settings["aws_region"], f"{slug}-demo-artifacts", f"{slug}-sagemaker-execution"
    )
    aws.start()
    ctx.cleanup.callback(aws.stop)
    ctx.aws = aws
    provisioned = aws.provision()
    ctx.role_arn, ctx.bucket = provisioned.role_arn, provisioned.bucket
    ctx.console.print(f"  moto server at {aws.endpoint_url}, bucket {ctx.bucket}", soft_wrap=True)
    ctx.console.print(f"  execution role {ctx.role_arn}", soft_wrap=True)


def run_child(command: list[str], cwd: Path, env: dict[str, str]) -> int:
    """Run a child to completion; on Ctrl-C ask it to stop (so it stops its own step script),
    then make sure it has. Its stderr joins the demo's stdout, so a saved log reads in order."""
    child = subprocess.Popen(command, cwd=cwd, env=env, stderr=subprocess.STDOUT)
    try:
        return child.wait()
    except KeyboardInterrupt:
        child.send_signal(signal.SIGINT)
        try:
            child.wait(timeout=CHILD_STOP_SECONDS)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        raise


def run_pipeline_locally(ctx: DemoContext) -> None:
    project = ctx.rendered()
    command = [sys.executable, "-m", "mlops_toolkit.runner"]
    command += ["--role-arn", ctx.role_arn, "--artifact-bucket", ctx.bucket]
    command += ["--input-data", str(ctx.input_data), "--run-dir", str(ctx.run_dir)]
    command += FIRST_RUN_PARAMETERS
    env = child_env(project)
    started = time.monotonic()
    ctx.console.file.flush()
    # The stand-in's endpoint and fake credentials are in os.environ, so the child uses them.
    returncode = run_child(command, project.modelbuild, env)
    ctx.run_seconds = time.monotonic() - started
    summary_file = ctx.run_dir / "run-summary.json"
    if summary_file.is_file():
        ctx.run_summary = json.loads(summary_file.read_text("utf-8"))
    if returncode != 0:
        raise DemoError(
            f"local-run exited with {returncode}; its output is above and each step's "
            f"log is under {ctx.run_dir / 'logs'}"
        )
    if not ctx.run_summary.get("model_package_arn"):
        raise DemoError("the local run succeeded but registered no model version")


def approve_model(ctx: DemoContext) -> None:
    client = ctx.aws.client("sagemaker")
    arn = ctx.run_summary["model_package_arn"]
    client.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Approved")
    status = client.describe_model_package(ModelPackageName=arn)["ModelApprovalStatus"]
    ctx.console.print(f"  {arn} is now {status}", soft_wrap=True)


def serve_locally(ctx: DemoContext) -> None:
    from mlops_toolkit.endpoint.endpoint import load_endpoint
    from mlops_toolkit.endpoint.model_source import describe_package, latest_approved

    settings = ctx.rendered().settings
    client = ctx.aws.client("sagemaker")
    # Served the way a deploy picks its model: the newest Approved version of the group.
    source = describe_package(client, latest_approved(client, settings["model_package_group_name"]))
    endpoint = load_endpoint(
        source,
        ctx.aws.session(),
        ctx.output_dir / "endpoint",
        settings["project_slug"] + ENDPOINT_NAME_SUFFIX,
        capture_dir=ctx.output_dir / "data-capture",
    )
    endpoint.start()
    ctx.cleanup.callback(endpoint.stop)
    ctx.endpoint = endpoint
    os.environ["AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME"] = endpoint.url
    ctx.console.print(f"  endpoint {endpoint.endpoint_name} at {endpoint.url}")


def _test_rows(ctx: DemoContext) -> list[list[str]]:
    preprocess = next(s for s in ctx.run_summary["steps"] if "test" in s.get("outputs", {}))
    path = Path(preprocess["outputs"]["test"]["local_path"]) / "test_raw.csv"
    return [line.split(",") for line in path.read_text("utf-8").splitlines()[:SAMPLE_ROWS]]


def invoke_endpoint(ctx: DemoContext) -> None:
    """Plain boto3, pointed at the local endpoint only by AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME."""
    rows = _test_rows(ctx)
    runtime = boto3.client("sagemaker-runtime", config=CLIENT_CONFIG)
    reply = runtime.invoke_endpoint(
        EndpointName=ctx.endpoint.endpoint_name,
        ContentType="text/csv",
        Accept="text/csv",
        Body="\n".join(",".join(row[1:]) for row in rows),
    )
    predicted = [float(line) for line in reply["Body"].read().decode().splitlines()]
    if len(predicted) != len(rows):
        raise DemoError(f"sent {len(rows)} rows, got {len(predicted)} predictions back")
    ctx.predictions = [
        Prediction(row[1:], float(row[0]), value)
        for row, value in zip(rows, predicted, strict=True)
    ]
    try:
        runtime.invoke_endpoint(
            EndpointName=ctx.endpoint.endpoint_name, ContentType="text/csv", Body="M,0.5,0.4"
        )
    except ClientError as error:
        status = error.response["ResponseMetadata"]["HTTPStatusCode"]
        ctx.rejected_payload = f"{status} {error.response['Error']['Message']}"
    else:
        raise DemoError("the endpoint accepted a row with 3 values instead of 8")


@dataclass(frozen=True)
class Stage:
    title: str
    run: Callable[[DemoContext], None]


SETUP_STAGES: list[Stage] = [
    Stage("Check the sample data", check_sample_data),
    Stage("Render the template (defaults, the chosen framework)", render_project),
    Stage("Start the embedded AWS stand-in", start_stand_in),
]

STAGES: list[Stage] = [
    Stage("Run the pipeline locally (local-run)", run_pipeline_locally),
    Stage("Approve the registered model version", approve_model),
    Stage("Serve the newest approved version locally", serve_locally),
    Stage("Invoke it with rows of the test split", invoke_endpoint),
]
