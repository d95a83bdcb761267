"""The serving process settles its memory once started (webapp.server.settle_heap): what
start-up made leaves the garbage collector's generations, so a full collection no longer
walks it and no request waits out that pause. (How much it changes the slowest answers is
make bench's to print, not a test's.)"""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.helpers import cli_environment
from webapp import app as app_module
from webapp import server
from webapp.app import create_app
from webapp.cli import main


def tracked(thing: object) -> bool:
    """Whether the collector's generations hold `thing` (frozen objects are in none)."""
    return any(found is thing for found in gc.get_objects())


def test_settle_heap_takes_what_lives_out_of_the_collections_and_leaves_later_garbage():
    alive = [object()]
    assert tracked(alive)
    thresholds = gc.get_threshold()
    try:
        server.settle_heap()
        later = [object()]
        assert not tracked(alive)
        assert tracked(later)  # made after start-up: collected as before
        # The youngest generation is collected less often; the older ones as before.
        assert gc.get_threshold() == (server.YOUNG_COLLECTION, *thresholds[1:])
        assert thresholds[0] < server.YOUNG_COLLECTION
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)
    assert tracked(alive)


def test_a_cycle_made_after_start_up_is_still_collected():
    thresholds = gc.get_threshold()
    try:
        server.settle_heap()
        found: list[int] = []

        class Node:
            def __init__(self) -> None:
                self.me = self  # a cycle: reference counting alone never frees it

            def __del__(self) -> None:
                found.append(1)

        Node()
        # New objects that live a while, as requests in flight hold theirs: a collection
        # comes on its own within YOUNG_COLLECTION of them.
        held = [[] for _ in range(server.YOUNG_COLLECTION + 100)]
        assert found == [1]
        assert len(held) > server.YOUNG_COLLECTION
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)


def test_on_started_runs_once_when_the_database_is_open_and_before_any_request(settings, clock):
    seen: list[bool] = []
    app = create_app(settings, clock=clock, on_started=lambda: seen.append(bool(app.ctx.db.reader)))
    assert seen == []
    with TestClient(app, base_url="http://testserver") as client:
        assert seen == [True]
        assert client.get("/").status_code == 200
        assert client.get("/open-status").status_code == 200
    assert seen == [True]


def test_without_on_started_nothing_is_frozen(settings, clock):
    before = gc.get_freeze_count()
    with TestClient(create_app(settings, clock=clock), base_url="http://testserver") as client:
        assert client.get("/").status_code == 200
    assert gc.get_freeze_count() == before


@pytest.fixture
def made(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The keyword arguments of every create_app call; no server is run."""
    calls: list[dict[str, Any]] = []
    real = app_module.create_app

    def recording(*args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(app_module, "create_app", recording)
    monkeypatch.setattr("uvicorn.Server.run", lambda self, *a, **k: None)
    return calls


def test_serve_settles_the_heap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, made):
    cli_environment(tmp_path, monkeypatch)
    assert main(["serve", "--port", "0"]) == 0
    assert [call.get("on_started") for call in made] == [server.settle_heap]


def test_each_worker_settles_its_heap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, made):
    cli_environment(tmp_path, monkeypatch)
    monkeypatch.setattr(server, "end_with_supervisor", lambda: None)
    monkeypatch.setattr("logging.basicConfig", lambda **kwargs: None)
    assert main(["migrate"]) == 0
    server.worker_app()
    assert [call.get("on_started") for call in made] == [server.settle_heap]
