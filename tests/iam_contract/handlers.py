"""What CloudFormation does with the caller's credentials while it creates, updates and deletes a
stack that has no service role: every resource handler's permissions, on that resource.

The permissions come from the resource provider schemas cfn-lint ships
(``handlers.create/read/update/delete.permissions``). Each action is requested on the resource it
acts on: the action's resource types (Service Authorization Reference) are matched against the
resource's ARN; an action with no resource type is requested on "*"; ``iam:PassRole`` and
``iam:GetRole`` on the roles the resource's properties name. A listed action that matches
neither (another service's feature the template does not use, such as S3 Tables for a bucket
without a metadata table) is reported by ``unused_handler_actions`` rather than granted.

Two more things CloudFormation does with the caller's credentials: it reads every secret a
``{{resolve:secretsmanager:...}}`` reference names, and an EventBridge connection's handlers act
on the connection's own secret (``events!connection/<name>/...``) and create EventBridge's
service-linked role for API destinations.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from cfnlint.schema import PROVIDER_SCHEMA_MANAGER

from .evaluator import IamRequest, action_details
from .stack import EVENTS_ID, PARTITION, DeployedStack, arn_of, physical_id

HANDLERS = ("create", "read", "update", "delete")
# CloudFormation makes the handler calls itself, with the caller's credentials: IAM sees
# cloudformation.amazonaws.com in aws:CalledVia.
CALLED_VIA = {"aws:CalledVia": ["cloudformation.amazonaws.com"]}

# Resource types outside the CloudFormation registry publish no handler permissions; these are
# the API calls CloudFormation makes for them (AWS::CodeBuild::Project: the CodeBuild API).
UNREGISTERED_HANDLERS: Mapping[str, tuple[str, ...]] = {
    "AWS::CodeBuild::Project": (
        "codebuild:CreateProject",
        "codebuild:UpdateProject",
        "codebuild:DeleteProject",
        "codebuild:BatchGetProjects",
        "iam:PassRole",
    ),
}

# The role properties each resource type passes to its service.
ROLE_PROPERTIES: Mapping[str, tuple[str, str]] = {
    "AWS::CodeBuild::Project": ("ServiceRole", "codebuild.amazonaws.com"),
    "AWS::CodePipeline::Pipeline": ("RoleArn", "codepipeline.amazonaws.com"),
    "AWS::Events::Rule": ("Targets[].RoleArn", "events.amazonaws.com"),
    "AWS::Scheduler::Schedule": ("Target.RoleArn", "scheduler.amazonaws.com"),
}

# Services whose resources' handlers create a service-linked role on first use: the role's path
# and name (IAM checks iam:CreateServiceLinkedRole there, with iam:AWSServiceName).
SERVICE_LINKED_ROLES: Mapping[str, tuple[str, str]] = {
    # EventBridge keeps a connection's authorization in a secret of its own and reads it through
    # this role.
    "AWS::Events::Connection": (
        "apidestinations.events.amazonaws.com",
        "AWSServiceRoleForAmazonEventBridgeApiDestinations",
    ),
}
# CloudFormation reads {{resolve:secretsmanager:<secret>:...}} with the caller's credentials.
SECRET_REFERENCE = re.compile(
    r"\{\{resolve:secretsmanager:(arn:[^:]+:secretsmanager:[^:]+:[0-9]+:secret:[^:}]+|[^:}]+)"
)


@dataclass(frozen=True)
class HandlerWork:
    requests: list[IamRequest]
    unmatched: list[str]  # "Type: action" the template's resources give no target


def handler_permissions(region: str, kind: str) -> list[str]:
    if kind in UNREGISTERED_HANDLERS:
        return list(UNREGISTERED_HANDLERS[kind])
    schema = PROVIDER_SCHEMA_MANAGER.get_resource_schema(region, kind).schema
    handlers = schema.get("handlers", {})
    found = [p for name in HANDLERS for p in handlers.get(name, {}).get("permissions", [])]
    if not found:
        raise AssertionError(
            f"{kind} publishes no handler permissions: add it to UNREGISTERED_HANDLERS"
        )
    return list(dict.fromkeys(found))


def resource_arns(stack: DeployedStack, logical_id: str, resource: Mapping[str, Any]) -> list[str]:
    """The ARNs a resource's handlers act on (a policy resource acts on what it attaches to)."""
    kind = resource["Type"]
    properties = stack.resolve(resource.get("Properties", {}))
    if kind == "AWS::IAM::Policy":
        # A role of this stack, or one another stack made, named by a parameter.
        return [
            arn_of(stack, name["Ref"], stack.resources[name["Ref"]])
            if name["Ref"] in stack.resources
            else f"arn:{PARTITION}:iam::{stack.account}:role/{stack.resolve(name)}"
            for name in resource["Properties"]["Roles"]
        ]
    if kind == "AWS::S3::BucketPolicy":
        return [f"arn:{PARTITION}:s3:::{properties['Bucket']}"]
    if kind == "AWS::SNS::TopicPolicy":
        return list(properties["Topics"])
    if kind == "AWS::Events::Connection":
        # EventBridge's own secret for the connection: events!connection/<name>/<id>-<suffix>.
        name = physical_id(stack, logical_id, resource)
        secret = f"secret:events!connection/{name}/{EVENTS_ID}-AbCdEf"
        return [
            arn_of(stack, logical_id, resource),
            f"arn:{PARTITION}:secretsmanager:{stack.region}:{stack.account}:{secret}",
            service_linked_role(stack, kind),
        ]
    return [arn_of(stack, logical_id, resource)]


def service_linked_role(stack: DeployedStack, kind: str) -> str:
    service, name = SERVICE_LINKED_ROLES[kind]
    return f"arn:{PARTITION}:iam::{stack.account}:role/aws-service-role/{service}/{name}"


def passed_roles(stack: DeployedStack, resource: Mapping[str, Any]) -> list[tuple[str, str]]:
    spec = ROLE_PROPERTIES.get(resource["Type"])
    if spec is None:
        return []
    path, service = spec
    properties = stack.resolve(resource["Properties"])
    if path.endswith("[].RoleArn"):
        items = properties.get(path.split("[]")[0], [])
        return [(item["RoleArn"], service) for item in items if "RoleArn" in item]
    if "." in path:
        parent, key = path.split(".")
        return [(properties[parent][key], service)]
    return [(properties[path], service)]


def _matches(arn_format: str, arn: str) -> bool:
    pattern = re.sub(r"\\\$\\\{\w+\\\}", ".+", re.escape(arn_format))
    return re.fullmatch(pattern, arn) is not None


def handler_work(stack: DeployedStack) -> HandlerWork:
    per_resource = {
        logical_id: handler_permissions(stack.region, resource["Type"])
        for logical_id, resource in stack.resources.items()
    }
    details = action_details({a for actions in per_resource.values() for a in actions})
    requests: dict[tuple[str, str], IamRequest] = {}
    unmatched: list[str] = []
    for logical_id, actions in per_resource.items():
        resource = stack.resources[logical_id]
        why = f"CloudFormation's {resource['Type']} handlers ({logical_id})"
        arns = resource_arns(stack, logical_id, resource)
        roles = passed_roles(stack, resource)
        for action in actions:
            if action.endswith(":PassConnection"):
                passed = _passed_connections(stack, resource, why)
                if not passed:
                    unmatched.append(f"{resource['Type']}: {action}")
                for request in passed:
                    requests.setdefault((request.action, request.resource), request)
                continue
            detail = details[action]
            if detail is None:
                # Some schemas list an API name that is not an IAM action: nothing to grant.
                unmatched.append(f"{resource['Type']}: {action} (not an IAM action)")
                continue
            found = _targets(action, detail.resource_types, arns, roles)
            if found is None:
                unmatched.append(f"{resource['Type']}: {action}")
                continue
            for target, context in found:
                if action == "iam:CreateServiceLinkedRole":
                    service = SERVICE_LINKED_ROLES[resource["Type"]][0]
                    context = {**context, "iam:AWSServiceName": service}
                requests.setdefault(
                    (action, target), IamRequest(action, target, why, {**CALLED_VIA, **context})
                )
        for request in _secret_references(stack, resource, logical_id):
            requests.setdefault((request.action, request.resource), request)
    return HandlerWork(list(requests.values()), sorted(set(unmatched)))


def _secret_references(
    stack: DeployedStack, resource: Mapping[str, Any], logical_id: str
) -> list[IamRequest]:
    """secretsmanager:GetSecretValue on each secret a dynamic reference in the resource names."""
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, str):
            found.extend(SECRET_REFERENCE.findall(value))
        elif isinstance(value, Mapping):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(stack.resolve(resource.get("Properties", {})))
    why = f"CloudFormation resolves a secret for {logical_id} ({resource['Type']})"
    prefix = f"arn:{PARTITION}:secretsmanager:{stack.region}:{stack.account}:secret:"
    return [
        IamRequest(
            "secretsmanager:GetSecretValue",
            secret if secret.startswith("arn:") else prefix + secret,
            why,
            dict(CALLED_VIA),
        )
        for secret in dict.fromkeys(found)
    ]


def _passed_connections(
    stack: DeployedStack, resource: Mapping[str, Any], why: str
) -> list[IamRequest]:
    """A pipeline whose source reads through a CodeConnections connection passes it to
    CodePipeline: PassConnection under the connection ARN's own prefix (the schema lists only
    the pre-2024 ``codestar-connections`` name; IAM matches the action's prefix to the ARN's)."""
    if resource["Type"] != "AWS::CodePipeline::Pipeline":
        return []
    properties = stack.resolve(resource["Properties"])
    arns = {
        action["Configuration"]["ConnectionArn"]
        for stage in properties.get("Stages", [])
        for action in stage["Actions"]
        if "ConnectionArn" in action.get("Configuration", {})
    }
    found = []
    for arn in sorted(arns):
        service = arn.split(":")[2]
        context = {**CALLED_VIA, f"{service}:PassedToService": "codepipeline.amazonaws.com"}
        found.append(IamRequest(f"{service}:PassConnection", arn, why, context))
    return found


def _targets(
    action: str, kinds: Iterable[Any], arns: list[str], roles: list[tuple[str, str]]
) -> list[tuple[str, dict[str, str]]] | None:
    kinds = list(kinds)
    if action == "iam:PassRole":
        return [(arn, {"iam:PassedToService": service}) for arn, service in roles] or None
    if action == "iam:GetRole" and roles:
        return [(arn, {}) for arn, _ in roles]
    if not kinds:
        return [("*", {})]
    hits = [arn for arn in arns if any(_matches(kind.arn_format, arn) for kind in kinds)]
    return [(arn, {}) for arn in hits] or None
