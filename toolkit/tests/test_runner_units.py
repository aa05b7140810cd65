"""The local runner's building blocks that need no AWS: expressions, conditions, S3 key layout,
hyperparameter arguments, job names, definition checks and how step scripts are run."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from mlops_toolkit.artifacts import relative_key
from mlops_toolkit.definition import step_graph
from mlops_toolkit.errors import (
    LocalRunError,
    ResolutionError,
    StepFailed,
    UnsupportedStepError,
)
from mlops_toolkit.runner.conditions import evaluate, evaluate_all
from mlops_toolkit.runner.expressions import Resolver, RunState, parse_path
from mlops_toolkit.runner.runner import check_supported, job_name
from mlops_toolkit.runner.scripts import ScriptRun, run_script
from mlops_toolkit.runner.training import hyperparameter_arguments

OUTPUTS = {
    "ProcessingOutputConfig": {
        "Outputs": [
            {"OutputName": "train", "S3Output": {"S3Uri": "s3://b/run/train"}},
            {"OutputName": "test", "S3Output": {"S3Uri": "s3://b/run/test"}},
        ]
    }
}


@pytest.fixture
def resolver(tmp_path: Path) -> Resolver:
    report = tmp_path / "evaluation.json"
    report.write_text(json.dumps({"metrics": {"mse": {"value": 4.5}}, "folds": [1.5, 2.5]}))
    state = RunState(
        parameters={"Threshold": 6.0, "Approval": "Approved", "Enabled": True},
        execution={"PipelineExecutionId": "local-abc"},
        read_s3=lambda uri: json.dumps({"uri": uri, "score": 0.9}).encode(),
        properties={"Prep": OUTPUTS},
        property_files={"Eval": {"Report": report}},
    )
    return Resolver(state)


def json_get(path: str, step: str = "Eval", name: str = "Report") -> dict:
    reference = {"Get": f"Steps.{step}.PropertyFiles.{name}"}
    return {"Std:JsonGet": {"PropertyFile": reference, "Path": path}}


def test_parse_path_reads_attributes_indexes_and_quoted_keys():
    assert parse_path(".Outputs['train'].S3Output.S3Uri[0]") == [
        "Outputs",
        "train",
        "S3Output",
        "S3Uri",
        0,
    ]


def test_get_resolves_parameters_execution_variables_and_named_outputs(resolver):
    test_uri = {"Get": "Steps.Prep.ProcessingOutputConfig.Outputs['test'].S3Output.S3Uri"}
    value = {
        "threshold": {"Get": "Parameters.Threshold"},
        "id": {"Get": "Execution.PipelineExecutionId"},
        "nested": [test_uri],
        "literal": "kept",
    }

    assert resolver.resolve(value) == {
        "threshold": 6.0,
        "id": "local-abc",
        "nested": ["s3://b/run/test"],
        "literal": "kept",
    }


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        ("Parameters.Missing", "declares no parameter 'Missing'"),
        ("Execution.Nope", "unknown execution variable"),
        ("Steps.Later.ModelArtifacts.S3ModelArtifacts", "step 'Later' has not run"),
        ("Steps.Prep.ProcessingOutputConfig.Outputs['nope'].S3Output", "has no such property"),
        ("Things.X", "unknown root 'Things'"),
    ],
)
def test_unresolvable_references_name_what_is_missing(resolver, reference, message):
    with pytest.raises(ResolutionError, match=message):
        resolver.resolve({"Get": reference})


def test_join_writes_numbers_and_booleans_as_sagemaker_does(resolver):
    join = {
        "Std:Join": {
            "On": "/",
            "Values": ["s3:/", "b", {"Get": "Parameters.Threshold"}, {"Get": "Parameters.Enabled"}],
        }
    }

    assert resolver.resolve(join) == "s3://b/6.0/true"


def test_json_get_reads_property_files_and_s3_documents(resolver):
    assert resolver.resolve(json_get("metrics.mse.value")) == 4.5
    assert resolver.resolve(json_get("folds[1]")) == 2.5
    from_s3 = {"Std:JsonGet": {"S3Uri": "s3://b/report.json", "Path": "score"}}
    assert resolver.resolve(from_s3) == 0.9


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        (json_get("metrics.rmse.value"), "has no value at 'metrics.rmse.value'"),
        (json_get("x", name="Other"), "has no property file 'Other'"),
        ({"Std:Split": {"On": ","}}, "does not implement the function Std:Split"),
    ],
)
def test_json_get_and_unknown_functions_fail_clearly(resolver, expression, message):
    with pytest.raises(ResolutionError, match=message):
        resolver.resolve(expression)


def comparison(kind: str, left, right) -> dict:
    return {"Type": kind, "LeftValue": left, "RightValue": right}


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        (comparison("LessThanOrEqualTo", 4.5, 6.0), True),
        (comparison("LessThanOrEqualTo", 6.5, 6.0), False),
        (comparison("LessThan", 6.0, 6.0), False),
        (comparison("GreaterThan", "7", 6.0), True),
        (comparison("GreaterThanOrEqualTo", 6.0, "6.0"), True),
        (comparison("Equals", "Approved", "Approved"), True),
        ({"Type": "In", "QueryValue": 2, "Values": ["1", "2"]}, True),
        ({"Type": "Not", "Condition": comparison("Equals", 1, 1)}, False),
        (
            {
                "Type": "Or",
                "Conditions": [comparison("Equals", 1, 2), comparison("LessThan", 1, 2)],
            },
            True,
        ),
    ],
)
def test_conditions_evaluate_like_sagemaker(condition, expected):
    assert evaluate(condition, lambda value: value).result is expected


def test_a_condition_step_needs_every_condition_to_hold(resolver):
    outcomes = evaluate_all(
        [
            comparison(
                "LessThanOrEqualTo", json_get("metrics.mse.value"), {"Get": "Parameters.Threshold"}
            ),
            comparison("Equals", {"Get": "Parameters.Approval"}, "Approved"),
        ],
        resolver.resolve,
    )

    assert [(o.left, o.right, o.result) for o in outcomes] == [
        (4.5, 6.0, True),
        ("Approved", "Approved", True),
    ]


def test_unknown_condition_types_and_incomparable_values_are_errors():
    with pytest.raises(UnsupportedStepError, match="condition type 'Between'"):
        evaluate({"Type": "Between"}, lambda value: value)
    with pytest.raises(ResolutionError, match="cannot compare the text 'high' with a number"):
        evaluate(comparison("LessThan", "high", 6.0), lambda value: value)


@pytest.mark.parametrize(
    ("prefix", "key", "expected"),
    [
        ("run/test", "run/test/test.csv", "test.csv"),
        ("run/test/", "run/test/sub/a.csv", "sub/a.csv"),
        ("data/abalone.csv", "data/abalone.csv", "abalone.csv"),
        ("data/tr", "data/train/a.csv", "train/a.csv"),
    ],
)
def test_s3_objects_land_under_the_local_path_as_in_sagemaker(prefix, key, expected):
    assert relative_key(prefix, key) == expected


def _sdk_driver_utils():
    """The SDK's own training driver helpers, loaded as a file (its package needs AWS set up)."""
    sdk = Path(importlib.util.find_spec("sagemaker").submodule_search_locations[0])
    path = sdk / "train" / "container_drivers" / "common" / "utils.py"
    spec = importlib.util.spec_from_file_location("sdk_driver_utils", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_hyperparameters_become_the_same_arguments_as_in_the_container():
    hyperparameters = {
        "objective": "reg:squarederror",
        "num_round": "2000",
        "eta": "0.03",
        "flags": '{"a": 1}',
        "note": "two words",
    }

    expected = _sdk_driver_utils().hyperparameters_to_cli_args(hyperparameters)
    assert hyperparameter_arguments(hyperparameters) == expected


def test_job_names_are_valid_sagemaker_names():
    name = job_name("local-abc123", "Evaluate_the model" + "x" * 80)

    assert len(name) <= 63
    assert name.startswith("pipelines-local-abc123-Evaluate-the-model")
    assert all(ch.isalnum() or ch == "-" for ch in name)


def _step(name: str, kind: str = "Processing", after: tuple[str, ...] = ()) -> dict:
    return {"Name": name, "Type": kind, "Arguments": {}, "DependsOn": list(after)}


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        ([_step("A"), _step("Notify", "Lambda")], "step 'Notify' has type 'Lambda'"),
        ([_step("A", after=("Ghost",))], r"step 'A' depends on unknown step\(s\) \['Ghost'\]"),
        ([_step("A", after=("B",)), _step("B", after=("A",))], "in a cycle"),
    ],
)
def test_definitions_the_runner_cannot_follow_are_refused_up_front(steps, message):
    with pytest.raises(LocalRunError, match=message):
        check_supported(step_graph({"Steps": steps}))


def _script(tmp_path: Path, body: str, **options) -> ScriptRun:
    script = tmp_path / "step.py"
    script.write_text(body)
    return ScriptRun(
        command=[sys.executable, str(script)],
        cwd=tmp_path,
        log_file=tmp_path / "step.log",
        **options,
    )


def test_a_script_failure_carries_the_scripts_own_message_and_is_logged(tmp_path):
    body = "import sys\nprint('working')\nsys.exit('column x: 3 rows are not numbers\\n  - row 4')"

    with pytest.raises(StepFailed) as failed:
        run_script(_script(tmp_path, body), "step Prep")

    assert str(failed.value) == (
        "step Prep exited with code 1: column x: 3 rows are not numbers\n  - row 4"
    )
    log = (tmp_path / "step.log").read_text()
    assert "working" in log and "row 4" in log


def test_a_traceback_is_summed_up_by_its_last_line_and_the_failure_file_wins(tmp_path):
    crash = "raise ValueError('bad shape')"
    with pytest.raises(StepFailed, match=r"exited with code 1: ValueError: bad shape$"):
        run_script(_script(tmp_path, crash), "step A")

    failure = tmp_path / "failure"
    explained = f"open({str(failure)!r}, 'w').write('out of memory')\n{crash}"
    with pytest.raises(StepFailed, match=r"exited with code 1: out of memory$"):
        run_script(_script(tmp_path, explained, failure_file=failure), "step A")


def test_a_script_past_its_max_runtime_is_stopped(tmp_path):
    with pytest.raises(StepFailed, match=r"MaxRuntimeInSeconds \(1 s\)"):
        run_script(_script(tmp_path, "import time\ntime.sleep(30)", timeout=1.0), "step Slow")


@pytest.mark.parametrize(("preset", "expected"), [(None, "PASSIVE"), ("ACTIVE", "ACTIVE")])
def test_scripts_sleep_rather_than_spin_unless_the_user_says_otherwise(
    tmp_path, monkeypatch, preset, expected
):
    if preset is None:
        monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    else:
        monkeypatch.setenv("OMP_WAIT_POLICY", preset)

    run_script(_script(tmp_path, "import os\nprint(os.environ['OMP_WAIT_POLICY'])"), "step A")

    assert (tmp_path / "step.log").read_text().splitlines()[-1] == expected
