"""An erasure empties the write-ahead log at once, unless a reader holds an old snapshot for
longer than the checkpoint waits (an operator's open shell, a long backup, in any process).
Then the erased text stays in -wal: the site's write-ahead-log job, every ten minutes, empties
it soon after the reader lets go, not at the next night's retention run."""

from __future__ import annotations

import sqlite3
import threading
from contextlib import closing
from pathlib import Path

from starlette.testclient import TestClient

from tests.conftest import make_settings
from tests.helpers import add_request
from tests.privacy_scan import whole_hits
from webapp import privacy, retention
from webapp.app import create_app

NAME, EMAIL = "Thessaly Walkeeper", "thessaly@walkeeper.example"
MESSAGE = "Walkeeper marker: bupropion since Michaelmas."


def checkpoint_without_waiting(path: Path, wait: float = 0) -> bool:
    """webapp.db.checkpoint, giving up at once when a reader holds it up (not after 5 s)."""
    with closing(sqlite3.connect(path, timeout=0, isolation_level=None)) as conn:
        return conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0] == 0


def ticked(client: TestClient) -> dict[str, str]:
    outcomes = client.portal.call(client.app.ctx.jobs.tick)
    return {o.name: o.summary for o in outcomes}


def test_an_erasure_held_up_by_a_reader_leaves_the_wal_once_the_reader_lets_go(
    tmp_path, clock, monkeypatch
):
    settings = make_settings(tmp_path)
    with TestClient(create_app(settings, clock=clock)) as client:
        ticked(client)  # the start-up runs
        request_id = add_request(client, NAME, email=EMAIL, message=MESSAGE)
        db = client.app.ctx.db
        person = client.portal.call(privacy.person, db, request_id)
        # A reader holds a snapshot from before the erasure all through it, so the checkpoint
        # cannot finish (its short waits cut shorter still here to keep the test quick).
        holding, done = threading.Event(), threading.Event()

        def reader() -> None:
            with closing(sqlite3.connect(settings.database_path, isolation_level=None)) as conn:
                conn.execute("BEGIN")
                conn.execute("SELECT count(*) FROM consultations").fetchone()
                holding.set()
                done.wait(30)
                conn.execute("COMMIT")

        thread = threading.Thread(target=reader)
        thread.start()
        assert holding.wait(10)
        real = privacy.checkpoint
        monkeypatch.setattr(privacy, "checkpoint", checkpoint_without_waiting)
        erased = client.portal.call(privacy.erase, db, person.chosen([]), clock(), "test")
        monkeypatch.setattr(privacy, "checkpoint", real)
        assert len(erased) == 1
        still = whole_hits(settings.database_path, [NAME, EMAIL, MESSAGE])
        assert still and {name for name, _ in still} == {"-wal"}
        clock.advance(minutes=5)
        assert "write-ahead-log" not in ticked(client)
        # Ten minutes on, the reader still holds it: the job gives up (after WAL_WAIT, as
        # writers wait while it waits) and says so.
        clock.advance(minutes=5)
        assert ticked(client)["write-ahead-log"] == (
            "write-ahead log in use by a reader; tried again later"
        )
        assert whole_hits(settings.database_path, [NAME, EMAIL, MESSAGE]) == still
        # The reader lets go; the next run empties the log.
        done.set()
        thread.join(10)
        clock.advance(minutes=10)
        assert ticked(client)["write-ahead-log"] == "write-ahead log emptied"
        assert whole_hits(settings.database_path, [NAME, EMAIL, MESSAGE]) == []


def test_the_job_says_when_a_reader_keeps_the_log(tmp_path, clock, monkeypatch):
    with TestClient(create_app(make_settings(tmp_path), clock=clock)) as client:
        monkeypatch.setattr(retention, "checkpoint", lambda path, wait: False)
        summary = ticked(client)["write-ahead-log"]
        assert summary == "write-ahead log in use by a reader; tried again later"
        clock.advance(minutes=9, seconds=59)
        assert "write-ahead-log" not in ticked(client)
        clock.advance(seconds=1)
        assert "write-ahead-log" in ticked(client)


def test_an_erasure_never_holds_visitors_writes_up_for_long(tmp_path, clock, monkeypatch):
    """While a checkpoint waits for readers, every writer waits too; a writer gives up after
    its busy timeout (5 s) and the visitor is told "not sent". So each try of the checkpoint
    after an erasure waits far less than that, and the tries end well within it."""
    waits: list[float] = []

    def held_up(path: Path, wait: float = 5) -> bool:
        waits.append(wait)
        return False

    settings = make_settings(tmp_path)
    with TestClient(create_app(settings, clock=clock)) as client:
        request_id = add_request(client, NAME, email=EMAIL, message=MESSAGE)
        db = client.app.ctx.db
        person = client.portal.call(privacy.person, db, request_id)
        monkeypatch.setattr(privacy, "checkpoint", held_up)
        assert client.portal.call(privacy.erase, db, person.chosen([]), clock(), "test")
    assert waits and max(waits) <= 1
    busy_timeout = 5
    assert sum(waits) < busy_timeout
