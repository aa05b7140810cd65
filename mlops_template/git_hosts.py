"""Where the code lives and what runs CI: the choices and each git host's naming rules.

The rules are the hosts' own, as their documentation and error messages state them:
- GitHub: a repository name is at most 100 characters of letters, digits, '.', '_' and '-', and
  not '.' or '..'; an account or organisation name is at most 39 characters of letters, digits and
  single hyphens, neither starting nor ending with a hyphen.
- GitLab: a project or group path uses letters, digits, '_', '-' and '.', must not start or end
  with a special character nor hold two in a row, and must not end in '.git' or '.atom'; a
  namespace may be a group with subgroups, its paths joined by '/'.
- Bitbucket Cloud: a repository slug is at most 62 characters of lowercase letters, digits, '_',
  '-' and '.', with no two hyphens in a row and no hyphen at either end; a workspace ID uses
  lowercase letters, digits, '-' and '_'.

Each check returns why a value breaks the rule, or None; validation.py turns that into a finding.
"""

from __future__ import annotations

import re

CODECOMMIT = "codecommit"
GIT_HOSTS = (CODECOMMIT, "github", "gitlab", "bitbucket")
THIRD_PARTY_HOSTS = GIT_HOSTS[1:]
CODEPIPELINE = "codepipeline"
GITHUB_ACTIONS = "github-actions"
CI_CHOICES = (CODEPIPELINE, GITHUB_ACTIONS)
# The CI services each host can drive; CodePipeline reaches the others through CodeConnections.
CI_FOR_HOST = {
    CODECOMMIT: (CODEPIPELINE,),
    "github": (CODEPIPELINE, GITHUB_ACTIONS),
    "gitlab": (CODEPIPELINE,),
    "bitbucket": (CODEPIPELINE,),
}
HOST_LABELS = {
    CODECOMMIT: "AWS CodeCommit",
    "github": "GitHub",
    "gitlab": "GitLab",
    "bitbucket": "Bitbucket Cloud",
}
OWNER_LABELS = {
    "github": "GitHub account or organisation",
    "gitlab": "GitLab group or user namespace",
    "bitbucket": "Bitbucket workspace ID",
}
REPOSITORY_SUFFIXES = {
    "modelbuild_repository": "modelbuild",
    "modeldeploy_repository": "modeldeploy",
}

# HTTPS clone URLs; the bootstrap pushes the seed code there with the user's own git credentials.
HOST_URLS = {
    "github": "https://github.com",
    "gitlab": "https://gitlab.com",
    "bitbucket": "https://bitbucket.org",
}

GITHUB_REPOSITORY_MAX = 100
GITHUB_OWNER_MAX = 39
GITLAB_PATH_MAX = 255
BITBUCKET_REPOSITORY_MAX = 62

_GITHUB_REPOSITORY = re.compile(r"[A-Za-z0-9._-]+", re.ASCII)
_GITHUB_OWNER = re.compile(r"[A-Za-z0-9]+(-[A-Za-z0-9]+)*", re.ASCII)
_GITLAB_PATH = re.compile(r"[A-Za-z0-9]+([._-][A-Za-z0-9]+)*", re.ASCII)
_GITLAB_FORBIDDEN_ENDINGS = (".git", ".atom")
_BITBUCKET_REPOSITORY = re.compile(r"[a-z0-9._]+(-[a-z0-9._]+)*", re.ASCII)
_BITBUCKET_WORKSPACE = re.compile(r"[a-z0-9_-]+", re.ASCII)


def default_repository(slug: str, field: str) -> str:
    """The repository name a question defaults to: the project folder's own name."""
    return f"{slug}-{REPOSITORY_SUFFIXES[field]}"


def default_remote(host: str, owner: str, repository: str) -> str:
    """The HTTPS URL git pushes ``owner/repository`` to on a third-party ``host``."""
    return f"{HOST_URLS[host]}/{owner}/{repository}.git"


def repository_violation(host: str, name: str) -> str | None:
    """Why ``name`` cannot name a repository on ``host`` (a third-party host), or None."""
    if host == "github":
        return _github_repository_violation(name)
    if host == "gitlab":
        return _gitlab_path_violation(name, "project path")
    return _bitbucket_repository_violation(name)


def owner_violation(host: str, owner: str) -> str | None:
    """Why ``owner`` cannot be the owner on ``host`` (a third-party host), or None."""
    if host == "github":
        return _github_owner_violation(owner)
    if host == "gitlab":
        return _gitlab_namespace_violation(owner)
    return _bitbucket_workspace_violation(owner)


def _github_repository_violation(name: str) -> str | None:
    if len(name) > GITHUB_REPOSITORY_MAX:
        return f"is {len(name)} characters, over GitHub's limit of {GITHUB_REPOSITORY_MAX}"
    if not _GITHUB_REPOSITORY.fullmatch(name):
        return (
            "holds characters GitHub does not allow in a repository name "
            "(letters, digits, '.', '_' and '-' only)"
        )
    if name in (".", ".."):
        return "is a name GitHub reserves"
    return None


def _github_owner_violation(owner: str) -> str | None:
    if len(owner) > GITHUB_OWNER_MAX:
        return f"is {len(owner)} characters, over GitHub's limit of {GITHUB_OWNER_MAX}"
    if not _GITHUB_OWNER.fullmatch(owner):
        return (
            "is not a GitHub account or organisation name (letters, digits and single hyphens, "
            "not starting or ending with a hyphen)"
        )
    return None


def _gitlab_path_violation(path: str, what: str) -> str | None:
    if len(path) > GITLAB_PATH_MAX:
        return f"is {len(path)} characters, over GitLab's limit of {GITLAB_PATH_MAX} for a {what}"
    if not _GITLAB_PATH.fullmatch(path):
        return (
            f"is not a GitLab {what} (letters, digits, '_', '-' and '.', not starting or ending "
            "with a special character and never two in a row)"
        )
    for ending in _GITLAB_FORBIDDEN_ENDINGS:
        if path.lower().endswith(ending):
            return f"ends in '{ending}', which GitLab does not allow in a {what}"
    return None


def _gitlab_namespace_violation(namespace: str) -> str | None:
    for segment in namespace.split("/"):
        reason = _gitlab_path_violation(segment, "group path")
        if reason is not None:
            if segment == namespace:
                return reason
            return f"has the segment {segment!r}, which {reason}"
    return None


def _bitbucket_repository_violation(name: str) -> str | None:
    if len(name) > BITBUCKET_REPOSITORY_MAX:
        return (
            f"is {len(name)} characters, over Bitbucket Cloud's limit of "
            f"{BITBUCKET_REPOSITORY_MAX} for a repository slug"
        )
    if not _BITBUCKET_REPOSITORY.fullmatch(name):
        return (
            "is not a Bitbucket Cloud repository slug (lowercase letters, digits, '_', '.' and "
            "'-', no hyphen at either end and never two in a row)"
        )
    return None


def _bitbucket_workspace_violation(workspace: str) -> str | None:
    if not _BITBUCKET_WORKSPACE.fullmatch(workspace):
        return "is not a Bitbucket workspace ID (lowercase letters, digits, '-' and '_' only)"
    return None


def suggested_repository(host: str, name: str) -> str | None:
    """A name close to ``name`` that ``host`` accepts, or None when none is obvious."""
    candidate = re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-")
    if host == "bitbucket":
        candidate = candidate.lower()[:BITBUCKET_REPOSITORY_MAX].rstrip("-")
    elif host == "github":
        candidate = candidate[:GITHUB_REPOSITORY_MAX].rstrip("-")
    else:
        candidate = candidate[:GITLAB_PATH_MAX].rstrip("-")
    if candidate and candidate != name and repository_violation(host, candidate) is None:
        return candidate
    return None
