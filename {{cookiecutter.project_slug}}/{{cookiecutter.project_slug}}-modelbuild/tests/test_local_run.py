"""local-run (from mlops-template-toolkit) runs this project's pipeline end to end.

Every run here goes through the toolkit's real CLI, this project's step scripts and the definition
that ``pipeline.py`` produces; only AWS is stood in (a moto server on a free loopback port). This
is the check that edits to the pipeline or the steps still run; the toolkit tests its own parts.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from mlops_toolkit.runner import cli
from mlops_toolkit.stand_in import EmbeddedAws, Provisioned
from model_step import LOCAL_RUN_LIMITS, MODEL_STEP, training_job

from modelbuild.settings import load_settings

REGION = "us-east-1"
BUCKET = "local-run-tests"
ROLE = "local-run-tests-sagemaker"
# A group's first run has no approved data-quality baseline to check against (as in SageMaker).
FIRST_RUN = (
    *("--param", "SkipDataQualityCheck=true"),
    *("--param", "RegisterNewDataQualityBaseline=true"),
)


@pytest.fixture(scope="module")
def stand_in() -> Iterator[EmbeddedAws]:
    with EmbeddedAws(REGION, BUCKET, ROLE) as aws:
        yield aws


@pytest.fixture
def pipeline_module(stand_in: EmbeddedAws):
    """Imported once the stand-in has set a region: the SDK creates a client while importing."""
    from modelbuild import pipeline

    return pipeline


@pytest.fixture
def account(stand_in: EmbeddedAws) -> Provisioned:
    stand_in.reset()
    return stand_in.provision()


@pytest.fixture
def data_file(tmp_path: Path, make_rows, write_rows) -> Path:
    return write_rows(tmp_path / "data" / "abalone.csv", make_rows())


def local_run(
    account: Provisioned, run_dir: Path, *extra: str, first_run: bool = True
) -> tuple[int, dict | None]:
    code = cli.main(
        [
            *("--role-arn", account.role_arn),
            *("--artifact-bucket", account.bucket),
            *("--run-dir", str(run_dir)),
            *(FIRST_RUN if first_run else ()),
            *LOCAL_RUN_LIMITS,
            *extra,
        ]
    )
    summary_file = run_dir / "run-summary.json"
    summary = json.loads(summary_file.read_text()) if summary_file.exists() else None
    return code, summary


def statuses(summary: dict) -> dict[str, str]:
    return {step["name"]: step["status"] for step in summary["steps"]}


def step(summary: dict, name: str) -> dict:
    return next(record for record in summary["steps"] if record["name"] == name)


def s3_object(stand_in: EmbeddedAws, uri: str) -> bytes:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return stand_in.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()


def package_groups(stand_in: EmbeddedAws) -> list[str]:
    groups = stand_in.client("sagemaker").list_model_package_groups()
    return [g["ModelPackageGroupName"] for g in groups["ModelPackageGroupSummaryList"]]


@pytest.fixture
def s3_data(stand_in: EmbeddedAws, account: Provisioned, make_rows, write_rows, tmp_path) -> str:
    """200 synthetic rows uploaded to the stand-in; the URI names their folder."""
    local = write_rows(tmp_path / "upload" / "abalone.csv", make_rows(count=200, seed=3))
    stand_in.client("s3").upload_file(str(local), account.bucket, "datasets/abalone.csv")
    return f"s3://{account.bucket}/datasets/"


def test_passing_gate_registers_the_model_with_metrics_and_metadata(
    stand_in, account, s3_data, tmp_path
):
    code, summary = local_run(
        account,
        tmp_path / "run",
        *("--param", f"InputDataUrl={s3_data}"),
        *("--param", "ModelApprovalStatus=Approved"),
    )

    assert code == 0
    assert statuses(summary) == {
        "PreprocessData": "Succeeded",
        "CheckDataQuality": "Succeeded",
        MODEL_STEP: "Succeeded",
        "EvaluateModel": "Succeeded",
        "CheckMseThreshold": "Succeeded",
        "RegisterModel": "Succeeded",
        "MseAboveThreshold": "NotExecuted",
    }
    settings = load_settings()
    client = stand_in.client("sagemaker")
    [package] = client.list_model_packages(ModelPackageGroupName=settings.model_package_group_name)[
        "ModelPackageSummaryList"
    ]
    assert package["ModelPackageArn"] == summary["model_package_arn"]
    described = client.describe_model_package(ModelPackageName=package["ModelPackageArn"])
    # Both overrides reached the steps that read them.
    assert described["ModelApprovalStatus"] == "Approved"
    log = Path(step(summary, "PreprocessData")["log"]).read_text()
    assert "wrote 140 train, 30 validation and 30 test rows" in log
    metadata = described["CustomerMetadataProperties"]
    assert metadata["input_data"] == s3_data
    assert metadata["pipeline_execution"] == summary["execution_arn"]
    assert described["MetadataProperties"]["Repository"] == f"{settings.project_slug}-modelbuild"
    # The registered metrics are the evaluation report the gate read, stored where it points.
    statistics = described["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"]
    report = json.loads(s3_object(stand_in, statistics))
    assert report == summary["metrics"]["EvaluateModel.EvaluationReport"]
    mse = report["regression_metrics"]["mse"]["value"]
    assert step(summary, "CheckMseThreshold")["details"]["conditions"][0]["left"] == mse
    [container] = described["InferenceSpecification"]["Containers"]
    assert container["ModelDataUrl"] == step(summary, MODEL_STEP)["outputs"]["model"]["s3_uri"]
    assert s3_object(stand_in, container["ModelDataUrl"])[:2] == b"\x1f\x8b"  # a real gzip
    assert container["Environment"]["SAGEMAKER_PROGRAM"] == "inference.py"
    for record in summary["steps"][:5]:
        assert Path(record["log"]).read_text().strip(), f"{record['name']} kept no log"
    # Outputs land in S3 under this execution, identical to the local copies.
    outputs = step(summary, "PreprocessData")["outputs"]
    assert set(outputs) == {"train", "validation", "test", "preprocessor", "baseline"}
    raw_rows = (Path(outputs["test"]["local_path"]) / "test_raw.csv").read_text().splitlines()
    assert len(raw_rows) == 30 and len(raw_rows[0].split(",")) == 9
    uploaded = s3_object(stand_in, outputs["test"]["s3_uri"] + "/test_raw.csv").decode()
    assert uploaded.splitlines() == raw_rows
    assert f"/{summary['execution_id']}/preprocess/test" in outputs["test"]["s3_uri"]


def test_failing_gate_ends_in_the_fail_step_and_registers_nothing(
    stand_in, account, data_file, tmp_path
):
    code, summary = local_run(
        account, tmp_path / "run", "--input-data", str(data_file), "--param", "MseThreshold=0.1"
    )

    assert code == 1
    assert summary["status"] == "Failed"
    assert statuses(summary)["RegisterModel"] == "NotExecuted"
    assert statuses(summary)["MseAboveThreshold"] == "Failed"
    mse = summary["metrics"]["EvaluateModel.EvaluationReport"]["regression_metrics"]["mse"]["value"]
    expected = f"Model rejected: test MSE {mse} is above the MseThreshold of 0.1"
    assert step(summary, "MseAboveThreshold")["message"] == expected
    assert summary["failure_reason"] == expected
    assert step(summary, "CheckMseThreshold")["details"]["conditions"][0]["right"] == 0.1
    assert package_groups(stand_in) == []


def _bad_inputs(rows: list[list[str]]) -> dict[str, tuple[str | None, str]]:
    """Name → (file content, or None for no file at all; expected part of the message)."""
    as_csv = lambda table: "".join(",".join(row) + "\n" for row in table)  # noqa: E731
    short = [row if i != 4 else row[:-1] for i, row in enumerate(rows)]
    text = [row if i != 2 else [row[0], "abc", *row[2:]] for i, row in enumerate(rows)]
    no_height = [[*row[:3], "", *row[4:]] for row in rows]
    return {
        "missing file": (None, "does not exist"),
        "wrong column count": (as_csv(short), "1 row(s) do not have 9 columns"),
        "non-numeric value": (as_csv(text), "column 'length': 1 row(s) are not finite numbers"),
        "all-NaN column": (as_csv(no_height), "column 'height': all"),
        "empty file": ("", "the input holds no data rows"),
    }


@pytest.mark.parametrize(
    "case",
    ["missing file", "wrong column count", "non-numeric value", "all-NaN column", "empty file"],
)
def test_bad_input_stops_at_preprocess_and_registers_nothing(
    stand_in, account, make_rows, tmp_path, case
):
    content, expected = _bad_inputs(make_rows(count=60))[case]
    data = tmp_path / "abalone.csv"
    if content is not None:
        data.write_text(content)

    code, summary = local_run(account, tmp_path / "run", "--input-data", str(data))

    assert code == 1
    preprocess = step(summary, "PreprocessData")
    assert preprocess["status"] == "Failed"
    assert expected in preprocess["message"]
    assert summary["failure_reason"] == preprocess["message"]
    assert set(statuses(summary).values()) == {"Failed", "NotStarted"}
    assert package_groups(stand_in) == []
    prefix = f"{load_settings().pipeline_name}/{summary['execution_id']}/"
    listed = stand_in.client("s3").list_objects_v2(Bucket=account.bucket, Prefix=prefix)
    assert listed.get("KeyCount", 0) == 0, "a failed preprocess must upload no outputs"


PROFILE_SCRIPT = """\
import argparse, json, pathlib
parser = argparse.ArgumentParser()
parser.add_argument("--base-dir", type=pathlib.Path, required=True)
parser.add_argument("--label", required=True)
args = parser.parse_args()
rows = (args.base_dir / "test" / "test_raw.csv").read_text().splitlines()
out = args.base_dir / "profile"
out.mkdir(parents=True, exist_ok=True)
(out / "profile.json").write_text(json.dumps({"rows": len(rows), "label": args.label}))
"""


def profile_step(preprocess, session, role_arn: str, script: Path, output_uri: str):
    """A step a user might add: profile the raw test split; reads an output, takes an argument."""
    from sagemaker.core.processing import ScriptProcessor
    from sagemaker.core.shapes import (
        ProcessingInput,
        ProcessingOutput,
        ProcessingS3Input,
        ProcessingS3Output,
    )
    from sagemaker.mlops.workflow.steps import ProcessingStep

    processor = ScriptProcessor(
        image_uri="local/profile:1",
        command=["python3"],
        instance_type="ml.t3.medium",
        instance_count=1,
        sagemaker_session=session,
        role=role_arn,
    )
    test_uri = preprocess.properties.ProcessingOutputConfig.Outputs["test"].S3Output.S3Uri
    test_input = ProcessingS3Input(
        s3_uri=test_uri,
        local_path="/opt/ml/processing/test",
        s3_data_type="S3Prefix",
        s3_input_mode="File",
    )
    profile_output = ProcessingS3Output(
        s3_uri=output_uri, local_path="/opt/ml/processing/profile", s3_upload_mode="EndOfJob"
    )
    step_args = processor.run(
        inputs=[ProcessingInput(input_name="test", s3_input=test_input)],
        outputs=[ProcessingOutput(output_name="profile", s3_output=profile_output)],
        arguments=["--label", "added-by-test"],
        code=str(script),
    )
    return ProcessingStep(name="ProfileTestSplit", step_args=step_args)


def test_the_run_follows_a_renamed_and_an_added_step(
    stand_in, account, data_file, tmp_path, monkeypatch, pipeline_module
):
    from sagemaker.mlops.workflow.steps import ProcessingStep

    original_step, original_pipeline = pipeline_module.preprocess_step, pipeline_module.Pipeline
    script = tmp_path / "profile.py"
    script.write_text(PROFILE_SCRIPT)
    profile_uri = f"s3://{account.bucket}/profiles/run"

    def renamed(ctx, params):
        return ProcessingStep(name="PrepareAbalone", step_args=original_step(ctx, params).step_args)

    def with_profile_step(**kwargs):
        extra = profile_step(
            kwargs["steps"][0], kwargs["sagemaker_session"], account.role_arn, script, profile_uri
        )
        return original_pipeline(**{**kwargs, "steps": [*kwargs["steps"], extra]})

    monkeypatch.setattr(pipeline_module, "preprocess_step", renamed)
    monkeypatch.setattr(pipeline_module, "Pipeline", with_profile_step)
    code, summary = local_run(account, tmp_path / "run", "--input-data", str(data_file))

    assert code == 0
    names = [record["name"] for record in summary["steps"]]
    assert names[:3] == ["PrepareAbalone", "CheckDataQuality", MODEL_STEP]
    assert "PreprocessData" not in names
    assert statuses(summary)["PrepareAbalone"] == "Succeeded"
    definition = json.loads((tmp_path / "run" / "definition.json").read_text())
    [train] = [s for s in definition["Steps"] if s["Name"] == MODEL_STEP]
    channel = training_job(train)["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"]
    assert channel["Get"].startswith("Steps.PrepareAbalone.")
    assert summary["model_package_arn"]
    # The added step ran on the renamed step's output, with its own argument, and uploaded.
    assert statuses(summary)["ProfileTestSplit"] == "Succeeded"
    test_dir = Path(step(summary, "PrepareAbalone")["outputs"]["test"]["local_path"])
    profile = json.loads(s3_object(stand_in, f"{profile_uri}/profile.json"))
    expected_rows = len((test_dir / "test_raw.csv").read_text().splitlines())
    assert profile == {"rows": expected_rows, "label": "added-by-test"}


def test_an_unsupported_step_type_stops_the_run_before_any_step(
    stand_in, account, data_file, tmp_path, monkeypatch, capsys, pipeline_module
):
    from sagemaker.core.lambda_helper import Lambda
    from sagemaker.mlops.workflow.lambda_step import LambdaStep

    original = pipeline_module.Pipeline

    def with_lambda_step(**kwargs):
        notify = LambdaStep(
            name="NotifyTeam",
            lambda_func=Lambda(function_arn=f"arn:aws:lambda:{REGION}:123456789012:function:x"),
        )
        return original(**{**kwargs, "steps": [*kwargs["steps"], notify]})

    monkeypatch.setattr(pipeline_module, "Pipeline", with_lambda_step)
    code, summary = local_run(account, tmp_path / "run", "--input-data", str(data_file))

    assert code == 2
    assert "step 'NotifyTeam' has type 'Lambda'" in capsys.readouterr().err
    assert summary is None
    assert not (tmp_path / "run" / "steps").exists()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--param", "MseThreshold=abc"], "expected a Float value"),
        (["--param", "Nope=1"], "the pipeline has no such parameter"),
        (["--input-data", "a.csv", "--param", "InputDataUrl=s3://b/k"], "give the input data once"),
    ],
)
def test_bad_parameters_are_refused_before_any_step(
    stand_in, account, tmp_path, capsys, arguments, message
):
    code, summary = local_run(account, tmp_path / "run", *arguments)

    assert code == 2
    assert message in capsys.readouterr().err
    assert summary is None


def test_an_interrupted_run_stops_with_a_partial_summary(
    stand_in, account, data_file, tmp_path, monkeypatch, capsys
):
    from mlops_toolkit.runner import runner

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "run_processing", interrupted)
    code, summary = local_run(account, tmp_path / "run", "--input-data", str(data_file))

    assert code == 130
    assert "Interrupted" in capsys.readouterr().err
    assert summary["status"] == "Stopped"
    assert statuses(summary)["PreprocessData"] == "Stopped"
    assert statuses(summary)[MODEL_STEP] == "NotStarted"


def _drift_baselines(stand_in: EmbeddedAws, arn: str) -> dict:
    described = stand_in.client("sagemaker").describe_model_package(ModelPackageName=arn)
    return described["DriftCheckBaselines"]["ModelDataQuality"]


def _scaled_weights(rows: list[list[str]]) -> list[list[str]]:
    return [[*row[:4], *(f"{float(v) * 1.3:.4f}" for v in row[4:7]), *row[7:]] for row in rows]


def test_data_quality_baseline_is_registered_then_checked_on_the_next_runs(
    stand_in, account, tmp_path, make_rows, write_rows
):
    data = write_rows(tmp_path / "data" / "abalone.csv", make_rows())
    approved = ("--param", "ModelApprovalStatus=Approved", "--input-data", str(data))
    code, first = local_run(account, tmp_path / "first", *approved)
    assert code == 0
    baselines = _drift_baselines(stand_in, first["model_package_arn"])
    statistics = json.loads(s3_object(stand_in, baselines["Statistics"]["S3Uri"]))
    constraints = json.loads(s3_object(stand_in, baselines["Constraints"]["S3Uri"]))
    assert [f["name"] for f in statistics["features"]] == [
        "sex",
        "length",
        "diameter",
        "height",
        "whole_weight",
        "shucked_weight",
        "viscera_weight",
        "shell_weight",
    ]
    assert statistics["dataset"]["item_count"] == 210  # the training rows
    assert constraints["monitoring_config"]["distribution_constraints"]["comparison_threshold"]
    assert baselines["Statistics"]["ContentType"] == "application/json"

    # Defaults: compare with the approved version's baseline, and keep it as the drift baseline.
    code, second = local_run(account, tmp_path / "second", *approved, first_run=False)
    assert code == 0
    check = step(second, "CheckDataQuality")["details"]
    assert check["violations"] == 0 and check["skip_check"] is False
    assert _drift_baselines(stand_in, second["model_package_arn"]) == baselines

    # Training data that drifted from the approved baseline stops the run before registering.
    shifted = write_rows(tmp_path / "shifted" / "abalone.csv", _scaled_weights(make_rows()))
    code, third = local_run(
        account, tmp_path / "third", "--input-data", str(shifted), first_run=False
    )
    assert code == 1
    message = step(third, "CheckDataQuality")["message"]
    for feature in ("whole_weight", "shucked_weight", "viscera_weight"):
        assert f"{feature}: baseline_drift_check" in message
    assert "shell_weight" not in message and third.get("model_package_arn") is None


def test_a_first_run_registers_a_new_baseline_by_itself(
    stand_in, account, data_file, tmp_path, capsys
):
    code, summary = local_run(
        account, tmp_path / "run", "--input-data", str(data_file), first_run=False
    )

    err = " ".join(capsys.readouterr().err.split())
    assert code == 0, err
    assert "registers a new baseline" in err
    assert "SkipDataQualityCheck=true" in err and "RegisterNewDataQualityBaseline=true" in err
    check = step(summary, "CheckDataQuality")["details"]
    assert check["skip_check"] is True and check["register_new_baseline"] is True


def test_a_check_told_not_to_skip_without_a_baseline_says_what_to_pass(
    stand_in, account, data_file, tmp_path
):
    code, summary = local_run(
        account,
        tmp_path / "run",
        *("--input-data", str(data_file), "--param", "SkipDataQualityCheck=false"),
        first_run=False,
    )

    assert code == 1
    assert statuses(summary)["CheckDataQuality"] == "Failed"
    assert (
        "SkipDataQualityCheck=true and RegisterNewDataQualityBaseline=true"
        in step(summary, "CheckDataQuality")["message"]
    )


@pytest.fixture
def no_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A newcomer's machine: no AWS endpoint, no credentials anywhere."""
    for name in list(os.environ):
        if name.startswith("AWS_") and name != "AWS_DEFAULT_REGION":
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def test_without_aws_one_command_registers_a_model_and_the_next_run_finds_it(
    no_aws, tmp_path, monkeypatch, make_rows, write_rows, capsys
):
    # A copy of this project's pyproject.toml: its [tool.mlops-toolkit] defaults, elsewhere.
    project = tmp_path / "checkout"
    project.mkdir()
    shutil.copy(Path(__file__).resolve().parents[1] / "pyproject.toml", project)
    write_rows(project / "data" / "abalone.csv", make_rows())
    monkeypatch.chdir(project)

    approved = ["--input-data", "data/abalone.csv", "--param", "ModelApprovalStatus=Approved"]
    first = cli.main([*approved, "--run-dir", "runs/first"])

    err = " ".join(capsys.readouterr().err.split())
    assert first == 0, err
    assert "started a local AWS stand-in" in err and "registers a new baseline" in err
    summary = json.loads((project / "runs/first/run-summary.json").read_text())
    assert summary["model_package_arn"]
    assert (project / ".local/stand-in/registry.json").is_file()

    second = cli.main([*approved, "--run-dir", "runs/second"])

    err = " ".join(capsys.readouterr().err.split())
    assert second == 0, err
    assert "1 model version(s) restored" in err
    assert "registers a new baseline" not in err  # it compared with the first run's baseline
    second_summary = json.loads((project / "runs/second/run-summary.json").read_text())
    assert step(second_summary, "CheckDataQuality")["details"]["skip_check"] is False
