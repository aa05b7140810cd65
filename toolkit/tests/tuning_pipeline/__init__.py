"""A pipeline with a Tuning step whose best model a processing step reads.

    TuneFit (3 ranges, objective "loss", minimized) ─> ReadBest (get_top_model_s3_uri(0))

``scripts/fit.py`` computes its loss from its hyperparameters, so a test knows which training
job must win. Tests may patch the static hyperparameters: ``OFFSET`` shifts every loss (a negative
one makes no job print it), ``SECONDS`` makes every job take that long.
"""

from __future__ import annotations

from pathlib import Path

from sagemaker.core.parameter import CategoricalParameter, ContinuousParameter, IntegerParameter
from sagemaker.core.processing import ScriptProcessor
from sagemaker.core.shapes import (
    ProcessingInput,
    ProcessingOutput,
    ProcessingS3Input,
    ProcessingS3Output,
)
from sagemaker.core.workflow.execution_variables import ExecutionVariables
from sagemaker.core.workflow.functions import Join
from sagemaker.core.workflow.pipeline_context import PipelineSession
from sagemaker.mlops.workflow.pipeline import Pipeline
from sagemaker.mlops.workflow.steps import ProcessingStep, TuningStep
from sagemaker.train import ModelTrainer
from sagemaker.train.configs import Compute, SourceCode
from sagemaker.train.tuner import HyperparameterTuner

SCRIPTS = Path(__file__).parent / "scripts"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/fit:1"
NAME = "tuning-report"
OFFSET = 0.0
SECONDS = 0.0
RANGES = {
    "x": ContinuousParameter(0.01, 1.0, "Logarithmic"),
    "k": IntegerParameter(1, 6),
    "kind": CategoricalParameter(["a", "b"]),
}


def build(*, role_arn: str, default_bucket: str, boto_session) -> Pipeline:
    session = PipelineSession(boto_session=boto_session, default_bucket=default_bucket)
    trainer = ModelTrainer(
        training_image=IMAGE,
        compute=Compute(instance_type="ml.m5.large", instance_count=1),
        source_code=SourceCode(source_dir=str(SCRIPTS), entry_script="fit.py"),
        hyperparameters={"offset": OFFSET, "seconds": SECONDS},
        base_job_name=f"{NAME}-fit",
        sagemaker_session=session,
        role=role_arn,
    )
    tuner = HyperparameterTuner(
        model_trainer=trainer,
        objective_metric_name="loss",
        objective_type="Minimize",
        metric_definitions=[{"Name": "loss", "Regex": r"^loss:([0-9.]+)"}],
        hyperparameter_ranges=RANGES,
        strategy="Random",
        max_jobs=6,
        max_parallel_jobs=3,
    )
    tune = TuningStep(name="TuneFit", step_args=tuner.tune())
    processor = ScriptProcessor(
        image_uri=IMAGE,
        command=["python3"],
        instance_type="ml.t3.medium",
        instance_count=1,
        base_job_name=f"{NAME}-read",
        sagemaker_session=session,
        role=role_arn,
    )
    chosen = Join(
        on="/", values=["s3:/", default_bucket, NAME, ExecutionVariables.PIPELINE_EXECUTION_ID]
    )
    step_args = processor.run(
        inputs=[
            ProcessingInput(
                input_name="model",
                s3_input=ProcessingS3Input(
                    s3_uri=tune.get_top_model_s3_uri(0, default_bucket, f"{NAME}-fit"),
                    local_path="/opt/ml/processing/model",
                    s3_data_type="S3Prefix",
                    s3_input_mode="File",
                ),
            )
        ],
        outputs=[
            ProcessingOutput(
                output_name="chosen",
                s3_output=ProcessingS3Output(
                    s3_uri=chosen, local_path="/opt/ml/processing/chosen", s3_upload_mode="EndOfJob"
                ),
            )
        ],
        code=str(SCRIPTS / "copy_model.py"),
    )
    read = ProcessingStep(name="ReadBest", step_args=step_args)
    return Pipeline(name=NAME, steps=[tune, read], sagemaker_session=session)
