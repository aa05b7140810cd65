"""Where ``git push`` sends each repository: CodeCommit, a third-party host's URL from
resources.json, or a URL pattern given by the caller.

CodeCommit takes AWS credentials, not git passwords, through one of two helpers:

- ``grc``: ``codecommit::REGION://REPO`` URLs, served by git-remote-codecommit
  (``pip install git-remote-codecommit``); it signs with the same credentials as boto3;
- ``https``: plain HTTPS URLs with the AWS CLI as git's credential helper for that host.

``auto`` picks grc when it is installed, else https when the AWS CLI is.
``MLOPS_BOOTSTRAP_GIT_REMOTE`` overrides both with a URL pattern containing ``{repo}``, e.g. a
mirror or, in tests, a local bare repository (``/tmp/remotes/{repo}.git``).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass

from mlops_toolkit.bootstrap.errors import ConfigError
from mlops_toolkit.bootstrap.project import GitHost

REMOTE_ENV = "MLOPS_BOOTSTRAP_GIT_REMOTE"
MODES = ("auto", "grc", "https")
REPO_PLACEHOLDER = "{repo}"


@dataclass(frozen=True)
class Remote:
    """How to reach one repository: the URL and any git settings the push needs."""

    url: str
    config: tuple[str, ...] = ()
    helper: str = "custom URL"


def choose_mode(requested: str) -> str:
    """Resolve ``auto`` and check the chosen helper is installed, before anything is created."""
    if os.environ.get(REMOTE_ENV):
        return "custom"
    grc = shutil.which("git-remote-codecommit") is not None
    cli = shutil.which("aws") is not None
    if requested == "grc" or (requested == "auto" and grc):
        if not grc:
            raise ConfigError(
                _missing("git-remote-codecommit", "pip install git-remote-codecommit")
            )
        return "grc"
    if not cli:
        raise ConfigError(
            _missing(
                "git-remote-codecommit or the AWS CLI",
                "pip install git-remote-codecommit (or install the AWS CLI v2)",
            )
        )
    return "https"


def remote_for(repo: str, region: str, mode: str) -> Remote:
    """The remote of CodeCommit repository ``repo`` for a mode from ``choose_mode``."""
    if mode == "custom":
        pattern = os.environ.get(REMOTE_ENV, "")
        if REPO_PLACEHOLDER not in pattern:
            raise ConfigError(f"{REMOTE_ENV}={pattern!r} must contain {REPO_PLACEHOLDER}.")
        return Remote(pattern.replace(REPO_PLACEHOLDER, repo))
    if mode == "grc":
        return Remote(f"codecommit::{region}://{repo}", helper="git-remote-codecommit")
    host = f"https://git-codecommit.{region}.amazonaws.com"
    return Remote(
        f"{host}/v1/repos/{repo}",
        config=(
            f"credential.{host}.helper=!aws codecommit credential-helper $@",
            f"credential.{host}.UseHttpPath=true",
        ),
        helper="AWS CLI credential helper",
    )


def host_remote(git: GitHost, repo: str) -> Remote:
    """Where a third-party host's repository is pushed: resources.json's ``git.remotes`` URL
    (HTTPS by default; SSH or a mirror once edited), or ``MLOPS_BOOTSTRAP_GIT_REMOTE``'s pattern
    with the host's repository name. git authenticates with the user's own credentials."""
    pattern = os.environ.get(REMOTE_ENV)
    if pattern:
        if REPO_PLACEHOLDER not in pattern:
            raise ConfigError(f"{REMOTE_ENV}={pattern!r} must contain {REPO_PLACEHOLDER}.")
        return Remote(pattern.replace(REPO_PLACEHOLDER, git.repositories[repo]))
    return Remote(git.remotes[repo], helper=f"your git credentials for {git.host}")


def _missing(tool: str, install: str) -> str:
    return (
        f"pushing to CodeCommit needs {tool}, which is not installed. Install it ({install}) and "
        "re-run; nothing has been created yet."
    )
