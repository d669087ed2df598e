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
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Generic, TypeVar

E = TypeVar("E")
R = TypeVar("R")

DEFAULT_MAX_BATCH = 8190  # TigerBeetle's batch size: large enough to amortise a commit, small enough to lock briefly


class GroupCommitter(Generic[E, R]):
    """Thread-safe: ``submit`` from any number of threads; ``writers`` threads apply batches."""

    def __init__(
        self,
        apply: Callable[[list[Sequence[E]]], list[list[R]]],
        *,
        writers: int = 1,
        max_batch: int = DEFAULT_MAX_BATCH,
        name: str = "ledger",
    ) -> None:
        self._apply = apply
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[tuple[Sequence[E], Future[list[R]]] | None] = queue.SimpleQueue()
        self._closed = False
        self._threads = [
            threading.Thread(target=self._run, name=f"{name}-writer-{i}", daemon=True) for i in range(writers)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, events: Sequence[E]) -> list[R]:
        """Apply ``events`` as one segment of some batch and return their results (blocks until committed)."""
        return self.submit_async(events).result()

    def submit_async(self, events: Sequence[E]) -> Future[list[R]]:
        if self._closed:
            raise RuntimeError("the group committer is closed")
        future: Future[list[R]] = Future()
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
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            size = len(first[0])
            stop = False
            # Take whatever queued while the previous commit ran, without waiting for more.
            while size < self._max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                batch.append(item)
                size += len(item[0])
            self._commit(batch)
            if stop:
                return

    def _commit(self, batch: list[tuple[Sequence[E], Future[list[R]]]]) -> None:
        try:
            results = self._apply([events for events, _ in batch])
        except BaseException as exc:  # every caller of a failed batch must hear about it
            for _, future in batch:
                future.set_exception(exc)
            return
        for (_, future), result in zip(batch, results, strict=True):
            future.set_result(result)
