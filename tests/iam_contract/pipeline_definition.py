"""The pipeline definition a rendered model-build repository's SDK code really emits.

Built the way ``get-pipeline-definition --offline`` and the generated tests build it (moto
in-process, ``SAGEMAKER_VALIDATE_ROLE=false``), but with the CI/CD stack's execution role ARN and
artifact bucket, so the definition names the resources the contract tests check. It runs in a
child process: the model-build code and the SDK load there, never into the test process.

Run as a script (``python pipeline_definition.py ROLE_ARN BUCKET REGION``) inside the model-build
repository it prints ``{"definition": ..., "uploads": {bucket: [keys]}}``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

GIT_COMMIT = "0123abcd"


def build_definition(modelbuild_repo: Path, role_arn: str, bucket: str, region: str) -> dict:
    """``{"definition": <pipeline definition>, "uploads": <what building uploaded, by bucket>}``."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    env["PYTHONPATH"] = str(modelbuild_repo / "src")
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    result = subprocess.run(
        [sys.executable, __file__, role_arn, bucket, region],
        cwd=modelbuild_repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"building the pipeline definition failed:\n{result.stderr[-4000:]}")
    return json.loads(result.stdout.splitlines()[-1])


def _main(role_arn: str, bucket: str, region: str) -> dict[str, Any]:
    os.environ.update(
        AWS_ACCESS_KEY_ID="contract",
        AWS_SECRET_ACCESS_KEY="contract",
        AWS_SESSION_TOKEN="contract",
        AWS_DEFAULT_REGION=region,
        # moto cannot simulate IAM policies, which the SDK's role check would call.
        SAGEMAKER_VALIDATE_ROLE="false",
    )
    import boto3
    from moto import mock_aws

    with mock_aws():
        session = boto3.Session(region_name=region)
        s3 = session.client("s3")
        location = {} if region == "us-east-1" else {"LocationConstraint": region}
        s3.create_bucket(
            Bucket=bucket, **({"CreateBucketConfiguration": location} if location else {})
        )
        from modelbuild.pipeline import get_pipeline

        pipeline = get_pipeline(
            role_arn=role_arn,
            default_bucket=bucket,
            region=region,
            git_commit=GIT_COMMIT,
            boto_session=session,
        )
        definition = json.loads(pipeline.definition())
        uploads = {
            found["Name"]: [
                item["Key"] for item in s3.list_objects_v2(Bucket=found["Name"]).get("Contents", [])
            ]
            for found in s3.list_buckets()["Buckets"]
        }
    return {"definition": definition, "uploads": uploads}


if __name__ == "__main__":
    # Run as a script, this folder heads sys.path: its modules must not shadow installed ones.
    sys.path.remove(str(Path(__file__).resolve().parent))
    print(json.dumps(_main(*sys.argv[1:4])))
