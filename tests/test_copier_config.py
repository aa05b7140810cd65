"""copier.yml is generated from cookiecutter.json, and its validators are the hook's rules."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import copier
import pytest
from conftest import TEMPLATE_DIR
from test_hostile_answers import (
    GOOD_SLUG,
    PATH_BREAKING,
    REJECTED_BY_HOOK,
    REJECTED_WHEN_REPLAYED,
)

from mlops_template import copier_config


def template_snapshot(destination: Path) -> Path:
    """The template's working tree (tracked and new files, no caches) as a plain folder."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=TEMPLATE_DIR,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for relative in filter(None, listed.split("\0")):
        source = TEMPLATE_DIR / relative
        if source.is_file() and "__pycache__" not in source.parts:
            target = destination / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(source.read_bytes())
    return destination


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return template_snapshot(tmp_path_factory.mktemp("template"))


def test_committed_copier_yml_matches_cookiecutter_json():
    result = subprocess.run(
        [sys.executable, "-m", "mlops_template.copier_config", "--check"],
        cwd=TEMPLATE_DIR,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert copier_config.COPIER_YML.read_text() == copier_config.expected_text()


def test_every_question_and_prompt_comes_from_cookiecutter_json():
    source = copier_config.load_cookiecutter()
    source["owner_team"] = "platform-x"
    source["__prompts__"]["owner_team"] = "Who pays"
    source["model_approval_status"] = ["Approved", "PendingManualApproval"]
    config = copier_config.build_config(source)
    assert config["owner_team"]["default"] == "platform-x"
    assert config["owner_team"]["help"] == "Who pays"
    assert config["model_approval_status"]["default"] == "Approved"
    assert list(config["model_approval_status"]["choices"].values()) == [
        "Approved",
        "PendingManualApproval",
    ]
    asked = [name for name in config if not name.startswith("_")]
    assert asked == ["subproject", *copier_config.question_names(source), "cookiecutter"]
    assert config["pipeline_name"]["default"] == "{{ project_slug }}"
    assert config["cookiecutter"]["when"] is False


def test_derived_defaults_follow_the_answers(snapshot, tmp_path):
    copier.run_copy(
        str(snapshot),
        tmp_path / "out",
        data={"project_name": "Churn Risk Å 2"},
        defaults=True,
        unsafe=True,
        quiet=True,
        skip_tasks=True,
    )
    build = tmp_path / "out" / "churn-risk-a-2-modelbuild"
    answers = (build / ".copier-answers.yml").read_text()
    for line in ("project_slug: churn-risk-a-2", "pipeline_name: churn-risk-a-2"):
        assert line in answers
    assert "model_package_group_name: churn-risk-a-2" in answers


HOSTILE = {
    **{f"hook-{key}": value for key, value in REJECTED_BY_HOOK.items()},
    # Copier stops at the first question whose answer it refuses.
    **{f"path-{key}": (fields[0], answers) for key, (fields, answers) in PATH_BREAKING.items()},
    **{
        f"replayed-{key}": (next(iter(answers)), answers)
        for key, answers in REJECTED_WHEN_REPLAYED.items()
    },
}


@pytest.mark.parametrize(("field", "answers"), HOSTILE.values(), ids=HOSTILE.keys())
def test_validators_reject_what_the_hook_rejects(snapshot, tmp_path, field, answers):
    destination = tmp_path / "out"
    with pytest.raises(ValueError) as error:
        copier.run_copy(
            str(snapshot), destination, data=answers, defaults=True, unsafe=True, quiet=True
        )
    # The hook's own report for the answer, or Copier's refusal of a value not among the choices.
    assert field in str(error.value)
    assert not destination.exists()


def test_validators_accept_awkward_but_valid_answers(snapshot, tmp_path):
    copier.run_copy(
        str(snapshot),
        tmp_path / "out",
        data={"project_slug": GOOD_SLUG, "owner_team": "data science@example.com"},
        defaults=True,
        unsafe=True,
        quiet=True,
        skip_tasks=True,
    )
    assert (tmp_path / "out" / f"{GOOD_SLUG}-modeldeploy" / "project.json").is_file()


def test_copy_without_trust_is_refused(snapshot, tmp_path):
    with pytest.raises(copier.errors.UnsafeTemplateError):
        copier.run_copy(str(snapshot), tmp_path / "out", defaults=True, quiet=True)
