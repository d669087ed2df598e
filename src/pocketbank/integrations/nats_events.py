"""Domain events to NATS JetStream: the ``EventPublisher`` behind the outbox relay (``services.outbox_relay``).

Each event becomes one message on ``<prefix>.<type>`` (``pocketbank.events.transfer.created``) in the stream
``POCKETBANK_EVENTS``, which this publisher creates if it is missing: subjects ``<prefix>.>``, file storage, and a
two-minute duplicate window. The message id header (``Nats-Msg-Id``) is the event id, so the server drops a
re-publish of an event it stored within the window; the body is the event as JSON (id, type, occurred_at in ns since
the epoch, channel, data).

nats-py is asyncio-based and the relay is a plain thread, so the publisher owns a private event loop on a daemon
thread of its own, started on first use; ``publish`` submits a coroutine to it and waits. The connection lives on
that loop between passes, so its reader and pings keep running and it reconnects by itself after an outage (every
two seconds, for ever). A publish waits at most ``ack_timeout`` for the server's acknowledgement; the first one that
fails ends the batch (see ``EventPublisher.publish``), with one log line saying which event and why.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import json
import re
import threading
from collections.abc import Coroutine, Sequence
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import nats.errors
import nats.js.errors
import structlog
from nats.aio.client import Client as NatsClient
from nats.js.api import StorageType, StreamConfig
from nats.js.client import JetStreamContext

from pocketbank.domain.events import DomainEvent
from pocketbank.services.ports import PublishOutcome

log = structlog.get_logger("pocketbank.nats")

DEFAULT_STREAM = "POCKETBANK_EVENTS"
DEFAULT_PREFIX = "pocketbank.events"
MSG_ID = "Nats-Msg-Id"
# An event type is one or more dot-separated tokens; anything else (spaces, wildcards) is not a subject NATS accepts.
_SUBJECT_TOKENS = re.compile(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*")

T = TypeVar("T")


def event_body(event: DomainEvent) -> bytes:
    return json.dumps(
        {
            "id": event.id,
            "type": event.type,
            "occurred_at": event.occurred_at,
            "channel": event.channel,
            "data": event.data,
        },
        sort_keys=True,
        ensure_ascii=False,
    ).encode()


def redact(url: str) -> str:
    """The URL without its password, for logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


class NatsJetStreamPublisher:
    def __init__(
        self,
        url: str,
        *,
        stream: str = DEFAULT_STREAM,
        subject_prefix: str = DEFAULT_PREFIX,
        duplicate_window: float = 120.0,
        max_age_seconds: float | None = None,
        connect_timeout: float = 2.0,
        ack_timeout: float = 5.0,
        reconnect_wait: float = 2.0,
    ) -> None:
        self.url, self.stream, self.prefix = url, stream, subject_prefix
        self.duplicate_window, self.connect_timeout = duplicate_window, connect_timeout
        self.max_age = max_age_seconds  # the stream's retention; None: keep events until the stream's other limits
        self.ack_timeout, self.reconnect_wait = ack_timeout, reconnect_wait
        self._lock = threading.Lock()  # one batch at a time, so the events of two batches never interleave
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._nc: NatsClient | None = None
        self._js: JetStreamContext | None = None
        self._last_error = ""  # the latest connection error, which says why a connect timed out

    def subject(self, event_type: str) -> str:
        if not _SUBJECT_TOKENS.fullmatch(event_type):
            raise ValueError(f"event type {event_type!r} is not a valid NATS subject")
        return f"{self.prefix}.{event_type}"

    def publish(self, events: Sequence[DomainEvent]) -> PublishOutcome:
        if not events:
            return PublishOutcome(0)
        with self._lock:
            # The coroutine bounds every step itself; this outer limit only guards against a wedged loop.
            limit = self.connect_timeout + self.ack_timeout * len(events) + 5
            return self._call(self._publish(events), limit)

    def close(self) -> None:
        with self._lock:
            loop, thread = self._loop, self._thread
            if loop is None or thread is None:
                return
            try:
                self._call(self._disconnect(), self.connect_timeout + 5)
            except (concurrent.futures.CancelledError, TimeoutError):
                # nats-py cancels its own tasks when a close meets a reconnect in progress (seen in a CI run, as a
                # CancelledError from close): the connection is being dropped either way, and shutdown goes on.
                log.warning("nats close was interrupted; dropping the connection", url=redact(self.url))
            finally:
                loop.call_soon_threadsafe(loop.stop)
                thread.join(timeout=10)
                self._loop = self._thread = None

    # --- on the private loop -------------------------------------------------------------------------------------

    async def _publish(self, events: Sequence[DomainEvent]) -> PublishOutcome:
        try:
            js = await self._connected()
        except Exception as exc:
            log.warning(
                "nats unreachable: events stay in the outbox",
                url=redact(self.url),
                pending=len(events),
                error=_describe(exc),
                cause=self._last_error,
            )
            return PublishOutcome(0)
        duplicates = 0
        for done, event in enumerate(events):
            try:
                ack = await js.publish(
                    self.subject(event.type),
                    event_body(event),
                    timeout=self.ack_timeout,
                    stream=self.stream,  # the server refuses the message if another stream owns the subject
                    headers={MSG_ID: event.id},
                )
            except Exception as exc:
                log.warning(
                    "nats publish not acknowledged: this event and the rest of the batch stay in the outbox",
                    event_id=event.id,
                    event_type=event.type,
                    stream=self.stream,
                    acknowledged=done,
                    pending=len(events) - done,
                    error=_describe(exc),
                )
                if isinstance(exc, nats.errors.ConnectionClosedError):
                    self._nc = self._js = None  # start afresh on the next pass
                return PublishOutcome(done, duplicates)
            duplicates += bool(ack.duplicate)
        return PublishOutcome(len(events), duplicates)

    async def _connected(self) -> JetStreamContext:
        # A client that is reconnecting is kept: its publishes time out until it is back, then it carries on.
        if self._nc is not None and self._js is not None and not self._nc.is_closed:
            return self._js
        nc = NatsClient()
        self._last_error = ""

        async def disconnected() -> None:
            if self._nc is nc:  # not for a connect that never succeeded, nor for close()
                log.warning("nats disconnected; reconnecting", url=redact(self.url))

        async def reconnected() -> None:
            log.info("nats reconnected", url=redact(self.url))

        try:
            # Retrying for ever (max_reconnect_attempts=-1) also applies to the first connect, hence the outer limit.
            await asyncio.wait_for(
                nc.connect(
                    self.url,
                    name="pocketbank-outbox-relay",
                    connect_timeout=max(1, round(self.connect_timeout)),
                    reconnect_time_wait=self.reconnect_wait,  # type: ignore[arg-type]  # a float works; typed int
                    max_reconnect_attempts=-1,
                    error_cb=self._on_error,
                    disconnected_cb=disconnected,
                    reconnected_cb=reconnected,
                ),
                timeout=self.connect_timeout,
            )
            js = nc.jetstream(timeout=self.ack_timeout)
            await self._ensure_stream(js)
        except BaseException:
            await nc.close()
            raise
        self._nc, self._js = nc, js
        log.info("nats connected", url=redact(self.url), stream=self.stream)
        return js

    async def _ensure_stream(self, js: JetStreamContext) -> None:
        try:
            info = await js.stream_info(self.stream)
        except nats.js.errors.NotFoundError:
            info = None
        if info is not None:
            # A stream made before retention was configured (or with another one) takes the configured max age;
            # the rest of its configuration is the operator's and stays as it is.
            if self.max_age is not None and info.config.max_age != self.max_age:
                try:
                    await js.update_stream(dataclasses.replace(info.config, max_age=self.max_age))
                    log.info("nats stream retention set", stream=self.stream, max_age_seconds=self.max_age)
                except nats.js.errors.Error as exc:  # e.g. not permitted: publishing matters more than retention
                    log.warning("nats stream retention not set", stream=self.stream, error=_describe(exc))
            return
        config = StreamConfig(
            name=self.stream,
            subjects=[f"{self.prefix}.>"],
            storage=StorageType.FILE,
            duplicate_window=self.duplicate_window,
            max_age=self.max_age,
        )
        try:
            await js.add_stream(config)
            log.info("nats stream created", stream=self.stream, subjects=config.subjects)
        except nats.js.errors.BadRequestError:
            await js.stream_info(self.stream)  # another worker created it first; anything else is a real error

    async def _disconnect(self) -> None:
        nc, self._nc, self._js = self._nc, None, None
        if nc is not None and not nc.is_closed:
            try:
                # Bounded: a connection cut while it reconnects can leave close() waiting on a socket nobody answers
                # (seen once in a full test run), and closing happens at shutdown, which must not hang or fail on it.
                await asyncio.wait_for(nc.close(), timeout=self.connect_timeout)
            except TimeoutError:
                log.warning("nats close timed out; dropping the connection", url=redact(self.url))

    async def _on_error(self, exc: Exception) -> None:
        # Called on every failed (re)connect attempt, every two seconds in an outage: the publish failure and the
        # disconnect say what matters once each, so this stays at debug level.
        self._last_error = _describe(exc)
        log.debug("nats connection error", url=redact(self.url), error=self._last_error)

    # --- the loop's thread ---------------------------------------------------------------------------------------

    def _call(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        future = asyncio.run_coroutine_threadsafe(coro, self._running_loop())
        try:
            return future.result(timeout)
        except TimeoutError:
            future.cancel()
            raise

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            loop = asyncio.new_event_loop()
            thread = threading.Thread(target=_serve, args=(loop,), name="pocketbank-nats", daemon=True)
            thread.start()
            self._loop, self._thread = loop, thread
        return self._loop


def _serve(loop: asyncio.AbstractEventLoop) -> None:
    asyncio.set_event_loop(loop)
    try:
        loop.run_forever()
    finally:
        # Let whatever the client left behind finish its cancellation, so nothing is destroyed while pending.
        leftovers = asyncio.all_tasks(loop)
        for task in leftovers:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*leftovers, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
