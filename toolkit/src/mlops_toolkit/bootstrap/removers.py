"""Deleting each kind of resource; every function treats "already gone" as done."""

from __future__ import annotations

import uuid
from typing import Any

from botocore.exceptions import ClientError

from mlops_toolkit.bootstrap.errors import error_code
from mlops_toolkit.bootstrap.stack import wait_for_stack

S3_DELETE_BATCH = 1000  # the most keys DeleteObjects accepts


def delete_stack(cloudformation: Any, name: str) -> None:
    cloudformation.delete_stack(StackName=name)
    wait_for_stack(cloudformation, name, "stack_delete_complete")


def delete_endpoint(sagemaker: Any, name: str) -> None:
    """Delete the endpoint and the endpoint configuration it ran."""
    try:
        config = sagemaker.describe_endpoint(EndpointName=name)["EndpointConfigName"]
    except ClientError as error:
        if sagemaker_missing(error):
            return
        raise
    sagemaker.delete_endpoint(EndpointName=name)
    try:
        sagemaker.delete_endpoint_config(EndpointConfigName=config)
    except ClientError as error:
        if not sagemaker_missing(error):
            raise


def sagemaker_missing(error: ClientError) -> bool:
    """SageMaker's "no such resource": ResourceNotFound, or a ValidationException saying so."""
    code = error_code(error)
    message = str(error)
    if code == "ResourceNotFound":
        return True
    return code == "ValidationException" and (
        "ould not find" in message or "does not exist" in message
    )


def delete_pipeline(sagemaker: Any, name: str) -> None:
    try:
        sagemaker.delete_pipeline(PipelineName=name, ClientRequestToken=str(uuid.uuid4()))
    except ClientError as error:
        if not sagemaker_missing(error):
            raise


def empty_and_delete_bucket(s3: Any, name: str) -> int:
    """Delete every object version and delete marker, then the bucket; returns how many."""
    removed = 0
    try:
        pages = s3.get_paginator("list_object_versions").paginate(Bucket=name)
        for page in pages:
            keys = [
                {"Key": item["Key"], "VersionId": item["VersionId"]}
                for item in page.get("Versions", []) + page.get("DeleteMarkers", [])
            ]
            for start in range(0, len(keys), S3_DELETE_BATCH):
                batch = keys[start : start + S3_DELETE_BATCH]
                s3.delete_objects(Bucket=name, Delete={"Objects": batch, "Quiet": True})
                removed += len(batch)
        s3.delete_bucket(Bucket=name)
    except ClientError as error:
        if error_code(error) != "NoSuchBucket":
            raise
    return removed


def delete_model_package_group(sagemaker: Any, group: str) -> int:
    """Delete every version in ``group`` (any approval status), then the group itself."""
    arns = []
    pages = sagemaker.get_paginator("list_model_packages").paginate(ModelPackageGroupName=group)
    for page in pages:
        arns += [summary["ModelPackageArn"] for summary in page["ModelPackageSummaryList"]]
    for arn in arns:
        sagemaker.delete_model_package(ModelPackageName=arn)
    try:
        sagemaker.delete_model_package_group(ModelPackageGroupName=group)
    except ClientError as error:
        if "does not exist" not in str(error):
            raise
    return len(arns)


def delete_repository(codecommit: Any, name: str) -> None:
    # DeleteRepository succeeds without an id when the repository is already gone.
    codecommit.delete_repository(repositoryName=name)


def delete_connection(connections: Any, arn: str) -> None:
    try:
        connections.delete_connection(ConnectionArn=arn)
    except ClientError as error:
        if error_code(error) != "ResourceNotFoundException":
            raise


def delete_log_group(logs: Any, name: str) -> None:
    try:
        logs.delete_log_group(logGroupName=name)
    except ClientError as error:
        if error_code(error) != "ResourceNotFoundException":
            raise
