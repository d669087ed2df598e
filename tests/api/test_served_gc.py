"""The served app sets Python's garbage collector for a server while it serves, and gives it back when it stops
(``api.main.tuned_gc``): what was built at startup is frozen out of every collection, and young passes are rarer."""

from __future__ import annotations

import gc

from fastapi.testclient import TestClient

from pocketbank.api.main import OLDER_GENERATIONS, app_with_jobs, tuned_gc
from pocketbank.bootstrap import Container


def test_the_collector_is_tuned_while_the_app_serves_and_given_back_after(container: Container) -> None:
    before = gc.get_threshold()
    young = container.settings.gc_young_threshold
    assert young > before[0]  # the default raises it
    with TestClient(app_with_jobs(container)) as client:
        assert client.get("/v1/health").status_code == 200
        assert gc.get_threshold() == (young, OLDER_GENERATIONS, OLDER_GENERATIONS)
        assert gc.get_freeze_count() > 1_000  # the app, its models and the container, at the least
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_zero_leaves_the_collector_as_python_set_it() -> None:
    before = gc.get_threshold()
    with tuned_gc(0):
        assert gc.get_threshold() == before
        assert gc.get_freeze_count() == 0
    assert gc.get_threshold() == before
