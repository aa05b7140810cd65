"""The pipeline definition the SDK generates: steps, wiring, parameters, images, gate."""

from __future__ import annotations

import json
from pathlib import Path

from aws_stand_in import REGION
from model_step import MODEL_STEP, MODEL_STEP_TYPE, TUNING, hyperparameters_of, training_job

from modelbuild import pipeline as pipeline_module
from modelbuild.definition import mermaid, step_graph
from modelbuild.settings import load_settings


def _steps(definition: dict) -> dict[str, dict]:
    return {name: node.raw for name, node in step_graph(definition).items()}


def test_top_level_steps_run_preprocess_baseline_train_evaluate_then_gate(definition):
    top = [(step["Name"], step["Type"]) for step in definition["Steps"]]
    assert top == [
        ("PreprocessData", "Processing"),
        ("CheckDataQuality", "QualityCheck"),
        (MODEL_STEP, MODEL_STEP_TYPE),
        ("EvaluateModel", "Processing"),
        ("CheckMseThreshold", "Condition"),
    ]


def test_gate_registers_on_pass_and_fails_with_the_measured_mse_otherwise(definition):
    gate = _steps(definition)["CheckMseThreshold"]["Arguments"]
    [condition] = gate["Conditions"]
    assert condition["Type"] == "LessThanOrEqualTo"
    json_get = condition["LeftValue"]["Std:JsonGet"]
    assert json_get["Path"] == "regression_metrics.mse.value"
    assert json_get["PropertyFile"] == {"Get": "Steps.EvaluateModel.PropertyFiles.EvaluationReport"}
    assert condition["RightValue"] == {"Get": "Parameters.MseThreshold"}
    assert [(s["Name"], s["Type"]) for s in gate["IfSteps"]] == [("RegisterModel", "RegisterModel")]
    assert [(s["Name"], s["Type"]) for s in gate["ElseSteps"]] == [("MseAboveThreshold", "Fail")]
    message = gate["ElseSteps"][0]["Arguments"]["ErrorMessage"]["Std:Join"]["Values"]
    assert {"Get": "Parameters.MseThreshold"} in message
    assert any("Std:JsonGet" in part for part in message if isinstance(part, dict))


def test_parameters_carry_the_project_defaults(definition):
    settings = load_settings()
    declared = {p["Name"]: p for p in definition["Parameters"]}
    assert set(declared) == {
        "ProcessingInstanceType",
        "ProcessingInstanceCount",
        "TrainingInstanceType",
        "ModelApprovalStatus",
        "InputDataUrl",
        "MseThreshold",
        "SkipDataQualityCheck",
        "RegisterNewDataQualityBaseline",
        "DataQualitySuppliedStatistics",
        "DataQualitySuppliedConstraints",
        *(("TuningStrategy", "TuningMaxJobs", "TuningMaxParallelJobs") if TUNING else ()),
    }
    for name in ("SkipDataQualityCheck", "RegisterNewDataQualityBaseline"):
        assert declared[name] == {"Name": name, "Type": "Boolean", "DefaultValue": False}
    for name in ("DataQualitySuppliedStatistics", "DataQualitySuppliedConstraints"):
        assert declared[name] == {"Name": name, "Type": "String", "DefaultValue": ""}
    assert declared["MseThreshold"] == {
        "Name": "MseThreshold",
        "Type": "Float",
        "DefaultValue": settings.mse_threshold,
    }
    assert declared["ProcessingInstanceType"]["DefaultValue"] == settings.processing_instance_type
    assert declared["TrainingInstanceType"]["DefaultValue"] == settings.training_instance_type
    assert declared["ModelApprovalStatus"]["DefaultValue"] == settings.model_approval_status
    assert declared["InputDataUrl"]["DefaultValue"] == (
        f"s3://sagemaker-servicecatalog-seedcode-{REGION}/dataset/abalone-dataset.csv"
    )


def test_instance_types_are_parameters_not_fixed_strings(definition):
    steps = _steps(definition)
    for name in ("PreprocessData", "EvaluateModel"):
        cluster = steps[name]["Arguments"]["ProcessingResources"]["ClusterConfig"]
        assert cluster["InstanceType"] == {"Get": "Parameters.ProcessingInstanceType"}
    resources = training_job(steps[MODEL_STEP])["ResourceConfig"]
    assert resources["InstanceType"] == {"Get": "Parameters.TrainingInstanceType"}


def test_each_step_reads_the_outputs_it_needs(definition):
    graph = step_graph(definition)
    assert graph[MODEL_STEP].depends_on == {"PreprocessData"}
    assert graph["EvaluateModel"].depends_on == {"PreprocessData", MODEL_STEP}
    assert graph["CheckMseThreshold"].depends_on == {"EvaluateModel"}
    channels = {
        channel["ChannelName"]: channel["DataSource"]["S3DataSource"]["S3Uri"]
        for channel in training_job(graph[MODEL_STEP].raw)["InputDataConfig"]
    }
    for name in ("train", "validation", "preprocessor"):
        expected = f"Steps.PreprocessData.ProcessingOutputConfig.Outputs['{name}'].S3Output.S3Uri"
        assert channels[name] == {"Get": expected}
    container = graph["RegisterModel"].raw["Arguments"]["InferenceSpecification"]["Containers"][0]
    [model_input] = [
        item["S3Input"]["S3Uri"]
        for item in graph["EvaluateModel"].raw["Arguments"]["ProcessingInputs"]
        if item["InputName"] == "model"
    ]
    # The model that is evaluated is the model that is registered.
    assert container["ModelDataUrl"] == model_input
    if not TUNING:
        assert model_input == {"Get": "Steps.TrainModel.ModelArtifacts.S3ModelArtifacts"}
    assert container["Environment"]["SAGEMAKER_PROGRAM"] == "inference.py"


def test_images_are_the_pinned_framework_versions(definition):
    steps = _steps(definition)
    settings = load_settings()
    images = pipeline_module.framework_images(settings, REGION)
    preprocess_image = steps["PreprocessData"]["Arguments"]["AppSpecification"]["ImageUri"]
    training_image = training_job(steps[MODEL_STEP])["AlgorithmSpecification"]["TrainingImage"]
    container = steps["RegisterModel"]["Arguments"]["InferenceSpecification"]["Containers"][0]
    assert f".dkr.ecr.{REGION}." in training_image
    assert preprocess_image.endswith("/sagemaker-scikit-learn:1.9-0-cpu-py3")
    # tests/test_images.py pins each image of this project's framework.
    assert training_image == images.training
    assert steps["EvaluateModel"]["Arguments"]["AppSpecification"]["ImageUri"] == images.evaluation
    assert container["Image"] == images.serving


def test_training_is_script_mode_with_explicit_limits_and_our_hyperparameters(definition):
    step = _steps(definition)[MODEL_STEP]
    training = training_job(step)
    assert training["StoppingCondition"] == {"MaxRuntimeInSeconds": 3600}
    tuned = set(pipeline_module.load_ranges(pipeline_module.TRAINING_DIR)) if TUNING else set()
    expected = {
        k: str(v) for k, v in pipeline_module.load_hyperparameters().items() if k not in tuned
    }
    # A tuning job's training jobs find their script through the framework container's driver.
    driver = {"sagemaker_program", "sagemaker_submit_directory"} if TUNING else set()
    hyperparameters = hyperparameters_of(step)
    assert set(hyperparameters) - set(expected) == driver
    assert {k: v for k, v in hyperparameters.items() if k not in driver} == expected
    channels = {c["ChannelName"] for c in training["InputDataConfig"]}
    # ModelTrainer's script mode uploads both; a tuning job's code travels in the driver's archive.
    assert ({"sm_drivers"} if TUNING else {"code", "sm_drivers"}) <= channels


def test_registration_records_metrics_approval_and_lineage(definition):
    register = _steps(definition)["RegisterModel"]["Arguments"]
    settings = load_settings()
    assert register["ModelPackageGroupName"] == settings.model_package_group_name
    assert register["ModelApprovalStatus"] == {"Get": "Parameters.ModelApprovalStatus"}
    statistics = register["ModelMetrics"]["ModelQuality"]["Statistics"]
    assert statistics["ContentType"] == "application/json"
    joined = statistics["S3Uri"]["Std:Join"]["Values"]
    assert joined[-1] == "evaluation.json"
    assert joined[0] == {
        "Get": "Steps.EvaluateModel.ProcessingOutputConfig.Outputs['evaluation'].S3Output.S3Uri"
    }
    metadata = register["CustomerMetadataProperties"]
    assert metadata["git_commit"] == "0123abcd"
    assert metadata["input_data"] == {"Get": "Parameters.InputDataUrl"}
    assert register["MetadataProperties"]["CommitId"] == "0123abcd"


def test_uploaded_step_code_is_the_code_in_this_repo(built_definition, definition):
    s3 = built_definition[0].session.client("s3")
    steps = _steps(definition)
    for step_name, script in (
        ("PreprocessData", "preprocess.py"),
        ("EvaluateModel", "evaluate.py"),
    ):
        [code] = [
            i["S3Input"]["S3Uri"]
            for i in steps[step_name]["Arguments"]["ProcessingInputs"]
            if i["InputName"] == "code"
        ]
        bucket, _, key = code.removeprefix("s3://").partition("/")
        uploaded = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        assert uploaded == (Path(pipeline_module.STEPS_DIR) / script).read_bytes()


def test_readme_diagram_matches_the_definition(definition):
    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    drawn = readme.split("```mermaid\n", 1)[1].split("```", 1)[0]
    assert drawn == mermaid(definition)


def test_data_quality_check_baselines_the_raw_training_features(definition):
    graph = step_graph(definition)
    check = graph["CheckDataQuality"].raw
    assert graph["CheckDataQuality"].depends_on == {"PreprocessData"}
    assert check["CheckType"] == "DATA_QUALITY"
    assert check["SkipCheck"] == {"Get": "Parameters.SkipDataQualityCheck"}
    assert check["RegisterNewBaseline"] == {"Get": "Parameters.RegisterNewDataQualityBaseline"}
    assert check["FailOnViolation"] is True
    assert check["SuppliedBaselineStatistics"] == {
        "Get": "Parameters.DataQualitySuppliedStatistics"
    }
    assert check["SuppliedBaselineConstraints"] == {
        "Get": "Parameters.DataQualitySuppliedConstraints"
    }
    assert check["ModelPackageGroupName"] == load_settings().model_package_group_name
    arguments = check["Arguments"]
    [dataset] = arguments["ProcessingInputs"]
    assert dataset["S3Input"]["S3Uri"] == {
        "Get": "Steps.PreprocessData.ProcessingOutputConfig.Outputs['baseline'].S3Output.S3Uri"
    }
    environment = arguments["Environment"]
    assert json.loads(environment["dataset_format"])["csv"]["header"] is True
    assert environment["dataset_source"] == dataset["S3Input"]["LocalPath"]
    assert "sagemaker-model-monitor-analyzer" in arguments["AppSpecification"]["ImageUri"]
    [output] = arguments["ProcessingOutputConfig"]["Outputs"]
    joined = output["S3Output"]["S3Uri"]["Std:Join"]["Values"]
    assert {"Get": "Execution.PipelineExecutionId"} in joined and joined[-1] == "data-quality"


def test_registration_carries_the_data_quality_baselines(definition):
    register = _steps(definition)["RegisterModel"]["Arguments"]
    drift = register["DriftCheckBaselines"]["ModelDataQuality"]
    metrics = register["ModelMetrics"]["ModelDataQuality"]
    for kind in ("Statistics", "Constraints"):
        assert drift[kind] == {
            "ContentType": "application/json",
            "S3Uri": {"Get": f"Steps.CheckDataQuality.BaselineUsedForDriftCheck{kind}"},
        }
        assert metrics[kind] == {
            "ContentType": "application/json",
            "S3Uri": {"Get": f"Steps.CheckDataQuality.CalculatedBaseline{kind}"},
        }
