"""The IAM contract tests' evaluator answers as IAM does: the checks below would pass vacuously if
it allowed everything, ignored resources or conditions, or accepted actions that do not exist."""

from __future__ import annotations

from iam_contract.evaluator import IamRequest, Principal, action_detail, denials, unused_actions

ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/contract-check"
ENDPOINT = f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:endpoint/staging"
CONFIG = f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:endpoint-config/staging-1"
POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": "sagemaker:CreateEndpoint", "Resource": ENDPOINT},
        {
            "Effect": "Allow",
            "Action": "iam:PassRole",
            "Resource": ROLE,
            "Condition": {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
        },
        {"Effect": "Allow", "Action": "sagemaker:Describe*", "Resource": ENDPOINT},
    ],
}
PRINCIPAL = Principal("ContractCheck", ROLE, ACCOUNT, (POLICY,))


def test_resource_arns_and_conditions_decide():
    allowed = [
        IamRequest("sagemaker:CreateEndpoint", ENDPOINT, "granted ARN"),
        IamRequest(
            "iam:PassRole",
            ROLE,
            "condition met",
            {"iam:PassedToService": "sagemaker.amazonaws.com"},
        ),
    ]
    refused = [
        IamRequest("sagemaker:CreateEndpoint", CONFIG, "other resource type"),
        IamRequest(
            "iam:PassRole", ROLE, "condition not met", {"iam:PassedToService": "ec2.amazonaws.com"}
        ),
        IamRequest("sagemaker:DeleteEndpoint", ENDPOINT, "action not granted"),
    ]
    assert denials(PRINCIPAL, allowed) == []
    assert [line.rsplit("(", 1)[1] for line in denials(PRINCIPAL, refused)] == [
        "other resource type): ImplicitlyDenied",
        "condition not met): ImplicitlyDenied",
        "action not granted): ImplicitlyDenied",
    ]


def test_unknown_actions_and_wrong_resource_types_are_errors_not_allowed():
    (unknown,) = denials(PRINCIPAL, [IamRequest("sagemaker:CreateEndpointt", ENDPOINT, "typo")])
    assert "Error" in unknown
    (wrong_type,) = denials(
        Principal(
            "Any",
            ROLE,
            ACCOUNT,
            ({"Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]},),
        ),
        [IamRequest("s3:GetObject", ENDPOINT, "an endpoint is no S3 object")],
    )
    assert "Error" in wrong_type


def test_the_reference_lists_both_resources_create_endpoint_needs():
    required = {
        kind.name for kind in action_detail("sagemaker:CreateEndpoint").required_resource_types
    }
    assert required == {"endpoint", "endpoint-config"}


def test_unused_grants_expand_wildcards():
    used = [
        IamRequest("sagemaker:CreateEndpoint", ENDPOINT, "x"),
        IamRequest("iam:PassRole", ROLE, "x"),
    ]
    unused = unused_actions(PRINCIPAL.policies, used)
    assert "sagemaker:describeendpoint" in unused
    assert "sagemaker:createendpoint" not in unused
