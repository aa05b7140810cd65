"""The buildspecs of a batch (or both) deployment, run as CodeBuild would run them, against moto.

``aws cloudformation package`` is not run (it needs the AWS CLI): the templates have no local
artifacts, so it only rewrites them, as JSON with ``--use-json``; the test does that with
cfn-lint's parser. jq runs as in CodeBuild's standard image.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
from pathlib import Path

import boto3
import pytest
from cfnlint.decode import decode

from helpers import (
    BUILD_BUCKET,
    REGION,
    REPO_ROOT,
    ROLE_ARN,
    SLUG,
    checkout,
    constraint_violations,
    deploy_build,
    load_buildspec,
    read_json,
    run_command,
    write_json,
)

PACKAGE = "aws cloudformation package"
BOTH = (REPO_ROOT / "merge-templates.jq").exists()

pytestmark = pytest.mark.skipif(shutil.which("jq") is None, reason="CodeBuild's image has jq")


def package(command: str, root: Path, env: dict[str, str]) -> None:
    """What `aws cloudformation package` writes for a template without local artifacts."""
    words = [
        re.sub(r"\$\{?(\w+)\}?", lambda match: env[match.group(1)], word)
        for word in shlex.split(command)
    ]
    source = root / words[words.index("--template") + 1]
    output = root / words[words.index("--output-template") + 1]  # an absolute path stays one
    document, matches = decode(str(source))
    assert document is not None, matches
    if "--use-json" in words:
        output.write_text(json.dumps(document, indent=2), encoding="utf-8")
    else:
        shutil.copyfile(source, output)


def test_deploy_buildspec_writes_valid_configurations_of_the_stage_template(
    moto_url: str, tmp_path: Path
) -> None:
    approved, env = deploy_build(moto_url, tmp_path)
    spec = load_buildspec("buildspec.yml")
    root = checkout(tmp_path)
    for command in spec["phases"]["build"]["commands"]:
        if command.startswith(PACKAGE):
            package(command, root, env)
            continue
        result = run_command(command, root, env)
        assert result.returncode == 0, f"{command}\n{result.stderr}"

    assert spec["artifacts"]["files"] == [
        "$EXPORT_TEMPLATE_NAME",
        "$EXPORT_TEMPLATE_STAGING_CONFIG",
        "$EXPORT_TEMPLATE_PROD_CONFIG",
    ]
    template, matches = decode(str(tmp_path / "template-export.yml"))
    assert template is not None, matches
    # What CreateStack takes as a body (both: the merge is written compact to stay under it).
    assert (tmp_path / "template-export.yml").stat().st_size <= 51_200
    assert ("Endpoint" in template["Resources"]) == BOTH
    assert "TransformPipeline" in template["Resources"]
    for stage in ("staging", "prod"):
        config = read_json(tmp_path / f"{stage}-config-export.json")
        assert constraint_violations(template, config["Parameters"]) == []
        assert config["Parameters"]["BatchName"] == f"{SLUG}-{stage}-batch"
        assert config["Parameters"]["ArtifactBucket"] == BUILD_BUCKET
        assert config["Parameters"]["ModelPackageArn"] == approved
        assert config["Tags"]["source-commit"] == "feedface"


def test_staging_test_buildspec_runs_the_batch_test_on_the_build_artifact(
    moto_url: str, tmp_path: Path
) -> None:
    """The commands reach the staging pipeline named in the export. moto runs no transform (its
    executions succeed at once and write nothing), so the batch test finds no predictions."""
    s3 = boto3.client("s3", region_name=REGION, endpoint_url=moto_url)
    s3.create_bucket(Bucket=BUILD_BUCKET)
    boto3.client("sagemaker", region_name=REGION, endpoint_url=moto_url).create_pipeline(
        PipelineName=f"{SLUG}-staging-batch",
        PipelineDefinition=json.dumps({"Version": "2020-12-01", "Steps": []}),
        RoleArn=ROLE_ARN,
    )
    artifact = tmp_path / "BuildArtifact"
    artifact.mkdir()
    parameters = {
        "BatchName": f"{SLUG}-staging-batch",
        "ArtifactBucket": BUILD_BUCKET,
        "ProjectSlug": SLUG,
        "StageName": "staging",
    }
    write_json(artifact / "staging-config-export.json", {"Parameters": parameters})
    spec = load_buildspec("test/buildspec.yml")
    commands = spec["phases"]["build"]["commands"]
    env = {
        "AWS_ENDPOINT_URL": moto_url,
        "CODEBUILD_SRC_DIR_BuildArtifact": str(artifact),
        # Relative, as the CodeBuild project sets it: both writes batch-<this> beside it.
        "EXPORT_TEST_RESULTS": "test-results.json",
    }
    batch = commands[-1]
    assert batch.startswith("python test/batch_test.py")
    assert len(commands) == (2 if BOTH else 1)
    root = checkout(tmp_path)
    result = run_command(f"{batch} --poll-seconds 0.1", root, env)

    assert result.returncode == 1, result.stdout + result.stderr
    results_file = "batch-test-results.json" if BOTH else "test-results.json"
    checks = {c["name"]: c for c in read_json(root / results_file)["checks"]}
    assert checks["transform"]["passed"] is True
    assert "NoSuchKey" in checks["aws"]["detail"]
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUILD_BUCKET)["Contents"]]
    assert [k.rsplit("/", 1)[1] for k in keys] == ["sample.csv"]
    assert keys[0].startswith(f"{SLUG}/batch/staging/input/staging-test-")
