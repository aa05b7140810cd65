"""checkov over every CloudFormation template a generated project contains, once per training
framework: no failed check, every file parsed and checked, and every skipped check carries its
reason next to its resource and is still needed (the templates fail it once the skips are removed).

Today the templates do not depend on the framework (the deploy repository is the same for all
three), so the three scans read identical files; each framework is still scanned, so that a
template one of them adds or changes is checked the day it appears.

checkov lives in its own virtualenv, .venv-tools (`make tools`; `make test` creates it): its
boto3/botocore pins would downgrade the SageMaker SDK's in .venv.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import decode
from conftest import TEMPLATE_DIR, render_project

CHECKOV = TEMPLATE_DIR / ".venv-tools" / "bin" / "checkov"
FRAMEWORKS = tuple(json.loads((TEMPLATE_DIR / "cookiecutter.json").read_text())["framework"])
TEMPLATE_SUFFIXES = {".yml", ".yaml", ".json", ".template"}
# Templates that must be found: if detection misses them, the scan would pass without them.
EXPECTED_TEMPLATES = ("modeldeploy/endpoint-config-template.yml", "modeldeploy/cicd/cicd-stack.yml")
# Settings that would make checkov call Prisma Cloud or change which checks run.
CHECKOV_SETTINGS_PREFIXES = ("BC_", "PRISMA_", "CKV_", "CHECKOV_")


@dataclass(frozen=True)
class Skip:
    template: str
    resource: str
    check_id: str
    comment: str


@dataclass(frozen=True)
class Scan:
    project: Path
    templates: tuple[str, ...]
    report: dict[str, Any]
    # The same templates with every `Metadata: checkov:` removed.
    unskipped_report: dict[str, Any]

    def results(self, kind: str) -> list[dict[str, Any]]:
        return self.report["results"][kind]


def checkov_executable() -> Path:
    if not os.access(CHECKOV, os.X_OK):
        pytest.fail(
            f"checkov is not installed at {CHECKOV}. Create its virtualenv with `make tools` "
            f"(python3 -m venv .venv-tools && .venv-tools/bin/pip install -r "
            f"requirements-tools.txt), then run the tests again.",
            pytrace=False,
        )
    return CHECKOV


def is_cloudformation(path: Path) -> bool:
    document, _ = decode(str(path))
    return isinstance(document, dict) and (
        "AWSTemplateFormatVersion" in document or isinstance(document.get("Resources"), dict)
    )


def cloudformation_templates(project: Path) -> tuple[str, ...]:
    """Every CloudFormation template in the generated repositories, relative to the project."""
    return tuple(
        sorted(
            path.relative_to(project).as_posix()
            for path in project.rglob("*")
            if path.suffix in TEMPLATE_SUFFIXES
            and ".git" not in path.relative_to(project).parts
            and path.is_file()
            and is_cloudformation(path)
        )
    )


def run_checkov(project: Path, templates: tuple[str, ...]) -> dict[str, Any]:
    files = [argument for template in templates for argument in ("--file", template)]
    env = {k: v for k, v in os.environ.items() if not k.startswith(CHECKOV_SETTINGS_PREFIXES)}
    result = subprocess.run(
        [str(checkov_executable()), "--framework", "cloudformation", "--output", "json"]
        + ["--skip-download", *files],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    # checkov exits 1 when a check fails; anything else means it did not finish the scan.
    assert result.returncode in (0, 1), result.stdout[-2000:] + result.stderr[-4000:]
    reports = json.loads(result.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    (report,) = (r for r in reports if r.get("check_type") == "cloudformation")
    return report


def declared_skips(project: Path, templates: tuple[str, ...]) -> list[Skip]:
    """The `Metadata: checkov: skip:` entries of every resource in the templates."""
    skips = []
    for template in templates:
        document, _ = decode(str(project / template))
        for name, resource in document.get("Resources", {}).items():
            entries = resource.get("Metadata", {}).get("checkov", {}).get("skip", [])
            for entry in entries:
                comment = entry.get("comment")
                skips.append(
                    Skip(template, name, entry["id"], comment if isinstance(comment, str) else "")
                )
    return skips


def copy_without_skips(project: Path, templates: tuple[str, ...], destination: Path) -> Path:
    """The templates, as JSON under their own names, with no resource's checkov metadata."""
    for template in templates:
        document, _ = decode(str(project / template))
        for resource in document.get("Resources", {}).values():
            resource.get("Metadata", {}).pop("checkov", None)
        target = destination / template
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(document), encoding="utf-8")
    return destination


def reported_file(check: dict[str, Any]) -> str:
    return check["file_path"].lstrip("/")


def describe(check: dict[str, Any]) -> str:
    return f"{check['check_id']} {reported_file(check)} {check['resource']}: {check['check_name']}"


def check_key(check: dict[str, Any]) -> tuple[str, str, str]:
    """(template, logical resource id, check id) of a checkov result."""
    return reported_file(check), check["resource"].rsplit(".", 1)[1], check["check_id"]


@pytest.fixture(scope="module", params=FRAMEWORKS)
def scan(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Scan:
    project = render_project(tmp_path_factory.mktemp(request.param), framework=request.param)
    templates = cloudformation_templates(project)
    unskipped = copy_without_skips(project, templates, tmp_path_factory.mktemp("unskipped"))
    return Scan(
        project, templates, run_checkov(project, templates), run_checkov(unskipped, templates)
    )


def test_every_expected_template_is_scanned(scan: Scan) -> None:
    slug = scan.project.name
    for expected in EXPECTED_TEMPLATES:
        assert f"{slug}-{expected}" in scan.templates, scan.templates


def test_checkov_parses_every_template_and_runs_checks_on_each(scan: Scan) -> None:
    summary = scan.report["summary"]
    passed = Counter(reported_file(check) for check in scan.results("passed_checks"))

    assert summary["parsing_errors"] == 0, scan.results("parsing_errors")
    assert summary["resource_count"] > 0
    for template in scan.templates:
        assert passed[template] > 0, f"checkov ran no passing check on {template}"


def test_no_check_fails(scan: Scan) -> None:
    failed = [describe(check) for check in scan.results("failed_checks")]

    assert failed == [], "fix these in the template, or skip one with its reason:\n" + "\n".join(
        failed
    )


def test_every_skip_in_a_template_gives_its_reason(scan: Scan) -> None:
    unexplained = [
        skip for skip in declared_skips(scan.project, scan.templates) if not skip.comment.strip()
    ]

    assert unexplained == [], "add a comment saying why to each of these checkov skips"


def test_checkov_skips_exactly_the_checks_the_templates_skip(scan: Scan) -> None:
    declared = {
        (skip.template, skip.resource, skip.check_id): skip.comment.strip()
        for skip in declared_skips(scan.project, scan.templates)
    }
    reported = {
        check_key(check): check["check_result"]["suppress_comment"]
        for check in scan.results("skipped_checks")
    }

    assert reported == declared


def test_every_skip_is_still_needed(scan: Scan) -> None:
    declared = {
        (skip.template, skip.resource, skip.check_id)
        for skip in declared_skips(scan.project, scan.templates)
    }
    failing_unskipped = {
        check_key(check) for check in scan.unskipped_report["results"]["failed_checks"]
    }

    # A skip of a check the resource now passes hides the next regression: remove it.
    assert failing_unskipped == declared
