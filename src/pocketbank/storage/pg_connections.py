"""A bounded set of PostgreSQL connections, opened on demand and reused: the ledger store's pool; and the way its
write transactions reach the server (``pipelined_transaction``).

Why not psycopg_pool: it opens connections in the background and, after a failure, retries with a growing delay
(1 s, 2 s, 4 s, ...) while callers wait up to 30 s for one. Across a one-second restart of the server that left
the ledger's writers stalled for seconds after it was back (the crash suite's restart test caught it). Here a
caller that finds no idle connection opens one itself, at once: when the server is down the call fails fast and
the caller's retry reaches the server the moment it is back, as with a connection per thread, only bounded.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
from psycopg import pq


class BoundedConnections:
    """At most ``size`` connections at once; a caller beyond that waits for one to come back. A connection comes
    back idle (its transaction ended) or is closed and dropped: a broken one is never handed out again."""

    def __init__(self, connect: Callable[[], psycopg.Connection[Any]], size: int) -> None:
        self._connect = connect
        self._slots = threading.BoundedSemaphore(size)
        self._idle: list[psycopg.Connection[Any]] = []
        self._lock = threading.Lock()
        self._closed = False

    @contextlib.contextmanager
    def connection(self) -> Iterator[psycopg.Connection[Any]]:
        with self._slots:
            conn = self._take()
            try:
                yield conn
            finally:
                self._give_back(conn)

    def close(self) -> None:
        """Close the idle connections now, and each one in use when it comes back."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    def _take(self) -> psycopg.Connection[Any]:
        with self._lock:
            while self._idle:
                conn = self._idle.pop()  # the most recently used: its prepared statements are warm
                if not conn.closed:
                    return conn
        return self._connect()

    def _give_back(self, conn: psycopg.Connection[Any]) -> None:
        # Idle and transactional, as every caller expects it: anything else (a broken connection, or one whose
        # autocommit switch could not be put back) is closed.
        reusable = not conn.closed and conn.info.transaction_status == pq.TransactionStatus.IDLE and not conn.autocommit
        with self._lock:
            if reusable and not self._closed:
                self._idle.append(conn)
                return
        with contextlib.suppress(psycopg.Error):
            conn.close()


@contextlib.contextmanager
def pipelined_transaction(conn: psycopg.Connection[Any]) -> Iterator[None]:
    """A transaction whose ``BEGIN``, statements and ``COMMIT`` reach the server together, in one round trip.

    psycopg opens a transaction with its own round trip (``BEGIN`` and a sync, to learn the transaction status), and
    leaving a pipeline syncs once more after the commit's: a batch written in "one pipeline" cost three round trips,
    two of them carrying nothing (seen with strace: a sync and a wait for each). Here the connection is switched to
    autocommit, so psycopg adds nothing, and ``BEGIN`` and ``COMMIT`` are queued as statements: the one sync is the
    pipeline's exit. A statement that reads its result inside the block syncs there, and the transaction goes on.

    If a statement fails, the server skips the rest up to the sync, ``COMMIT`` included, and the transaction is
    rolled back here before the error propagates. The connection leaves as it came, idle and not in autocommit, or
    broken, for the pool to drop.
    """
    conn.autocommit = True
    try:
        with conn.pipeline():
            conn.execute("BEGIN")
            yield
            conn.execute("COMMIT")
    except BaseException:
        if not conn.closed and conn.info.transaction_status != pq.TransactionStatus.IDLE:
            with contextlib.suppress(psycopg.Error):  # a ROLLBACK that fails leaves it broken: the pool drops it
                conn.execute("ROLLBACK")
        raise
    finally:
        # Refused only when the connection is not idle (it broke): the pool then drops it. Suppressed so that the
        # error that broke it is the one that propagates.
        with contextlib.suppress(psycopg.Error):
            conn.autocommit = False
