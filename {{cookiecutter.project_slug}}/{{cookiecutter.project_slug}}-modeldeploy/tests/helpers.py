"""Shared test data and small helpers (kept out of conftest so tests can import them)."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import yaml
from botocore.config import Config
from cfnlint.decode.decode import decode

REPO_ROOT = Path(__file__).resolve().parents[1]
TEMPLATE_PATH = REPO_ROOT / "endpoint-config-template.yml"
REGION = "us-east-1"
ACCOUNT = "123456789012"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/model-execution"
BUCKET = "mlops-artifacts-123456789012"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
KMS_KEY_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"

# Never legacy retries: they turn one unimplemented moto call into seconds of back-off.
TEST_CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 2})

# Stands in for the rendered project.json: this directory is also the cookiecutter template,
# where project.json is still a Jinja expression.
PROJECT = {
    "project_name": "Abalone Age Predictor",
    "project_slug": "abalone-age-predictor",
    "aws_region": REGION,
    "model_package_group_name": "abalone-age-predictor",
    "owner_team": "ml-platform",
}
SLUG = PROJECT["project_slug"]
TOPIC_ARN = f"arn:aws:sns:{REGION}:{ACCOUNT}:{SLUG}-notifications"
ENDPOINT = f"{SLUG}-staging"
GROUP = PROJECT["model_package_group_name"]


def write_json(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")
    return path


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def build_argv(tmp_path: Path, project_file: Path, *extra: str) -> list[str]:
    """build.py arguments with every required value, exporting into ``tmp_path``."""
    return [
        "--project-file", str(project_file),
        "--model-execution-role-arn", ROLE_ARN,
        "--artifact-bucket", BUCKET,
        "--export-staging-config", str(tmp_path / "staging-export.json"),
        "--export-prod-config", str(tmp_path / "prod-export.json"),
        "--source-commit", COMMIT,
        *extra,
    ]  # fmt: skip


def load_script(path: Path, name: str) -> ModuleType:
    """Import a script by path (test/test.py cannot be imported as ``test``: stdlib owns it)."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # dataclasses look their module up in sys.modules while the class body runs.
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


class Registry:
    """A model package group in moto, filled with versions in a chosen order."""

    def __init__(self, client: Any, group: str = GROUP) -> None:
        self.client = client
        self.group = group

    def create_group(self) -> None:
        self.client.create_model_package_group(ModelPackageGroupName=self.group)

    def add_version(self, status: str, baselines: dict[str, Any] | None = None) -> str:
        """Register one version with ``status`` (and drift baselines if given); returns its ARN."""
        # moto sorts on creation time; a short pause keeps versions from sharing a timestamp.
        time.sleep(0.003)
        extra = {} if baselines is None else {"DriftCheckBaselines": baselines}
        response = self.client.create_model_package(
            ModelPackageGroupName=self.group,
            ModelApprovalStatus=status,
            **extra,
            InferenceSpecification={
                "Containers": [{"Image": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/xgb:1"}],
                "SupportedContentTypes": ["text/csv"],
                "SupportedResponseMIMETypes": ["text/csv"],
            },
        )
        return response["ModelPackageArn"]


def load_template() -> dict[str, Any]:
    template, matches = decode(str(TEMPLATE_PATH))
    assert template is not None, matches
    return template


def constraint_violations(template: dict[str, Any], values: dict[str, str]) -> list[str]:
    """What CloudFormation would reject in ``values`` (moto checks none of these rules)."""
    problems = [
        f"{key}: not a template parameter" for key in values if key not in template["Parameters"]
    ]
    for key, rules in template["Parameters"].items():
        if key not in values:
            problems.append(f"{key}: missing")
            continue
        problems.extend(f"{key}={values[key]!r}: {why}" for why in _violations(rules, values[key]))
    return problems


def _violations(rules: dict[str, Any], value: str) -> list[str]:
    found = []
    if "AllowedValues" in rules and value not in [str(item) for item in rules["AllowedValues"]]:
        found.append(f"not in {rules['AllowedValues']}")
    items = value.split(",") if rules["Type"] == "CommaDelimitedList" else [value]
    if "AllowedPattern" in rules and any(
        re.fullmatch(rules["AllowedPattern"], item) is None for item in items
    ):
        found.append(f"does not match {rules['AllowedPattern']}")
    if rules["Type"] == "Number":
        number = float(value)
        if number < float(rules.get("MinValue", number)) or number > float(
            rules.get("MaxValue", number)
        ):
            found.append(f"outside [{rules.get('MinValue')}, {rules.get('MaxValue')}]")
    elif (
        not int(rules.get("MinLength", 0)) <= len(value) <= int(rules.get("MaxLength", len(value)))
    ):
        found.append(
            f"length {len(value)} outside [{rules.get('MinLength')}, {rules.get('MaxLength')}]"
        )
    return found


def create_endpoint(moto_url: str, capture: bool = True) -> None:
    """The staging endpoint as the staging stack would leave it, made through the API."""
    sagemaker = boto3.client(
        "sagemaker", region_name=REGION, endpoint_url=moto_url, config=TEST_CLIENT_CONFIG
    )
    sagemaker.create_model(
        ModelName="staging-model",
        ExecutionRoleArn=ROLE_ARN,
        PrimaryContainer={"Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/xgb:1"},
    )
    extra: dict[str, Any] = {}
    if capture:
        extra["DataCaptureConfig"] = {
            "EnableCapture": True,
            "InitialSamplingPercentage": 100,
            "DestinationS3Uri": f"s3://bucket/{SLUG}/datacapture/staging",
            "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
        }
    sagemaker.create_endpoint_config(
        EndpointConfigName="staging-config",
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": "staging-model",
                "InstanceType": "ml.m5.large",
                "InitialInstanceCount": 1,
            }
        ],
        **extra,
    )
    sagemaker.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName="staging-config")


# The eight raw request columns, named as a baseline of headerless CSV names them.
FEATURES = [f"_c{index}" for index in range(8)]
BASELINE_PREFIX = f"{SLUG}/baselines/run-1"
STATISTICS_URI = f"s3://{BUCKET}/{BASELINE_PREFIX}/statistics.json"
CONSTRAINTS_URI = f"s3://{BUCKET}/{BASELINE_PREFIX}/constraints.json"


def model_monitor_constraints(features: list[str], threshold: float | None = 0.1) -> dict[str, Any]:
    """A constraints.json as Model Monitor's suggest-baseline job writes it."""
    config: dict[str, Any] = {
        "evaluate_constraints": "Enabled",
        "emit_metrics": "Enabled",
        "datatype_check_threshold": 1.0,
        "domain_content_threshold": 1.0,
        "distribution_constraints": {
            "perform_comparison": "Enabled",
            "comparison_method": "Robust",
        },
    }
    if threshold is not None:
        config["distribution_constraints"]["comparison_threshold"] = threshold
    return {
        "version": 0.0,
        "features": [
            {"name": name, "inferred_type": "Fractional", "completeness": 1.0} for name in features
        ],
        "monitoring_config": config,
    }


def drift_check_baselines(statistics: str = STATISTICS_URI, constraints: str = CONSTRAINTS_URI):
    """DriftCheckBaselines as the model-build pipeline registers them."""
    return {
        "ModelDataQuality": {
            "Statistics": {"ContentType": "application/json", "S3Uri": statistics},
            "Constraints": {"ContentType": "application/json", "S3Uri": constraints},
        }
    }


def upload_baselines(constraints: dict[str, Any] | str) -> None:
    """Put the baseline files where drift_check_baselines() points (moto must be active)."""
    s3 = boto3.client("s3", region_name=REGION, config=TEST_CLIENT_CONFIG)
    s3.create_bucket(Bucket=BUCKET)
    body = constraints if isinstance(constraints, str) else json.dumps(constraints)
    s3.put_object(Bucket=BUCKET, Key=f"{BASELINE_PREFIX}/constraints.json", Body=body)
    s3.put_object(Bucket=BUCKET, Key=f"{BASELINE_PREFIX}/statistics.json", Body="{}")


def load_buildspec(relative: str) -> dict[str, Any]:
    return yaml.safe_load((REPO_ROOT / relative).read_text(encoding="utf-8"))


def checkout(tmp_path: Path) -> Path:
    """The repository as CodeBuild sees it: this directory, with project.json rendered."""
    root = tmp_path / "checkout"
    shutil.copytree(REPO_ROOT, root, ignore=shutil.ignore_patterns("tests", "__pycache__"))
    write_json(root / "project.json", PROJECT)
    return root


def run_command(command: str, root: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """A buildspec command as CodeBuild runs it (bash); "python" in it is this interpreter."""
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    return subprocess.run(
        ["bash", "-c", command],
        cwd=root,
        env=os.environ | env | {"PATH": path},
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )


# The bucket the deploy CodeBuild project names in ARTIFACT_BUCKET, in the buildspec tests.
BUILD_BUCKET = "artifact-bucket"


def deploy_build(moto_url: str, tmp_path: Path) -> tuple[str, dict[str, str]]:
    """An Approved version in the stand-in's group, and the environment the deploy CodeBuild
    project gives buildspec.yml (its exports written under ``tmp_path``)."""
    sagemaker = boto3.client(
        "sagemaker", region_name=REGION, endpoint_url=moto_url, config=TEST_CLIENT_CONFIG
    )
    registry = Registry(sagemaker)
    registry.create_group()
    approved = registry.add_version("Approved")
    env = {
        "AWS_ENDPOINT_URL": moto_url,
        "SOURCE_MODEL_PACKAGE_GROUP_NAME": GROUP,
        "MODEL_EXECUTION_ROLE_ARN": ROLE_ARN,
        "ARTIFACT_BUCKET": BUILD_BUCKET,
        "EXPORT_TEMPLATE_NAME": str(tmp_path / "template-export.yml"),
        "EXPORT_TEMPLATE_STAGING_CONFIG": str(tmp_path / "staging-config-export.json"),
        "EXPORT_TEMPLATE_PROD_CONFIG": str(tmp_path / "prod-config-export.json"),
        "CODEBUILD_RESOLVED_SOURCE_VERSION": "feedface",
    }
    return approved, env
