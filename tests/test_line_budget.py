"""Issue 14's budget: the non-test Python a generated project holds is what its team edits, at
most 4,000 lines for both repositories together, whichever framework; the machinery (local runs,
serving, drift, bootstrap) is the toolkit's. Counted: every ``*.py`` outside the unit tests
(``tests/``) and the staging test (``test/``, which CodeBuild runs against the staging endpoint),
each line as ``wc -l`` counts it. docs/index.md gives the counts with the staging test included."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import render_project

from mlops_template.frameworks import FRAMEWORKS

LIMIT = 4000
TEST_FOLDERS = {"tests", "test"}


def python_lines(repo: Path) -> dict[str, int]:
    """Lines of each non-test Python file of ``repo``, by path relative to it."""
    return {
        path.relative_to(repo).as_posix(): len(path.read_bytes().splitlines())
        for path in sorted(repo.rglob("*.py"))
        if not (TEST_FOLDERS | {".git"}) & set(path.relative_to(repo).parts)
    }


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_generated_non_test_python_fits_the_budget(tmp_path, framework):
    project = render_project(tmp_path, framework=framework, bootstrap_aws="no")
    build, deploy = (project / f"{project.name}-{repo}" for repo in ("modelbuild", "modeldeploy"))
    counted = {repo.name: python_lines(repo) for repo in (build, deploy)}
    totals = {name: sum(files.values()) for name, files in counted.items()}

    # What the count must see: the team's code and no bootstrap machinery; the staging test
    # exists but is a test.
    assert {"src/modelbuild/pipeline.py", "src/modelbuild/steps/training/train.py"} <= set(
        counted[build.name]
    )
    assert "build.py" in counted[deploy.name]
    assert (deploy / "test" / "test.py").is_file()
    assert not any(name.startswith("cicd/") for name in counted[deploy.name])
    assert sum(totals.values()) <= LIMIT, totals


def test_the_count_leaves_out_tests_folders_only(tmp_path):
    for relative, lines in {
        "tests/test_a.py": 5,
        "src/pkg/tests/test_b.py": 7,
        "test/test.py": 3,
        "src/pkg/code.py": 2,
    }.items():
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x = 1\n" * lines)

    assert python_lines(tmp_path) == {"src/pkg/code.py": 2}
