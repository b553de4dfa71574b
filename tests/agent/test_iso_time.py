"""ISO 8601 times read without datetime.fromisoformat, which dom0's python 3.6 lacks."""

from datetime import UTC, datetime

import pytest

from agent.crash.rules import parse_iso_time


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-25T06:10:00+00:00",
        "2026-11-25T06:10:00.123456+00:00",
        "2026-11-25T06:10:00.5+02:00",
        "2026-11-25 06:10:00-05:30",
        "2026-11-25T06:10:00",
    ],
)
def test_it_reads_what_fromisoformat_reads(text):
    expected = datetime.fromisoformat(text)
    if expected.tzinfo is None:  # a time that names no zone is UTC, as in the logs
        expected = expected.replace(tzinfo=UTC)
    assert parse_iso_time(text) == expected


def test_z_is_utc_and_anything_else_is_refused():
    assert parse_iso_time("2026-11-25T06:10:00Z") == datetime(2026, 11, 25, 6, 10, tzinfo=UTC)
    with pytest.raises(ValueError, match="Invalid isoformat string"):
        parse_iso_time("yesterday")
