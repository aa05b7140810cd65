"""Argument helpers and error reporting shared by the toolkit's commands."""

from __future__ import annotations

import logging
import os
import sys
import warnings
from collections.abc import Callable, Iterable

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

EXIT_USAGE = 2


class CliError(Exception):
    """An expected failure: printed as one clear message, never as a traceback."""


def env_default(name: str, fallback: str | None = None) -> str | None:
    return os.environ.get(name) or fallback


def parse_key_values(pairs: Iterable[str], flag: str) -> dict[str, str]:
    """Turn repeated ``Name=Value`` arguments into a dict, rejecting malformed ones."""
    result: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise CliError(f"{flag} expects Name=Value, got {pair!r}.")
        result[name] = value
    return result


def coerce_parameters(overrides: dict[str, str], declared: list[dict]) -> dict[str, object]:
    """Check overrides against the definition's parameters and convert them to their types."""
    by_name = {parameter["Name"]: parameter for parameter in declared}
    converted: dict[str, object] = {}
    for name, text in overrides.items():
        if name not in by_name:
            raise CliError(
                f"--param {name}: the pipeline has no such parameter. "
                f"Known parameters: {', '.join(sorted(by_name))}."
            )
        parameter = by_name[name]
        converters: dict[str, Callable[[str], object]] = {"Integer": int, "Float": float}
        try:
            value = converters.get(parameter["Type"], str)(text)
        except ValueError:
            raise CliError(
                f"--param {name}: expected a {parameter['Type']} value, got {text!r}."
            ) from None
        allowed = parameter.get("EnumValues")
        if allowed and value not in allowed:
            raise CliError(f"--param {name}: {text!r} is not one of {', '.join(allowed)}.")
        converted[name] = value
    return converted


def quiet_sdk_logs(verbose: bool = False) -> None:
    """Keep output readable: the SDK logs every field it fills in and configures the root logger
    at INFO while importing, so this runs after the pipeline module is imported."""
    if verbose:
        return
    logging.getLogger().setLevel(logging.WARNING)
    # Some SDK loggers are created later with their own DEBUG level; the handler drops those.
    for handler in logging.getLogger().handlers:
        handler.setLevel(logging.WARNING)
    for name in list(logging.root.manager.loggerDict):
        if name.startswith(("sagemaker", "botocore")):
            logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module="sagemaker")


def run_cli(main: Callable[[], int]) -> int:
    """Run a command body, turning expected AWS and usage failures into one-line messages."""
    try:
        return main()
    except CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except NoCredentialsError:
        print(
            "error: no AWS credentials found. Configure them (`aws configure`, AWS_PROFILE, or "
            "environment variables), or run without any so that local-run starts its stand-in.",
            file=sys.stderr,
        )
        return 1
    except ClientError as exc:
        error = exc.response.get("Error", {})
        print(
            f"error: AWS rejected {exc.operation_name}: "
            f"{error.get('Code')}: {error.get('Message')}",
            file=sys.stderr,
        )
        return 1
    except BotoCoreError as exc:
        print(f"error: could not reach AWS: {exc}", file=sys.stderr)
        return 1
