"""Fixtures: a hermetic AWS environment, moto (in-process and as a server), the runtime stub."""

from __future__ import annotations

import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto import mock_aws
from moto.server import ThreadedMotoServer

REPO_ROOT = Path(__file__).resolve().parents[1]
# This directory is also the cookiecutter template, which would copy stray __pycache__ folders.
sys.dont_write_bytecode = True
# build.py and its modules live at the repository root; the staging test's modules in test/.
sys.path[:0] = [str(REPO_ROOT), str(REPO_ROOT / "test")]

from helpers import PROJECT, REGION, TEST_CLIENT_CONFIG, Registry, write_json  # noqa: E402
from runtime_stub import CORRECT, RuntimeStub  # noqa: E402

AWS_VARIABLES_TO_CLEAR = (
    "AWS_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_REGION",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_SAGEMAKER",
    "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME",
    "CODEBUILD_RESOLVED_SOURCE_VERSION",
    "SOURCE_MODEL_PACKAGE_GROUP_NAME",
    "MODEL_EXECUTION_ROLE_ARN",
    "ARTIFACT_BUCKET",
    "EXPORT_TEMPLATE_STAGING_CONFIG",
    "EXPORT_TEMPLATE_PROD_CONFIG",
    "MODEL_PACKAGE_VERSION",
    "BUILD_CONFIG",
    "EXPORT_TEST_RESULTS",
)


@pytest.fixture(autouse=True)
def aws_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Fake credentials and no real AWS configuration, whatever the developer's shell holds."""
    for name in AWS_VARIABLES_TO_CLEAR:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    # Scripts run in subprocesses import this directory's modules; keep it free of __pycache__.
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")


@pytest.fixture
def project_file(tmp_path: Path) -> Path:
    return write_json(tmp_path / "project.json", PROJECT)


@pytest.fixture
def registry() -> Iterator[Registry]:
    """An empty model registry in in-process moto; the group is created by the test."""
    with mock_aws():
        yield Registry(boto3.client("sagemaker", region_name=REGION, config=TEST_CLIENT_CONFIG))


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """A moto server on a free loopback port, for code that talks HTTP (AWS_ENDPOINT_URL)."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def moto_url(moto_server: str) -> str:
    """The moto server, emptied: in-process mock_aws in other tests shares its state."""
    request = urllib.request.Request(f"{moto_server}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=10):
        pass
    return moto_server


@pytest.fixture(scope="session")
def runtime_stub() -> Iterator[RuntimeStub]:
    stub = RuntimeStub()
    yield stub
    stub.close()


@pytest.fixture
def runtime_endpoint_url(runtime_stub: RuntimeStub) -> str:
    """Base URL of an endpoint that honours the inference contract.

    The only place the correct endpoint comes from: point it at a locally served real model
    to run the staging test against that instead of the stub.
    """
    runtime_stub.clear()
    return runtime_stub.url_for(CORRECT)
