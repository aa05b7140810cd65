"""Unit tests for the answer rules in mlops_template (no cookiecutter run involved)."""

from __future__ import annotations

import io
import sys

import pytest

from mlops_template import validation
from mlops_template.aws_rules import NAME_RULES, name_violation
from mlops_template.names import (
    PLACEHOLDER_ACCOUNT_ID,
    derived_names,
    max_slug_length,
    name_kind,
    project_folder_names,
    slugify,
)
from mlops_template.regions import REGION_SYNTAX, complete_regions, known_regions
from mlops_template.validation import (
    FILE_NAME_MAX_BYTES,
    JINJA_MARKERS,
    AnswerProblem,
    format_problems,
    validate_answers,
)

VALID = {
    "project_name": "Abalone Age Predictor",
    "project_slug": "abalone-age-predictor",
    "description": "Predicts the age of abalone from physical measurements.",
    "aws_region": "us-east-1",
    "pipeline_name": "abalone-age-predictor",
    "model_package_group_name": "abalone-age-predictor",
    "processing_instance_type": "ml.m5.xlarge",
    "training_instance_type": "ml.m5.xlarge",
    "mse_threshold": "6.0",
    "model_approval_status": "PendingManualApproval",
    "owner_team": "ml-platform",
    "bootstrap_aws": "no",
    "framework": "xgboost",
    "hyperparameter_tuning": "no",
    "git_host": "codecommit",
    "ci": "codepipeline",
    "git_owner": "",
    "modelbuild_repository": "abalone-age-predictor-modelbuild",
    "modeldeploy_repository": "abalone-age-predictor-modeldeploy",
    "deployment": "realtime",
    "batch_schedule": "cron(0 2 * * ? *)",
}
FIELDS = tuple(VALID)
LONGEST_REGION = max(complete_regions(None), key=len)


def problems(**overrides: object) -> list[AnswerProblem]:
    return validate_answers({**VALID, **overrides})


def only_problem(field: str, **overrides: object) -> AnswerProblem:
    found = problems(**overrides)
    assert [problem.field for problem in found] == [field], found
    return found[0]


def test_defaults_pass() -> None:
    assert validate_answers(VALID) == []


def test_cookiecutter_private_keys_are_ignored() -> None:
    private = {"_repo_dir": "{{ x }}", "_copy_without_render": ["*.py"], "_checkout": None}
    assert validate_answers({**VALID, **private}) == []


def test_missing_answer_is_reported() -> None:
    answers = {key: value for key, value in VALID.items() if key != "owner_team"}
    (problem,) = validate_answers(answers)
    assert (problem.field, problem.rule) == ("owner_team", "is missing")


@pytest.mark.parametrize("value", [None, ["Approved"], True])
def test_non_text_answer_is_reported(value: object) -> None:
    problem = only_problem("owner_team", owner_team=value)
    assert "not text" in problem.rule


def test_all_problems_are_collected_in_question_order() -> None:
    found = problems(owner_team="", mse_threshold="abc", project_name="")
    assert [problem.field for problem in found] == ["project_name", "mse_threshold", "owner_team"]


@pytest.mark.parametrize("slug", ["a", "abalone", "a1", "my-project-2", "x" * 40])
def test_slug_accepted(slug: str) -> None:
    assert problems(project_slug=slug, pipeline_name="p", model_package_group_name="p") == []


@pytest.mark.parametrize(
    ("slug", "suggestion"),
    [
        ("My_Project", "my-project"),
        ("a b", "a-b"),
        ("../x", "x"),
        ("x;rm -rf", "x-rm-rf"),
        ("UPPER", "upper"),
        ("1abc", "project-1abc"),
        ("-abc", "abc"),
        ("abc-", "abc"),
        ("a--b", "a-b"),
        ("", "project"),
        ("caf\u00e9", "caf"),
    ],
)
def test_slug_rejected_with_a_valid_suggestion(slug: str, suggestion: str) -> None:
    problem = only_problem("project_slug", project_slug=slug, pipeline_name="p")
    assert "lowercase letters, digits and single hyphens" in problem.rule
    assert problem.fix == f"pass project_slug={suggestion}"
    assert problems(project_slug=suggestion, pipeline_name="p") == []


def test_names_that_only_repeat_a_rejected_slug_are_not_reported_twice() -> None:
    found = problems(
        project_slug="My_Project", pipeline_name="My_Project", model_package_group_name="a_b"
    )
    assert [problem.field for problem in found] == ["project_slug", "model_package_group_name"]


def test_max_slug_length_is_set_by_the_artifact_bucket() -> None:
    bucket_overhead = len(f"-{PLACEHOLDER_ACCOUNT_ID}-")
    assert max_slug_length("us-east-1") == 63 - bucket_overhead - len("us-east-1") == 40
    assert max_slug_length(LONGEST_REGION) == 63 - bucket_overhead - len(LONGEST_REGION)
    assert max_slug_length(LONGEST_REGION) < 40


@pytest.mark.parametrize("region", ["us-east-1", LONGEST_REGION])
def test_longest_slug_passes_and_one_more_fails(region: str) -> None:
    limit = max_slug_length(region)
    names = {"aws_region": region, "pipeline_name": "p", "model_package_group_name": "p"}
    assert problems(project_slug="a" * limit, **names) == []
    slug = "a" * (limit + 1)
    problem = only_problem("project_slug", project_slug=slug, **names)
    bucket = f"{slug}-{PLACEHOLDER_ACCOUNT_ID}-{region}"
    assert problem.rule == (
        f"is {limit + 1} characters; the artifact bucket name '{bucket}' "
        "would be 64 characters, over S3's 63"
    )
    assert problem.fix.startswith(f"choose a slug of at most {limit} characters for {region}")


def test_too_long_slug_message_names_bucket_length_and_limit() -> None:
    slug = "x" * 52
    problem = only_problem(
        "project_slug", project_slug=slug, aws_region="ap-southeast-2", pipeline_name="p"
    )
    assert str(problem) == (
        f"project_slug: '{slug}' is 52 characters; the artifact bucket name "
        f"'{slug}-123456789012-ap-southeast-2' would be 80 characters, over S3's 63. "
        "Fix: choose a slug of at most 35 characters for ap-southeast-2 "
        "(pass project_slug=... or a shorter project_name)."
    )


@pytest.mark.parametrize("slug", ["sthree-data", "amzn-s3-demo-x"])
def test_slug_giving_a_reserved_bucket_prefix_is_rejected(slug: str) -> None:
    problem = only_problem("project_slug", project_slug=slug, pipeline_name="p")
    assert "a prefix S3 reserves" in problem.rule
    assert f"'{slug}-{PLACEHOLDER_ACCOUNT_ID}-us-east-1'" in problem.rule


def test_slug_derived_checks_wait_for_a_plausible_region() -> None:
    # A garbled region is its own problem; blaming the slug for the bucket name would mislead.
    found = problems(project_slug="a" * 45, aws_region="{{ region }}")
    assert [problem.field for problem in found] == ["aws_region"]


def test_slug_checks_without_a_region_still_keep_folder_names_within_the_file_system() -> None:
    # Without a region name the AWS limits cannot be checked; the folders are made regardless.
    limit = FILE_NAME_MAX_BYTES - len("-modeldeploy")
    garbled = {"aws_region": "us-east1", "pipeline_name": "p", "model_package_group_name": "p"}
    assert [problem.field for problem in problems(project_slug="a" * limit, **garbled)] == [
        "aws_region"
    ]
    problem = problems(project_slug="a" * (limit + 1), **garbled)[0]
    assert str(problem) == (
        f"project_slug: {'a' * 100!r}... ({limit + 1} characters) is {limit + 1} characters; "
        "the folder '<slug>-modeldeploy' would be 256 bytes, over the file system's limit of "
        f"255 bytes for one name. Fix: choose a slug of at most {limit} characters "
        "(pass project_slug=... or a shorter project_name)."
    )


@pytest.mark.parametrize("region", sorted(known_regions()))
def test_every_slug_the_aws_limits_allow_makes_folder_names_the_file_system_allows(
    region: str,
) -> None:
    longest = max(project_folder_names("a" * max_slug_length(region)), key=len)
    assert len(longest.encode()) <= FILE_NAME_MAX_BYTES


@pytest.mark.parametrize("name", ["!!!", "---", "/", "...", "\U0001f41a\U0001f30a", "- / -"])
def test_a_name_without_letters_or_digits_needs_an_explicit_slug(name: str) -> None:
    assert slugify(name) == ""
    # Cookiecutter derives the slug, and the slug-defaulted names, as empty.
    derived = {"project_slug": "", "pipeline_name": "", "model_package_group_name": ""}
    problem = only_problem("project_name", project_name=name, **derived)
    assert problem.rule == "has no letters or digits, so no project slug can be derived from it"
    assert problem.fix.startswith("pass project_slug=... as well")
    assert problems(project_name=name) == []


def test_an_empty_slug_beside_a_good_name_is_the_slugs_problem() -> None:
    problem = only_problem("project_slug", project_slug="", pipeline_name="p")
    assert problem.fix == "pass project_slug=project"


def test_derived_names_follow_the_design_notes() -> None:
    assert derived_names("abc", "eu-west-1").as_dict() == {
        "modelbuild_repo": "abc-modelbuild",
        "modeldeploy_repo": "abc-modeldeploy",
        "modelbuild_build_project": "abc-modelbuild",
        "modeldeploy_build_project": "abc-modeldeploy",
        "staging_test_build_project": "abc-staging-test",
        "modelbuild_codepipeline": "abc-modelbuild",
        "modeldeploy_codepipeline": "abc-modeldeploy",
        "staging_stack": "abc-deploy-staging",
        "prod_stack": "abc-deploy-prod",
        "cicd_stack": "abc-cicd",
        "staging_endpoint": "abc-staging",
        "prod_endpoint": "abc-prod",
        "artifact_bucket": "abc-123456789012-eu-west-1",
    }
    assert derived_names("abc", "eu-west-1", "999988887777").artifact_bucket == (
        "abc-999988887777-eu-west-1"
    )


@pytest.mark.parametrize(
    ("kind", "name"),
    [
        ("sagemaker_endpoint", "a" * 63),
        ("sagemaker_endpoint", "a--b"),
        ("sagemaker_pipeline", "A" * 256),
        ("codecommit_repository", "repo_name.v2-x"),
        ("codebuild_project", "ab"),
        ("codebuild_project", "a_b-c"),
        ("codepipeline", "p@x.y_z"),
        ("cloudformation_stack", "a" + "-" * 127),
        ("s3_bucket", "abc"),
        ("s3_bucket", "a.b-c"),
    ],
)
def test_aws_name_accepted(kind: str, name: str) -> None:
    assert name_violation(name, kind) is None


@pytest.mark.parametrize(
    ("kind", "name", "reason"),
    [
        ("sagemaker_endpoint", "a" * 64, "64 characters, over SageMaker's 63"),
        ("sagemaker_endpoint", "a_b", "SageMaker's naming rule"),
        ("sagemaker_endpoint", "a-", "SageMaker's naming rule"),
        ("sagemaker_pipeline", "a" * 257, "257 characters, over SageMaker's 256"),
        ("codecommit_repository", "a/b", "CodeCommit's naming rule"),
        ("codecommit_repository", "r" * 101, "over CodeCommit's 100"),
        ("codebuild_project", "a", "under CodeBuild's 2"),
        ("codebuild_project", "-ab", "CodeBuild's naming rule"),
        ("codepipeline", "a b", "CodePipeline's naming rule"),
        ("cloudformation_stack", "1abc", "CloudFormation's naming rule"),
        ("cloudformation_stack", "a" * 129, "over CloudFormation's 128"),
        ("s3_bucket", "ab", "under S3's 3"),
        ("s3_bucket", "Abc", "S3's naming rule"),
        ("s3_bucket", "abc-", "S3's naming rule"),
        ("s3_bucket", "xn--abc", "prefix S3 reserves"),
        ("s3_bucket", "sthree-abc", "prefix S3 reserves"),
        ("s3_bucket", "amzn-s3-demo-abc", "prefix S3 reserves"),
        ("s3_bucket", "abc-s3alias", "suffix S3 reserves"),
        ("s3_bucket", "abc--ol-s3", "suffix S3 reserves"),
        ("s3_bucket", "abc--x-s3", "suffix S3 reserves"),
        ("s3_bucket", "a..b", "'..'"),
        ("s3_bucket", "192.168.5.4", "IP address"),
    ],
)
def test_aws_name_rejected(kind: str, name: str, reason: str) -> None:
    violation = name_violation(name, kind)
    assert violation is not None and reason in violation


def test_every_derived_name_has_a_known_rule() -> None:
    assert all(name_kind(field) in NAME_RULES for field in derived_names("a", "x").as_dict())


@pytest.mark.parametrize("field", ["pipeline_name", "model_package_group_name"])
@pytest.mark.parametrize("name", ["abc", "a-b--c", "Model1"])
def test_sagemaker_names_accepted(field: str, name: str) -> None:
    assert problems(**{field: name}) == []


@pytest.mark.parametrize(
    ("field", "name", "fix"),
    [
        ("pipeline_name", "a_b", "use e.g. 'a-b'"),
        ("pipeline_name", "-a", "use e.g. 'a'"),
        ("pipeline_name", "a" * 257, "at most 256 characters"),
        ("pipeline_name", "", "letters, digits and hyphens"),
        ("model_package_group_name", "a" * 64, "at most 63 characters"),
        ("model_package_group_name", "my group", "use e.g. 'my-group'"),
    ],
)
def test_sagemaker_names_rejected(field: str, name: str, fix: str) -> None:
    problem = only_problem(field, **{field: name})
    assert fix in problem.fix


def test_sagemaker_pipeline_and_group_limits_differ() -> None:
    assert problems(pipeline_name="a" * 256) == []
    assert problems(model_package_group_name="a" * 63) == []


@pytest.mark.parametrize(
    ("region", "suggested"),
    [("us-middle-1", "us-west-1"), ("US-EAST-1", "us-east-1"), ("eu-westt-1", "eu-west-1")],
)
def test_unknown_region_rejected_with_closest_names(region: str, suggested: str) -> None:
    problem = only_problem("aws_region", aws_region=region)
    assert problem.rule.startswith("is not an AWS region the template's region data knows")
    assert "botocore 1." in problem.rule and "cfn-lint 1." in problem.rule
    assert problem.fix.startswith("did you mean ") and suggested in problem.fix
    assert "docs/regions.md" in problem.fix


def test_region_with_nothing_close_still_says_what_to_do() -> None:
    problem = only_problem("aws_region", aws_region="mars")
    assert problem.fix.startswith("pass aws_region=")


def test_region_syntax_covers_every_known_region() -> None:
    # The slug's region-dependent checks run only for names of this shape.
    assert known_regions() and all(REGION_SYNTAX.fullmatch(region) for region in known_regions())


def test_region_check_needs_no_botocore(monkeypatch) -> None:
    # The hook runs in cookiecutter's Python, which often has no boto3: the data file decides.
    monkeypatch.setitem(sys.modules, "botocore", None)
    monkeypatch.setitem(sys.modules, "boto3", None)
    assert problems(aws_region="us-east-1") == []
    assert "AWS::SageMaker::DataQualityJobDefinition" in (
        only_problem("aws_region", aws_region="af-south-1").rule
    )
    stream = io.StringIO()
    assert validation.main(VALID, stderr=stream) == 0
    assert stream.getvalue() == ""


@pytest.mark.parametrize("value", ["6.0", "0.001", "10", "1e3", 6.0, 3])
def test_threshold_accepted(value: object) -> None:
    assert problems(mse_threshold=value) == []


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        ("abc", "is not a number"),
        ("", "is not a number"),
        ("-1", "greater than 0"),
        ("0", "greater than 0"),
        ("nan", "not a finite number"),
        ("inf", "not a finite number"),
        ("-inf", "not a finite number"),
        ("1e400", "not a finite number"),
        (False, "not text"),
    ],
)
def test_threshold_rejected(value: object, rule: str) -> None:
    problem = only_problem("mse_threshold", mse_threshold=value)
    assert rule in problem.rule


@pytest.mark.parametrize("status", ["PendingManualApproval", "Approved"])
def test_approval_status_accepted(status: str) -> None:
    assert problems(model_approval_status=status) == []


@pytest.mark.parametrize(
    ("status", "hint"),
    [
        ("approved", "did you mean Approved?"),
        ("Rejected", "choose PendingManualApproval"),
        ("", ""),
    ],
)
def test_approval_status_rejected(status: str, hint: str) -> None:
    problem = only_problem("model_approval_status", model_approval_status=status)
    assert hint in problem.fix and "Approved (deploys automatically)" in problem.fix


@pytest.mark.parametrize("choice", ["no", "yes"])
def test_bootstrap_choice_accepted(choice: str) -> None:
    assert problems(bootstrap_aws=choice) == []


@pytest.mark.parametrize("choice", ["y", "YES", "true", ""])
def test_bootstrap_choice_rejected(choice: str) -> None:
    problem = only_problem("bootstrap_aws", bootstrap_aws=choice)
    assert problem.rule == "is not yes or no"
    assert "mlops-bootstrap bootstrap" in problem.fix


@pytest.mark.parametrize("choice", ["no", "yes"])
def test_tuning_choice_accepted(choice: str) -> None:
    assert problems(hyperparameter_tuning=choice) == []


@pytest.mark.parametrize("choice", ["y", "Yes", "bayesian", ""])
def test_tuning_choice_rejected(choice: str) -> None:
    problem = only_problem("hyperparameter_tuning", hyperparameter_tuning=choice)
    assert problem.rule == "is not yes or no"
    assert "hyperparameter_ranges.json" in problem.fix


@pytest.mark.parametrize("choice", ["realtime", "batch", "both"])
def test_deployment_accepted(choice: str) -> None:
    assert problems(deployment=choice) == []


@pytest.mark.parametrize("choice", ["Batch", "real-time", "endpoint", ""])
def test_deployment_rejected(choice: str) -> None:
    problem = only_problem("deployment", deployment=choice)
    assert problem.rule == "is not one of realtime, batch, both"
    assert "docs/batch.md" in problem.fix


@pytest.mark.parametrize("deployment", ["batch", "both"])
def test_batch_with_github_actions_is_refused(deployment: str) -> None:
    github = {**THIRD_PARTY["github"], "ci": "github-actions"}
    problem = only_problem("deployment", deployment=deployment, **github)
    assert problem.rule.startswith("needs ci=codepipeline")
    assert "deployment=realtime" in problem.fix and "ci=codepipeline" in problem.fix


def test_realtime_with_github_actions_is_accepted() -> None:
    assert problems(deployment="realtime", **THIRD_PARTY["github"], ci="github-actions") == []


@pytest.mark.parametrize(
    "schedule",
    ["cron(0 2 * * ? *)", "cron(15 */6 ? * MON-FRI *)", "rate(1 day)", "rate(12 hours)"],
)
def test_batch_schedule_accepted(schedule: str) -> None:
    assert problems(batch_schedule=schedule) == []


@pytest.mark.parametrize(
    "schedule",
    [
        "cron(0 2 * * *)",  # five fields: a Unix cron, not EventBridge's
        "cron(0 2 * * * *)",  # neither day field is ?
        "cron(0 2 ? * ? *)",  # both are
        "rate(0 days)",
        "rate(1 week)",
        "rate(1 days)",  # EventBridge wants the singular for 1
        "rate(2 day)",
        "0 2 * * ?",
        "",
    ],
)
def test_batch_schedule_rejected(schedule: str) -> None:
    problem = only_problem("batch_schedule", batch_schedule=schedule)
    assert problem.rule == "is not an EventBridge Scheduler expression"
    assert "cron(0 2 * * ? *)" in problem.fix


@pytest.mark.parametrize("field", ["processing_instance_type", "training_instance_type"])
@pytest.mark.parametrize("value", ["ml.m5.xlarge", "ml.g5.12xlarge", "ml.p4de.24xlarge"])
def test_instance_type_accepted(field: str, value: str) -> None:
    assert problems(**{field: value}) == []


@pytest.mark.parametrize("field", ["processing_instance_type", "training_instance_type"])
@pytest.mark.parametrize(
    ("value", "fix"),
    [
        ("m5.xlarge", "use ml.m5.xlarge"),
        ("ML.M5.XLARGE", "use ml.m5.xlarge"),
        ("ml.m5", "such as ml.m5.xlarge"),
        ("ml.m5.xlarge;", "such as ml.m5.xlarge"),
        ("", "such as ml.m5.xlarge"),
    ],
)
def test_instance_type_rejected(field: str, value: str, fix: str) -> None:
    assert fix in only_problem(field, **{field: value}).fix


@pytest.mark.parametrize(
    "team", ["ml-platform", "Data Science @ \u00c5lesund", "team/a=b+c:d_e.f", "t" * 256]
)
def test_owner_team_accepted(team: str) -> None:
    assert problems(owner_team=team) == []


@pytest.mark.parametrize(
    ("team", "rule"),
    [
        ("", "is empty"),
        ("t" * 257, "over AWS's tag value limit of 256"),
        ("team,a", "contains ','"),
        ("a;b", "contains ';'"),
        ('x"y', "contains '\"'"),
    ],
)
def test_owner_team_rejected(team: str, rule: str) -> None:
    assert rule in only_problem("owner_team", owner_team=team).rule


@pytest.mark.parametrize(
    "name",
    ['Quote " and \\ back', "<b>&amp;</b>", "\u00c5lesund \u2014 \u9b91 \U0001f41a", "n" * 100],
)
def test_project_name_accepted(name: str) -> None:
    assert problems(project_name=name) == []


@pytest.mark.parametrize(
    ("name", "rule"),
    [
        ("", "is empty"),
        ("   ", "is empty"),
        ("n" * 101, "over the limit of 100"),
        ("a\nb", "U+000A at position 1"),
        ("a\x00b", "U+0000"),
        ("abc\u202edcba", "U+202E at position 3"),
        ("a\u2028b", "U+2028"),
    ],
)
def test_project_name_rejected(name: str, rule: str) -> None:
    assert rule in only_problem("project_name", project_name=name).rule


@pytest.mark.parametrize("description", ["", "d" * 256, 'Says "hi" & <bye> \u00e9'])
def test_description_accepted(description: str) -> None:
    assert problems(description=description) == []


@pytest.mark.parametrize(
    ("description", "rule"), [("d" * 257, "over the limit of 256"), ("a\tb", "U+0009")]
)
def test_description_rejected(description: str, rule: str) -> None:
    assert rule in only_problem("description", description=description).rule


@pytest.mark.parametrize("field", FIELDS)
@pytest.mark.parametrize("marker", JINJA_MARKERS)
def test_jinja_markers_rejected_in_every_answer(field: str, marker: str) -> None:
    found = problems(**{field: f"x{marker} 7*7 y"})
    assert found[0].field == field
    assert found[0].rule.startswith(f"contains the Jinja marker '{marker}'")


def test_every_message_names_its_field_and_a_fix() -> None:
    bad = {field: "{{ x }}" for field in FIELDS}
    bad.update(project_slug="x" * 60, mse_threshold="-1", owner_team="a,b", aws_region="us-x-1")
    found = validate_answers(bad)
    assert {problem.field for problem in found} == set(FIELDS)
    for problem in found:
        text = str(problem)
        assert text.startswith(f"{problem.field}: ") and ". Fix: " in text


def test_long_values_are_shortened_in_messages() -> None:
    text = str(only_problem("description", description="d" * 1000))
    assert "(1000 characters)" in text and "d" * 101 not in text


def test_format_problems_lists_each_problem() -> None:
    found = problems(owner_team="", mse_threshold="0")
    report = format_problems(found)
    assert report.splitlines()[0].endswith("2 answers need fixing:")
    assert f"  - {found[0]}" in report and f"  - {found[1]}" in report
    assert "Nothing was generated" in report


def test_main_returns_1_and_prints_problems() -> None:
    stream = io.StringIO()
    assert validation.main({**VALID, "mse_threshold": "abc"}, stderr=stream) == 1
    assert "1 answer needs fixing" in stream.getvalue()
    assert "mse_threshold: 'abc' is not a number" in stream.getvalue()


def test_main_is_silent_for_good_answers() -> None:
    stream = io.StringIO()
    assert validation.main(VALID, stderr=stream) == 0
    assert stream.getvalue() == ""


@pytest.mark.parametrize("framework", ["xgboost", "pytorch", "sklearn"])
def test_framework_accepted(framework: str) -> None:
    assert problems(framework=framework) == []


@pytest.mark.parametrize(
    ("framework", "hint"),
    [("PyTorch", "did you mean pytorch?"), ("scikit-learn", "did you mean sklearn?"), ("", "")],
)
def test_framework_rejected(framework: str, hint: str) -> None:
    problem = only_problem("framework", framework=framework)
    assert problem.rule == "is not one of xgboost, pytorch, sklearn"
    assert hint in problem.fix and "choose xgboost (the default), pytorch or sklearn" in problem.fix


THIRD_PARTY = {
    "github": {"git_host": "github", "git_owner": "octo-org"},
    "gitlab": {"git_host": "gitlab", "git_owner": "data-science/ml-projects"},
    "bitbucket": {"git_host": "bitbucket", "git_owner": "acme_ml"},
}


@pytest.mark.parametrize(
    "answers",
    [
        *THIRD_PARTY.values(),
        {**THIRD_PARTY["github"], "ci": "github-actions"},
        {**THIRD_PARTY["github"], "modelbuild_repository": "Abalone.Build_2"},
    ],
    ids=["github", "gitlab", "bitbucket", "github-actions", "github-mixed-case"],
)
def test_valid_git_host_combinations_pass(answers: dict[str, str]) -> None:
    assert problems(**answers) == []


@pytest.mark.parametrize("host", ["codecommit", "gitlab", "bitbucket"])
def test_github_actions_is_refused_without_github(host: str) -> None:
    owner = THIRD_PARTY.get(host, {}).get("git_owner", "")
    problem = only_problem("ci", git_host=host, git_owner=owner, ci="github-actions")
    assert problem.rule.startswith("runs only on GitHub repositories, and git_host is")
    assert "choose ci=codepipeline" in problem.fix and "git_host=github" in problem.fix


def test_ci_outside_the_choices_is_refused() -> None:
    problem = only_problem("ci", ci="jenkins")
    assert problem.rule == "is not one of codepipeline, github-actions"


def test_unknown_git_host_is_refused_with_a_hint_and_nothing_else_is_guessed() -> None:
    # The answers that depend on the host wait for a host the checks know.
    problem = only_problem("git_host", git_host="GitHub.com", git_owner="-x", ci="github-actions")
    assert problem.rule == "is not one of codecommit, github, gitlab, bitbucket"
    assert problem.fix.startswith("did you mean github?")


@pytest.mark.parametrize("host", ["github", "gitlab", "bitbucket"])
def test_third_party_host_needs_an_owner(host: str) -> None:
    problem = only_problem("git_owner", git_host=host)
    assert problem.rule.startswith(f"is empty, and git_host={host} needs the")
    assert problem.fix.startswith("pass git_owner=<")


def test_codecommit_refuses_an_owner_it_would_ignore() -> None:
    problem = only_problem("git_owner", git_owner="octo-org")
    assert "git_host is codecommit" in problem.rule
    assert "git_host=github, gitlab or bitbucket" in problem.fix


def test_codecommit_does_not_use_the_repository_answers() -> None:
    # A replayed or updated project may carry an earlier slug's defaults; CodeCommit's repository
    # names come from the slug alone.
    assert problems(modelbuild_repository="old-slug-modelbuild", modeldeploy_repository="a/b") == []


@pytest.mark.parametrize(
    ("owner", "rule"),
    [
        ("a" * 39, None),
        ("a" * 40, "over GitHub's limit of 39"),
        ("-octo", "not a GitHub account"),
        ("octo-", "not a GitHub account"),
        ("octo--org", "not a GitHub account"),
        ("octo_org", "not a GitHub account"),
        ("octo/org", "not a GitHub account"),
    ],
)
def test_github_owner_rules(owner: str, rule: str | None) -> None:
    found = problems(git_host="github", git_owner=owner)
    if rule is None:
        assert found == []
    else:
        (problem,) = found
        assert problem.field == "git_owner" and rule in problem.rule


@pytest.mark.parametrize(
    ("name", "rule"),
    [
        ("a" * 100, None),
        ("..a", None),
        ("a" * 101, "over GitHub's limit of 100"),
        (".", "a name GitHub reserves"),
        ("..", "a name GitHub reserves"),
        ("a b", "characters GitHub does not allow"),
        ("a/b", "characters GitHub does not allow"),
        ("caf\u00e9", "characters GitHub does not allow"),
        ("", "is empty"),
    ],
)
def test_github_repository_rules(name: str, rule: str | None) -> None:
    found = problems(**THIRD_PARTY["github"], modelbuild_repository=name)
    if rule is None:
        assert found == []
    else:
        (problem,) = found
        assert problem.field == "modelbuild_repository" and rule in problem.rule


@pytest.mark.parametrize(
    ("name", "rule"),
    [
        ("a" * 255, None),
        ("my.model_build-1", None),
        ("a" * 256, "over GitLab's limit of 255"),
        ("-build", "not a GitLab project path"),
        ("build.", "not a GitLab project path"),
        ("build--x", "not a GitLab project path"),
        ("build._x", "not a GitLab project path"),
        ("build.git", "ends in '.git'"),
        ("build.ATOM", "ends in '.atom'"),
    ],
)
def test_gitlab_repository_rules(name: str, rule: str | None) -> None:
    found = problems(**THIRD_PARTY["gitlab"], modeldeploy_repository=name)
    if rule is None:
        assert found == []
    else:
        (problem,) = found
        assert problem.field == "modeldeploy_repository" and rule in problem.rule


@pytest.mark.parametrize(
    ("owner", "rule"),
    [
        ("group", None),
        ("group/sub/sub2", None),
        ("group/", "has the segment ''"),
        ("/group", "has the segment ''"),
        ("group/-sub", "has the segment '-sub'"),
        ("grp.git", "ends in '.git'"),
    ],
)
def test_gitlab_namespace_rules(owner: str, rule: str | None) -> None:
    found = problems(git_host="gitlab", git_owner=owner)
    if rule is None:
        assert found == []
    else:
        (problem,) = found
        assert problem.field == "git_owner" and rule in problem.rule


@pytest.mark.parametrize(
    ("name", "rule", "suggestion"),
    [
        ("a" * 62, None, None),
        ("_build.v2", None, None),
        ("a" * 63, "over Bitbucket Cloud's limit of 62", "a" * 62),
        ("Build", "not a Bitbucket Cloud repository slug", "build"),
        ("build--x", "not a Bitbucket Cloud repository slug", "build-x"),
        ("build-", "not a Bitbucket Cloud repository slug", "build"),
    ],
)
def test_bitbucket_repository_rules(name: str, rule: str | None, suggestion: str | None) -> None:
    found = problems(**THIRD_PARTY["bitbucket"], modelbuild_repository=name)
    if rule is None:
        assert found == []
        return
    (problem,) = found
    assert problem.field == "modelbuild_repository" and rule in problem.rule
    assert problem.fix.startswith(f"use e.g. {suggestion!r}")


@pytest.mark.parametrize(("owner", "ok"), [("acme_ml-2", True), ("Acme", False), ("a.b", False)])
def test_bitbucket_workspace_rules(owner: str, ok: bool) -> None:
    found = problems(git_host="bitbucket", git_owner=owner)
    assert (found == []) is ok
    assert all(problem.field == "git_owner" for problem in found)


def test_the_two_repositories_need_different_names() -> None:
    problem = only_problem(
        "modeldeploy_repository",
        **THIRD_PARTY["github"],
        modelbuild_repository="Models",
        modeldeploy_repository="models",
    )
    assert "model build repository's name too" in problem.rule


def test_repository_names_that_repeat_a_rejected_slug_are_not_reported_twice() -> None:
    found = problems(
        **THIRD_PARTY["bitbucket"],
        project_slug="Bad Slug",
        pipeline_name="Bad Slug",
        model_package_group_name="Bad Slug",
        modelbuild_repository="Bad Slug-modelbuild",
        modeldeploy_repository="Bad Slug-modeldeploy",
    )
    assert [problem.field for problem in found] == ["project_slug"]
