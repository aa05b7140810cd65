"""A model-deploy repository that is not the template's, for the bootstrap's tests: only the data
files the bootstrap reads (``cicd/resources.json``, a small ``cicd/cicd-stack.yml``,
``cicd/bootstrap-policy.json``), under names of its own, and no code at all."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from mlops_toolkit.bootstrap.project import load_project
from mlops_toolkit.bootstrap.stack import stack_parameters

SLUG = "churn"
REGION = "us-east-1"
ACCOUNT = "123456789012"
PROJECT = {
    "project_name": "Churn",
    "project_slug": SLUG,
    "description": "Who leaves.",
    "aws_region": REGION,
    "owner_team": "ml",
    "pipeline_name": f"{SLUG}-training",
    "model_package_group_name": f"{SLUG}-models",
}
NAMES = {
    "modelbuild_repo": f"{SLUG}-train",
    "modeldeploy_repo": f"{SLUG}-serve",
    "modelbuild_build_project": f"{SLUG}-train-build",
    "modeldeploy_build_project": f"{SLUG}-serve-build",
    "staging_test_build_project": f"{SLUG}-smoke",
    "modelbuild_codepipeline": f"{SLUG}-train",
    "modeldeploy_codepipeline": f"{SLUG}-serve",
    "staging_stack": f"{SLUG}-staging",
    "prod_stack": f"{SLUG}-prod",
    "cicd_stack": f"{SLUG}-cicd",
    "staging_endpoint": f"{SLUG}-staging-endpoint",
    "prod_endpoint": f"{SLUG}-prod-endpoint",
    "artifact_bucket": f"{SLUG}-artifacts-{{account_id}}",
}
# The stack's one resource is its artifact bucket, named in the short form a team writes by hand.
STACK_RESOURCES = """\
Resources:
  ArtifactBucket:
    Type: AWS::S3::Bucket
    Properties:
      BucketName: !Ref ArtifactBucketName
      Tags:
        - Key: project
          Value: !Ref ProjectSlug
Outputs:
  ArtifactBucketName:
    Value: !Ref ArtifactBucket
"""
POLICY = {
    "bootstrap-and-teardown": {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["cloudformation:CreateStack"],
                "Resource": "arn:${Partition}:cloudformation:${Region}:${Account}:stack/"
                "${CicdStackName}/*",
            }
        ],
    }
}


def write_deploy_repo(project_dir: Path) -> Path:
    """The deploy repository (``NAMES['modeldeploy_repo']``) under ``project_dir``."""
    cicd = project_dir / NAMES["modeldeploy_repo"] / "cicd"
    cicd.mkdir(parents=True, exist_ok=True)
    (cicd / "resources.json").write_text(json.dumps({"project": PROJECT, "names": NAMES}))
    (cicd / "bootstrap-policy.json").write_text(json.dumps(POLICY))
    # Every parameter the bootstrap passes must be declared, as CloudFormation requires.
    parameters = stack_parameters(load_project(cicd.parent), ACCOUNT)
    declared = "".join(f"  {name}:\n    Type: String\n" for name in parameters)
    (cicd / "cicd-stack.yml").write_text(
        f"AWSTemplateFormatVersion: '2010-09-09'\nParameters:\n{declared}{STACK_RESOURCES}"
    )
    return cicd.parent


def write_project(project_dir: Path) -> Path:
    """Both repositories as git repositories with one commit each; returns the deploy repo."""
    deploy = write_deploy_repo(project_dir)
    build = project_dir / NAMES["modelbuild_repo"]
    build.mkdir(exist_ok=True)
    (build / "README.md").write_text("training code\n")
    for repo in (build, deploy):
        git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.invalid"]
        subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
        subprocess.run([*git, "add", "-A"], check=True)
        subprocess.run([*git, "commit", "-q", "-m", "first"], check=True)
    return deploy
