"""boto3 sessions and clients shared by the commands.

Clients honour ``AWS_ENDPOINT_URL`` (boto3 does that itself), which is how a local run, the tests
and the demo point everything at a stand-in instead of AWS.
"""

from __future__ import annotations

import boto3
from botocore.config import Config

# Standard mode retries throttling with back-off; a handful of attempts keeps errors prompt.
CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5})


def boto_session(region: str | None) -> boto3.Session:
    return boto3.Session(region_name=region) if region else boto3.Session()


def newest_approved_package(client, group: str) -> str | None:
    """ARN of the newest Approved version in ``group`` (the one a deployment picks), or None."""
    found = client.list_model_packages(
        ModelPackageGroupName=group,
        ModelApprovalStatus="Approved",
        SortBy="CreationTime",
        SortOrder="Descending",
        MaxResults=1,
    ).get("ModelPackageSummaryList", [])
    return found[0]["ModelPackageArn"] if found else None
