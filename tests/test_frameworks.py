"""mlops_template.frameworks: trimming a rendered model-build repo to the chosen framework."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import TEMPLATE_DIR

from mlops_template.frameworks import (
    FRAMEWORKS,
    SHARED_FOLDERS,
    FrameworkSelectionError,
    framework_folder,
    select_framework,
)

STEPS = Path("src/modelbuild/steps")


def _write(path: Path, text: str = "") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A model-build repo as rendered, before trimming: shared folders plus one per framework."""
    _write(tmp_path / STEPS / "training" / "inference.py", "shared")
    _write(tmp_path / "tests" / "test_inference.py", "shared")
    for framework in FRAMEWORKS:
        _write(tmp_path / STEPS / f"training_{framework}" / "train.py", framework)
        _write(tmp_path / STEPS / f"training_{framework}" / "nested" / "data.json", framework)
        _write(tmp_path / f"tests_{framework}" / "test_train.py", framework)
    return tmp_path


def _files(root: Path) -> dict[str, str]:
    return {
        path.relative_to(root).as_posix(): path.read_text()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_the_chosen_frameworks_files_join_the_shared_folders(repo: Path, framework: str) -> None:
    moved = select_framework(repo, framework)
    assert _files(repo) == {
        "src/modelbuild/steps/training/inference.py": "shared",
        "src/modelbuild/steps/training/nested/data.json": framework,
        "src/modelbuild/steps/training/train.py": framework,
        "tests/test_inference.py": "shared",
        "tests/test_train.py": framework,
    }
    assert sorted(path.relative_to(repo).as_posix() for path in moved) == [
        "src/modelbuild/steps/training/nested/data.json",
        "src/modelbuild/steps/training/train.py",
        "tests/test_train.py",
    ]
    leftovers = [p.name for p in repo.rglob("*") if p.is_dir() and p.name.endswith(FRAMEWORKS)]
    assert leftovers == []


def test_running_again_changes_nothing(repo: Path) -> None:
    select_framework(repo, "pytorch")
    before = _files(repo)
    assert select_framework(repo, "pytorch") == []
    assert _files(repo) == before


def test_an_unknown_framework_is_refused_before_anything_moves(repo: Path) -> None:
    before = _files(repo)
    with pytest.raises(FrameworkSelectionError, match="'tensorflow' is not one of xgboost"):
        select_framework(repo, "tensorflow")
    assert _files(repo) == before


def test_a_re_render_replaces_the_previous_render_of_a_framework_file(repo: Path) -> None:
    """copier update renders into the existing repository: the fresh file wins, like any other."""
    _write(repo / STEPS / "training" / "train.py", "previous render")
    select_framework(repo, "sklearn")
    assert (repo / STEPS / "training" / "train.py").read_text() == "sklearn"


def test_no_framework_file_shadows_a_shared_file_in_the_template() -> None:
    modelbuild = (
        TEMPLATE_DIR
        / "{{cookiecutter.project_slug}}"
        / ("{{cookiecutter.project_slug}}-modelbuild")
    )
    for shared in SHARED_FOLDERS:
        shared_files = {p.relative_to(modelbuild / shared) for p in _files_in(modelbuild / shared)}
        for framework in FRAMEWORKS:
            folder = framework_folder(modelbuild / shared, framework)
            assert folder.is_dir(), f"{folder} is missing"
            own = {p.relative_to(folder) for p in _files_in(folder)}
            assert own, f"{folder} is empty"
            assert own.isdisjoint(shared_files), (folder, own & shared_files)


def _files_in(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
