"""A pipeline that is not the template's: another step layout, other names, another signature.

    CountRows ─┐
               ├─> Combine
    SumValues ─┘
    CountRows ─> EnoughRows (JsonGet on CountRows' property file) ─> Publish | TooFewRows

Two processing steps run side by side and feed a third; the condition reads a property file of a
step the gate does not follow. ``build`` takes only what it needs (no region, no pipeline name).
"""

from __future__ import annotations

from pathlib import Path

from sagemaker.core.processing import ScriptProcessor
from sagemaker.core.shapes import (
    ProcessingInput,
    ProcessingOutput,
    ProcessingS3Input,
    ProcessingS3Output,
)
from sagemaker.core.workflow.conditions import ConditionGreaterThanOrEqualTo
from sagemaker.core.workflow.execution_variables import ExecutionVariables
from sagemaker.core.workflow.functions import Join, JsonGet
from sagemaker.core.workflow.parameters import ParameterInteger, ParameterString
from sagemaker.core.workflow.pipeline_context import PipelineSession
from sagemaker.core.workflow.properties import PropertyFile
from sagemaker.mlops.workflow.condition_step import ConditionStep
from sagemaker.mlops.workflow.fail_step import FailStep
from sagemaker.mlops.workflow.pipeline import Pipeline
from sagemaker.mlops.workflow.steps import ProcessingStep

SCRIPTS = Path(__file__).parent / "scripts"
ROOT = "/opt/ml/processing"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/numbers:1"
NAME = "numbers-report"


def _input(name: str, source) -> ProcessingInput:
    return ProcessingInput(
        input_name=name,
        s3_input=ProcessingS3Input(
            s3_uri=source,
            local_path=f"{ROOT}/{name}",
            s3_data_type="S3Prefix",
            s3_input_mode="File",
        ),
    )


def _output(bucket: str, name: str) -> ProcessingOutput:
    uri = Join(
        on="/", values=["s3:/", bucket, NAME, ExecutionVariables.PIPELINE_EXECUTION_ID, name]
    )
    return ProcessingOutput(
        output_name=name,
        s3_output=ProcessingS3Output(
            s3_uri=uri, local_path=f"{ROOT}/{name}", s3_upload_mode="EndOfJob"
        ),
    )


def _output_uri(step: ProcessingStep, name: str):
    return step.properties.ProcessingOutputConfig.Outputs[name].S3Output.S3Uri


def build(*, role_arn: str, default_bucket: str, boto_session) -> Pipeline:
    session = PipelineSession(boto_session=boto_session, default_bucket=default_bucket)
    raw = ParameterString(name="Numbers", default_value=f"s3://{default_bucket}/numbers/")
    min_rows = ParameterInteger(name="MinRows", default_value=3)

    def processing(name: str, script: str, inputs, outputs, property_files=()):
        processor = ScriptProcessor(
            image_uri=IMAGE,
            command=["python3"],
            instance_type="ml.t3.medium",
            instance_count=1,
            base_job_name=f"{NAME}-{script}",
            sagemaker_session=session,
            role=role_arn,
        )
        step_args = processor.run(
            inputs=inputs,
            outputs=[_output(default_bucket, output) for output in outputs],
            code=str(SCRIPTS / f"{script}.py"),
        )
        return ProcessingStep(name=name, step_args=step_args, property_files=list(property_files))

    row_stats = PropertyFile(name="RowStats", output_name="stats", path="stats.json")
    count = processing("CountRows", "count", [_input("numbers", raw)], ["stats"], [row_stats])
    total = processing("SumValues", "total", [_input("numbers", raw)], ["totals"])
    combine = processing(
        "Combine",
        "combine",
        [
            _input("stats", _output_uri(count, "stats")),
            _input("totals", _output_uri(total, "totals")),
        ],
        ["report"],
    )
    publish = processing(
        "Publish", "publish", [_input("report", _output_uri(combine, "report"))], ["published"]
    )
    rows = JsonGet(step_name=count.name, property_file=row_stats, json_path="rows")
    too_few = FailStep(
        name="TooFewRows",
        error_message=Join(on=" ", values=["only", rows, "rows; MinRows is", min_rows]),
    )
    gate = ConditionStep(
        name="EnoughRows",
        conditions=[ConditionGreaterThanOrEqualTo(left=rows, right=min_rows)],
        if_steps=[publish],
        else_steps=[too_few],
    )
    return Pipeline(
        name=NAME,
        parameters=[raw, min_rows],
        steps=[count, total, combine, gate],
        sagemaker_session=session,
    )
