"""Reject bad answers before cookiecutter renders anything; the rules live in mlops_template."""

import json
import os
import sys
from pathlib import Path

# tojson escapes quotes, backslashes, <, >, & and ' so no answer can end this raw string early.
ANSWERS = json.loads(r"""{{ cookiecutter | tojson }}""")


def template_root() -> Path | None:
    # _repo_dir is the template path exactly as given (`cookiecutter .` gives "."), relative to the
    # caller's directory, while this script runs in the new project's directory. On Linux the
    # parent's cwd is the template itself (cookiecutter runs hooks from there); elsewhere the
    # shell's PWD is the caller's directory.
    repo_dir = Path(ANSWERS.get("_repo_dir") or ".")
    candidates = [repo_dir] if repo_dir.is_absolute() else []
    candidates += [Path(f"/proc/{os.getppid()}/cwd"), Path(os.environ.get("PWD", "."), repo_dir)]
    for candidate in candidates:
        if (candidate / "mlops_template" / "validation.py").is_file():
            return candidate.resolve()
    return None


def main() -> int:
    root = template_root()
    if root is None:
        print(
            "mlops-template: cannot find the template's mlops_template package "
            f"(_repo_dir={ANSWERS.get('_repo_dir')!r}). Use cookiecutter 2.2 or newer and, "
            "if the template is a local folder, give its absolute path.",
            file=sys.stderr,
        )
        return 1
    sys.path.insert(0, str(root))
    from mlops_template.validation import main as validate

    return validate(ANSWERS)


if __name__ == "__main__":
    sys.exit(main())
