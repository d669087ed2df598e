"""SMS senders behind ``services.auth_ports.SmsSender``.

There is no real SMS gateway yet. ``MemorySmsSender`` keeps every message for tests to read the code from;
``LoggingSmsSender`` logs that a message went out (never the code itself: codes are secrets and logs are shipped
off the host) and keeps the latest code per phone in memory so that the demo can show it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import structlog

log = structlog.get_logger("pocketbank.sms")


@dataclass(frozen=True, slots=True)
class SentSms:
    phone: str
    text: str
    code: str | None


class MemorySmsSender:
    def __init__(self) -> None:
        self.sent: list[SentSms] = []
        self._lock = threading.Lock()

    def send(self, phone: str, text: str, *, code: str | None = None) -> None:
        with self._lock:
            self.sent.append(SentSms(phone, text, code))

    def last_code(self, phone: str) -> str:
        """The most recent code sent to ``phone`` (tests); ``LookupError`` if none."""
        with self._lock:
            for sms in reversed(self.sent):
                if sms.phone == phone and sms.code is not None:
                    return sms.code
        raise LookupError(f"no code was sent to {phone}")


class LoggingSmsSender:
    def __init__(self) -> None:
        self._latest: dict[str, str] = {}
        self._lock = threading.Lock()

    def send(self, phone: str, text: str, *, code: str | None = None) -> None:
        log.info("sms sent", phone=phone[:-4] + "****", length=len(text))
        if code is not None:
            with self._lock:
                self._latest[phone] = code

    def latest_code(self, phone: str) -> str | None:
        """The latest code sent to ``phone``, for the demo's "what did the SMS say" helper."""
        with self._lock:
            return self._latest.get(phone)
