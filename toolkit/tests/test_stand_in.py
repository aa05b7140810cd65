"""One command, one shell: local-run starts its own AWS stand-in and keeps what it held."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from mlops_toolkit import stand_in_state
from mlops_toolkit.runner import cli
from mlops_toolkit.stand_in import EmbeddedAws

TESTS = Path(__file__).parent
GROUP = "kept-models"


def _register(client, bucket: str, status: str) -> str:
    container = {
        "Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/serve:1",
        "ModelDataUrl": f"s3://{bucket}/model.tar.gz",
    }
    return client.create_model_package(
        ModelPackageGroupName=GROUP,
        ModelApprovalStatus=status,
        InferenceSpecification={
            "Containers": [container],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["application/json"],
        },
        DriftCheckBaselines={
            "ModelDataQuality": {
                "Statistics": {
                    "ContentType": "application/json",
                    "S3Uri": f"s3://{bucket}/baseline/statistics.json",
                }
            }
        },
    )["ModelPackageArn"]


def _versions(client) -> list[tuple[str, str]]:
    listed = client.list_model_packages(ModelPackageGroupName=GROUP, SortBy="CreationTime")
    return [
        (item["ModelPackageArn"], item["ModelApprovalStatus"])
        for item in listed["ModelPackageSummaryList"]
    ]


def test_saved_state_comes_back_with_the_same_versions_objects_and_tags(tmp_path):
    with EmbeddedAws("us-east-1", "kept-bucket", "kept-role") as aws:
        aws.reset()
        provisioned = aws.provision()
        sagemaker, s3 = aws.client("sagemaker"), aws.client("s3")
        tags = [{"Key": "project", "Value": "kept"}]
        sagemaker.create_model_package_group(ModelPackageGroupName=GROUP, Tags=tags)
        _register(sagemaker, provisioned.bucket, "Approved")
        _register(sagemaker, provisioned.bucket, "PendingManualApproval")
        s3.put_object(Bucket=provisioned.bucket, Key="baseline/statistics.json", Body=b'{"a": 1}')
        before = _versions(sagemaker)
        stand_in_state.save(aws.session(), tmp_path)

        aws.reset()
        aws.provision()
        assert stand_in_state.restore(aws.session(), tmp_path) == 2

        assert _versions(sagemaker) == before
        group = sagemaker.describe_model_package_group(ModelPackageGroupName=GROUP)
        assert sagemaker.list_tags(ResourceArn=group["ModelPackageGroupArn"])["Tags"] == tags
        body = s3.get_object(Bucket=provisioned.bucket, Key="baseline/statistics.json")["Body"]
        assert json.loads(body.read()) == {"a": 1}
        described = sagemaker.describe_model_package(ModelPackageName=before[0][0])
        assert described["DriftCheckBaselines"]["ModelDataQuality"]["Statistics"]["S3Uri"] == (
            f"s3://{provisioned.bucket}/baseline/statistics.json"
        )


def test_only_what_a_version_refers_to_is_kept_and_unchanged_objects_are_not_fetched_again(
    tmp_path,
):
    with EmbeddedAws("us-east-1", "kept-bucket", "kept-role") as aws:
        aws.reset()
        provisioned = aws.provision()
        sagemaker, s3 = aws.client("sagemaker"), aws.client("s3")
        sagemaker.create_model_package_group(ModelPackageGroupName=GROUP)
        _register(sagemaker, provisioned.bucket, "Approved")
        s3.put_object(Bucket=provisioned.bucket, Key="baseline/statistics.json", Body=b"{}")
        s3.put_object(Bucket=provisioned.bucket, Key="model.tar.gz", Body=b"model")
        s3.put_object(Bucket=provisioned.bucket, Key="code/preprocess.py", Body=b"print(1)")
        s3.put_object(Bucket=provisioned.bucket, Key="run-1/train/train.csv", Body=b"1,2")
        stand_in_state.save(aws.session(), tmp_path)

        kept = tmp_path / stand_in_state.S3_FOLDER / provisioned.bucket
        assert sorted(p.relative_to(kept).as_posix() for p in kept.rglob("*") if p.is_file()) == [
            "baseline/statistics.json",
            "model.tar.gz",
        ]

        # An unchanged object keeps its file (an old timestamp stays old); a changed one is
        # fetched again.
        unchanged = kept / "baseline" / "statistics.json"
        os.utime(unchanged, (1_000_000_000, 1_000_000_000))
        s3.put_object(Bucket=provisioned.bucket, Key="model.tar.gz", Body=b"retrained")
        stand_in_state.save(aws.session(), tmp_path)

        assert unchanged.stat().st_mtime == 1_000_000_000
        assert (kept / "model.tar.gz").read_bytes() == b"retrained"


def test_an_empty_stand_in_saves_and_restores_as_empty(tmp_path):
    # A run that fails before its first upload leaves the bucket empty; saving must still work
    # so that the run's own error is what the user sees.
    with EmbeddedAws("us-east-1", "kept-bucket", "kept-role") as aws:
        aws.reset()
        aws.provision()
        stand_in_state.save(aws.session(), tmp_path)

        aws.reset()
        aws.provision()
        assert stand_in_state.restore(aws.session(), tmp_path) == 0
        assert "Contents" not in aws.client("s3").list_objects_v2(Bucket="kept-bucket")


def test_state_from_another_format_is_refused_with_what_to_do(tmp_path):
    (tmp_path / stand_in_state.REGISTRY_FILE).write_text(json.dumps({"format": 99, "groups": []}))
    with EmbeddedAws("us-east-1", "kept-bucket", "kept-role") as aws:
        aws.reset()
        with pytest.raises(ValueError, match="delete .* to start afresh"):
            stand_in_state.restore(aws.session(), tmp_path)


@pytest.fixture
def no_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A machine without an AWS account: no endpoint, no credentials anywhere."""
    for name in list(os.environ):
        if name.startswith("AWS_") and name != "AWS_DEFAULT_REGION":
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "pyproject.toml").write_text(
        '[project]\nname = "numbers"\n\n[tool.mlops-toolkit]\n'
        'pipeline = "foreign_pipeline:build"\ninput-parameter = "Numbers"\n'
        'local-dir = "state-here"\n'
    )
    (folder / "numbers.txt").write_text("1\n2\n3\n")
    monkeypatch.chdir(folder)
    return folder


def test_local_run_without_aws_starts_a_stand_in_and_keeps_its_state(no_aws, project, capsys):
    first = cli.main(["--input-data", "numbers.txt", "--run-dir", "runs/first"])

    err = " ".join(capsys.readouterr().err.split())
    assert first == 0, err
    assert "No AWS configured: started a local AWS stand-in" in err
    assert "0 model version(s) restored" in err
    assert "AWS_ENDPOINT_URL" not in os.environ  # stopped, environment put back
    state = project / "state-here" / "stand-in"
    # This pipeline registers nothing: the registry is kept (empty), its outputs stay on disk in
    # the run folder only.
    assert json.loads((state / stand_in_state.REGISTRY_FILE).read_text())["groups"] == []
    assert not list(state.rglob("published.json"))
    published = list((project / "runs" / "first").rglob("published.json"))
    assert len(published) == 1
    assert json.loads(published[0].read_text()) == {"rows": 3, "mean": 2.0, "published": True}

    second = cli.main(["--input-data", "numbers.txt", "--run-dir", "runs/second"])

    assert second == 0, capsys.readouterr().err
    assert json.loads((state / stand_in_state.REGISTRY_FILE).read_text())["groups"] == []


def test_configured_aws_is_used_as_it_is(stand_in, account, project, capsys):
    # stand_in points AWS_ENDPOINT_URL at a server started by the test: local-run starts none.
    code = cli.main(
        [
            *("--role-arn", account.role_arn, "--artifact-bucket", account.bucket),
            *("--input-data", "numbers.txt", "--run-dir", "runs/configured"),
        ]
    )

    assert code == 0
    assert "started a local AWS stand-in" not in capsys.readouterr().err
    # No stand-in state is kept (the local folder may hold the definition cache).
    assert not (project / "state-here" / "stand-in").exists()
