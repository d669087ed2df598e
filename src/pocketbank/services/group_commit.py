"""Group commit: many callers' transfers coalesced into one database transaction.

A durable commit costs an fsync, a few milliseconds on this kind of machine, whatever the transaction holds. If
every caller committed alone, throughput would stop at the disk's fsync rate. Instead callers hand their events to
a ``GroupCommitter`` and wait; a writer thread takes everything that queued up while the previous batch was being
committed and applies it as one batch. Under light load a caller's batch is just its own events, so latency stays
that of a single commit; under heavy load batches grow and the cost of each commit is shared.

Each caller's events stay one *segment* of the batch, so a caller's linked chain cannot run into another caller's
events, and each caller gets back exactly its own results, in order. If the batch fails as a whole (the database
is unreachable), every caller in it gets the exception and nothing of the batch was applied.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

E = TypeVar("E")
R = TypeVar("R")

DEFAULT_MAX_BATCH = 8190  # TigerBeetle's batch size: large enough to amortise a commit, small enough to lock briefly

# Linger: when the queue runs dry before the batch holds as many callers as are expected (see ``_expected``), wait up
# to ``linger`` seconds for the next arrival, and at most ``linger_max`` in all. Without it 32 closed-loop callers
# split into two cohorts that alternate (one queues while the other's batch commits), so every commit carried half
# of them; waiting a fraction of a commit for the answered cohort to come back merges them. A batch that every
# expected caller has joined does not wait: waiting on for one more, who was not coming, had cost 0.2 ms of every
# 3.3 ms cycle with 32 callers (and linger_max cut one batch in six short). A caller in a quiet system never waits,
# since one caller is expected; after a burst the first caller may wait one ``linger`` for the others.
DEFAULT_LINGER = 0.0002
DEFAULT_LINGER_MAX = 0.001


class Pending(Generic[R]):
    """One caller's outcome, handed over once by a writer thread.

    A bare lock held until the result is in: waking the caller is one futex call. ``concurrent.futures.Future``
    builds a ``Condition`` per instance and a lock per wait, which showed up as a measurable share of the CPU a
    transfer costs when 32 callers hand over thousands of results a second.
    """

    __slots__ = ("_done", "_error", "_value")

    def __init__(self) -> None:
        self._done = threading.Lock()
        self._done.acquire()
        self._value: list[R] | None = None
        self._error: BaseException | None = None

    def result(self, timeout: float | None = None) -> list[R]:
        if not self._done.acquire(timeout=-1 if timeout is None else timeout):
            raise TimeoutError("the group commit did not answer in time")
        self._done.release()  # stay readable for a second call
        if self._error is not None:
            raise self._error
        assert self._value is not None
        return self._value

    def set_result(self, value: list[R]) -> None:
        self._value = value
        self._done.release()

    def set_exception(self, error: BaseException) -> None:
        self._error = error
        self._done.release()


class GroupCommitter(Generic[E, R]):
    """Thread-safe: ``submit`` from any number of threads; ``writers`` threads apply batches."""

    def __init__(
        self,
        apply: Callable[[list[Sequence[E]], Callable[[], None]], list[list[R]]],
        *,
        writers: int = 1,
        max_batch: int = DEFAULT_MAX_BATCH,
        name: str = "ledger",
        linger: float = DEFAULT_LINGER,
        linger_max: float = DEFAULT_LINGER_MAX,
    ) -> None:
        self._apply = apply
        self._linger, self._linger_max = linger, linger_max
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[tuple[Sequence[E], Pending[R]] | None] = queue.SimpleQueue()
        self._closed = False
        # How many callers the next batch can expect: those the last batch answered (closed-loop callers come back)
        # and those that queued while it committed. A guess: it only tunes how long a batch lingers, within the bounds.
        self._expected = 0
        # The baton: only one writer forms a batch at a time, and it hands the baton on when its batch is about to
        # commit (the ``handoff`` given to ``apply``). So with two writers, one batch's commit (an fsync) overlaps
        # the next batch's reads and state machine, and batches are not cut into fragments by writers racing for
        # the queue.
        self._forming = threading.Lock()
        self._threads = [
            threading.Thread(target=self._run, name=f"{name}-writer-{i}", daemon=True) for i in range(writers)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, events: Sequence[E]) -> list[R]:
        """Apply ``events`` as one segment of some batch and return their results (blocks until committed)."""
        return self.submit_async(events).result()

    def submit_async(self, events: Sequence[E]) -> Pending[R]:
        if self._closed:
            raise RuntimeError("the group committer is closed")
        future: Pending[R] = Pending()
        self._queue.put((events, future))
        return future

    def close(self) -> None:
        """Finish what is queued, then stop the writers."""
        if self._closed:
            return
        self._closed = True
        for _ in self._threads:
            self._queue.put(None)
        for thread in self._threads:
            thread.join()

    def _run(self) -> None:
        while True:
            self._forming.acquire()
            batch, stop = self._take()
            handed = False

            def handoff() -> None:
                nonlocal handed
                if not handed:
                    handed = True
                    self._forming.release()

            try:
                if batch:
                    self._commit(batch, handoff)
            finally:
                handoff()
            if stop:
                return

    def _take(self) -> tuple[list[tuple[Sequence[E], Pending[R]]], bool]:
        """The next batch, and whether the committer is closing."""
        first = self._queue.get()
        if first is None:
            return [], True
        batch = [first]
        size = len(first[0])
        stop = False
        # Take whatever queued while the previous commit ran; then, while more keep arriving (the callers the
        # last commit just answered, coming back), wait a little for them: see ``linger``.
        deadline = 0.0
        while size < self._max_batch:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                if len(batch) >= self._expected or self._linger <= 0:
                    break
                now = time.monotonic()
                deadline = deadline or now + self._linger_max
                if now >= deadline:
                    break
                try:
                    item = self._queue.get(timeout=min(self._linger, deadline - now))
                except queue.Empty:
                    break
            if item is None:
                stop = True
                break
            batch.append(item)
            size += len(item[0])
        return batch, stop

    def _commit(self, batch: list[tuple[Sequence[E], Pending[R]]], handoff: Callable[[], None]) -> None:
        try:
            results = self._apply([events for events, _ in batch], handoff)
            if len(results) != len(batch):
                # Checked here, not left to zip: a writer thread that died would leave every later caller waiting.
                raise RuntimeError(f"apply answered {len(results)} segments for a batch of {len(batch)}")
        except BaseException as exc:  # every caller of a failed batch must hear about it
            for _, future in batch:
                future.set_exception(exc)
            return
        self._expected = len(batch) + self._queue.qsize()
        for (_, future), result in zip(batch, results, strict=False):
            future.set_result(result)
