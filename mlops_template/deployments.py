"""How the approved model serves predictions (the ``deployment`` answer), and how the generated
model-deploy repository is trimmed to it.

``realtime`` is the endpoint per stage the deploy repository always had; ``batch`` deploys instead
a batch transform per stage (a SageMaker pipeline with one Transform step, its data-quality
schedule and drift alarm); ``both`` deploys one stage stack holding the two. The CI/CD stack
(``cicd/cicd-stack.yml``) is the same for every answer: its pipeline deploys whatever
``template-export.yml`` the deploy build packages, and the bootstrap adds ``cicd/batch-stack.yml``
for ``batch`` and ``both`` (the schedule, the run on each prod deploy, the retrain rule, and the
grants batch adds to the CI/CD stack's roles). The files that differ live here:

- batch files, deleted for ``realtime`` so its output is the endpoint project unchanged
  (``merge-templates.jq`` is kept for ``both`` only);
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
    Path("cicd/batch-stack.yml"),
    Path("tests/test_batch_test.py"),
)
# Only ``both`` merges the endpoint and batch templates into one stage template.
BOTH_FILES = (Path("merge-templates.jq"),)
BUILDSPECS = (Path("buildspec.yml"), Path("test/buildspec.yml"))
# The deploy repo's test of its buildspecs, for batch and both (it reads which from the files).
BUILDSPEC_TESTS = (Path("tests/test_buildspecs.py"), Path("tests/test_buildspecs_batch.py"))


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
    unused = BATCH_FILES + BOTH_FILES if deployment == "realtime" else ()
    if deployment == "batch":
        unused = BOTH_FILES
    for relative in unused:
        (repo_dir / relative).unlink(missing_ok=True)
    test, batch_test = (repo_dir / path for path in BUILDSPEC_TESTS)
    if deployment != "realtime" and batch_test.is_file():
        batch_test.replace(test)
    batch_test.unlink(missing_ok=True)
    for buildspec in BUILDSPECS:
        chosen = repo_dir / variant(buildspec, deployment)
        if chosen.is_file():
            chosen.replace(repo_dir / buildspec)
        for other in DEPLOYMENTS:
            (repo_dir / variant(buildspec, other)).unlink(missing_ok=True)
