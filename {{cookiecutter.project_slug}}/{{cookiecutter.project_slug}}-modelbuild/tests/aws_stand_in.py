"""An in-process AWS stand-in (moto) with what the pipeline needs: a bucket and a trusted role.

Imported by the tests that build or upsert the pipeline. It sets fake credentials first, so no
test can reach a real AWS account by accident.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

for _name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SAGEMAKER"):
    os.environ.pop(_name, None)
os.environ.update(
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    AWS_SESSION_TOKEN="testing",
    AWS_DEFAULT_REGION="us-east-1",  # the SDK needs one at import; tests name their region
    # moto cannot simulate IAM policies, which the SDK's role check would call.
    SAGEMAKER_VALIDATE_ROLE="false",
)

import boto3  # noqa: E402
import pytest  # noqa: E402
from moto import mock_aws  # noqa: E402

from modelbuild.settings import load_settings  # noqa: E402

REGION = load_settings().aws_region
BUCKET = "test-artifacts"
SAGEMAKER_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "sagemaker.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}


@dataclass(frozen=True)
class StandIn:
    session: boto3.Session
    role_arn: str
    bucket: str
    region: str


def _create_bucket(session: boto3.Session) -> None:
    location = {} if REGION == "us-east-1" else {"LocationConstraint": REGION}
    session.client("s3").create_bucket(
        Bucket=BUCKET, **({"CreateBucketConfiguration": location} if location else {})
    )


@contextmanager
def stand_in() -> Iterator[StandIn]:
    with mock_aws():
        session = boto3.Session(region_name=REGION)
        _create_bucket(session)
        role = session.client("iam").create_role(
            RoleName="sagemaker-execution", AssumeRolePolicyDocument=json.dumps(SAGEMAKER_TRUST)
        )
        yield StandIn(session, role["Role"]["Arn"], BUCKET, REGION)


@pytest.fixture
def aws() -> Iterator[StandIn]:
    with stand_in() as ready:
        yield ready


@pytest.fixture(scope="module")
def built_definition() -> Iterator[tuple[StandIn, dict]]:
    """One definition per test module: building it (and uploading the code) takes a second."""
    from modelbuild.pipeline import get_pipeline

    with stand_in() as ready:
        pipeline = get_pipeline(
            role_arn=ready.role_arn,
            default_bucket=ready.bucket,
            region=ready.region,
            git_commit="0123abcd",
            boto_session=ready.session,
        )
        yield ready, json.loads(pipeline.definition())


@pytest.fixture
def definition(built_definition: tuple[StandIn, dict]) -> dict:
    return built_definition[1]
