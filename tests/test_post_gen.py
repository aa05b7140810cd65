"""The post-generation hook through real cookiecutter runs: git repositories always, AWS only when
asked, never on a re-render, and never a failed generation."""

from __future__ import annotations

import http.server
import io
import json
import os
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from bootstrap_stand_in import (
    BOOTSTRAPPED,
    SLUG,
    bare_remotes,
    bootstrap_env,
    inventory,
    local_head,
    remote_head,
    stand_in,
)
from conftest import TEMPLATE_DIR
from cookiecutter.main import cookiecutter

from mlops_template import post_gen
from mlops_template.names import derived_names
from mlops_template.rerender import rerender_reason

# moto warns about each resource type its CloudFormation skips (CodeBuild, CodePipeline...).
pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse AWS:UserWarning")

REPOS = BOOTSTRAPPED["repositories"]


class _Counter(http.server.BaseHTTPRequestHandler):
    requests = 0

    def _answer(self) -> None:
        type(self).requests += 1
        self.send_response(500)
        self.end_headers()

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _answer

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture
def aws_counter(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[_Counter]]:
    """Every AWS request from the hook lands here and is counted (there should be none)."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Counter)
    _Counter.requests = 0
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    clear_aws_environment(monkeypatch)
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{server.server_port}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    yield _Counter
    server.shutdown()


def clear_aws_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith(("AWS_", "MLOPS_")):
            monkeypatch.delenv(key)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)


def generate(output: Path, overwrite: bool = False, **answers: str) -> Path:
    return Path(
        cookiecutter(
            str(TEMPLATE_DIR),
            no_input=True,
            extra_context=answers,
            output_dir=str(output),
            overwrite_if_exists=overwrite,
        )
    )


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
    ).stdout.strip()


def test_default_generation_makes_two_repositories_and_never_calls_aws(
    tmp_path, aws_counter, capfd
):
    project = generate(tmp_path)

    for repo in REPOS:
        assert git(project / repo, "symbolic-ref", "HEAD") == "refs/heads/main"
        assert git(project / repo, "rev-list", "--count", "main") == "1"
        assert git(project / repo, "status", "--porcelain") == ""
    assert "cicd/resources.json" in git(project / REPOS[1], "ls-files").splitlines()
    assert aws_counter.requests == 0
    printed = capfd.readouterr().out
    assert "AWS resources not created (bootstrap_aws=no)" in printed
    finish = "pip install -r cicd/requirements.txt && mlops-bootstrap bootstrap"
    assert f"cd '{project / REPOS[1]}' && {finish}" in printed


def test_first_commit_works_without_a_git_identity(tmp_path, aws_counter, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for key in ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "EMAIL"):
        monkeypatch.delenv(key, raising=False)

    project = generate(tmp_path / "out")

    for repo in REPOS:
        author = git(project / repo, "log", "-1", "--format=%an <%ae>")
        assert author == f"Abalone Age Predictor (mlops-template) <{SLUG}@mlops-template.invalid>"


def test_missing_git_warns_and_keeps_the_files(tmp_path, aws_counter, monkeypatch, capfd):
    empty_bin = tmp_path / "bin"
    empty_bin.mkdir()
    monkeypatch.setenv("PATH", str(empty_bin))

    project = generate(tmp_path / "out")

    assert (project / REPOS[0] / "pyproject.toml").is_file()
    assert (project / REPOS[1] / "cicd" / "resources.json").is_file()
    assert not (project / REPOS[0] / ".git").exists()
    assert "git is not installed" in capfd.readouterr().out


def test_environment_no_overrides_an_answer_of_yes(tmp_path, aws_counter, monkeypatch, capfd):
    monkeypatch.setenv("MLOPS_TEMPLATE_BOOTSTRAP", "no")

    generate(tmp_path, bootstrap_aws="yes")

    assert aws_counter.requests == 0
    assert "MLOPS_TEMPLATE_BOOTSTRAP=no" in capfd.readouterr().out


def test_rerender_neither_reinitialises_git_nor_calls_aws(
    tmp_path, aws_counter, monkeypatch, capfd
):
    project = generate(tmp_path)
    first = {repo: git(project / repo, "rev-parse", "main") for repo in REPOS}
    monkeypatch.setenv("MLOPS_TEMPLATE_BOOTSTRAP", "yes")

    generate(tmp_path, overwrite=True)

    assert {repo: git(project / repo, "rev-parse", "main") for repo in REPOS} == first
    assert aws_counter.requests == 0
    assert "re-render detected" in capfd.readouterr().out


def test_failed_bootstrap_keeps_the_project_and_says_how_to_finish(tmp_path, monkeypatch, capfd):
    clear_aws_environment(monkeypatch)
    monkeypatch.setenv("MLOPS_TEMPLATE_BOOTSTRAP", "yes")
    monkeypatch.setenv("MLOPS_BOOTSTRAP_GIT_REMOTE", str(tmp_path / "{repo}.git"))

    project = generate(tmp_path / "out")

    for repo in REPOS:
        assert git(project / repo, "rev-list", "--count", "main") == "1"
    printed = capfd.readouterr()
    assert "no AWS credentials" in printed.err
    finish = "pip install -r cicd/requirements.txt && mlops-bootstrap bootstrap"
    assert f"Finish later with: cd '{project / REPOS[1]}' && {finish}" in printed.out


def test_bootstrap_yes_creates_the_resources_and_pushes(tmp_path, monkeypatch):
    remotes = bare_remotes(tmp_path / "remotes")
    with stand_in() as aws:
        clear_aws_environment(monkeypatch)
        for key, value in bootstrap_env(aws, remotes, MLOPS_TEMPLATE_BOOTSTRAP="yes").items():
            monkeypatch.setenv(key, value)

        project = generate(tmp_path / "out")

        assert inventory(aws) == BOOTSTRAPPED
    for repo in REPOS:
        assert remote_head(remotes, repo) == local_head(project, repo)
    state = json.loads((project / ".mlops-bootstrap.json").read_text())
    assert len(state["steps"]) == 6


def test_resources_file_holds_the_names_from_names_py(tmp_path, aws_counter):
    project = generate(tmp_path, project_name="Churn Risk", aws_region="eu-west-1")

    data = json.loads((project / "churn-risk-modeldeploy/cicd/resources.json").read_text())

    expected = derived_names("churn-risk", "eu-west-1", "{account_id}").as_dict()
    assert data["names"] == expected
    assert data["project"]["project_name"] == "Churn Risk"
    assert data["project"]["aws_region"] == "eu-west-1"


@pytest.mark.parametrize(
    ("answer", "environment", "wanted"),
    [
        ("no", "", False),
        ("yes", "", True),
        ("no", "yes", True),
        ("yes", "no", False),
        ("yes", "YES ", True),
        ("no", "maybe", False),
    ],
)
def test_environment_variable_overrides_the_answer(answer, environment, wanted):
    env = {"MLOPS_TEMPLATE_BOOTSTRAP": environment} if environment else {}

    assert post_gen.bootstrap_wanted({"bootstrap_aws": answer}, env)[0] is wanted


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        (["/usr/bin/python3", "/home/me/.local/bin/cruft", "update"], "`cruft update`"),
        (["/usr/bin/python3", "-m", "cruft", "diff"], "`cruft diff`"),
        (["cruft", "create", "gh:org/mlops-template"], None),
        (["/usr/bin/python3", "/usr/bin/cookiecutter", "gh:org/mlops-template"], None),
    ],
)
def test_cruft_rerendering_is_recognised(tmp_path, command, expected):
    reason = rerender_reason({}, tmp_path, [tmp_path / "a"], {}, parent_command=command)

    assert (reason is not None and expected in reason) if expected else reason is None


def test_other_rerender_signals(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()

    def reason(answers=None, env=None):
        return rerender_reason(answers or {}, tmp_path, [repo], env or {}, parent_command=[])

    assert reason() is None
    assert "MLOPS_TEMPLATE_RERENDER" in reason(env={"MLOPS_TEMPLATE_RERENDER": "1"})
    assert "Copier" in reason(answers={"_copier_operation": "update"})
    (repo / ".git").mkdir()
    assert ".git" in reason()
    (tmp_path / ".mlops-bootstrap.json").write_text("{}")
    assert "bootstrapped before" in reason()


def test_hook_logic_never_fails_generation(tmp_path):
    out = io.StringIO()

    status = post_gen.main({"project_name": "x"}, tmp_path, env={}, interactive=False, out=out)

    assert status == 0
    assert "warning: the post-generation step failed" in out.getvalue()
    assert f"the files are kept in {tmp_path}" in out.getvalue()


def test_the_hook_runs_the_bootstrap_from_the_templates_own_toolkit(tmp_path):
    command, env = post_gen.bootstrap_command(tmp_path, interactive=False)

    module_and_args = ["-m", "mlops_toolkit.bootstrap", "bootstrap", "--deploy-repo", str(tmp_path)]
    assert command[1:] == [*module_and_args, "--yes"]
    source = Path(env["PYTHONPATH"].split(os.pathsep)[0])
    assert source == TEMPLATE_DIR / "toolkit" / "src"
    assert (source / "mlops_toolkit" / "bootstrap" / "cli.py").is_file()
    # On a terminal the bootstrap asks; --yes stands for consent only when nobody can answer.
    assert post_gen.bootstrap_command(tmp_path, interactive=True)[0][1:] == module_and_args


def test_without_pyyaml_or_boto3_the_hook_says_what_to_install(tmp_path, monkeypatch):
    real_find_spec = post_gen.importlib.util.find_spec
    monkeypatch.setattr(
        post_gen.importlib.util,
        "find_spec",
        lambda name: None if name == "yaml" else real_find_spec(name),
    )
    monkeypatch.setattr(post_gen.subprocess, "run", lambda *a, **k: pytest.fail("ran anyway"))
    out = io.StringIO()

    assert post_gen.run_bootstrap(tmp_path, False, out) == 1

    printed = out.getvalue()
    assert "yaml not installed in the Python running cookiecutter" in printed
    assert f"cd '{tmp_path}' && pip install -r cicd/requirements.txt" in printed
