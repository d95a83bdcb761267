"""Group commit (webapp/groupcommit.py): writes that arrive together share a transaction,
each is acknowledged only once committed, and one's failure is its own."""

from __future__ import annotations

import asyncio
import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from webapp.consultations import RateLimited, Submission, store
from webapp.groupcommit import GroupCommit
from webapp.storage import StorageUnavailable

NOW = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)
PERSON = Submission("Ann Example", "ann@example.org", "", "email", "any", "")


def count(path: Path) -> int:
    with closing(sqlite3.connect(path)) as conn:
        return conn.execute("SELECT count(*) FROM consultations").fetchone()[0]


def tokens(path: Path) -> set[str]:
    with closing(sqlite3.connect(path)) as conn:
        return {row[0] for row in conn.execute("SELECT token_id FROM consultations")}


@pytest.mark.anyio
async def test_requests_arriving_together_share_transactions_and_are_all_stored(db, db_path):
    group = GroupCommit(db)
    stored = await asyncio.gather(
        *(store(db, PERSON, f"token-{i}", NOW, write=group.write) for i in range(60))
    )
    assert len({s.reference for s in stored}) == 60
    assert count(db_path) == 60
    assert group.writes == 60
    assert group.transactions < 60  # grouped: fewer commits than requests


@pytest.mark.anyio
async def test_one_failing_write_is_rolled_back_alone(db, db_path):
    group = GroupCommit(db)

    def allow(index: int):
        async def admit(conn) -> bool:
            return index % 3 != 0  # every third request is refused (nothing stored for it)

        return admit

    async def refused_after_a_write(conn):
        await conn.execute(
            "INSERT INTO closures (day, reason, created_at) VALUES ('2026-12-25', 'x', 'now')"
        )
        raise ValueError("refused after writing")

    results = await asyncio.gather(
        *(store(db, PERSON, f"t{i}", NOW, allow(i), write=group.write) for i in range(30)),
        group.write(refused_after_a_write),
        return_exceptions=True,
    )
    refused = [r for r in results if isinstance(r, RateLimited)]
    assert len(refused) == 10
    assert isinstance(results[-1], ValueError)
    assert count(db_path) == 20
    assert tokens(db_path) == {f"t{i}" for i in range(30) if i % 3}
    with closing(sqlite3.connect(db_path)) as conn:  # its own write went with it
        assert conn.execute("SELECT count(*) FROM closures").fetchone()[0] == 0
    assert group.transactions < 31


@pytest.mark.anyio
async def test_the_same_token_twice_in_one_transaction_is_stored_once(db, db_path):
    group = GroupCommit(db)
    first, second, *_ = await asyncio.gather(
        *(store(db, PERSON, "same-token", NOW, write=group.write) for _ in range(5))
    )
    assert first.reference == second.reference
    assert count(db_path) == 1


@pytest.mark.anyio
async def test_a_storage_fault_fails_every_write_of_the_transaction(db, db_path):
    group = GroupCommit(db)

    async def fills_the_disk(conn):
        error = sqlite3.OperationalError("database or disk is full")
        error.sqlite_errorname = "SQLITE_FULL"
        raise error

    results = await asyncio.gather(
        *(store(db, PERSON, f"t{i}", NOW, write=group.write) for i in range(10)),
        group.write(fills_the_disk),
        *(store(db, PERSON, f"u{i}", NOW, write=group.write) for i in range(10)),
        return_exceptions=True,
    )
    failed = [r for r in results if isinstance(r, StorageUnavailable)]
    assert failed  # the fault's transaction: nobody in it was told "stored"
    stored = [r for r in results if not isinstance(r, BaseException)]
    assert count(db_path) == len(stored)  # every acknowledged one is on disk, no more
    assert len(failed) + len(stored) == 21


@pytest.mark.anyio
async def test_a_caller_gone_before_its_turn_is_not_written(db, db_path):
    group = GroupCommit(db)
    first = asyncio.ensure_future(store(db, PERSON, "first", NOW, write=group.write))
    await asyncio.sleep(0)  # the first transaction is under way
    gone = asyncio.ensure_future(store(db, PERSON, "gone", NOW, write=group.write))
    kept = asyncio.ensure_future(store(db, PERSON, "kept", NOW, write=group.write))
    await asyncio.sleep(0)
    gone.cancel()
    await first
    await kept
    assert tokens(db_path) == {"first", "kept"}


@pytest.mark.anyio
async def test_off_means_a_transaction_per_write(db, db_path):
    group = GroupCommit(db, enabled=False)
    await asyncio.gather(*(store(db, PERSON, f"t{i}", NOW, write=group.write) for i in range(5)))
    assert count(db_path) == 5
    assert group.transactions == group.writes == 5  # one synced commit each


@pytest.mark.anyio
async def test_a_write_that_waits_on_anything_else_fails_alone(db, db_path):
    group = GroupCommit(db)

    async def waits(conn):
        await asyncio.sleep(0)  # not a statement: it cannot run in the database's thread

    results = await asyncio.gather(
        store(db, PERSON, "kept", NOW, write=group.write), group.write(waits),
        return_exceptions=True,
    )  # fmt: skip
    assert isinstance(results[1], RuntimeError)
    assert tokens(db_path) == {"kept"}


@pytest.mark.anyio
async def test_later_writes_see_earlier_ones_in_the_same_transaction(db, db_path):
    """The rate limit counts each request once, however many share a transaction."""
    from starlette.datastructures import Secret

    from webapp.throttle import Limit, Throttle

    throttle = Throttle(db, Secret("k" * 40))
    limit = Limit("consultation", 5, timedelta(minutes=10))
    group = GroupCommit(db)

    async def admit(conn) -> bool:
        return await throttle.reserve(conn, limit, "one address", NOW) is not None

    results = await asyncio.gather(
        *(store(db, PERSON, f"t{i}", NOW, admit, write=group.write) for i in range(20)),
        return_exceptions=True,
    )
    assert sum(isinstance(r, RateLimited) for r in results) == 15
    assert count(db_path) == 5
