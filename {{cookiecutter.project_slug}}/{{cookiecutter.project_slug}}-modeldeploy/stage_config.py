"""Project settings and per-stage template configurations: loading, validation and export.

The checked-in ``staging-config.json`` / ``prod-config.json`` hold only what differs between
stages (capacity, data capture, auto scaling). Everything tied to the project or to the model
version being deployed is added here, so the exported files are complete CloudFormation
template configurations.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STAGES = ("staging", "prod")

# Kept in step with the AllowedPattern / MinValue / MaxValue of endpoint-config-template.yml, so
# a bad value is reported here with its file and field instead of as a failed stack update.
SLUG_RE = re.compile(r"[a-z0-9](-?[a-z0-9])*")
SLUG_MAX_LENGTH = 55  # leaves room for "-staging" within the 63-character endpoint name limit
GROUP_RE = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")
REGION_RE = re.compile(r"[a-z]{2}(-[a-z]+)+-[0-9]")
TAG_VALUE_RE = re.compile(r"[A-Za-z0-9 _.:/=+@-]{1,256}")
TAG_KEY_RE = re.compile(r"[A-Za-z0-9 _.:/=+@-]{1,128}")
ROLE_ARN_RE = re.compile(r"arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]+")
BUCKET_RE = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
WHOLE_NUMBER_RE = re.compile(r"[0-9]{1,9}")
INSTANCE_TYPE_RE = re.compile(r"ml\.[a-z0-9]+\.[a-z0-9]+")
KMS_KEY_RE = re.compile(
    r"|arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:(key|alias)/[A-Za-z0-9/_-]+"
    r"|alias/[A-Za-z0-9/_-]+"
    r"|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
)
# Model Monitor's schedule forms: hourly, daily at hour H, every N hours from hour H.
_HOUR = r"([01]?[0-9]|2[0-3])"
SCHEDULE_RE = re.compile(rf"cron\(0 (\*|{_HOUR}|{_HOUR}/([1-9]|1[0-9]|2[0-4])) \? \* \* \*\)")
TOPIC_ARN_RE = re.compile(r"|arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,256}")

BUILD_TAG_KEYS = ("project", "stage", "owner", "model-package-version", "source-commit")


class ConfigError(ValueError):
    """A project or stage setting that cannot produce a valid endpoint stack."""


def _matches(pattern: re.Pattern[str]) -> Callable[[str], bool]:
    return lambda value: pattern.fullmatch(value) is not None


def _whole_number(low: int, high: int) -> Callable[[str], bool]:
    # str.isdigit() accepts non-ASCII digits that CloudFormation rejects, hence the pattern.
    return lambda value: WHOLE_NUMBER_RE.fullmatch(value) is not None and low <= int(value) <= high


# Stage parameter -> (check, what a valid value looks like).
STAGE_PARAMETER_RULES: dict[str, tuple[Callable[[str], bool], str]] = {
    "StageName": (lambda value: value in STAGES, f"one of {', '.join(STAGES)}"),
    "EndpointInstanceType": (_matches(INSTANCE_TYPE_RE), "an instance type such as ml.m5.large"),
    "EndpointInstanceCount": (_whole_number(1, 20), "a whole number from 1 to 20"),
    "DataCaptureSamplingPercentage": (_whole_number(0, 100), "a whole number from 0 to 100"),
    "DataCaptureKmsKeyId": (
        _matches(KMS_KEY_RE),
        'empty (""), a KMS key id, a key or alias ARN, or alias/NAME',
    ),
    "EnableAutoScaling": (lambda value: value in ("true", "false"), '"true" or "false"'),
    "AutoScalingMinCapacity": (_whole_number(1, 20), "a whole number from 1 to 20"),
    "AutoScalingMaxCapacity": (_whole_number(1, 20), "a whole number from 1 to 20"),
    "AutoScalingTargetInvocations": (_whole_number(1, 100000), "a whole number from 1 to 100000"),
    "EnableMonitoring": (lambda value: value in ("true", "false"), '"true" or "false"'),
    "MonitoringScheduleExpression": (
        _matches(SCHEDULE_RE),
        "cron(0 * ? * * *) (hourly), cron(0 H ? * * *) or cron(0 H/N ? * * *)",
    ),
    "MonitoringInstanceType": (_matches(INSTANCE_TYPE_RE), "an instance type such as ml.m5.xlarge"),
    "DriftAlarmActionsEnabled": (lambda value: value in ("true", "false"), '"true" or "false"'),
}


@dataclass(frozen=True)
class Project:
    """The answers given when the project was generated (project.json)."""

    name: str
    slug: str
    region: str
    model_package_group: str
    owner_team: str


@dataclass(frozen=True)
class StageConfig:
    """One checked-in stage configuration: stage-specific parameters and extra stack tags."""

    stage: str
    parameters: dict[str, str]
    tags: dict[str, str]


@dataclass(frozen=True)
class Deployment:
    """What this build deploys: the model version and the account resources it runs with."""

    model_package_arn: str
    model_package_version: int
    execution_role_arn: str
    artifact_bucket: str
    source_commit: str
    monitoring: MonitoringInputs


@dataclass(frozen=True)
class MonitoringInputs:
    """What the deployed version brings to data quality monitoring (see monitoring.py).

    Empty baseline URIs mean the version was registered without baselines: the export then
    turns monitoring off whatever the stage file says.
    """

    image_uri: str
    statistics_uri: str
    constraints_uri: str
    drift_features: tuple[str, ...]
    drift_threshold: float
    notification_topic_arn: str

    @property
    def has_baselines(self) -> bool:
        return bool(self.statistics_uri and self.constraints_uri)


def read_json_object(path: Path) -> dict[str, Any]:
    """Parse ``path`` as a JSON object, naming the file and the problem when it is not one."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except json.JSONDecodeError as error:
        raise ConfigError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a JSON object at the top level")
    return data


def _require_text(data: Mapping[str, Any], key: str, source: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{source}: '{key}' must be a non-empty string, got {value!r}")
    return value


def _check(value: str, pattern: re.Pattern[str], field: str, expected: str) -> str:
    if pattern.fullmatch(value) is None:
        raise ConfigError(f"{field} = {value!r} is invalid: expected {expected}")
    return value


def load_project(path: Path) -> Project:
    """Read and validate the generated project's settings."""
    data = read_json_object(path)
    source = str(path)
    slug = _require_text(data, "project_slug", source)
    _check(slug, SLUG_RE, f"{source}: project_slug", "lowercase letters/digits and single hyphens")
    if len(slug) > SLUG_MAX_LENGTH:
        raise ConfigError(
            f"{source}: project_slug is {len(slug)} characters; at most {SLUG_MAX_LENGTH} keep "
            "the endpoint names <slug>-staging and <slug>-prod within SageMaker's 63"
        )
    return Project(
        name=_require_text(data, "project_name", source),
        slug=slug,
        region=_check(
            _require_text(data, "aws_region", source),
            REGION_RE,
            f"{source}: aws_region",
            "a region code such as us-east-1",
        ),
        model_package_group=_check(
            _require_text(data, "model_package_group_name", source),
            GROUP_RE,
            f"{source}: model_package_group_name",
            "1-63 letters, digits and hyphens, starting and ending with a letter or digit",
        ),
        owner_team=_check(
            _require_text(data, "owner_team", source),
            TAG_VALUE_RE,
            f"{source}: owner_team",
            "a tag value: letters, digits, spaces and _ . : / = + - @",
        ),
    )


def _string_map(data: Any, field: str) -> dict[str, str]:
    if not isinstance(data, dict):
        raise ConfigError(f"{field} must be a JSON object")
    for key, value in data.items():
        if not isinstance(value, str):
            raise ConfigError(
                f"{field}.{key} must be a string (CloudFormation takes every value as text), "
                f"got {value!r}; write it in quotes"
            )
    return dict(data)


def _validate_stage_parameters(parameters: Mapping[str, str], stage: str, source: str) -> None:
    missing = sorted(set(STAGE_PARAMETER_RULES) - set(parameters))
    unknown = sorted(set(parameters) - set(STAGE_PARAMETER_RULES))
    if missing:
        raise ConfigError(f"{source}: Parameters is missing {', '.join(missing)}")
    if unknown:
        raise ConfigError(
            f"{source}: Parameters has unknown keys {', '.join(unknown)}; a stage configuration "
            f"may set only {', '.join(STAGE_PARAMETER_RULES)}"
        )
    for key, (is_valid, expected) in STAGE_PARAMETER_RULES.items():
        if not is_valid(parameters[key]):
            raise ConfigError(
                f"{source}: Parameters.{key} = {parameters[key]!r} is invalid: expected {expected}"
            )
    if parameters["StageName"] != stage:
        raise ConfigError(
            f"{source}: Parameters.StageName is {parameters['StageName']!r} but this file "
            f"configures the {stage!r} stage"
        )


def _validate_auto_scaling(parameters: Mapping[str, str], source: str) -> None:
    if parameters["EnableAutoScaling"] != "true":
        return
    low = int(parameters["AutoScalingMinCapacity"])
    high = int(parameters["AutoScalingMaxCapacity"])
    count = int(parameters["EndpointInstanceCount"])
    if low > high:
        raise ConfigError(
            f"{source}: AutoScalingMinCapacity ({low}) is above AutoScalingMaxCapacity ({high})"
        )
    if not low <= count <= high:
        raise ConfigError(
            f"{source}: EndpointInstanceCount ({count}) must lie between AutoScalingMinCapacity "
            f"({low}) and AutoScalingMaxCapacity ({high}), or auto scaling resizes the endpoint "
            "as soon as it is deployed"
        )


def _validate_extra_tags(tags: Mapping[str, str], source: str) -> None:
    for key, value in tags.items():
        if key in BUILD_TAG_KEYS:
            raise ConfigError(
                f"{source}: Tags.{key} is set by build.py for every deployment; remove it"
            )
        _check(key, TAG_KEY_RE, f"{source}: tag key", "letters, digits, spaces and _ . : / = + - @")
        _check(value, TAG_VALUE_RE, f"{source}: Tags.{key}", "a tag value (1-256 characters)")


def load_stage_config(path: Path, stage: str) -> StageConfig:
    """Read and validate one checked-in stage configuration."""
    data = read_json_object(path)
    source = str(path)
    unknown = sorted(set(data) - {"Parameters", "Tags"})
    if unknown:
        raise ConfigError(
            f"{source}: unexpected top-level keys {', '.join(unknown)}; a template "
            "configuration holds only Parameters and Tags"
        )
    parameters = _string_map(data.get("Parameters"), f"{source}: Parameters")
    tags = _string_map(data.get("Tags", {}), f"{source}: Tags")
    _validate_stage_parameters(parameters, stage, source)
    _validate_auto_scaling(parameters, source)
    _validate_extra_tags(tags, source)
    return StageConfig(stage=stage, parameters=parameters, tags=tags)


def validate_account_inputs(execution_role_arn: str, artifact_bucket: str) -> None:
    """Check the account-specific inputs before any AWS call is made."""
    _check(
        execution_role_arn,
        ROLE_ARN_RE,
        "model execution role (MODEL_EXECUTION_ROLE_ARN / --model-execution-role-arn)",
        "an IAM role ARN such as arn:aws:iam::123456789012:role/NAME",
    )
    _check(
        artifact_bucket,
        BUCKET_RE,
        "artifact bucket (ARTIFACT_BUCKET / --artifact-bucket)",
        "a bucket name (3-63 lowercase letters, digits, dots and hyphens), not an s3:// URI",
    )


def endpoint_name(project: Project, stage: str) -> str:
    """The endpoint a stage serves: ``<slug>-<stage>``."""
    return f"{project.slug}-{stage}"


def capture_destination(project: Project, bucket: str, stage: str) -> str:
    """Where the stage's endpoint writes captured requests and responses."""
    return f"s3://{bucket}/{project.slug}/datacapture/{stage}"


def monitoring_output(project: Project, bucket: str, stage: str) -> str:
    """Where the stage's monitoring runs write statistics and constraint violations."""
    return f"s3://{bucket}/{project.slug}/monitoring/{stage}"


def monitoring_parameters(
    project: Project, config: StageConfig, deployment: Deployment
) -> dict[str, str]:
    """The export's monitoring parameters; monitoring is off for a version without baselines."""
    inputs = deployment.monitoring
    enabled = config.parameters["EnableMonitoring"] == "true" and inputs.has_baselines
    return {
        "EnableMonitoring": "true" if enabled else "false",
        "MonitorImageUri": inputs.image_uri,
        "BaselineStatisticsS3Uri": inputs.statistics_uri,
        "BaselineConstraintsS3Uri": inputs.constraints_uri,
        "MonitoringOutputS3Uri": monitoring_output(
            project, deployment.artifact_bucket, config.stage
        ),
        "DriftFeatureNames": ",".join(inputs.drift_features),
        "DriftAlarmThreshold": repr(inputs.drift_threshold),
        "NotificationTopicArn": inputs.notification_topic_arn,
    }


def build_export(project: Project, config: StageConfig, deployment: Deployment) -> dict[str, Any]:
    """A complete template configuration for one stage, ready for CloudFormation."""
    version = str(deployment.model_package_version)
    parameters = {
        **config.parameters,
        "ProjectSlug": project.slug,
        "EndpointName": endpoint_name(project, config.stage),
        "ModelPackageArn": deployment.model_package_arn,
        "ModelPackageVersion": version,
        "ModelExecutionRoleArn": deployment.execution_role_arn,
        "SourceCommit": deployment.source_commit,
        "OwnerTeam": project.owner_team,
        "DataCaptureDestinationS3Uri": capture_destination(
            project, deployment.artifact_bucket, config.stage
        ),
        **monitoring_parameters(project, config, deployment),
    }
    tags = {
        **config.tags,
        "project": project.slug,
        "stage": config.stage,
        "owner": project.owner_team,
        "model-package-version": version,
        "source-commit": deployment.source_commit,
    }
    return {"Parameters": dict(sorted(parameters.items())), "Tags": tags}
