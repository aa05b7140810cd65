"""The generated model-deploy repository: rendered from the template, it passes its own checks."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cookiecutter.main import cookiecutter

from mlops_template.ci_files import CI_FILES
from mlops_template.deployments import BUILDSPECS, DEFAULT_DEPLOYMENT, variant

TEMPLATE_ROOT = Path(__file__).resolve().parents[1]
DEPLOY_DIR = (
    TEMPLATE_ROOT / "{{cookiecutter.project_slug}}" / "{{cookiecutter.project_slug}}-modeldeploy"
)
# Files that reach the generated repository byte for byte (no Jinja runs over them).
VERBATIM = (
    "endpoint-config-template.yml",
    "staging-config.json",
    "prod-config.json",
    "buildspec.yml",
    "test/buildspec.yml",
    "test/sample-payload.csv",
    "build.py",
    "test/test.py",
    ".github/workflows/deploy.yml",
    ".github/scripts/deploy-endpoint-stack.sh",
    "cicd/github-actions-stack.yml",
)


# What git ignores in a working tree is not part of the template; cookiecutter would try to
# render the binary files in tool caches.
NOT_TEMPLATE = shutil.ignore_patterns(
    ".git", ".venv*", "demo-output", "__pycache__", "*.pyc", ".pytest_cache", ".ruff_cache", ".tox"
)


def clean_template(destination: Path) -> Path:
    """The template as committed: the working tree without ignored caches and environments."""
    shutil.copytree(TEMPLATE_ROOT, destination, ignore=NOT_TEMPLATE)
    return destination


def render(output_dir: Path, **answers: str) -> Path:
    """Generate a project without prompts; returns its model-deploy repository."""
    project = Path(
        cookiecutter(
            str(clean_template(output_dir / "template")),
            no_input=True,
            output_dir=str(output_dir),
            extra_context=answers,
            default_config=True,
        )
    )
    return project / f"{project.name}-modeldeploy"


def run(command: list[str], cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, cwd=cwd, check=False, capture_output=True, text=True, timeout=timeout
    )


def tool(name: str) -> str:
    """A console script installed beside the interpreter running these tests."""
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    assert found is not None, f"{name} is not installed; pip install -r requirements-dev.txt"
    return found


@pytest.fixture(
    scope="module",
    params=["codepipeline", "github-actions", "deployment-batch", "deployment-both"],
)
def deploy_repo(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Path:
    if request.param == "codepipeline":
        return render(tmp_path_factory.mktemp("default"))
    if request.param.startswith("deployment-"):
        # Its buildspecs and their test (both: the merge of the two stage templates), the batch
        # stage template and test/batch_test.py.
        deployment = request.param.removeprefix("deployment-")
        return render(tmp_path_factory.mktemp(deployment), deployment=deployment)
    return render(
        tmp_path_factory.mktemp("github-actions"),
        git_host="github",
        ci="github-actions",
        git_owner="example-org",
    )


def test_generated_deploy_repo_passes_its_own_tests(deploy_repo: Path) -> None:
    result = run([sys.executable, "-m", "pytest", "-q"], deploy_repo)

    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout
    assert " failed" not in result.stdout
    # The buildspec tests skip where jq is missing (a laptop); here they must run (.ci/run
    # installs jq, as CodeBuild's image has it).
    assert " skipped" not in result.stdout, result.stdout[-2000:]


def cloudformation_templates(root: Path) -> list[Path]:
    """Every CloudFormation template in the repository (buildspecs are YAML too, but not these)."""
    return sorted(
        path
        for path in root.rglob("*.yml")
        if "AWSTemplateFormatVersion" in path.read_text(encoding="utf-8")
    )


def test_generated_templates_have_no_cfn_lint_findings(deploy_repo: Path) -> None:
    templates = cloudformation_templates(deploy_repo)
    assert deploy_repo / "endpoint-config-template.yml" in templates

    for template in templates:
        result = run([tool("cfn-lint"), str(template.relative_to(deploy_repo))], deploy_repo)
        assert (result.returncode, result.stdout, result.stderr) == (0, "", ""), template


def test_generated_deploy_repo_is_lint_clean(deploy_repo: Path) -> None:
    for command in (["check", "."], ["format", "--check", "."]):
        result = run([tool("ruff"), *command], deploy_repo)
        assert result.returncode == 0, result.stdout + result.stderr


def test_generated_project_settings_load(deploy_repo: Path) -> None:
    loader = (
        "import pathlib, stage_config; "
        "print(stage_config.load_project(pathlib.Path('project.json')))"
    )
    result = run([sys.executable, "-c", loader], deploy_repo)

    assert result.returncode == 0, result.stderr
    assert "slug='abalone-age-predictor'" in result.stdout
    assert "model_package_group='abalone-age-predictor'" in result.stdout


@pytest.mark.parametrize("relative", VERBATIM)
def test_code_and_templates_are_copied_verbatim(deploy_repo: Path, relative: str) -> None:
    resources = json.loads((deploy_repo / "cicd" / "resources.json").read_text())
    ci = resources.get("git", {}).get("ci", "codepipeline")
    others = [p for system, paths in CI_FILES["modeldeploy"].items() if system != ci for p in paths]
    if any(relative == other or relative.startswith(f"{other}/") for other in others):
        assert not (deploy_repo / relative).exists(), relative
        return
    deployment = resources["project"].get("deployment", DEFAULT_DEPLOYMENT)
    source = Path(relative)
    if deployment != DEFAULT_DEPLOYMENT and source in BUILDSPECS:
        # The answer's buildspec variant is the one kept under the buildspec's name.
        source = variant(source, deployment)
    assert (deploy_repo / relative).read_bytes() == (DEPLOY_DIR / source).read_bytes()


def test_free_text_answers_reach_project_json_as_data(tmp_path: Path) -> None:
    name = 'Ab"alone\\ {age} — “Ünïcode”'
    deploy = render(tmp_path, project_name=name, project_slug="abalone-x", owner_team="ml team")

    settings = json.loads((deploy / "project.json").read_text(encoding="utf-8"))

    assert settings["project_name"] == name
    assert settings["project_slug"] == "abalone-x"
    assert settings["owner_team"] == "ml team"
    assert deploy.name == "abalone-x-modeldeploy"
    assert name in (deploy / "README.md").read_text(encoding="utf-8")
