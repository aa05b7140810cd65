"""The buildspecs' commands, run as CodeBuild would run them, against moto and the invoke stub.

``aws cloudformation package`` is the one command not run: it needs the AWS CLI and only copies
this template (it has no local artifacts to upload).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import (
    BUILD_BUCKET,
    ENDPOINT,
    SLUG,
    checkout,
    create_endpoint,
    deploy_build,
    load_buildspec,
    read_json,
    run_command,
    write_json,
)


def test_deploy_buildspec_builds_and_exports_the_three_files(moto_url: str, tmp_path: Path) -> None:
    approved, env = deploy_build(moto_url, tmp_path)
    spec = load_buildspec("buildspec.yml")
    commands = spec["phases"]["build"]["commands"]

    result = run_command(commands[0], checkout(tmp_path), env)

    assert result.returncode == 0, result.stderr
    assert "--template endpoint-config-template.yml" in commands[1]
    assert '--output-template "$EXPORT_TEMPLATE_NAME"' in commands[1]
    assert spec["artifacts"]["files"] == [
        "$EXPORT_TEMPLATE_NAME",
        "$EXPORT_TEMPLATE_STAGING_CONFIG",
        "$EXPORT_TEMPLATE_PROD_CONFIG",
    ]
    staging = read_json(tmp_path / "staging-config-export.json")
    assert staging["Parameters"]["ModelPackageArn"] == approved
    assert staging["Parameters"]["DataCaptureDestinationS3Uri"].startswith(f"s3://{BUILD_BUCKET}/")
    assert read_json(tmp_path / "prod-config-export.json")["Tags"]["source-commit"] == "feedface"


@pytest.mark.parametrize("build_config", [None, "renamed-export.json"])
def test_staging_test_buildspec_reads_the_build_artifact(
    moto_url: str, runtime_endpoint_url: str, tmp_path: Path, build_config: str | None
) -> None:
    create_endpoint(moto_url)
    artifact = tmp_path / "BuildArtifact"
    artifact.mkdir()
    write_json(
        artifact / (build_config or "staging-config-export.json"),
        {"Parameters": {"EndpointName": ENDPOINT}},
    )
    spec = load_buildspec("test/buildspec.yml")
    # BUILD_CONFIG is optional: unset, the export's default name is used.
    env = {
        "AWS_ENDPOINT_URL": moto_url,
        "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": runtime_endpoint_url,
        "CODEBUILD_SRC_DIR_BuildArtifact": str(artifact),
        "EXPORT_TEST_RESULTS": str(tmp_path / "test-results.json"),
    } | ({"BUILD_CONFIG": build_config} if build_config else {})

    (command,) = spec["phases"]["build"]["commands"]
    result = run_command(command, checkout(tmp_path), env)

    assert result.returncode == 0, result.stdout + result.stderr
    assert read_json(tmp_path / "test-results.json")["endpoint_name"] == f"{SLUG}-staging"
    assert spec["artifacts"]["files"] == ["$EXPORT_TEST_RESULTS"]
