"""``mlops-bootstrap policy``: the IAM policies whoever runs bootstrap and teardown needs.

The deploy repository's ``cicd/bootstrap-policy.json`` holds them with ``${Name}`` placeholders for
the project's names, the account, the region and the partition. The stack has no service role:
CloudFormation creates its resources with the caller's credentials, so the second policy grants
what each resource's handler needs, and only through CloudFormation (``aws:CalledVia``). A batch
project adds ``batch-stack``, a GitHub Actions project ``github-actions-stack``, each for its own
stack. The template's tests check them against every call bootstrap and teardown make and against
the stacks' resource handlers.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from mlops_toolkit.bootstrap import github_actions
from mlops_toolkit.bootstrap.errors import ConfigError
from mlops_toolkit.bootstrap.project import Project
from mlops_toolkit.bootstrap.stack import stack_parameters

ACCOUNT_RE = re.compile(r"[0-9]{12}")
PLACEHOLDER_RE = re.compile(r"\$\{(\w+)\}")
# IAM's limit for one customer managed policy, whitespace not counted.
MANAGED_POLICY_LIMIT = 6144


def policy_values(project: Project, account_id: str, partition: str = "aws") -> dict[str, str]:
    return {
        **stack_parameters(project, account_id),
        "CicdStackName": project.names["cicd_stack"],
        # ci=github-actions: the second stack and the dispatch token's secret.
        "GitHubActionsStackName": github_actions.stack_name(project),
        "DispatchTokenSecretName": github_actions.token_secret_name(project),
        "Partition": partition,
        "Region": project.region,
        "Account": account_id,
    }


def render(project: Project, account_id: str, partition: str = "aws") -> dict[str, Any]:
    """Every policy document, named, with the project's values filled in."""
    if not ACCOUNT_RE.fullmatch(account_id):
        raise ConfigError(f"--account-id {account_id!r} is not a 12-digit AWS account id")
    values = policy_values(project, account_id, partition)
    path = project.policy_file

    def fill(match: re.Match[str]) -> str:
        if match.group(1) not in values:
            raise ConfigError(f"{path} names an unknown value {match.group(0)}")
        return values[match.group(1)]

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        reason = error.strerror
        raise ConfigError(f"{path} cannot be read ({reason}); restore it from git.") from None
    try:
        rendered = json.loads(PLACEHOLDER_RE.sub(fill, text))
    except ValueError as error:
        raise ConfigError(f"{path} is not readable JSON: {error}") from None
    for name, document in rendered.items():
        size = len(json.dumps(document, separators=(",", ":")))
        if size > MANAGED_POLICY_LIMIT:
            raise ConfigError(
                f"policy {name} is {size} characters, over IAM's {MANAGED_POLICY_LIMIT} for a "
                "managed policy: split it in bootstrap-policy.json"
            )
    return rendered


def write(policies: dict[str, Any], output_dir: Path | None) -> str:
    """The policies as JSON text, or written to ``output_dir/<name>.json`` (what is printed)."""
    if output_dir is None:
        return json.dumps(policies, indent=2)
    output_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, document in policies.items():
        path = output_dir / f"{name}.json"
        path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        paths.append(str(path))
    return "\n".join(paths)
