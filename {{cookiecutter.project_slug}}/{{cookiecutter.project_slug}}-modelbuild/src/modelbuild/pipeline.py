"""The SageMaker pipeline: preprocess → data-quality baseline, train → evaluate → quality gate
→ register (with the baseline as its drift-check baseline), or fail.

With ``hyperparameter_tuning`` on (project.json), a tuning job over
``steps/training/hyperparameter_ranges.json`` replaces the training job, and the best training
job's model goes on to evaluation, the gate and registration.

``get_pipeline`` is the one place the DAG is defined. The cloud run, ``get-pipeline-definition``
and the local runner all start from the definition it produces, so they cannot drift apart.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import boto3
from sagemaker.core import image_uris
from sagemaker.core.drift_check_baselines import DriftCheckBaselines
from sagemaker.core.metadata_properties import MetadataProperties
from sagemaker.core.model_metrics import MetricsSource, ModelMetrics
from sagemaker.core.model_monitor.dataset_format import DatasetFormat
from sagemaker.core.processing import ScriptProcessor
from sagemaker.core.shapes import (
    ProcessingInput,
    ProcessingOutput,
    ProcessingS3Input,
    ProcessingS3Output,
)
from sagemaker.core.workflow.conditions import ConditionLessThanOrEqualTo
from sagemaker.core.workflow.execution_variables import ExecutionVariables
from sagemaker.core.workflow.functions import Join, JsonGet
from sagemaker.core.workflow.parameters import (
    ParameterBoolean,
    ParameterFloat,
    ParameterInteger,
    ParameterString,
)
from sagemaker.core.workflow.pipeline_context import PipelineSession
from sagemaker.core.workflow.properties import PropertyFile
from sagemaker.mlops.workflow.check_job_config import CheckJobConfig
from sagemaker.mlops.workflow.condition_step import ConditionStep
from sagemaker.mlops.workflow.fail_step import FailStep
from sagemaker.mlops.workflow.model_step import ModelStep
from sagemaker.mlops.workflow.pipeline import Pipeline
from sagemaker.mlops.workflow.quality_check_step import DataQualityCheckConfig, QualityCheckStep
from sagemaker.mlops.workflow.steps import ProcessingStep, TrainingStep, TuningStep
from sagemaker.serve.model_builder import ModelBuilder
from sagemaker.train import ModelTrainer
from sagemaker.train.configs import (
    Compute,
    InputData,
    OutputDataConfig,
    SourceCode,
    StoppingCondition,
)
from sagemaker.train.tuner import HyperparameterTuner

from modelbuild.settings import ProjectSettings, load_settings
from modelbuild.tuning import (
    OBJECTIVE_METRIC,
    OBJECTIVE_REGEX,
    LimitedTuningStep,
    TuningParameters,
    load_ranges,
    make_tuning_parameters,
)

STEPS_DIR = Path(__file__).parent / "steps"
TRAINING_DIR = STEPS_DIR / "training"

# Container images. Local library versions in pyproject.toml match these (see README). The
# training framework's images are named in steps/training/framework.json.
SKLEARN_IMAGE_VERSION = "1.9-0"
FRAMEWORK_FILE = TRAINING_DIR / "framework.json"
# Instance types the registered model may be deployed on; the first picks the serving image's
# processor (CPU or GPU).
INFERENCE_INSTANCE_TYPES = ["ml.m5.large", "ml.m5.xlarge"]

# The metric the quality gate compares, as written by steps/evaluate.py.
EVALUATION_PROPERTY_FILE = "EvaluationReport"
EVALUATION_FILE = "evaluation.json"
MSE_JSON_PATH = "regression_metrics.mse.value"

# Abalone trains in about a minute; an explicit cap stops a runaway job from billing for the
# SDK's implicit default. Raise it for larger data.
TRAINING_MAX_RUNTIME_SECONDS = 3600

PROCESSING_ROOT = "/opt/ml/processing"
PREPROCESS_OUTPUTS = ("train", "validation", "test", "preprocessor", "baseline")
# preprocess.py writes the raw training features (the endpoint's input columns, no label) with a
# header row naming them: Model Monitor takes the feature names from that header and matches the
# headerless captured requests to them by position.
BASELINE_OUTPUT = "baseline"
DATA_QUALITY_STEP = "CheckDataQuality"
# The monitor's baselining job runs on its own instance type (it needs no GPU and little memory).
CHECK_INSTANCE_TYPE = "ml.m5.xlarge"
CHECK_MAX_RUNTIME_SECONDS = 3600
TRAINING_CHANNELS = ("train", "validation", "preprocessor")


@dataclass(frozen=True)
class PipelineParameters:
    """Everything a user may override per execution (``run-pipeline --param Name=Value``)."""

    processing_instance_type: ParameterString
    processing_instance_count: ParameterInteger
    training_instance_type: ParameterString
    model_approval_status: ParameterString
    input_data_url: ParameterString
    mse_threshold: ParameterFloat
    skip_data_quality_check: ParameterBoolean
    register_new_data_quality_baseline: ParameterBoolean
    supplied_data_quality_statistics: ParameterString
    supplied_data_quality_constraints: ParameterString
    # Only with hyperparameter tuning on: a project without it keeps its parameters unchanged.
    tuning: TuningParameters | None = None

    def as_list(self) -> list:
        tuning = self.tuning.as_list() if self.tuning else []
        return [
            self.processing_instance_type,
            self.processing_instance_count,
            self.training_instance_type,
            self.model_approval_status,
            self.input_data_url,
            self.mse_threshold,
            self.skip_data_quality_check,
            self.register_new_data_quality_baseline,
            self.supplied_data_quality_statistics,
            self.supplied_data_quality_constraints,
            *tuning,
        ]


@dataclass(frozen=True)
class BuildContext:
    settings: ProjectSettings
    session: PipelineSession
    role_arn: str
    region: str
    bucket: str
    pipeline_name: str
    model_package_group_name: str
    git_commit: str


def default_input_data_url(region: str) -> str:
    """The public abalone sample SageMaker publishes in every region."""
    return f"s3://sagemaker-servicecatalog-seedcode-{region}/dataset/abalone-dataset.csv"


def load_hyperparameters() -> dict[str, str | int | float]:
    return json.loads((TRAINING_DIR / "hyperparameters.json").read_text("utf-8"))


@dataclass(frozen=True)
class FrameworkImages:
    """The training framework's container images for this region and these instance types."""

    training: str
    evaluation: str
    serving: str


def framework_images(settings: ProjectSettings, region: str) -> FrameworkImages:
    """Look the images up from framework.json (image_uris.retrieve arguments, region aside).

    GPU and CPU images differ for some frameworks, so each image is chosen for the instance type
    that runs it: the project's training instance type, the processing instance type (evaluation
    uses the training image) and the first inference instance type.
    """
    spec = json.loads(FRAMEWORK_FILE.read_text("utf-8"))

    def retrieve(image: dict, instance_type: str, scope: str) -> str:
        return image_uris.retrieve(
            region=region, instance_type=instance_type, image_scope=scope, **image
        )

    return FrameworkImages(
        training=retrieve(spec["training_image"], settings.training_instance_type, "training"),
        evaluation=retrieve(spec["training_image"], settings.processing_instance_type, "training"),
        serving=retrieve(spec["serving_image"], INFERENCE_INSTANCE_TYPES[0], "inference"),
    )


def make_parameters(settings: ProjectSettings, region: str) -> PipelineParameters:
    return PipelineParameters(
        processing_instance_type=ParameterString(
            name="ProcessingInstanceType", default_value=settings.processing_instance_type
        ),
        processing_instance_count=ParameterInteger(name="ProcessingInstanceCount", default_value=1),
        training_instance_type=ParameterString(
            name="TrainingInstanceType", default_value=settings.training_instance_type
        ),
        model_approval_status=ParameterString(
            name="ModelApprovalStatus",
            default_value=settings.model_approval_status,
            enum_values=["PendingManualApproval", "Approved"],
        ),
        input_data_url=ParameterString(
            name="InputDataUrl", default_value=default_input_data_url(region)
        ),
        mse_threshold=ParameterFloat(name="MseThreshold", default_value=settings.mse_threshold),
        # Names and defaults as in AWS's model-monitor project template. A first run has no
        # approved baseline to compare with: start it with RegisterNewDataQualityBaseline=true.
        skip_data_quality_check=ParameterBoolean(name="SkipDataQualityCheck", default_value=False),
        register_new_data_quality_baseline=ParameterBoolean(
            name="RegisterNewDataQualityBaseline", default_value=False
        ),
        # Empty: compare with the drift-check baseline of the latest approved model version.
        supplied_data_quality_statistics=ParameterString(
            name="DataQualitySuppliedStatistics", default_value=""
        ),
        supplied_data_quality_constraints=ParameterString(
            name="DataQualitySuppliedConstraints", default_value=""
        ),
        tuning=make_tuning_parameters() if settings.hyperparameter_tuning else None,
    )


def _execution_s3_uri(ctx: BuildContext, *parts: str) -> Join:
    """An S3 location unique to one execution, so reruns never overwrite each other.

    Under ``<pipeline>/executions/``: the only part of ``<pipeline>/`` the execution role may
    write, so it can never reach the step code, nor a CodePipeline artifact whose truncated
    pipeline folder happens to equal the pipeline name.
    """
    return Join(
        on="/",
        values=[
            "s3:/",
            ctx.bucket,
            ctx.pipeline_name,
            "executions",
            ExecutionVariables.PIPELINE_EXECUTION_ID,
        ]
        + list(parts),
    )


def _s3_input(name: str, source, local_dir: str) -> ProcessingInput:
    return ProcessingInput(
        input_name=name,
        s3_input=ProcessingS3Input(
            s3_uri=source,
            local_path=f"{PROCESSING_ROOT}/{local_dir}",
            s3_data_type="S3Prefix",
            s3_input_mode="File",
        ),
    )


def _s3_output(ctx: BuildContext, step: str, name: str) -> ProcessingOutput:
    return ProcessingOutput(
        output_name=name,
        s3_output=ProcessingS3Output(
            s3_uri=_execution_s3_uri(ctx, step, name),
            local_path=f"{PROCESSING_ROOT}/{name}",
            s3_upload_mode="EndOfJob",
        ),
    )


def _processor(ctx: BuildContext, image_uri: str, params: PipelineParameters, job: str):
    return ScriptProcessor(
        image_uri=image_uri,
        command=["python3"],
        instance_type=params.processing_instance_type,
        instance_count=params.processing_instance_count,
        base_job_name=f"{ctx.pipeline_name}-{job}",
        sagemaker_session=ctx.session,
        role=ctx.role_arn,
    )


def preprocess_step(ctx: BuildContext, params: PipelineParameters) -> ProcessingStep:
    image = image_uris.retrieve(
        framework="sklearn", region=ctx.region, version=SKLEARN_IMAGE_VERSION, py_version="py3"
    )
    step_args = _processor(ctx, image, params, "preprocess").run(
        inputs=[_s3_input("raw", params.input_data_url, "input")],
        outputs=[_s3_output(ctx, "preprocess", name) for name in PREPROCESS_OUTPUTS],
        code=str(STEPS_DIR / "preprocess.py"),
    )
    return ProcessingStep(name="PreprocessData", step_args=step_args)


def data_quality_step(
    ctx: BuildContext, params: PipelineParameters, preprocess: ProcessingStep
) -> QualityCheckStep:
    """Model Monitor's baselining job on the raw training features: the drift reference."""
    baseline = preprocess.properties.ProcessingOutputConfig.Outputs[BASELINE_OUTPUT].S3Output.S3Uri
    check_job = CheckJobConfig(
        role=ctx.role_arn,
        instance_count=1,
        instance_type=CHECK_INSTANCE_TYPE,
        max_runtime_in_seconds=CHECK_MAX_RUNTIME_SECONDS,
        base_job_name=f"{ctx.pipeline_name}-data-quality",
        sagemaker_session=ctx.session,
    )
    return QualityCheckStep(
        name=DATA_QUALITY_STEP,
        quality_check_config=DataQualityCheckConfig(
            baseline_dataset=baseline,
            dataset_format=DatasetFormat.csv(header=True),
            output_s3_uri=_execution_s3_uri(ctx, "data-quality"),
        ),
        check_job_config=check_job,
        skip_check=params.skip_data_quality_check,
        register_new_baseline=params.register_new_data_quality_baseline,
        model_package_group_name=ctx.model_package_group_name,
        supplied_baseline_statistics=params.supplied_data_quality_statistics,
        supplied_baseline_constraints=params.supplied_data_quality_constraints,
    )


def _json_source(uri) -> MetricsSource:
    return MetricsSource(s3_uri=uri, content_type="application/json")


def training_inputs(preprocess: ProcessingStep) -> list[InputData]:
    outputs = preprocess.properties.ProcessingOutputConfig.Outputs
    return [
        InputData(
            channel_name=channel,
            data_source=outputs[channel].S3Output.S3Uri,
            content_type="text/csv" if channel != "preprocessor" else "application/json",
        )
        for channel in TRAINING_CHANNELS
    ]


def model_trainer(
    ctx: BuildContext,
    params: PipelineParameters,
    image: str,
    inputs: list[InputData] | None = None,
    output_path=None,
) -> ModelTrainer:
    """The training job's settings; a tuning job starts its training jobs from the same ones."""
    # None keeps the SDK's default output path (<bucket>/<base job name>).
    output = OutputDataConfig(s3_output_path=output_path) if output_path is not None else None
    return ModelTrainer(
        training_image=image,
        compute=Compute(instance_type=params.training_instance_type, instance_count=1),
        source_code=SourceCode(source_dir=str(TRAINING_DIR), entry_script="train.py"),
        stopping_condition=StoppingCondition(max_runtime_in_seconds=TRAINING_MAX_RUNTIME_SECONDS),
        hyperparameters=load_hyperparameters(),
        input_data_config=inputs,
        base_job_name=f"{ctx.pipeline_name}-train",
        sagemaker_session=ctx.session,
        role=ctx.role_arn,
        output_data_config=output,
    )


def train_step(
    ctx: BuildContext, params: PipelineParameters, preprocess: ProcessingStep, image: str
) -> TrainingStep:
    trainer = model_trainer(ctx, params, image, inputs=training_inputs(preprocess))
    return TrainingStep(name="TrainModel", step_args=trainer.train())


def tuning_step(
    ctx: BuildContext, params: PipelineParameters, preprocess: ProcessingStep, image: str
) -> TuningStep:
    """Training jobs over hyperparameter_ranges.json, ranked by the validation MSE train.py logs.

    Their models go under this execution's prefix (``tuning/<training job>/output``), the only
    place the execution role may write, so best_model_uri can name the best one. The channels
    go to ``tune``: the SDK's tuner reads a trainer's own channels as Channel objects only.
    """
    trainer = model_trainer(ctx, params, image, output_path=_execution_s3_uri(ctx, "tuning"))
    tuning = params.tuning
    tuner = HyperparameterTuner(
        model_trainer=trainer,
        objective_metric_name=OBJECTIVE_METRIC,
        objective_type="Minimize",
        metric_definitions=[{"Name": OBJECTIVE_METRIC, "Regex": OBJECTIVE_REGEX}],
        hyperparameter_ranges=load_ranges(TRAINING_DIR),
        strategy=tuning.strategy,
        max_jobs=tuning.max_jobs.default_value,
        max_parallel_jobs=tuning.max_parallel_jobs.default_value,
        base_tuning_job_name=f"{ctx.pipeline_name}-tune",
    )
    step_args = tuner.tune(inputs=training_inputs(preprocess))
    return LimitedTuningStep(name="TuneModel", step_args=step_args, limits=tuning)


def best_model_uri(ctx: BuildContext, tuning: TuningStep) -> Join:
    """The best training job's model.tar.gz (what ``get_top_model_s3_uri(0, ...)`` builds, with
    the execution's output prefix, which that helper cannot take)."""
    best_job = tuning.properties.BestTrainingJob.TrainingJobName
    return _execution_s3_uri(ctx, "tuning", best_job, "output", "model.tar.gz")


def model_step(
    ctx: BuildContext, params: PipelineParameters, preprocess: ProcessingStep, image: str
) -> tuple[TrainingStep | TuningStep, object]:
    """The step that produces the model, and where its model.tar.gz lands."""
    if params.tuning is None:
        train = train_step(ctx, params, preprocess, image)
        return train, train.properties.ModelArtifacts.S3ModelArtifacts
    tuning = tuning_step(ctx, params, preprocess, image)
    return tuning, best_model_uri(ctx, tuning)


def evaluate_step(
    ctx: BuildContext,
    params: PipelineParameters,
    preprocess: ProcessingStep,
    model_uri,
    image: str,
) -> tuple[ProcessingStep, PropertyFile]:
    report = PropertyFile(
        name=EVALUATION_PROPERTY_FILE, output_name="evaluation", path=EVALUATION_FILE
    )
    test_data = preprocess.properties.ProcessingOutputConfig.Outputs["test"].S3Output.S3Uri
    step_args = _processor(ctx, image, params, "evaluate").run(
        inputs=[
            _s3_input("model", model_uri, "model"),
            _s3_input("test", test_data, "test"),
        ],
        outputs=[_s3_output(ctx, "evaluate", "evaluation")],
        code=str(STEPS_DIR / "evaluate.py"),
    )
    step = ProcessingStep(name="EvaluateModel", step_args=step_args, property_files=[report])
    return step, report


def register_step(
    ctx: BuildContext,
    params: PipelineParameters,
    model_uri,
    evaluate: ProcessingStep,
    data_quality: QualityCheckStep,
    image: str,
) -> ModelStep:
    evaluation_uri = Join(
        on="/",
        values=[
            evaluate.properties.ProcessingOutputConfig.Outputs["evaluation"].S3Output.S3Uri,
            EVALUATION_FILE,
        ],
    )
    builder = ModelBuilder(
        s3_model_data_url=model_uri,
        image_uri=image,
        # train.py ships inference.py inside model.tar.gz, so the artifact serves on its own.
        env_vars={
            "SAGEMAKER_PROGRAM": "inference.py",
            "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
        },
        sagemaker_session=ctx.session,
        role_arn=ctx.role_arn,
    )
    step_args = builder.register(
        model_package_group_name=ctx.model_package_group_name,
        content_types=["text/csv", "application/json"],
        response_types=["text/csv", "application/json"],
        inference_instances=INFERENCE_INSTANCE_TYPES,
        transform_instances=["ml.m5.large"],
        approval_status=params.model_approval_status,
        # This version's own training data, and the baseline its endpoint's monitor compares
        # traffic with (the new one on a first run, else the one the check used).
        model_metrics=ModelMetrics(
            model_statistics=_json_source(evaluation_uri),
            model_data_statistics=_json_source(
                data_quality.properties.CalculatedBaselineStatistics
            ),
            model_data_constraints=_json_source(
                data_quality.properties.CalculatedBaselineConstraints
            ),
        ),
        drift_check_baselines=DriftCheckBaselines(
            model_data_statistics=_json_source(
                data_quality.properties.BaselineUsedForDriftCheckStatistics
            ),
            model_data_constraints=_json_source(
                data_quality.properties.BaselineUsedForDriftCheckConstraints
            ),
        ),
        metadata_properties=MetadataProperties(
            commit_id=ctx.git_commit, repository=f"{ctx.settings.project_slug}-modelbuild"
        ),
        customer_metadata_properties={
            "git_commit": ctx.git_commit,
            "input_data": params.input_data_url,
            "pipeline_execution": ExecutionVariables.PIPELINE_EXECUTION_ARN,
        },
        description=f"{ctx.settings.project_name}: trained by pipeline {ctx.pipeline_name}",
    )
    return ModelStep(name="RegisterModel", step_args=step_args)


def quality_gate_step(
    params: PipelineParameters,
    evaluate: ProcessingStep,
    report: PropertyFile,
    register: ModelStep,
) -> ConditionStep:
    measured_mse = JsonGet(step_name=evaluate.name, property_file=report, json_path=MSE_JSON_PATH)
    fail = FailStep(
        name="MseAboveThreshold",
        error_message=Join(
            on=" ",
            values=[
                "Model rejected: test MSE",
                measured_mse,
                "is above the MseThreshold of",
                params.mse_threshold,
            ],
        ),
    )
    return ConditionStep(
        name="CheckMseThreshold",
        conditions=[ConditionLessThanOrEqualTo(left=measured_mse, right=params.mse_threshold)],
        if_steps=[register],
        else_steps=[fail],
    )


def get_pipeline(
    *,
    role_arn: str,
    default_bucket: str,
    region: str | None = None,
    pipeline_name: str | None = None,
    model_package_group_name: str | None = None,
    git_commit: str = "unknown",
    boto_session: boto3.Session | None = None,
) -> Pipeline:
    """Build the pipeline. Uploads the step code to ``default_bucket`` as a side effect."""
    settings = load_settings()
    region = region or settings.aws_region
    ctx = BuildContext(
        settings=settings,
        session=PipelineSession(
            boto_session=boto_session or boto3.Session(region_name=region),
            default_bucket=default_bucket,
        ),
        role_arn=role_arn,
        region=region,
        bucket=default_bucket,
        pipeline_name=pipeline_name or settings.pipeline_name,
        model_package_group_name=model_package_group_name or settings.model_package_group_name,
        git_commit=git_commit,
    )
    params = make_parameters(settings, region)
    images = framework_images(settings, region)
    preprocess = preprocess_step(ctx, params)
    data_quality = data_quality_step(ctx, params, preprocess)
    train, model_uri = model_step(ctx, params, preprocess, images.training)
    evaluate, report = evaluate_step(ctx, params, preprocess, model_uri, images.evaluation)
    register = register_step(ctx, params, model_uri, evaluate, data_quality, images.serving)
    gate = quality_gate_step(params, evaluate, report, register)
    return Pipeline(
        name=ctx.pipeline_name,
        parameters=params.as_list(),
        steps=[preprocess, data_quality, train, evaluate, gate],
        # The SDK's default makes SageMaker create an experiment and a trial per execution,
        # which needs permissions the execution role does not have (least privilege); the model
        # registry and SageMaker's lineage tracking already record where each version came from.
        pipeline_experiment_config=None,
        sagemaker_session=ctx.session,
    )
