"""Turning one API call into the IAM requests AWS authorises for it.

Which resource types an action is authorised against comes from the Service Authorization
Reference (``action_detail``): every resource type it lists as required gets its own request, so
a call such as ``CreateEndpoint`` is checked against the endpoint *and* its endpoint config.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .evaluator import ContextValue, IamRequest, action_detail

PARTITION = "aws"


@dataclass(frozen=True)
class Place:
    """Where the calls happen: the region and account every ARN is filled with."""

    region: str
    account: str

    def arn(self, service: str, resource: str, *, region: bool = True) -> str:
        return (
            f"arn:{PARTITION}:{service}:{self.region if region else ''}:{self.account}:{resource}"
        )


def requests_for(
    action: str,
    why: str,
    arns: Mapping[str, str],
    context: Mapping[str, ContextValue] | None = None,
) -> list[IamRequest]:
    """The requests ``action`` makes, one per resource type AWS authorises it against.

    ``arns`` maps resource type names (as the reference spells them: ``endpoint``,
    ``endpoint-config``, ``object``...) to the ARN the call touches. Every required type must be
    given; an action without required types is checked against the given types it lists, and a
    wildcard-only action against ``*``.
    """
    detail = action_detail(action)
    context = dict(context or {})
    if detail.wildcard_only or (not arns and not detail.required_resource_types):
        # No resource to name (PutMetricData, ListModelPackages...): IAM checks such calls
        # against "*", and the policy can narrow them only with conditions.
        return [IamRequest(action, "*", why, context)]
    known = {kind.name for kind in detail.resource_types}
    required = [kind.name for kind in detail.required_resource_types]
    missing = [name for name in required if name not in arns]
    if missing:
        raise KeyError(f"{action} ({why}) is authorised against {missing}: give their ARNs")
    chosen = required or [name for name in arns if name in known]
    if not chosen:
        raise KeyError(
            f"{action} ({why}) names resource types {sorted(known)}; none of {sorted(arns)} "
            "is one of them"
        )
    return [IamRequest(action, arns[name], why, context) for name in chosen]


def tag_context(tags: Mapping[str, str]) -> dict[str, ContextValue]:
    """The condition keys a request that carries ``tags`` is evaluated with."""
    context: dict[str, ContextValue] = {
        f"aws:RequestTag/{key}": value for key, value in tags.items()
    }
    if tags:
        context["aws:TagKeys"] = sorted(tags)
    return context


def resource_tag_context(tags: Mapping[str, str]) -> dict[str, ContextValue]:
    """The condition keys of a request on an existing resource that carries ``tags``."""
    return {f"aws:ResourceTag/{key}": value for key, value in tags.items()}


def pass_role(role_arn: str, service: str, why: str) -> IamRequest:
    return IamRequest("iam:PassRole", role_arn, why, {"iam:PassedToService": service})


# ---------------------------------------------------------------- S3


def split_s3_uri(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://"):
        raise ValueError(f"not an s3:// URI: {uri!r}")
    bucket, _, key = uri[len("s3://") :].partition("/")
    return bucket, key.rstrip("/")


def bucket_arn(bucket: str) -> str:
    return f"arn:{PARTITION}:s3:::{bucket}"


def object_arn(bucket: str, key: str) -> str:
    return f"arn:{PARTITION}:s3:::{bucket}/{key}"


def read_prefix(uri: str, why: str) -> list[IamRequest]:
    """An ``S3Prefix`` input: SageMaker lists the prefix, then downloads every object under it."""
    bucket, key = split_s3_uri(uri)
    listed = requests_for(
        "s3:ListBucket", f"{why}: list {uri}", {"bucket": bucket_arn(bucket)}, {"s3:prefix": key}
    )
    # A prefix naming one file (the step code) downloads that object; a folder, what is inside.
    member = key if "." in key.rsplit("/", 1)[-1] else f"{key}/part-00000"
    return listed + read_object(f"s3://{bucket}/{member}", why)


def read_object(uri: str, why: str) -> list[IamRequest]:
    bucket, key = split_s3_uri(uri)
    return requests_for("s3:GetObject", f"{why}: read {uri}", {"object": object_arn(bucket, key)})


def write_object(uri: str, why: str) -> list[IamRequest]:
    bucket, key = split_s3_uri(uri)
    return requests_for("s3:PutObject", f"{why}: write {uri}", {"object": object_arn(bucket, key)})


# ---------------------------------------------------------------- ECR


def repository_arn(image_uri: str) -> str:
    """The ECR repository an image URI names: ``ACCOUNT.dkr.ecr.REGION.amazonaws.com/REPO:TAG``."""
    registry, _, path = image_uri.partition("/")
    parts = registry.split(".")
    if len(parts) < 6 or parts[1:3] != ["dkr", "ecr"]:
        raise ValueError(f"{image_uri!r} is not an ECR image URI")
    account, region = parts[0], parts[3]
    repository = path.split("@", 1)[0].split(":", 1)[0]
    return f"arn:{PARTITION}:ecr:{region}:{account}:repository/{repository}"


def pull_image(image_uri: str, why: str) -> list[IamRequest]:
    """What SageMaker does with the job's role to start a container from ``image_uri``."""
    repository = {"repository": repository_arn(image_uri)}
    found = requests_for("ecr:GetAuthorizationToken", f"{why}: log in to ECR", {})
    for action in (
        "ecr:BatchCheckLayerAvailability",
        "ecr:GetDownloadUrlForLayer",
        "ecr:BatchGetImage",
    ):
        found += requests_for(action, f"{why}: pull {image_uri}", repository)
    return found


# ---------------------------------------------------------------- CloudWatch


def write_logs(place: Place, group: str, stream: str, why: str) -> list[IamRequest]:
    """A SageMaker job or endpoint writing its container logs to ``group``/``stream``."""
    group_arn = {"log-group": place.arn("logs", f"log-group:{group}")}
    stream_arn = {"log-stream": place.arn("logs", f"log-group:{group}:log-stream:{stream}")}
    return (
        requests_for("logs:CreateLogGroup", f"{why}: create {group}", group_arn)
        + requests_for("logs:DescribeLogStreams", f"{why}: find its stream", group_arn)
        + requests_for("logs:CreateLogStream", f"{why}: create its stream", stream_arn)
        + requests_for("logs:PutLogEvents", f"{why}: write its logs", stream_arn)
    )


def put_metrics(namespace: str, why: str) -> list[IamRequest]:
    return requests_for(
        "cloudwatch:PutMetricData",
        f"{why}: publish metrics to {namespace}",
        {},
        {"cloudwatch:namespace": namespace},
    )


def unique(requests: Sequence[IamRequest]) -> list[IamRequest]:
    """``requests`` without repeats (the same call derived from two places), in order."""
    seen: set[tuple[str, str, str]] = set()
    kept = []
    for request in requests:
        key = (request.action.lower(), request.resource, repr(sorted(request.context.items())))
        if key not in seen:
            seen.add(key)
            kept.append(request)
    return kept


def aws_owned_image_policies(
    requests: Sequence[IamRequest], account: str
) -> dict[str, dict[str, object]]:
    """Stand-ins for the repository policies of the images AWS publishes in its own accounts:
    they let every account pull, so only the caller's identity policy decides."""
    pulls = ("ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage")
    policies: dict[str, dict[str, object]] = {}
    for request in requests:
        parts = request.resource.split(":")
        if request.action in pulls and parts[2] == "ecr" and parts[4] != account:
            policies[request.resource] = {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": "*",
                        "Action": list(pulls),
                        "Resource": request.resource,
                    }
                ],
            }
    return policies
