#!/usr/bin/env bash
# Deploys one endpoint stack from the deploy build's output, as CodePipeline's CloudFormation
# action does: template-export.yml with a stage configuration file ({"Parameters": {...},
# "Tags": {...}}, written by build.py), through the CI/CD stack's CloudFormation role.
#   deploy-endpoint-stack.sh STACK_NAME STAGE_CONFIG ROLE_ARN [replace-on-failure]
# replace-on-failure (staging): a stack a failed create left in ROLLBACK_COMPLETE cannot be
# updated, so it is deleted and created again.
set -euo pipefail

stack="$1"
config="$2"
role="$3"
mode="${4:-}"

status="$(aws cloudformation describe-stacks --stack-name "$stack" \
  --query 'Stacks[0].StackStatus' --output text 2>/dev/null || echo NONE)"
if [[ "$mode" == "replace-on-failure" && "$status" == "ROLLBACK_COMPLETE" ]]; then
  echo "$stack is in ROLLBACK_COMPLETE: deleting it before creating it again"
  aws cloudformation delete-stack --stack-name "$stack"
  aws cloudformation wait stack-delete-complete --stack-name "$stack"
fi

# One KEY=VALUE word per entry, so values with spaces stay whole.
mapfile -t parameters < <(jq -r '.Parameters | to_entries[] | "\(.key)=\(.value)"' "$config")
mapfile -t tags < <(jq -r '(.Tags // {}) | to_entries[] | "\(.key)=\(.value)"' "$config")

aws cloudformation deploy \
  --stack-name "$stack" \
  --template-file template-export.yml \
  --role-arn "$role" \
  --no-fail-on-empty-changeset \
  --parameter-overrides "${parameters[@]}" \
  --tags "${tags[@]}"
