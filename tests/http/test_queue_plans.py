"""The work queue's per-page lookups use indexes, at any size of history.

"Linked" requests (same email address or phone) are counted for every row of the list and
listed on a request's page. A join or OR that SQLite cannot answer from the partial indexes
on email and phone reads the whole table for each: at 100,000 stored requests the default
dashboard took seconds to build. Timing is the benchmark's job (tests/perf/bench.py); here
each query's plan must not scan the requests table.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

from webapp import queue
from webapp.db import Database, migrate

FULL_SCAN = re.compile(r"^SCAN (?!\(subquery)\S+$")  # a table read row by row, no index


def fill(path: Path, n: int = 300) -> None:
    migrate(path)
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.executemany(
            "INSERT INTO consultations (reference, token_id, full_name, email, phone,"
            " contact_method, best_time, status, consent_at, created_at, updated_at) VALUES"
            " (?, ?, 'A Person', ?, ?, 'email', 'any', 'new', 'x', 'x', 'x')",
            [
                (f"AKI-{i:05d}", f"t{i}", f"p{i % 40}@Example.org" if i % 3 else "",
                 f"+1518555{i % 50:04d}" if i % 2 or i % 3 == 0 else "")
                for i in range(n)
            ],
        )  # fmt: skip
        conn.execute("ANALYZE")


def plans(path: Path, run: Any) -> tuple[Any, list[tuple[str, list[str]]]]:
    """What `run(db)` returns, and every read it makes with its query plan's lines."""
    seen: list[tuple[str, Any]] = []

    async def scenario() -> Any:
        db = Database(path)
        await db.open()
        real = db.fetchall

        async def recording(sql: str, params: Any = ()) -> list[sqlite3.Row]:
            seen.append((sql, params))
            return await real(sql, params)

        db.fetchall = recording  # type: ignore[method-assign]
        try:
            return await run(db)
        finally:
            await db.close()

    result = asyncio.run(scenario())
    assert seen
    with closing(sqlite3.connect(path)) as conn:
        found = [
            (sql, [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, params)])
            for sql, params in seen
        ]
    return result, found


def assert_indexed(found: list[tuple[str, list[str]]]) -> None:
    for sql, lines in found:
        scans = [line for line in lines if FULL_SCAN.match(line)]
        assert not scans, f"{scans} in the plan of {sql}"


def test_linked_counts_on_the_list_use_the_email_and_phone_indexes(tmp_path):
    path = tmp_path / "clinic.db"
    fill(path)
    ids = list(range(1, 26))
    counted, found = plans(path, lambda db: queue.linked_counts(db, ids))
    assert_indexed(found)
    # Still right: the others sharing an address (any case) or a phone, each counted once.
    with closing(sqlite3.connect(path)) as conn:
        rows = {r[0]: (r[1].lower(), r[2]) for r in conn.execute(
            "SELECT id, email, phone FROM consultations")}  # fmt: skip
    for cid in ids:
        email, phone = rows[cid]
        expected = sum(
            1 for oid, (e, p) in rows.items()
            if oid != cid and ((email and e == email) or (phone and p == phone))
        )  # fmt: skip
        assert counted.get(cid, 0) == expected, cid


def test_the_linked_list_on_a_request_page_uses_the_indexes(tmp_path):
    path = tmp_path / "clinic.db"
    fill(path)
    with closing(sqlite3.connect(path)) as conn:
        conn.row_factory = sqlite3.Row
        both, email_only, phone_only = (
            dict(conn.execute(f"SELECT * FROM consultations WHERE {where} LIMIT 1").fetchone())  # noqa: S608
            for where in ("email <> '' AND phone <> ''", "phone = ''", "email = ''")
        )
    for row in (both, email_only, phone_only):
        listed, found = plans(path, lambda db, row=row: queue.linked(db, row, limit=500))
        assert_indexed(found)
        others = {r["id"] for r in listed}
        with closing(sqlite3.connect(path)) as conn:
            expected = {
                r[0]
                for r in conn.execute(
                    "SELECT id FROM consultations WHERE id <> ? AND ((? <> '' AND"
                    " lower(email) = lower(?)) OR (? <> '' AND phone = ?))",
                    (row["id"], row["email"], row["email"], row["phone"], row["phone"]),
                )
            }
        assert others == expected and others
        assert [r["id"] for r in listed] == sorted(others, reverse=True)  # newest first
        for r in listed:
            assert bool(r["same_email"]) or bool(r["same_phone"])


def test_a_full_scan_is_recognised(tmp_path):
    path = tmp_path / "clinic.db"
    fill(path)
    _, found = plans(path, lambda db: db.fetchall("SELECT count(*) FROM consultations WHERE"
                                                  " best_time = 'any'"))  # fmt: skip
    assert any(FULL_SCAN.match(line) for _, lines in found for line in lines)
