"""The two CLIs: get-pipeline-definition and run-pipeline (upsert, start, wait)."""

from __future__ import annotations

import json

import pytest

from modelbuild.cli import get_pipeline_definition, run_pipeline
from modelbuild.cli.run_pipeline import coerce_parameters, wait_for_execution
from modelbuild.settings import load_settings


def _run(aws, *extra: str) -> list[str]:
    return ["--role-arn", aws.role_arn, "--artifact-bucket", aws.bucket, *extra]


def test_definition_offline_prints_json(capsys):
    assert get_pipeline_definition.main(["--offline"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert [s["Name"] for s in printed["Steps"]][0] == "PreprocessData"


def test_definition_mermaid_to_file(tmp_path):
    target = tmp_path / "dag.mmd"
    assert (
        get_pipeline_definition.main(["--offline", "--format", "mermaid", "--output", str(target)])
        == 0
    )
    text = target.read_text()
    assert text.startswith("flowchart LR")
    assert "CheckMseThreshold -->|if true| RegisterModel" in text
    assert "CheckMseThreshold -->|else| MseAboveThreshold" in text


def test_definition_needs_a_role_when_not_offline(capsys, monkeypatch):
    monkeypatch.delenv("SAGEMAKER_PIPELINE_ROLE_ARN", raising=False)
    assert get_pipeline_definition.main(["--artifact-bucket", "b"]) == 2
    assert "--role-arn is required" in capsys.readouterr().err


def test_run_pipeline_upserts_tags_and_starts_with_overrides(aws, capsys):
    code = run_pipeline.main(
        _run(aws, "--no-wait", "--param", "MseThreshold=5.5", "--tag", "team=x")
    )
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    client = aws.session.client("sagemaker")
    settings = load_settings()
    tags = {
        t["Key"]: t["Value"] for t in client.list_tags(ResourceArn=report["pipeline_arn"])["Tags"]
    }
    assert tags["project"] == settings.project_slug
    assert tags["owner"] == settings.owner_team
    assert tags["team"] == "x"
    parameters = client.list_pipeline_parameters_for_execution(
        PipelineExecutionArn=report["execution_arn"]
    )["PipelineParameters"]
    assert {"Name": "MseThreshold", "Value": "5.5"} in parameters


def test_run_pipeline_twice_updates_the_same_pipeline(aws, capsys):
    assert run_pipeline.main(_run(aws, "--no-wait")) == 0
    assert run_pipeline.main(_run(aws, "--wait", "--poll-interval", "0.1")) == 0
    client = aws.session.client("sagemaker")
    settings = load_settings()
    assert [p["PipelineName"] for p in client.list_pipelines()["PipelineSummaries"]] == [
        settings.pipeline_name
    ]
    executions = client.list_pipeline_executions(PipelineName=settings.pipeline_name)
    assert len(executions["PipelineExecutionSummaries"]) == 2
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert last["status"] == "Succeeded"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("Threshold=5", "the pipeline has no such parameter"),
        ("MseThreshold=abc", "expected a Float value"),
        ("ProcessingInstanceCount=1.5", "expected a Integer value"),
        ("ModelApprovalStatus=Maybe", "is not one of PendingManualApproval, Approved"),
        ("MseThreshold", "expects Name=Value"),
    ],
)
def test_run_pipeline_rejects_bad_parameters_before_touching_aws(aws, capsys, override, message):
    assert run_pipeline.main(_run(aws, "--no-wait", "--param", override)) == 2
    assert message in capsys.readouterr().err
    assert aws.session.client("sagemaker").list_pipelines()["PipelineSummaries"] == []


def test_run_pipeline_rejects_a_non_positive_timeout(aws, capsys):
    with pytest.raises(SystemExit) as exit_info:
        run_pipeline.main(_run(aws, "--timeout", "-3"))
    assert exit_info.value.code == 2
    assert "expected a positive number of seconds" in capsys.readouterr().err


def test_coerce_parameters_converts_to_declared_types():
    declared = [
        {"Name": "N", "Type": "Integer"},
        {"Name": "F", "Type": "Float"},
        {"Name": "S", "Type": "String"},
    ]
    assert coerce_parameters({"N": "2", "F": "0.5", "S": "x"}, declared) == {
        "N": 2,
        "F": 0.5,
        "S": "x",
    }


class _FakeClient:
    """Answers describe_pipeline_execution with a scripted sequence of statuses."""

    def __init__(self, statuses: list[str], reason: str | None = None):
        self.statuses = list(statuses)
        self.reason = reason
        self.calls = 0

    def describe_pipeline_execution(self, PipelineExecutionArn: str) -> dict:
        self.calls += 1
        status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
        return {"PipelineExecutionStatus": status, "FailureReason": self.reason}


class _Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_wait_returns_the_terminal_status_and_reason():
    clock = _Clock()
    client = _FakeClient(["Executing", "Executing", "Failed"], reason="MSE 9 above 6")
    result = wait_for_execution(
        client, "arn", timeout=100, poll_interval=10, clock=clock, sleep=clock.sleep
    )
    assert (result.status, result.failure_reason, result.waited_seconds) == (
        "Failed",
        "MSE 9 above 6",
        20,
    )


def test_wait_gives_up_at_the_timeout():
    clock = _Clock()
    client = _FakeClient(["Executing"])
    result = wait_for_execution(
        client, "arn", timeout=25, poll_interval=10, clock=clock, sleep=clock.sleep
    )
    assert result is None
    assert clock.now == 25
    assert client.calls == 4


def test_run_pipeline_exit_code_reflects_a_failed_execution(aws, monkeypatch, capsys):
    from modelbuild.cli.run_pipeline import WaitResult

    monkeypatch.setattr(
        run_pipeline,
        "wait_for_execution",
        lambda *a, **k: WaitResult("Failed", "MSE 9 above 6", 3.0),
    )
    assert run_pipeline.main(_run(aws)) == 1
    assert "execution Failed: MSE 9 above 6" in capsys.readouterr().err


def test_run_pipeline_timeout_exit_code(aws, monkeypatch, capsys):
    monkeypatch.setattr(run_pipeline, "wait_for_execution", lambda *a, **k: None)
    assert run_pipeline.main(_run(aws, "--timeout", "5")) == 3
    assert "gave up after 5 s" in capsys.readouterr().err


def _execution_parameters(aws, report: dict) -> dict[str, str]:
    listed = (
        aws.session.client("sagemaker")
        .list_pipeline_parameters_for_execution(PipelineExecutionArn=report["execution_arn"])
        .get("PipelineParameters", [])
    )
    return {p["Name"]: p["Value"] for p in listed}


def _register_approved(aws, with_baseline: bool) -> None:
    client = aws.session.client("sagemaker")
    group = load_settings().model_package_group_name
    client.create_model_package_group(ModelPackageGroupName=group)
    extra = {}
    if with_baseline:
        source = {"ContentType": "application/json", "S3Uri": f"s3://{aws.bucket}/baseline/x.json"}
        extra["DriftCheckBaselines"] = {
            "ModelDataQuality": {"Statistics": source, "Constraints": source}
        }
    client.create_model_package(
        ModelPackageGroupName=group,
        ModelApprovalStatus="Approved",
        InferenceSpecification={
            "Containers": [{"Image": "image", "ModelDataUrl": f"s3://{aws.bucket}/m.tar.gz"}],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
        **extra,
    )


def test_first_run_skips_the_check_and_registers_a_new_baseline(aws, capsys):
    assert run_pipeline.main(_run(aws, "--no-wait")) == 0
    captured = capsys.readouterr()
    parameters = _execution_parameters(aws, json.loads(captured.out))
    assert parameters["SkipDataQualityCheck"] == "true"
    assert parameters["RegisterNewDataQualityBaseline"] == "true"
    assert "registers a new baseline" in captured.err


def test_an_approved_version_without_baseline_still_counts_as_first_run(aws, capsys):
    _register_approved(aws, with_baseline=False)
    assert run_pipeline.main(_run(aws, "--no-wait")) == 0
    parameters = _execution_parameters(aws, json.loads(capsys.readouterr().out))
    assert parameters["RegisterNewDataQualityBaseline"] == "true"


def test_later_runs_check_against_the_approved_baseline(aws, capsys):
    _register_approved(aws, with_baseline=True)
    assert run_pipeline.main(_run(aws, "--no-wait")) == 0
    parameters = _execution_parameters(aws, json.loads(capsys.readouterr().out))
    assert "SkipDataQualityCheck" not in parameters
    assert "RegisterNewDataQualityBaseline" not in parameters


def test_explicit_baseline_parameters_win(aws, capsys):
    assert run_pipeline.main(_run(aws, "--no-wait", "--param", "SkipDataQualityCheck=false")) == 0
    parameters = _execution_parameters(aws, json.loads(capsys.readouterr().out))
    assert parameters["SkipDataQualityCheck"] == "false"
    assert "RegisterNewDataQualityBaseline" not in parameters
