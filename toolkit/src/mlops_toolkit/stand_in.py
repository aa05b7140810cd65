"""An embedded AWS stand-in: a moto server on a free loopback port, with the bucket and the
SageMaker execution role a pipeline needs. ``local-run`` starts one itself when no AWS is
configured; ``make demo``, the benchmarks and the tests use it too. Anything started in this
process or its children reaches it through ``AWS_ENDPOINT_URL``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import threading
import urllib.request
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config

from mlops_toolkit.config import load_config

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
# Fake credentials: nothing pointed at the stand-in can reach a real account by accident.
FAKE_ENV = {
    "AWS_ACCESS_KEY_ID": "stand-in",
    "AWS_SECRET_ACCESS_KEY": "stand-in",
    "AWS_SESSION_TOKEN": "stand-in",
    # moto cannot simulate IAM policies, which the SDK's role check would call.
    "SAGEMAKER_VALIDATE_ROLE": "false",
    # The SDK still probes IAM once while building a training step; moto answers 500, and the
    # legacy retry mode would back off several times before the SDK moves on.
    "AWS_RETRY_MODE": "standard",
    "AWS_MAX_ATTEMPTS": "2",
}
DEFAULT_REGION = "us-east-1"
DEFAULT_BUCKET = "local-artifacts"
DEFAULT_ROLE = "local-sagemaker-execution"
_CLEARED = ("AWS_PROFILE", "AWS_ENDPOINT_URL_SAGEMAKER", "AWS_ENDPOINT_URL_S3")
_CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 2})


@dataclass(frozen=True)
class Provisioned:
    role_arn: str
    bucket: str


def teach_stack_resource_lookup() -> None:
    """DescribeStackResource, which the bootstrap calls for the CI/CD stack's role names (batch):
    moto's walks every resource of the stack and fails on those its CloudFormation skipped
    (CodeBuild, CodePipeline), which it keeps as None. This one passes over them. The server runs
    in this process, so patching its backend class here is what it serves."""
    from moto.cloudformation.exceptions import ValidationError
    from moto.cloudformation.models import CloudFormationBackend

    def describe_stack_resource(
        self: CloudFormationBackend, stack_name: str, logical_resource_id: str
    ) -> tuple[Any, Any]:
        stack = self.get_stack(stack_name)
        for resource in stack.stack_resources:
            if resource is not None and resource.logical_resource_id == logical_resource_id:
                return stack, resource
        raise ValidationError(
            stack_name, f"Resource {logical_resource_id} does not exist for stack {stack_name}"
        )

    CloudFormationBackend.describe_stack_resource = describe_stack_resource


class EmbeddedAws:
    """Start with ``start()`` (or ``with``); ``stop()`` puts the environment back as it was."""

    def __init__(self, region: str, bucket: str, role_name: str, port: int = 0) -> None:
        self.region, self.bucket, self.role_name, self.port = region, bucket, role_name, port
        self._server = None
        self._saved_env: dict[str, str | None] = {}

    @property
    def endpoint_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the stand-in is not running; call start() first")
        host, port = self._server.get_host_and_port()
        return f"http://{host}:{port}"

    def environment(self) -> dict[str, str]:
        """What a child process needs in its environment to use the stand-in."""
        return {
            **FAKE_ENV,
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
        }

    def start(self) -> EmbeddedAws:
        try:
            from moto.server import ThreadedMotoServer
        except ImportError as error:
            raise RuntimeError(
                "the embedded AWS stand-in needs moto: pip install -e '.[dev]'"
            ) from error
        # The server logs every request (and a traceback for each call moto does not implement)
        # through werkzeug; clients see those errors anyway, and the logs would drown the output.
        logging.getLogger("werkzeug").setLevel(logging.CRITICAL)
        teach_stack_resource_lookup()
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self._server.start()
        updates = self.environment()
        self._saved_env = {name: os.environ.get(name) for name in [*updates, *_CLEARED]}
        for name in _CLEARED:
            os.environ.pop(name, None)
        os.environ.update(updates)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None
        for name, value in self._saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_env = {}

    def __enter__(self) -> EmbeddedAws:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def session(self) -> boto3.Session:
        return boto3.Session(region_name=self.region)

    def client(self, service: str):
        return self.session().client(service, config=_CLIENT_CONFIG)

    def reset(self) -> None:
        """Forget every resource (moto's own reset call)."""
        request = urllib.request.Request(f"{self.endpoint_url}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=10):
            pass

    def provision(self) -> Provisioned:
        """The artifact bucket and an execution role trusted by SageMaker."""
        s3 = self.client("s3")
        if self.region == "us-east-1":
            s3.create_bucket(Bucket=self.bucket)
        else:
            s3.create_bucket(
                Bucket=self.bucket, CreateBucketConfiguration={"LocationConstraint": self.region}
            )
        role = self.client("iam").create_role(
            RoleName=self.role_name, AssumeRolePolicyDocument=json.dumps(SAGEMAKER_TRUST)
        )
        return Provisioned(role_arn=role["Role"]["Arn"], bucket=self.bucket)


def _exports(aws: EmbeddedAws, provisioned: Provisioned) -> list[str]:
    variables = {
        **aws.environment(),
        "SAGEMAKER_PIPELINE_ROLE_ARN": provisioned.role_arn,
        "ARTIFACT_BUCKET": provisioned.bucket,
    }
    return [f"export {name}={value}" for name, value in variables.items()]


def main(argv: list[str] | None = None) -> int:
    """Run the stand-in in the foreground and print the variables that point a shell at it."""
    config = load_config()
    parser = argparse.ArgumentParser(
        prog="python -m mlops_toolkit.stand_in",
        description="An AWS stand-in (moto) on 127.0.0.1 with an artifact bucket and a role.",
    )
    parser.add_argument("--region", default=config.region or DEFAULT_REGION)
    parser.add_argument("--bucket", default=DEFAULT_BUCKET)
    parser.add_argument("--role-name", default=DEFAULT_ROLE)
    parser.add_argument("--port", type=int, default=0, help="default: a free port")
    args = parser.parse_args(argv)
    with EmbeddedAws(args.region, args.bucket, args.role_name, args.port) as aws:
        provisioned = aws.provision()
        print("AWS stand-in running. In another shell:", flush=True)
        for line in _exports(aws, provisioned):
            print(f"  {line}", flush=True)
        print("Ctrl-C stops it (and forgets everything in it).", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
