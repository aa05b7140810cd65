"""Copier's post-generation task: the same work as hooks/post_gen_project.py, per operation.

Run by copier.yml's ``_tasks`` as ``python copier_tasks.py OPERATION SUBPROJECT ANSWERS_JSON`` in
the destination folder. A first copy of the whole project initialises both repositories and
bootstraps AWS only when asked. Every other run (``copier update``, and the throw-away renders
Copier makes while updating) only refreshes the deploy repository's cicd/resources.json, which is
template output like any other file: no git init, never AWS.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

TEMPLATE_ROOT = Path(__file__).resolve().parents[1]
PREFIX = "mlops-template:"


def run(operation: str, subproject: str, answers: dict[str, object], destination: Path) -> int:
    if str(TEMPLATE_ROOT) not in sys.path:
        sys.path.insert(0, str(TEMPLATE_ROOT))
    from mlops_template import post_gen
    from mlops_template.ci_files import select_ci
    from mlops_template.deployments import DEFAULT_DEPLOYMENT, select_deployment
    from mlops_template.frameworks import DEFAULT_FRAMEWORK, select_framework
    from mlops_template.resources_file import write_resources_file

    if subproject == "modelbuild":
        # Every render, the throw-away ones of `copier update` included: an update compares
        # renders trimmed to one framework, exactly as the project was generated.
        select_framework(destination, str(answers.get("framework", DEFAULT_FRAMEWORK)))
    if subproject in ("modelbuild", "modeldeploy"):
        # Like the framework: every render keeps only the chosen CI system's files.
        select_ci(destination, subproject, str(answers.get("ci", "codepipeline")))
    if subproject == "project":
        if operation == "copy":
            return post_gen.main(answers, destination)
        # An update of the whole folder is refused by Copier itself (it is not a git repo).
        return 0
    if subproject == "modeldeploy":
        # Like the framework: every render, so an update compares renders of one deployment.
        select_deployment(destination, str(answers.get("deployment", DEFAULT_DEPLOYMENT)))
        write_resources_file(destination, answers)
    if operation == "copy":
        print(
            f"{PREFIX} rendered the {subproject} repository only; it is not a git repository "
            "yet (run `git init -b main` there) and no AWS resources were created.",
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 3:
        print(f"usage: {Path(__file__).name} OPERATION SUBPROJECT ANSWERS_JSON", file=sys.stderr)
        return 2
    operation, subproject, answers_json = args
    answers = json.loads(answers_json)
    answers["_copier_operation"] = operation
    return run(operation, subproject, answers, Path.cwd().resolve())


if __name__ == "__main__":
    sys.exit(main())
