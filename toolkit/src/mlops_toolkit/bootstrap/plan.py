"""The plan the bootstrap prints before changing anything: every name, and what happens to it."""

from __future__ import annotations

from typing import TextIO

from mlops_toolkit.bootstrap.project import Project
from mlops_toolkit.bootstrap.steps import Finding, Step


def print_header(project: Project, account_id: str, caller: str, out: TextIO) -> None:
    print(f"{project.settings['project_name']} ({project.slug})", file=out)
    print(f"  AWS account  {account_id}  ({caller})", file=out)
    print(f"  region       {project.region}", file=out)
    print(f"  record       {project.state_file}", file=out)
    print("", file=out)


def print_plan(project: Project, account_id: str, plan: list[tuple[Step, Finding]], out: TextIO):
    width = max(len(step.name) for step, _ in plan)
    for step, finding in plan:
        print(f"  {step.kind:<22} {step.name:<{width}}  {finding.note}", file=out)
        if step.key == "cicd-stack" and not (project.git and project.git.ci == "github-actions"):
            _print_stack_contents(project, account_id, out)
        elif step.key == "github-actions-stack":
            _line(
                out,
                "which holds",
                "GitHub's OIDC provider (unless the account has one), "
                "3 workflow roles, the approval trigger (with a token)",
                indent=4,
            )
        elif step.key == "batch-stack":
            _line(
                out,
                "which holds",
                "batch grants for the CI/CD roles, the prod batch schedule and its role, "
                "a run on each prod deploy, retraining on batch drift",
                indent=4,
            )
    names = project.names
    print("  Created later by the pipelines themselves:", file=out)
    _line(out, "SageMaker pipeline", project.pipeline_name)
    _line(out, "deploy stacks", f"{names['staging_stack']}, {names['prod_stack']}")
    deployment = project.settings.get("deployment", "realtime")
    if deployment != "batch":
        _line(out, "endpoints", f"{names['staging_endpoint']}, {names['prod_endpoint']}")
    if deployment != "realtime":
        batch = f"{names['staging_endpoint']}-batch, {names['prod_endpoint']}-batch"
        _line(out, "batch pipelines", batch)
    print("", file=out)


def _print_stack_contents(project: Project, account_id: str, out: TextIO) -> None:
    names = project.names
    print("    which holds:", file=out)
    _line(out, "artifact bucket", project.artifact_bucket(account_id), indent=6)
    projects = (
        "modelbuild_build_project",
        "modeldeploy_build_project",
        "staging_test_build_project",
    )
    _line(out, "CodeBuild projects", ", ".join(names[key] for key in projects), indent=6)
    pipelines = f"{names['modelbuild_codepipeline']}, {names['modeldeploy_codepipeline']}"
    _line(out, "CodePipelines", pipelines, indent=6)
    approvals = f"approvals in group {project.model_package_group}"
    if project.git is None:
        _line(out, "EventBridge rules", f"push to main of both repositories; {approvals}", indent=6)
    else:
        triggers = f"push to main of both {project.git.host} repositories, via the connection"
        _line(out, "pipeline triggers", triggers, indent=6)
        _line(out, "EventBridge rules", approvals, indent=6)
    roles = "SageMaker execution, 3 CodeBuild, CodePipeline, CloudFormation, EventBridge"
    _line(out, "IAM roles", roles, indent=6)


def _line(out: TextIO, label: str, value: str, indent: int = 4) -> None:
    print(f"{' ' * indent}{label:<20} {value}", file=out)


def print_next_steps(project: Project, out: TextIO) -> None:
    names = project.names
    region = project.region
    console = f"https://{region}.console.aws.amazon.com/codesuite/codepipeline/pipelines"
    print("", file=out)
    print("What happens now:", file=out)
    print(
        f"  - {names['modelbuild_codepipeline']} started on its own when it was created: it runs "
        f"the SageMaker pipeline {project.pipeline_name}. Every push to main starts it again.",
        file=out,
    )
    print(
        f"    Watch it: {console}/{names['modelbuild_codepipeline']}/view?region={region}", file=out
    )
    print(
        f"  - Approve a version in the model package group {project.model_package_group} to "
        f"deploy it: {names['modeldeploy_codepipeline']} deploys staging, tests it, and waits for "
        "your approval before prod. Until a version is approved its first run stops at Build.",
        file=out,
    )
    print("  - Remove everything again with: mlops-bootstrap teardown", file=out)
