"""AWS naming rules for the resources the template creates, as documented by each service."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass


@dataclass(frozen=True)
class NameRule:
    service: str
    pattern: re.Pattern[str]
    max_len: int
    min_len: int = 1
    described: str = ""


def _rule(service: str, pattern: str, max_len: int, described: str, min_len: int = 1) -> NameRule:
    return NameRule(service, re.compile(pattern, re.ASCII), max_len, min_len, described)


_SAGEMAKER_63 = r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}"
_SAGEMAKER_CHARS = "letters, digits and hyphens, starting and ending with a letter or digit"

NAME_RULES: dict[str, NameRule] = {
    "sagemaker_endpoint": _rule("SageMaker", _SAGEMAKER_63, 63, _SAGEMAKER_CHARS),
    "sagemaker_model_package_group": _rule("SageMaker", _SAGEMAKER_63, 63, _SAGEMAKER_CHARS),
    "sagemaker_pipeline": _rule(
        "SageMaker", r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,255}", 256, _SAGEMAKER_CHARS
    ),
    "codecommit_repository": _rule(
        "CodeCommit", r"[\w.-]{1,100}", 100, "letters, digits, '_', '.' and '-'"
    ),
    "codebuild_project": _rule(
        "CodeBuild",
        r"[A-Za-z0-9][A-Za-z0-9\-_]{1,254}",
        255,
        "letters, digits, '-' and '_', starting with a letter or digit",
        min_len=2,
    ),
    "codepipeline": _rule(
        "CodePipeline", r"[A-Za-z0-9.@\-_]{1,100}", 100, "letters, digits and '.@-_'"
    ),
    "cloudformation_stack": _rule(
        "CloudFormation",
        r"[a-zA-Z][-a-zA-Z0-9]{0,127}",
        128,
        "letters, digits and hyphens, starting with a letter",
    ),
    "s3_bucket": _rule(
        "S3",
        r"[a-z0-9][a-z0-9.-]*[a-z0-9]",
        63,
        "lowercase letters, digits, '.' and '-', starting and ending with a letter or digit",
        min_len=3,
    ),
}

# S3 keeps these for its own features (IDN, access point aliases, directory buckets, examples).
S3_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
S3_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", "--x-s3")


def name_violation(name: str, kind: str) -> str | None:
    """Why ``name`` is not a valid AWS name of ``kind`` (a key of NAME_RULES), or None if it is."""
    rule = NAME_RULES[kind]
    if len(name) > rule.max_len:
        return f"would be {len(name)} characters, over {rule.service}'s {rule.max_len}"
    if len(name) < rule.min_len:
        return f"would be {len(name)} characters, under {rule.service}'s {rule.min_len}"
    if not rule.pattern.fullmatch(name):
        return f"breaks {rule.service}'s naming rule ({rule.described})"
    if kind == "s3_bucket":
        return _s3_extra_violation(name)
    return None


def _s3_extra_violation(name: str) -> str | None:
    for prefix in S3_RESERVED_PREFIXES:
        if name.startswith(prefix):
            return f"starts with '{prefix}', a prefix S3 reserves"
    for suffix in S3_RESERVED_SUFFIXES:
        if name.endswith(suffix):
            return f"ends with '{suffix}', a suffix S3 reserves"
    if ".." in name:
        return "contains '..' (S3 forbids it)"
    if _is_ipv4(name):
        return "looks like an IP address (S3 forbids it)"
    return None


def _is_ipv4(name: str) -> bool:
    try:
        ipaddress.IPv4Address(name)
    except ValueError:
        return False
    return True
