"""Hyperparameter tuning (``hyperparameter_tuning`` in project.json): the ranges, the objective
and the limits of the tuning job that replaces the training job.

``steps/training/hyperparameter_ranges.json`` gives, for each tuned hyperparameter of
``hyperparameters.json``, its type (continuous, integer, categorical) and range; the others keep
their value in every training job. The tuning job minimises the validation MSE of the model each
training job saves, which every train.py prints last as ``saved-model-validation-mse:<value>``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sagemaker.core.parameter import (
    CategoricalParameter,
    ContinuousParameter,
    IntegerParameter,
    ParameterRange,
)
from sagemaker.core.workflow.parameters import ParameterInteger, ParameterString
from sagemaker.mlops.workflow.steps import TuningStep

OBJECTIVE_METRIC = "validation:mse"
OBJECTIVE_REGEX = r"saved-model-validation-mse:([0-9.]+)"
RANGES_FILE = "hyperparameter_ranges.json"
HYPERPARAMETERS_FILE = "hyperparameters.json"
SCALING_TYPES = ("Auto", "Linear", "Logarithmic", "ReverseLogarithmic")
STRATEGIES = ("Bayesian", "Random")
# SageMaker's limits: 30 tuned hyperparameters, 30 values per categorical range.
MAX_RANGES = 30
MAX_CATEGORIES = 30
# A dozen jobs, three at a time: enough for Bayesian search to improve on its first guesses on
# ranges this size, at about four times the cost of one training job in wall time.
DEFAULT_MAX_JOBS = 12
DEFAULT_MAX_PARALLEL_JOBS = 3
RANGE_KEYS = {
    "continuous": {"type", "min_value", "max_value", "scaling_type"},
    "integer": {"type", "min_value", "max_value", "scaling_type"},
    "categorical": {"type", "values"},
}


class RangesError(ValueError):
    """hyperparameter_ranges.json breaks a rule; the message lists every problem."""


@dataclass(frozen=True)
class TuningParameters:
    """Per-execution overrides of the tuning job (``run-pipeline --param TuningMaxJobs=30``)."""

    strategy: ParameterString
    max_jobs: ParameterInteger
    max_parallel_jobs: ParameterInteger

    def as_list(self) -> list:
        return [self.strategy, self.max_jobs, self.max_parallel_jobs]


def make_tuning_parameters() -> TuningParameters:
    return TuningParameters(
        strategy=ParameterString(
            name="TuningStrategy", default_value=STRATEGIES[0], enum_values=list(STRATEGIES)
        ),
        max_jobs=ParameterInteger(name="TuningMaxJobs", default_value=DEFAULT_MAX_JOBS),
        max_parallel_jobs=ParameterInteger(
            name="TuningMaxParallelJobs", default_value=DEFAULT_MAX_PARALLEL_JOBS
        ),
    )


class LimitedTuningStep(TuningStep):
    """A TuningStep whose job limits are the pipeline's TuningMaxJobs and TuningMaxParallelJobs.

    The SDK (3.27) types ResourceLimits as plain integers and refuses a pipeline parameter there,
    while SageMaker Pipelines resolves a ``Get`` in any step argument when the step starts: the
    parameters replace the integers in the request the SDK built (the tuner holds their defaults).
    """

    def __init__(self, name: str, step_args: Any, limits: TuningParameters) -> None:
        super().__init__(name=name, step_args=step_args)
        self.limits = limits

    @property
    def arguments(self) -> dict[str, Any]:
        request = super().arguments
        resource_limits = request["HyperParameterTuningJobConfig"]["ResourceLimits"]
        resource_limits["MaxNumberOfTrainingJobs"] = self.limits.max_jobs
        resource_limits["MaxParallelTrainingJobs"] = self.limits.max_parallel_jobs
        return request


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _bounds_problems(name: str, spec: dict[str, Any]) -> list[str]:
    low, high = spec.get("min_value"), spec.get("max_value")
    if not (_is_number(low) and _is_number(high)):
        return [f"{name}: min_value and max_value must both be numbers"]
    problems = [] if low < high else [f"{name}: min_value {low} is not below max_value {high}"]
    if spec["type"] == "integer" and not (float(low).is_integer() and float(high).is_integer()):
        problems.append(f"{name}: an integer range needs whole-number bounds")
    scaling = spec.get("scaling_type", "Auto")
    if scaling not in SCALING_TYPES:
        problems.append(
            f"{name}: scaling_type {scaling!r} is not one of {', '.join(SCALING_TYPES)}"
        )
    elif scaling == "Logarithmic" and low <= 0:
        problems.append(f"{name}: Logarithmic scaling needs min_value above 0")
    elif scaling == "ReverseLogarithmic" and (spec["type"] == "integer" or low < 0 or high >= 1):
        problems.append(f"{name}: ReverseLogarithmic scaling needs a continuous range in [0, 1)")
    return problems


def _value_fits(value: Any, default: Any) -> bool:
    """Whether train.py, which casts a value by its default's type, reads ``value`` back."""
    if isinstance(default, str):
        return isinstance(value, str)
    if isinstance(default, int):
        return _is_number(value) and float(value).is_integer()
    return _is_number(value)


def _type_problems(name: str, spec: dict[str, Any], default: Any) -> list[str]:
    kind = spec["type"]
    if kind == "continuous" and not isinstance(default, float):
        return [
            f"{name}: a continuous range needs a decimal default in {HYPERPARAMETERS_FILE} "
            f"(train.py reads {default!r} as {type(default).__name__})"
        ]
    if kind == "integer" and not _is_number(default):
        return [f"{name}: an integer range needs a numeric default in {HYPERPARAMETERS_FILE}"]
    if kind != "categorical":
        return _bounds_problems(name, spec)
    values = spec.get("values")
    if not isinstance(values, list) or not 1 <= len(values) <= MAX_CATEGORIES:
        return [f"{name}: values must be a list of 1 to {MAX_CATEGORIES} choices"]
    wrong = [value for value in values if not _value_fits(value, default)]
    return [f"{name}: values {wrong} do not match the type of {default!r}"] if wrong else []


def _range_problems(name: str, spec: Any, defaults: dict[str, Any]) -> list[str]:
    if name not in defaults:
        return [f"{name}: not a hyperparameter in {HYPERPARAMETERS_FILE}"]
    if not isinstance(spec, dict) or spec.get("type") not in RANGE_KEYS:
        return [f"{name}: needs a type, one of {', '.join(RANGE_KEYS)}"]
    unknown = sorted(set(spec) - RANGE_KEYS[spec["type"]])
    if unknown:
        return [f"{name}: unknown key(s) {unknown} for a {spec['type']} range"]
    return _type_problems(name, spec, defaults[name])


def check_ranges(ranges: Any, defaults: dict[str, Any]) -> list[str]:
    """Every problem with a parsed ranges file, one message each."""
    if not isinstance(ranges, dict) or not ranges:
        return ["the file must hold an object with at least one hyperparameter range"]
    if len(ranges) > MAX_RANGES:
        return [f"{len(ranges)} ranges; SageMaker tunes at most {MAX_RANGES} hyperparameters"]
    return [
        problem
        for name, spec in ranges.items()
        for problem in _range_problems(name, spec, defaults)
    ]


def to_parameter_range(spec: dict[str, Any]) -> ParameterRange:
    if spec["type"] == "categorical":
        return CategoricalParameter(spec["values"])
    scaling = spec.get("scaling_type", "Auto")
    if spec["type"] == "integer":
        return IntegerParameter(int(spec["min_value"]), int(spec["max_value"]), scaling)
    return ContinuousParameter(spec["min_value"], spec["max_value"], scaling)


def load_ranges(training_dir: Path) -> dict[str, ParameterRange]:
    """The checked ranges beside hyperparameters.json, as the SDK's parameter ranges."""
    path = training_dir / RANGES_FILE
    try:
        ranges = json.loads(path.read_text("utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise RangesError(f"{path}: cannot read it as JSON ({error})") from None
    defaults = json.loads((training_dir / HYPERPARAMETERS_FILE).read_text("utf-8"))
    problems = check_ranges(ranges, defaults)
    if problems:
        raise RangesError(f"{path}:\n  - " + "\n  - ".join(problems))
    return {name: to_parameter_range(spec) for name, spec in ranges.items()}
