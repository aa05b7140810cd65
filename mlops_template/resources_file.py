"""``cicd/resources.json`` in the generated deploy repository: the answers and derived AWS names
the bootstrap needs, written as data so the names are derived in one place (``names.py``)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from mlops_template.deployments import DEFAULT_BATCH_SCHEDULE, DEFAULT_DEPLOYMENT
from mlops_template.git_hosts import CODECOMMIT, default_remote
from mlops_template.names import derived_names

RELATIVE_PATH = Path("cicd") / "resources.json"
# The bootstrap replaces this with the real account id once it knows it (from STS).
ACCOUNT_PLACEHOLDER = "{account_id}"
PROJECT_KEYS = (
    "project_name",
    "project_slug",
    "description",
    "aws_region",
    "owner_team",
    "pipeline_name",
    "model_package_group_name",
)


def resources_data(answers: Mapping[str, object]) -> dict[str, object]:
    """What ``resources.json`` holds for these (already validated) answers."""
    project = {key: str(answers[key]) for key in PROJECT_KEYS}
    # Only the CI/CD stack's grants depend on it (a tuning job's permissions).
    project["hyperparameter_tuning"] = str(answers.get("hyperparameter_tuning", "no"))
    # The CI/CD stack's Deployment parameter and the batch schedule; absent means realtime, so
    # a realtime project's file is what it was before batch existed.
    deployment = str(answers.get("deployment", DEFAULT_DEPLOYMENT))
    if deployment != DEFAULT_DEPLOYMENT:
        project["deployment"] = deployment
        project["batch_schedule"] = str(answers.get("batch_schedule", DEFAULT_BATCH_SCHEDULE))
    names = derived_names(project["project_slug"], project["aws_region"], ACCOUNT_PLACEHOLDER)
    data: dict[str, object] = {
        "_comment": (
            "Written by mlops-template when the project was generated; read by "
            "`mlops-bootstrap bootstrap` and `teardown`. Edit before the first bootstrap to rename."
        ),
        "project": project,
        "names": names.as_dict(),
    }
    host = str(answers.get("git_host", CODECOMMIT))
    if host != CODECOMMIT:
        # CodeCommit projects have no such section: their files stay as they were before hosts.
        data["git"] = git_section(answers, host)
    return data


def git_section(answers: Mapping[str, object], host: str) -> dict[str, object]:
    """Where a third-party host keeps the repositories, and how the bootstrap reaches them."""
    owner = str(answers["git_owner"])
    repositories = {
        repo: str(answers[f"{repo}_repository"]) for repo in ("modelbuild", "modeldeploy")
    }
    return {
        "host": host,
        "ci": str(answers.get("ci", "codepipeline")),
        "owner": owner,
        "repositories": repositories,
        # Where `mlops-bootstrap bootstrap` pushes the seed code: edit for SSH or a mirror.
        "remotes": {repo: default_remote(host, owner, name) for repo, name in repositories.items()},
        # Empty: the bootstrap creates a connection; or the ARN of one whose handshake is done.
        "connection_arn": "",
    }


def write_resources_file(deploy_repo: Path, answers: Mapping[str, object]) -> Path:
    path = deploy_repo / RELATIVE_PATH
    path.write_text(json.dumps(resources_data(answers), indent=2) + "\n", encoding="utf-8")
    return path
