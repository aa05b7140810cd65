"""Rendering the template: structure, answers as data, and the generated repo's own checks."""

from __future__ import annotations

import ast
import configparser
import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from conftest import render_project, run_generated_pytest

from mlops_template.frameworks import FRAMEWORKS

ANSWER_SETS = {
    "defaults": {},
    "eu-approved": {
        "project_name": "Churn Risk",
        "aws_region": "eu-west-1",
        "model_approval_status": "Approved",
        "mse_threshold": "4.5",
        "processing_instance_type": "ml.c5.2xlarge",
        "training_instance_type": "ml.m5.4xlarge",
        "owner_team": "data-science@example.com",
        "framework": "pytorch",
    },
    "long-region-custom-names": {
        "project_name": "Fraud Model",
        "project_slug": "fraud-model-v2",
        "aws_region": "ap-southeast-2",
        "pipeline_name": "FraudTraining",
        "model_package_group_name": "fraud-models",
        "mse_threshold": "12",
        "framework": "sklearn",
        "hyperparameter_tuning": "yes",
    },
}
# GitHub Actions instead of CodePipeline (its answers reach cicd/resources.json, not project.json).
GITHUB_ACTIONS = {"git_host": "github", "ci": "github-actions", "git_owner": "example-org"}
# Answers that reach project.json as another type than the text given.
AS_DATA = {"mse_threshold": float, "hyperparameter_tuning": lambda answer: answer == "yes"}


def _modelbuild(project: Path) -> Path:
    return project / f"{project.name}-modelbuild"


def _text_files(root: Path):
    for path in root.rglob("*"):
        if path.is_file() and not {"__pycache__", ".git"} & set(path.parts):
            yield path


@pytest.mark.parametrize("answers", ANSWER_SETS.values(), ids=ANSWER_SETS.keys())
def test_render_writes_the_answers_as_data(tmp_path, answers):
    project = render_project(tmp_path, **answers)
    settings = json.loads((_modelbuild(project) / "src/modelbuild/project.json").read_text())
    for key, value in answers.items():
        assert settings[key] == AS_DATA.get(key, str)(value), key
    assert settings["project_slug"] == project.name
    pyproject = tomllib.loads((_modelbuild(project) / "pyproject.toml").read_text())
    assert pyproject["project"]["name"] == f"{project.name}-modelbuild"
    assert pyproject["project"]["description"] == settings["description"]


@pytest.mark.parametrize(
    "answers",
    [*ANSWER_SETS.values(), GITHUB_ACTIONS],
    ids=[*ANSWER_SETS.keys(), "github-actions"],
)
def test_no_template_syntax_survives_rendering(tmp_path, answers):
    project = render_project(tmp_path, **answers)
    leftovers = [
        str(path.relative_to(project))
        for path in _text_files(project)
        # CloudFormation's {{resolve:...}} and GitHub's ${{ ... }} are not Jinja.
        if any(
            marker in path.read_text(errors="ignore").replace("{{resolve:", "").replace("${{", "")
            for marker in ("{{", "{%", "{#")
        )
    ]
    assert leftovers == []


# What each CI system alone needs, in each repository.
CI_ONLY = {
    "codepipeline": {
        "modelbuild": ["codebuild-buildspec.yml"],
        "modeldeploy": ["buildspec.yml", "test/buildspec.yml", "tests/test_buildspecs.py"],
    },
    "github-actions": {
        "modelbuild": [".github/workflows/build.yml"],
        "modeldeploy": [
            ".github/workflows/deploy.yml",
            ".github/scripts/deploy-endpoint-stack.sh",
            "cicd/github-actions-stack.yml",
            "tests/test_deploy_workflow.py",
        ],
    },
}


@pytest.mark.parametrize("ci", CI_ONLY)
def test_only_the_chosen_ci_system_s_files_are_generated(tmp_path, ci):
    answers = GITHUB_ACTIONS if ci == "github-actions" else {}
    project = render_project(tmp_path, **answers)
    for system, repos in CI_ONLY.items():
        for repo, paths in repos.items():
            for relative in paths:
                path = project / f"{project.name}-{repo}" / relative
                assert path.is_file() == (system == ci), (ci, relative)
    resources = json.loads(
        (project / f"{project.name}-modeldeploy" / "cicd" / "resources.json").read_text()
    )
    assert resources.get("git", {}).get("ci", "codepipeline") == ci


def test_first_member_of_the_project_is_the_modelbuild_repo(tmp_path):
    project = render_project(tmp_path)
    assert project.name == "abalone-age-predictor"
    build_repo = _modelbuild(project)
    for expected in (
        "pyproject.toml",
        "README.md",
        "codebuild-buildspec.yml",
        "tox.ini",
        ".pre-commit-config.yaml",
        "src/modelbuild/pipeline.py",
        "src/modelbuild/steps/preprocess.py",
        "src/modelbuild/steps/training/train.py",
        "src/modelbuild/steps/evaluate.py",
    ):
        assert (build_repo / expected).is_file(), expected


def test_special_characters_in_free_text_stay_data(tmp_path):
    name = 'Q3 "Risk" <model> & co\'s \\ path – ünïcode'
    project = render_project(tmp_path, project_name=name, project_slug="q3-risk", description=name)
    build_repo = _modelbuild(project)
    settings = json.loads((build_repo / "src/modelbuild/project.json").read_text())
    assert settings["project_name"] == name
    assert settings["description"] == name
    pyproject = tomllib.loads((build_repo / "pyproject.toml").read_text())
    assert pyproject["project"]["description"] == name


@pytest.mark.parametrize(("tuning", "model_step"), [("no", "Training"), ("yes", "Tuning")])
def test_generated_definition_has_the_expected_shape(tmp_path, tuning, model_step):
    build_repo = _modelbuild(render_project(tmp_path, hyperparameter_tuning=tuning))
    result = subprocess.run(
        [sys.executable, "-m", "modelbuild.cli.get_pipeline_definition", "--offline"],
        cwd=build_repo,
        env={"PYTHONPATH": "src", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    definition = json.loads(result.stdout)
    assert [s["Type"] for s in definition["Steps"]] == [
        "Processing",
        "QualityCheck",
        model_step,
        "Processing",
        "Condition",
    ]
    # Evaluation reads the model the training (or the best tuned training) job wrote.
    [model_input] = [
        i["S3Input"]["S3Uri"]
        for i in definition["Steps"][3]["Arguments"]["ProcessingInputs"]
        if i["InputName"] == "model"
    ]
    assert f'"Steps.{definition["Steps"][2]["Name"]}.' in json.dumps(model_input)
    gate = definition["Steps"][-1]["Arguments"]
    assert [s["Type"] for s in gate["IfSteps"]] == ["RegisterModel"]
    assert [s["Type"] for s in gate["ElseSteps"]] == ["Fail"]


# The package only the framework's own code imports (scikit-learn itself also preprocesses).
FRAMEWORK_PACKAGES = {"xgboost": "xgboost", "pytorch": "torch", "sklearn": "joblib"}
TRAINING_FILES = [
    "__init__.py",
    "framework.json",
    "hyperparameter_ranges.json",
    "hyperparameters.json",
    "inference.py",
    "model_io.py",
    "train.py",
    "training_io.py",
]


def _imported_packages(repo: Path) -> set[str]:
    roots = set()
    for path in repo.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                roots |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_only_the_chosen_framework_is_generated(tmp_path, framework):
    build_repo = _modelbuild(render_project(tmp_path, framework=framework))
    training = build_repo / "src/modelbuild/steps/training"
    assert sorted(p.name for p in training.iterdir()) == TRAINING_FILES
    assert json.loads((training / "framework.json").read_text())["name"] == framework
    settings = json.loads((build_repo / "src/modelbuild/project.json").read_text())
    assert settings["framework"] == framework
    assert [p for p in build_repo.rglob("*") if p.name.endswith(FRAMEWORKS)] == []
    imported = _imported_packages(build_repo)
    assert FRAMEWORK_PACKAGES[framework] in imported
    others = {FRAMEWORK_PACKAGES[other] for other in FRAMEWORKS if other != framework}
    assert imported.isdisjoint(others)
    steps_extra = tomllib.loads((build_repo / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]["steps"]
    pinned = {requirement.split("==")[0] for requirement in steps_extra}
    assert {"xgboost": "xgboost" in pinned, "pytorch": "torch" in pinned} == {
        "xgboost": framework == "xgboost",
        "pytorch": framework == "pytorch",
    }
    # tox takes torch's CPU wheels (PyPI's Linux wheel pulls CUDA); nothing else needs that index.
    tox = configparser.ConfigParser(interpolation=None)
    tox.read_string((build_repo / "tox.ini").read_text())
    index = tox["testenv"].get("set_env", "")
    assert ("download.pytorch.org/whl/cpu" in index) == (framework == "pytorch")


# Every framework as generated by default, and XGBoost with a tuning job instead of training.
SUITES = {
    **{framework: {"framework": framework} for framework in FRAMEWORKS},
    "xgboost-tuning": {"framework": "xgboost", "hyperparameter_tuning": "yes"},
}


@pytest.mark.parametrize("answers", SUITES.values(), ids=SUITES.keys())
def test_generated_modelbuild_suite_and_lint_pass(tmp_path, answers):
    build_repo = _modelbuild(render_project(tmp_path, **answers))
    result = run_generated_pytest(build_repo)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    for command in (["check", "."], ["format", "--check", "."]):
        lint = subprocess.run(
            [sys.executable, "-m", "ruff", *command], cwd=build_repo, capture_output=True, text=True
        )
        assert lint.returncode == 0, lint.stdout + lint.stderr


def test_generated_suite_follows_other_answers(tmp_path):
    answers = ANSWER_SETS["long-region-custom-names"]
    build_repo = _modelbuild(render_project(tmp_path, **answers))
    result = run_generated_pytest(build_repo, "tests/test_pipeline_definition.py")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


MUTATIONS = {
    # The gate reads a path evaluate.py does not write.
    "condition-path": (
        "src/modelbuild/pipeline.py",
        'MSE_JSON_PATH = "regression_metrics.mse.value"',
        'MSE_JSON_PATH = "regression_metrics.mse.val"',
        ["tests/test_quality_gate_contract.py"],
    ),
    # evaluate.py renames the metric the gate reads.
    "evaluate-metric-name": (
        "src/modelbuild/steps/evaluate.py",
        '"mse": {',
        '"mean_squared_error": {',
        ["tests/test_quality_gate_contract.py", "tests/test_evaluate.py"],
    ),
    # preprocess.py stops rejecting unknown categories.
    "preprocess-validation": (
        "src/modelbuild/steps/preprocess.py",
        'ALLOWED_CATEGORIES = {"sex": ("F", "I", "M")}',
        'ALLOWED_CATEGORIES = {"sex": ("F", "I", "M", "X", "?", "U")}',
        ["tests/test_preprocess.py"],
    ),
    # The data-quality baseline loses the header that names the features.
    "baseline-header": (
        "src/modelbuild/steps/preprocess.py",
        "train.loc[:, list(RAW_FEATURES)].to_csv(path, header=True, index=False)",
        "train.loc[:, list(RAW_FEATURES)].to_csv(path, header=False, index=False)",
        ["tests/test_data_quality.py"],
    ),
    # The registered drift baseline is this run's, even when the previous one should stay.
    "drift-baseline-source": (
        "src/modelbuild/pipeline.py",
        "data_quality.properties.BaselineUsedForDriftCheckStatistics",
        "data_quality.properties.CalculatedBaselineStatistics",
        ["tests/test_pipeline_definition.py"],
    ),
    # The model is saved under a name the artifact check does not expect.
    "train-artifact-name": (
        "src/modelbuild/steps/training/model_io.py",
        'MODEL_FILE = "xgboost-model.json"',
        'MODEL_FILE = "model.ubj"',
        ["tests/test_train.py"],
    ),
    # The artifact leaves out the loader the endpoint and the evaluate step import.
    "artifact-without-loader": (
        "src/modelbuild/steps/training/training_io.py",
        'SERVING_SCRIPTS = (HERE / "inference.py", HERE / "model_io.py")',
        'SERVING_SCRIPTS = (HERE / "inference.py",)',
        ["tests/test_train.py", "tests/test_inference.py", "tests/test_evaluate.py"],
    ),
}


@pytest.mark.parametrize("mutation", MUTATIONS.values(), ids=MUTATIONS.keys())
def test_generated_suite_catches_a_broken_repo(tmp_path, mutation):
    relative, original, broken, test_files = mutation
    build_repo = _modelbuild(render_project(tmp_path))
    target = build_repo / relative
    source = target.read_text()
    assert source.count(original) == 1, f"mutation anchor not found once in {relative}"
    target.write_text(source.replace(original, broken))
    result = run_generated_pytest(build_repo, *test_files)
    assert result.returncode == 1, result.stdout[-3000:]
    assert " failed" in result.stdout
