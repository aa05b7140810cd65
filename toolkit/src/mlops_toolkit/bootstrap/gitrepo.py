"""The few git operations the project needs: a first commit on ``main``, a remote, a push.

Standard library only: the template's post-generation hook loads this module from the template's
own copy of the toolkit, in whatever Python runs cookiecutter, to make the first commits.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

BRANCH = "main"
INITIAL_MESSAGE = "Initial commit from mlops-template"
GIT_TIMEOUT_SECONDS = 300
# Set when git itself runs us (e.g. inside a git hook); they would point every command elsewhere.
_REPO_SELECTING_VARIABLES = (
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_COMMON_DIR",
    "GIT_PREFIX",
)


class GitError(Exception):
    """A git command failed; the message names the command and what git said."""


def git_available() -> bool:
    return shutil.which("git") is not None


def run_git(repo: Path, args: Sequence[str], config: Sequence[str] = ()) -> str:
    """Run ``git -C repo [-c config]... args`` and return its output; GitError on failure."""
    options = [item for setting in config for item in ("-c", setting)]
    command = ["git", "-C", str(repo), *options, *args]
    env = {k: v for k, v in os.environ.items() if k not in _REPO_SELECTING_VARIABLES}
    env["GIT_TERMINAL_PROMPT"] = "0"  # fail instead of waiting for a password nobody will type
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, env=env, timeout=GIT_TIMEOUT_SECONDS
        )
    except FileNotFoundError:
        raise GitError("git is not installed (or not on PATH)") from None
    except subprocess.TimeoutExpired:
        raise GitError(f"`git {' '.join(args)}` took over {GIT_TIMEOUT_SECONDS} s") from None
    if done.returncode != 0:
        said = (done.stderr or done.stdout).strip().splitlines()
        raise GitError(f"`git {' '.join(args)}` failed in {repo}: {' / '.join(said[-3:])}")
    return done.stdout.strip()


def is_repository(repo: Path) -> bool:
    return (repo / ".git").exists()


def head_commit(repo: Path) -> str | None:
    try:
        return run_git(repo, ["rev-parse", "--verify", "--quiet", f"refs/heads/{BRANCH}"])
    except GitError:
        return None


def init_repository(repo: Path, fallback_name: str, fallback_email: str) -> str:
    """``git init`` on ``main`` with every file in one commit; returns the commit id.

    Uses the person's git identity when one is configured, else the fallback, so generation
    works on a fresh machine. The seed commit skips commit hooks and signing: it is the
    template's output, not someone's work, and must not stall on a passphrase prompt.
    """
    run_git(repo, ["init", "--quiet"], config=[f"init.defaultBranch={BRANCH}"])
    # Older git ignores init.defaultBranch; pointing HEAD at main works everywhere.
    run_git(repo, ["symbolic-ref", "HEAD", f"refs/heads/{BRANCH}"])
    run_git(repo, ["add", "--all"])
    config = ["commit.gpgsign=false", *_identity_fallback(repo, fallback_name, fallback_email)]
    run_git(repo, ["commit", "--quiet", "--no-verify", "-m", INITIAL_MESSAGE], config=config)
    return run_git(repo, ["rev-parse", "HEAD"])


def _identity_fallback(repo: Path, name: str, email: str) -> list[str]:
    fallback = []
    for key, value in (("user.name", name), ("user.email", email)):
        try:
            run_git(repo, ["config", "--get", key])
        except GitError:
            fallback.append(f"{key}={value}")
    return fallback


def ensure_remote(repo: Path, name: str, url: str) -> str:
    """Point remote ``name`` at ``url`` unless it already points elsewhere; returns what to push
    to: the remote's name, or the URL itself when the person's remote is left alone."""
    try:
        current = run_git(repo, ["remote", "get-url", name])
    except GitError:
        run_git(repo, ["remote", "add", name, url])
        return name
    return name if current == url else url


def push_branch(repo: Path, target: str, config: Sequence[str] = (), track: bool = True) -> None:
    """Push ``main`` to ``target`` (a remote name or URL) without forcing anything; ``track``
    makes it the branch's upstream, so a later plain ``git push`` goes there too."""
    refspec = f"refs/heads/{BRANCH}:refs/heads/{BRANCH}"
    run_git(
        repo, ["push", "--quiet", *(["--set-upstream"] if track else []), target, refspec], config
    )
