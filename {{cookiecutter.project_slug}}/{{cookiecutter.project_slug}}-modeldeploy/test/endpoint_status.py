"""Waiting for the staging endpoint to serve, and checking its data capture setting."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

IN_SERVICE = "InService"
# Statuses an endpoint does not leave on its own: waiting longer cannot help.
TERMINAL_STATUSES = frozenset({"Failed", "OutOfService", "Deleting"})


class EndpointCheckFailed(Exception):
    """A staging check that failed; ``check`` names it in the results file."""

    def __init__(self, check: str, message: str) -> None:
        super().__init__(message)
        self.check = check


def wait_until_in_service(
    describe: Callable[[], dict[str, Any]],
    timeout_seconds: float,
    poll_seconds: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """Poll ``describe`` until the endpoint is InService; the last description is returned."""
    deadline = clock() + timeout_seconds
    while True:
        description = describe()
        status = description.get("EndpointStatus", "unknown")
        if status == IN_SERVICE:
            return description
        name = description.get("EndpointName", "the endpoint")
        if status in TERMINAL_STATUSES:
            reason = description.get("FailureReason") or "no failure reason given"
            raise EndpointCheckFailed(
                "endpoint_in_service", f"{name} is {status} ({reason}); it will not serve"
            )
        remaining = deadline - clock()
        if remaining <= 0:
            raise EndpointCheckFailed(
                "endpoint_in_service",
                f"{name} is still {status} after {timeout_seconds:g} s; raise --timeout-seconds "
                "if deployments of this size take longer",
            )
        sleep(min(poll_seconds, remaining))


def check_data_capture(description: dict[str, Any]) -> str:
    """Confirm the endpoint captures requests; returns a summary for the report."""
    capture = description.get("DataCaptureConfig") or {}
    name = description.get("EndpointName", "the endpoint")
    if capture.get("EnableCapture") is not True:
        raise EndpointCheckFailed(
            "data_capture_enabled",
            f"data capture is not enabled on {name}; the stage's endpoint configuration must "
            "set DataCaptureConfig.EnableCapture",
        )
    status = capture.get("CaptureStatus")
    if status is not None and status != "Started":
        raise EndpointCheckFailed(
            "data_capture_enabled", f"data capture on {name} is {status}, expected Started"
        )
    percentage = capture.get("CurrentSamplingPercentage", capture.get("InitialSamplingPercentage"))
    destination = capture.get("DestinationS3Uri", "an unreported destination")
    return f"capturing {percentage}% of requests to {destination}"
