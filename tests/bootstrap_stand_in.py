"""What the bootstrap tests share: a moto server on 127.0.0.1, a generated project, local remotes.

moto 5.2.5 cannot delete model packages or their groups (the calls answer HTTP 500). Teardown
needs both, so ``start_stand_in`` teaches this process's moto those two calls, each as AWS
documents it: delete one version by name or ARN; delete an empty group, else a ConflictException.
Nothing else about moto is changed.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import urllib.request
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError
from conftest import render_project
from mlops_toolkit.stand_in import teach_stack_resource_lookup
from moto.core.responses import EmptyResult
from moto.sagemaker.exceptions import ValidationError
from moto.sagemaker.responses import SageMakerResponse
from moto.server import ThreadedMotoServer

SLUG = "abalone-age-predictor"
REGION = "us-east-1"
ACCOUNT = "123456789012"
CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 2})
# What a full bootstrap leaves in AWS (see ``inventory``).
REPOSITORIES = [f"{SLUG}-modelbuild", f"{SLUG}-modeldeploy"]
BOOTSTRAPPED = {
    "repositories": REPOSITORIES,
    "groups": [SLUG],
    "stacks": [f"{SLUG}-cicd"],
    "buckets": [f"{SLUG}-{ACCOUNT}-{REGION}"],
}
BOOTSTRAP_WRITES = ("CreateRepository", "CreateModelPackageGroup", "CreateStack", "UpdateStack")


@dataclass
class StandIn:
    server: ThreadedMotoServer
    url: str
    _clients: dict[str, Any] = field(default_factory=dict)

    def reset(self) -> None:
        request = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")
        urllib.request.urlopen(request, timeout=10).close()

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = boto3.client(
                service,
                region_name=REGION,
                endpoint_url=self.url,
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
                config=CLIENT_CONFIG,
            )
        return self._clients[service]


@contextmanager
def stand_in() -> Iterator[StandIn]:
    _teach_model_package_deletion()
    teach_stack_resource_lookup()
    warnings.filterwarnings("ignore", message="Tried to parse AWS::", category=UserWarning)
    # moto logs every resource type its CloudFormation skips, werkzeug every request.
    for noisy in ("moto", "werkzeug"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    aws = StandIn(server, f"http://{host}:{port}")
    # moto keeps its backends per process, not per server: start from nothing, whatever an
    # earlier test of this worker left behind.
    aws.reset()
    try:
        yield aws
    finally:
        server.stop()


def _teach_model_package_deletion() -> None:
    def delete_model_package(self: SageMakerResponse) -> EmptyResult:
        backend = self.sagemaker_backend
        name = self._get_param("ModelPackageName")
        arn = backend.model_package_name_mapping.get(name, name)
        if backend.model_packages.pop(arn, None) is None:
            raise ValidationError(f"Model package {name} does not exist.")
        for alias in [k for k, v in backend.model_package_name_mapping.items() if v == arn]:
            del backend.model_package_name_mapping[alias]
        return EmptyResult()

    def delete_model_package_group(self: SageMakerResponse) -> EmptyResult:
        backend = self.sagemaker_backend
        name = self._get_param("ModelPackageGroupName")
        if name not in backend.model_package_groups:
            raise ValidationError(f"ModelPackageGroup {name} does not exist.")
        if any(p.model_package_group_name == name for p in backend.model_packages.values()):
            raise ValidationError(f"Model package group {name} still has versions.")
        del backend.model_package_groups[name]
        return EmptyResult()

    SageMakerResponse.delete_model_package = delete_model_package
    SageMakerResponse.delete_model_package_group = delete_model_package_group


def render_seed_project(output_dir: Path) -> Path:
    """Generate the default project (bootstrap off): git repositories and resources.json."""
    with _environment({"MLOPS_TEMPLATE_BOOTSTRAP": "no"}):
        return render_project(output_dir)


def copy_project(seed: Path, destination: Path) -> Path:
    """A private copy of a generated project, since tests change it."""
    shutil.copytree(seed, destination, symlinks=True)
    return destination


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def bare_remotes(root: Path) -> Path:
    """Empty bare repositories standing in for CodeCommit's git side."""
    root.mkdir(parents=True, exist_ok=True)
    for repo in BOOTSTRAPPED["repositories"]:
        subprocess.run(["git", "init", "--bare", "--quiet", str(root / f"{repo}.git")], check=True)
    return root


def bootstrap_env(stand_in: StandIn, remotes: Path, **extra: str) -> dict[str, str]:
    """A complete environment for ``mlops-bootstrap``: fake credentials, the stand-in's endpoint,
    local remotes, fast retries; nothing inherited that could reach a real account."""
    env = {
        key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "MLOPS_"))
    }
    env.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_ENDPOINT_URL=stand_in.url,
        AWS_EC2_METADATA_DISABLED="true",
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        MLOPS_BOOTSTRAP_GIT_REMOTE=f"{remotes}/{{repo}}.git",
        MLOPS_BOOTSTRAP_MAX_ATTEMPTS="2",
        MLOPS_BOOTSTRAP_STACK_POLL_SECONDS="1",
        PYTHONWARNINGS="ignore",
    )
    env.update(extra)
    return env


# The console script this environment's toolkit installed, as a user's shell finds it.
BOOTSTRAP_COMMAND = str(Path(sys.executable).with_name("mlops-bootstrap"))


def run_bootstrap(
    project: Path, env: dict[str, str], *args: str
) -> subprocess.CompletedProcess[str]:
    """``mlops-bootstrap ARGS`` in the project's deploy repository, as a user runs it."""
    return subprocess.run(
        [BOOTSTRAP_COMMAND, *args],
        cwd=project / f"{SLUG}-modeldeploy",
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )


def inventory(stand_in: StandIn) -> dict[str, list[str]]:
    """Everything of the project's kinds that exists in the stand-in, sorted."""
    sagemaker = stand_in.client("sagemaker")
    stacks = stand_in.client("cloudformation").list_stacks()["StackSummaries"]
    return {
        "repositories": [name for name in REPOSITORIES if _repository_exists(stand_in, name)],
        "groups": sorted(
            g["ModelPackageGroupName"]
            for g in sagemaker.list_model_package_groups()["ModelPackageGroupSummaryList"]
        ),
        "stacks": sorted(s["StackName"] for s in stacks if s["StackStatus"] != "DELETE_COMPLETE"),
        "buckets": sorted(b["Name"] for b in stand_in.client("s3").list_buckets()["Buckets"]),
    }


def _repository_exists(stand_in: StandIn, name: str) -> bool:
    # moto has no ListRepositories: look the project's two names up instead.
    try:
        stand_in.client("codecommit").get_repository(repositoryName=name)
    except ClientError as error:
        if error.response["Error"]["Code"] == "RepositoryDoesNotExistException":
            return False
        raise
    return True


def extra_inventory(stand_in: StandIn) -> dict[str, list[str]]:
    """What CI/CD would add later, and what the stack's own resources leave in IAM and Events."""
    sagemaker = stand_in.client("sagemaker")
    return {
        "packages": [
            p["ModelPackageArn"]
            for p in sagemaker.list_model_packages(ModelPackageType="Both")[
                "ModelPackageSummaryList"
            ]
        ],
        "pipelines": [p["PipelineName"] for p in sagemaker.list_pipelines()["PipelineSummaries"]],
        "endpoints": [e["EndpointName"] for e in sagemaker.list_endpoints()["Endpoints"]],
        "roles": [r["RoleName"] for r in stand_in.client("iam").list_roles()["Roles"]],
        "rules": [r["Name"] for r in stand_in.client("events").list_rules()["Rules"]],
        "log groups": [
            g["logGroupName"] for g in stand_in.client("logs").describe_log_groups()["logGroups"]
        ],
    }


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def remote_head(remotes: Path, repo: str) -> str | None:
    done = subprocess.run(
        ["git", "-C", str(remotes / f"{repo}.git"), "rev-parse", "--verify", "--quiet", "main"],
        capture_output=True,
        text=True,
    )
    return done.stdout.strip() or None


def local_head(project: Path, repo: str) -> str:
    return subprocess.run(
        ["git", "-C", str(project / repo), "rev-parse", "main"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
