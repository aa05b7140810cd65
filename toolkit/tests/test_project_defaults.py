"""The project's [tool.mlops-toolkit] defaults, and a group's first run."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops_toolkit.config import load_config
from mlops_toolkit.errors import LocalRunError
from mlops_toolkit.runner.first_run import first_run_overrides


def write_pyproject(folder: Path, table: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pyproject.toml").write_text(
        f'[project]\nname = "x"\n\n[tool.mlops-toolkit]\n{table}'
    )


def test_the_nearest_pyproject_above_the_working_directory_is_read(tmp_path):
    write_pyproject(
        tmp_path,
        'pipeline = "pkg.pipe:make"\nregion = "eu-west-1"\ntags = { team = "a" }\n'
        'local-dir = "cache"\n',
    )
    nested = tmp_path / "src" / "pkg"
    nested.mkdir(parents=True)

    config = load_config(nested)

    assert config.root == tmp_path
    assert config.pipeline == "pkg.pipe:make" and config.region == "eu-west-1"
    assert config.tag_list == [{"Key": "team", "Value": "a"}]
    assert config.state_dir == tmp_path / "cache" / "stand-in"


def test_no_pyproject_means_no_defaults(tmp_path):
    config = load_config(tmp_path)
    assert config.pipeline is None and config.tags == {} and config.root == tmp_path.resolve()


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('pipelines = "a:b"\n', "unknown key 'pipelines'"),
        ("region = 3\n", "region must be a str, not int"),
        ("tags = { team = 1 }\n", "tags ['team'] must have string values"),
        ("region = \n", "is not valid TOML"),
    ],
)
def test_a_bad_table_names_the_key_and_the_rule(tmp_path, table, message):
    write_pyproject(tmp_path, table)
    with pytest.raises(LocalRunError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_config(tmp_path)


CHECK = {
    "Name": "CheckData",
    "Type": "QualityCheck",
    "CheckType": "DATA_QUALITY",
    "SkipCheck": {"Get": "Parameters.SkipIt"},
    "RegisterNewBaseline": {"Get": "Parameters.NewBaseline"},
    "ModelPackageGroupName": {"Get": "Parameters.Group"},
    "Arguments": {},
}
DEFINITION = {"Parameters": [], "Steps": [CHECK]}


def test_a_first_run_sets_the_parameters_the_check_reads(stand_in, account):
    client = stand_in.client("sagemaker")
    found = first_run_overrides(DEFINITION, {"Group": "no-such-group"}, set(), client)
    assert found == {"SkipIt": "true", "NewBaseline": "true"}


def test_the_users_own_values_and_fixed_fields_are_left_alone(stand_in, account):
    client = stand_in.client("sagemaker")
    assert first_run_overrides(DEFINITION, {"Group": "g"}, {"SkipIt"}, client) == {}
    fixed = {**CHECK, "SkipCheck": False}
    assert first_run_overrides({"Steps": [fixed]}, {"Group": "g"}, set(), client) == {}


def test_a_group_with_an_approved_baseline_is_no_first_run(stand_in, account):
    client = stand_in.client("sagemaker")
    client.create_model_package_group(ModelPackageGroupName="has-baseline")
    client.create_model_package(
        ModelPackageGroupName="has-baseline",
        ModelApprovalStatus="Approved",
        InferenceSpecification={
            "Containers": [{"Image": "i", "ModelDataUrl": f"s3://{account.bucket}/m.tar.gz"}],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
        DriftCheckBaselines={
            "ModelDataQuality": {
                "Statistics": {"ContentType": "application/json", "S3Uri": "s3://b/s.json"}
            }
        },
    )
    assert first_run_overrides(DEFINITION, {"Group": "has-baseline"}, set(), client) == {}
