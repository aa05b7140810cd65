"""The IAM roles a CloudFormation template defines, as IAM would hold them once deployed.

Reads a rendered template (``cicd/cicd-stack.yml``), resolves its intrinsic functions with the
parameter values the bootstrap really passes, and returns each role's ARN and every identity
policy attached to it: inline ``Policies``, ``AWS::IAM::Policy`` resources naming the role, and
customer-managed policies from the same template. Resource policies (bucket, key, topic) come back
keyed by the ARN they protect, for requests on those resources.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cfnlint.decode import decode

from .evaluator import Principal

PARTITION = "aws"
# What ``!Ref AWS::NoValue`` leaves behind while resolving: removed from its dict or list.
NO_VALUE = object()


class ContractGap(Exception):
    """The template uses something the contract cannot derive requests for yet: a loud failure
    naming it, so that the contract is extended before the thing ships unchecked."""


@dataclass(frozen=True)
class DeployedStack:
    """A template's resources with every intrinsic function resolved."""

    name: str
    region: str
    account: str
    parameters: Mapping[str, str]
    template: Mapping[str, Any]

    @classmethod
    def load(
        cls, path: Path, name: str, region: str, account: str, parameters: Mapping[str, str]
    ) -> DeployedStack:
        decoded, matches = decode(str(path))
        if decoded is None:
            raise ValueError(f"{path} does not parse: {matches}")
        missing = set(decoded.get("Parameters", {})) - set(parameters)
        defaults = {
            key: str(spec["Default"])
            for key, spec in decoded.get("Parameters", {}).items()
            if key in missing and "Default" in spec
        }
        if missing - set(defaults):
            raise ValueError(f"no value for parameters {sorted(missing - set(defaults))}")
        return cls(name, region, account, {**defaults, **parameters}, decoded)

    @property
    def resources(self) -> Mapping[str, Any]:
        return self.template["Resources"]

    def of_type(self, kind: str) -> dict[str, Mapping[str, Any]]:
        return {key: res for key, res in self.resources.items() if res["Type"] == kind}

    def created(self) -> dict[str, Mapping[str, Any]]:
        """The resources this stack creates with its parameters (their Condition holds)."""
        return {
            key: res
            for key, res in self.resources.items()
            if "Condition" not in res or self.condition(res["Condition"])
        }

    def resolve(self, value: Any) -> Any:
        """``value`` with every intrinsic function replaced by what CloudFormation would put."""
        if isinstance(value, list):
            items = [self.resolve(item) for item in value]
            return [item for item in items if item is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (key, argument), *_ = value.items()
            if key == "Ref":
                return self._ref(argument)
            if key == "Fn::GetAtt":
                return self._get_att(*_split_get_att(argument))
            if key == "Fn::Sub":
                return self._sub(argument)
            if key == "Fn::Join":
                separator, items = argument
                return separator.join(str(item) for item in self.resolve(items))
            if key == "Fn::Select":
                index, items = argument
                return self.resolve(items)[int(self.resolve(index))]
            if key == "Fn::If":
                condition, if_true, if_false = argument
                return self.resolve(if_true if self.condition(condition) else if_false)
        resolved = {key: self.resolve(item) for key, item in value.items()}
        return {key: item for key, item in resolved.items() if item is not NO_VALUE}

    def condition(self, name: str) -> bool:
        return bool(self._evaluate_condition(self.template.get("Conditions", {})[name]))

    def _evaluate_condition(self, expression: Any) -> Any:
        if isinstance(expression, dict) and len(expression) == 1:
            (key, argument), *_ = expression.items()
            if key == "Fn::Equals":
                left, right = (self._evaluate_condition(item) for item in argument)
                return str(left) == str(right)
            if key == "Fn::Not":
                return not self._evaluate_condition(argument[0])
            if key == "Fn::And":
                return all(self._evaluate_condition(item) for item in argument)
            if key == "Fn::Or":
                return any(self._evaluate_condition(item) for item in argument)
            if key == "Condition":
                return self.condition(argument)
        return self.resolve(expression)

    def _pseudo(self, name: str) -> str | None:
        return {
            "AWS::Region": self.region,
            "AWS::AccountId": self.account,
            "AWS::Partition": PARTITION,
            "AWS::StackName": self.name,
            "AWS::URLSuffix": "amazonaws.com",
        }.get(name)

    def _ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        pseudo = self._pseudo(name)
        if pseudo is not None:
            return pseudo
        if name in self.parameters:
            spec = self.template.get("Parameters", {}).get(name, {})
            if spec.get("Type") == "CommaDelimitedList":
                return self.parameters[name].split(",")
            return self.parameters[name]
        resource = self.resources[name]
        return physical_id(self, name, resource)

    def _get_att(self, name: str, attribute: str) -> str:
        resource = self.resources[name]
        if attribute == "Arn":
            return arn_of(self, name, resource)
        if resource["Type"] == "AWS::SNS::Topic" and attribute == "TopicName":
            return self._ref(name).rsplit(":", 1)[1]
        if attribute in NAME_ATTRIBUTES.get(resource["Type"], ()):
            return physical_id(self, name, resource)
        raise ContractGap(f"Fn::GetAtt {name}.{attribute} ({resource['Type']})")

    def _sub(self, argument: Any) -> str:
        text, variables = (argument, {}) if isinstance(argument, str) else argument
        variables = {key: self.resolve(item) for key, item in variables.items()}
        out, index = [], 0
        while index < len(text):
            start = text.find("${", index)
            if start < 0:
                out.append(text[index:])
                break
            out.append(text[index:start])
            end = text.index("}", start)
            token = text[start + 2 : end]
            if token.startswith("!"):
                out.append("${" + token[1:] + "}")
            elif token in variables:
                out.append(str(variables[token]))
            elif "." in token:
                out.append(self._get_att(*token.split(".", 1)))
            else:
                out.append(self._ref(token))
            index = end + 1
        return "".join(out)


def _split_get_att(argument: Any) -> tuple[str, str]:
    if isinstance(argument, str):
        name, attribute = argument.split(".", 1)
        return name, attribute
    return argument[0], argument[1]


# Fn::GetAtt attributes that return the name a resource's Ref also gives.
NAME_ATTRIBUTES = {
    "AWS::SageMaker::Model": ("ModelName",),
    "AWS::SageMaker::EndpointConfig": ("EndpointConfigName",),
    "AWS::SageMaker::Endpoint": ("EndpointName",),
    "AWS::SageMaker::DataQualityJobDefinition": ("JobDefinitionName",),
}


def physical_id(stack: DeployedStack, logical_id: str, resource: Mapping[str, Any]) -> str:
    """What ``!Ref`` gives for a resource: its name where the template sets one, else the name
    CloudFormation generates (stack name, logical id and a suffix)."""
    kind = resource["Type"]
    properties = resource.get("Properties", {})
    generated = f"{stack.name}-{logical_id}-GENERATED"
    named_by = {
        "AWS::S3::Bucket": "BucketName",
        "AWS::IAM::Role": "RoleName",
        "AWS::CodeBuild::Project": "Name",
        "AWS::CodePipeline::Pipeline": "Name",
        "AWS::Events::Rule": "Name",
        "AWS::SageMaker::Model": "ModelName",
        "AWS::SageMaker::EndpointConfig": "EndpointConfigName",
        "AWS::SageMaker::Endpoint": "EndpointName",
        "AWS::SageMaker::MonitoringSchedule": "MonitoringScheduleName",
        "AWS::SageMaker::DataQualityJobDefinition": "JobDefinitionName",
        "AWS::SageMaker::Pipeline": "PipelineName",
        "AWS::CloudWatch::Alarm": "AlarmName",
        "AWS::Events::ApiDestination": "Name",
        "AWS::Events::Connection": "Name",
        "AWS::Scheduler::Schedule": "Name",
    }
    if kind == "AWS::SNS::Topic":
        # A topic's Ref is its ARN.
        topic = stack.resolve(properties.get("TopicName", generated))
        return f"arn:{PARTITION}:sns:{stack.region}:{stack.account}:{topic}"
    if kind in named_by:
        return str(stack.resolve(properties.get(named_by[kind], generated)))
    if kind == "AWS::IAM::OIDCProvider":
        # An OIDC provider's Ref is its ARN, named after its URL's host.
        host = str(stack.resolve(properties["Url"])).removeprefix("https://")
        return f"arn:{PARTITION}:iam::{stack.account}:oidc-provider/{host}"
    if kind == "AWS::IAM::ManagedPolicy":
        name = stack.resolve(properties.get("ManagedPolicyName", generated))
        return f"arn:{PARTITION}:iam::{stack.account}:policy/{name}"
    if kind == "AWS::KMS::Key":
        return "00000000-0000-4000-8000-000000000000"
    return generated


# Stand-in for the id EventBridge assigns to an API destination's or a connection's ARN.
EVENTS_ID = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"


def arn_of(stack: DeployedStack, logical_id: str, resource: Mapping[str, Any]) -> str:
    kind = resource["Type"]
    name = physical_id(stack, logical_id, resource)
    region, account = stack.region, stack.account
    formats = {
        "AWS::S3::Bucket": f"arn:{PARTITION}:s3:::{name}",
        "AWS::IAM::Role": f"arn:{PARTITION}:iam::{account}:role/{name}",
        "AWS::KMS::Key": f"arn:{PARTITION}:kms:{region}:{account}:key/{name}",
        "AWS::CodeBuild::Project": f"arn:{PARTITION}:codebuild:{region}:{account}:project/{name}",
        "AWS::Events::Rule": f"arn:{PARTITION}:events:{region}:{account}:rule/{name}",
        "AWS::SNS::Topic": name,
        "AWS::IAM::OIDCProvider": name,
        "AWS::CodePipeline::Pipeline": f"arn:{PARTITION}:codepipeline:{region}:{account}:{name}",
        # EventBridge appends an id of its own to these two ARNs.
        "AWS::Events::ApiDestination": (
            f"arn:{PARTITION}:events:{region}:{account}:api-destination/{name}/{EVENTS_ID}"
        ),
        "AWS::Events::Connection": (
            f"arn:{PARTITION}:events:{region}:{account}:connection/{name}/{EVENTS_ID}"
        ),
        "AWS::Scheduler::Schedule": (
            f"arn:{PARTITION}:scheduler:{region}:{account}:schedule/default/{name}"
        ),
    }
    if kind not in formats:
        raise ContractGap(f"the ARN of {logical_id} ({kind})")
    return formats[kind]


def roles(stack: DeployedStack) -> dict[str, Principal]:
    """Every role of ``stack`` by logical id, with all identity policies attached to it."""
    policies: dict[str, list[Mapping[str, Any]]] = {
        name: [] for name in stack.of_type("AWS::IAM::Role")
    }
    managed = {
        physical_id(stack, name, res): stack.resolve(res["Properties"]["PolicyDocument"])
        for name, res in stack.of_type("AWS::IAM::ManagedPolicy").items()
    }
    for name, role in stack.of_type("AWS::IAM::Role").items():
        properties = role["Properties"]
        for inline in properties.get("Policies", []):
            policies[name].append(stack.resolve(inline["PolicyDocument"]))
        for arn in stack.resolve(properties.get("ManagedPolicyArns", [])):
            if arn not in managed:
                raise ValueError(f"{name} attaches {arn}, which this template does not define")
            policies[name].append(managed[arn])
    for res in stack.of_type("AWS::IAM::Policy").values():
        for role_ref in res["Properties"].get("Roles", []):
            role_name = role_ref["Ref"] if isinstance(role_ref, dict) else role_ref
            if role_name in stack.template.get("Parameters", {}):
                # A role of another stack, named by a parameter (cicd/batch-stack.yml).
                continue
            policies[role_name].append(stack.resolve(res["Properties"]["PolicyDocument"]))
    return {
        name: Principal(
            name=name,
            arn=arn_of(stack, name, stack.resources[name]),
            account=stack.account,
            policies=tuple(documents),
        )
        for name, documents in policies.items()
    }


def resource_policies(stack: DeployedStack) -> dict[str, Mapping[str, Any]]:
    """Bucket, key and topic policies, keyed by the ARN they protect."""
    found: dict[str, Mapping[str, Any]] = {}
    for res in stack.of_type("AWS::S3::BucketPolicy").values():
        bucket = stack.resolve(res["Properties"]["Bucket"])
        found[f"arn:{PARTITION}:s3:::{bucket}"] = stack.resolve(res["Properties"]["PolicyDocument"])
    for name, res in stack.of_type("AWS::KMS::Key").items():
        found[arn_of(stack, name, res)] = stack.resolve(res["Properties"]["KeyPolicy"])
    for res in stack.of_type("AWS::SNS::TopicPolicy").values():
        document = stack.resolve(res["Properties"]["PolicyDocument"])
        for topic in stack.resolve(res["Properties"]["Topics"]):
            found[topic] = document
    return found
