"""Checks on the template's answers, run by hooks/pre_gen_project.py before anything is rendered.

Every rule is a pure function of the answers; ``validate_answers`` collects all problems at once so
a user fixes everything in one go, and ``main`` is the hook's entry point.
"""

from __future__ import annotations

import difflib
import functools
import math
import re
import sys
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import NamedTuple, TextIO

from mlops_template.aws_rules import NAME_RULES, name_violation
from mlops_template.deployments import DEPLOYMENTS
from mlops_template.frameworks import FRAMEWORKS
from mlops_template.git_hosts import (
    CI_CHOICES,
    CI_FOR_HOST,
    CODECOMMIT,
    GIT_HOSTS,
    HOST_LABELS,
    OWNER_LABELS,
    REPOSITORY_SUFFIXES,
    default_repository,
    owner_violation,
    repository_violation,
    suggested_repository,
)
from mlops_template.names import (
    derived_names,
    max_slug_length,
    name_kind,
    name_label,
    project_folder_names,
    slugify,
)
from mlops_template.regions import (
    REGION_SYNTAX,
    RegionGaps,
    built_from,
    closest_regions,
    known_regions,
    nearest_complete_regions,
    partition,
    region_gaps,
)

DEFAULT_REGION = "us-east-1"
APPROVAL_STATUSES = ("PendingManualApproval", "Approved")
BOOTSTRAP_CHOICES = ("no", "yes")
TUNING_CHOICES = ("no", "yes")
CRON_RE = re.compile(r"cron\(([0-9A-Za-z*?,/#L-]+(?: [0-9A-Za-z*?,/#L-]+)*)\)")
# EventBridge wants the singular unit for 1 and the plural for more: rate(1 day), rate(2 days).
RATE_RE = re.compile(
    r"rate\((1 (?:minute|hour|day)|(?:[2-9]|[1-9][0-9]{1,3}) (?:minutes|hours|days))\)"
)
JINJA_MARKERS = ("{{", "{%", "{#")
PROJECT_NAME_MAX = 100
DESCRIPTION_MAX = 256
TAG_VALUE_MAX = 256
TAG_VALUE_SYMBOLS = "_.:/=+-@"
# NAME_MAX of ext4, XFS, APFS and most others: the longest file or folder name, in UTF-8 bytes.
FILE_NAME_MAX_BYTES = 255
# Answers whose default in cookiecutter.json is the project slug itself.
SLUG_DEFAULTED_FIELDS = ("pipeline_name", "model_package_group_name")

_SLUG = re.compile(r"[a-z][a-z0-9]*(-[a-z0-9]+)*", re.ASCII)
_INSTANCE_TYPE = re.compile(r"ml\.[a-z0-9]+\.[a-z0-9]+", re.ASCII)
# Trojan-source style direction overrides: invisible, and they make a value read differently.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cs", "Zl", "Zp"})
_SHOWN_VALUE_MAX = 100


@dataclass(frozen=True)
class AnswerProblem:
    """One answer that breaks one rule, with what to do about it."""

    field: str
    value: object
    rule: str
    fix: str

    def __str__(self) -> str:
        return f"{self.field}: {_show(self.value)} {self.rule}. Fix: {self.fix}."


class Finding(NamedTuple):
    rule: str
    fix: str


Check = Callable[[str], Finding | None]


def validate_answers(answers: Mapping[str, object]) -> list[AnswerProblem]:
    """Every problem with ``answers``; keys starting with '_' are cookiecutter's, not the user's."""
    user_answers = {key: value for key, value in answers.items() if not key.startswith("_")}
    checks = _field_checks(user_answers)
    problems = [
        AnswerProblem(field, None, "is missing", f"answer {field} (see cookiecutter.json)")
        for field in checks
        if field not in user_answers
    ]
    # Report in the order of the questions, then anything else the caller added.
    ordered = [field for field in checks if field in user_answers]
    ordered += [field for field in user_answers if field not in checks]
    for field in ordered:
        problem = _check_answer(field, user_answers[field], checks.get(field))
        if problem is not None:
            problems.append(problem)
    slug = user_answers.get("project_slug")
    return _without_name_echoes(_without_slug_echoes(problems, slug), slug)


def _without_slug_echoes(problems: list[AnswerProblem], slug: object) -> list[AnswerProblem]:
    # Names that merely repeat a rejected slug (their default) would restate the slug's problem.
    if not any(problem.field == "project_slug" for problem in problems):
        return problems
    return [
        problem
        for problem in problems
        if not (problem.field in SLUG_DEFAULTED_FIELDS and problem.value == slug)
        and not (
            problem.field in REPOSITORY_SUFFIXES
            and isinstance(slug, str)
            and problem.value == default_repository(slug, problem.field)
        )
    ]


def _without_name_echoes(problems: list[AnswerProblem], slug: object) -> list[AnswerProblem]:
    # An empty slug derived from a rejected name: the name's problem says what to do.
    if slug != "" or not any(problem.field == "project_name" for problem in problems):
        return problems
    return [problem for problem in problems if problem.field != "project_slug"]


def format_problems(problems: list[AnswerProblem]) -> str:
    """A readable report of ``problems`` for the terminal."""
    count = "1 answer needs" if len(problems) == 1 else f"{len(problems)} answers need"
    lines = [f"mlops-template: cannot generate the project, {count} fixing:"]
    lines += [f"  - {problem}" for problem in problems]
    lines.append(
        "Nothing was generated. Run cookiecutter again with corrected answers "
        "(any answer can be given on the command line as name=value)."
    )
    return "\n".join(lines)


def main(answers: Mapping[str, object], stderr: TextIO | None = None) -> int:
    """Report problems with ``answers`` on stderr; 1 if there are any, else 0."""
    stream = stderr if stderr is not None else sys.stderr
    problems = validate_answers(answers)
    if not problems:
        return 0
    print(format_problems(problems), file=stream)
    return 1


def _field_checks(answers: Mapping[str, object]) -> dict[str, Check]:
    region = answers.get("aws_region")
    framework = answers.get("framework")
    slug = answers.get("project_slug")
    host = answers.get("git_host")
    host = host if host in GIT_HOSTS else None
    build_repository = answers.get("modelbuild_repository")
    return {
        "project_name": functools.partial(
            _check_project_name, slug=slug if isinstance(slug, str) else None
        ),
        "project_slug": functools.partial(
            _check_slug, region=region if isinstance(region, str) else ""
        ),
        "description": _check_description,
        "aws_region": functools.partial(
            _check_region, framework=framework if framework in FRAMEWORKS else None
        ),
        "pipeline_name": functools.partial(_check_aws_name, kind="sagemaker_pipeline"),
        "model_package_group_name": functools.partial(
            _check_aws_name, kind="sagemaker_model_package_group"
        ),
        "framework": _check_framework,
        "hyperparameter_tuning": _check_tuning_choice,
        "deployment": functools.partial(_check_deployment, ci=answers.get("ci")),
        "batch_schedule": _check_batch_schedule,
        "processing_instance_type": _check_instance_type,
        "training_instance_type": _check_instance_type,
        "mse_threshold": _check_mse_threshold,
        "model_approval_status": _check_approval_status,
        "owner_team": _check_owner_team,
        "git_host": _check_git_host,
        "ci": functools.partial(_check_ci, host=host),
        "git_owner": functools.partial(_check_git_owner, host=host),
        "modelbuild_repository": functools.partial(_check_repository, host=host, other=None),
        "modeldeploy_repository": functools.partial(
            _check_repository,
            host=host,
            other=build_repository if isinstance(build_repository, str) else None,
        ),
        "bootstrap_aws": _check_bootstrap_choice,
    }


def _check_answer(field: str, value: object, check: Check | None) -> AnswerProblem | None:
    text = _as_text(value)
    if text is None:
        rule = f"is a {type(value).__name__}, not text"
        return AnswerProblem(field, value, rule, f"give {field} as a plain string")
    finding = _universal_finding(text)
    if finding is None and check is not None:
        finding = check(text)
    if finding is None:
        return None
    return AnswerProblem(field, value, finding.rule, finding.fix)


def _as_text(value: object) -> str | None:
    # Cookiecutter hands every answer over as a string; numbers only arrive from direct callers.
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def _universal_finding(text: str) -> Finding | None:
    """Rules for every answer: plain text only, nothing invisible."""
    for marker in JINJA_MARKERS:
        if marker in text:
            return Finding(
                f"contains the Jinja marker '{marker}'; answers are data, never template code",
                f"remove '{marker}' from the answer",
            )
    position = _first_invisible_char(text)
    if position is not None:
        char = text[position]
        return Finding(
            f"contains the control character U+{ord(char):04X} at position {position}",
            "remove control characters (line breaks, tabs, direction overrides) from the answer",
        )
    return None


def _first_invisible_char(text: str) -> int | None:
    for position, char in enumerate(text):
        if unicodedata.category(char) in _INVISIBLE_CATEGORIES or char in _BIDI_CONTROLS:
            return position
    return None


def _check_project_name(value: str, slug: str | None = None) -> Finding | None:
    if not value.strip():
        return Finding("is empty", "give the project a name, e.g. 'Abalone Age Predictor'")
    if slug == "" and not slugify(value):
        return Finding(
            "has no letters or digits, so no project slug can be derived from it",
            "pass project_slug=... as well (e.g. project_slug=my-project), "
            "or use letters or digits in the name",
        )
    return _length_finding(value, PROJECT_NAME_MAX, "shorten the project name")


def _check_description(value: str) -> Finding | None:
    # An empty description is allowed: it is optional prose, not a name anything depends on.
    return _length_finding(value, DESCRIPTION_MAX, "shorten the description")


def _length_finding(value: str, limit: int, fix: str) -> Finding | None:
    if len(value) <= limit:
        return None
    return Finding(f"is {len(value)} characters, over the limit of {limit}", fix)


def _check_slug(value: str, region: str) -> Finding | None:
    if not _SLUG.fullmatch(value):
        return Finding(
            "is not a valid slug; every AWS resource name is built from it, so it must be "
            "lowercase letters, digits and single hyphens, starting with a letter",
            f"pass project_slug={suggest_slug(value, region)}",
        )
    if not REGION_SYNTAX.fullmatch(region):
        # The AWS name limits depend on the region, whose own problem is reported; the folders
        # generation creates from the slug must still fit the file system.
        return _folder_name_finding(value)
    return _derived_name_finding(value, region)


def _folder_name_finding(slug: str) -> Finding | None:
    """The slug's longest folder name against the file system's limit on one name."""
    longest = max(project_folder_names(slug), key=_utf8_size)
    if _utf8_size(longest) <= FILE_NAME_MAX_BYTES:
        return None
    limit = FILE_NAME_MAX_BYTES - (_utf8_size(longest) - _utf8_size(slug))
    return Finding(
        f"is {len(slug)} characters; the folder '<slug>{longest[len(slug) :]}' would be "
        f"{_utf8_size(longest)} bytes, over the file system's limit of {FILE_NAME_MAX_BYTES} "
        "bytes for one name",
        f"choose a slug of at most {limit} characters "
        "(pass project_slug=... or a shorter project_name)",
    )


def _utf8_size(text: str) -> int:
    return len(text.encode("utf-8"))


def suggest_slug(value: str, region: str) -> str:
    """A valid slug resembling ``value``, shortened to fit ``region`` where that is known."""
    slug = re.sub(r"[^a-z0-9]+", "-", value.lower()).strip("-")
    if not slug[:1].isalpha():
        slug = f"project-{slug}".strip("-")
    if REGION_SYNTAX.fullmatch(region):
        slug = slug[: max_slug_length(region)].rstrip("-")
    return slug


def _derived_name_finding(slug: str, region: str) -> Finding | None:
    broken = [
        (len(name), field, name, reason)
        for field, name in derived_names(slug, region).as_dict().items()
        if (reason := name_violation(name, name_kind(field))) is not None
    ]
    if not broken:
        return None
    _, field, name, reason = max(broken)
    limit = max_slug_length(region)
    if len(slug) > limit:
        return Finding(
            f"is {len(slug)} characters; the {name_label(field)} '{name}' {reason}",
            f"choose a slug of at most {limit} characters for {region} "
            "(pass project_slug=... or a shorter project_name)",
        )
    return Finding(
        f"makes the {name_label(field)} '{name}', which {reason}",
        "choose a different slug (pass project_slug=...)",
    )


def _check_region(value: str, framework: str | None) -> Finding | None:
    """Refuse a region that lacks anything the project uses there (with ``framework``, its
    images; before the framework is known, as in Copier's ordered questions, only what every
    framework uses, and the framework question checks the rest)."""
    gaps = region_gaps(value, framework)
    if gaps is None:
        return _unknown_region_finding(value)
    if not gaps:
        return None
    return Finding(_gaps_rule(gaps, framework), _gaps_fix(value, framework))


def _unknown_region_finding(value: str) -> Finding:
    close = closest_regions(value, known_regions())
    hint = f"did you mean {_one_of(close)}? Otherwise " if close else ""
    return Finding(
        f"is not an AWS region the template's region data knows (built from {built_from()})",
        f"{hint}pass aws_region=<region> naming a region with everything the project uses, "
        "such as us-east-1 (a region launched since needs that data refreshed: docs/regions.md)",
    )


def _gaps_rule(gaps: RegionGaps, framework: str | None) -> str:
    missing = [f"service {service}" for service in gaps.services]
    if gaps.resource_types_unconfirmed:
        missing.append(
            "a list of its CloudFormation resource types in cfn-lint, so none of the "
            f"{len(gaps.resource_types)} the templates use is confirmed there"
        )
    else:
        missing += list(gaps.resource_types)
    missing += [f"image {image}" for image in gaps.images]
    which = f" with framework {framework}" if framework else ""
    return (
        f"lacks what the project{which} uses there: {', '.join(missing)} "
        f"(according to {built_from()})"
    )


def _gaps_fix(value: str, framework: str | None) -> str:
    nearest = nearest_complete_regions(value, framework)
    if nearest:
        fix = f"choose a region with everything, e.g. the nearest by name: {_one_of(nearest)}"
    else:
        fix = (
            f"no region of {value}'s partition ({partition(value)}) has everything; choose one "
            f"that does, e.g. {_one_of(_default_region_and_neighbours(framework))}"
        )
    others = [
        other
        for other in FRAMEWORKS
        if other != framework and framework is not None and not region_gaps(value, other)
    ]
    if others:
        fix += f", or keep {value} with framework {_one_of(others)}"
    return f"{fix} (docs/regions.md lists them all)"


def _default_region_and_neighbours(framework: str | None) -> list[str]:
    default = DEFAULT_REGION
    return [default, *nearest_complete_regions(default, framework, count=2)]


def _one_of(options: list[str]) -> str:
    return options[0] if len(options) == 1 else f"{', '.join(options[:-1])} or {options[-1]}"


def _check_aws_name(value: str, kind: str) -> Finding | None:
    reason = name_violation(value, kind)
    if reason is None:
        return None
    label = kind.replace("_", " ").replace("sagemaker", "SageMaker")
    return Finding(f"is not a valid {label} name: it {reason}", _aws_name_fix(value, kind))


def _aws_name_fix(value: str, kind: str) -> str:
    default = "(or leave it at its default, the project slug)"
    limit = NAME_RULES[kind].max_len
    if len(value) > limit:
        return f"shorten it to at most {limit} characters {default}"
    candidate = re.sub(r"[^a-zA-Z0-9]+", "-", value).strip("-")
    if candidate and name_violation(candidate, kind) is None:
        return f"use e.g. '{candidate}' {default}"
    return f"use letters, digits and hyphens {default}"


def _check_instance_type(value: str) -> Finding | None:
    if _INSTANCE_TYPE.fullmatch(value):
        return None
    guess = value.lower() if value.lower().startswith("ml.") else f"ml.{value.lower()}"
    if _INSTANCE_TYPE.fullmatch(guess):
        fix = f"use {guess}"
    else:
        fix = "use an instance type such as ml.m5.xlarge"
    return Finding("is not a SageMaker instance type (ml.<family>.<size>)", fix)


def _check_mse_threshold(value: str) -> Finding | None:
    fix = "give a positive number such as 6.0 (the highest test MSE a registered model may have)"
    try:
        number = float(value)
    except ValueError:
        return Finding("is not a number", fix)
    if not math.isfinite(number):
        return Finding("is not a finite number", fix)
    if number <= 0:
        return Finding("must be greater than 0 (no model could ever pass the quality gate)", fix)
    return None


def _check_approval_status(value: str) -> Finding | None:
    if value in APPROVAL_STATUSES:
        return None
    close = difflib.get_close_matches(value, APPROVAL_STATUSES, n=1, cutoff=0.4)
    hint = f"did you mean {close[0]}? Otherwise " if close else ""
    return Finding(
        f"is not one of {', '.join(APPROVAL_STATUSES)}",
        f"{hint}choose PendingManualApproval (a person approves) "
        "or Approved (deploys automatically)",
    )


def _check_framework(value: str) -> Finding | None:
    if value in FRAMEWORKS:
        return None
    close = difflib.get_close_matches(value.lower(), FRAMEWORKS, n=1, cutoff=0.5)
    hint = f"did you mean {close[0]}? Otherwise " if close else ""
    return Finding(
        f"is not one of {', '.join(FRAMEWORKS)}",
        f"{hint}choose xgboost (the default), pytorch or sklearn; "
        "another framework needs its own steps/training_<framework> folder in the template",
    )


def _check_tuning_choice(value: str) -> Finding | None:
    if value in TUNING_CHOICES:
        return None
    return Finding(
        "is not yes or no",
        "answer no to train once with hyperparameters.json, or yes for a tuning job over "
        "hyperparameter_ranges.json in every pipeline run",
    )


def _check_deployment(value: str, ci: object) -> Finding | None:
    if value in DEPLOYMENTS:
        if value == "realtime" or ci != "github-actions":
            return None
        # The batch grants go to CodePipeline's roles (cicd/batch-stack.yml); the workflows'
        # roles in github-actions-stack.yml have none of them yet.
        return Finding(
            "needs ci=codepipeline: the GitHub Actions workflows do not deploy or test a batch "
            "transform yet",
            "choose deployment=realtime with ci=github-actions, or ci=codepipeline for batch "
            "or both (see docs/batch.md)",
        )
    return Finding(
        f"is not one of {', '.join(DEPLOYMENTS)}",
        "answer realtime for an endpoint per stage, batch for a scheduled batch transform per "
        "stage, or both; see docs/batch.md",
    )


def _check_batch_schedule(value: str) -> Finding | None:
    # EventBridge Scheduler's forms. Only batch and both use it, but a wrong answer is refused
    # whatever the deployment: changing the deployment later must not meet an old mistake.
    if RATE_RE.fullmatch(value) or _is_scheduler_cron(value):
        return None
    return Finding(
        "is not an EventBridge Scheduler expression",
        "write cron(minutes hours day-of-month month day-of-week year) with ? in day-of-month "
        "or day-of-week, e.g. cron(0 2 * * ? *) for 02:00 UTC daily, or rate(1 day), "
        "rate(12 hours)",
    )


def _is_scheduler_cron(value: str) -> bool:
    match = CRON_RE.fullmatch(value)
    if match is None:
        return False
    fields = match.group(1).split(" ")
    return len(fields) == 6 and "?" in (fields[2], fields[4]) and fields[2] != fields[4]


def _check_bootstrap_choice(value: str) -> Finding | None:
    if value in BOOTSTRAP_CHOICES:
        return None
    return Finding(
        "is not yes or no",
        "answer no to only generate files (run `mlops-bootstrap bootstrap` in the deploy "
        "repository later), or yes to create the AWS resources now",
    )


def _check_git_host(value: str) -> Finding | None:
    if value in GIT_HOSTS:
        return None
    close = difflib.get_close_matches(value.lower(), GIT_HOSTS, n=1, cutoff=0.5)
    hint = f"did you mean {close[0]}? Otherwise " if close else ""
    return Finding(
        f"is not one of {', '.join(GIT_HOSTS)}",
        f"{hint}choose where the two repositories live: codecommit (the default), github, "
        "gitlab or bitbucket (Bitbucket Cloud)",
    )


def _check_ci(value: str, host: str | None) -> Finding | None:
    if value not in CI_CHOICES:
        return Finding(
            f"is not one of {', '.join(CI_CHOICES)}",
            "choose codepipeline (the default, any git host) or github-actions (git_host=github)",
        )
    if host is None or value in CI_FOR_HOST[host]:
        # An unknown host has its own problem; which CI fits it is decided once it is known.
        return None
    return Finding(
        f"runs only on GitHub repositories, and git_host is {host!r} ({HOST_LABELS[host]})",
        f"choose ci=codepipeline, which {_codepipeline_reach(host)}, or git_host=github",
    )


def _codepipeline_reach(host: str) -> str:
    if host == CODECOMMIT:
        return "reads CodeCommit directly"
    return f"reads {HOST_LABELS[host]} through an AWS CodeConnections connection"


def _check_git_owner(value: str, host: str | None) -> Finding | None:
    if host is None:
        return None
    if host == CODECOMMIT:
        if not value:
            return None
        return Finding(
            "names an owner on a third-party git host, but git_host is codecommit "
            "(CodeCommit repositories belong to the AWS account)",
            "leave git_owner empty, or choose git_host=github, gitlab or bitbucket",
        )
    if not value:
        return Finding(
            f"is empty, and git_host={host} needs the {OWNER_LABELS[host]} "
            "that holds the two repositories",
            f"pass git_owner=<{OWNER_LABELS[host]}>",
        )
    reason = owner_violation(host, value)
    if reason is None:
        return None
    return Finding(reason, f"give the {OWNER_LABELS[host]} exactly as it appears in its URLs")


def _check_repository(value: str, host: str | None, other: str | None) -> Finding | None:
    if host is None or host == CODECOMMIT:
        # CodeCommit repositories are always named after the project (names.py), so the answer is
        # unused there; a replay or update may carry an earlier slug's default, which is harmless.
        return None
    reason = repository_violation(host, value) if value else "is empty"
    if reason is not None:
        suggestion = suggested_repository(host, value)
        fix = f"use e.g. {suggestion!r}" if suggestion else f"choose a {HOST_LABELS[host]} name"
        return Finding(reason, f"{fix} (the repository must exist on {HOST_LABELS[host]})")
    if other is not None and value.lower() == other.lower():
        return Finding(
            "is the model build repository's name too (hosts compare names without case)",
            "give the model deploy repository a name of its own",
        )
    return None


def _check_owner_team(value: str) -> Finding | None:
    if not value:
        return Finding("is empty", "name the team that owns the resources, e.g. ml-platform")
    if len(value) > TAG_VALUE_MAX:
        return Finding(
            f"is {len(value)} characters, over AWS's tag value limit of {TAG_VALUE_MAX}",
            "shorten the team name",
        )
    for char in value:
        if not _allowed_in_tag_value(char):
            return Finding(
                f"contains {char!r}, which AWS tag values do not allow",
                f"use letters, digits, spaces and {TAG_VALUE_SYMBOLS} only",
            )
    return None


def _allowed_in_tag_value(char: str) -> bool:
    return unicodedata.category(char)[0] in "LNZ" or char in TAG_VALUE_SYMBOLS


def _show(value: object) -> str:
    if value is None:
        return "(no value)"
    if isinstance(value, str) and len(value) > _SHOWN_VALUE_MAX:
        return f"{value[:_SHOWN_VALUE_MAX]!r}... ({len(value)} characters)"
    return repr(value)
