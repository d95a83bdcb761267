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
from webapp.groupcommit import GroupCommit, at_group_end
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


def segments(path: Path) -> int:
    """How many segments the full-text index holds (FTS5 keeps a segment's pages under ids
    whose bits from 37 up are the segment's number)."""
    with closing(sqlite3.connect(path)) as conn:
        sql = "SELECT count(DISTINCT id >> 37) FROM consultations_fts_data WHERE id >> 37 > 0"
        return conn.execute(sql).fetchone()[0]


def found(path: Path, text: str) -> set[str]:
    with closing(sqlite3.connect(path)) as conn:
        return {
            row[0]
            for row in conn.execute(
                "SELECT c.reference FROM consultations_fts f JOIN consultations c"
                " ON c.id = f.rowid WHERE consultations_fts MATCH ?",
                (text,),
            )
        }


@pytest.mark.anyio
async def test_a_groups_requests_are_indexed_together_as_one_segment(db, db_path):
    """FTS5 writes its pending data at every savepoint: indexed inside each request's own,
    a group of twelve made twelve segments (each then merged again). Indexed after them,
    the group makes one, and every request is found."""
    with closing(sqlite3.connect(db_path)) as conn:  # no merging, so segments can be counted
        conn.execute(
            "INSERT INTO consultations_fts (consultations_fts, rank) VALUES ('automerge', 0)"
        )
        conn.execute(
            "INSERT INTO consultations_fts (consultations_fts, rank) VALUES ('crisismerge', 64)"
        )
        conn.commit()
    group = GroupCommit(db)
    people = [Submission(f"Person Number{i:02d}", f"p{i}@example.org", f"+1518555{i:04d}",
                         "email", "any", f"note {i}") for i in range(12)]  # fmt: skip
    stored = await asyncio.gather(
        *(store(db, person, f"t{i}", NOW, write=group.write) for i, person in enumerate(people))
    )
    assert group.transactions == 1
    assert segments(db_path) == 1
    for i, result in enumerate(stored):
        assert found(db_path, f"number{i:02d}") == {result.reference}
        assert found(db_path, f'phone : "518555{i:04d}"') == {result.reference}


@pytest.mark.anyio
async def test_a_refused_requests_index_entry_goes_with_it(db, db_path):
    """Statements left for the group's end run only for the writes that were kept, after
    all of them (a later write of the group does not see them yet)."""
    group = GroupCommit(db)

    async def leaves_one_then_fails(conn):
        await at_group_end(conn, "INSERT INTO closures (day, reason, created_at)"
                                 " VALUES ('2026-12-24', 'refused', 'now')")  # fmt: skip
        raise ValueError("refused")

    async def leaves_one(conn):
        await at_group_end(conn, "INSERT INTO closures (day, reason, created_at)"
                                 " VALUES ('2026-12-25', 'kept', 'now')")  # fmt: skip

    async def looks(conn):
        async with conn.execute("SELECT count(*) FROM closures") as cursor:
            return (await cursor.fetchone())[0]

    results = await asyncio.gather(
        store(db, PERSON, "before", NOW, write=group.write),
        group.write(leaves_one_then_fails),
        group.write(leaves_one),
        group.write(looks),
        store(db, PERSON, "after", NOW, write=group.write),
        return_exceptions=True,
    )
    assert group.transactions == 1
    assert isinstance(results[1], ValueError)
    assert results[3] == 0  # the kept write's statement had not run yet
    with closing(sqlite3.connect(db_path)) as conn:
        assert conn.execute("SELECT reason FROM closures").fetchall() == [("kept",)]
    assert found(db_path, "ann example") == {results[0].reference, results[4].reference}


@pytest.mark.anyio
async def test_a_request_stored_in_a_transaction_of_its_own_is_indexed(db, db_path):
    stored = await store(db, PERSON, "alone", NOW)  # db.write: no group, indexed at once
    off = GroupCommit(db, enabled=False)
    other = await store(db, Submission("Bo Other", "bo@example.org", "", "email", "any", ""),
                        "off", NOW, write=off.write)  # fmt: skip
    assert found(db_path, "ann example") == {stored.reference}
    assert found(db_path, "bo other") == {other.reference}
