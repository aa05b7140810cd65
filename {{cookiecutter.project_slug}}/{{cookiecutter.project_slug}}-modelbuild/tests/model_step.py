"""The step that produces the model: ``TrainModel``, a training job, or with hyperparameter
tuning on (project.json), ``TuneModel``, a tuning job whose training jobs share one definition.

The shared tests check either through these names, so the same suite runs in both projects.
"""

from __future__ import annotations

from modelbuild.settings import load_settings

TUNING = load_settings().hyperparameter_tuning
MODEL_STEP = "TuneModel" if TUNING else "TrainModel"
MODEL_STEP_TYPE = "Tuning" if TUNING else "Training"
# A short search keeps the local runs of the tests as quick as one training job.
LOCAL_RUN_LIMITS = (
    ("--param", "TuningMaxJobs=2", "--param", "TuningMaxParallelJobs=2") if TUNING else ()
)


def training_job(step: dict) -> dict:
    """A training job's arguments: the step's own, or the tuning job's training job definition."""
    arguments = step["Arguments"]
    return arguments["TrainingJobDefinition"] if TUNING else arguments


def hyperparameters_of(step: dict) -> dict:
    """The hyperparameters every training job of the step gets (a tuning job adds the tuned)."""
    job = training_job(step)
    return job["StaticHyperParameters"] if TUNING else job["HyperParameters"]
