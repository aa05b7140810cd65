"""The CI/CD stack of a rendered project, as the bootstrap would deploy it (on paper)."""

from __future__ import annotations

from pathlib import Path

from bootstrap_stand_in import load_cicd

from .stack import DeployedStack

ACCOUNT = "123456789012"


def deploy_repo(project: Path) -> Path:
    (repo,) = project.glob("*-modeldeploy")
    return repo


def cicd_stack(project: Path, account: str = ACCOUNT) -> DeployedStack:
    """``cicd/cicd-stack.yml`` of ``project`` with the parameters ``python -m cicd bootstrap``
    passes (names from cicd/resources.json), in the project's region."""
    repo = deploy_repo(project)
    cicd = load_cicd(repo)
    loaded = cicd.project.load_project(project, repo / "cicd" / "resources.json")
    return DeployedStack.load(
        repo / "cicd" / "cicd-stack.yml",
        name=loaded.names["cicd_stack"],
        region=loaded.region,
        account=account,
        parameters=cicd.stack.stack_parameters(loaded, account),
    )
