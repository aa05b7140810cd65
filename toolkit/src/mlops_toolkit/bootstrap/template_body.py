"""The CI/CD stack's template as the bootstrap sends it: compact JSON, not the commented YAML.

CreateStack takes at most 51,200 bytes of TemplateBody, and ``cicd-stack.yml`` is written for
people: comments next to every permission that say why, indented YAML. Sending the same template
as JSON without whitespace leaves room to grow without a staging bucket for TemplateURL (the
artifact bucket is one of the stack's own resources, so it cannot hold the stack's template).
CloudFormation treats a JSON template and its YAML source the same.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from mlops_toolkit.bootstrap.errors import ConfigError


class _CloudFormationLoader(yaml.SafeLoader):
    """YAML reading CloudFormation's short-form functions (``!Ref``, ``!Sub``...) in long form."""


def _intrinsic(loader: yaml.SafeLoader, tag: str, node: yaml.Node) -> dict[str, Any]:
    name = tag if tag in ("Ref", "Condition") else f"Fn::{tag}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if tag == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


_CloudFormationLoader.add_multi_constructor("!", _intrinsic)


def load_template(path: Path) -> dict[str, Any]:
    """The template at ``path`` as CloudFormation reads it; an unreadable file is a ConfigError
    (it is the team's own file, so an edit may have broken it)."""
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_CloudFormationLoader)
    except OSError as error:
        reason = error.strerror
        raise ConfigError(f"{path} cannot be read ({reason}); restore it from git.") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{path} is not valid YAML: {error}") from None


def compact_body(path: Path) -> str:
    """``path``'s template as the smallest JSON text CloudFormation accepts."""
    return json.dumps(load_template(path), separators=(",", ":"), ensure_ascii=False)
