"""Arrival modes: when an accepted transfer is debited and sent (PBoC Yinfa [2016] No. 261, reference §1.5).

Since 2016-12-01 every non-counter channel except the ATM must let the payer choose among three modes. The
delay is a fraud control: a victim who realises they were tricked can revoke a transfer that has not yet
been sent.

* `real_time`: debit and send at once. `scheduled_for` returns None: there is nothing to wait for.
* `delayed` (the regulation's "ordinary" mode): debit and send 2 hours after acceptance, measured as
  elapsed time (2 h = 7,200 s on the real clock, whatever the time zone of the input).
* `next_day`: debit and send on the **next natural day**, which is not "24 hours later": a transfer
  accepted at 2026-11-27 09:00 or at 23:59 Beijing time is sent at 2026-11-28 00:00 Beijing time, the
  first instant of the next calendar day in Asia/Shanghai, the bank's home time zone.

If the clearing system is closed at the scheduled time, the transfer is debited then and sent when it reopens;
that is the rails' business, not this module's. ATM transfers to another person follow a different rule
(credited 24 h after acceptance, revocable meanwhile) that is not one of these modes.

`scheduled_for` takes the acceptance time as an aware datetime (it never reads a clock) and returns the
scheduled moment in Beijing time.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from enum import StrEnum
from typing import Final
from zoneinfo import ZoneInfo

BANK_TIMEZONE: Final = ZoneInfo("Asia/Shanghai")
DELAYED_BY: Final = timedelta(hours=2)


class ArrivalMode(StrEnum):
    REAL_TIME = "real_time"
    DELAYED = "delayed"
    NEXT_DAY = "next_day"


def scheduled_for(mode: ArrivalMode, accepted_at: datetime) -> datetime | None:
    """When a transfer accepted at `accepted_at` is debited and sent, in Beijing time; None for `real_time`."""
    if accepted_at.tzinfo is None or accepted_at.utcoffset() is None:
        raise ValueError("accepted_at must be an aware datetime")
    local = accepted_at.astimezone(BANK_TIMEZONE)
    if mode is ArrivalMode.REAL_TIME:
        return None
    if mode is ArrivalMode.DELAYED:
        # Arithmetic on an aware datetime adds wall-clock time in its zone; Beijing has no DST, so this is elapsed.
        return local + DELAYED_BY
    if mode is ArrivalMode.NEXT_DAY:
        return datetime.combine(local.date() + timedelta(days=1), time(0, 0), tzinfo=BANK_TIMEZONE)
    raise ValueError(f"unknown arrival mode {mode!r}")
