"""Jinja extension that gives copier.yml the same answer checks as the pre-generation hook.

Copier loads this file by path (copier-template-extensions' loader), not as part of the package,
so it puts the template root on sys.path and imports the real rules from mlops_template.
Loading Python from a template is why `copier copy` needs `--trust`.
"""

from __future__ import annotations

import fnmatch
import importlib
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jinja2 import Environment, pass_context
from jinja2.ext import Extension
from jinja2.runtime import Context

TEMPLATE_ROOT = Path(__file__).resolve().parents[1]


def _load(module: str) -> Any:
    """``mlops_template.<module>`` from this template's own copy of the package."""
    # An update renders two versions of the template in one process; each must use its own rules.
    loaded = sys.modules.get("mlops_template")
    if loaded is not None and Path(loaded.__file__ or "").resolve().parents[1] != TEMPLATE_ROOT:
        for name in [name for name in sys.modules if name.split(".")[0] == "mlops_template"]:
            del sys.modules[name]
    if str(TEMPLATE_ROOT) not in sys.path:
        sys.path.insert(0, str(TEMPLATE_ROOT))
    return importlib.import_module(f"mlops_template.{module}")


def slugify(value: str) -> str:
    """Cookiecutter's slugify filter, as the answer checks apply it (mlops_template.names)."""
    return _load("names").slugify(value)


def answer_problem(field: str, answers: Mapping[str, Any]) -> str:
    """The pre-generation hook's report for ``field`` given the answers so far, or ''."""
    questions = json.loads((TEMPLATE_ROOT / "cookiecutter.json").read_text(encoding="utf-8"))
    known = {name: answers[name] for name in questions if name in answers and name[0] != "_"}
    # Questions not asked yet are reported as missing; only this field's problems count here.
    # The slug's length limit depends on the region, asked later, so the region rechecks it; an
    # empty slug derived from a name without letters is reported against the name.
    fields = {field, *_ALSO_REPORTED.get(field, ())}
    rules = _load("validation")
    problems = [problem for problem in rules.validate_answers(known) if problem.field in fields]
    if field == "framework":
        problems += _region_problems_of_framework(rules, known)
    return " ".join(str(problem) for problem in problems)


def _region_problems_of_framework(rules: Any, answers: Mapping[str, Any]) -> list[Any]:
    # The region is asked before the framework, so its check only covered what every framework
    # uses; the chosen framework's images are checked here, and reported under the region.
    without = {name: value for name, value in answers.items() if name != "framework"}
    if any(problem.field == "aws_region" for problem in rules.validate_answers(without)):
        return []
    return [problem for problem in rules.validate_answers(answers) if problem.field == "aws_region"]


_ALSO_REPORTED = {"aws_region": ("project_slug",), "project_slug": ("project_name",)}


def copy_without_render_patterns() -> tuple[str, ...]:
    settings = json.loads((TEMPLATE_ROOT / "cookiecutter.json").read_text(encoding="utf-8"))
    return tuple(settings.get("_copy_without_render", ()))


class AnswerChecks(Extension):
    """Adds the ``slugify`` filter and the ``mlops_answer_problem(field)`` validator helper, and
    copies the files cookiecutter copies verbatim (``_copy_without_render``) verbatim too."""

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        environment.filters["slugify"] = slugify
        environment.globals["mlops_answer_problem"] = _problem_in_context
        self._verbatim: dict[str, str] = {}
        self._patterns = copy_without_render_patterns()
        environment.globals["mlops_verbatim"] = self._verbatim.__getitem__

    def preprocess(self, source: str, name: str | None, filename: str | None = None) -> str:
        # Copier renders every file (cookiecutter has per-pattern exceptions, Copier has none):
        # a verbatim file becomes one expression that prints its stored text unchanged. The
        # patterns match the unrendered path from the template root, as cookiecutter's do.
        if name is None or not any(fnmatch.fnmatch(name, pattern) for pattern in self._patterns):
            return source
        self._verbatim[name] = source
        return "{{ mlops_verbatim(" + json.dumps(name) + ") }}"


@pass_context
def _problem_in_context(context: Context, field: str) -> str:
    return answer_problem(field, context.get_all())
