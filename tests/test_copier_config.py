"""copier.yml is generated from cookiecutter.json, and its validators are the hook's rules."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import copier
import pytest
from conftest import TEMPLATE_DIR, repository_files
from test_hostile_answers import (
    GOOD_SLUG,
    PATH_BREAKING,
    REJECTED_BY_HOOK,
    REJECTED_WHEN_REPLAYED,
)

from mlops_template import copier_config


def template_snapshot(destination: Path) -> Path:
    """The template's working tree (tracked and new files, no caches) as a plain folder."""
    for relative in repository_files():
        source = TEMPLATE_DIR / relative
        if "__pycache__" not in source.parts:
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


def _snapshot_where_a_region_lacks_only_the_xgboost_image(destination: Path) -> Path:
    template = template_snapshot(destination)
    data_file = template / "mlops_template" / "region_support.json"
    data = json.loads(data_file.read_text())
    data["regions"]["us-west-2"]["images"] = ["sagemaker-xgboost:3.2-0"]
    data_file.write_text(json.dumps(data))
    return template


def test_copier_refuses_a_region_lacking_the_chosen_frameworks_image(tmp_path):
    template = _snapshot_where_a_region_lacks_only_the_xgboost_image(tmp_path / "template")
    answers = {"project_slug": GOOD_SLUG, "aws_region": "us-west-2"}
    refused = tmp_path / "refused"
    with pytest.raises(ValueError) as error:
        copier.run_copy(
            str(template),
            refused,
            data={**answers, "framework": "xgboost"},
            defaults=True,
            unsafe=True,
            quiet=True,
        )
    message = str(error.value)
    assert "aws_region: 'us-west-2' lacks what the project with framework xgboost uses" in message
    assert "image sagemaker-xgboost:3.2-0" in message
    assert "or keep us-west-2 with framework pytorch or sklearn" in message
    assert not refused.exists()
    copier.run_copy(
        str(template),
        tmp_path / "accepted",
        data={**answers, "framework": "sklearn"},
        defaults=True,
        unsafe=True,
        quiet=True,
        skip_tasks=True,
    )
    assert (tmp_path / "accepted" / f"{GOOD_SLUG}-modeldeploy" / "project.json").is_file()


def test_framework_question_rechecks_the_region_for_its_images(monkeypatch):
    # Prompted, Copier asks aws_region before framework: the region's check then covers only
    # what every framework uses, and the framework's validator adds the framework's images.
    from mlops_template import copier_extension

    copier_extension._load("regions")  # the rules of this template root, whatever ran before
    regions = sys.modules["mlops_template.regions"]
    data = json.loads(regions.DATA_FILE.read_text())
    data["regions"]["us-west-2"]["images"] = ["sagemaker-xgboost:3.2-0"]
    monkeypatch.setattr(regions, "region_data", lambda: data)
    asked = {"project_name": "Region Order", "project_slug": GOOD_SLUG, "aws_region": "us-west-2"}
    assert copier_extension.answer_problem("aws_region", asked) == ""
    problem = copier_extension.answer_problem("framework", {**asked, "framework": "xgboost"})
    assert problem.startswith("aws_region: 'us-west-2' lacks what the project with framework")
    assert "image sagemaker-xgboost:3.2-0" in problem
    assert copier_extension.answer_problem("framework", {**asked, "framework": "sklearn"}) == ""


def test_framework_question_does_not_repeat_a_region_already_refused():
    from mlops_template import copier_extension

    asked = {"project_name": "Region Order", "project_slug": GOOD_SLUG, "aws_region": "af-south-1"}
    assert "AWS::SageMaker::MonitoringSchedule" in copier_extension.answer_problem(
        "aws_region", asked
    )
    assert copier_extension.answer_problem("framework", {**asked, "framework": "xgboost"}) == ""
