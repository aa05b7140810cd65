"""Choosing the model version to deploy from the SageMaker model registry."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

APPROVED = "Approved"
PENDING = "PendingManualApproval"
MISSING_GROUP_ERROR_CODES = frozenset(
    {"ValidationException", "ResourceNotFound", "ResourceNotFoundException"}
)


@dataclass(frozen=True)
class ModelVersion:
    """One versioned model package in a model package group."""

    arn: str
    version: int
    status: str


class RegistryError(Exception):
    """The registry holds nothing this build can deploy; the message says why and what to do."""


class GroupNotFoundError(RegistryError):
    """The model package group does not exist (or is not visible) in the region."""


class NoApprovedVersionError(RegistryError):
    """The group has no Approved version (or not the pinned one)."""


def ensure_group_exists(client: Any, group: str, region: str) -> None:
    """Fail with a clear message when the group is missing, before listing its versions."""
    try:
        client.describe_model_package_group(ModelPackageGroupName=group)
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        if code not in MISSING_GROUP_ERROR_CODES:
            raise
        detail = error.response.get("Error", {}).get("Message", "")
        raise GroupNotFoundError(
            f"Model package group {group!r} was not found in region {region} ({detail}).\n"
            "Check SOURCE_MODEL_PACKAGE_GROUP_NAME (or --model-package-group-name) and the "
            "region. The group is created the first time the model-build pipeline registers "
            "a model, so run that pipeline first if this is a new project."
        ) from None


def iter_versions(
    client: Any, group: str, page_size: int, status: str | None = None
) -> Iterator[ModelVersion]:
    """Versions in ``group`` (only those with ``status`` if given), newest first, all pages."""
    filters = {} if status is None else {"ModelApprovalStatus": status}
    paginator = client.get_paginator("list_model_packages")
    pages = paginator.paginate(
        ModelPackageGroupName=group,
        # The API sorts ascending by default; without this the oldest version would come first.
        SortBy="CreationTime",
        SortOrder="Descending",
        PaginationConfig={"PageSize": page_size},
        **filters,
    )
    for page in pages:
        for summary in page.get("ModelPackageSummaryList", []):
            yield ModelVersion(
                arn=summary["ModelPackageArn"],
                version=int(summary["ModelPackageVersion"]),
                status=summary["ModelApprovalStatus"],
            )


def _newest(versions: Iterator[ModelVersion]) -> ModelVersion | None:
    return next(versions, None)


def approval_instructions(client: Any, group: str, region: str, page_size: int) -> str:
    """How to get an Approved version into ``group``, naming a concrete candidate if one exists."""
    candidate = _newest(iter_versions(client, group, page_size, PENDING))
    if candidate is None:
        candidate = _newest(iter_versions(client, group, page_size))
    if candidate is None:
        return (
            f"The group {group!r} has no model versions yet. Run the model-build pipeline; it "
            "registers a version when the model passes its quality gate."
        )
    return (
        f"Newest candidate: version {candidate.version} ({candidate.status}), "
        f"{candidate.arn}\n"
        "Approve it with the AWS CLI:\n"
        f"  aws sagemaker update-model-package --model-package-arn {candidate.arn} "
        f"--model-approval-status Approved --region {region}\n"
        f"or in SageMaker Studio: Models > Model registry > {group} > version "
        f"{candidate.version} > Update status > Approved.\n"
        "Approving a version starts the deploy pipeline again."
    )


def select_version(
    client: Any, group: str, region: str, pinned_version: int | None, page_size: int
) -> ModelVersion:
    """The newest Approved version, or the pinned one when rolling back to an earlier version."""
    ensure_group_exists(client, group, region)
    approved = iter_versions(client, group, page_size, APPROVED)
    if pinned_version is None:
        chosen = _newest(approved)
        if chosen is None:
            raise NoApprovedVersionError(
                f"No Approved model version in model package group {group!r} (region "
                f"{region}), so there is nothing to deploy.\n"
                + approval_instructions(client, group, region, page_size)
            )
        return chosen
    return _pinned(approved, group, pinned_version)


def _pinned(approved: Iterator[ModelVersion], group: str, pinned_version: int) -> ModelVersion:
    seen: list[int] = []
    for candidate in approved:
        if candidate.version == pinned_version:
            return candidate
        seen.append(candidate.version)
    listing = ", ".join(str(version) for version in seen) or "none"
    raise NoApprovedVersionError(
        f"Version {pinned_version} of model package group {group!r} is not Approved (or does "
        f"not exist), so it cannot be deployed. Approved versions, newest first: {listing}.\n"
        "Pin one of those with MODEL_PACKAGE_VERSION (or --model-package-version), or unset it "
        "to deploy the newest Approved version."
    )
