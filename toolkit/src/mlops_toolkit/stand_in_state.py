"""Keep the stand-in's resources between runs: S3 objects as files, the model registry as JSON.

moto forgets everything when its server stops. A data scientist expects the model versions (and
the artifacts and baselines they point at) of yesterday's run to be there today, so that a second
run compares with the first run's baseline. At stop, every model package group and version is
written to ``<state>/registry.json`` and every S3 object a version refers to (its model, metrics,
baselines) under ``<state>/s3/<bucket>/<key>``; at start they are put back, versions in their
original order, so they keep their ARNs. Other objects (step code, intermediate outputs) are not
kept: each run's outputs are on disk in its run folder, and keeping them all made every start and
stop slower with every run. Plain files: a person can look inside, and deleting the folder starts
afresh.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

REGISTRY_FILE = "registry.json"
S3_FOLDER = "s3"
FORMAT = 1


def _accepted(client, operation: str) -> set[str]:
    return set(client.meta.service_model.operation_model(operation).input_shape.members)


def _pages(client, operation: str, key: str, **request: Any) -> list[dict[str, Any]]:
    # S3 leaves "Contents" out of an empty bucket's listing (a run that failed before uploading).
    return [
        item
        for page in client.get_paginator(operation).paginate(**request)
        for item in page.get(key, [])
    ]


def _group_record(sagemaker, summary: dict[str, Any]) -> dict[str, Any]:
    name = summary["ModelPackageGroupName"]
    described = sagemaker.describe_model_package_group(ModelPackageGroupName=name)
    tags = sagemaker.list_tags(ResourceArn=described["ModelPackageGroupArn"]).get("Tags", [])
    create = {"ModelPackageGroupName": name, "Tags": tags}
    if described.get("ModelPackageGroupDescription"):
        create["ModelPackageGroupDescription"] = described["ModelPackageGroupDescription"]
    versions = _pages(
        sagemaker,
        "list_model_packages",
        "ModelPackageSummaryList",
        ModelPackageGroupName=name,
        SortBy="CreationTime",
        SortOrder="Ascending",
    )
    accepted = _accepted(sagemaker, "CreateModelPackage")
    packages = []
    for version in versions:
        described = sagemaker.describe_model_package(ModelPackageName=version["ModelPackageArn"])
        packages.append({key: value for key, value in described.items() if key in accepted})
    return {"group": create, "versions": packages}


def s3_uris(value: Any) -> Iterator[str]:
    """Every ``s3://`` string anywhere inside ``value`` (nested dicts and lists)."""
    if isinstance(value, str):
        if value.startswith("s3://"):
            yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from s3_uris(item)
    elif isinstance(value, list):
        for item in value:
            yield from s3_uris(item)


def _referenced_objects(s3, registry: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """The objects the registry's S3 URIs name: each URI's object, or the objects under it."""
    objects = {}
    for uri in sorted(set(s3_uris(registry["groups"]))):
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        try:
            listed = _pages(s3, "list_objects_v2", "Contents", Bucket=bucket, Prefix=key)
        except ClientError as error:
            # A version may point at a bucket the stand-in never held (a public sample, say).
            if error.response.get("Error", {}).get("Code") == "NoSuchBucket":
                continue
            raise
        folder = key.rstrip("/") + "/"
        for item in listed:
            if item["Key"] == key or item["Key"].startswith(folder):
                objects[(bucket, item["Key"])] = item
    return objects


def _holds(path: Path, item: dict[str, Any]) -> bool:
    """Whether ``path`` already holds the object's bytes (single-part ETags are the MD5)."""
    if not path.is_file() or path.stat().st_size != item["Size"]:
        return False
    return hashlib.md5(path.read_bytes()).hexdigest() == item["ETag"].strip('"')


def save(session, state_dir: Path) -> None:
    """Write the registry and the objects it refers to under ``state_dir``, replacing what was
    there; an object already saved with the same bytes is not downloaded again."""
    s3, sagemaker = session.client("s3"), session.client("sagemaker")
    groups = _pages(sagemaker, "list_model_package_groups", "ModelPackageGroupSummaryList")
    registry = {
        "format": FORMAT,
        "groups": [_group_record(sagemaker, group) for group in groups],
    }
    objects_dir = state_dir / S3_FOLDER
    kept = _referenced_objects(s3, registry)
    for (bucket, key), item in kept.items():
        target = objects_dir / bucket / key
        if not _holds(target, item):
            target.parent.mkdir(parents=True, exist_ok=True)
            s3.download_file(bucket, key, str(target))
    if objects_dir.is_dir():
        for path in [p for p in objects_dir.rglob("*") if p.is_file()]:
            bucket, *key = path.relative_to(objects_dir).parts
            if (bucket, "/".join(key)) not in kept:
                path.unlink()
    state_dir.mkdir(parents=True, exist_ok=True)
    (state_dir / REGISTRY_FILE).write_text(json.dumps(registry, indent=2, default=str), "utf-8")


def _create_bucket(s3, name: str, region: str) -> None:
    location = {} if region == "us-east-1" else {"LocationConstraint": region}
    try:
        s3.create_bucket(
            Bucket=name, **({"CreateBucketConfiguration": location} if location else {})
        )
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "BucketAlreadyOwnedByYou":
            raise


def restore(session, state_dir: Path) -> int:
    """Put saved resources back into a fresh stand-in; returns how many model versions."""
    s3, sagemaker = session.client("s3"), session.client("sagemaker")
    objects_dir = state_dir / S3_FOLDER
    if objects_dir.is_dir():
        for bucket_dir in sorted(p for p in objects_dir.iterdir() if p.is_dir()):
            _create_bucket(s3, bucket_dir.name, session.region_name)
            for path in sorted(p for p in bucket_dir.rglob("*") if p.is_file()):
                key = path.relative_to(bucket_dir).as_posix()
                s3.upload_file(str(path), bucket_dir.name, key)
    registry_file = state_dir / REGISTRY_FILE
    if not registry_file.is_file():
        return 0
    registry = json.loads(registry_file.read_text("utf-8"))
    if registry.get("format") != FORMAT:
        raise ValueError(
            f"{registry_file} was written by another version of the toolkit; delete "
            f"{state_dir} to start afresh"
        )
    restored = 0
    for group in registry["groups"]:
        request = {key: value for key, value in group["group"].items() if value}
        sagemaker.create_model_package_group(**request)
        for version in group["versions"]:
            sagemaker.create_model_package(**version)
            restored += 1
    return restored
