"""Shared fixtures: an AWS stand-in per module, and a working directory that is no project."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

# Nothing here may reach a real AWS account, whatever the machine has configured.
for _name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SAGEMAKER"):
    os.environ.pop(_name, None)
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")  # the SDK needs one while importing
# local-run's warm fork servers (one per project the tests generate) leave soon after the suite.
os.environ.setdefault("MLOPS_TOOLKIT_FORK_SERVER_IDLE", "5")

from mlops_toolkit.stand_in import EmbeddedAws, Provisioned  # noqa: E402

REGION = "us-east-1"


@pytest.fixture(scope="module")
def stand_in() -> Iterator[EmbeddedAws]:
    with EmbeddedAws(REGION, "toolkit-tests", "toolkit-tests-role") as aws:
        yield aws


@pytest.fixture
def account(stand_in: EmbeddedAws) -> Provisioned:
    stand_in.reset()
    return stand_in.provision()


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory with no pyproject.toml above it: no project defaults at all."""
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    monkeypatch.chdir(folder)
    return folder


def s3_json(aws: EmbeddedAws, uri: str) -> dict:
    import json

    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return json.loads(aws.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())
