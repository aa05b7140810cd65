#!/usr/bin/env bash
# Usage: check-release-tag.sh TAG — exits 1 unless TAG is v<version> of toolkit/pyproject.toml and
# cookiecutter.json's _toolkit_version (what generated projects pin) is that same version.
set -euo pipefail
cd "$(dirname "$0")/../.."
tag="${1:?give the release tag, e.g. v0.1.0}"
read -r toolkit pinned < <(python3 - <<'PY'
import json, tomllib
toolkit = tomllib.load(open("toolkit/pyproject.toml", "rb"))["project"]["version"]
pinned = json.load(open("cookiecutter.json"))["_toolkit_version"]
print(toolkit, pinned)
PY
)
if [[ "$pinned" != "$toolkit" ]]; then
  echo "cookiecutter.json pins toolkit $pinned but toolkit/pyproject.toml is $toolkit: make them equal" >&2
  exit 1
fi
if [[ "$tag" != "v$toolkit" ]]; then
  echo "tag $tag does not release toolkit $toolkit: tag v$toolkit, or bump toolkit/pyproject.toml and cookiecutter.json" >&2
  exit 1
fi
echo "tag $tag releases mlops-template-toolkit $toolkit"
