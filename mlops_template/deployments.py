"""How the approved model serves predictions (the ``deployment`` answer), and how the generated
model-deploy repository is trimmed to it.

``realtime`` is the endpoint per stage the deploy repository always had; ``batch`` adds a batch
transform stack per stage (a SageMaker pipeline with one Transform step, its data-quality
schedule and drift alarm) and ``both`` runs the two side by side. The CI/CD stack takes the
answer as its ``Deployment`` parameter (from ``cicd/resources.json``) and builds only what it
needs through CloudFormation Conditions; the files that differ live here:

- batch-only files, deleted for ``realtime`` so its output is the endpoint project unchanged;
- buildspec variants ``<name>_<deployment>.yml`` beside ``<name>.yml``: the chosen one replaces
  the realtime buildspec, the others are deleted.

Cookiecutter's post-generation hook and Copier's task both call ``select_deployment``.
"""

from __future__ import annotations

from pathlib import Path

DEPLOYMENTS = ("realtime", "batch", "both")
DEFAULT_DEPLOYMENT = DEPLOYMENTS[0]
DEFAULT_BATCH_SCHEDULE = "cron(0 2 * * ? *)"
BATCH_FILES = (
    Path("batch-transform-template.yml"),
    Path("batch-export.jq"),
    Path("staging-batch-config.json"),
    Path("prod-batch-config.json"),
    Path("test/batch_test.py"),
)
BUILDSPECS = (Path("buildspec.yml"), Path("test/buildspec.yml"))


class DeploymentSelectionError(Exception):
    """The deployment named is not one the template has files for."""


def variant(buildspec: Path, deployment: str) -> Path:
    """``test/buildspec.yml`` + ``batch`` → ``test/buildspec_batch.yml``."""
    return buildspec.with_name(f"{buildspec.stem}_{deployment}{buildspec.suffix}")


def select_deployment(repo_dir: Path, deployment: str) -> None:
    """Trim the model-deploy repository to ``deployment``; running it again changes nothing."""
    if deployment not in DEPLOYMENTS:
        raise DeploymentSelectionError(
            f"deployment {deployment!r} is not one of {', '.join(DEPLOYMENTS)}"
        )
    if deployment == "realtime":
        for relative in BATCH_FILES:
            (repo_dir / relative).unlink(missing_ok=True)
    for buildspec in BUILDSPECS:
        chosen = repo_dir / variant(buildspec, deployment)
        if chosen.is_file():
            chosen.replace(repo_dir / buildspec)
        for other in DEPLOYMENTS:
            (repo_dir / variant(buildspec, other)).unlink(missing_ok=True)
