"""The deployment answer (realtime | batch | both): what each renders in the model-deploy repo, and
the batch stacks' configurations batch-export.jq writes from build.py's endpoint exports."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cfnlint.decode import decode
from conftest import render_project

from mlops_template.deployments import BATCH_FILES, BUILDSPECS, DEPLOYMENTS, variant


def _deploy_repo(project: Path) -> Path:
    (repo,) = project.glob("*-modeldeploy")
    return repo


def test_realtime_renders_no_batch_file(tmp_path):
    repo = _deploy_repo(render_project(tmp_path, deployment="realtime"))
    assert not [path for path in BATCH_FILES if (repo / path).exists()]
    leftovers = [variant(b, d) for b in BUILDSPECS for d in DEPLOYMENTS]
    assert not [path for path in leftovers if (repo / path).exists()]
    project = json.loads((repo / "cicd" / "resources.json").read_text())["project"]
    assert "deployment" not in project and "batch_schedule" not in project


@pytest.mark.parametrize("deployment", ["batch", "both"])
def test_batch_and_both_render_the_batch_stack_and_its_buildspecs(tmp_path, deployment):
    repo = _deploy_repo(
        render_project(tmp_path, deployment=deployment, batch_schedule="cron(30 1 * * ? *)")
    )
    assert all((repo / path).is_file() for path in BATCH_FILES)
    build = (repo / "buildspec.yml").read_text()
    staging_test = (repo / "test" / "buildspec.yml").read_text()
    assert "batch-export.jq" in build and "python test/batch_test.py" in staging_test
    endpoint = "endpoint-config-template.yml" in build and "python test/test.py" in staging_test
    assert endpoint == (deployment == "both")
    project = json.loads((repo / "cicd" / "resources.json").read_text())["project"]
    assert project["deployment"] == deployment
    assert project["batch_schedule"] == "cron(30 1 * * ? *)"


@pytest.mark.skipif(shutil.which("jq") is None, reason="jq runs in CodeBuild; not installed here")
def test_the_batch_export_is_a_complete_valid_configuration_of_the_batch_template(tmp_path):
    repo = _deploy_repo(render_project(tmp_path / "out", deployment="batch"))
    sys.path.insert(0, str(repo / "tests"))
    sys.path.insert(0, str(repo))
    try:
        import stage_config
        from helpers import constraint_violations
    finally:
        del sys.path[:2]
    project = stage_config.load_project(repo / "project.json")
    config = stage_config.load_stage_config(repo / "staging-config.json", "staging")
    monitoring = stage_config.MonitoringInputs(
        image_uri="156813124566.dkr.ecr.us-east-1.amazonaws.com/sagemaker-model-monitor-analyzer",
        statistics_uri="s3://bucket-a/baseline/statistics.json",
        constraints_uri="s3://bucket-a/baseline/constraints.json",
        drift_features=("length",) * 10,
        drift_threshold=0.1,
        notification_topic_arn="",
    )
    deployment = stage_config.Deployment(
        model_package_arn="arn:aws:sagemaker:us-east-1:123456789012:model-package/abalone/3",
        model_package_version=3,
        execution_role_arn="arn:aws:iam::123456789012:role/execution",
        artifact_bucket="bucket-a",
        source_commit="abc1234",
        monitoring=monitoring,
    )
    export = tmp_path / "staging-config-export.json"
    export.write_text(json.dumps(stage_config.build_export(project, config, deployment)))
    done = subprocess.run(
        ["jq", "-s", "--arg", "bucket", "bucket-a", "-f", "batch-export.jq", str(export)]
        + ["staging-batch-config.json"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    )
    batch = json.loads(done.stdout)
    template, matches = decode(str(repo / "batch-transform-template.yml"))
    assert template is not None, matches
    assert constraint_violations(template, batch["Parameters"]) == []
    assert batch["Parameters"]["BatchName"] == f"{project.slug}-staging-batch"
    assert batch["Parameters"]["ModelPackageArn"] == deployment.model_package_arn
    assert batch["Tags"]["model-package-version"] == "3"
