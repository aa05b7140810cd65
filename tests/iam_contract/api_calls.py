"""From a recorded API call to the IAM authorisations AWS performs for it.

The IAM service prefix comes from botocore's service model (``signingName``, else
``endpointPrefix``); the action is the operation's name except where ``ACTION_ALIASES`` (a short,
reviewed table) says otherwise. The resources come from the Service Authorization Reference
(``action_detail``): every required resource type gets its own request, its ARN format filled from
the call's parameters. Where the reference lists only alternatives (S3's object or access-point
object), the one the parameters name is used. A call whose resource cannot be named from its
parameters raises ``UnmappedCall``: the contract never guesses "*" for an action that has a
resource type.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import botocore.session

from .evaluator import ActionDetails, IamRequest, ResourceType, action_details
from .recorder import ApiCall
from .stack import PARTITION

# (boto3 service, operation) -> the IAM action(s) AWS checks, where the names differ. The
# Service Authorization Reference's "Actions" table names the action each API maps to.
ACTION_ALIASES: Mapping[tuple[str, str], tuple[str, ...]] = {
    ("s3", "HeadObject"): ("s3:GetObject",),
    ("s3", "HeadBucket"): ("s3:ListBucket",),
    ("s3", "ListObjectsV2"): ("s3:ListBucket",),
    ("s3", "ListObjects"): ("s3:ListBucket",),
    ("s3", "ListObjectVersions"): ("s3:ListBucketVersions",),
    ("s3", "ListBuckets"): ("s3:ListAllMyBuckets",),
    ("s3", "CreateMultipartUpload"): ("s3:PutObject",),
    ("s3", "UploadPart"): ("s3:PutObject",),
    ("s3", "CompleteMultipartUpload"): ("s3:PutObject",),
    ("s3", "GetBucketPolicyStatus"): ("s3:GetBucketPolicyStatus",),
    ("s3", "PutBucketEncryption"): ("s3:PutEncryptionConfiguration",),
    ("s3", "GetBucketEncryption"): ("s3:GetEncryptionConfiguration",),
    ("s3", "PutPublicAccessBlock"): ("s3:PutBucketPublicAccessBlock",),
    ("s3", "GetPublicAccessBlock"): ("s3:GetBucketPublicAccessBlock",),
    ("s3", "PutBucketLifecycleConfiguration"): ("s3:PutLifecycleConfiguration",),
    ("s3", "DeleteBucketLifecycle"): ("s3:PutLifecycleConfiguration",),
    ("s3", "GetBucketLifecycleConfiguration"): ("s3:GetLifecycleConfiguration",),
    ("s3", "PutBucketOwnershipControls"): ("s3:PutBucketOwnershipControls",),
    ("codecommit", "GetRepository"): ("codecommit:GetRepository",),
}

# Calls that hand a role to a service: AWS checks iam:PassRole on it, for that service.
PASSED_ROLES: Mapping[tuple[str, str], tuple[str, str]] = {
    ("sagemaker", "CreatePipeline"): ("RoleArn", "sagemaker.amazonaws.com"),
    ("sagemaker", "UpdatePipeline"): ("RoleArn", "sagemaker.amazonaws.com"),
    ("cloudformation", "CreateStack"): ("RoleARN", "cloudformation.amazonaws.com"),
    ("cloudformation", "UpdateStack"): ("RoleARN", "cloudformation.amazonaws.com"),
    ("cloudformation", "CreateChangeSet"): ("RoleARN", "cloudformation.amazonaws.com"),
}

# A Create* call of these services that carries tags is also authorised as the service's
# tagging action on the resource it creates.
TAG_ON_CREATE: Mapping[str, str] = {
    "sagemaker": "sagemaker:AddTags",
    "codecommit": "codecommit:TagResource",
    "codeconnections": "codeconnections:TagResource",
    "secretsmanager": "secretsmanager:TagResource",
}

# Actions IAM does not authorise at all: AWS answers them for any valid credentials.
UNAUTHORISED_ACTIONS = frozenset({"sts:GetCallerIdentity"})

# List actions whose only resource type is optional and names no single resource the call is
# about: IAM authorises them against "*" (reviewed one by one).
LISTS_AGAINST_ANY: Mapping[str, str] = {
    "sagemaker:ListModelPackages": "lists a group's versions; no model-package ARN in the request",
    "codeconnections:ListConnections": "lists the account's connections; no connection ARN in it",
}

# S3 versioned reads and deletes are their own actions.
_VERSIONED = {"s3:GetObject": "s3:GetObjectVersion", "s3:DeleteObject": "s3:DeleteObjectVersion"}


class UnmappedCall(ValueError):
    """A recorded call whose IAM action or resource the mapper cannot name."""


@functools.cache
def iam_prefix(service: str) -> str:
    """The IAM prefix of a boto3 service: its signing name, as SigV4 and IAM use it."""
    model = botocore.session.get_session().get_service_model(service)
    metadata = model.metadata
    return str(metadata.get("signingName") or metadata["endpointPrefix"])


def iam_actions(call: ApiCall) -> tuple[str, ...]:
    actions = ACTION_ALIASES.get((call.service, call.operation))
    if actions is None:
        actions = (f"{iam_prefix(call.service)}:{call.operation}",)
    if call.params.get("VersionId"):
        actions = tuple(_VERSIONED.get(action, action) for action in actions)
    return actions


def to_requests(calls: Iterable[ApiCall], account: str, why: str) -> list[IamRequest]:
    """Every authorisation the calls need, in call order, without repeats."""
    calls = [single for call in calls for single in _one_per_resource(call)]
    details = action_details({action for call in calls for action in iam_actions(call)})
    found: dict[tuple[str, str, tuple[tuple[str, Any], ...]], IamRequest] = {}
    for call in calls:
        for action in iam_actions(call):
            if action in UNAUTHORISED_ACTIONS:
                continue
            detail = details[action]
            if detail is None:
                raise UnmappedCall(
                    f"{call.describe()} maps to {action}, which the Service Authorization "
                    "Reference does not list: add the right action to ACTION_ALIASES"
                )
            for request in _requests_for(call, action, detail, account, why):
                key = (request.action, request.resource, repr(sorted(request.context.items())))
                found.setdefault(key, request)
        for request in _implied_requests(call, account, why, found):
            key = (request.action, request.resource, repr(sorted(request.context.items())))
            found.setdefault(key, request)
    return list(found.values())


def _one_per_resource(call: ApiCall) -> list[ApiCall]:
    """A batch call as the single calls IAM authorises it as (DeleteObjects: each object)."""
    if (call.service, call.operation) != ("s3", "DeleteObjects"):
        return [call]
    objects = call.params.get("Delete", {}).get("Objects", [])
    return [
        ApiCall(
            "s3",
            "DeleteObject",
            call.region,
            {"Bucket": call.params["Bucket"], **item},
            call.denied,
        )
        for item in objects
    ]


def _implied_requests(
    call: ApiCall, account: str, why: str, found: Mapping[Any, IamRequest]
) -> list[IamRequest]:
    """Authorisations AWS adds for a call beyond its own action: PassRole, tag-on-create."""
    implied = []
    reason = f"{why}: {call.describe()}"
    passed = PASSED_ROLES.get((call.service, call.operation))
    if passed and call.params.get(passed[0]):
        implied.append(
            IamRequest(
                "iam:PassRole",
                str(call.params[passed[0]]),
                reason,
                {"iam:PassedToService": passed[1]},
            )
        )
    if (
        call.service in TAG_ON_CREATE
        and call.operation.startswith("Create")
        and (call.params.get("Tags") or call.params.get("tags"))
    ):
        created = [
            request.resource
            for request in found.values()
            if request.action == f"{iam_prefix(call.service)}:{call.operation}"
            and request.why == reason
        ]
        implied.extend(
            IamRequest(TAG_ON_CREATE[call.service], arn, reason, _context(call)) for arn in created
        )
    return implied


def _requests_for(
    call: ApiCall, action: str, detail: ActionDetails, account: str, why: str
) -> list[IamRequest]:
    context = _context(call)
    reason = f"{why}: {call.describe()}"
    if not detail.resource_types:
        # The reference lists no resource type: IAM accepts only "*" here.
        return [IamRequest(action, "*", reason, context)]
    values = _arn_values(call, account)
    if "ResourceArn" in call.params:
        return [IamRequest(action, str(call.params["ResourceArn"]), reason, context)]
    if action in LISTS_AGAINST_ANY:
        return [IamRequest(action, "*", f"{reason} ({LISTS_AGAINST_ANY[action]})", context)]
    required = detail.required_resource_types
    if required:
        return [
            IamRequest(action, _fill(kind, values, call, action), reason, context)
            for kind in required
        ]
    return [
        IamRequest(action, _one_of(detail.resource_types, values, call, action), reason, context)
    ]


def _fill(kind: ResourceType, values: Mapping[str, str], call: ApiCall, action: str) -> str:
    try:
        return kind.arn(values)
    except KeyError as missing:
        raise UnmappedCall(
            f"{call.describe()} needs {action} on a {kind.name} ({kind.arn_format}), but its "
            f"parameters {sorted(call.params)} do not name one: {missing}. Teach "
            "iam_contract.calls._arn_values where that name comes from."
        ) from None


def _one_of(
    kinds: Iterable[ResourceType], values: Mapping[str, str], call: ApiCall, action: str
) -> str:
    kinds = list(kinds)
    for kind in kinds:
        try:
            return kind.arn(values)
        except KeyError:
            continue
    raise UnmappedCall(
        f"{call.describe()} needs {action} on one of {[kind.name for kind in kinds]}, but its "
        f"parameters {sorted(call.params)} name none of them."
    )


def _context(call: ApiCall) -> dict[str, str | list[str]]:
    """Request-tag condition keys for a call that sets tags."""
    context: dict[str, str | list[str]] = {}
    tags = call.params.get("Tags") or call.params.get("tags")
    if isinstance(tags, list) and tags and isinstance(tags[0], dict):
        pairs = {
            str(tag.get("Key", tag.get("key"))): str(tag.get("Value", tag.get("value")))
            for tag in tags
        }
    elif isinstance(tags, dict):
        pairs = {str(key): str(value) for key, value in tags.items()}
    else:
        pairs = {}
    if pairs:
        context["aws:TagKeys"] = sorted(pairs)
        context.update({f"aws:RequestTag/{key}": value for key, value in pairs.items()})
    return context


# Where each ARN variable comes from: parameter names, or a parser of an ARN parameter.
_Extractor = Callable[[Mapping[str, Any]], str | None]


def _param(*names: str) -> _Extractor:
    def extract(params: Mapping[str, Any]) -> str | None:
        for name in names:
            value = params.get(name)
            if isinstance(value, str) and value:
                return value
        return None

    return extract


def _arn_part(param: str, pattern: str, group: str) -> _Extractor:
    compiled = re.compile(pattern)

    def extract(params: Mapping[str, Any]) -> str | None:
        value = params.get(param)
        match = compiled.search(value) if isinstance(value, str) else None
        return match.group(group) if match else None

    return extract


def _first(*extractors: _Extractor) -> _Extractor:
    def extract(params: Mapping[str, Any]) -> str | None:
        for extractor in extractors:
            value = extractor(params)
            if value:
                return value
        return None

    return extract


_EXECUTION = r":pipeline/(?P<pipeline>[^/]+)/execution/(?P<execution>[^/]+)$"
_PACKAGE = r":model-package/(?P<package>.+)$"
_ROLE = r":role/(?P<role>.+)$"

# SageMaker lowercases every name in its ARNs.
_LOWERCASED = {
    "PipelineName",
    "RandomString",
    "ModelPackageGroupName",
    "ModelPackageName",
    "EndpointName",
}

_VARIABLES: Mapping[str, _Extractor] = {
    "BucketName": _param("Bucket"),
    "ObjectName": _param("Key"),
    "PipelineName": _first(
        _param("PipelineName"), _arn_part("PipelineExecutionArn", _EXECUTION, "pipeline")
    ),
    "RandomString": _arn_part("PipelineExecutionArn", _EXECUTION, "execution"),
    "ModelPackageGroupName": _param("ModelPackageGroupName"),
    "ModelPackageName": _first(
        _arn_part("ModelPackageName", _PACKAGE, "package"),
        _arn_part("ModelPackageArn", _PACKAGE, "package"),
    ),
    "EndpointName": _param("EndpointName"),
    "RoleNameWithPath": _first(
        _arn_part("RoleArn", _ROLE, "role"),
        _arn_part("PolicySourceArn", _ROLE, "role"),
        _param("RoleName"),
    ),
    "LogGroupName": _param("logGroupName"),
    "LogStreamName": _param("logStreamName"),
    "RepositoryName": _param("repositoryName"),
    "StackName": _param("StackName"),
    "ConnectionId": _arn_part("ConnectionArn", r":connection/(?P<id>[^/]+)$", "id"),
    # A secret named by its ARN or its name (CreateSecret: Name).
    "SecretId": _first(
        _arn_part("SecretId", r":secret:(?P<id>.+)$", "id"), _param("SecretId"), _param("Name")
    ),
    "OidcProviderName": _arn_part(
        "OpenIDConnectProviderArn", r":oidc-provider/(?P<name>.+)$", "name"
    ),
}


# ARN parts AWS assigns and no request carries: a policy can only match them with "*", so the
# requests use a stand-in value (reviewed one by one).
ASSIGNED_BY_AWS: Mapping[str, str] = {
    # A stack's ARN ends in the unique id CloudFormation gave it at creation.
    "Id": "11111111-2222-4333-8444-555555555555",
}


def _arn_values(call: ApiCall, account: str) -> dict[str, str]:
    values = {"Partition": PARTITION, "Region": call.region, "Account": account}
    values.update(ASSIGNED_BY_AWS)
    extractors = dict(_VARIABLES)
    # Any other ARN variable a parameter of the same name supplies (EndpointConfigName...).
    for name, value in call.params.items():
        if isinstance(value, str) and name not in extractors:
            extractors[name] = _param(name)
    for variable, extract in extractors.items():
        value = extract(call.params)
        if value:
            lowercase = call.service == "sagemaker" and (
                variable in _LOWERCASED or variable.endswith("Name")
            )
            values[variable] = value.lower() if lowercase else value
    return values
