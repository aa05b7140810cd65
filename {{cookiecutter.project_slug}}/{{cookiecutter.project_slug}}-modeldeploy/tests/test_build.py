"""build.py against the model registry in moto: which version it picks and what it writes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
from botocore.stub import ANY, Stubber

import build
from helpers import (
    ACCOUNT,
    BUCKET,
    COMMIT,
    GROUP,
    REGION,
    REPO_ROOT,
    ROLE_ARN,
    SLUG,
    Registry,
    build_argv,
    read_json,
)
from model_registry import iter_versions, select_version


def test_picks_the_newest_approved_version(
    registry: Registry, tmp_path: Path, project_file: Path
) -> None:
    registry.create_group()
    registry.add_version("Approved")
    newest_approved = registry.add_version("Approved")
    registry.add_version("PendingManualApproval")

    assert build.main(build_argv(tmp_path, project_file)) == 0

    for stage in ("staging", "prod"):
        export = read_json(tmp_path / f"{stage}-export.json")
        assert export["Parameters"]["ModelPackageArn"] == newest_approved
        assert export["Parameters"]["ModelPackageVersion"] == "2"
        assert export["Tags"]["model-package-version"] == "2"


def test_rejected_versions_are_never_deployed(
    registry: Registry, tmp_path: Path, project_file: Path
) -> None:
    registry.create_group()
    approved = registry.add_version("Approved")
    registry.add_version("Rejected")

    assert build.main(build_argv(tmp_path, project_file)) == 0

    assert read_json(tmp_path / "prod-export.json")["Parameters"]["ModelPackageArn"] == approved


def test_exports_carry_project_stage_and_account_values(
    registry: Registry, tmp_path: Path, project_file: Path
) -> None:
    registry.create_group()
    arn = registry.add_version("Approved")

    assert build.main(build_argv(tmp_path, project_file)) == 0

    staging = read_json(tmp_path / "staging-export.json")
    prod = read_json(tmp_path / "prod-export.json")
    assert staging["Parameters"]["ModelPackageArn"] == arn
    for stage, export in (("staging", staging), ("prod", prod)):
        parameters = export["Parameters"]
        assert parameters["EndpointName"] == f"{SLUG}-{stage}"
        assert parameters["StageName"] == stage
        assert parameters["ModelExecutionRoleArn"] == ROLE_ARN
        assert (
            parameters["DataCaptureDestinationS3Uri"] == f"s3://{BUCKET}/{SLUG}/datacapture/{stage}"
        )
        assert parameters["SourceCommit"] == COMMIT
        assert export["Tags"] == {
            "project": SLUG,
            "stage": stage,
            "owner": "ml-platform",
            "model-package-version": "1",
            "source-commit": COMMIT,
        }
    # Stage settings come through from the checked-in staging-config.json / prod-config.json.
    assert staging["Parameters"]["EndpointInstanceCount"] == "1"
    assert staging["Parameters"]["DataCaptureSamplingPercentage"] == "100"
    assert staging["Parameters"]["EnableAutoScaling"] == "false"
    assert prod["Parameters"]["EndpointInstanceCount"] == "2"
    assert prod["Parameters"]["DataCaptureSamplingPercentage"] == "20"
    assert prod["Parameters"]["EnableAutoScaling"] == "true"


def test_no_approved_version_exits_2_with_the_approval_command(
    registry: Registry, tmp_path: Path, project_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    registry.create_group()
    registry.add_version("Rejected")
    pending = registry.add_version("PendingManualApproval")

    assert build.main(build_argv(tmp_path, project_file)) == 2

    message = capsys.readouterr().err
    assert f"No Approved model version in model package group '{GROUP}'" in message
    assert (
        f"aws sagemaker update-model-package --model-package-arn {pending} "
        "--model-approval-status Approved" in message
    )
    assert "SageMaker Studio" in message
    assert not (tmp_path / "staging-export.json").exists()


def test_empty_group_says_to_run_the_build_pipeline(
    registry: Registry, tmp_path: Path, project_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    registry.create_group()

    assert build.main(build_argv(tmp_path, project_file)) == 2

    assert "has no model versions yet. Run the model-build pipeline" in capsys.readouterr().err


def test_unknown_group_is_a_clear_message(
    registry: Registry, tmp_path: Path, project_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = build_argv(tmp_path, project_file, "--model-package-group-name", "no-such-group")

    assert build.main(argv) == 1

    message = capsys.readouterr().err
    assert "Model package group 'no-such-group' was not found in region us-east-1" in message
    assert "SOURCE_MODEL_PACKAGE_GROUP_NAME" in message


def test_pinned_version_found_beyond_the_first_page(
    registry: Registry, tmp_path: Path, project_file: Path
) -> None:
    registry.create_group()
    oldest = registry.add_version("Approved")
    for _ in range(4):
        registry.add_version("Approved")

    argv = build_argv(tmp_path, project_file, "--model-package-version", "1", "--page-size", "2")
    assert build.main(argv) == 0

    assert read_json(tmp_path / "staging-export.json")["Parameters"]["ModelPackageArn"] == oldest


def test_pagination_walks_every_page(registry: Registry) -> None:
    registry.create_group()
    arns = [registry.add_version("Approved") for _ in range(5)]
    requests: list[dict] = []

    def record(params: dict, **_kwargs: object) -> None:
        requests.append(params)

    registry.client.meta.events.register(
        "provide-client-params.sagemaker.ListModelPackages", record
    )

    listed = [version.arn for version in iter_versions(registry.client, GROUP, 2, "Approved")]

    assert listed == arns[::-1]
    assert len(requests) == 3
    assert all(request["MaxResults"] == 2 for request in requests)


def test_pinned_version_that_is_not_approved_lists_the_approved_ones(
    registry: Registry, tmp_path: Path, project_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    registry.create_group()
    registry.add_version("Approved")
    registry.add_version("Rejected")

    argv = build_argv(tmp_path, project_file, "--model-package-version", "2", "--page-size", "1")
    assert build.main(argv) == 2

    message = capsys.readouterr().err
    assert "Version 2 of model package group" in message
    assert "Approved versions, newest first: 1." in message


def test_empty_first_page_with_a_token_is_not_the_end() -> None:
    # SageMaker may return an empty filtered page that still carries a NextToken.
    client = boto3.client("sagemaker", region_name=REGION)
    arn = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/{GROUP}/7"
    group_arn = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package-group/{GROUP}"
    query = {
        "ModelPackageGroupName": GROUP,
        "ModelApprovalStatus": "Approved",
        "SortBy": "CreationTime",
        "SortOrder": "Descending",
        "MaxResults": 100,
    }
    with Stubber(client) as stubber:
        stubber.add_response(
            "describe_model_package_group",
            {
                "ModelPackageGroupName": GROUP,
                "ModelPackageGroupArn": group_arn,
                "CreationTime": "2026-01-01T00:00:00Z",
                "CreatedBy": {},
                "ModelPackageGroupStatus": "Completed",
            },
            {"ModelPackageGroupName": GROUP},
        )
        stubber.add_response(
            "list_model_packages", {"ModelPackageSummaryList": [], "NextToken": "page-2"}, query
        )
        stubber.add_response(
            "list_model_packages",
            {
                "ModelPackageSummaryList": [
                    {
                        "ModelPackageArn": arn,
                        "ModelPackageGroupName": GROUP,
                        "ModelPackageVersion": 7,
                        "CreationTime": "2026-01-02T00:00:00Z",
                        "ModelPackageStatus": "Completed",
                        "ModelApprovalStatus": "Approved",
                    }
                ]
            },
            query | {"NextToken": ANY},
        )

        chosen = select_version(client, GROUP, REGION, None, 100)

    assert (chosen.arn, chosen.version) == (arn, 7)


def test_environment_variables_configure_the_build(
    registry: Registry, tmp_path: Path, project_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = Registry(registry.client, "other-group")
    other.create_group()
    arn = other.add_version("Approved")
    monkeypatch.setenv("SOURCE_MODEL_PACKAGE_GROUP_NAME", "other-group")
    monkeypatch.setenv("MODEL_EXECUTION_ROLE_ARN", ROLE_ARN)
    monkeypatch.setenv("ARTIFACT_BUCKET", BUCKET)
    monkeypatch.setenv("EXPORT_TEMPLATE_STAGING_CONFIG", str(tmp_path / "s.json"))
    monkeypatch.setenv("EXPORT_TEMPLATE_PROD_CONFIG", str(tmp_path / "p.json"))
    monkeypatch.setenv("CODEBUILD_RESOLVED_SOURCE_VERSION", "abc1234")

    assert build.main(["--project-file", str(project_file)]) == 0

    staging = read_json(tmp_path / "s.json")
    assert staging["Parameters"]["ModelPackageArn"] == arn
    assert staging["Tags"]["source-commit"] == "abc1234"
    assert read_json(tmp_path / "p.json")["Parameters"]["StageName"] == "prod"


def test_missing_required_setting_names_variable_and_flag(
    tmp_path: Path, project_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert build.main(["--project-file", str(project_file), "--artifact-bucket", BUCKET]) == 1

    message = capsys.readouterr().err
    assert "MODEL_EXECUTION_ROLE_ARN is not set" in message
    assert "--model-execution-role-arn" in message


def test_bucket_given_as_uri_is_rejected_before_any_aws_call(
    tmp_path: Path, project_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = build_argv(tmp_path, project_file, "--artifact-bucket", f"s3://{BUCKET}")

    assert build.main(argv) == 1

    assert "artifact bucket (ARTIFACT_BUCKET / --artifact-bucket)" in capsys.readouterr().err


def test_non_commit_source_version_is_tagged_unknown(capsys: pytest.CaptureFixture[str]) -> None:
    assert build.resolve_source_commit("arn:aws:s3:::bucket/key") == "unknown"
    assert "not a git commit id" in capsys.readouterr().err
    assert build.resolve_source_commit(COMMIT) == COMMIT


def test_source_commit_falls_back_to_git_head(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "x"], check=True)
    head = subprocess.run(
        [*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True
    ).stdout.strip()

    assert build.resolve_source_commit(None, repo) == head
    assert build.resolve_source_commit(None, tmp_path / "not-a-repo") == "unknown"


def _script_env(tmp_path: Path) -> dict[str, str]:
    return {
        "PATH": os.environ["PATH"],
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "PYTHONDONTWRITEBYTECODE": "1",
    }


def test_no_credentials_is_a_message_not_a_traceback(tmp_path: Path, project_file: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "build.py"), *build_argv(tmp_path, project_file)],
        env=_script_env(tmp_path),
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 1
    assert "no AWS credentials found" in result.stderr
    assert "Traceback" not in result.stderr


def test_help_documents_environment_and_exit_codes(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "build.py"), "--help"],
        env=_script_env(tmp_path),
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 0
    for variable in (
        "SOURCE_MODEL_PACKAGE_GROUP_NAME",
        "MODEL_EXECUTION_ROLE_ARN",
        "ARTIFACT_BUCKET",
        "EXPORT_TEMPLATE_STAGING_CONFIG",
        "EXPORT_TEMPLATE_PROD_CONFIG",
    ):
        assert variable in result.stdout
    assert "2 no Approved model version" in result.stdout
