"""Region support: region_support.json is rebuilt from the pinned libraries and the rendered
project, and the answer check refuses a region lacking anything the project uses."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conftest import TEMPLATE_DIR

from mlops_template import region_support, regions, validation
from mlops_template.frameworks import FRAMEWORKS
from mlops_template.region_support import RegionDataError

BASE_ANSWERS = {
    "project_name": "Region Check",
    "project_slug": "region-check",
    "description": "",
    "aws_region": "us-east-1",
    "pipeline_name": "region-check",
    "model_package_group_name": "region-check",
    "framework": "xgboost",
    "processing_instance_type": "ml.m5.xlarge",
    "training_instance_type": "ml.m5.xlarge",
    "mse_threshold": "6.0",
    "model_approval_status": "PendingManualApproval",
    "owner_team": "ml-platform",
    "bootstrap_aws": "no",
    "hyperparameter_tuning": "no",
    "deployment": "realtime",
    "batch_schedule": "cron(0 2 * * ? *)",
    "git_host": "codecommit",
    "ci": "codepipeline",
    "git_owner": "",
    "modelbuild_repository": "region-check-modelbuild",
    "modeldeploy_repository": "region-check-modeldeploy",
}


def region_problems(region: str, framework: str | None = "xgboost") -> list[str]:
    answers = {**BASE_ANSWERS, "aws_region": region, "framework": framework}
    if framework is None:
        del answers["framework"]
    return [
        str(problem)
        for problem in validation.validate_answers(answers)
        if problem.field == "aws_region"
    ]


# --- the data file -------------------------------------------------------------------------


def test_region_data_is_current_with_the_template_and_the_pinned_libraries(tmp_path: Path) -> None:
    # A new resource type in a template, a new image, a new boto3 client or a library upgrade
    # changes this; refresh with `python -m mlops_template.region_support`.
    rebuilt = region_support.build_region_data(tmp_path)
    checked_in = json.loads(regions.DATA_FILE.read_text(encoding="utf-8"))
    assert rebuilt["built_from"] == checked_in["built_from"]
    assert rebuilt["frameworks"] == checked_in["frameworks"]
    assert rebuilt["regions"] == checked_in["regions"]
    assert region_support.render_data(rebuilt) == regions.DATA_FILE.read_text(encoding="utf-8")


def test_every_resource_type_written_in_the_template_tree_is_counted() -> None:
    # A cross-check of the derivation against the raw template files.
    written = set()
    for path in TEMPLATE_DIR.joinpath("{{cookiecutter.project_slug}}").rglob("*.yml"):
        written |= set(re.findall(r"^\s+Type: (AWS::\w+::\w+)\s*$", path.read_text("utf-8"), re.M))
    assert written
    for framework in FRAMEWORKS:
        assert written == regions.needs(framework)["resource_types"], framework


def test_needs_include_the_images_and_services_the_code_uses() -> None:
    every = regions.needs(None)
    assert {"sagemaker-model-monitor-analyzer", "sagemaker-scikit-learn:1.9-0-cpu-py3"} <= (
        every["images"]
    )
    # The bootstrap creates the CodeCommit repositories with boto3, not CloudFormation.
    assert {"codecommit", "cloudformation", "sagemaker", "iam"} <= every["services"]
    assert "sagemaker-xgboost:3.2-0" in regions.needs("xgboost")["images"]
    assert "sagemaker-xgboost:3.2-0" not in regions.needs("sklearn")["images"]
    assert {"pytorch-training:2.10.0-cpu-py313", "pytorch-inference:2.6.0-cpu-py312"} <= (
        regions.needs("pytorch")["images"]
    )


# --- the check, on the real data -------------------------------------------------------------


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_regions_with_everything_are_accepted_and_every_other_is_refused(framework: str) -> None:
    complete = regions.complete_regions(framework)
    assert {"us-east-1", "us-west-2", "eu-west-1", "ap-northeast-1"} <= set(complete)
    slug = {"project_slug": "a", "pipeline_name": "a", "model_package_group_name": "a"}
    for region in sorted(regions.known_regions()):
        answers = {**BASE_ANSWERS, **slug, "aws_region": region, "framework": framework}
        found = [str(problem) for problem in validation.validate_answers(answers)]
        if region in complete:
            assert found == [], region
            continue
        assert len(found) == 1 and found[0].startswith(f"aws_region: '{region}' lacks "), found
        gaps = regions.region_gaps(region, framework)
        named = [*gaps.services, *gaps.images]
        if not gaps.resource_types_unconfirmed:
            named += gaps.resource_types
        assert all(item in found[0] for item in named), (region, found[0])


def test_region_without_model_monitor_resource_types_names_them() -> None:
    (problem,) = region_problems("af-south-1")
    assert (
        "lacks what the project with framework xgboost uses there: "
        "AWS::SageMaker::DataQualityJobDefinition, AWS::SageMaker::MonitoringSchedule "
        "(according to botocore " in problem
    )
    assert "Fix: choose a region with everything, e.g. the nearest by name: " in problem


def test_refusal_names_services_resource_types_and_the_chosen_frameworks_images() -> None:
    (xgboost,) = region_problems("ap-southeast-5", "xgboost")
    assert "service codecommit, AWS::Events::ApiDestination" in xgboost
    assert "AWS::SageMaker::DataQualityJobDefinition" in xgboost
    assert "image sagemaker-xgboost:3.2-0" in xgboost
    assert "image sagemaker-model-monitor-analyzer" in xgboost
    (sklearn,) = region_problems("ap-southeast-5", "sklearn")
    assert "sagemaker-xgboost" not in sklearn and "image sagemaker-scikit-learn" in sklearn
    assert "the nearest by name: ap-southeast-2, ap-southeast-1 or " in xgboost


def test_region_cfn_lint_has_no_list_for_is_refused_as_unconfirmed() -> None:
    gaps = regions.region_gaps("me-south-1", "xgboost")
    assert gaps.resource_types_unconfirmed
    (problem,) = region_problems("me-south-1")
    count = len(gaps.resource_types)
    assert f"types in cfn-lint, so none of the {count} " in problem


def test_partition_without_a_complete_region_points_to_one_elsewhere() -> None:
    (problem,) = region_problems("cn-north-1", "sklearn")
    assert "AWS::SageMaker::DataQualityJobDefinition" in problem
    assert "no region of cn-north-1's partition (aws-cn) has everything" in problem
    assert "e.g. us-east-1, " in problem


def test_nearest_regions_stay_in_the_partition_and_the_area() -> None:
    assert regions.nearest_complete_regions("ap-southeast-5", None)[:2] == [
        "ap-southeast-2",
        "ap-southeast-1",
    ]
    assert regions.nearest_complete_regions("eu-south-2", None)[0].startswith("eu-")
    assert regions.nearest_complete_regions("us-gov-west-1", None) == []


# --- the check, on data made for the case -----------------------------------------------------

FAKE_DATA = {
    "built_from": {"botocore": "1.0", "cfn-lint": "2.0", "sagemaker-core": "3.0"},
    "frameworks": {
        "xgboost": {
            "resource_types": ["AWS::S3::Bucket"],
            "services": ["s3"],
            "images": ["base", "xgb:1"],
        },
        "pytorch": {
            "resource_types": ["AWS::S3::Bucket"],
            "services": ["s3"],
            "images": ["base", "pt:1"],
        },
        "sklearn": {"resource_types": ["AWS::S3::Bucket"], "services": ["s3"], "images": ["base"]},
    },
    "regions": {
        "us-east-1": {"partition": "aws", "resource_types": [], "services": [], "images": []},
        "us-west-2": {
            "partition": "aws",
            "resource_types": [],
            "services": [],
            "images": ["xgb:1"],
        },
        "eu-west-9": {
            "partition": "aws",
            "resource_types": ["AWS::S3::Bucket"],
            "services": ["s3"],
            "images": [],
        },
    },
}


@pytest.fixture
def fake_data(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(regions, "region_data", lambda: FAKE_DATA)


@pytest.mark.usefixtures("fake_data")
def test_only_the_chosen_frameworks_images_count() -> None:
    (problem,) = region_problems("us-west-2", "xgboost")
    assert problem == (
        "aws_region: 'us-west-2' lacks what the project with framework xgboost uses there: "
        "image xgb:1 (according to botocore 1.0, cfn-lint 2.0, sagemaker-core 3.0). "
        "Fix: choose a region with everything, e.g. the nearest by name: us-east-1, "
        "or keep us-west-2 with framework pytorch or sklearn (docs/regions.md lists them all)."
    )
    assert region_problems("us-west-2", "sklearn") == []
    # Copier asks the region before the framework: only what every framework uses counts then.
    assert region_problems("us-west-2", None) == []


@pytest.mark.usefixtures("fake_data")
def test_missing_service_and_resource_type_are_named_before_the_framework_is_known() -> None:
    (problem,) = region_problems("eu-west-9", None)
    assert problem.startswith(
        "aws_region: 'eu-west-9' lacks what the project uses there: service s3, AWS::S3::Bucket "
    )


# --- the generator's parts ----------------------------------------------------------------------


def test_resource_types_come_from_every_cloudformation_file(tmp_path: Path) -> None:
    (tmp_path / "cicd").mkdir()
    (tmp_path / "cicd" / "stack.yml").write_text(
        "Resources:\n"
        "  Bucket:\n    Type: AWS::S3::Bucket\n    Properties:\n      BucketName: !Ref Name\n"
        "  Topic:\n    Type: AWS::SNS::Topic\n"
    )
    (tmp_path / "extra.json").write_text(
        json.dumps({"Resources": {"K": {"Type": "AWS::KMS::Key"}}})
    )
    (tmp_path / "buildspec.yml").write_text("version: 0.2\nphases:\n  build:\n    commands: [ls]\n")
    (tmp_path / "project.json").write_text(json.dumps({"Resources": "not a template"}))
    found = sorted(region_support.template_resource_types(tmp_path))
    assert found == ["AWS::KMS::Key", "AWS::S3::Bucket", "AWS::SNS::Topic"]


def test_services_come_from_the_clients_the_code_creates_outside_unit_tests(tmp_path: Path) -> None:
    (tmp_path / "cicd").mkdir()
    (tmp_path / "cicd" / "repos.py").write_text(
        "def f(ctx, session, boto3):\n"
        "    ctx.aws.client('codecommit').get_repository(repositoryName='x')\n"
        "    session.client(\n        'sagemaker-runtime', config=None)\n"
        "    boto3.client(service_name='sts')\n"
        "    session.client(name_from_elsewhere)\n"
    )
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_x.py").write_text("boto3.client('organizations')\n")
    found = sorted(region_support.client_services(tmp_path))
    assert found == ["codecommit", "sagemaker-runtime", "sts"]


@pytest.mark.parametrize(
    ("resource_type", "service"),
    [
        ("AWS::ApplicationAutoScaling::ScalableTarget", "application-autoscaling"),
        ("AWS::Events::Rule", "events"),
        ("AWS::CloudWatch::Alarm", "cloudwatch"),
        ("AWS::SageMaker::Endpoint", "sagemaker"),
    ],
)
def test_resource_types_map_to_botocore_services(resource_type: str, service: str) -> None:
    assert region_support.botocore_service(resource_type) == service


def test_resource_type_of_no_botocore_service_stops_the_build() -> None:
    with pytest.raises(RegionDataError, match="AWS::NoSuchService::Thing"):
        region_support.botocore_service("AWS::NoSuchService::Thing")


@pytest.mark.parametrize(
    ("service", "region", "offered"),
    [
        ("sagemaker", "us-east-1", True),
        ("iam", "eu-west-1", True),  # one global endpoint per partition
        ("iam", "cn-north-1", True),
        ("codecommit", "ap-southeast-5", False),
        ("sagemaker", "us-iso-west-1", False),
    ],
)
def test_service_availability_follows_botocore(service: str, region: str, offered: bool) -> None:
    assert region_support.service_in(service, region) is offered


def test_region_cfn_lint_does_not_list_is_unconfirmed_not_borrowed_from_us_east_1() -> None:
    types = region_support.cfn_lint_region_types(["us-east-1", "xx-nowhere-1"])
    assert "AWS::S3::Bucket" in types["us-east-1"]
    assert types["xx-nowhere-1"] is None
    needs = region_support.Needs(resource_types={"AWS::S3::Bucket"})
    missing = region_support.missing_in("me-south-1", needs, None)
    assert missing["resource_types"] == ["AWS::S3::Bucket"] and missing["no_cfn_lint_data"]


def test_image_lookup_follows_the_sdk_tables() -> None:
    lookup = region_support.ImageLookup(
        (("framework", "xgboost"), ("version", "3.2-0")), "sagemaker-xgboost:3.2-0"
    )
    assert lookup.available_in("us-east-1")
    assert not lookup.available_in("ap-southeast-5")


def test_definition_images_are_found_wherever_the_steps_put_them() -> None:
    definition = {
        "Steps": [
            {"Arguments": {"AppSpecification": {"ImageUri": "a"}}},
            {"Arguments": {"AlgorithmSpecification": {"TrainingImage": "b"}}},
            {"Arguments": {"InferenceSpecification": {"Containers": [{"Image": "c"}]}}},
        ]
    }
    assert sorted(region_support._image_uris(definition)) == ["a", "b", "c"]


def test_docs_region_table_is_the_datas() -> None:
    text = (TEMPLATE_DIR / "docs" / "regions.md").read_text(encoding="utf-8")
    start = text.index("-->\n", text.index("<!-- region table")) + len("-->\n")
    end = text.index("<!-- end of region table -->")
    assert text[start:end] == regions.summary_table(), "run python -m mlops_template.regions"


def test_docs_example_message_is_the_real_one() -> None:
    text = (TEMPLATE_DIR / "docs" / "regions.md").read_text(encoding="utf-8")
    example = text.split("```\n", 2)[1].split("\n```")[0]
    (problem,) = region_problems("ap-southeast-5", "xgboost")
    assert " ".join(example.split()) == problem
