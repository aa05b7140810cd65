"""Hostile answers through real cookiecutter runs: rejected before anything is written.

What cookiecutter 2.x does before our pre_gen_project hook sees an answer, and how these tests
account for it:
- Answers given as extra_context (the API, `key=value` on the command line, a config file's
  default_context) are rendered as Jinja templates first, exactly like cookiecutter.json defaults:
  `{{ 7*7 }}` arrives as "49", and an expression reaching Python objects runs. No hook can see or
  stop that, so such answers must come from the person running cookiecutter. The hook rejects every
  Jinja marker that reaches it: typed at the prompt or read from a replay file (both verbatim), or
  escaped with `{% raw %}` on the command line.
- Cookiecutter creates the project folder from the slug before any hook runs, and removes only
  that folder when the hook fails, so a slug such as `a/b` would leave `a/` behind, an empty slug
  would name the output folder itself, and an over-long one would end in a traceback. Our Jinja
  extension (mlops_template/cookiecutter_extension.py) runs the same checks while that folder's
  name is rendered, before it exists; "nothing written" is checked around the output folder, not
  only inside it.
- A choice answer that is not among the choices (model_approval_status) is refused by cookiecutter
  itself (ValueError) when given as extra_context; a replay file skips that check, our hook not.
"""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cookiecutter.exceptions import FailedHookException
from cookiecutter.main import cookiecutter

from mlops_template.names import max_slug_length

TEMPLATE_DIR = Path(__file__).resolve().parents[1]
GOOD_SLUG = "hostile-check"
LONG_NAME = " ".join(["Abalone"] * 38)[:300]

# id: (the one answer the hook must report, the answers given)
REJECTED_BY_HOOK: dict[str, tuple[str, dict[str, str]]] = {
    "slug-underscore-capitals": ("project_slug", {"project_slug": "My_Project"}),
    "slug-space": ("project_slug", {"project_slug": "a b"}),
    "slug-parent-dir": ("project_slug", {"project_slug": "../x"}),
    "slug-shell-metacharacters": ("project_slug", {"project_slug": "x;rm -rf"}),
    "slug-uppercase": ("project_slug", {"project_slug": "MyProject"}),
    "slug-too-long": ("project_slug", {"project_slug": "a" * 41}),
    "slug-too-long-for-region": (
        "project_slug",
        {"project_slug": "a" * 36, "aws_region": "ap-southeast-2"},
    ),
    # Cookiecutter evaluates this to "49", which is not a slug (it must start with a letter).
    "slug-jinja-expression": ("project_slug", {"project_slug": "{{ 7*7 }}"}),
    "slug-quote-code": ("project_slug", {"project_slug": 'x"; import os; "'}),
    "slug-triple-single-quotes": ("project_slug", {"project_slug": "'''"}),
    "slug-escaped-triple-double-quotes": ("project_slug", {"project_slug": '\\"\\"\\"'}),
    "name-escaped-jinja-expression": (
        "project_name",
        {"project_slug": GOOD_SLUG, "project_name": "{% raw %}{{ 7*7 }}{% endraw %}"},
    ),
    "description-escaped-jinja-block": (
        "description",
        {"description": "{% raw %}{% raw %}{% endraw %}"},
    ),
    "description-escaped-jinja-comment": (
        "description",
        {"description": "{% raw %}{# x #}{% endraw %}"},
    ),
    "region-unknown": ("aws_region", {"aws_region": "us-middle-1"}),
    # Both lack resource types the templates use (cfn-lint's lists); eu-central-2 also CodeCommit.
    "region-without-monitoring-resource-types": ("aws_region", {"aws_region": "af-south-1"}),
    "region-without-codecommit": ("aws_region", {"aws_region": "eu-central-2"}),
    "threshold-negative": ("mse_threshold", {"mse_threshold": "-1"}),
    "threshold-zero": ("mse_threshold", {"mse_threshold": "0"}),
    "threshold-not-numeric": ("mse_threshold", {"mse_threshold": "abc"}),
    "threshold-nan": ("mse_threshold", {"mse_threshold": "nan"}),
    "instance-type-without-ml-prefix": (
        "training_instance_type",
        {"training_instance_type": "m5.xlarge"},
    ),
    "owner-team-bad-tag-value": ("owner_team", {"owner_team": "ml,platform"}),
    # The combination is refused before anything is written, as a single answer is.
    "github-actions-without-github": (
        "ci",
        {"git_host": "gitlab", "ci": "github-actions", "git_owner": "data-team"},
    ),
    "third-party-host-without-owner": ("git_owner", {"git_host": "bitbucket"}),
    "github-repository-name-with-slash": (
        "modeldeploy_repository",
        {"git_host": "github", "git_owner": "octo-org", "modeldeploy_repository": "a/b"},
    ),
}

# Answers that break the output path itself: each would make or name a folder other than the
# project's. id: (the answers the report must name, in order; the answers given)
PATH_BREAKING: dict[str, tuple[tuple[str, ...], dict[str, str]]] = {
    "slug-slash": (("project_slug",), {"project_slug": "a/b"}),
    "slug-dot-dot-between-slashes": (("project_slug",), {"project_slug": "a/../b"}),
    "slug-absolute-path": (("project_slug",), {"project_slug": "/abs"}),
    "slug-double-slash": (("project_slug",), {"project_slug": "a//b"}),
    "slug-trailing-slash": (("project_slug",), {"project_slug": "a/"}),
    "slug-backslash": (("project_slug",), {"project_slug": "a\\b"}),
    "slug-dot": (("project_slug",), {"project_slug": "."}),
    "slug-empty": (("project_slug",), {"project_slug": ""}),
    "slug-300-characters": (("project_slug",), {"project_slug": "a" * 300}),
    "slug-256-bytes": (("project_slug",), {"project_slug": "a" * 256}),
    "slug-256-bytes-of-two-byte-letters": (("project_slug",), {"project_slug": "\u00e9" * 128}),
    # The AWS limits wait for a region name; the file system's limit does not.
    "slug-300-characters-region-not-a-region-name": (
        ("project_slug", "aws_region"),
        {"project_slug": "a" * 300, "aws_region": "us-east1"},
    ),
    "name-only-punctuation": (("project_name",), {"project_name": "!!!"}),
    "name-only-hyphens": (("project_name",), {"project_name": "---"}),
    "name-only-spaces": (("project_name",), {"project_name": "   "}),
    "name-only-slash": (("project_name",), {"project_name": "/"}),
    "name-only-emoji": (("project_name",), {"project_name": "\U0001f41a\U0001f30a"}),
    # The slug derived from it is as long: both answers need fixing.
    "name-300-characters": (("project_name", "project_slug"), {"project_name": LONG_NAME}),
}

# The neighbours of PATH_BREAKING that must still generate: id: (answers, the project folder).
PATH_NEIGHBOURS: dict[str, tuple[dict[str, str], str]] = {
    "name-100-characters-with-a-short-slug": (
        {"project_name": LONG_NAME[:100], "project_slug": "abalone"},
        "abalone",
    ),
    "name-punctuation-around-a-word": ({"project_name": "!!! Churn !!!"}, "churn"),
    "name-emoji-and-a-word": ({"project_name": "\U0001f41a Shell Age"}, "shell-age"),
    "name-slash-between-words": ({"project_name": "Churn/Risk"}, "churn-risk"),
    "slug-longest-for-the-region": (
        {"project_slug": "a" * max_slug_length("us-east-1")},
        "a" * max_slug_length("us-east-1"),
    ),
}

# Replayed answers reach the hook verbatim, as typed answers do.
REJECTED_WHEN_REPLAYED: dict[str, dict[str, str]] = {
    "slug-slash": {"project_slug": "a/b"},
    "slug-empty": {"project_slug": ""},
    "slug-jinja-expression": {"project_slug": "{{ 7*7 }}"},
    "slug-jinja-raw": {"project_slug": "{% raw %}"},
    "name-jinja-expression": {"project_name": "{{ 7*7 }}"},
    "name-jinja-raw": {"project_name": "{% raw %}"},
    "description-jinja-object-access": {"description": "{{ cookiecutter.__class__ }}"},
    "description-jinja-comment": {"description": "{# x #}"},
    "approval-status-not-a-choice": {"model_approval_status": "Rejected"},
    "github-actions-with-codecommit": {"ci": "github-actions"},
}

# Each of these would end a Python string literal or inject code if answers were pasted into code.
AWKWARD_NAME = "\u00c5lesund \"abalone\" \\ <b>&amp;</b> 'x' \U0001f41a"
AWKWARD_DESCRIPTION = (
    'x"; import os; os.system("touch PWNED"); " \'\'\' """ \\"\\"\\" </script> \\u0041 caf\u00e9'
)


@pytest.fixture(scope="module")
def config_file(tmp_path_factory: pytest.TempPathFactory) -> str:
    # Keeps cookiecutter's replay files and clone cache out of the user's home directory.
    home = tmp_path_factory.mktemp("cookiecutter-home")
    config = home / "config.yaml"
    config.write_text(
        f"replay_dir: {json.dumps(str(home / 'replay'))}\n"
        f"cookiecutters_dir: {json.dumps(str(home / 'cache'))}\n"
    )
    return str(config)


@pytest.fixture(scope="module")
def default_replay(tmp_path_factory: pytest.TempPathFactory, config_file: str) -> dict[str, Any]:
    """Cookiecutter's own replay record of a default render (which must succeed)."""
    output = tmp_path_factory.mktemp("default-render")
    project = Path(
        cookiecutter(
            str(TEMPLATE_DIR), no_input=True, output_dir=str(output), config_file=config_file
        )
    )
    assert (project / f"{project.name}-modelbuild" / "src/modelbuild/project.json").is_file()
    (replay_file,) = Path(config_file).parent.joinpath("replay").glob("*.json")
    return json.loads(replay_file.read_text())


def output_dir(tmp_path: Path) -> Path:
    out = tmp_path / "out"
    out.mkdir()
    return out


def reported_fields(stderr: str) -> list[str]:
    """The answers the hook's report names, in order (one '  - field: ...' line each)."""
    return re.findall(r"^  - (\w+): ", stderr, flags=re.MULTILINE)


def assert_nothing_written(tmp_path: Path) -> None:
    # The slug "../x" would land beside "out", so the whole tmp_path must be back to just "out".
    assert sorted(tmp_path.rglob("*")) == [tmp_path / "out"]


@pytest.mark.parametrize(
    ("field", "answers"), REJECTED_BY_HOOK.values(), ids=REJECTED_BY_HOOK.keys()
)
def test_hostile_answers_are_rejected_and_nothing_is_written(
    tmp_path: Path,
    config_file: str,
    field: str,
    answers: dict[str, str],
    capfd: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(FailedHookException):
        cookiecutter(
            str(TEMPLATE_DIR),
            no_input=True,
            extra_context=answers,
            output_dir=str(output_dir(tmp_path)),
            config_file=config_file,
        )
    assert_nothing_written(tmp_path)
    assert reported_fields(capfd.readouterr().err) == [field]


@pytest.mark.parametrize(("fields", "answers"), PATH_BREAKING.values(), ids=PATH_BREAKING.keys())
def test_answers_that_break_the_output_path_leave_nothing_behind(
    tmp_path: Path,
    config_file: str,
    fields: tuple[str, ...],
    answers: dict[str, str],
    capfd: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(FailedHookException, match="nothing was generated"):
        cookiecutter(
            str(TEMPLATE_DIR),
            no_input=True,
            extra_context=answers,
            output_dir=str(output_dir(tmp_path)),
            config_file=config_file,
        )
    assert_nothing_written(tmp_path)
    err = capfd.readouterr().err
    assert reported_fields(err) == list(fields)
    assert "Fix: " in err


@pytest.mark.parametrize(
    ("answers", "folder"), PATH_NEIGHBOURS.values(), ids=PATH_NEIGHBOURS.keys()
)
def test_neighbours_of_path_breaking_answers_still_generate(
    tmp_path: Path, config_file: str, answers: dict[str, str], folder: str
) -> None:
    out = output_dir(tmp_path)
    project = cookiecutter(
        str(TEMPLATE_DIR),
        no_input=True,
        extra_context=answers,
        output_dir=str(out),
        config_file=config_file,
    )
    assert Path(project) == out / folder
    assert [path.name for path in out.iterdir()] == [folder]
    assert (out / folder / f"{folder}-modelbuild" / "data" / "abalone.csv").is_file()


@pytest.mark.parametrize(
    ("answer", "report_line"),
    [
        ("project_slug=a/b", "  - project_slug: 'a/b' is not a valid slug"),
        ("project_name=!!!", "  - project_name: '!!!' has no letters or digits"),
    ],
)
def test_the_command_line_refuses_a_path_breaking_answer(
    tmp_path: Path, config_file: str, answer: str, report_line: str
) -> None:
    command = [sys.executable, "-m", "cookiecutter", str(TEMPLATE_DIR), "--no-input"]
    command += ["--output-dir", str(output_dir(tmp_path)), "--config-file", config_file, answer]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert report_line in result.stderr
    assert "pass project_slug=" in result.stderr
    assert "nothing was generated" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
    assert_nothing_written(tmp_path)


@pytest.mark.parametrize(
    "answers", REJECTED_WHEN_REPLAYED.values(), ids=REJECTED_WHEN_REPLAYED.keys()
)
def test_verbatim_hostile_answers_are_rejected(
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
    config_file: str,
    default_replay: dict[str, Any],
    answers: dict[str, str],
    capfd: pytest.CaptureFixture[str],
) -> None:
    context = copy.deepcopy(default_replay)
    context["cookiecutter"].update(answers)
    replay_file = tmp_path_factory.mktemp("replay") / "hostile.json"
    replay_file.write_text(json.dumps(context))
    with pytest.raises(FailedHookException):
        cookiecutter(
            str(TEMPLATE_DIR),
            replay=str(replay_file),
            output_dir=str(output_dir(tmp_path)),
            config_file=config_file,
        )
    assert_nothing_written(tmp_path)
    ((field, value),) = answers.items()
    err = capfd.readouterr().err
    assert reported_fields(err) == [field]
    assert f"{field}: {value!r}" in err


def test_typed_jinja_reaches_the_hook_verbatim_and_is_rejected(
    tmp_path: Path, config_file: str
) -> None:
    # A hostile name, a good slug, then Enter (the default) for every further question.
    typed = "\n".join(["{{ 7*7 }}", GOOD_SLUG] + [""] * 40) + "\n"
    command = [sys.executable, "-m", "cookiecutter", str(TEMPLATE_DIR)]
    command += ["--output-dir", str(output_dir(tmp_path)), "--config-file", config_file]
    result = subprocess.run(
        command, input=typed, capture_output=True, text=True, timeout=60, env=os.environ.copy()
    )
    assert result.returncode != 0
    assert "project_name: '{{ 7*7 }}' contains the Jinja marker '{{'" in result.stderr
    assert_nothing_written(tmp_path)


def test_choice_outside_the_list_is_refused_by_cookiecutter(
    tmp_path: Path, config_file: str
) -> None:
    with pytest.raises(ValueError, match="choice variable model_approval_status"):
        cookiecutter(
            str(TEMPLATE_DIR),
            no_input=True,
            extra_context={"model_approval_status": "Rejected"},
            output_dir=str(output_dir(tmp_path)),
            config_file=config_file,
        )
    assert_nothing_written(tmp_path)


def test_awkward_text_reaches_the_project_as_exact_data(
    tmp_path: Path, config_file: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    out = output_dir(tmp_path)
    answers = {
        "project_name": AWKWARD_NAME,
        "project_slug": GOOD_SLUG,
        "description": AWKWARD_DESCRIPTION,
    }
    project = Path(
        cookiecutter(
            str(TEMPLATE_DIR),
            no_input=True,
            extra_context=answers,
            output_dir=str(out),
            config_file=config_file,
        )
    )
    settings_file = project / f"{GOOD_SLUG}-modelbuild" / "src/modelbuild/project.json"
    settings = json.loads(settings_file.read_text(encoding="utf-8"))
    assert (settings["project_name"], settings["description"]) == (
        AWKWARD_NAME,
        AWKWARD_DESCRIPTION,
    )
    assert not list(tmp_path.rglob("PWNED")), "an answer was executed as code"
    python_files = list(project.rglob("*.py"))
    assert python_files, "expected generated Python sources"
    for path in python_files:
        assert "PWNED" not in path.read_text(encoding="utf-8"), f"answer pasted into {path}"


@pytest.mark.parametrize(
    ("framework", "named", "not_named"),
    [
        ("xgboost", "image sagemaker-xgboost:3.2-0", "pytorch-"),
        ("pytorch", "image sagemaker-scikit-learn:1.9-0-cpu-py3", "sagemaker-xgboost"),
    ],
)
def test_refused_region_names_what_it_lacks_and_nothing_is_written(
    tmp_path: Path,
    config_file: str,
    capfd: pytest.CaptureFixture[str],
    framework: str,
    named: str,
    not_named: str,
) -> None:
    with pytest.raises(FailedHookException):
        cookiecutter(
            str(TEMPLATE_DIR),
            no_input=True,
            extra_context={"aws_region": "ap-southeast-7", "framework": framework},
            output_dir=str(output_dir(tmp_path)),
            config_file=config_file,
        )
    assert_nothing_written(tmp_path)
    err = capfd.readouterr().err
    assert reported_fields(err) == ["aws_region"]
    assert f"'ap-southeast-7' lacks what the project with framework {framework} uses" in err
    for item in ("service codecommit", "service codepipeline", named):
        assert item in err
    assert not_named not in err
    assert "e.g. the nearest by name: ap-southeast-2, ap-southeast-1 or " in err


def test_checks_without_botocore_still_check_the_region_fully(
    tmp_path: Path, config_file: str
) -> None:
    # Cookiecutter runs in a fresh interpreter where a shadowing package makes `import botocore`
    # fail, as in a cookiecutter installed without boto3.
    shadow = tmp_path.parent / f"{tmp_path.name}-no-botocore" / "botocore"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('botocore hidden by the test')\n")
    command = [sys.executable, "-m", "cookiecutter", str(TEMPLATE_DIR), "--no-input"]
    command += ["--output-dir", str(output_dir(tmp_path)), "--config-file", config_file]
    result = subprocess.run(
        [*command, "aws_region=af-south-1"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(shadow.parent)},
    )
    assert result.returncode == 1
    assert (
        "aws_region: 'af-south-1' lacks what the project with framework xgboost uses"
        in result.stderr
    )
    assert "AWS::SageMaker::MonitoringSchedule" in result.stderr
    assert "boto3" not in result.stderr
    assert_nothing_written(tmp_path)
