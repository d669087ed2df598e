"""NATS JetStream for tests: the server's URL, a stream of one's own per test, and reading it back.

The server is ``POCKETBANK_TEST_NATS_URL`` (default ``nats://127.0.0.1:4222``, JetStream enabled; ``.ci/run`` starts
it). Each test gets a stream and subject prefix with a random suffix, so tests and test runs never see each other's
messages, and the stream is deleted afterwards. A TCP proxy in front of the server lets a test cut the connection
and restore it (an outage) without touching the shared server.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import threading
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlsplit

import nats
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from nats.js.api import StreamConfig

from pocketbank.integrations.nats_events import MSG_ID, NatsJetStreamPublisher

T = TypeVar("T")


def nats_test_url() -> str:
    return os.environ.get("POCKETBANK_TEST_NATS_URL") or "nats://127.0.0.1:4222"


def _with_js(url: str, work: Callable[[JetStreamContext], Awaitable[T]]) -> T:
    async def run() -> T:
        nc = NatsClient()
        try:
            # nats-py retries a refused first connect (every reconnect_time_wait, max_reconnect_attempts times,
            # allow_reconnect or not): one quick retry, and a bound on the whole.
            await asyncio.wait_for(
                nc.connect(url, connect_timeout=2, reconnect_time_wait=0.1, max_reconnect_attempts=1), timeout=3
            )
            return await work(nc.jetstream(timeout=5))
        finally:
            await nc.close()

    return asyncio.run(run())


def nats_problem(url: str) -> str | None:
    """Why JetStream at ``url`` cannot be used, or None."""

    async def account(js: JetStreamContext) -> None:
        await js.account_info()  # fails when JetStream is not enabled

    try:
        _with_js(url, account)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


@dataclass(frozen=True)
class StreamMsg:
    seq: int
    subject: str
    msg_id: str | None
    body: dict[str, Any]


@dataclass(frozen=True)
class JsStream:
    """A stream and subject prefix of this test's own."""

    url: str
    name: str = field(default_factory=lambda: f"PBTEST_{uuid.uuid4().hex[:12].upper()}")
    token: str = field(default_factory=lambda: uuid.uuid4().hex[:12])

    @property
    def prefix(self) -> str:
        return f"pbtest.{self.token}.events"

    def publisher(self, url: str | None = None, **options: Any) -> NatsJetStreamPublisher:
        options = {"connect_timeout": 1.0, "ack_timeout": 1.0, "reconnect_wait": 0.2} | options
        return NatsJetStreamPublisher(url or self.url, stream=self.name, subject_prefix=self.prefix, **options)

    def create(self, **config: Any) -> None:
        """Create the stream up front (with limits a test wants), as an operator would."""

        async def add(js: JetStreamContext) -> None:
            await js.add_stream(StreamConfig(name=self.name, subjects=[f"{self.prefix}.>"], **config))

        _with_js(self.url, add)

    def messages(self) -> list[StreamMsg]:
        """Every message in the stream, in stream order (empty if the stream does not exist yet)."""

        async def read(js: JetStreamContext) -> list[StreamMsg]:
            try:
                state = (await js.stream_info(self.name)).state
            except nats.js.errors.NotFoundError:
                return []
            if not state.messages:
                return []
            out = []
            for seq in range(state.first_seq, state.last_seq + 1):
                m = await js.get_msg(self.name, seq)
                out.append(StreamMsg(seq, m.subject, (m.headers or {}).get(MSG_ID), json.loads(m.data or b"")))
            return out

        return _with_js(self.url, read)

    def consume(self, subject: str) -> list[StreamMsg]:
        """What a new consumer filtered on ``subject`` receives: every stored message on it, acknowledged."""

        async def pull(js: JetStreamContext) -> list[StreamMsg]:
            sub = await js.pull_subscribe(subject, stream=self.name)
            pending = (await sub.consumer_info()).num_pending
            out: list[StreamMsg] = []
            while len(out) < pending:
                for m in await sub.fetch(pending - len(out), timeout=5):
                    await m.ack()
                    out.append(
                        StreamMsg(
                            m.metadata.sequence.stream, m.subject, (m.headers or {}).get(MSG_ID), json.loads(m.data)
                        )
                    )
            await sub.unsubscribe()
            return out

        return _with_js(self.url, pull)

    def delete(self) -> None:
        async def drop(js: JetStreamContext) -> None:
            with contextlib.suppress(nats.js.errors.NotFoundError):
                await js.delete_stream(self.name)

        _with_js(self.url, drop)


class TcpProxy:
    """A TCP forwarder on a local port to the NATS server: ``stop()`` cuts every connection and refuses new ones
    (the server looks down), ``start()`` listens again on the same port (it is back)."""

    def __init__(self, target_url: str) -> None:
        target = urlsplit(target_url)
        self.target = (target.hostname or "127.0.0.1", target.port or 4222)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self._listener: socket.socket | None = None
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen()
        listener.settimeout(0.05)  # so the accept loop notices stop() without a wake-up trick
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def stop(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()
        with self._lock:
            conns, self._conns = self._conns, []
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()

    def _accept(self, listener: socket.socket) -> None:
        while self._listener is listener:
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            upstream = socket.create_connection(self.target)
            with self._lock:
                self._conns += [client, upstream]
            threading.Thread(target=_pump, args=(client, upstream), daemon=True).start()
            threading.Thread(target=_pump, args=(upstream, client), daemon=True).start()


def _pump(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
