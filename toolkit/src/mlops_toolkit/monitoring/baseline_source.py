"""Where a data-quality baseline comes from: files, S3 objects, or a registered model version's
drift-check baselines (what the deployed endpoint's monitor compares traffic with)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from botocore.exceptions import ClientError

from mlops_toolkit.artifacts import S3Location, is_s3_uri
from mlops_toolkit.errors import LocalRunError


class BaselineError(LocalRunError):
    """A baseline file is missing or not in Model Monitor's format."""


@dataclass(frozen=True)
class Baseline:
    statistics: dict
    constraints: dict
    statistics_source: str
    constraints_source: str


def read_bytes(location: str, s3_client) -> bytes:
    if is_s3_uri(location):
        parsed = S3Location.parse(location)
        try:
            return s3_client.get_object(Bucket=parsed.bucket, Key=parsed.key)["Body"].read()
        except ClientError as error:
            message = error.response.get("Error", {}).get("Message")
            raise BaselineError(f"cannot read {location}: {message}") from None
    path = Path(location).expanduser()
    if not path.is_file():
        raise BaselineError(f"{path} does not exist")
    return path.read_bytes()


def parse_document(raw: bytes, source: str, kind: str) -> dict:
    try:
        document = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise BaselineError(f"{source} is not JSON ({error})") from None
    features = document.get("features") if isinstance(document, dict) else None
    if not isinstance(features, list) or not features:
        raise BaselineError(f"{source} is not a Model Monitor {kind} file: it has no 'features'")
    for index, feature in enumerate(features):
        if not isinstance(feature, dict) or not {"name", "inferred_type"} <= set(feature):
            raise BaselineError(
                f"{source}: features[{index}] lacks 'name' or 'inferred_type' ({kind} file)"
            )
    return document


def load(statistics: str, constraints: str, read: Callable[[str], bytes]) -> Baseline:
    """``read`` fetches a location's bytes (see ``read_bytes``; a local run reads its store)."""
    return Baseline(
        parse_document(read(statistics), statistics, "statistics"),
        parse_document(read(constraints), constraints, "constraints"),
        statistics,
        constraints,
    )


def registered_uris(sagemaker_client, package_arn: str) -> tuple[str, str]:
    """The drift-check data-quality baseline a model version was registered with."""
    described = sagemaker_client.describe_model_package(ModelPackageName=package_arn)
    quality = described.get("DriftCheckBaselines", {}).get("ModelDataQuality", {})
    statistics = quality.get("Statistics", {}).get("S3Uri")
    constraints = quality.get("Constraints", {}).get("S3Uri")
    if not statistics or not constraints:
        raise BaselineError(
            f"model version {package_arn} has no DriftCheckBaselines.ModelDataQuality "
            "statistics and constraints; it was registered without a data-quality baseline"
        )
    return statistics, constraints
