"""test/test.py end to end: DescribeEndpoint from a moto server, invocations from the stub.

The endpoint is created through the SageMaker API in the moto server under the name build.py
exports, and AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME points the runtime client at the invoke stub.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import (
    ENDPOINT,
    REPO_ROOT,
    create_endpoint,
    load_script,
    read_json,
    write_json,
)
from runtime_stub import BROKEN, CORRECT, RuntimeStub

STAGING_TEST = REPO_ROOT / "test" / "test.py"
PAYLOAD_ROWS = [
    row
    for row in (REPO_ROOT / "test" / "sample-payload.csv").read_text(encoding="utf-8").splitlines()
    if row.strip()
]
FAST = ["--poll-seconds", "0.1", "--timeout-seconds", "5"]

staging_test = load_script(STAGING_TEST, "staging_test")


@pytest.fixture
def build_config(tmp_path: Path) -> Path:
    """The part of build.py's staging export the staging test reads."""
    return write_json(
        tmp_path / "staging-config-export.json",
        {"Parameters": {"EndpointName": ENDPOINT, "StageName": "staging"}, "Tags": {}},
    )


def point_clients_at(monkeypatch: pytest.MonkeyPatch, moto_url: str, runtime_url: str) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_url)
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", runtime_url)


def run_in_process(build_config: Path, results: Path, *extra: str) -> int:
    return staging_test.main(
        ["--build-config", str(build_config), "--export-test-results", str(results), *FAST, *extra]
    )


def failed_checks(results: Path) -> dict[str, str]:
    report = read_json(results)
    assert report["passed"] is False
    return {check["name"]: check["detail"] for check in report["checks"] if not check["passed"]}


def test_passes_against_an_endpoint_that_honours_the_contract(
    moto_url: str, runtime_endpoint_url: str, build_config: Path, tmp_path: Path
) -> None:
    create_endpoint(moto_url)
    env = os.environ | {
        "AWS_ENDPOINT_URL": moto_url,
        "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": runtime_endpoint_url,
        "BUILD_CONFIG": str(build_config),
        "EXPORT_TEST_RESULTS": str(tmp_path / "test-results.json"),
    }

    result = subprocess.run(
        [sys.executable, str(STAGING_TEST), *FAST],
        env=env,
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    report = read_json(tmp_path / "test-results.json")
    assert report["passed"] is True
    assert report["endpoint_name"] == ENDPOINT
    assert report["rows_sent"] == len(PAYLOAD_ROWS)
    assert [check["name"] for check in report["checks"]] == [
        "endpoint_in_service",
        "data_capture_enabled",
        "single_row_invocations",
        "batch_invocation",
    ]
    assert report["latency_ms"]["count"] == len(PAYLOAD_ROWS)
    assert 0 < report["latency_ms"]["p50"] <= report["latency_ms"]["p95"]
    assert 0 <= report["predictions"]["min"] <= report["predictions"]["max"] <= 40


def test_every_payload_row_is_sent_as_csv(
    moto_url: str,
    runtime_stub: RuntimeStub,
    build_config: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    create_endpoint(moto_url)
    runtime_stub.clear()
    point_clients_at(monkeypatch, moto_url, runtime_stub.url_for(CORRECT))

    assert run_in_process(build_config, tmp_path / "results.json") == 0

    sent = runtime_stub.invocations
    assert {(call.endpoint, call.content_type, call.accept) for call in sent} == {
        (ENDPOINT, "text/csv", "text/csv")
    }
    assert [call.body for call in sent] == [*PAYLOAD_ROWS, "\n".join(PAYLOAD_ROWS)]


EXPECTED_FAILURE = {
    "wrong-content-type": "content type is 'application/json', expected text/csv",
    "wrong-row-count": "2 prediction line(s) for 1 row(s) sent",
    "non-numeric": "line 1 is not a number: 'eleven'",
    "out-of-range": "line 1 = 97.5 is outside the plausible range [0, 40]",
    "not-finite": "line 1 is not a finite number: 'nan'",
    "model-error": "ModelError: Received client error from model",
}


@pytest.mark.parametrize("behaviour", BROKEN)
def test_fails_against_a_broken_endpoint(
    behaviour: str,
    moto_url: str,
    runtime_stub: RuntimeStub,
    build_config: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    create_endpoint(moto_url)
    point_clients_at(monkeypatch, moto_url, runtime_stub.url_for(behaviour))
    results = tmp_path / "results.json"

    assert run_in_process(build_config, results) == 1

    failures = failed_checks(results)
    assert set(failures) == {"single_row_invocations", "batch_invocation"}
    assert f"row 1: {EXPECTED_FAILURE[behaviour]}" in failures["single_row_invocations"]
    assert "FAIL single_row_invocations" in capsys.readouterr().out


def test_fails_when_data_capture_is_off(
    moto_url: str,
    runtime_endpoint_url: str,
    build_config: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    create_endpoint(moto_url, capture=False)
    point_clients_at(monkeypatch, moto_url, runtime_endpoint_url)
    results = tmp_path / "results.json"

    assert run_in_process(build_config, results) == 1

    assert list(failed_checks(results)) == ["data_capture_enabled"]


def test_missing_endpoint_fails_without_invoking(
    moto_url: str,
    runtime_stub: RuntimeStub,
    build_config: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    runtime_stub.clear()
    point_clients_at(monkeypatch, moto_url, runtime_stub.url_for(CORRECT))
    results = tmp_path / "results.json"

    assert run_in_process(build_config, results) == 1

    failures = failed_checks(results)
    assert f"cannot describe endpoint {ENDPOINT}" in failures["endpoint_in_service"]
    assert runtime_stub.invocations == []


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        (["--build-config", "missing.json"], "cannot read build config missing.json"),
        (["--min-prediction", "50"], "--min-prediction must be below --max-prediction"),
    ],
)
def test_unusable_inputs_exit_2_and_still_write_results(
    build_config: Path, tmp_path: Path, arguments: list[str], expected: str
) -> None:
    results = tmp_path / "results.json"

    assert run_in_process(build_config, results, *arguments) == 2

    assert expected in failed_checks(results)["inputs"]


def test_payload_that_breaks_the_contract_exits_2(build_config: Path, tmp_path: Path) -> None:
    payload = tmp_path / "payload.csv"
    payload.write_text("sex,length\n", encoding="utf-8")
    results = tmp_path / "results.json"

    assert run_in_process(build_config, results, "--payload", str(payload)) == 2

    assert "expected 8 columns" in failed_checks(results)["inputs"]
