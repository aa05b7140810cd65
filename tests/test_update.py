"""`copier update` and `cruft update` carry a later template version into existing projects:
template changes land, the user's edits survive, conflicts only where both changed the same
lines, and nothing talks to AWS."""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_copier_config import template_snapshot

BIN = Path(sys.executable).parent
SLUG = "update-check"
BUILD, DEPLOY = f"{SLUG}-modelbuild", f"{SLUG}-modeldeploy"
TREE = Path("{{cookiecutter.project_slug}}")
T_BUILD = TREE / "{{cookiecutter.project_slug}}-modelbuild"
T_DEPLOY = TREE / "{{cookiecutter.project_slug}}-modeldeploy"
TEMPLATE_NOTE = "Template v2: a fix that every project should get."
USER_NOTE = "# Team edit: kept across template updates."
# Framework files: per-framework folders in the template, steps/training once generated.
T_XGBOOST = T_BUILD / "src/modelbuild/steps/training_xgboost"
TRAINING = "src/modelbuild/steps/training"


class _Recorder(http.server.BaseHTTPRequestHandler):
    paths: list[str] = []

    def _answer(self) -> None:
        type(self).paths.append(f"{self.command} {self.path}")
        self.send_response(500)
        self.end_headers()

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _answer

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture
def aws_recorder() -> Iterator[tuple[dict[str, str], list[str]]]:
    """An environment with no AWS credentials whose AWS endpoint records every request."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    _Recorder.paths = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    env.pop("MLOPS_TEMPLATE_RERENDER", None)
    env.update(
        AWS_ENDPOINT_URL=f"http://127.0.0.1:{server.server_port}",
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        GIT_AUTHOR_NAME="t",
        GIT_AUTHOR_EMAIL="t@example.invalid",
        GIT_COMMITTER_NAME="t",
        GIT_COMMITTER_EMAIL="t@example.invalid",
    )
    yield env, _Recorder.paths
    server.shutdown()


def run(command: list[str], cwd: Path, env: dict[str, str]) -> str:
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    assert result.returncode == 0, f"{command}\n{result.stdout}\n{result.stderr}"
    return result.stdout + result.stderr


def git(cwd: Path, env: dict[str, str], *args: str) -> str:
    return run(["git", *args], cwd, env)


def commit_all(repo: Path, env: dict[str, str], message: str) -> None:
    git(repo, env, "add", "-A")
    git(repo, env, "commit", "-q", "-m", message)


def append(path: Path, line: str) -> None:
    path.write_text(path.read_text() + line + "\n")


def replace_line(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, path
    path.write_text(text.replace(old, new, 1))


@pytest.fixture
def template_repo(tmp_path: Path, aws_recorder) -> Path:
    """The template's working tree as a git repository tagged v1."""
    env, _ = aws_recorder
    repo = template_snapshot(tmp_path / "template")
    git(repo, env, "init", "-q", "-b", "main")
    commit_all(repo, env, "v1")
    git(repo, env, "tag", "v1")
    return repo


def release_v2(template: Path, env: dict[str, str]) -> None:
    """Template changes in files the user did not touch, and one line both change."""
    append(template / T_BUILD / "README.md", TEMPLATE_NOTE)
    append(template / T_BUILD / "codebuild-buildspec.yml", f"# {TEMPLATE_NOTE}")
    append(template / T_DEPLOY / "buildspec.yml", f"# {TEMPLATE_NOTE}")
    append(template / T_XGBOOST / "model_io.py", f"# {TEMPLATE_NOTE}")
    replace_line(template / T_DEPLOY / "tox.ini", "envlist = py311, lint", "envlist = py312, lint")
    commit_all(template, env, "v2")
    git(template, env, "tag", "v2")


def user_edits(project: Path, env: dict[str, str]) -> None:
    """A seed file and a config in modelbuild; in modeldeploy, the line the template changes."""
    append(project / BUILD / "src/modelbuild/pipeline.py", USER_NOTE)
    append(project / BUILD / "tox.ini", USER_NOTE)
    append(project / BUILD / TRAINING / "train.py", USER_NOTE)
    replace_line(project / DEPLOY / "tox.ini", "envlist = py311, lint", "envlist = py310, lint")
    for repo in (BUILD, DEPLOY):
        commit_all(project / repo, env, "team edits")


def assert_updated(project: Path) -> None:
    build, deploy = project / BUILD, project / DEPLOY
    assert (build / "README.md").read_text().endswith(TEMPLATE_NOTE + "\n")
    assert TEMPLATE_NOTE in (build / "codebuild-buildspec.yml").read_text()
    assert TEMPLATE_NOTE in (deploy / "buildspec.yml").read_text()
    assert (build / "src/modelbuild/pipeline.py").read_text().endswith(USER_NOTE + "\n")
    assert (build / "tox.ini").read_text().endswith(USER_NOTE + "\n")
    assert_framework_files_updated(build)
    # The one line both sides changed is the only conflict, marked for review.
    conflicted = (deploy / "tox.ini").read_text()
    assert "envlist = py310, lint" in conflicted and "envlist = py312, lint" in conflicted
    assert "<<<<<<<" in conflicted
    for repo in (build, deploy):
        others = [path for path in repo.rglob("*") if ".git" not in path.parts and path.is_file()]
        marked = [p.name for p in others if p != deploy / "tox.ini" and "<<<<<<<" in _text(p)]
        assert marked == []


def assert_framework_files_updated(build: Path) -> None:
    """The chosen framework's files took the template's change and kept the team's; the other
    frameworks' folders did not come back with the update."""
    assert (build / TRAINING / "train.py").read_text().endswith(USER_NOTE + "\n")
    assert (build / TRAINING / "model_io.py").read_text().endswith(f"# {TEMPLATE_NOTE}\n")
    assert not any((build / f"tests_{name}").exists() for name in ("xgboost", "pytorch", "sklearn"))
    assert not any(
        (build / f"{TRAINING}_{name}").exists() for name in ("xgboost", "pytorch", "sklearn")
    )


def _text(path: Path) -> str:
    try:
        return path.read_text()
    except UnicodeDecodeError:
        return ""


def test_copier_update_carries_template_fixes(tmp_path, template_repo, aws_recorder):
    env, aws_requests = aws_recorder
    project = tmp_path / "projects" / SLUG
    copy_env = {**env, "MLOPS_TEMPLATE_BOOTSTRAP": "no"}
    data = ["--data", f"project_slug={SLUG}", "--data", "bootstrap_aws=yes"]
    copy_command = [str(BIN / "copier"), "copy", "--trust", "--defaults", "--vcs-ref", "v1"]
    run([*copy_command, *data, str(template_repo), str(project)], tmp_path, copy_env)
    answers = (project / BUILD / ".copier-answers.yml").read_text()
    assert "subproject: modelbuild" in answers and "bootstrap_aws: 'yes'" in answers
    user_edits(project, env)
    release_v2(template_repo, env)

    for repo in (BUILD, DEPLOY):
        # bootstrap_aws=yes is recorded and MLOPS_TEMPLATE_BOOTSTRAP is unset: only the operation
        # keeps the update away from AWS.
        update = [str(BIN / "copier"), "update", "--trust", "--defaults", "--vcs-ref", "v2"]
        output = run([*update, "--conflict", "inline"], project / repo, env)
        assert "git repository on main" not in output
        assert "_commit: v2" in (project / repo / ".copier-answers.yml").read_text()
        # Only the update's own changes are pending, for review; no new commits were made.
        assert git(project / repo, env, "rev-list", "--count", "HEAD").strip() == "2"

    assert_updated(project)
    assert aws_requests == []


def test_cruft_update_carries_template_fixes(tmp_path, template_repo, aws_recorder):
    env, aws_requests = aws_recorder
    output_dir = tmp_path / "projects"
    create = [str(BIN / "cruft"), "create", "--no-input", "--checkout", "v1"]
    extra = json.dumps({"project_slug": SLUG, "bootstrap_aws": "yes"})
    create_env = {**env, "MLOPS_TEMPLATE_BOOTSTRAP": "no"}
    run(
        [*create, "--extra-context", extra, "--output-dir", str(output_dir), str(template_repo)],
        tmp_path,
        create_env,
    )
    project = output_dir / SLUG
    assert (
        json.loads((project / ".cruft.json").read_text())["context"]["cookiecutter"]["project_slug"]
        == SLUG
    )
    user_edits(project, env)
    release_v2(template_repo, env)

    update = [str(BIN / "cruft"), "update", "--skip-apply-ask", "--checkout", "v2"]
    output = run(update, project, env)
    assert "re-render detected" in output and "git repository on main" not in output
    for repo in (BUILD, DEPLOY):
        assert git(project / repo, env, "rev-list", "--count", "HEAD").strip() == "2"
    build, deploy = project / BUILD, project / DEPLOY
    assert (build / "README.md").read_text().endswith(TEMPLATE_NOTE + "\n")
    assert TEMPLATE_NOTE in (deploy / "buildspec.yml").read_text()
    assert (build / "src/modelbuild/pipeline.py").read_text().endswith(USER_NOTE + "\n")
    assert (build / "tox.ini").read_text().endswith(USER_NOTE + "\n")
    assert_framework_files_updated(build)
    # The project folder is not a git repository, so cruft applies what applies cleanly and
    # leaves the clashing hunk in a .rej file instead of conflict markers.
    assert "envlist = py310, lint" in (deploy / "tox.ini").read_text()
    assert "envlist = py312, lint" in (deploy / "tox.ini.rej").read_text()
    assert aws_requests == []


def _revision_before_deletion(path: Path) -> str:
    """The last template commit that still had ``path`` (HEAD while its deletion is uncommitted)."""
    deleted = subprocess.run(
        ["git", "log", "-1", "--format=%H", "--diff-filter=D", "--", str(path)],
        cwd=Path(__file__).resolve().parents[1],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    return f"{deleted}^" if deleted else "HEAD"


def _archive(revision: str, destination: Path) -> None:
    root = Path(__file__).resolve().parents[1]
    destination.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "archive", "--format=tar", revision], cwd=root, capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(destination)], input=archive, check=True)


def _project_from(revision: str, tmp_path: Path, env: dict[str, str]) -> tuple[Path, Path]:
    """A project copied (no AWS) from the template at ``revision``, tagged v1; returns the
    template repository and the project folder."""
    template = tmp_path / "template"
    _archive(revision, template)
    git(template, env, "init", "-q", "-b", "main")
    commit_all(template, env, "v1")
    git(template, env, "tag", "v1")
    project = tmp_path / "projects" / SLUG
    copy_command = [str(BIN / "copier"), "copy", "--trust", "--defaults", "--vcs-ref", "v1"]
    run(
        [*copy_command, "--data", f"project_slug={SLUG}", str(template), str(project)],
        tmp_path,
        {**env, "MLOPS_TEMPLATE_BOOTSTRAP": "no"},
    )
    return template, project


def _update_to_this_tree(template: Path, repo: Path, env: dict[str, str]) -> None:
    """Release this working tree as v2 of ``template`` and ``copier update`` ``repo`` to it."""
    for entry in template.iterdir():
        if entry.name != ".git":
            subprocess.run(["rm", "-rf", str(entry)], check=True)
    template_snapshot(template)
    commit_all(template, env, "v2")
    git(template, env, "tag", "v2")
    update = [str(BIN / "copier"), "update", "--trust", "--defaults", "--vcs-ref", "v2"]
    run([*update, "--conflict", "inline"], repo, env)


def _toolkit_version(template: Path) -> str:
    return tomllib.loads((template / "toolkit/pyproject.toml").read_text())["project"]["version"]


def _conflicted(repo: Path) -> list[str]:
    files = [p for p in repo.rglob("*") if ".git" not in p.parts and p.is_file()]
    return [p.name for p in files if "<<<<<<<" in _text(p)]


def test_copier_update_moves_a_project_onto_the_toolkit(tmp_path, aws_recorder):
    env, aws_requests = aws_recorder
    revision = _revision_before_deletion(T_BUILD / "src/modelbuild/local/runner.py")
    template, project = _project_from(revision, tmp_path, env)
    build = project / BUILD
    assert (build / "src/modelbuild/local").is_dir()
    append(build / "src/modelbuild/pipeline.py", USER_NOTE)
    commit_all(build, env, "team edits")

    _update_to_this_tree(template, build, env)

    assert not (build / "src/modelbuild/local").exists()
    pyproject = tomllib.loads((build / "pyproject.toml").read_text())
    local_extra = pyproject["project"]["optional-dependencies"]["local"]
    assert f"mlops-template-toolkit=={_toolkit_version(template)}" in local_extra
    assert set(pyproject["project"]["scripts"]) == {"get-pipeline-definition", "run-pipeline"}
    assert pyproject["tool"]["mlops-toolkit"]["pipeline"] == "modelbuild.pipeline:get_pipeline"
    assert (build / "src/modelbuild/pipeline.py").read_text().endswith(USER_NOTE + "\n")
    assert _conflicted(build) == []
    assert aws_requests == []


def test_copier_update_moves_the_bootstrap_into_the_toolkit(tmp_path, aws_recorder):
    env, aws_requests = aws_recorder
    revision = _revision_before_deletion(T_DEPLOY / "cicd/bootstrap.py")
    template, project = _project_from(revision, tmp_path, env)
    deploy = project / DEPLOY
    assert (deploy / "cicd/bootstrap.py").is_file()
    names_before = json.loads((deploy / "cicd/resources.json").read_text())["names"]
    # The team owns the CI/CD stack and the deploy code: its edits must survive the move.
    append(deploy / "cicd/cicd-stack.yml", USER_NOTE)
    append(deploy / "build.py", USER_NOTE)
    commit_all(deploy, env, "team edits")

    _update_to_this_tree(template, deploy, env)

    assert sorted(p.name for p in (deploy / "cicd").iterdir()) == [
        "README.md",
        "bootstrap-policy.json",
        "cicd-stack.yml",
        "requirements.txt",
        "resources.json",
    ]
    assert (deploy / "cicd/cicd-stack.yml").read_text().endswith(USER_NOTE + "\n")
    assert (deploy / "build.py").read_text().endswith(USER_NOTE + "\n")
    assert json.loads((deploy / "cicd/resources.json").read_text())["names"] == names_before
    requirements = (deploy / "cicd/requirements.txt").read_text().splitlines()
    assert f"mlops-template-toolkit[bootstrap]=={_toolkit_version(template)}" in requirements
    assert "mlops-template-toolkit" not in (deploy / "requirements.txt").read_text()
    assert "mlops-bootstrap bootstrap" in (deploy / "cicd/README.md").read_text()
    assert _conflicted(deploy) == []
    # The update's changes, the deletions among them, are pending for review, not committed.
    assert git(deploy, env, "rev-list", "--count", "HEAD").strip() == "2"
    assert aws_requests == []
