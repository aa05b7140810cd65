"""Run a Processing step: stage inputs into a workspace laid out like the container, run the
script with this machine's Python, upload the outputs to the URIs the definition gives them.

Convention (documented in the README): a processing script takes ``--base-dir`` (default
``/opt/ml/processing``) and reads and writes only under it, so the same script runs in the
container and here. The runner appends ``--base-dir <workspace>/opt/ml/processing``.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

from mlops_toolkit.errors import UnsupportedStepError
from mlops_toolkit.runner.context import StepContext, StepOutcome, output_record
from mlops_toolkit.runner.scripts import ScriptRun, run_script
from mlops_toolkit.runner.workspace import container_path, map_argument

PROCESSING_ROOT = "/opt/ml/processing"
FAILURE_FILE = "/opt/ml/output/failure"
_PYTHON_NAMES = ("python", "python3")


def _check_input(item: dict[str, Any], step: str) -> dict[str, Any]:
    name = item.get("InputName", "?")
    if "S3Input" not in item:
        raise UnsupportedStepError(
            f"step {step}: input '{name}' is not an S3 input (dataset definitions such as Athena "
            "or Redshift queries do not run locally)"
        )
    s3_input = item["S3Input"]
    rules = {
        "S3DataType": ("S3Prefix", None),
        "S3InputMode": ("File", None),
        "S3CompressionType": ("None", None),
    }
    for setting, allowed in rules.items():
        if s3_input.get(setting) not in allowed:
            raise UnsupportedStepError(
                f"step {step}: input '{name}' uses {setting}={s3_input[setting]}; locally only "
                f"{setting}={allowed[0]} is supported"
            )
    return s3_input


def stage_inputs(arguments: dict[str, Any], ctx: StepContext) -> None:
    for item in arguments.get("ProcessingInputs", []):
        s3_input = _check_input(item, ctx.name)
        destination = container_path(ctx.workspace, s3_input["LocalPath"])
        label = f"input '{item.get('InputName')}' of step {ctx.name}"
        count = ctx.store.stage(str(s3_input["S3Uri"]), destination, label)
        ctx.log(f"# staged {count} file(s) from {s3_input['S3Uri']} into {destination}")


def build_command(arguments: dict[str, Any], ctx: StepContext) -> list[str]:
    app = arguments.get("AppSpecification", {})
    entrypoint = list(app.get("ContainerEntrypoint") or [])
    if not entrypoint or PurePosixPath(entrypoint[0]).name not in _PYTHON_NAMES:
        raise UnsupportedStepError(
            f"step {ctx.name}: entry point {entrypoint or '(the image default)'} is not a Python "
            "script; the local runner runs Python processing scripts only"
        )
    arguments_list = [str(arg) for arg in entrypoint[1:] + list(app.get("ContainerArguments", []))]
    base_dir = container_path(ctx.workspace, PROCESSING_ROOT)
    return [
        ctx.python,
        *(map_argument(arg, ctx.workspace) for arg in arguments_list),
        "--base-dir",
        str(base_dir),
    ]


def upload_outputs(arguments: dict[str, Any], ctx: StepContext) -> dict[str, dict[str, str]]:
    records: dict[str, dict[str, str]] = {}
    for output in arguments.get("ProcessingOutputConfig", {}).get("Outputs", []):
        name = output.get("OutputName", "?")
        if "S3Output" not in output:
            raise UnsupportedStepError(
                f"step {ctx.name}: output '{name}' is not an S3 output (Feature Store outputs do "
                "not run locally)"
            )
        s3_output = output["S3Output"]
        local = container_path(ctx.workspace, s3_output["LocalPath"])
        local.mkdir(parents=True, exist_ok=True)
        count = ctx.store.upload(local, str(s3_output["S3Uri"]))
        ctx.log(f"# uploaded {count} file(s) from {local} to {s3_output['S3Uri']}")
        records[name] = output_record(str(s3_output["S3Uri"]), local)
    return records


def property_files(step: dict[str, Any], outputs: dict[str, dict[str, str]]) -> dict[str, Path]:
    files: dict[str, Path] = {}
    for spec in step.get("PropertyFiles", []):
        output = outputs.get(spec["OutputName"])
        if output is None:
            raise UnsupportedStepError(
                f"step {step['Name']}: property file {spec['PropertyFileName']} names the output "
                f"'{spec['OutputName']}', which the step does not have"
            )
        files[spec["PropertyFileName"]] = Path(output["local_path"]) / spec["FilePath"]
    return files


def run_processing(
    step: dict[str, Any], arguments: dict[str, Any], ctx: StepContext
) -> StepOutcome:
    for item in arguments.get("ProcessingInputs", []):
        _check_input(item, ctx.name)
    command = build_command(arguments, ctx)
    image = arguments.get("AppSpecification", {}).get("ImageUri")
    ctx.log(f"# image {image} is not pulled locally: the script runs with {ctx.python}")
    stage_inputs(arguments, ctx)
    timeout = arguments.get("StoppingCondition", {}).get("MaxRuntimeInSeconds")
    run_script(
        ScriptRun(
            command=command,
            cwd=ctx.workspace,
            log_file=ctx.log_file,
            env={k: str(v) for k, v in arguments.get("Environment", {}).items()},
            timeout=float(timeout) if timeout else None,
            failure_file=container_path(ctx.workspace, FAILURE_FILE),
        ),
        label=f"step {ctx.name}",
    )
    outputs = upload_outputs(arguments, ctx)
    properties = {
        **arguments,
        "ProcessingJobName": ctx.job_name,
        "ProcessingJobArn": ctx.arn("processing-job"),
        "ProcessingJobStatus": "Completed",
    }
    return StepOutcome(properties, outputs, property_files(step, outputs))
