"""Cookiecutter and Copier render byte-identical projects from the same tree and answers."""

from __future__ import annotations

from pathlib import Path

import copier
import pytest
from conftest import render_project
from test_copier_config import template_snapshot
from test_render import ANSWER_SETS, GITHUB_ACTIONS

# Each tool's own record of the answers, and git's internals, differ by design.
TOOL_RECORDS = {".copier-answers.yml", ".copier-answers.project.yml", ".cruft.json"}


def tree(root: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() and ".git" not in path.parts and path.name not in TOOL_RECORDS
    }


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return template_snapshot(tmp_path_factory.mktemp("template"))


# A third-party git host adds a resources.json section and a cicd/README.md section; deployment
# both adds the batch files.
RENDERED = {
    **ANSWER_SETS,
    "gitlab-subgroup": {
        "git_host": "gitlab",
        "git_owner": "data-science/ml",
        "modeldeploy_repository": "deploy.models",
    },
    "github-actions": GITHUB_ACTIONS,
    # Batch files, buildspec variants and README sections chosen after rendering.
    "deployment-both": {"deployment": "both", "batch_schedule": "rate(6 hours)"},
}


@pytest.mark.parametrize("answers", RENDERED.values(), ids=RENDERED.keys())
def test_both_tools_render_the_same_bytes(snapshot, tmp_path, monkeypatch, answers):
    monkeypatch.setenv("MLOPS_TEMPLATE_BOOTSTRAP", "no")
    from_cookiecutter = render_project(tmp_path / "cookiecutter", **answers)
    from_copier = tmp_path / "copier" / from_cookiecutter.name
    copier.run_copy(
        str(snapshot), from_copier, data=answers, defaults=True, unsafe=True, quiet=True
    )
    expected, actual = tree(from_cookiecutter), tree(from_copier)
    assert sorted(actual) == sorted(expected)
    assert [name for name in expected if expected[name] != actual[name]] == []
    # Both ran the post-generation step: two git repositories, one commit each.
    for repo in ("modelbuild", "modeldeploy"):
        assert (from_copier / f"{from_copier.name}-{repo}" / ".git").is_dir()
    assert not (from_copier / ".copier-answers.yml").exists()
