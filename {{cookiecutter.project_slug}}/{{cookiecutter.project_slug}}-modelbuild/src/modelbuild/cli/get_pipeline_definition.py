"""``get-pipeline-definition``: print the pipeline definition JSON (or a summary or a diagram)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from modelbuild import definition
from modelbuild.cli.common import (
    add_location_arguments,
    build_pipeline,
    run_cli,
)
from modelbuild.offline import OFFLINE_BUCKET, offline_aws, offline_role_arn
from modelbuild.settings import load_settings

FORMATS = ("json", "summary", "mermaid")


def build_parser() -> argparse.ArgumentParser:
    settings = load_settings()
    parser = argparse.ArgumentParser(
        prog="get-pipeline-definition",
        description="Print the SageMaker pipeline definition that run-pipeline would upsert.",
    )
    add_location_arguments(parser, settings)
    parser.add_argument(
        "--offline",
        action="store_true",
        help="use an in-process AWS stand-in (moto) instead of AWS: no credentials needed",
    )
    parser.add_argument("--format", choices=FORMATS, default="json", help="output format")
    parser.add_argument("--output", type=Path, help="write to this file instead of stdout")
    return parser


def render_definition(args: argparse.Namespace) -> dict:
    if not args.offline:
        return json.loads(build_pipeline(args).definition())
    slug = load_settings().project_slug
    with offline_aws(args.region) as session:
        pipeline = build_pipeline(
            args,
            session,
            role_arn=args.role_arn or offline_role_arn(slug),
            bucket=args.artifact_bucket or OFFLINE_BUCKET,
        )
        return json.loads(pipeline.definition())


def format_definition(parsed: dict, output_format: str) -> str:
    if output_format == "summary":
        return definition.summary(parsed)
    if output_format == "mermaid":
        return definition.mermaid(parsed)
    return json.dumps(parsed, indent=2) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    def body() -> int:
        text = format_definition(render_definition(args), args.format)
        if args.output:
            args.output.write_text(text, encoding="utf-8")
            print(f"wrote {args.output}", file=sys.stderr)
        else:
            sys.stdout.write(text)
        return 0

    return run_cli(body)


if __name__ == "__main__":
    sys.exit(main())
