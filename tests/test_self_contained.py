"""The repository stands alone: a clone with nothing beside it runs the demo, the tests and the
benchmarks, and every generated model-build repo carries the same sample data.

`.ci/run` runs the whole suite in such a clone; these tests name what would break it.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import TEMPLATE_DIR, render_project, repository_files
from test_copier_config import template_snapshot

from demo.project import SAMPLE_DATA

# What a reference to a folder beside the clone looks like, in prose, shell or pathlib. No line
# of this file matches them (the examples below are assembled at run time), so it is scanned too.
OUTSIDE_REFERENCES = {
    "a relative path to a sibling 'shared' folder": re.compile(r"\.\.[/\\]+shared\b"),
    "a path into the data folder under 'shared'": re.compile(r"\bshared[/\\]+data\b"),
    "a pathlib join of 'shared' and 'data'": re.compile(r"""["']shared["']\s*/\s*["']data["']"""),
    "a 'shared' folder under a parent directory": re.compile(r"""\.parent\s*/\s*["']shared["']"""),
    "the parent of the template root": re.compile(r"\bTEMPLATE_(?:DIR|ROOT)\.parent\b"),
}
SIBLING, ROOT_CONSTANT = "shared", "TEMPLATE_DIR"
DATA_README = SAMPLE_DATA.with_name("README.md")
# The data's identity as its README states it: attribution and licence.
CITATION = ("UCI Machine Learning Repository", "Nash", "Ford", "10.24432/C55C7W", "CC BY 4.0")


def text_of(relative: str) -> str | None:
    try:
        return (TEMPLATE_DIR / relative).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return None


def test_no_file_in_the_repository_refers_to_a_folder_beside_it():
    offences = [
        f"{relative}:{number}: {what}: {line.strip()}"
        for relative in repository_files()
        if (text := text_of(relative)) is not None
        for number, line in enumerate(text.splitlines(), start=1)
        for what, pattern in OUTSIDE_REFERENCES.items()
        if pattern.search(line)
    ]
    assert offences == []


@pytest.mark.parametrize(
    "line",
    [
        f"the tests read ../{SIBLING}/abalone.csv",
        f'DATA = {ROOT_CONSTANT}.parent / "{SIBLING}" / "data" / "abalone.csv"',
        f"SAMPLE = {ROOT_CONSTANT}.parent / 'sample.csv'",
        f'DATA = ROOT / "{SIBLING}" / "data" / "abalone.csv"',
        f"DEFAULT = ROOT.parent / '{SIBLING}'",
        f"cp /work/{SIBLING}/data/abalone.csv .",
        f"type ..\\{SIBLING}\\data\\abalone.csv",
    ],
)
def test_the_scan_recognises_references_outside_the_repository(line):
    assert any(pattern.search(line) for pattern in OUTSIDE_REFERENCES.values())


def test_the_sample_data_is_a_repository_file_with_its_attribution():
    relative = SAMPLE_DATA.resolve().relative_to(TEMPLATE_DIR)
    assert str(relative) in repository_files()
    rows = SAMPLE_DATA.read_text(encoding="utf-8").splitlines()
    assert len(rows) == 4177
    assert {len(row.split(",")) for row in rows} == {9}
    readme = DATA_README.read_text(encoding="utf-8")
    assert [part for part in CITATION if part not in readme] == []
    assert "aws s3 cp --no-sign-request" in readme


def test_a_copy_with_nothing_beside_it_finds_its_data(tmp_path):
    """The demo's, the benchmarks' and the tests' data paths, computed in a copy of the
    repository that is alone in its folder."""
    alone = template_snapshot(tmp_path / "empty-folder" / "mlops-template")
    probe = (
        "import json, sys\n"
        "sys.path[:0] = ['.', 'benchmarks']\n"
        "from demo.run_demo import DEFAULT_INPUT\n"
        "from local_run import DATA\n"
        "from model_quality import DEFAULT_DATA\n"
        "from honest_defaults import DEFAULT_DATA as TUNING_DATA\n"
        "print(json.dumps([str(p) for p in (DEFAULT_INPUT, DATA, DEFAULT_DATA, TUNING_DATA)]))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=alone, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    expected = alone / SAMPLE_DATA.relative_to(TEMPLATE_DIR)
    assert {Path(path) for path in json.loads(result.stdout)} == {expected}
    assert expected.read_bytes() == SAMPLE_DATA.read_bytes()
    assert sorted(path.name for path in alone.parent.iterdir()) == ["mlops-template"]


def test_every_generated_model_build_repo_ships_the_sample_unchanged(tmp_path):
    project = render_project(tmp_path / "out", aws_region="eu-west-1")
    [modelbuild] = project.glob("*-modelbuild")
    assert (modelbuild / "data" / "abalone.csv").read_bytes() == SAMPLE_DATA.read_bytes()
    readme = (modelbuild / "data" / "README.md").read_text(encoding="utf-8")
    # The README's download command is rendered for the project's region.
    assert "s3://sagemaker-servicecatalog-seedcode-eu-west-1/dataset/abalone-dataset.csv" in readme
    tracked = subprocess.run(
        ["git", "ls-files", "data"], cwd=modelbuild, capture_output=True, text=True, check=True
    ).stdout.split()
    assert tracked == ["data/README.md", "data/abalone.csv"]
    assert "local-run --input-data data/abalone.csv" in (modelbuild / "README.md").read_text()
