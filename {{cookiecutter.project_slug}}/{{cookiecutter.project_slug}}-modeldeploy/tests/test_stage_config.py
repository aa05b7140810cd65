"""Validation of project.json and the checked-in stage configurations."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from helpers import PROJECT, REPO_ROOT, read_json, write_json
from stage_config import ConfigError, load_project, load_stage_config


@pytest.mark.parametrize("stage", ["staging", "prod"])
def test_shipped_stage_configs_are_valid(stage: str) -> None:
    config = load_stage_config(REPO_ROOT / f"{stage}-config.json", stage)

    assert config.parameters["StageName"] == stage


def _stage_file(tmp_path: Path, stage: str, **changes: str | int) -> Path:
    data = read_json(REPO_ROOT / f"{stage}-config.json")
    data["Parameters"].update(changes)
    return write_json(tmp_path / f"{stage}.json", data)


@pytest.mark.parametrize(
    ("stage", "changes", "expected"),
    [
        (
            "staging",
            {"EndpointInstanceCount": "0"},
            "EndpointInstanceCount = '0' is invalid: expected a whole number from 1 to 20",
        ),
        (
            "staging",
            {"DataCaptureSamplingPercentage": "101"},
            "DataCaptureSamplingPercentage = '101' is invalid: expected a whole number from 0",
        ),
        ("staging", {"EndpointInstanceType": "m5.large"}, "an instance type such as ml.m5.large"),
        ("staging", {"EnableAutoScaling": "yes"}, '"true" or "false"'),
        ("staging", {"EndpointInstanceCount": 1}, "must be a string"),
        ("staging", {"StageName": "prod"}, "configures the 'staging' stage"),
        ("staging", {"Extra": "1"}, "unknown keys Extra"),
        ("prod", {"AutoScalingMinCapacity": "5"}, "is above AutoScalingMaxCapacity (4)"),
        ("prod", {"EndpointInstanceCount": "1"}, "must lie between AutoScalingMinCapacity"),
        ("prod", {"DataCaptureKmsKeyId": "my key"}, "a KMS key id, a key or alias ARN"),
    ],
)
def test_invalid_stage_values_name_file_field_and_rule(
    tmp_path: Path, stage: str, changes: dict[str, str], expected: str
) -> None:
    path = _stage_file(tmp_path, stage, **changes)

    with pytest.raises(ConfigError) as raised:
        load_stage_config(path, stage)

    assert str(path) in str(raised.value)
    assert expected in str(raised.value)


def test_build_owned_tags_cannot_be_set_in_a_stage_config(tmp_path: Path) -> None:
    data = read_json(REPO_ROOT / "prod-config.json")
    data["Tags"] = {"cost-center": "1234", "owner": "someone-else"}
    path = write_json(tmp_path / "prod.json", data)

    with pytest.raises(ConfigError, match=r"Tags.owner is set by build.py"):
        load_stage_config(path, "prod")


def test_extra_tags_are_kept(tmp_path: Path) -> None:
    data = read_json(REPO_ROOT / "prod-config.json")
    data["Tags"] = {"cost-center": "1234"}

    config = load_stage_config(write_json(tmp_path / "prod.json", data), "prod")

    assert config.tags == {"cost-center": "1234"}


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"project_slug": "Bad_Slug"}, "project_slug = 'Bad_Slug' is invalid"),
        ({"project_slug": "a" * 56}, "at most 55"),
        ({"owner_team": "team#1"}, "owner_team = 'team#1' is invalid"),
        ({"aws_region": "Virginia"}, "aws_region = 'Virginia' is invalid"),
        ({"model_package_group_name": ""}, "'model_package_group_name' must be a non-empty string"),
    ],
)
def test_invalid_project_settings_are_named(
    tmp_path: Path, changes: dict[str, str], expected: str
) -> None:
    path = write_json(tmp_path / "project.json", PROJECT | changes)

    with pytest.raises(ConfigError, match=re.escape(expected)):
        load_project(path)


def test_unrendered_or_broken_project_file_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "project.json"
    # An unrendered template line; built from parts so this file holds no template syntax itself.
    path.write_text("{" * 2 + " project_slug " + "}" * 2, encoding="utf-8")

    with pytest.raises(ConfigError, match="not valid JSON"):
        load_project(path)
