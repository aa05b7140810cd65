"""The staging test's building blocks: payload and response checks, percentiles, waiting."""

from __future__ import annotations

from pathlib import Path

import pytest

from endpoint_checks import (
    FEATURE_COLUMNS,
    Bounds,
    PayloadError,
    ResponseError,
    latency_summary,
    load_payload,
    parse_predictions,
    percentile,
)
from endpoint_status import EndpointCheckFailed, check_data_capture, wait_until_in_service
from helpers import REPO_ROOT

RINGS = Bounds(0, 40)


def test_shipped_payload_is_raw_feature_rows() -> None:
    rows = load_payload(REPO_ROOT / "test" / "sample-payload.csv")

    assert len(rows) >= 10
    assert all(len(row.split(",")) == len(FEATURE_COLUMNS) for row in rows)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("M,0.5,0.4,0.1,0.8,0.3,0.2,0.2,9\n", "expected 8 columns"),
        ("sex,length,diameter,height,a,b,c,d\n", "sex must be one of M, F, I, got 'sex'"),
        ("F,0.5,0.4,x,0.8,0.3,0.2,0.2\n", "height must be a number, got 'x'"),
        ("I,0.5,0.4,0.1,-0.8,0.3,0.2,0.2\n", "whole_weight must be a finite number >= 0"),
        ("\n\n", "has no rows"),
    ],
)
def test_bad_payload_names_line_and_column(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "payload.csv"
    path.write_text(text, encoding="utf-8")

    with pytest.raises(PayloadError, match=expected):
        load_payload(path)


def test_one_number_per_row_is_accepted() -> None:
    body = b"9.5\n11.25\r\n7\n"

    assert parse_predictions("text/csv; charset=utf-8", body, 3, RINGS) == [9.5, 11.25, 7.0]


@pytest.mark.parametrize(
    ("content_type", "body", "rows", "expected"),
    [
        ("application/json", b"9.5\n", 1, "content type is 'application/json', expected text/csv"),
        ("text/csv", b"9.5\n9.6\n", 1, "2 prediction line(s) for 1 row(s) sent"),
        ("text/csv", b"9.5\n", 2, "1 prediction line(s) for 2 row(s) sent"),
        ("text/csv", b"", 1, "0 prediction line(s) for 1 row(s) sent"),
        ("text/csv", b"9.5,9.6\n", 1, "line 1 is not a number: '9.5,9.6'"),
        ("text/csv", b"9\nten\n", 2, "line 2 is not a number: 'ten'"),
        ("text/csv", b"inf\n", 1, "line 1 is not a finite number"),
        ("text/csv", b"41\n", 1, "line 1 = 41 is outside the plausible range [0, 40]"),
        ("text/csv", b"-0.5\n", 1, "outside the plausible range"),
        ("text/csv", b"\xff\n", 1, "not UTF-8"),
    ],
)
def test_contract_violations_are_named(
    content_type: str, body: bytes, rows: int, expected: str
) -> None:
    with pytest.raises(ResponseError) as raised:
        parse_predictions(content_type, body, rows, RINGS)

    assert expected in str(raised.value)


def test_nearest_rank_percentiles() -> None:
    values = [float(value) for value in range(1, 21)]

    assert percentile(values, 0.5) == 10.0
    assert percentile(values, 0.95) == 19.0
    assert percentile([3.0], 0.95) == 3.0
    assert latency_summary([5.0, 1.0, 3.0]) == {"count": 3, "p50": 3.0, "p95": 5.0, "max": 5.0}
    assert latency_summary([]) == {"count": 0}


class FakeClock:
    """Time that moves only when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_waits_through_creating_until_in_service() -> None:
    statuses = iter(["Creating", "Creating", "InService"])
    clock = FakeClock()

    description = wait_until_in_service(
        lambda: {"EndpointStatus": next(statuses)}, 600, 30, lambda: clock.now, clock.sleep
    )

    assert description["EndpointStatus"] == "InService"
    assert clock.sleeps == [30, 30]


def test_times_out_with_the_last_status() -> None:
    clock = FakeClock()

    with pytest.raises(EndpointCheckFailed, match="still Updating after 100 s") as raised:
        wait_until_in_service(
            lambda: {"EndpointName": "e", "EndpointStatus": "Updating"},
            100,
            30,
            lambda: clock.now,
            clock.sleep,
        )

    assert raised.value.check == "endpoint_in_service"
    assert clock.sleeps == [30, 30, 30, 10]


def test_failed_endpoint_stops_waiting_with_its_reason() -> None:
    clock = FakeClock()
    description = {"EndpointName": "e", "EndpointStatus": "Failed", "FailureReason": "no capacity"}

    with pytest.raises(EndpointCheckFailed, match=r"e is Failed \(no capacity\)"):
        wait_until_in_service(lambda: description, 600, 30, lambda: clock.now, clock.sleep)

    assert clock.sleeps == []


def test_data_capture_must_be_enabled_and_started() -> None:
    enabled = {"EnableCapture": True, "CaptureStatus": "Started", "CurrentSamplingPercentage": 100}

    assert "capturing 100%" in check_data_capture({"DataCaptureConfig": enabled})
    with pytest.raises(EndpointCheckFailed, match="data capture is not enabled"):
        check_data_capture({"EndpointName": "e"})
    with pytest.raises(EndpointCheckFailed, match="is Stopped, expected Started"):
        check_data_capture({"DataCaptureConfig": enabled | {"CaptureStatus": "Stopped"}})
