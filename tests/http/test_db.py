"""Tests for webapp.db: migrations, PRAGMAs, the serialised writer and the read-only reader."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from contextlib import closing
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import aiosqlite
import pytest

from webapp import closures
from webapp import db as db_module
from webapp.db import Database, _statements, migrate, pending_migrations, utc_now_iso
from webapp.hours import Override

MIGRATIONS_DIR = Path(db_module.__file__).parent / "migrations"
SHIPPED = sorted(
    p.name for p in MIGRATIONS_DIR.glob("*.sql") if db_module.MIGRATION_NAME.match(p.name)
)
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
NOW = datetime(2026, 12, 1, 15, 30, tzinfo=UTC)
TODAY = date(2026, 12, 1)  # the clinic-local date at NOW


def query(path: Path, sql: str, params: tuple = ()) -> list[tuple]:
    """Read with a fresh, independent connection (what another process would see)."""
    with closing(sqlite3.connect(path)) as conn:
        return conn.execute(sql, params).fetchall()


def closure_days(path: Path) -> list[str]:
    return [row[0] for row in query(path, "SELECT day FROM closures ORDER BY day")]


async def insert_closure(conn: aiosqlite.Connection, day: str, reason: str = "Closed") -> None:
    await conn.execute(
        "INSERT INTO closures (day, reason, created_at) VALUES (?, ?, ?)",
        (day, reason, utc_now_iso(NOW)),
    )


# --- migrations ------------------------------------------------------------------------------


def test_shipped_migrations_are_numbered_from_one() -> None:
    assert SHIPPED, "no migrations found"
    assert SHIPPED[0] == "0001_closures.sql"
    assert [int(name[:4]) for name in SHIPPED] == list(range(1, len(SHIPPED) + 1))


def test_migrate_fresh_file_applies_and_records_everything(tmp_path: Path) -> None:
    path = tmp_path / "fresh.db"
    assert pending_migrations(path) == SHIPPED

    assert migrate(path) == SHIPPED

    rows = query(path, "SELECT version, name, applied_at FROM schema_migrations ORDER BY version")
    assert [(v, n) for v, n, _ in rows] == [(i, name) for i, name in enumerate(SHIPPED, start=1)]
    assert all(ISO_UTC.match(applied_at) for _, _, applied_at in rows)
    tables = {r[0] for r in query(path, "SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"schema_migrations", "closures"} <= tables
    assert pending_migrations(path) == []


def test_migrate_twice_applies_nothing(tmp_path: Path) -> None:
    path = tmp_path / "twice.db"
    migrate(path)
    before = query(path, "SELECT version, name, applied_at FROM schema_migrations")
    assert migrate(path) == []
    assert query(path, "SELECT version, name, applied_at FROM schema_migrations") == before


def test_migrate_sets_wal_on_the_file(db_path: Path) -> None:
    assert query(db_path, "PRAGMA journal_mode") == [("wal",)]


def test_closures_schema_enforces_its_checks(db_path: Path) -> None:
    bad_rows = [
        ("2026-12-25", None, None, "", "t"),  # empty reason
        ("2026-12-25", None, None, "x" * 81, "t"),  # reason too long
        ("25/12/2026", None, None, "Christmas", "t"),  # not ISO
        ("2026-12-25", "10:00", None, "Half", "t"),  # opens without closes
        ("2026-12-25", "14:00", "10:00", "Inverted", "t"),  # opens after closes
    ]
    with closing(sqlite3.connect(db_path)) as conn:
        for row in bad_rows:
            with pytest.raises(sqlite3.IntegrityError):
                conn.execute(
                    "INSERT INTO closures (day, opens, closes, reason, created_at)"
                    " VALUES (?, ?, ?, ?, ?)",
                    row,
                )
    assert closure_days(db_path) == []


def fake_migrations(*extra: tuple[int, str, str]) -> list[tuple[int, str, str]]:
    """The shipped migrations plus test ones, as _migrations() returns them."""
    shipped = [
        (int(name[:4]), name, (MIGRATIONS_DIR / name).read_text(encoding="utf-8"))
        for name in SHIPPED
    ]
    return shipped + list(extra)


TRIGGER_MIGRATION = """\
-- Keep an audit trail; the trigger body holds semicolons of its own.
CREATE TABLE audit (day TEXT NOT NULL, note TEXT NOT NULL);

CREATE TRIGGER closures_audit AFTER INSERT ON closures
BEGIN
    INSERT INTO audit (day, note) VALUES (NEW.day, 'added; by trigger');
    INSERT INTO audit (day, note) VALUES (NEW.day, 'second statement');
END;
"""


def test_migration_with_trigger_is_applied_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    version = len(SHIPPED) + 1
    name = f"{version:04d}_audit.sql"
    monkeypatch.setattr(
        db_module, "_migrations", lambda: fake_migrations((version, name, TRIGGER_MIGRATION))
    )
    path = tmp_path / "trigger.db"
    assert migrate(path) == [*SHIPPED, name]

    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute(
            "INSERT INTO closures (day, reason, created_at) VALUES ('2026-12-25', 'X', 't')"
        )
    assert query(path, "SELECT day, note FROM audit ORDER BY rowid") == [
        ("2026-12-25", "added; by trigger"),
        ("2026-12-25", "second statement"),
    ]


def test_failing_migration_leaves_no_trace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    version = len(SHIPPED) + 1
    name = f"{version:04d}_broken.sql"
    broken = "CREATE TABLE half (x INTEGER);\nINSERT INTO no_such_table VALUES (1);\n"
    monkeypatch.setattr(db_module, "_migrations", lambda: fake_migrations((version, name, broken)))
    path = tmp_path / "broken.db"

    with pytest.raises(sqlite3.OperationalError, match="no_such_table"):
        migrate(path)

    # The shipped ones landed (each is its own transaction); the broken one left nothing.
    assert [r[0] for r in query(path, "SELECT name FROM schema_migrations")] == SHIPPED
    assert query(path, "SELECT name FROM sqlite_master WHERE name = 'half'") == []
    assert pending_migrations(path) == [name]

    fixed = "CREATE TABLE half (x INTEGER);\n"
    monkeypatch.setattr(db_module, "_migrations", lambda: fake_migrations((version, name, fixed)))
    assert migrate(path) == [name]
    assert query(path, "SELECT name FROM sqlite_master WHERE name = 'half'") == [("half",)]


# --- statement splitting ---------------------------------------------------------------------


def test_statements_keep_trigger_bodies_whole() -> None:
    table, trigger = TRIGGER_MIGRATION.split("\n\n")
    assert list(_statements(TRIGGER_MIGRATION)) == [table.strip(), trigger.strip()]
    assert trigger.count(";") == 4  # three statement ends plus one inside a string


def test_statements_handle_semicolons_in_strings_and_comments() -> None:
    sql = "INSERT INTO t VALUES ('a;\nb');\n-- trailing; comment\n"
    assert list(_statements(sql)) == ["INSERT INTO t VALUES ('a;\nb');"]


def test_statements_refuse_an_unterminated_last_statement() -> None:
    with pytest.raises(RuntimeError, match="incomplete statement"):
        list(_statements("CREATE TABLE a (x);\nCREATE TABLE b (y)\n"))


def test_statements_refuse_an_unterminated_statement_after_a_comment() -> None:
    with pytest.raises(RuntimeError, match="incomplete statement"):
        list(_statements("CREATE TABLE a (x);\n-- then b\nCREATE TABLE b (y)\n"))


# --- connections -----------------------------------------------------------------------------


async def _pragmas(conn: aiosqlite.Connection) -> dict[str, int | str]:
    found: dict[str, int | str] = {}
    for name in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout", "query_only"):
        async with conn.execute(f"PRAGMA {name}") as cursor:
            found[name] = (await cursor.fetchone())[0]
    return found


@pytest.mark.anyio
async def test_connections_use_wal_and_full_sync(db: Database) -> None:
    writer = await db.write(_pragmas)
    reader = await _pragmas(db.reader)
    for found in (writer, reader):
        assert found["journal_mode"] == "wal"
        assert found["synchronous"] == 2  # FULL
        assert found["foreign_keys"] == 1
        assert found["busy_timeout"] == 5000
    assert writer["query_only"] == 0
    assert reader["query_only"] == 1


@pytest.mark.anyio
async def test_write_commits_and_returns_the_result(db: Database, db_path: Path) -> None:
    async def work(conn: aiosqlite.Connection) -> str:
        await insert_closure(conn, "2026-12-25", "Christmas Day")
        return "done"

    assert await db.write(work) == "done"
    # Visible to the app's reader and to an independent connection.
    rows = await db.fetchall("SELECT day, reason FROM closures")
    assert [tuple(r) for r in rows] == [("2026-12-25", "Christmas Day")]
    assert query(db_path, "SELECT day, reason FROM closures") == [("2026-12-25", "Christmas Day")]


@pytest.mark.anyio
async def test_write_rolls_back_fully_on_an_exception(db: Database, db_path: Path) -> None:
    class Boom(Exception):
        pass

    async def work(conn: aiosqlite.Connection) -> None:
        await insert_closure(conn, "2026-12-24")
        await insert_closure(conn, "2026-12-25")
        raise Boom

    with pytest.raises(Boom):
        await db.write(work)
    assert closure_days(db_path) == []
    assert await db.fetchall("SELECT * FROM closures") == []

    # The writer is usable again afterwards.
    await db.write(lambda conn: insert_closure(conn, "2026-12-31"))
    assert closure_days(db_path) == ["2026-12-31"]


@pytest.mark.anyio
async def test_write_rolls_back_on_a_constraint_error(db: Database, db_path: Path) -> None:
    async def work(conn: aiosqlite.Connection) -> None:
        await insert_closure(conn, "2026-12-24")
        await insert_closure(conn, "2026-12-25", reason="")  # CHECK fails

    with pytest.raises(sqlite3.IntegrityError):
        await db.write(work)
    assert closure_days(db_path) == []


@pytest.mark.anyio
async def test_write_rolls_back_when_cancelled(db: Database, db_path: Path) -> None:
    inserted = asyncio.Event()

    async def work(conn: aiosqlite.Connection) -> None:
        await insert_closure(conn, "2026-12-24")
        inserted.set()
        await asyncio.sleep(30)

    task = asyncio.create_task(db.write(work))
    await inserted.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert closure_days(db_path) == []
    await db.write(lambda conn: insert_closure(conn, "2026-12-25"))
    assert closure_days(db_path) == ["2026-12-25"]


@pytest.mark.anyio
@pytest.mark.parametrize("method", ["write", "write_in_thread"])
async def test_failed_commit_leaves_the_writer_usable(tmp_path: Path, method: str) -> None:
    # A deferred foreign key is only checked at COMMIT: a portable way to make COMMIT fail
    # (disk full and I/O errors fail there too).
    path = tmp_path / "fk.db"
    with closing(sqlite3.connect(path)) as conn:
        conn.executescript(
            "CREATE TABLE parent (id INTEGER PRIMARY KEY);"
            "CREATE TABLE child (parent_id INTEGER"
            " REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED);"
        )
    database = Database(path)
    await database.open()
    # Both kinds of write: statements through aiosqlite, or a function in its thread.
    write = getattr(database, method)
    try:
        with pytest.raises(sqlite3.IntegrityError):
            await write(lambda conn: conn.execute("INSERT INTO child VALUES (99)"))
        await write(lambda conn: conn.execute("INSERT INTO parent VALUES (1)"))
        assert query(path, "SELECT id FROM parent") == [(1,)]
        assert query(path, "SELECT * FROM child") == []
    finally:
        await database.close()


def _closure_in_thread(raw: sqlite3.Connection, day: str, reason: str = "Closed") -> None:
    raw.execute(
        "INSERT INTO closures (day, reason, created_at) VALUES (?, ?, ?)",
        (day, reason, utc_now_iso(NOW)),
    )


@pytest.mark.anyio
async def test_a_write_in_the_thread_commits_rolls_back_and_serialises(
    db: Database, db_path: Path
) -> None:
    def work(raw: sqlite3.Connection) -> str:
        _closure_in_thread(raw, "2026-12-25", "Christmas Day")
        return "done"

    assert await db.write_in_thread(work) == "done"
    assert query(db_path, "SELECT day, reason FROM closures") == [("2026-12-25", "Christmas Day")]

    class Boom(Exception):
        pass

    def fails(raw: sqlite3.Connection) -> None:
        _closure_in_thread(raw, "2026-12-26")
        raise Boom

    with pytest.raises(Boom):
        await db.write_in_thread(fails)
    with pytest.raises(sqlite3.IntegrityError):  # CHECK fails on the second row
        await db.write_in_thread(
            lambda raw: (_closure_in_thread(raw, "2026-12-27"), _closure_in_thread(raw, "x", ""))
        )
    assert closure_days(db_path) == ["2026-12-25"]
    # Serialised with the other writes, and the writer usable throughout.
    await asyncio.gather(
        *(
            db.write_in_thread(lambda raw, d=d: _closure_in_thread(raw, d))
            for d in ("2027-01-01", "2027-01-02")
        ),
        db.write(lambda conn: insert_closure(conn, "2027-01-03")),
    )
    assert closure_days(db_path) == ["2026-12-25", "2027-01-01", "2027-01-02", "2027-01-03"]


@pytest.mark.anyio
async def test_concurrent_puts_all_land(db: Database, db_path: Path) -> None:
    first = date(2027, 1, 1)
    entries = [closures.make_override(first + timedelta(days=i), f"Closure {i}") for i in range(50)]
    await asyncio.gather(*(closures.put(db, entry, NOW, TODAY, "test") for entry in entries))

    expected = [(first + timedelta(days=i)).isoformat() for i in range(50)]
    assert closure_days(db_path) == expected
    listed = await closures.list_from(db, first)
    assert [(o.day, o.reason) for o in listed] == [(e.day, e.reason) for e in entries]


@pytest.mark.anyio
async def test_writes_are_serialised(db: Database, db_path: Path) -> None:
    """Read-modify-write in each task: without the lock, tasks would interleave."""

    async def bump(conn: aiosqlite.Connection) -> int:
        async with conn.execute("SELECT count(*) FROM closures") as cursor:
            (count,) = await cursor.fetchone()
        await asyncio.sleep(0)  # give other tasks every chance to run in between
        day = date(2027, 1, 1) + timedelta(days=count)
        await insert_closure(conn, day.isoformat(), f"#{count}")
        return count

    results = await asyncio.gather(*(db.write(bump) for _ in range(20)))
    assert sorted(results) == list(range(20))
    assert query(db_path, "SELECT count(*) FROM closures") == [(20,)]


@pytest.mark.anyio
async def test_put_replaces_the_same_day(db: Database, db_path: Path) -> None:
    day = date(2026, 12, 24)
    await closures.put(db, closures.make_override(day, "Christmas Eve"), NOW, TODAY, "test")
    await closures.put(
        db, closures.make_override(day, "Short day", "10:00", "14:00"), NOW, TODAY, "test"
    )
    assert query(db_path, "SELECT day, opens, closes, reason FROM closures") == [
        ("2026-12-24", "10:00", "14:00", "Short day")
    ]
    assert await closures.list_from(db, day) == [
        Override(day=day, reason="Short day", opens=time(10), closes=time(14))
    ]
    assert await closures.remove(db, day, NOW, "test") is True
    assert await closures.remove(db, day, NOW, "test") is False
    assert closure_days(db_path) == []


@pytest.mark.anyio
async def test_reader_refuses_writes(db: Database, db_path: Path) -> None:
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        await db.reader.execute(
            "INSERT INTO closures (day, reason, created_at) VALUES ('2026-12-25', 'X', 't')"
        )
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        await db.fetchall("DELETE FROM schema_migrations")
    assert closure_days(db_path) == []
    assert len(query(db_path, "SELECT * FROM schema_migrations")) == len(SHIPPED)


@pytest.mark.anyio
async def test_check_and_closed_database(db_path: Path) -> None:
    database = Database(db_path)
    with pytest.raises(RuntimeError, match="not open"):
        database.reader  # noqa: B018
    with pytest.raises(RuntimeError, match="not open"):
        await database.write(lambda conn: insert_closure(conn, "2026-12-25"))
    await database.open()
    try:
        assert await database.check() is True
        row = await database.fetchone("SELECT count(*) AS n FROM schema_migrations")
        assert row["n"] == len(SHIPPED)
        assert await database.fetchone("SELECT day FROM closures") is None
    finally:
        await database.close()
    with pytest.raises(RuntimeError, match="not open"):
        await database.fetchall("SELECT 1")


def test_utc_now_iso_format() -> None:
    assert utc_now_iso(datetime(2026, 12, 1, 10, 30, tzinfo=UTC)) == "2026-12-01T10:30:00.000000Z"
    assert ISO_UTC.match(utc_now_iso(datetime.now(UTC)))
