"""The GitHub Actions deploy step (.github/scripts/deploy-endpoint-stack.sh): the stage file that
build.py writes becomes the CLI's parameter and tag arguments, whole even with spaces; staging
replaces a stack a failed create left behind, prod never deletes.

The AWS CLI is replaced by a script that logs its arguments and answers describe-stacks with
the status the test chooses; jq, as on GitHub's runners, must be installed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import REPO_ROOT, write_json

SCRIPT = REPO_ROOT / ".github" / "scripts" / "deploy-endpoint-stack.sh"
ROLE = "arn:aws:iam::123456789012:role/cloudformation"
FAKE_AWS = """\
import json, os, sys
with open(os.environ["AWS_LOG"], "a", encoding="utf-8") as log:
    log.write(json.dumps(sys.argv[1:]) + "\\n")
if sys.argv[1:3] == ["cloudformation", "describe-stacks"]:
    if os.environ["STACK_STATUS"] == "NONE":
        sys.exit("An error occurred (ValidationError): Stack does not exist")
    print(os.environ["STACK_STATUS"])
"""

pytestmark = pytest.mark.skipif(shutil.which("jq") is None, reason="needs jq, as on GitHub")


def deploy(tmp_path: Path, status: str, *mode: str) -> list[list[str]]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "fake_aws.py").write_text(FAKE_AWS, encoding="utf-8")
    aws = bin_dir / "aws"
    aws.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{bin_dir / "fake_aws.py"}" "$@"\n')
    aws.chmod(0o755)
    config = write_json(
        tmp_path / "staging-config-export.json",
        {
            "Parameters": {"StageName": "staging", "ModelPackageArn": "arn:a b"},
            "Tags": {"project": "abalone", "note": "two words"},
        },
    )
    log = tmp_path / "aws.jsonl"
    log.unlink(missing_ok=True)
    env = os.environ | {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "AWS_LOG": str(log),
        "STACK_STATUS": status,
    }
    result = subprocess.run(
        ["bash", str(SCRIPT), "abalone-deploy-staging", str(config), ROLE, *mode],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]


def test_the_stage_file_becomes_whole_parameter_and_tag_arguments(tmp_path: Path) -> None:
    *_, command = deploy(tmp_path, "UPDATE_COMPLETE")
    assert command[:2] == ["cloudformation", "deploy"]
    overrides = command.index("--parameter-overrides")
    tags = command.index("--tags")
    assert command[overrides + 1 : tags] == ["StageName=staging", "ModelPackageArn=arn:a b"]
    assert command[tags + 1 :] == ["project=abalone", "note=two words"]
    assert command[command.index("--role-arn") + 1] == ROLE
    assert command[command.index("--template-file") + 1] == "template-export.yml"


def test_staging_replaces_a_stack_left_by_a_failed_create(tmp_path: Path) -> None:
    commands = deploy(tmp_path, "ROLLBACK_COMPLETE", "replace-on-failure")
    assert [c[1] for c in commands] == ["describe-stacks", "delete-stack", "wait", "deploy"]


@pytest.mark.parametrize("status", ["NONE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE"])
def test_a_healthy_or_missing_stack_is_deployed_without_deleting(
    tmp_path: Path, status: str
) -> None:
    commands = deploy(tmp_path, status, "replace-on-failure")
    assert [c[1] for c in commands] == ["describe-stacks", "deploy"]


def test_prod_never_deletes_even_after_a_failed_create(tmp_path: Path) -> None:
    commands = deploy(tmp_path, "ROLLBACK_COMPLETE")
    assert "delete-stack" not in [c[1] for c in commands]
