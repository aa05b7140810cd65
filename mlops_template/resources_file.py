"""``cicd/resources.json`` in the generated deploy repository: the answers and derived AWS names
the bootstrap needs, written as data so the names are derived in one place (``names.py``)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

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

# The git_host and ci answers, and what a project answered before those questions meant.
GIT_KEYS = {
    "git_host": "codecommit",
    "ci": "codepipeline",
    "git_owner": "",
    "modelbuild_repository": "",
    "modeldeploy_repository": "",
}


def resources_data(answers: Mapping[str, object]) -> dict[str, object]:
    """What ``resources.json`` holds for these (already validated) answers."""
    project = {key: str(answers[key]) for key in PROJECT_KEYS}
    # Only the CI/CD stack's grants depend on it (a tuning job's permissions).
    project["hyperparameter_tuning"] = str(answers.get("hyperparameter_tuning", "no"))
    # Where the code lives and what runs CI: the bootstrap deploys and prints by these. A
    # CodeCommit project's file stays as it was before the questions.
    if str(answers.get("git_host", GIT_KEYS["git_host"])) != GIT_KEYS["git_host"]:
        for key, default in GIT_KEYS.items():
            project[key] = str(answers.get(key, default))
    names = derived_names(project["project_slug"], project["aws_region"], ACCOUNT_PLACEHOLDER)
    return {
        "_comment": (
            "Written by mlops-template when the project was generated; read by "
            "`mlops-bootstrap bootstrap` and `teardown`. Edit before the first bootstrap to rename."
        ),
        "project": project,
        "names": names.as_dict(),
    }


def write_resources_file(deploy_repo: Path, answers: Mapping[str, object]) -> Path:
    path = deploy_repo / RELATIVE_PATH
    path.write_text(json.dumps(resources_data(answers), indent=2) + "\n", encoding="utf-8")
    return path
