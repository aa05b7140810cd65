"""Data quality monitoring inputs: the version's drift baselines, the monitor image, the alarm.

The model-build pipeline registers each version with ``DriftCheckBaselines.ModelDataQuality``
(Model Monitor's ``statistics.json`` and ``constraints.json``). This module reads them back for
the deployed version and turns them into the monitoring parameters of the endpoint stack.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from stage_config import ConfigError

# Account that publishes sagemaker-model-monitor-analyzer in each region: the table the SageMaker
# SDK resolves image_uris.retrieve("model-monitor", region) from (image_uri_config/
# model-monitor.json). The template test compares every entry with the SDK.
MONITOR_IMAGE_ACCOUNTS = {
    "af-south-1": "875698925577",
    "ap-east-1": "001633400207",
    "ap-northeast-1": "574779866223",
    "ap-northeast-2": "709848358524",
    "ap-northeast-3": "990339680094",
    "ap-south-1": "126357580389",
    "ap-southeast-1": "245545462676",
    "ap-southeast-2": "563025443158",
    "ap-southeast-3": "669540362728",
    "ca-central-1": "536280801234",
    "cn-north-1": "453000072557",
    "cn-northwest-1": "453252182341",
    "eu-central-1": "048819808253",
    "eu-central-2": "590183933784",
    "eu-north-1": "895015795356",
    "eu-south-1": "933208885752",
    "eu-south-2": "437450045455",
    "eu-west-1": "468650794304",
    "eu-west-2": "749857270468",
    "eu-west-3": "680080141114",
    "il-central-1": "843974653677",
    "me-central-1": "588750061953",
    "me-south-1": "607024016150",
    "sa-east-1": "539772159869",
    "us-east-1": "156813124566",
    "us-east-2": "777275614652",
    "us-west-1": "890145073186",
    "us-west-2": "159807026194",
}
MONITOR_REPOSITORY = "sagemaker-model-monitor-analyzer"

# CloudWatch allows ten metrics in one alarm; the template has exactly that many feature slots.
ALARM_FEATURE_SLOTS = 10
# Model Monitor's own default when constraints.json carries no comparison_threshold.
DEFAULT_COMPARISON_THRESHOLD = 0.1
FEATURE_NAME_RE = re.compile(r"[A-Za-z0-9_.-]{1,200}")
S3_URI_RE = re.compile(r"s3://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])/(.+)")
# Stands in for feature names when monitoring is off: the template still needs ten valid items.
UNUSED_FEATURE = "unmonitored"


@dataclass(frozen=True)
class Baselines:
    """A model version's data quality drift baselines (S3 URIs of Model Monitor's files)."""

    statistics_uri: str
    constraints_uri: str


@dataclass(frozen=True)
class DriftAlarm:
    """What the drift alarm watches: feature names (ten slots) and the distance that alarms."""

    features: tuple[str, ...]
    threshold: float


def monitor_image_uri(region: str) -> str:
    """The Model Monitor analyzer image in ``region``, as the SageMaker SDK resolves it."""
    account = MONITOR_IMAGE_ACCOUNTS.get(region)
    if account is None:
        raise ConfigError(
            f"Model Monitor has no analyzer image in region {region!r}; supported regions: "
            f"{', '.join(sorted(MONITOR_IMAGE_ACCOUNTS))}. If AWS has since published the "
            "image there, add the region's account to MONITOR_IMAGE_ACCOUNTS in monitoring.py."
        )
    domain = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"{account}.dkr.ecr.{region}.{domain}/{MONITOR_REPOSITORY}"


def read_baselines(description: dict[str, Any]) -> Baselines | None:
    """The data quality baselines of a DescribeModelPackage answer, or None when it has none."""
    quality = description.get("DriftCheckBaselines", {}).get("ModelDataQuality", {})
    statistics = quality.get("Statistics", {}).get("S3Uri")
    constraints = quality.get("Constraints", {}).get("S3Uri")
    if not statistics or not constraints:
        return None
    for field, uri in (("Statistics", statistics), ("Constraints", constraints)):
        if S3_URI_RE.fullmatch(uri) is None:
            raise ConfigError(
                f"{description.get('ModelPackageArn', 'the model package')}: "
                f"DriftCheckBaselines.ModelDataQuality.{field}.S3Uri = {uri!r} is not an "
                "s3://bucket/key URI; register the version again with valid baselines"
            )
    return Baselines(statistics_uri=statistics, constraints_uri=constraints)


def split_s3_uri(uri: str) -> tuple[str, str]:
    """Bucket and key of an ``s3://bucket/key`` URI already checked by ``read_baselines``."""
    match = S3_URI_RE.fullmatch(uri)
    if match is None:
        raise ConfigError(f"{uri!r} is not an s3://bucket/key URI")
    return match.group(1), match.group(2)


def drift_alarm(constraints_text: str, source: str) -> DriftAlarm:
    """Feature names and threshold for the alarm, from a Model Monitor ``constraints.json``."""
    try:
        constraints = json.loads(constraints_text)
    except json.JSONDecodeError as error:
        raise ConfigError(f"{source}: not valid JSON ({error})") from None
    features = constraints.get("features") if isinstance(constraints, dict) else None
    if not isinstance(features, list) or not features:
        raise ConfigError(
            f"{source}: expected Model Monitor constraints with a non-empty 'features' list"
        )
    names = [feature.get("name") if isinstance(feature, dict) else None for feature in features]
    for name in names:
        if not isinstance(name, str) or FEATURE_NAME_RE.fullmatch(name) is None:
            raise ConfigError(
                f"{source}: feature name {name!r} cannot name a CloudWatch metric; use letters, "
                "digits, _ . and - in the baseline's column names"
            )
    if len(names) > ALARM_FEATURE_SLOTS:
        raise ConfigError(
            f"{source}: {len(names)} features, but one CloudWatch alarm can watch at most "
            f"{ALARM_FEATURE_SLOTS}; baseline fewer columns or add a second alarm to "
            "endpoint-config-template.yml"
        )
    return DriftAlarm(features=_fill_slots(names), threshold=_threshold(constraints, source))


def _fill_slots(names: list[str]) -> tuple[str, ...]:
    # Repeating names is harmless: the alarm takes the largest drift over the slots.
    return tuple(names[index % len(names)] for index in range(ALARM_FEATURE_SLOTS))


def _threshold(constraints: dict[str, Any], source: str) -> float:
    config = constraints.get("monitoring_config", {}) or {}
    distribution = config.get("distribution_constraints", {}) or {}
    value = distribution.get("comparison_threshold", DEFAULT_COMPARISON_THRESHOLD)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise ConfigError(
            f"{source}: monitoring_config.distribution_constraints.comparison_threshold must be "
            f"a number from 0 to 1, got {value!r}"
        )
    return float(value)


def unmonitored_alarm() -> DriftAlarm:
    """Alarm inputs for a deployment without monitoring (the template creates no alarm)."""
    return DriftAlarm(features=(UNUSED_FEATURE,) * ALARM_FEATURE_SLOTS, threshold=0.0)
