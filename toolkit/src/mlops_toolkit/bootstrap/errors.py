"""Expected failures, and how an AWS or git error is explained to a person."""

from __future__ import annotations

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)

EXIT_AWS_ERROR = 1
EXIT_USAGE = 2
EXIT_NO_CREDENTIALS = 3
EXIT_INTERRUPTED = 130  # the shell's convention for Ctrl-C

ACCESS_DENIED_CODES = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "UnauthorizedOperation",
        "UnauthorizedException",
        "InvalidClientTokenId",
        "ExpiredToken",
        "ExpiredTokenException",
    }
)
THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "SlowDown",
        "RequestThrottled",
        "RequestThrottledException",
    }
)
NETWORK_ERRORS = (
    EndpointConnectionError,
    ConnectionClosedError,
    ConnectTimeoutError,
    ReadTimeoutError,
)


class BootstrapError(Exception):
    """An expected failure: one clear message and an exit status, never a traceback."""

    exit_code = EXIT_AWS_ERROR


class ConfigError(BootstrapError):
    """The project files or the command line are unusable."""

    exit_code = EXIT_USAGE


class NoCredentials(BootstrapError):
    """No AWS credentials could be found."""

    exit_code = EXIT_NO_CREDENTIALS


class StepFailed(BootstrapError):
    """One step failed; nothing after it ran."""

    def __init__(self, step: str, resource: str, detail: str) -> None:
        super().__init__(f"{step} {resource!r} failed: {detail}")
        self.step = step
        self.resource = resource
        self.detail = detail


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def describe_aws_error(error: Exception) -> str:
    """A sentence saying what kind of failure ``error`` is and what to do about it."""
    if isinstance(error, NoCredentialsError):
        return "no AWS credentials were found"
    if isinstance(error, ClientError):
        return _describe_client_error(error)
    if isinstance(error, NETWORK_ERRORS):
        return (
            f"network error: {error}. The connection dropped or AWS could not be reached; check "
            "the network (and AWS_ENDPOINT_URL if set), then re-run the same command"
        )
    if isinstance(error, BotoCoreError):
        return f"AWS SDK error: {error}"
    return str(error)


def _describe_client_error(error: ClientError) -> str:
    code = error_code(error)
    message = error.response.get("Error", {}).get("Message", "")
    operation = error.operation_name
    if code in ACCESS_DENIED_CODES:
        return (
            f"access denied: AWS refused {operation} ({code}: {message}). Grant the identity "
            "running this command the permissions `mlops-bootstrap policy` prints (see the deploy "
            "repository's cicd/README.md), then re-run"
        )
    if code in THROTTLING_CODES:
        return (
            f"throttled: AWS kept refusing {operation} with {code} after the SDK's retries "
            f"({message}). Wait a minute, then re-run: finished steps are not repeated"
        )
    return f"AWS rejected {operation} with {code}: {message}"
