"""Run a Tuning step: a seeded random search over the definition's parameter ranges.

Each training job gets the definition's static hyperparameters plus one value drawn from every
range, runs like a Training step (channels, SageMaker's variables, the entry script, the model
packed and uploaded under ``<S3OutputPath>/<training job>/output/``) and is scored with the
objective metric's regex from ``MetricDefinitions``, applied to its log as SageMaker applies it
to the job's CloudWatch log (the last value printed counts). Up to ``MaxParallelTrainingJobs``
jobs run at once, never more than this machine has cores.

The step's properties are those of ``DescribeHyperParameterTuningJob`` and
``ListTrainingJobsForHyperParameterTuningJob``: ``BestTrainingJob`` and ``TrainingJobSummaries``
(best first, which is what the SDK's ``get_top_model_s3_uri(top_k)`` indexes).

Differences from SageMaker: every strategy runs as random search (Bayesian search needs the
service's model of the objective); training jobs are not stopped early; the tuning job's own
``MaxRuntimeInSeconds`` is not enforced (each training job's is).
"""

from __future__ import annotations

import math
import os
import random
import re
import secrets
import tarfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from mlops_toolkit.errors import LocalRunError, StepFailed, UnsupportedStepError
from mlops_toolkit.runner.context import StepContext, StepOutcome
from mlops_toolkit.runner.training import (
    CODE_CHANNEL,
    DATA_DIR,
    entry_command,
    publish,
    read_source_code,
    run_training_script,
    stage_channels,
)
from mlops_toolkit.runner.workspace import container_path

# Without a RandomSeed in the definition, the same search every run.
DEFAULT_SEED = 0
# SageMaker's limit on a tuning job's name; its training jobs are "<name>-<NNN>-<8 hex>".
TUNING_NAME_MAX = 32
# Hyperparameters the framework containers' driver keeps for itself (the entry script, where its
# code is): never passed on to the script.
DRIVER_PREFIX = "sagemaker_"
PROGRAM, SUBMIT_DIRECTORY = "sagemaker_program", "sagemaker_submit_directory"


@dataclass(frozen=True)
class Objective:
    name: str
    regex: re.Pattern[str]
    minimize: bool


@dataclass
class JobResult:
    name: str
    arn: str
    tuned: dict[str, str]
    status: str = "Completed"
    value: float | None = None
    # The packed model's record (s3_uri, local_path), as a Training step's outputs hold it.
    model: dict[str, str] | None = None
    log: str = ""
    message: str = ""

    def summary(self, objective: Objective) -> dict[str, Any]:
        """One TrainingJobSummary, as ListTrainingJobsForHyperParameterTuningJob gives it."""
        found: dict[str, Any] = {
            "TrainingJobName": self.name,
            "TrainingJobArn": self.arn,
            "TunedHyperParameters": self.tuned,
            "TrainingJobStatus": self.status,
            "ObjectiveStatus": "Succeeded" if self.value is not None else "Failed",
        }
        if self.value is not None:
            found["FinalHyperParameterTuningJobObjectiveMetric"] = {
                "Type": "Minimize" if objective.minimize else "Maximize",
                "MetricName": objective.name,
                "Value": self.value,
            }
        if self.message:
            found["FailureReason"] = self.message
        return found


def objective_of(config: dict[str, Any], definition: dict[str, Any], step: str) -> Objective:
    wanted = config.get("HyperParameterTuningJobObjective") or {}
    name = wanted.get("MetricName")
    metrics = definition.get("AlgorithmSpecification", {}).get("MetricDefinitions", [])
    regexes = [metric["Regex"] for metric in metrics if metric.get("Name") == name]
    if not name or not regexes:
        raise UnsupportedStepError(
            f"step {step}: the objective metric {name!r} has no MetricDefinitions regex; locally "
            "only script-mode training jobs that print their metric can be tuned"
        )
    return Objective(name, re.compile(regexes[0]), wanted.get("Type", "Maximize") == "Minimize")


# ---------------------------------------------------------------- drawing hyperparameters


def _continuous(spec: dict[str, Any], rng: random.Random) -> float:
    low, high = float(spec["MinValue"]), float(spec["MaxValue"])
    scaling = spec.get("ScalingType", "Auto")
    if scaling == "Logarithmic":
        return math.exp(rng.uniform(math.log(low), math.log(high)))
    if scaling == "ReverseLogarithmic":
        return 1 - math.exp(rng.uniform(math.log(1 - high), math.log(1 - low)))
    return rng.uniform(low, high)


def _integer(spec: dict[str, Any], rng: random.Random) -> int:
    low, high = int(float(spec["MinValue"])), int(float(spec["MaxValue"]))
    if spec.get("ScalingType") == "Logarithmic":
        return min(high, max(low, round(math.exp(rng.uniform(math.log(low), math.log(high))))))
    return rng.randint(low, high)


def draw(ranges: dict[str, Any], rng: random.Random) -> dict[str, str]:
    """One value per range, as the strings SageMaker hands a training job."""
    tuned: dict[str, str] = {}
    for spec in ranges.get("ContinuousParameterRanges", []):
        tuned[spec["Name"]] = repr(round(_continuous(spec, rng), 6))
    for spec in ranges.get("IntegerParameterRanges", []):
        tuned[spec["Name"]] = str(_integer(spec, rng))
    for spec in ranges.get("CategoricalParameterRanges", []):
        tuned[spec["Name"]] = str(rng.choice(spec["Values"]))
    return tuned


# ---------------------------------------------------------------- one training job


def job_arguments(definition: dict[str, Any], tuned: dict[str, str]) -> dict[str, Any]:
    """The CreateTrainingJob request the tuning job makes for one set of values."""
    arguments = {k: v for k, v in definition.items() if k != "StaticHyperParameters"}
    arguments["HyperParameters"] = {**definition.get("StaticHyperParameters", {}), **tuned}
    return arguments


def stage_code(hyperparameters: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
    """Where the entry script comes from: the framework container's own convention (the
    ``sagemaker_submit_directory`` archive, ``sagemaker_program``) when the definition uses it,
    else ModelTrainer's ``code`` channel and ``sm_drivers/sourcecode.json``."""
    if PROGRAM not in hyperparameters:
        return read_source_code(ctx)
    code_dir = container_path(ctx.workspace, DATA_DIR) / CODE_CHANNEL
    archive_dir = ctx.workspace / "sourcedir"
    uri = str(hyperparameters.get(SUBMIT_DIRECTORY, ""))
    ctx.store.stage(uri, archive_dir, f"the code of step {ctx.name}")
    code_dir.mkdir(parents=True, exist_ok=True)
    for archive in archive_dir.glob("*.tar.gz"):
        with tarfile.open(archive) as tar:
            # The "data" filter (no links out, no absolute paths) where this Python has it.
            safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
            tar.extractall(code_dir, **safe)  # noqa: S202 - filtered where supported
    return {"entry_script": hyperparameters[PROGRAM]}


def train(arguments: dict[str, Any], ctx: StepContext, fresh_process: bool) -> dict[str, str]:
    """Run one training job to completion; the record of its uploaded model.tar.gz."""
    hyperparameters = arguments.get("HyperParameters", {})
    script_hyperparameters = {
        k: v for k, v in hyperparameters.items() if not k.startswith(DRIVER_PREFIX)
    }
    arguments = {**arguments, "HyperParameters": script_hyperparameters}
    channels = stage_channels(arguments, ctx)
    source = stage_code(hyperparameters, ctx)
    command = entry_command(source, script_hyperparameters, ctx)
    if fresh_process and command[0] == ctx.python:
        # The fork server runs one script at a time; `python -u script` is a form it never forks,
        # so parallel jobs each start a process of their own.
        command = [command[0], "-u", *command[1:]]
    run_training_script(
        command, arguments, channels, source, ctx, label=f"training job {ctx.job_name}"
    )
    return publish(arguments, ctx)["model"]


def last_value(objective: Objective, log: Path) -> float | None:
    """The last value the regex finds, line by line as SageMaker reads the job's log events."""
    text = log.read_text(encoding="utf-8", errors="replace") if log.is_file() else ""
    matches = (objective.regex.search(line) for line in text.splitlines())
    values = [match.group(1) for match in matches if match]
    try:
        return float(values[-1]) if values else None
    except ValueError:
        return None


def run_job(job: JobResult, arguments: dict, ctx: StepContext, objective: Objective, fresh: bool):
    job_ctx = replace(
        ctx,
        name=f"{ctx.name}/{job.name}",
        workspace=ctx.workspace / job.name,
        log_file=Path(job.log),
        job_name=job.name,
    )
    try:
        job.model = train(arguments, job_ctx, fresh)
    except LocalRunError as error:
        job.status, job.message = "Failed", str(error)
        return job
    job.value = last_value(objective, job_ctx.log_file)
    if job.value is None:
        job.message = f"the log never matched the objective's regex {objective.regex.pattern!r}"
    return job


# ---------------------------------------------------------------- the tuning job


def tuning_job_name(ctx: StepContext) -> str:
    return ctx.job_name[:TUNING_NAME_MAX].strip("-")


def plan_jobs(config: dict[str, Any], ctx: StepContext) -> list[JobResult]:
    limits = config.get("ResourceLimits", {})
    count = int(limits.get("MaxNumberOfTrainingJobs", 1))
    rng = random.Random(int(config.get("RandomSeed", DEFAULT_SEED)))
    name = tuning_job_name(ctx)
    jobs = []
    for number in range(1, count + 1):
        job = f"{name}-{number:03d}-{secrets.token_hex(4)}"
        log = ctx.log_file.parent / ctx.name / f"{job}.log"
        arn = replace(ctx, job_name=job).arn("training-job")
        jobs.append(JobResult(job, arn, draw(config.get("ParameterRanges", {}), rng), log=str(log)))
    return jobs


def parallelism(config: dict[str, Any], jobs: int) -> int:
    wanted = int(config.get("ResourceLimits", {}).get("MaxParallelTrainingJobs", 1))
    return max(1, min(wanted, os.cpu_count() or 1, jobs))


def ranked(jobs: list[JobResult], objective: Objective) -> list[JobResult]:
    """Scored jobs best first, then the others in the order they were started."""
    scored = [job for job in jobs if job.value is not None]
    scored.sort(key=lambda job: job.value if objective.minimize else -job.value)
    return scored + [job for job in jobs if job.value is None]


def run_tuning(arguments: dict[str, Any], ctx: StepContext) -> StepOutcome:
    if "TrainingJobDefinitions" in arguments:
        raise UnsupportedStepError(f"step {ctx.name}: several training job definitions")
    config = arguments["HyperParameterTuningJobConfig"]
    definition = arguments["TrainingJobDefinition"]
    objective = objective_of(config, definition, ctx.name)
    jobs = plan_jobs(config, ctx)
    workers = parallelism(config, len(jobs))
    ctx.log(
        f"# strategy {config.get('Strategy')}: locally a random search; {len(jobs)} training "
        f"job(s), {workers} at a time; objective {objective.name} "
        f"({'minimize' if objective.minimize else 'maximize'})"
    )
    with ThreadPoolExecutor(max_workers=workers) as pool:
        done = list(
            pool.map(
                lambda job: run_job(
                    job, job_arguments(definition, job.tuned), ctx, objective, workers > 1
                ),
                jobs,
            )
        )
    return outcome(arguments, ctx, objective, ranked(done, objective))


def outcome(
    arguments: dict[str, Any], ctx: StepContext, objective: Objective, jobs: list[JobResult]
) -> StepOutcome:
    for job in jobs:
        score = f"{objective.name}={job.value}"
        ctx.log(f"# {job.name}: {job.status}, {score}, {job.tuned} {job.message}".rstrip())
    best = jobs[0]
    if best.value is None:
        reasons = "; ".join(f"{job.name}: {job.message}" for job in jobs[:3])
        raise StepFailed(f"step {ctx.name}: no training job reported {objective.name} ({reasons})")
    summaries = [job.summary(objective) for job in jobs]
    statuses = [job.status for job in jobs]
    properties = {
        **arguments,
        "HyperParameterTuningJobName": tuning_job_name(ctx),
        "HyperParameterTuningJobArn": replace(ctx, job_name=tuning_job_name(ctx)).arn(
            "hyper-parameter-tuning-job"
        ),
        "HyperParameterTuningJobStatus": "Completed",
        "TrainingJobStatusCounters": {
            "Completed": statuses.count("Completed"),
            "NonRetryableError": statuses.count("Failed"),
        },
        "ObjectiveStatusCounters": {
            "Succeeded": sum(job.value is not None for job in jobs),
            "Failed": sum(job.value is None for job in jobs),
        },
        "BestTrainingJob": summaries[0],
        "TrainingJobSummaries": summaries,
    }
    outputs = {"model": {**(best.model or {}), "training_job": best.name}}
    details = {"training_jobs": [asdict(job) for job in jobs]}
    return StepOutcome(properties, outputs, details=details)
