"""Run a Training step in script mode: channels under ``/opt/ml/input/data``, SageMaker's
training environment variables, the entry script with the definition's hyperparameters as
``--name value`` arguments, then ``model.tar.gz`` packed and uploaded like SageMaker does.

Only ModelTrainer script mode runs locally: the SDK uploads the user's ``source_dir`` as the
``code`` channel and names the entry script in ``sm_drivers/sourcecode.json``.
"""

from __future__ import annotations

import json
import os
import shlex
import tarfile
from pathlib import Path, PurePosixPath
from typing import Any

from mlops_toolkit.artifacts import S3Location
from mlops_toolkit.errors import StepFailed, UnsupportedStepError
from mlops_toolkit.runner.context import StepContext, StepOutcome, output_record
from mlops_toolkit.runner.scripts import ScriptRun, run_script
from mlops_toolkit.runner.workspace import container_path

DATA_DIR = "/opt/ml/input/data"
CONFIG_DIR = "/opt/ml/input/config"
MODEL_DIR = "/opt/ml/model"
OUTPUT_DIR = "/opt/ml/output"
CODE_CHANNEL = "code"
DRIVERS_CHANNEL = "sm_drivers"
HOST = "algo-1"


def _deserialize(value: Any) -> Any:
    """Hyperparameters travel as strings; SageMaker's driver JSON-decodes those it can."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return value


def hyperparameter_arguments(hyperparameters: dict[str, Any]) -> list[str]:
    """``{"eta": "0.1"}`` → ``["--eta", "0.1"]``, as SageMaker's script driver builds them."""
    arguments: list[str] = []
    for name, raw in hyperparameters.items():
        value = _deserialize(raw)
        arguments += [f"--{name}", value if isinstance(value, str) else json.dumps(value)]
    return arguments


def _check_channel(channel: dict[str, Any], step: str) -> str:
    name = channel["ChannelName"]
    source = channel.get("DataSource", {}).get("S3DataSource")
    problem = None
    if source is None:
        problem = "is not an S3 channel (file system channels do not run locally)"
    elif source.get("S3DataType", "S3Prefix") != "S3Prefix":
        problem = f"uses S3DataType={source['S3DataType']} (locally only S3Prefix)"
    elif channel.get("InputMode", "File") == "Pipe":
        problem = "uses Pipe input mode (locally only File and FastFile)"
    elif channel.get("CompressionType", "None") != "None":
        problem = f"uses CompressionType={channel['CompressionType']} (locally only None)"
    if problem:
        raise UnsupportedStepError(f"step {step}: channel '{name}' {problem}")
    return str(source["S3Uri"])


def stage_channels(arguments: dict[str, Any], ctx: StepContext) -> list[str]:
    if arguments.get("AlgorithmSpecification", {}).get("TrainingInputMode") == "Pipe":
        raise UnsupportedStepError(f"step {ctx.name}: Pipe input mode does not run locally")
    sources = {
        c["ChannelName"]: _check_channel(c, ctx.name) for c in arguments.get("InputDataConfig", [])
    }
    data_dir = container_path(ctx.workspace, DATA_DIR)
    for name, uri in sources.items():
        count = ctx.store.stage(uri, data_dir / name, f"channel '{name}' of step {ctx.name}")
        ctx.log(f"# staged {count} file(s) from {uri} into {data_dir / name}")
    return list(sources)


def read_source_code(ctx: StepContext) -> dict[str, Any]:
    path = container_path(ctx.workspace, DATA_DIR) / DRIVERS_CHANNEL / "sourcecode.json"
    if not path.is_file():
        raise UnsupportedStepError(
            f"step {ctx.name}: no '{DRIVERS_CHANNEL}' channel with sourcecode.json. Only "
            "script-mode training (ModelTrainer with SourceCode(entry_script=...)) runs "
            "locally; built-in algorithms need their container"
        )
    return json.loads(path.read_text(encoding="utf-8"))


def entry_command(
    source: dict[str, Any], hyperparameters: dict[str, Any], ctx: StepContext
) -> list[str]:
    code_dir = container_path(ctx.workspace, DATA_DIR) / CODE_CHANNEL
    if source.get("requirements"):
        ctx.log(
            f"# {source['requirements']} is not installed locally: this environment must have it"
        )
    if source.get("command"):
        words = shlex.split(source["command"])
        if PurePosixPath(words[0]).name in ("python", "python3"):
            words[0] = ctx.python
        return words
    entry = source.get("entry_script") or ""
    script = code_dir / entry
    if not entry or not script.is_file():
        raise StepFailed(f"step {ctx.name}: entry script {entry!r} is not in the code channel")
    arguments = hyperparameter_arguments(hyperparameters)
    if entry.endswith(".py"):
        return [ctx.python, str(script), *arguments]
    if entry.endswith(".sh"):
        return ["/bin/sh", str(script), *arguments]
    raise UnsupportedStepError(f"step {ctx.name}: entry script {entry!r} is neither .py nor .sh")


def training_environment(
    arguments: dict[str, Any], channels: list[str], source: dict[str, Any], ctx: StepContext
) -> dict[str, str]:
    """The variables SageMaker's training driver sets, pointing into the workspace."""
    data_dir = container_path(ctx.workspace, DATA_DIR)
    output_dir = container_path(ctx.workspace, OUTPUT_DIR)
    hyperparameters = {k: _deserialize(v) for k, v in arguments.get("HyperParameters", {}).items()}
    env = {
        "TRAINING_JOB_NAME": ctx.job_name,
        "SM_MODEL_DIR": str(container_path(ctx.workspace, MODEL_DIR)),
        "SM_INPUT_DIR": str(data_dir.parent),
        "SM_INPUT_DATA_DIR": str(data_dir),
        "SM_INPUT_CONFIG_DIR": str(container_path(ctx.workspace, CONFIG_DIR)),
        "SM_OUTPUT_DIR": str(output_dir),
        "SM_OUTPUT_DATA_DIR": str(output_dir / "data"),
        "SM_OUTPUT_FAILURE": str(output_dir / "failure"),
        "SM_SOURCE_DIR": str(data_dir / CODE_CHANNEL),
        "SM_ENTRY_SCRIPT": str(source.get("entry_script") or ""),
        "SM_CHANNELS": json.dumps(channels),
        "SM_HPS": json.dumps(hyperparameters),
        "SM_CURRENT_HOST": HOST,
        "SM_HOSTS": json.dumps([HOST]),
        "SM_HOST_COUNT": "1",
        "SM_CURRENT_HOST_RANK": "0",
        "SM_CURRENT_INSTANCE_TYPE": str(
            arguments.get("ResourceConfig", {}).get("InstanceType", "")
        ),
        "SM_NUM_CPUS": str(os.cpu_count() or 1),
        "SM_NUM_GPUS": "0",
    }
    env |= {f"SM_CHANNEL_{name.upper()}": str(data_dir / name) for name in channels}
    env |= {
        f"SM_HP_{name.upper()}": json.dumps(v) if not isinstance(v, str) else v
        for name, v in hyperparameters.items()
    }
    env |= {k: str(v) for k, v in arguments.get("Environment", {}).items()}
    return env


def write_config(arguments: dict[str, Any], ctx: StepContext) -> None:
    """The /opt/ml/input/config files some scripts read instead of the environment."""
    config_dir = container_path(ctx.workspace, CONFIG_DIR)
    config_dir.mkdir(parents=True, exist_ok=True)
    channels = {
        c["ChannelName"]: {"ContentType": c.get("ContentType"), "TrainingInputMode": "File"}
        for c in arguments.get("InputDataConfig", [])
    }
    files = {
        "hyperparameters.json": arguments.get("HyperParameters", {}),
        "inputdataconfig.json": channels,
        "resourceconfig.json": {"current_host": HOST, "hosts": [HOST]},
    }
    for name, content in files.items():
        (config_dir / name).write_text(json.dumps(content, indent=2), encoding="utf-8")


def pack(directory: Path, archive: Path) -> None:
    archive.parent.mkdir(parents=True, exist_ok=True)
    # The fastest level: the archive is read back once or twice on this machine, and level 6
    # took eight times as long on the template's 2 MB model for a fifth less size.
    with tarfile.open(archive, "w:gz", compresslevel=1) as tar:
        for path in sorted(directory.iterdir()):
            tar.add(path, arcname=path.name)


def publish(arguments: dict[str, Any], ctx: StepContext) -> dict[str, dict[str, str]]:
    """Pack the model (and any output data) and upload them where SageMaker would put them."""
    model_dir = container_path(ctx.workspace, MODEL_DIR)
    if not model_dir.is_dir() or not any(model_dir.iterdir()):
        raise StepFailed(
            f"step {ctx.name}: the training script wrote nothing to SM_MODEL_DIR ({model_dir})"
        )
    prefix = S3Location.parse(str(arguments["OutputDataConfig"]["S3OutputPath"]))
    job_prefix = prefix.child(f"{ctx.job_name}/output")
    artifacts = ctx.workspace / "artifacts"
    packed = {"model": (model_dir, "model.tar.gz")}
    data_dir = container_path(ctx.workspace, OUTPUT_DIR) / "data"
    if data_dir.is_dir() and any(data_dir.iterdir()):
        packed["output_data"] = (data_dir, "output.tar.gz")
    records = {}
    for name, (source, file_name) in packed.items():
        archive = artifacts / file_name
        pack(source, archive)
        uri = job_prefix.child(file_name).uri
        ctx.store.upload(archive, uri)
        ctx.log(f"# packed {source} and uploaded it to {uri}")
        records[name] = output_record(uri, archive)
    return records


def run_training_script(
    command: list[str],
    arguments: dict[str, Any],
    channels: list[str],
    source: dict[str, Any],
    ctx: StepContext,
    label: str,
) -> None:
    """Run a training job's entry command in the job's container paths, as SageMaker would:
    its config files, model and output folders, environment, time limit and failure file."""
    write_config(arguments, ctx)
    container_path(ctx.workspace, MODEL_DIR).mkdir(parents=True, exist_ok=True)
    (container_path(ctx.workspace, OUTPUT_DIR) / "data").mkdir(parents=True, exist_ok=True)
    timeout = arguments.get("StoppingCondition", {}).get("MaxRuntimeInSeconds")
    run_script(
        ScriptRun(
            command=command,
            cwd=container_path(ctx.workspace, DATA_DIR) / CODE_CHANNEL,
            log_file=ctx.log_file,
            env=training_environment(arguments, channels, source, ctx),
            timeout=float(timeout) if timeout else None,
            failure_file=container_path(ctx.workspace, OUTPUT_DIR) / "failure",
        ),
        label=label,
    )


def run_training(step: dict[str, Any], arguments: dict[str, Any], ctx: StepContext) -> StepOutcome:
    for channel in arguments.get("InputDataConfig", []):
        _check_channel(channel, ctx.name)
    image = arguments.get("AlgorithmSpecification", {}).get("TrainingImage")
    ctx.log(f"# image {image} is not pulled locally: the script runs with {ctx.python}")
    channels = stage_channels(arguments, ctx)
    source = read_source_code(ctx)
    command = entry_command(source, arguments.get("HyperParameters", {}), ctx)
    run_training_script(command, arguments, channels, source, ctx, label=f"step {ctx.name}")
    outputs = publish(arguments, ctx)
    properties = {
        **arguments,
        "TrainingJobName": ctx.job_name,
        "TrainingJobArn": ctx.arn("training-job"),
        "TrainingJobStatus": "Completed",
        "SecondaryStatus": "Completed",
        "ModelArtifacts": {"S3ModelArtifacts": outputs["model"]["s3_uri"]},
    }
    return StepOutcome(properties, outputs)
