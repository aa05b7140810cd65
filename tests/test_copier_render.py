"""Cookiecutter and Copier render byte-identical projects from the same tree and answers."""

from __future__ import annotations

from pathlib import Path

import copier
import pytest
import yaml
from conftest import render_project
from test_copier_config import template_snapshot
from test_render import ANSWER_SETS, GITHUB_ACTIONS

from mlops_template.copier_config import ASKED_WHEN

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


@pytest.mark.parametrize(
    ("answers", "skipped"),
    [
        ({}, set(ASKED_WHEN)),
        ({"git_host": "gitlab", "git_owner": "acme"}, {"ci", "batch_schedule"}),
        ({**GITHUB_ACTIONS, "deployment": "batch", "ci": "codepipeline"}, set()),
    ],
    ids=["codecommit-realtime", "gitlab", "github-batch"],
)
def test_copier_skips_questions_earlier_answers_make_moot(
    snapshot, tmp_path, monkeypatch, answers, skipped
):
    """Repository names and owner only off CodeCommit, the CI system only on GitHub, the batch
    schedule only with batch: Copier neither asks nor records the others."""
    monkeypatch.setenv("MLOPS_TEMPLATE_BOOTSTRAP", "no")
    destination = tmp_path / "project"
    copier.run_copy(
        str(snapshot), destination, data=answers, defaults=True, unsafe=True, quiet=True
    )
    answers_files = sorted(destination.glob("*/.copier-answers.yml"))
    assert len(answers_files) == 2
    for answers_file in answers_files:
        recorded = yaml.safe_load(answers_file.read_text(encoding="utf-8"))
        assert set(ASKED_WHEN) - set(recorded) == skipped, answers_file
