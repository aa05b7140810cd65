"""serve-local: a registered model version answers boto3's sagemaker-runtime on loopback.

One local pipeline run (synthetic data) registers a model in a moto server; the tests approve
it, serve the newest approved version and call it with plain boto3 ``invoke_endpoint``.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import boto3
import model_io
import numpy as np
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from conftest import synthetic_abalone, write_csv
from mlops_toolkit.endpoint import endpoint
from mlops_toolkit.endpoint.endpoint import LocalEndpoint, load_endpoint
from mlops_toolkit.endpoint.handler import InferenceHandler
from mlops_toolkit.endpoint.model_source import describe_package, latest_approved
from mlops_toolkit.errors import LocalRunError
from mlops_toolkit.runner import cli
from mlops_toolkit.stand_in import EmbeddedAws
from model_step import LOCAL_RUN_LIMITS, MODEL_STEP

import modelbuild
from modelbuild.settings import load_settings

REGION = "us-east-1"
ENDPOINT_NAME = "abalone-local-test"
SRC_DIR = Path(modelbuild.__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def stand_in() -> Iterator[EmbeddedAws]:
    with EmbeddedAws(REGION, "local-endpoint-tests", "local-endpoint-tests-role") as aws:
        yield aws


@pytest.fixture(scope="module")
def run_summary(stand_in: EmbeddedAws, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A local run that registered a model (pending approval), then approved as a person would."""
    account = stand_in.provision()
    work = tmp_path_factory.mktemp("registered")
    data = write_csv(work / "abalone.csv", synthetic_abalone())
    run_dir = work / "run"
    arguments = ["--role-arn", account.role_arn, "--artifact-bucket", account.bucket]
    first_run = [
        "--param",
        "SkipDataQualityCheck=true",
        "--param",
        "RegisterNewDataQualityBaseline=true",
        *LOCAL_RUN_LIMITS,
    ]
    assert (
        cli.main([*arguments, *first_run, "--input-data", str(data), "--run-dir", str(run_dir)])
        == 0
    )
    summary = json.loads((run_dir / "run-summary.json").read_text())
    stand_in.client("sagemaker").update_model_package(
        ModelPackageArn=summary["model_package_arn"], ModelApprovalStatus="Approved"
    )
    return summary


@pytest.fixture(scope="module")
def served(
    stand_in: EmbeddedAws, run_summary: dict, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalEndpoint]:
    client = stand_in.client("sagemaker")
    source = describe_package(
        client, latest_approved(client, load_settings().model_package_group_name)
    )
    work = tmp_path_factory.mktemp("served")
    with load_endpoint(
        source, stand_in.session(), work, ENDPOINT_NAME, capture_dir=work / "capture"
    ) as running:
        yield running


@pytest.fixture
def runtime(served: LocalEndpoint, monkeypatch: pytest.MonkeyPatch):
    """A plain boto3 client; only the environment points it at the local endpoint."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", served.url)
    retries = Config(retries={"mode": "standard", "max_attempts": 1})
    return boto3.client("sagemaker-runtime", region_name=REGION, config=retries)


def step_outputs(summary: dict, name: str) -> dict:
    return next(record["outputs"] for record in summary["steps"] if record["name"] == name)


def split_of(summary: dict) -> tuple[list[str], list[float], np.ndarray]:
    """Raw feature rows of the run's test split, their labels, and their processed features."""
    test_dir = Path(step_outputs(summary, "PreprocessData")["test"]["local_path"])
    raw = [line.split(",") for line in (test_dir / "test_raw.csv").read_text().splitlines()]
    processed = np.loadtxt(test_dir / "test.csv", delimiter=",", ndmin=2)
    return [",".join(row[1:]) for row in raw], [float(row[0]) for row in raw], processed[:, 1:]


def model_predictions(summary: dict, features: np.ndarray) -> np.ndarray:
    """What the trained model predicts for already-processed features (no handler involved)."""
    workspace = Path(step_outputs(summary, MODEL_STEP)["model"]["local_path"]).parents[1]
    model = model_io.load_model(workspace / "opt" / "ml" / "model")
    return np.asarray(model_io.predict(model, features), dtype=np.float32)


def test_csv_rows_get_the_registered_models_predictions(runtime, run_summary):
    rows, _, processed = split_of(run_summary)

    reply = runtime.invoke_endpoint(
        EndpointName=ENDPOINT_NAME, ContentType="text/csv", Accept="text/csv", Body="\n".join(rows)
    )

    assert reply["ContentType"] == "text/csv"
    assert reply["InvokedProductionVariant"] == "AllTraffic"
    predictions = [float(line) for line in reply["Body"].read().decode().splitlines()]
    expected = model_predictions(run_summary, processed)
    np.testing.assert_allclose(predictions, expected, rtol=1e-5)


def test_json_instances_get_the_same_predictions_as_csv(runtime, run_summary):
    rows, _, processed = split_of(run_summary)
    instances = [row.split(",") for row in rows[:5]]

    reply = runtime.invoke_endpoint(
        EndpointName=ENDPOINT_NAME,
        ContentType="application/json",
        Accept="application/json",
        Body=json.dumps({"instances": instances}),
    )

    assert reply["ContentType"] == "application/json"
    predictions = json.loads(reply["Body"].read())["predictions"]
    np.testing.assert_allclose(predictions, model_predictions(run_summary, processed[:5]), 1e-5)


@pytest.mark.parametrize(
    ("content_type", "body", "status", "message"),
    [
        ("text/csv", "M,0.5,0.4", 400, "row 1 has 3 values; expected 8"),
        ("text/csv", "M,abc,0.4,0.1,0.5,0.2,0.1,0.15", 400, "'length': 'abc' is not a finite"),
        ("application/json", '{"instances": [', 400, "the body is not valid JSON"),
        ("text/plain", "hello", 415, "Content-Type 'text/plain' is not supported"),
    ],
)
def test_bad_payloads_get_a_4xx_model_error_with_the_handlers_message(
    runtime, content_type, body, status, message
):
    with pytest.raises(ClientError) as raised:
        runtime.invoke_endpoint(EndpointName=ENDPOINT_NAME, ContentType=content_type, Body=body)

    response = raised.value.response
    assert response["Error"]["Code"] == "ModelError"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == status
    assert response["OriginalStatusCode"] == status
    assert message in response["Error"]["Message"]


def test_an_unknown_endpoint_name_is_a_validation_error(runtime):
    with pytest.raises(ClientError) as raised:
        runtime.invoke_endpoint(EndpointName="other", ContentType="text/csv", Body="M")

    assert raised.value.response["Error"]["Code"] == "ValidationException"
    assert "Endpoint other not found" in raised.value.response["Error"]["Message"]


def test_ping_answers_like_the_serving_container(served):
    with urllib.request.urlopen(f"{served.url}/ping", timeout=5) as reply:
        assert reply.status == 200


def test_successful_invocations_are_captured_in_sagemakers_layout(runtime, served, run_summary):
    rows, _, _ = split_of(run_summary)
    capture = served.capture
    runtime.invoke_endpoint(
        EndpointName=ENDPOINT_NAME,
        ContentType="text/csv",
        Accept="text/csv",
        Body=rows[0],
        InferenceId="req-42",
    )
    with pytest.raises(ClientError):
        runtime.invoke_endpoint(EndpointName=ENDPOINT_NAME, ContentType="text/csv", Body="M,1")

    [path] = capture.files
    relative = path.relative_to(capture.base.parents[1])
    assert re.fullmatch(
        re.escape(ENDPOINT_NAME)
        + r"/AllTraffic/\d\d\d\d/\d\d/\d\d/\d\d/\d\d-\d\d-\d\d\d-[0-9a-f-]+\.jsonl",
        relative.as_posix(),
    )
    records = [json.loads(line) for line in path.read_text().splitlines()]
    last = records[-1]
    assert last["eventVersion"] == "0"
    assert last["eventMetadata"]["inferenceId"] == "req-42"
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", last["eventMetadata"]["inferenceTime"]
    )
    assert last["captureData"]["endpointInput"] == {
        "observedContentType": "text/csv",
        "mode": "INPUT",
        "data": rows[0],
        "encoding": "CSV",
    }
    output = last["captureData"]["endpointOutput"]
    assert (output["mode"], output["encoding"], output["observedContentType"]) == (
        "OUTPUT",
        "CSV",
        "text/csv",
    )
    assert float(output["data"]) > 0
    assert all(r["captureData"]["endpointInput"]["data"] != "M,1" for r in records)


def test_latest_approved_is_the_newest_approved_version(stand_in, run_summary):
    client = stand_in.client("sagemaker")
    described = client.describe_model_package(ModelPackageName=run_summary["model_package_arn"])
    group = "latest-approved-test"
    client.create_model_package_group(ModelPackageGroupName=group)
    arns = [
        client.create_model_package(
            ModelPackageGroupName=group,
            InferenceSpecification=described["InferenceSpecification"],
            ModelApprovalStatus=status,
        )["ModelPackageArn"]
        for status in ("Approved", "Approved", "PendingManualApproval")
    ]

    assert latest_approved(client, group) == arns[1]
    with pytest.raises(LocalRunError, match="has no Approved version"):
        latest_approved(client, "group-without-approvals")


def test_serve_local_cli_serves_until_terminated(stand_in, run_summary, tmp_path):
    inherited = [os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else []
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC_DIR), *inherited])}
    command = [sys.executable, "-m", "mlops_toolkit.endpoint.endpoint", "--latest-approved"]
    command += ["--port", "0", "--endpoint-name", "cli-test", "--capture-dir", str(tmp_path)]
    server = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)
    try:
        url = next(
            line.split("=", 1)[1].strip()
            for line in server.stdout
            if "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME=" in line
        )
        client = boto3.client("sagemaker-runtime", region_name=REGION, endpoint_url=url)
        rows, _, _ = split_of(run_summary)
        reply = client.invoke_endpoint(
            EndpointName="cli-test", ContentType="text/csv", Body=rows[0]
        )
        assert float(json.loads(reply["Body"].read())["predictions"][0]) > 0
    finally:
        server.send_signal(signal.SIGTERM)
        code = server.wait(timeout=20)
    assert code == 0
    assert list(tmp_path.rglob("*.jsonl"))


def test_serve_local_reports_a_group_without_approved_versions(stand_in, run_summary, capsys):
    code = endpoint.main(["--latest-approved", "no-such-group", "--port", "0", "--no-capture"])

    assert code == 2
    assert "model package group no-such-group has no Approved version" in capsys.readouterr().err


FAILING_HANDLER = """\
def model_fn(model_dir):
    return "model"

def input_fn(body, content_type):
    return body

def predict_fn(data, model):
    if data == b"boom":
        raise RuntimeError("the handler broke")
    return data

def output_fn(prediction, accept):
    return prediction
"""


def test_a_handler_crash_is_a_500_and_the_endpoint_keeps_serving(tmp_path):
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "inference.py").write_text(FAILING_HANDLER)
    retries = Config(retries={"mode": "standard", "max_attempts": 1})
    with LocalEndpoint(InferenceHandler(tmp_path), "crash") as running:
        client = boto3.client(
            "sagemaker-runtime", region_name=REGION, endpoint_url=running.url, config=retries
        )
        with pytest.raises(ClientError) as raised:
            client.invoke_endpoint(EndpointName="crash", ContentType="text/csv", Body="boom")
        echoed = client.invoke_endpoint(
            EndpointName="crash", ContentType="text/csv", Accept="text/csv", Body="fine"
        )

    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert "RuntimeError: the handler broke" in raised.value.response["Error"]["Message"]
    assert echoed["Body"].read() == b"fine"


def test_an_artifact_without_the_handler_functions_is_refused(tmp_path):
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "inference.py").write_text("def model_fn(model_dir):\n    return 1\n")

    with pytest.raises(LocalRunError, match="does not define input_fn, predict_fn, output_fn"):
        InferenceHandler(tmp_path)
