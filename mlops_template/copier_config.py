"""Generate copier.yml from cookiecutter.json, the single source of truth for the questions.

``python -m mlops_template.copier_config`` rewrites copier.yml; ``--check`` only reports whether
the committed file is current (the test suite runs the same comparison).

Both tools render the same tree, ``{{cookiecutter.project_slug}}/``. Copier reaches it through
``_subdirectory`` and sees the answers under the name ``cookiecutter`` through a computed,
unrecorded question, so no template file differs between the tools. The ``subproject`` question
picks what is rendered: the whole project on a first copy, one repository when ``copier update``
runs inside it (each repository records its own answers file naming itself, because each is its
own git repository).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

TEMPLATE_ROOT = Path(__file__).resolve().parents[1]
COOKIECUTTER_JSON = TEMPLATE_ROOT / "cookiecutter.json"
COPIER_YML = TEMPLATE_ROOT / "copier.yml"
TREE = "{{cookiecutter.project_slug}}"
ANSWERS_FILE = ".copier-answers.yml"
PROJECT_ANSWERS_FILE = ".copier-answers.project.yml"
SUBPROJECTS = ("project", "modelbuild", "modeldeploy")
EXTENSION = "mlops_template/copier_extension.py:AnswerChecks"
TASKS_SCRIPT = "{{ _copier_conf.src_path }}/mlops_template/copier_tasks.py"
HEADER = (
    "# GENERATED from cookiecutter.json by `python -m mlops_template.copier_config`.\n"
    "# Do not edit: change cookiecutter.json and run that command again.\n"
)
# Private keys cookiecutter itself reads; they configure rendering and are no answers.
COOKIECUTTER_SETTINGS = ("_extensions", "_copy_without_render", "_new_lines", "_jinja2_env_vars")
_COOKIECUTTER_REF = re.compile(r"\bcookiecutter\.(\w+)")
# Questions whose answer only matters after an earlier answer: Copier skips them otherwise (and
# uses their default, which validation accepts there). Cookiecutter asks every question.
ASKED_WHEN = {
    "ci": "{{ git_host == 'github' }}",
    "git_owner": "{{ git_host != 'codecommit' }}",
    "modelbuild_repository": "{{ git_host != 'codecommit' }}",
    "modeldeploy_repository": "{{ git_host != 'codecommit' }}",
    "batch_schedule": "{{ deployment != 'realtime' }}",
}


def load_cookiecutter(path: Path = COOKIECUTTER_JSON) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def build_config(cookiecutter: Mapping[str, Any]) -> dict[str, Any]:
    """The whole copier.yml as a mapping, settings first, then one entry per question."""
    names = question_names(cookiecutter)
    config: dict[str, Any] = settings(cookiecutter)
    config["subproject"] = subproject_question()
    prompts = cookiecutter.get("__prompts__", {})
    for name in names:
        config[name] = question(name, cookiecutter[name], prompts.get(name, name))
        if name in ASKED_WHEN:
            config[name]["when"] = ASKED_WHEN[name]
    config["cookiecutter"] = computed_context(names, private_constants(cookiecutter))
    return config


def question_names(cookiecutter: Mapping[str, Any]) -> list[str]:
    return [name for name in cookiecutter if not name.startswith("_")]


def settings(cookiecutter: Mapping[str, Any]) -> dict[str, Any]:
    raw = f"{{% raw %}}{TREE}{{% endraw %}}"
    return {
        "_min_copier_version": "9.4.0",
        "_subdirectory": f"{raw}{{% if subproject != 'project' %}}/{raw}-{{{{ subproject }}}}"
        "{% endif %}",
        # Every file is rendered; the extension passes cookiecutter's _copy_without_render files
        # through unchanged.
        "_templates_suffix": "",
        # A repository's own answers file is the one `copier update` reads inside it; a
        # whole-project copy must use another name, or Copier would move both repositories'
        # files to the top.
        "_answers_file": f"{{% if subproject == 'project' %}}{PROJECT_ANSWERS_FILE}"
        f"{{% else %}}{ANSWERS_FILE}{{% endif %}}",
        "_exclude": ["__pycache__", ".ruff_cache", ".pytest_cache", "*.pyc"],
        "_jinja_extensions": [
            "copier_template_extensions.TemplateExtensionLoader",
            EXTENSION,
        ],
        "_tasks": [
            {
                "command": [
                    "{{ _copier_python }}",
                    TASKS_SCRIPT,
                    "{{ _copier_operation }}",
                    "{{ subproject }}",
                    "{{ cookiecutter | tojson }}",
                ]
            }
        ],
    }


def subproject_question() -> dict[str, Any]:
    return {
        "type": "str",
        "help": "What to render (keep 'project' for a new project; each repository's answers "
        "file names the repository so that `copier update` inside it renders only that one)",
        "choices": {
            "project (both repositories)": "project",
            "modelbuild repository only": "modelbuild",
            "modeldeploy repository only": "modeldeploy",
        },
        "default": "project",
    }


def question(name: str, default: Any, prompt: Any) -> dict[str, Any]:
    """One Copier question mirroring one cookiecutter variable and its prompt."""
    entry: dict[str, Any] = {"type": "str"}
    if isinstance(default, list):
        labels = prompt if isinstance(prompt, Mapping) else {}
        entry["help"] = labels.get("__prompt__", name)
        entry["choices"] = {str(labels.get(choice, choice)): choice for choice in default}
        entry["default"] = default[0]
    else:
        entry["help"] = str(prompt)
        entry["default"] = _COOKIECUTTER_REF.sub(r"\1", str(default))
    entry["validator"] = f"{{{{ mlops_answer_problem('{name}') }}}}"
    return entry


def private_constants(cookiecutter: Mapping[str, Any]) -> dict[str, str]:
    """cookiecutter.json's private ``_name`` strings (e.g. ``_toolkit_version``): never asked,
    the same in every project of a template release. Cookiecutter's own settings are not."""
    return {
        name: value
        for name, value in cookiecutter.items()
        if name.startswith("_")
        and not name.startswith("__")
        and name not in COOKIECUTTER_SETTINGS
        and isinstance(value, str)
    }


def computed_context(
    names: list[str], constants: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The answers under the name the tree's Jinja uses, plus the template's private constants;
    never asked and never recorded."""
    pairs = [f"'{name}': {name}" for name in names]
    pairs += [f"'{name}': {json.dumps(value)}" for name, value in (constants or {}).items()]
    return {"type": "json", "when": False, "default": f"{{{{ {{{', '.join(pairs)}}} | tojson }}}}"}


def render_yaml(config: Mapping[str, Any]) -> str:
    """copier.yml text; every scalar is written as JSON, which is valid YAML, for exact quoting."""
    lines = [HEADER.rstrip("\n")]
    for key, value in config.items():
        lines.append("")
        lines.extend(_yaml_entry(key, value, 0))
    return "\n".join(lines) + "\n"


def _yaml_entry(key: str, value: Any, indent: int) -> list[str]:
    pad = " " * indent
    if isinstance(value, Mapping):
        lines = [f"{pad}{json.dumps(key)}:"]
        for sub_key, sub_value in value.items():
            lines.extend(_yaml_entry(sub_key, sub_value, indent + 2))
        return lines
    if isinstance(value, list) and value and isinstance(value[0], Mapping):
        lines = [f"{pad}{json.dumps(key)}:"]
        for item in value:
            item_lines = [line for k, v in item.items() for line in _yaml_entry(k, v, indent + 4)]
            item_lines[0] = f"{pad}  - {item_lines[0].lstrip()}"
            lines.extend(item_lines)
        return lines
    return [f"{pad}{json.dumps(key)}: {json.dumps(value, ensure_ascii=False)}"]


def expected_text() -> str:
    return render_yaml(build_config(load_cookiecutter()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report whether it is current")
    args = parser.parse_args(argv)
    expected = expected_text()
    current = COPIER_YML.read_text(encoding="utf-8") if COPIER_YML.exists() else None
    if args.check:
        if current == expected:
            print("copier.yml matches cookiecutter.json")
            return 0
        print(
            "copier.yml is out of date with cookiecutter.json. "
            "Run: python -m mlops_template.copier_config",
            file=sys.stderr,
        )
        return 1
    COPIER_YML.write_text(expected, encoding="utf-8")
    print(f"wrote {COPIER_YML}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
