"""A group's first run: turn a data-quality check into "register a new baseline" until one exists.

A check step compares this run's data with the baseline of the group's newest Approved version;
before there is one, SageMaker fails the step. ``run-pipeline`` therefore sets the check's
SkipCheck and RegisterNewBaseline parameters to true on a first run, and so does local-run: it
reads from the definition which parameters feed those fields, so any pipeline gets this.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from mlops_toolkit.aws import newest_approved_package
from mlops_toolkit.definition import step_graph

CHECK_TYPES = ("QualityCheck",)
BASELINE_FIELDS = ("SkipCheck", "RegisterNewBaseline")
_PARAMETER = "Parameters."


def _parameter_name(value: Any) -> str | None:
    if isinstance(value, dict) and str(value.get("Get", "")).startswith(_PARAMETER):
        return value["Get"][len(_PARAMETER) :]
    return None


def _resolved(value: Any, parameters: dict[str, Any]) -> Any:
    name = _parameter_name(value)
    return parameters.get(name) if name else value


def _has_baseline(client, group: str) -> bool:
    try:
        approved = newest_approved_package(client, group)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") not in (
            "ValidationException",
            "ResourceNotFound",
        ):
            raise
        return False  # the group does not exist yet: the first run creates it
    if not approved:
        return False
    described = client.describe_model_package(ModelPackageName=approved)
    return bool(described.get("DriftCheckBaselines", {}).get("ModelDataQuality"))


def first_run_overrides(
    definition: dict[str, Any], parameters: dict[str, Any], overridden: set[str], client
) -> dict[str, str]:
    """Parameter values that let a check with no previous baseline pass; ``{}`` when none apply.

    Only checks whose baseline fields are parameters the user did not set qualify.
    """
    found: dict[str, str] = {}
    for node in step_graph(definition).values():
        if node.type not in CHECK_TYPES:
            continue
        names = [_parameter_name(node.raw.get(field)) for field in BASELINE_FIELDS]
        if None in names or overridden & set(names):
            continue
        group = _resolved(node.raw.get("ModelPackageGroupName"), parameters)
        if group and _has_baseline(client, str(group)):
            continue
        # Spelled as SageMaker's Boolean parameters expect; str(True) would send "True".
        found |= {name: "true" for name in names if name}
    return found
