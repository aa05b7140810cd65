"""Jinja extension that checks Cookiecutter's answers before the first folder exists.

Cookiecutter creates the project folder from the rendered name of the template tree,
``{{cookiecutter.project_slug}}``, before the pre_gen_project hook runs, and on a hook failure it
removes only that folder. A slug such as ``a/b`` therefore leaves ``a/`` behind, an empty slug
names the output folder itself ("already exists"), and a slug too long for the file system fails
with a traceback: the hook never sees any of them. This extension (``_extensions`` in
cookiecutter.json; Cookiecutter and cruft put the template on ``sys.path``) makes the rendering
of that one name run the hook's own checks first, so bad answers stop generation with the hook's
report and nothing written. The hook still runs afterwards, unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cookiecutter.exceptions import FailedHookException
from jinja2 import Environment
from jinja2.ext import Extension

from mlops_template import validation

TEMPLATE_ROOT = Path(__file__).resolve().parents[1]
TREE = "{{cookiecutter.project_slug}}"
CHECK = "mlops_checked_answers"


class AnswersRefused(FailedHookException):
    """Generation stopped on the answers, before anything was written."""


class ProjectFolderCheck(Extension):
    """Renders the template tree's name as the answer checks followed by the slug itself."""

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        environment.globals[CHECK] = checked_answers

    def preprocess(self, source: str, name: str | None, filename: str | None = None) -> str:
        # Cookiecutter renders the tree's folder name with from_string (no template name). The
        # slug is still rendered by Cookiecutter's own expression, with its usual semantics.
        if name is None and source == TREE:
            return "{{ " + CHECK + "(cookiecutter) }}" + source
        return source


def checked_answers(answers: Mapping[str, Any]) -> str:
    """'' when the answers pass the hook's checks; otherwise report them and stop generation."""
    if not _every_question_answered(answers):
        # Still prompting: an answer that reads like the folder name is being rendered.
        return ""
    if not validation.validate_answers(answers):
        return ""
    validation.main(answers)
    raise AnswersRefused(
        "mlops-template refused the answers above before writing anything; nothing was generated."
    )


def _every_question_answered(answers: Mapping[str, Any]) -> bool:
    questions = json.loads((TEMPLATE_ROOT / "cookiecutter.json").read_text(encoding="utf-8"))
    return all(name in answers for name in questions if not name.startswith("_"))
