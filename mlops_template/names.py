"""Every AWS resource name derived from a project slug: the single source of truth.

Names follow what SageMaker Projects' built-in template creates, with the slug standing in for its
``<name>-<id>`` (see DESIGN-NOTES). Each field records the kind of AWS name it is, so validation can
check it against that service's naming rule without a second list that could drift.
"""

from __future__ import annotations

import dataclasses
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from mlops_template.aws_rules import NAME_RULES

# The real account id is only known at bootstrap; any 12 characters give the same bucket length.
PLACEHOLDER_ACCOUNT_ID = "123456789012"


def _name(kind: str, label: str) -> Any:
    # No default on purpose: derived_names() passes every value, the metadata drives validation.
    return field(metadata={"kind": kind, "label": label})


@dataclass(frozen=True)
class DerivedNames:
    """AWS names for one generated project; ``kind`` metadata keys into ``aws_rules.NAME_RULES``."""

    modelbuild_repo: str = _name("codecommit_repository", "model build repository")
    modeldeploy_repo: str = _name("codecommit_repository", "model deploy repository")
    modelbuild_build_project: str = _name("codebuild_project", "model build CodeBuild project")
    modeldeploy_build_project: str = _name("codebuild_project", "model deploy CodeBuild project")
    staging_test_build_project: str = _name("codebuild_project", "staging test CodeBuild project")
    modelbuild_codepipeline: str = _name("codepipeline", "model build CodePipeline")
    modeldeploy_codepipeline: str = _name("codepipeline", "model deploy CodePipeline")
    staging_stack: str = _name("cloudformation_stack", "staging deploy stack")
    prod_stack: str = _name("cloudformation_stack", "prod deploy stack")
    cicd_stack: str = _name("cloudformation_stack", "CI/CD stack")
    staging_endpoint: str = _name("sagemaker_endpoint", "staging endpoint")
    prod_endpoint: str = _name("sagemaker_endpoint", "prod endpoint")
    artifact_bucket: str = _name("s3_bucket", "artifact bucket name")

    def as_dict(self) -> dict[str, str]:
        return dataclasses.asdict(self)


def derived_names(slug: str, region: str, account_id: str = PLACEHOLDER_ACCOUNT_ID) -> DerivedNames:
    """Return the names of every AWS resource the project creates for ``slug`` in ``region``."""
    return DerivedNames(
        modelbuild_repo=f"{slug}-modelbuild",
        modeldeploy_repo=f"{slug}-modeldeploy",
        modelbuild_build_project=f"{slug}-modelbuild",
        modeldeploy_build_project=f"{slug}-modeldeploy",
        staging_test_build_project=f"{slug}-staging-test",
        modelbuild_codepipeline=f"{slug}-modelbuild",
        modeldeploy_codepipeline=f"{slug}-modeldeploy",
        staging_stack=f"{slug}-deploy-staging",
        prod_stack=f"{slug}-deploy-prod",
        cicd_stack=f"{slug}-cicd",
        staging_endpoint=f"{slug}-staging",
        prod_endpoint=f"{slug}-prod",
        artifact_bucket=f"{slug}-{account_id}-{region}",
    )


def project_folder_names(slug: str) -> tuple[str, ...]:
    """The folders generation creates from ``slug``: the project and its two repositories."""
    return (slug, f"{slug}-modelbuild", f"{slug}-modeldeploy")


def slugify(value: str) -> str:
    """Cookiecutter's slugify filter (python-slugify), so every tool derives the same slug."""
    try:
        from slugify import slugify as python_slugify
    except ImportError:
        return _ascii_slug(value)
    return python_slugify(value)


def _ascii_slug(value: str) -> str:
    # python-slugify's result for everything our questions accept, without the dependency.
    ascii_text = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode()
    words = "".join(char if char.isalnum() else " " for char in ascii_text.lower()).split()
    return "-".join(words)


def name_kind(field_name: str) -> str:
    """The AWS naming-rule key for a ``DerivedNames`` field."""
    return _FIELDS[field_name].metadata["kind"]


def name_label(field_name: str) -> str:
    """A human description of a ``DerivedNames`` field, for messages."""
    return _FIELDS[field_name].metadata["label"]


_FIELDS = {f.name: f for f in dataclasses.fields(DerivedNames)}


def max_slug_length(region: str) -> int:
    """The longest slug whose every derived name in ``region`` fits its service's length limit."""
    overhead = derived_names("", region).as_dict()
    return min(NAME_RULES[name_kind(field)].max_len - len(name) for field, name in overhead.items())
