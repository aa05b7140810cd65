"""Three resource types of cicd/github-actions-stack.yml that moto 5.2.5's CloudFormation skips:
AWS::IAM::OIDCProvider, AWS::Events::Connection and AWS::Events::ApiDestination.

moto implements each one's API (iam create_open_id_connect_provider, events create_connection
and create_api_destination); this module only lets its CloudFormation create and delete them
through those same backends, so the stack's resources are visible to the API calls a test makes,
with the ARNs (``Fn::GetAtt ... Arn``) moto gives them. Importing it is enough; nothing else of
moto changes.
"""

from __future__ import annotations

from typing import Any

from moto.cloudformation import parsing
from moto.core.common_models import CloudFormationModel
from moto.events.models import events_backends
from moto.iam.models import iam_backends
from moto.utilities.utils import get_partition

# moto files each model class under the second part of its module's name.
MODULE = "stand_in.github_actions"


class _Resource:
    """A created resource: what Ref and Fn::GetAtt Arn give. (moto finds its CloudFormation
    types among CloudFormationModel's direct subclasses, so this is a mixin.)"""

    def __init__(self, ref: str, arn: str) -> None:
        self.ref = ref
        self.arn = arn

    @property
    def physical_resource_id(self) -> str:
        return self.ref

    @staticmethod
    def cloudformation_name_type() -> str:
        return "Name"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr == "Arn"

    def get_cfn_attribute(self, attribute_name: str) -> str:
        return self.arn

    def is_created(self) -> bool:
        return True


class OidcProvider(_Resource, CloudFormationModel):
    __module__ = MODULE

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::IAM::OIDCProvider"

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[misc]
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> OidcProvider:
        properties = cloudformation_json["Properties"]
        provider = iam_backends[account_id][
            get_partition(region_name)
        ].create_open_id_connect_provider(
            properties["Url"],
            properties.get("ThumbprintList", []),
            properties.get("ClientIdList", []),
            properties.get("Tags", []),
        )
        return cls(provider.arn, provider.arn)

    def delete(self, account_id: str, region_name: str) -> None:
        iam_backends[account_id][get_partition(region_name)].delete_open_id_connect_provider(
            self.arn
        )


class Connection(_Resource, CloudFormationModel):
    __module__ = MODULE

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::Events::Connection"

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[misc]
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Connection:
        properties = cloudformation_json["Properties"]
        connection = events_backends[account_id][region_name].create_connection(
            resource_name,
            properties.get("Description", ""),
            properties["AuthorizationType"],
            properties["AuthParameters"],
        )
        return cls(resource_name, connection.arn)

    def delete(self, account_id: str, region_name: str) -> None:
        events_backends[account_id][region_name].delete_connection(self.ref)


class ApiDestination(_Resource, CloudFormationModel):
    __module__ = MODULE

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::Events::ApiDestination"

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[misc]
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> ApiDestination:
        properties = cloudformation_json["Properties"]
        created = events_backends[account_id][region_name].create_api_destination(
            resource_name,
            properties.get("Description", ""),
            properties["ConnectionArn"],
            properties["InvocationEndpoint"],
            properties.get("InvocationRateLimitPerSecond", 1),
            properties["HttpMethod"],
        )
        return cls(resource_name, created["ApiDestinationArn"])

    def delete(self, account_id: str, region_name: str) -> None:
        events_backends[account_id][region_name].delete_api_destination(self.ref)


# moto lists its CloudFormation models once (cached): list them again with these three.
parsing.get_model_list.cache_clear()
parsing.get_model_map.cache_clear()
parsing.get_name_type_map.cache_clear()
