"""Behaviour of arrival modes: real-time, delayed (+2 h) and next natural day in Beijing time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pocketbank.domain.arrival import ArrivalMode, scheduled_for

BEIJING = ZoneInfo("Asia/Shanghai")
NEW_YORK = ZoneInfo("America/New_York")


def bj(*args: int) -> datetime:
    return datetime(*args, tzinfo=BEIJING)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("mode", "accepted", "expected"),
    [
        (ArrivalMode.REAL_TIME, bj(2026, 11, 27, 9, 0), None),
        (ArrivalMode.DELAYED, bj(2026, 11, 27, 9, 0), bj(2026, 11, 27, 11, 0)),
        (ArrivalMode.DELAYED, bj(2026, 11, 27, 23, 30), bj(2026, 11, 28, 1, 30)),
        (ArrivalMode.NEXT_DAY, bj(2026, 11, 27, 9, 0), bj(2026, 11, 28, 0, 0)),
        (ArrivalMode.NEXT_DAY, bj(2026, 11, 27, 0, 0), bj(2026, 11, 28, 0, 0)),  # from midnight: exactly 24 h
        (ArrivalMode.NEXT_DAY, bj(2026, 11, 27, 23, 59, 59), bj(2026, 11, 28, 0, 0)),  # one second later, not 24 h
        (ArrivalMode.NEXT_DAY, bj(2026, 12, 31, 18, 0), bj(2027, 1, 1, 0, 0)),
        (ArrivalMode.NEXT_DAY, bj(2028, 2, 28, 12, 0), bj(2028, 2, 29, 0, 0)),  # leap day
        # 17:00 UTC on the 27th is already 01:00 on the 28th in Beijing: next day is the 29th.
        (ArrivalMode.NEXT_DAY, datetime(2026, 11, 27, 17, 0, tzinfo=UTC), bj(2026, 11, 29, 0, 0)),
        (ArrivalMode.DELAYED, datetime(2026, 11, 27, 1, 0, tzinfo=UTC), bj(2026, 11, 27, 11, 0)),
    ],
)
def test_scheduled_for(mode: ArrivalMode, accepted: datetime, expected: datetime | None) -> None:
    result = scheduled_for(mode, accepted)
    assert result == expected
    if result is not None:
        assert result.tzinfo is BEIJING


def test_delayed_is_two_hours_of_elapsed_time_even_across_a_dst_change_elsewhere() -> None:
    # 2026-03-08 01:30 in New York: clocks jump from 02:00 to 03:00 within the two hours.
    accepted = datetime(2026, 3, 8, 1, 30, tzinfo=NEW_YORK)
    result = scheduled_for(ArrivalMode.DELAYED, accepted)
    assert result is not None
    assert result.astimezone(UTC) - accepted.astimezone(UTC) == timedelta(hours=2)


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        scheduled_for(ArrivalMode.DELAYED, datetime(2026, 11, 27, 9, 0))  # noqa: DTZ001 - the point of the test


# Hypothesis takes naive bounds and attaches the time zones itself.
EARLIEST = datetime(2000, 1, 1)  # noqa: DTZ001
LATEST = datetime(2100, 1, 1)  # noqa: DTZ001
aware = st.datetimes(min_value=EARLIEST, max_value=LATEST, timezones=st.sampled_from([UTC, BEIJING, NEW_YORK]))


@given(aware)
def test_next_day_is_the_first_instant_of_the_next_beijing_day(accepted: datetime) -> None:
    result = scheduled_for(ArrivalMode.NEXT_DAY, accepted)
    assert result is not None
    assert (result.hour, result.minute, result.second, result.microsecond) == (0, 0, 0, 0)
    assert result.date() == accepted.astimezone(BEIJING).date() + timedelta(days=1)
    assert timedelta(0) < result - accepted <= timedelta(hours=24)


@given(aware)
def test_delayed_is_exactly_two_hours_later(accepted: datetime) -> None:
    result = scheduled_for(ArrivalMode.DELAYED, accepted)
    assert result is not None
    assert result - accepted == timedelta(hours=2)


def test_modes_have_stable_values() -> None:
    assert [m.value for m in ArrivalMode] == ["real_time", "delayed", "next_day"]
    assert scheduled_for(ArrivalMode.REAL_TIME, datetime(2026, 1, 1, tzinfo=UTC)) is None
