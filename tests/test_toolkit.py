"""The toolkit (toolkit/, mlops-template-toolkit): its own suite, its version, and its boundary
with the generated repositories (they depend on it; it knows nothing of them)."""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from conftest import render_project

TEMPLATE_ROOT = Path(__file__).resolve().parents[1]
TOOLKIT = TEMPLATE_ROOT / "toolkit"
DISTRIBUTION = "mlops-template-toolkit"


def toolkit_version() -> str:
    return tomllib.loads((TOOLKIT / "pyproject.toml").read_text())["project"]["version"]


def run_toolkit_pytest(source: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The toolkit's suite, importing the toolkit from ``source`` (its src folder first)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["PYTHONPATH"] = os.pathsep.join([str(source / "src"), env.get("PYTHONPATH", "")])
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=source,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


def test_the_toolkit_suite_passes():
    result = run_toolkit_pytest(TOOLKIT)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout


def test_the_toolkit_suite_catches_a_weaker_drift_check(tmp_path):
    copy = tmp_path / "toolkit"
    shutil.copytree(TOOLKIT, copy, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    stats = copy / "src/mlops_toolkit/monitoring/monitor_stats.py"
    source = stats.read_text()
    anchor = '"comparison_threshold": 0.1,'
    assert source.count(anchor) == 1
    # Drift becomes five times harder to detect than Model Monitor's default.
    stats.write_text(source.replace(anchor, '"comparison_threshold": 0.5,'))
    probe = run_toolkit_pytest(copy, "--collect-only", "tests/test_monitoring.py")
    assert probe.returncode == 0, probe.stdout[-2000:]

    result = run_toolkit_pytest(copy, "tests/test_monitoring.py")

    assert result.returncode == 1, result.stdout[-3000:]
    assert " failed" in result.stdout


def test_the_template_pins_the_toolkit_version_it_ships():
    cookiecutter = json.loads((TEMPLATE_ROOT / "cookiecutter.json").read_text())
    assert cookiecutter["_toolkit_version"] == toolkit_version()


def test_generated_modelbuild_depends_on_the_toolkit_only_for_local_work(tmp_path):
    project = render_project(tmp_path)
    build_repo = project / f"{project.name}-modelbuild"
    pyproject = tomllib.loads((build_repo / "pyproject.toml").read_text())
    extras = pyproject["project"]["optional-dependencies"]
    pin = f"{DISTRIBUTION}=={toolkit_version()}"
    assert pin in extras["local"]
    assert f"{project.name}-modelbuild[local]" in extras["dev"]
    # CodeBuild installs the project without extras, then runs run-pipeline.
    assert not any(DISTRIBUTION in d or "moto" in d for d in pyproject["project"]["dependencies"])
    assert "pip install --quiet ." in (build_repo / "codebuild-buildspec.yml").read_text()
    assert set(pyproject["project"]["scripts"]) == {"get-pipeline-definition", "run-pipeline"}
    assert not (build_repo / "src/modelbuild/local").exists()
    settings = json.loads((build_repo / "src/modelbuild/project.json").read_text())
    defaults = pyproject["tool"]["mlops-toolkit"]
    assert defaults["region"] == settings["aws_region"]
    assert defaults["model-package-group"] == settings["model_package_group_name"]
    tags = {"project": settings["project_slug"], "owner": settings["owner_team"]}
    assert defaults["tags"] == tags
    module, _, function = defaults["pipeline"].partition(":")
    pipeline_source = build_repo / "src" / (module.replace(".", "/") + ".py")
    assert f"def {function}(" in pipeline_source.read_text()


def test_generated_modeldeploy_depends_on_the_toolkit_only_to_bootstrap(tmp_path):
    project = render_project(tmp_path)
    deploy_repo = project / f"{project.name}-modeldeploy"
    requirements = (deploy_repo / "cicd/requirements.txt").read_text().splitlines()
    assert f"{DISTRIBUTION}[bootstrap]=={toolkit_version()}" in requirements
    # CodeBuild installs requirements.txt and runs build.py and the staging test: none of that
    # may need the toolkit.
    for codebuild_file in ("requirements.txt", "buildspec.yml", "test/buildspec.yml"):
        assert DISTRIBUTION not in (deploy_repo / codebuild_file).read_text(), codebuild_file
    assert "mlops_toolkit" not in _imported_roots(deploy_repo)
    assert not list((deploy_repo / "cicd").glob("*.py"))
    assert {"cicd-stack.yml", "resources.json", "bootstrap-policy.json"} <= {
        path.name for path in (deploy_repo / "cicd").iterdir()
    }


def test_the_bootstrap_imports_only_boto3_pyyaml_and_the_standard_library():
    # The post-generation hook runs it in cookiecutter's Python, where only boto3 was added.
    folder = TOOLKIT / "src/mlops_toolkit/bootstrap"
    third_party = _imported_roots(folder) - set(sys.stdlib_module_names) - {"__future__"}
    assert third_party == {"boto3", "botocore", "yaml", "mlops_toolkit"}
    toolkit_modules = {
        node.module
        for path in folder.rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("mlops_toolkit")
    }
    assert all(module.startswith("mlops_toolkit.bootstrap") for module in toolkit_modules)


def _imported_roots(folder: Path) -> set[str]:
    roots: set[str] = set()
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                roots |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("package", ["modelbuild", "cicd", "mlops_template", "sagemaker"])
def test_the_toolkit_imports_nothing_of_a_generated_project(package):
    # Not even the SDK: it runs definitions; only the pipelines it is given import sagemaker.
    assert package not in _imported_roots(TOOLKIT / "src")
