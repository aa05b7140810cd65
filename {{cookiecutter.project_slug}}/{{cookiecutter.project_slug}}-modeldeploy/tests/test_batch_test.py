"""test/batch_test.py: the staging batch test, its pipeline and bucket on a moto server.

moto runs no transform (an execution succeeds at once and writes nothing), so where a test needs
predictions it writes them where the transform would, right after the execution starts.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from helpers import (
    REGION,
    REPO_ROOT,
    ROLE_ARN,
    SLUG,
    TEST_CLIENT_CONFIG,
    load_script,
    read_json,
    write_json,
)

batch_test = load_script(REPO_ROOT / "test" / "batch_test.py", "batch_test")
BUCKET = "artifact-bucket"
PIPELINE = f"{SLUG}-staging-batch"
CONFIG = {
    "BatchName": PIPELINE,
    "ArtifactBucket": BUCKET,
    "ProjectSlug": SLUG,
    "StageName": "staging",
}
ROWS = [
    row
    for row in (REPO_ROOT / "test" / "sample-payload.csv").read_text(encoding="utf-8").splitlines()
    if row.strip()
]


@pytest.fixture
def aws(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_url)
    s3 = boto3.client("s3", region_name=REGION, config=TEST_CLIENT_CONFIG)
    sagemaker = boto3.client("sagemaker", region_name=REGION, config=TEST_CLIENT_CONFIG)
    s3.create_bucket(Bucket=BUCKET)
    sagemaker.create_pipeline(
        PipelineName=PIPELINE,
        PipelineDefinition=json.dumps({"Version": "2020-12-01", "Steps": []}),
        RoleArn=ROLE_ARN,
    )
    return {"s3": s3, "sagemaker": sagemaker}


def _transform_writes(monkeypatch: pytest.MonkeyPatch, lines: list[str]) -> None:
    """Stand in for the transform: once the execution starts, write ``lines`` as its output."""
    start = batch_test.start_transform

    def start_and_write(sagemaker, s3, config, rows):
        arn = start(sagemaker, s3, config, rows)
        key = f"{SLUG}/batch/staging/output/{arn.rsplit('/', 1)[1]}/{batch_test.SAMPLE_OBJECT}.out"
        s3.put_object(Bucket=BUCKET, Key=key, Body="".join(f"{line}\n" for line in lines))
        return arn

    monkeypatch.setattr(batch_test, "start_transform", start_and_write)


def _run(tmp_path: Path) -> tuple[int, dict[str, Any]]:
    config = write_json(tmp_path / "staging-config-export.json", {"Parameters": CONFIG})
    results = tmp_path / "results.json"
    argv = ["--build-config", str(config), "--export-test-results", str(results)]
    status = batch_test.main([*argv, "--poll-seconds", "0.01", "--region", REGION])
    return status, read_json(results)


def test_the_rows_go_to_a_folder_of_the_runs_own_and_the_pipeline_transforms_it(aws) -> None:
    arn = batch_test.start_transform(aws["sagemaker"], aws["s3"], CONFIG, ROWS)
    (listed,) = aws["s3"].list_objects_v2(Bucket=BUCKET)["Contents"]
    folder = listed["Key"].rsplit("/", 1)[0]
    assert folder.startswith(f"{SLUG}/batch/staging/input/staging-test-")
    body = aws["s3"].get_object(Bucket=BUCKET, Key=listed["Key"])["Body"].read().decode()
    assert body.splitlines() == ROWS
    execution = aws["sagemaker"].describe_pipeline_execution(PipelineExecutionArn=arn)
    assert execution["PipelineExecutionStatus"] == "Succeeded"
    steps = aws["sagemaker"].list_pipeline_parameters_for_execution(PipelineExecutionArn=arn)
    assert steps["PipelineParameters"] == [
        {"Name": "InputS3Uri", "Value": f"s3://{BUCKET}/{folder}/"}
    ]


def test_one_plausible_prediction_per_row_passes(aws, monkeypatch, tmp_path) -> None:
    _transform_writes(monkeypatch, ["9.5"] * len(ROWS))
    status, results = _run(tmp_path)
    assert status == 0
    assert results["passed"] is True
    assert [c["name"] for c in results["checks"]] == ["transform", "predictions"]


@pytest.mark.parametrize(
    "lines", [["9.5"], ["9.5"] * 2 + ["not-a-number"] * 50, ["400.0"] * 50], ids=str
)
def test_missing_unreadable_or_implausible_predictions_fail(aws, monkeypatch, tmp_path, lines):
    rows = len(ROWS)
    _transform_writes(monkeypatch, (lines * rows)[:rows] if len(lines) > 1 else lines)
    status, results = _run(tmp_path)
    assert status == batch_test.EXIT_FAILED
    assert results["passed"] is False
    (failed,) = [c for c in results["checks"] if not c["passed"]]
    assert failed["name"] == "predictions"


def test_a_config_without_the_batch_parameters_is_an_input_error(tmp_path) -> None:
    config = write_json(tmp_path / "export.json", {"Parameters": {"EndpointName": "x"}})
    results = tmp_path / "results.json"
    status = batch_test.main(["--build-config", str(config), "--export-test-results", str(results)])
    assert status == batch_test.EXIT_BAD_INPUT
    (check,) = read_json(results)["checks"]
    assert "BatchName, ArtifactBucket, ProjectSlug, StageName" in check["detail"]
