"""Initialise both repositories and, if asked, bootstrap AWS; the logic is in mlops_template."""

import json
import os
import sys
from pathlib import Path

# tojson escapes quotes, backslashes, <, >, & and ' so no answer can end this raw string early.
ANSWERS = json.loads(r"""{{ cookiecutter | tojson }}""")


def template_root() -> Path | None:
    # Same search as pre_gen_project.py: cookiecutter runs hooks from a temporary copy, with the
    # generated project as the working directory and the template as the parent's.
    repo_dir = ANSWERS.get("_repo_dir") or ""
    candidates = (Path(os.environ.get("PWD", "."), repo_dir), Path(f"/proc/{os.getppid()}/cwd"))
    for candidate in candidates:
        if (candidate / "mlops_template" / "post_gen.py").is_file():
            return candidate.resolve()
    return None


def main() -> int:
    root = template_root()
    if root is None:
        # Never fail here: cookiecutter would delete the project it just generated.
        print(
            "mlops-template warning: cannot find the template's mlops_template package "
            f"(_repo_dir={ANSWERS.get('_repo_dir')!r}), so cicd/resources.json was not written "
            "and the repositories were not initialised. The files are kept; generate again with "
            "cookiecutter 2.2 or newer and, for a local template, its absolute path."
        )
        return 0
    sys.path.insert(0, str(root))
    from mlops_template.post_gen import main as post_generate

    return post_generate(ANSWERS, Path.cwd())


if __name__ == "__main__":
    sys.exit(main())
