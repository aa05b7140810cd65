"""Hyperparameter tuning: the ranges file, the objective train.py prints, and the Tuning step.

The Tuning step is built here with tuning switched on whatever project.json says, so every
project checks the step it gets when someone turns tuning on.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import model_io
import numpy as np
import pytest
from aws_stand_in import stand_in
from conftest import channel_flags
from fast_training import FAST_TRAINING

from modelbuild import pipeline as pipeline_module
from modelbuild import tuning
from modelbuild.definition import step_graph
from modelbuild.settings import load_settings
from modelbuild.steps.training import train

TRAINING_DIR = pipeline_module.TRAINING_DIR
RANGES = json.loads((TRAINING_DIR / tuning.RANGES_FILE).read_text(encoding="utf-8"))
DEFAULTS = pipeline_module.load_hyperparameters()


@pytest.fixture(scope="module")
def tuned_definition() -> dict:
    settings = dataclasses.replace(load_settings(), hyperparameter_tuning=True)
    with pytest.MonkeyPatch.context() as patch, stand_in() as ready:
        patch.setattr(pipeline_module, "load_settings", lambda: settings)
        pipeline = pipeline_module.get_pipeline(
            role_arn=ready.role_arn,
            default_bucket=ready.bucket,
            region=ready.region,
            git_commit="0123abcd",
            boto_session=ready.session,
        )
        return json.loads(pipeline.definition())


def _steps(definition: dict) -> dict[str, dict]:
    return {name: node.raw for name, node in step_graph(definition).items()}


# ---------------------------------------------------------------- the ranges file


def range_endpoints(spec: dict) -> list:
    return (
        spec["values"] if spec["type"] == "categorical" else [spec["min_value"], spec["max_value"]]
    )


@pytest.mark.parametrize("name", sorted(RANGES))
def test_every_value_the_ranges_allow_is_one_train_py_accepts(name: str, tmp_path: Path) -> None:
    for value in range_endpoints(RANGES[name]):
        flags = channel_flags(tmp_path, tmp_path / "model", tmp_path / "output")
        _, parsed = train.parse_args([*flags, f"--{name}", str(value)])
        assert parsed[name] == value


def test_the_ranges_file_passes_its_own_checks() -> None:
    assert tuning.check_ranges(RANGES, DEFAULTS) == []
    assert set(tuning.load_ranges(TRAINING_DIR)) == set(RANGES)


def _a_float_and_an_int_hyperparameter() -> tuple[str, str]:
    floats = [k for k, v in DEFAULTS.items() if isinstance(v, float)]
    ints = [k for k, v in DEFAULTS.items() if isinstance(v, int) and not isinstance(v, bool)]
    return floats[0], ints[0]


BROKEN = {
    "unknown name": ({"no_such": {"type": "integer", "min_value": 1, "max_value": 2}}, "not a"),
    "no type": ({"{float}": {"min_value": 1.0, "max_value": 2.0}}, "needs a type"),
    "unknown key": (
        {"{float}": {"type": "continuous", "min_value": 1, "max_value": 2, "step": 1}},
        "unknown key",
    ),
    "empty range": ({"{float}": {"type": "continuous", "min_value": 2, "max_value": 2}}, "below"),
    "log from zero": (
        {
            "{float}": {
                "type": "continuous",
                "min_value": 0,
                "max_value": 1,
                "scaling_type": "Logarithmic",
            }
        },
        "above 0",
    ),
    "continuous on a whole number": (
        {"{int}": {"type": "continuous", "min_value": 1, "max_value": 2}},
        "decimal default",
    ),
    "fractional integer bounds": (
        {"{int}": {"type": "integer", "min_value": 1.5, "max_value": 3}},
        "whole-number bounds",
    ),
    "categorical of the wrong type": (
        {"{int}": {"type": "categorical", "values": ["many"]}},
        "do not match",
    ),
}


@pytest.mark.parametrize(("ranges", "message"), BROKEN.values(), ids=BROKEN.keys())
def test_broken_ranges_are_refused_with_the_reason(ranges: dict, message: str) -> None:
    a_float, an_int = _a_float_and_an_int_hyperparameter()
    text = json.dumps(ranges).replace("{float}", a_float).replace("{int}", an_int)
    problems = tuning.check_ranges(json.loads(text), DEFAULTS)
    assert len(problems) == 1 and message in problems[0]


def test_a_broken_ranges_file_stops_the_build(tmp_path: Path) -> None:
    (tmp_path / tuning.HYPERPARAMETERS_FILE).write_text(json.dumps(DEFAULTS))
    (tmp_path / tuning.RANGES_FILE).write_text("{}")
    with pytest.raises(tuning.RangesError, match="at least one hyperparameter range"):
        tuning.load_ranges(tmp_path)


# ---------------------------------------------------------------- the objective


def test_train_py_prints_the_saved_models_validation_mse_last(
    preprocessed_dir: Path, tmp_path: Path, capsys
) -> None:
    flags = channel_flags(preprocessed_dir, tmp_path / "model", tmp_path / "output")
    assert train.main([*flags, *FAST_TRAINING]) == 0
    values = re.findall(tuning.OBJECTIVE_REGEX, capsys.readouterr().out)
    validation = np.loadtxt(preprocessed_dir / "validation" / "validation.csv", delimiter=",")
    model = model_io.load_model(tmp_path / "model")
    predictions = np.asarray(model_io.predict(model, validation[:, 1:]), dtype=float)
    saved_model_mse = float(np.mean((predictions - validation[:, 0]) ** 2))
    # The tuning job reads the last value: the model that was saved, not the last round.
    assert values and float(values[-1]) == pytest.approx(saved_model_mse, rel=1e-4)


# ---------------------------------------------------------------- the Tuning step


def test_the_tuning_step_replaces_training_and_feeds_evaluation(tuned_definition: dict) -> None:
    graph = step_graph(tuned_definition)
    assert [(s["Name"], s["Type"]) for s in tuned_definition["Steps"]][2] == ("TuneModel", "Tuning")
    assert "TrainModel" not in graph
    assert graph["TuneModel"].depends_on == {"PreprocessData"}
    assert graph["EvaluateModel"].depends_on == {"PreprocessData", "TuneModel"}
    steps = _steps(tuned_definition)
    [model_input] = [
        item["S3Input"]["S3Uri"]
        for item in steps["EvaluateModel"]["Arguments"]["ProcessingInputs"]
        if item["InputName"] == "model"
    ]
    output_path = steps["TuneModel"]["Arguments"]["TrainingJobDefinition"]["OutputDataConfig"]
    joined = model_input["Std:Join"]["Values"]
    # <S3OutputPath>/<best training job>/output/model.tar.gz, where SageMaker puts its model.
    assert joined[:-3] == output_path["S3OutputPath"]["Std:Join"]["Values"]
    assert joined[-3:] == [
        {"Get": "Steps.TuneModel.BestTrainingJob.TrainingJobName"},
        "output",
        "model.tar.gz",
    ]
    container = steps["RegisterModel"]["Arguments"]["InferenceSpecification"]["Containers"][0]
    assert container["ModelDataUrl"] == model_input


def test_the_tuning_job_minimises_the_metric_train_py_prints(tuned_definition: dict) -> None:
    arguments = _steps(tuned_definition)["TuneModel"]["Arguments"]
    config = arguments["HyperParameterTuningJobConfig"]
    assert config["HyperParameterTuningJobObjective"] == {
        "Type": "Minimize",
        "MetricName": tuning.OBJECTIVE_METRIC,
    }
    metrics = arguments["TrainingJobDefinition"]["AlgorithmSpecification"]["MetricDefinitions"]
    assert metrics == [{"Name": tuning.OBJECTIVE_METRIC, "Regex": tuning.OBJECTIVE_REGEX}]
    assert config["Strategy"] == {"Get": "Parameters.TuningStrategy"}
    assert config["ResourceLimits"] == {
        "MaxNumberOfTrainingJobs": {"Get": "Parameters.TuningMaxJobs"},
        "MaxParallelTrainingJobs": {"Get": "Parameters.TuningMaxParallelJobs"},
    }
    declared = {p["Name"]: p for p in tuned_definition["Parameters"]}
    assert declared["TuningMaxJobs"]["DefaultValue"] == tuning.DEFAULT_MAX_JOBS
    assert declared["TuningMaxParallelJobs"]["DefaultValue"] == tuning.DEFAULT_MAX_PARALLEL_JOBS
    assert declared["TuningStrategy"]["EnumValues"] == list(tuning.STRATEGIES)


def test_the_tuning_job_searches_exactly_the_ranges_file(tuned_definition: dict) -> None:
    ranges = _steps(tuned_definition)["TuneModel"]["Arguments"]["HyperParameterTuningJobConfig"]
    found = {
        item["Name"]: item
        for kind in (
            "ContinuousParameterRanges",
            "IntegerParameterRanges",
            "CategoricalParameterRanges",
        )
        for item in ranges["ParameterRanges"].get(kind, [])
    }
    assert set(found) == set(RANGES)
    for name, spec in RANGES.items():
        if spec["type"] == "categorical":
            assert found[name]["Values"] == [str(value) for value in spec["values"]]
        else:
            assert float(found[name]["MinValue"]) == spec["min_value"]
            assert float(found[name]["MaxValue"]) == spec["max_value"]
            assert found[name]["ScalingType"] == spec.get("scaling_type", "Auto")
