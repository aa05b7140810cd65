"""``mlops-bootstrap bootstrap|teardown`` run as a user runs them, against a moto server."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from bootstrap_stand_in import (
    ACCOUNT,
    BOOTSTRAP_WRITES,
    BOOTSTRAPPED,
    REGION,
    SLUG,
    bare_remotes,
    bootstrap_env,
    copy_project,
    extra_inventory,
    inventory,
    local_head,
    read_json,
    remote_head,
    render_seed_project,
    run_bootstrap,
    stand_in,
)

# moto warns about each resource type its CloudFormation skips (CodeBuild, CodePipeline...).
pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse AWS:UserWarning")

EMPTY = {"repositories": [], "groups": [], "stacks": [], "buckets": []}
STEPS = [
    "cicd-stack",
    "model-package-group",
    "push:modelbuild",
    "push:modeldeploy",
    "repository:modelbuild",
    "repository:modeldeploy",
]


@pytest.fixture(scope="module")
def aws():
    with stand_in() as running:
        yield running


@pytest.fixture(scope="module")
def seed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return render_seed_project(tmp_path_factory.mktemp("seed"))


@pytest.fixture
def project(aws, seed: Path, tmp_path: Path) -> Path:
    aws.reset()
    return copy_project(seed, tmp_path / SLUG)


@pytest.fixture
def remotes(tmp_path: Path) -> Path:
    return bare_remotes(tmp_path / "remotes")


@pytest.fixture
def env(aws, remotes: Path) -> dict[str, str]:
    return bootstrap_env(aws, remotes)


def git_status(project: Path, repo: str) -> str:
    return subprocess.run(
        ["git", "-C", str(project / repo), "status", "--porcelain"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def test_full_run_creates_everything_and_pushes_main(aws, project, env, remotes):
    result = run_bootstrap(project, env, "bootstrap", "--yes")

    assert result.returncode == 0, result.stderr
    assert inventory(aws) == BOOTSTRAPPED
    for repo in BOOTSTRAPPED["repositories"]:
        assert remote_head(remotes, repo) == local_head(project, repo)
        metadata = aws.client("codecommit").get_repository(repositoryName=repo)
        assert metadata["repositoryMetadata"]["repositoryDescription"].endswith(
            f"(mlops-template project {SLUG})"
        )
    sagemaker = aws.client("sagemaker")
    group = sagemaker.describe_model_package_group(ModelPackageGroupName=SLUG)
    assert "Abalone Age Predictor" in group["ModelPackageGroupDescription"]
    tags = sagemaker.list_tags(ResourceArn=group["ModelPackageGroupArn"])["Tags"]
    assert {"Key": "project", "Value": SLUG} in tags
    assert {"Key": "owner", "Value": "ml-platform"} in tags
    stack = aws.client("cloudformation").describe_stacks(StackName=f"{SLUG}-cicd")["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    assert {"Key": "project", "Value": SLUG} in stack["Tags"]
    state = read_json(project / ".mlops-bootstrap.json")
    assert sorted(state["steps"]) == STEPS
    assert state["account_id"] == ACCOUNT
    assert state["steps"]["cicd-stack"]["outputs"]["ArtifactBucketName"] == (
        f"{SLUG}-{ACCOUNT}-{REGION}"
    )
    assert "Every push to main starts it again" in result.stdout


def test_plan_names_account_region_and_every_resource(project, env):
    result = run_bootstrap(project, env, "bootstrap", "--dry-run")

    assert result.returncode == 0, result.stderr
    for expected in (
        f"AWS account  {ACCOUNT}",
        f"region       {REGION}",
        *BOOTSTRAPPED["repositories"],
        f"{SLUG}-cicd",
        f"{SLUG}-{ACCOUNT}-{REGION}",
        f"{SLUG}-staging-test",
        f"{SLUG}-deploy-staging",
        f"{SLUG}-prod",
    ):
        assert expected in result.stdout, expected


def test_dry_run_changes_nothing(aws, project, env, remotes):
    result = run_bootstrap(project, env, "bootstrap", "--dry-run")

    assert result.returncode == 0, result.stderr
    assert "Dry run: 6 step(s) would change something" in result.stdout
    assert inventory(aws) == EMPTY
    assert not (project / ".mlops-bootstrap.json").exists()
    assert remote_head(remotes, BOOTSTRAPPED["repositories"][0]) is None


def test_second_run_changes_nothing(aws, project, env, remotes):
    assert run_bootstrap(project, env, "bootstrap", "--yes").returncode == 0
    state_before = (project / ".mlops-bootstrap.json").read_bytes()
    # Any AWS write on the second run would now fail loudly.
    deny_writes = ";".join(f"{operation}:deny" for operation in BOOTSTRAP_WRITES)

    again = run_bootstrap(
        project, {**env, "MLOPS_BOOTSTRAP_FAULT": deny_writes}, "bootstrap", "--yes"
    )

    assert again.returncode == 0, again.stderr
    assert "Nothing to do: every resource is in place." in again.stdout
    assert inventory(aws) == BOOTSTRAPPED
    assert (project / ".mlops-bootstrap.json").read_bytes() == state_before


def test_no_credentials_says_how_to_configure_and_finish(aws, project, env):
    bare = {key: value for key, value in env.items() if not key.startswith("AWS_ACCESS")}
    bare.pop("AWS_SECRET_ACCESS_KEY")

    result = run_bootstrap(project, bare, "bootstrap", "--yes")

    assert result.returncode == 3
    assert "no AWS credentials" in result.stderr
    assert "aws configure" in result.stderr
    assert str(project) in result.stderr
    assert f"cd '{project / f'{SLUG}-modeldeploy'}' && mlops-bootstrap bootstrap" in result.stderr
    assert "Traceback" not in result.stderr
    assert inventory(aws) == EMPTY
    assert git_status(project, f"{SLUG}-modeldeploy") == ""


def test_unattended_run_without_yes_is_refused(aws, project, env):
    result = run_bootstrap(project, env, "bootstrap")

    assert result.returncode == 2
    assert "pass --yes" in result.stderr
    assert inventory(aws) == EMPTY


def test_someone_elses_repository_blocks_before_any_change(aws, project, env):
    aws.client("codecommit").create_repository(
        repositoryName=f"{SLUG}-modeldeploy", repositoryDescription="the payments team's code"
    )

    result = run_bootstrap(project, env, "bootstrap", "--yes")

    assert result.returncode == 1
    assert f"{SLUG}-modeldeploy already exists and is not this project's" in result.stderr
    assert inventory(aws) == {**EMPTY, "repositories": [f"{SLUG}-modeldeploy"]}


def test_failed_push_stops_and_the_rerun_finishes(aws, project, env, remotes):
    deploy_remote = remotes / f"{SLUG}-modeldeploy.git"
    deploy_remote.rename(remotes / "unreachable.git")

    failed = run_bootstrap(project, env, "bootstrap", "--yes")

    assert failed.returncode == 1
    assert f"git push main '{SLUG}-modeldeploy' failed" in failed.stderr
    assert "Re-run to continue where it stopped" in failed.stderr
    assert inventory(aws)["stacks"] == []
    (remotes / "unreachable.git").rename(deploy_remote)
    assert run_bootstrap(project, env, "bootstrap", "--yes").returncode == 0
    assert remote_head(remotes, f"{SLUG}-modeldeploy") == local_head(project, f"{SLUG}-modeldeploy")
    assert inventory(aws) == BOOTSTRAPPED


def test_repository_left_without_git_is_initialised_then_pushed(aws, project, env, remotes):
    build_repo = project / f"{SLUG}-modelbuild"
    shutil.rmtree(build_repo / ".git")

    result = run_bootstrap(project, env, "bootstrap", "--yes")

    assert result.returncode == 0, result.stderr
    assert git_status(project, f"{SLUG}-modelbuild") == ""
    assert remote_head(remotes, f"{SLUG}-modelbuild") == local_head(project, f"{SLUG}-modelbuild")


def simulate_ci_cd(aws, project: Path, env: dict[str, str]) -> None:
    """What the pipelines add after a bootstrap: artifacts, the SageMaker pipeline, approved
    versions, a staging stack from build.py's real export, and a stray prod endpoint."""
    bucket = BOOTSTRAPPED["buckets"][0]
    s3 = aws.client("s3")
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    for body in (b"v1", b"v2"):
        s3.put_object(Bucket=bucket, Key="model/model.tar.gz", Body=body)
    s3.delete_object(Bucket=bucket, Key="model/model.tar.gz")
    outputs = read_json(project / ".mlops-bootstrap.json")["steps"]["cicd-stack"]["outputs"]
    role = outputs["SageMakerExecutionRoleArn"]
    sagemaker = aws.client("sagemaker")
    sagemaker.create_pipeline(
        PipelineName=SLUG,
        PipelineDefinition=json.dumps({"Version": "2020-12-01", "Steps": []}),
        RoleArn=role,
        Tags=[{"Key": "project", "Value": SLUG}],
    )
    for _ in range(2):
        sagemaker.create_model_package(
            ModelPackageGroupName=SLUG,
            ModelApprovalStatus="Approved",
            InferenceSpecification={
                "Containers": [{"Image": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/x:1"}],
                "SupportedContentTypes": ["text/csv"],
                "SupportedResponseMIMETypes": ["text/csv"],
            },
        )
    deploy_repo = project / f"{SLUG}-modeldeploy"
    build = subprocess.run(
        [
            sys.executable,
            "build.py",
            "--model-execution-role-arn",
            role,
            "--artifact-bucket",
            bucket,
        ],
        cwd=deploy_repo,
        env={**env, "AWS_REGION": REGION},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert build.returncode == 0, build.stderr
    export = read_json(deploy_repo / "staging-config-export.json")
    aws.client("cloudformation").create_stack(
        StackName=f"{SLUG}-deploy-staging",
        TemplateBody=(deploy_repo / "endpoint-config-template.yml").read_text(),
        Parameters=[
            {"ParameterKey": k, "ParameterValue": v} for k, v in export["Parameters"].items()
        ],
        Tags=[{"Key": k, "Value": v} for k, v in export["Tags"].items()],
    )
    sagemaker.create_model(
        ModelName="stray", ExecutionRoleArn=role, PrimaryContainer={"Image": "x"}
    )
    sagemaker.create_endpoint_config(
        EndpointConfigName="stray",
        ProductionVariants=[
            {
                "VariantName": "all",
                "ModelName": "stray",
                "InstanceType": "ml.m5.large",
                "InitialInstanceCount": 1,
            }
        ],
    )
    sagemaker.create_endpoint(
        EndpointName=f"{SLUG}-prod",
        EndpointConfigName="stray",
        Tags=[{"Key": "project", "Value": SLUG}],
    )
    for project_name in ("modelbuild", "staging-test"):
        aws.client("logs").create_log_group(logGroupName=f"/aws/codebuild/{SLUG}-{project_name}")


def test_teardown_lists_first_then_leaves_nothing_behind(aws, project, env):
    assert run_bootstrap(project, env, "bootstrap", "--yes").returncode == 0
    simulate_ci_cd(aws, project, env)
    assert all(extra_inventory(aws).values())

    listed = run_bootstrap(project, env, "teardown", "--dry-run")
    assert listed.returncode == 0, listed.stderr
    for name in (
        f"{SLUG}-deploy-staging",
        f"{SLUG}-prod",
        SLUG,
        f"{SLUG}-cicd",
        *BOOTSTRAPPED["buckets"],
        *BOOTSTRAPPED["repositories"],
    ):
        assert name in listed.stdout, name
    assert f"/aws/codebuild/{SLUG}-staging-test" in listed.stdout
    assert "Dry run: 10 resource(s) would be deleted" in listed.stdout
    assert inventory(aws)["stacks"] == [f"{SLUG}-cicd", f"{SLUG}-deploy-staging"]

    done = run_bootstrap(project, env, "teardown", "--yes")

    assert done.returncode == 0, done.stderr
    assert inventory(aws) == EMPTY
    left = extra_inventory(aws)
    assert left == {
        "packages": [],
        "pipelines": [],
        "endpoints": [],
        "roles": [],
        "rules": [],
        "log groups": [],
    }
    assert not (project / ".mlops-bootstrap.json").exists()
    assert git_status(project, f"{SLUG}-modeldeploy") == ""


def test_teardown_keeps_what_is_not_this_projects(aws, project, env):
    aws.client("codecommit").create_repository(
        repositoryName=f"{SLUG}-modelbuild", repositoryDescription="someone else's"
    )

    result = run_bootstrap(project, env, "teardown", "--yes")

    assert result.returncode == 0, result.stderr
    assert "keep (not this project's)" in result.stdout
    assert "Nothing to delete" in result.stdout
    assert inventory(aws)["repositories"] == [f"{SLUG}-modelbuild"]
