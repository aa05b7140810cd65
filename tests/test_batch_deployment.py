"""The deployment answer (realtime | batch | both): what each renders in the model-deploy repo, and
the stage stack each deploys: the configurations batch-export.jq writes from build.py's endpoint
exports, and (both) the one template merge-templates.jq makes of the endpoint and batch ones."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cfnlint.api import ManualArgs, lint
from cfnlint.decode import decode
from conftest import render_project

from mlops_template.deployments import (
    BATCH_FILES,
    BOTH_FILES,
    BUILDSPEC_TESTS,
    BUILDSPECS,
    DEPLOYMENTS,
    variant,
)

needs_jq = pytest.mark.skipif(shutil.which("jq") is None, reason="jq runs in CodeBuild")


def _deploy_repo(project: Path) -> Path:
    (repo,) = project.glob("*-modeldeploy")
    return repo


@pytest.fixture(scope="module")
def repos(tmp_path_factory) -> dict[str, Path]:
    return {
        deployment: _deploy_repo(
            render_project(
                tmp_path_factory.mktemp(deployment),
                deployment=deployment,
                batch_schedule="cron(30 1 * * ? *)",
            )
        )
        for deployment in DEPLOYMENTS
    }


def test_realtime_renders_no_batch_file(repos):
    repo = repos["realtime"]
    assert not [path for path in BATCH_FILES + BOTH_FILES if (repo / path).exists()]
    leftovers = [variant(b, d) for b in BUILDSPECS for d in DEPLOYMENTS]
    assert not [path for path in leftovers if (repo / path).exists()]
    assert not (repo / BUILDSPEC_TESTS[1]).exists()
    assert "batch_test.py" not in (repo / BUILDSPEC_TESTS[0]).read_text()
    project = json.loads((repo / "cicd" / "resources.json").read_text())["project"]
    assert "deployment" not in project and "batch_schedule" not in project


@pytest.mark.parametrize("deployment", ["batch", "both"])
def test_batch_and_both_render_the_batch_files_and_their_buildspecs(repos, deployment):
    repo = repos[deployment]
    assert all((repo / path).is_file() for path in BATCH_FILES)
    assert all((repo / path).is_file() == (deployment == "both") for path in BOTH_FILES)
    assert not [
        variant(b, d) for b in BUILDSPECS for d in DEPLOYMENTS if (repo / variant(b, d)).exists()
    ]
    build = (repo / "buildspec.yml").read_text()
    staging_test = (repo / "test" / "buildspec.yml").read_text()
    assert f"--arg deployment {deployment} -f batch-export.jq" in build
    assert "python test/batch_test.py" in staging_test
    assert ("merge-templates.jq" in build) == (deployment == "both")
    assert ("python test/test.py" in staging_test) == (deployment == "both")
    # The deploy repo's own test of its buildspecs is the batch one.
    assert not (repo / BUILDSPEC_TESTS[1]).exists()
    assert "batch_test.py" in (repo / BUILDSPEC_TESTS[0]).read_text()
    project = json.loads((repo / "cicd" / "resources.json").read_text())["project"]
    assert project["deployment"] == deployment
    assert project["batch_schedule"] == "cron(30 1 * * ? *)"


# ---------------------------------------------------------------- what the deploy build writes


def _generated_modules(repo: Path) -> tuple[Any, Any]:
    sys.path[:0] = [str(repo / "tests"), str(repo)]
    try:
        for name in ("stage_config", "helpers"):
            sys.modules.pop(name, None)
        import helpers
        import stage_config
    finally:
        del sys.path[:2]
    return stage_config, helpers


def _endpoint_export(repo: Path, stage: str) -> dict[str, Any]:
    """What build.py writes for ``stage`` (stage_config.build_export, as build.py calls it)."""
    stage_config, _ = _generated_modules(repo)
    project = stage_config.load_project(repo / "project.json")
    config = stage_config.load_stage_config(repo / f"{stage}-config.json", stage)
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
    return stage_config.build_export(project, config, deployment)


def _jq(repo: Path, program: str, args: list[str], *files: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["jq", "-s", *args, "-f", program, *map(str, files)],
        cwd=repo,
        capture_output=True,
        text=True,
    )


def _packaged_json(repo: Path, template: str, destination: Path) -> Path:
    """The template as `aws cloudformation package --use-json` writes it (no local artifacts:
    the same document, intrinsic functions in their long form)."""
    document, matches = decode(str(repo / template))
    assert document is not None, matches
    destination.write_text(json.dumps(document, indent=2))
    return destination


def _stage_template(repo: Path, deployment: str, tmp_path: Path) -> dict[str, Any]:
    if deployment == "batch":
        document, _ = decode(str(repo / "batch-transform-template.yml"))
        return document
    endpoint = _packaged_json(repo, "endpoint-config-template.yml", tmp_path / "endpoint.json")
    batch = _packaged_json(repo, "batch-transform-template.yml", tmp_path / "batch.json")
    merged = _jq(repo, "merge-templates.jq", [], endpoint, batch)
    assert merged.returncode == 0, merged.stderr
    path = tmp_path / "template-export.json"
    path.write_text(merged.stdout)
    problems = [
        m
        for m in lint(path.read_text(), config=ManualArgs(regions=["us-east-1"]))
        if m.rule.id[0] in "EW"
    ]
    assert problems == []
    document, _ = decode(str(path))
    return document


@needs_jq
@pytest.mark.parametrize("stage", ["staging", "prod"])
@pytest.mark.parametrize("deployment", ["batch", "both"])
def test_each_stage_config_is_a_complete_valid_configuration_of_the_stage_template(
    repos, deployment, stage, tmp_path
):
    repo = repos[deployment]
    export = tmp_path / f"{stage}-config-export.json"
    export.write_text(json.dumps(_endpoint_export(repo, stage)))
    args = ["--arg", "bucket", "bucket-a", "--arg", "deployment", deployment]
    done = _jq(repo, "batch-export.jq", args, export, repo / f"{stage}-batch-config.json")
    assert done.returncode == 0, done.stderr
    config = json.loads(done.stdout)
    template = _stage_template(repo, deployment, tmp_path)
    _, helpers = _generated_modules(repo)
    assert helpers.constraint_violations(template, config["Parameters"]) == []
    slug = config["Parameters"]["ProjectSlug"]
    assert config["Parameters"]["BatchName"] == f"{slug}-{stage}-batch"
    assert config["Parameters"]["ArtifactBucket"] == "bucket-a"
    assert config["Tags"]["model-package-version"] == "3"
    # Both: the endpoint's resources are still in the stage stack, beside the batch ones.
    endpoint_resources = {"Endpoint", "EndpointConfig", "DataDriftAlarm"}
    assert (endpoint_resources <= set(template["Resources"])) == (deployment == "both")
    assert {"TransformPipeline", "BatchDataDriftAlarm"} <= set(template["Resources"])


def test_the_templates_share_only_identical_declarations(repos):
    """What merge-templates.jq relies on: a name in both templates means the same in both."""
    repo = repos["both"]
    endpoint, _ = decode(str(repo / "endpoint-config-template.yml"))
    batch, _ = decode(str(repo / "batch-transform-template.yml"))
    for section in ("Parameters", "Conditions", "Resources", "Outputs"):
        shared = set(endpoint.get(section, {})) & set(batch.get(section, {}))
        assert [name for name in shared if endpoint[section][name] != batch[section][name]] == []
    assert set(endpoint["Resources"]).isdisjoint(batch["Resources"])


@needs_jq
def test_the_merge_refuses_a_name_the_two_templates_define_differently(repos, tmp_path):
    repo = repos["both"]
    endpoint = _packaged_json(repo, "endpoint-config-template.yml", tmp_path / "endpoint.json")
    batch = json.loads(
        _packaged_json(repo, "batch-transform-template.yml", tmp_path / "b.json").read_text()
    )
    batch["Resources"]["Endpoint"] = batch["Resources"]["BatchModel"]
    clashing = tmp_path / "batch.json"
    clashing.write_text(json.dumps(batch))
    done = _jq(repo, "merge-templates.jq", [], endpoint, clashing)
    assert done.returncode != 0
    assert "Resources.Endpoint" in done.stderr
