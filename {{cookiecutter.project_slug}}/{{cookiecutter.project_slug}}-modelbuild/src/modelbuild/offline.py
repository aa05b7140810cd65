"""Build the pipeline with no AWS account: moto stands in for S3 while the SDK uploads step code."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import boto3

OFFLINE_ACCOUNT = "123456789012"
OFFLINE_BUCKET = "offline-artifacts"


def offline_role_arn(project_slug: str) -> str:
    return f"arn:aws:iam::{OFFLINE_ACCOUNT}:role/{project_slug}-sagemaker-execution"


@contextmanager
def offline_aws(region: str) -> Iterator[boto3.Session]:
    """An in-process AWS stand-in holding the bucket the SDK uploads to."""
    try:
        from moto import mock_aws
    except ImportError as exc:  # moto is a development dependency
        raise RuntimeError(
            "--offline needs moto: install the development extras with `pip install -e '.[dev]'`."
        ) from exc
    fake = {
        "AWS_ACCESS_KEY_ID": "offline",
        "AWS_SECRET_ACCESS_KEY": "offline",
        "AWS_SESSION_TOKEN": "offline",
        # moto cannot simulate IAM policies, which the SDK's role check would call.
        "SAGEMAKER_VALIDATE_ROLE": "false",
        "AWS_DEFAULT_REGION": region,
    }
    saved = {name: os.environ.get(name) for name in [*fake, "AWS_ENDPOINT_URL"]}
    os.environ.update(fake)
    os.environ.pop("AWS_ENDPOINT_URL", None)
    try:
        with mock_aws():
            session = boto3.Session(region_name=region)
            s3 = session.client("s3")
            if region == "us-east-1":
                s3.create_bucket(Bucket=OFFLINE_BUCKET)
            else:
                s3.create_bucket(
                    Bucket=OFFLINE_BUCKET,
                    CreateBucketConfiguration={"LocationConstraint": region},
                )
            yield session
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
