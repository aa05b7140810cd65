"""Which CI files a generated repository keeps: those of the CI system the project chose.

The template ships every CI system's files (CodeBuild buildspecs for CodePipeline, workflows and
the OIDC stack for GitHub Actions). After rendering, the other systems' files are deleted, so a
project holds only what runs its CI. Cookiecutter's post-generation hook and Copier's task both
call ``select_ci``, which keeps the two tools' output identical; running it again changes nothing.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from mlops_template.git_hosts import CI_CHOICES, CODEPIPELINE, GITHUB_ACTIONS

# Per repository (its folder's suffix), per CI system: the paths only that system uses.
CI_FILES: dict[str, dict[str, tuple[str, ...]]] = {
    "modelbuild": {
        CODEPIPELINE: ("codebuild-buildspec.yml",),
        GITHUB_ACTIONS: (".github",),
    },
    "modeldeploy": {
        CODEPIPELINE: ("buildspec.yml", "test/buildspec.yml", "tests/test_buildspecs.py"),
        GITHUB_ACTIONS: (
            ".github",
            "cicd/github-actions-stack.yml",
            "tests/test_deploy_workflow.py",
        ),
    },
}


class CiSelectionError(Exception):
    """The CI system or repository named is not one the template has files for."""


def select_ci(repo_dir: Path, repo: str, ci: str) -> list[Path]:
    """Delete from ``repo_dir`` (the ``repo`` repository) every file of a CI system other than
    ``ci``; returns the paths deleted."""
    if ci not in CI_CHOICES or repo not in CI_FILES:
        raise CiSelectionError(f"no CI files for ci={ci!r} in the {repo!r} repository")
    removed = []
    for other, paths in CI_FILES[repo].items():
        if other == ci:
            continue
        for relative in paths:
            path = repo_dir / relative
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
            else:
                continue
            removed.append(path)
    return removed
