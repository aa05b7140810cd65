"""`make demo`, the project's main job, runs end to end and reports what it claims."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import TEMPLATE_DIR

from demo.project import SAMPLE_DATA
from mlops_template.frameworks import FRAMEWORKS

# The project's default quality gate (cookiecutter.json's mse_threshold).
DEFAULT_MSE_THRESHOLD = 6.0


def run_demo(output_dir, *options: str) -> subprocess.CompletedProcess[str]:
    """`make demo` as a fresh shell runs it (no AWS variables), finished successfully."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    result = subprocess.run(
        [sys.executable, "demo/run_demo.py", "--output-dir", str(output_dir), *options],
        cwd=TEMPLATE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    assert "Demo finished" in result.stdout
    return result


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_demo_runs_every_stage_and_cleans_up(tmp_path, framework):
    """Per framework, on the real abalone data: local run, gate, registry, local endpoint, the
    deploy repo's build and staging test."""
    assert SAMPLE_DATA.is_file(), f"the demo reads {SAMPLE_DATA}"
    output_dir = tmp_path / "demo"
    run_demo(output_dir, "--framework", framework)
    summary = json.loads((output_dir / "run" / "run-summary.json").read_text())
    assert summary["status"] == "Succeeded"
    assert ":model-package/" in summary["model_package_arn"]
    [settings] = (output_dir / "project").glob("*/*-modelbuild/src/modelbuild/project.json")
    assert json.loads(settings.read_text())["framework"] == framework
    [report] = (output_dir / "run" / "steps" / "EvaluateModel").rglob("evaluation.json")
    mse = json.loads(report.read_text())["regression_metrics"]["mse"]["value"]
    assert mse <= DEFAULT_MSE_THRESHOLD
    staging = json.loads((output_dir / "staging-test-results.json").read_text())
    assert staging["passed"] is True
    # Nothing the demo started may outlive it.
    leftovers = subprocess.run(
        ["pgrep", "-f", str(output_dir)], capture_output=True, text=True
    ).stdout.strip()
    assert leftovers == ""


def test_batch_demo_transforms_reads_drift_from_its_capture_and_retrains(tmp_path):
    """`make demo DEPLOYMENT=batch` (xgboost): the approved version transforms two S3 prefixes on
    the stand-in, drift-report reads each transform's capture manifests, drift retrains."""
    output_dir = tmp_path / "demo"
    result = run_demo(output_dir, "--deployment", "batch")
    # A deployment=batch project: the bootstrap deployed the batch CI/CD stack beside the main one.
    assert "deployment: batch" in result.stdout
    assert "stack abalone-age-predictor-cicd-batch: CREATE_COMPLETE" in result.stdout
    # The endpoint's stages did not run: no endpoint, no staging test.
    assert not (output_dir / "staging-test-results.json").exists()
    assert "Serve the newest approved version" not in result.stdout
    for phase, expected in (("normal", set()), ("shifted", {"sex", "whole_weight"})):
        (manifest,) = (output_dir / "batch-capture" / phase / "input").rglob("*.manifest")
        prefix, *keys = json.loads(manifest.read_text())
        assert prefix["prefix"].endswith(f"/batch/{phase}/input/") and keys
        violations = json.loads(
            (output_dir / "drift" / phase / "constraint_violations.json").read_text()
        )["violations"]
        assert expected <= {v["feature_name"] for v in violations}
        assert bool(violations) == bool(expected)
    retrain = json.loads((output_dir / "retrain-run" / "run-summary.json").read_text())
    assert retrain["model_package_arn"].endswith("/2")
    leftovers = subprocess.run(
        ["pgrep", "-f", str(output_dir)], capture_output=True, text=True
    ).stdout.strip()
    assert leftovers == ""
