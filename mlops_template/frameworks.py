"""The training frameworks a project can be generated for, and how the generated model-build
repository is trimmed to the chosen one.

The template keeps each framework's own files in folders named ``<folder>_<framework>`` beside
the shared ``<folder>`` (``steps/training_pytorch`` beside ``steps/training``, ``tests_pytorch``
beside ``tests``). After rendering, the chosen framework's files move into the
shared folder and the other frameworks' folders are deleted, so a generated project holds no code
for frameworks it does not use. Cookiecutter's post-generation hook and Copier's task both call
``select_framework``, which keeps the two tools' output identical.
"""

from __future__ import annotations

import shutil
from pathlib import Path

FRAMEWORKS = ("xgboost", "pytorch", "sklearn")
DEFAULT_FRAMEWORK = FRAMEWORKS[0]
# The model-build repository's folders that have per-framework siblings.
SHARED_FOLDERS = (Path("src/modelbuild/steps/training"), Path("tests"))


class FrameworkSelectionError(Exception):
    """The framework named is not one the template has files for."""


def framework_folder(shared: Path, framework: str) -> Path:
    """``steps/training`` + ``pytorch`` → ``steps/training_pytorch``."""
    return shared.with_name(f"{shared.name}_{framework}")


def select_framework(repo_dir: Path, framework: str) -> list[Path]:
    """Move ``framework``'s files into the shared folders and delete the other frameworks'.

    Returns the files moved. Running it again on a trimmed repository changes nothing, so
    re-renders (``copier update``, cruft) may call it as often as they like.
    """
    if framework not in FRAMEWORKS:
        raise FrameworkSelectionError(
            f"framework {framework!r} is not one of {', '.join(FRAMEWORKS)}"
        )
    moved: list[Path] = []
    for shared in SHARED_FOLDERS:
        target = repo_dir / shared
        chosen = framework_folder(target, framework)
        if chosen.is_dir():
            moved += _merge_into(chosen, target)
        for other in FRAMEWORKS:
            if other != framework:
                shutil.rmtree(framework_folder(target, other), ignore_errors=True)
    return moved


def _merge_into(source: Path, target: Path) -> list[Path]:
    # A file already at the destination is replaced: on a re-render (``copier update`` renders
    # into the existing repository) it is the previous render of this same file. The template
    # never ships a shared file under a framework file's name (tests/test_frameworks.py).
    moved = []
    for path in sorted(path for path in source.rglob("*") if path.is_file()):
        destination = target / path.relative_to(source)
        destination.parent.mkdir(parents=True, exist_ok=True)
        path.replace(destination)
        moved.append(destination)
    shutil.rmtree(source)
    return moved
