"""The group committer hands every caller exactly its own results, coalesces under load, and never loses a caller."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

import pytest

from pocketbank.services.group_commit import GroupCommitter


class RecordingApply:
    """Echo each event back doubled; remember the batches, and hold the first batch until released."""

    def __init__(self) -> None:
        self.batches: list[list[Sequence[int]]] = []
        self.release = threading.Event()
        self.lock = threading.Lock()

    def __call__(self, segments: list[Sequence[int]], handoff: Callable[[], None]) -> list[list[int]]:
        self.release.wait(timeout=10)
        with self.lock:
            self.batches.append(segments)
        return [[e * 2 for e in seg] for seg in segments]


def test_each_caller_gets_its_own_results_in_order() -> None:
    apply = RecordingApply()
    apply.release.set()
    gc: GroupCommitter[int, int] = GroupCommitter(apply, writers=2)
    results: dict[int, list[int]] = {}

    def caller(i: int) -> None:
        results[i] = gc.submit([i, i + 1000, i + 2000])

    threads = [threading.Thread(target=caller, args=(i,)) for i in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    gc.close()
    assert results == {i: [2 * i, 2 * (i + 1000), 2 * (i + 2000)] for i in range(50)}
    assert sum(len(b) for b in apply.batches) == 50


def test_callers_that_queue_during_a_commit_share_the_next_batch() -> None:
    apply = RecordingApply()
    gc: GroupCommitter[int, int] = GroupCommitter(apply, writers=1)
    first = gc.submit_async([0])  # the writer takes this one and blocks in apply until released
    deadline = time.monotonic() + 10
    while not gc._queue.empty() and time.monotonic() < deadline:  # wait until the writer holds it in apply
        time.sleep(0.001)
    waiting = [gc.submit_async([i]) for i in range(1, 21)]
    apply.release.set()
    assert first.result(timeout=10) == [0]
    assert [f.result(timeout=10) for f in waiting] == [[2 * i] for i in range(1, 21)]
    gc.close()
    # Twenty callers queued behind one commit were applied in far fewer than twenty transactions.
    assert len(apply.batches) <= 3
    assert sorted(seg[0] for batch in apply.batches for seg in batch) == list(range(21))


def test_max_batch_bounds_a_batch_but_never_splits_a_caller() -> None:
    apply = RecordingApply()
    gc: GroupCommitter[int, int] = GroupCommitter(apply, writers=1, max_batch=5)
    futures = [gc.submit_async([i] * 3) for i in range(10)]
    apply.release.set()
    for i, f in enumerate(futures):
        assert f.result(timeout=10) == [2 * i] * 3
    gc.close()
    for batch in apply.batches:
        assert all(len(seg) == 3 for seg in batch)
        # A batch stops growing once it reaches max_batch; the segment that crossed it is whole.
        assert sum(len(seg) for seg in batch) <= 5 + 2


def test_a_failed_batch_fails_every_caller_in_it() -> None:
    def boom(segments: list[Sequence[int]], handoff: Callable[[], None]) -> list[list[int]]:
        raise ConnectionError("database unreachable")

    gc: GroupCommitter[int, int] = GroupCommitter(boom)
    with pytest.raises(ConnectionError):
        gc.submit([1])
    futures = [gc.submit_async([i]) for i in range(5)]
    for f in futures:
        with pytest.raises(ConnectionError):
            f.result(timeout=10)
    gc.close()


def test_close_finishes_queued_work_and_refuses_new_work() -> None:
    apply = RecordingApply()
    gc: GroupCommitter[int, int] = GroupCommitter(apply)
    futures = [gc.submit_async([i]) for i in range(10)]
    apply.release.set()
    gc.close()
    assert [f.result(timeout=1) for f in futures] == [[2 * i] for i in range(10)]
    with pytest.raises(RuntimeError):
        gc.submit([1])


def test_a_writer_hands_the_next_batch_to_another_writer_before_its_commit() -> None:
    """With two writers, batch 2 is formed and applied while batch 1 is still committing (it handed off)."""
    gate = threading.Event()
    started: list[list[Sequence[int]]] = []
    lock = threading.Lock()

    def apply(segments: list[Sequence[int]], handoff: Callable[[], None]) -> list[list[int]]:
        with lock:
            started.append(segments)
            first = len(started) == 1
        handoff()
        if first:
            gate.wait(timeout=10)  # batch 1's "commit" hangs until the test lets it go
        return [list(seg) for seg in segments]

    gc: GroupCommitter[int, int] = GroupCommitter(apply, writers=2)
    one = gc.submit_async([1])
    deadline = time.monotonic() + 10
    while not started and time.monotonic() < deadline:
        time.sleep(0.001)
    assert gc.submit_async([2]).result(timeout=5) == [2]  # answered although batch 1 has not finished
    assert not gate.is_set()
    gate.set()
    assert one.result(timeout=10) == [1]
    gc.close()


def test_a_wrong_answer_from_apply_fails_its_callers_and_the_writer_carries_on() -> None:
    calls: list[int] = []

    def apply(segments: list[Sequence[int]], handoff: Callable[[], None]) -> list[list[int]]:
        calls.append(len(segments))
        if len(calls) == 1:
            return []  # a broken store: no answer for the segment
        return [list(seg) for seg in segments]

    gc: GroupCommitter[int, int] = GroupCommitter(apply, writers=1)
    with pytest.raises(RuntimeError, match="answered 0 segments"):
        gc.submit_async([1]).result(timeout=5)
    assert gc.submit_async([2]).result(timeout=5) == [2]
    gc.close()


def test_a_batch_closes_once_every_expected_caller_has_joined() -> None:
    """The callers a commit answered, and those that queued during it, are expected in the next batch; once they are
    all in, it is applied at once instead of lingering for someone who is not coming."""
    applied: list[list[int]] = []
    first_held = threading.Event()
    second_applied = threading.Event()
    release = threading.Event()

    def apply(segments: list[Sequence[int]], handoff: Callable[[], None]) -> list[list[int]]:
        if not applied:
            first_held.set()
            release.wait(timeout=10)
        applied.append([seg[0] for seg in segments])
        if len(applied) == 2:
            second_applied.set()
        return [list(seg) for seg in segments]

    # A linger far longer than the test: only the expected count can close the second batch early.
    gc: GroupCommitter[int, int] = GroupCommitter(apply, writers=1, linger=30, linger_max=30)
    a = threading.Thread(target=lambda: (gc.submit([1]), gc.submit([10])))  # a closed-loop caller: back at once
    a.start()
    assert first_held.wait(timeout=10)
    b, c = gc.submit_async([2]), gc.submit_async([3])  # queue while the first batch commits
    release.set()
    # Expected next: b and c, and a coming back. On failure the second batch is still lingering after 5 s, and d
    # then joins it; here it has been applied by then, and d gets a batch of its own.
    second_applied.wait(timeout=5)
    d = gc.submit_async([4])
    a.join(timeout=10)
    gc.close()  # d's batch expects more callers and would linger: closing ends the wait, and applies it
    assert [f.result(timeout=10) for f in (b, c, d)] == [[2], [3], [4]]
    assert applied == [[1], [2, 3, 10], [4]]
