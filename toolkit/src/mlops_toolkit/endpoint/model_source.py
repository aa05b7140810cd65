"""Find a registered model version and unpack its artifact for local serving."""

from __future__ import annotations

import shutil
import tarfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from botocore.exceptions import ClientError

from mlops_toolkit.artifacts import S3Location, is_s3_uri
from mlops_toolkit.aws import newest_approved_package
from mlops_toolkit.errors import LocalRunError

CONTAINER_MODEL_DIR = PurePosixPath("/opt/ml/model")


@dataclass(frozen=True)
class ModelSource:
    model_data_url: str
    environment: dict[str, str] = field(default_factory=dict)
    model_package_arn: str | None = None


def latest_approved(client, group: str) -> str:
    """The newest Approved version in ``group`` (what a deploy would pick)."""
    approved = newest_approved_package(client, group)
    if approved is None:
        raise LocalRunError(
            f"model package group {group} has no Approved version; approve one first "
            "(aws sagemaker update-model-package --model-approval-status Approved ...)"
        )
    return approved


def describe_package(client, arn: str) -> ModelSource:
    try:
        described = client.describe_model_package(ModelPackageName=arn)
    except ClientError as error:
        message = error.response.get("Error", {}).get("Message")
        raise LocalRunError(f"cannot read model package {arn}: {message}") from None
    containers = described.get("InferenceSpecification", {}).get("Containers", [])
    if len(containers) != 1 or "ModelDataUrl" not in containers[0]:
        raise LocalRunError(
            f"model package {arn} must have exactly one container with a ModelDataUrl to serve "
            f"locally (it has {len(containers)})"
        )
    return ModelSource(
        model_data_url=containers[0]["ModelDataUrl"],
        environment=dict(containers[0].get("Environment", {})),
        model_package_arn=arn,
    )


def _safe_extract(archive: Path, destination: Path) -> None:
    with tarfile.open(archive, "r:*") as tar:
        for member in tar.getmembers():
            target = (destination / member.name).resolve()
            if not target.is_relative_to(destination.resolve()) or member.issym() or member.islnk():
                raise LocalRunError(
                    f"{archive} holds an unsafe entry {member.name!r}; not extracted"
                )
        if hasattr(tarfile, "data_filter"):
            tar.extractall(destination, filter="data")
        else:  # Python without extraction filters: every member was checked above
            tar.extractall(destination)


def fetch_model(s3_client, source: ModelSource, work_dir: Path) -> Path:
    """Download (or copy) and extract the artifact; returns the directory SageMaker would mount
    at /opt/ml/model."""
    model_dir = work_dir / "model"
    if model_dir.exists():
        shutil.rmtree(model_dir)
    model_dir.mkdir(parents=True)
    url = source.model_data_url
    if is_s3_uri(url):
        archive = work_dir / "model.tar.gz"
        location = S3Location.parse(url)
        try:
            s3_client.download_file(location.bucket, location.key, str(archive))
        except ClientError as error:
            message = error.response.get("Error", {}).get("Message")
            raise LocalRunError(f"cannot download the model artifact {url}: {message}") from None
    else:
        archive = Path(url).expanduser()
        if archive.is_dir():
            shutil.copytree(archive, model_dir, dirs_exist_ok=True)
            return model_dir
        if not archive.is_file():
            raise LocalRunError(f"model artifact {archive} does not exist")
    try:
        _safe_extract(archive, model_dir)
    except tarfile.TarError as error:
        raise LocalRunError(f"{url} is not a readable model.tar.gz ({error})") from None
    return model_dir


def container_to_local(path: str, model_dir: Path) -> Path:
    """Map a path inside the serving container's /opt/ml/model onto the extracted artifact."""
    pure = PurePosixPath(path)
    if not pure.is_relative_to(CONTAINER_MODEL_DIR):
        raise LocalRunError(
            f"SAGEMAKER_SUBMIT_DIRECTORY={path} is outside /opt/ml/model; locally the inference "
            "code must travel inside the model artifact"
        )
    return model_dir.joinpath(*pure.relative_to(CONTAINER_MODEL_DIR).parts)
