"""The full-text index and the per-status counts stay true to the requests table."""

from __future__ import annotations

import sqlite3
from datetime import date

from webapp.db import migrate
from webapp.queue import Filter, _where


def fill(path, n: int) -> sqlite3.Connection:
    migrate(path)
    conn = sqlite3.connect(path)
    conn.executemany(
        "INSERT INTO consultations (reference, token_id, full_name, email, phone, contact_method,"
        " best_time, status, consent_at, created_at, updated_at) VALUES"
        " (?, ?, ?, ?, ?, 'email', 'any', ?, 'x', 'x', 'x')",
        [
            (f"AKI-{i:05d}", f"t{i}", f"Person {'Johnson' if i % 2 else 'Smith'} {i}",
             f"p{i}@example.org", f"+1518555{i:04d}", ["new", "contacted", "closed"][i % 3])
            for i in range(n)
        ],
    )  # fmt: skip
    conn.commit()
    return conn


def matches(conn, q: str, status: str = "") -> int:
    where, params = _where(Filter(status=status, q=q), date(2026, 12, 1), 0)
    return conn.execute(f"SELECT count(*) FROM consultations c{where}", params).fetchone()[0]


def test_index_and_counts_follow_inserts_updates_and_deletes(tmp_path):
    conn = fill(tmp_path / "db.sqlite", 30)
    assert matches(conn, "johnson") == 15  # case-insensitive, inside the name
    assert matches(conn, "p7@example") == 1
    assert matches(conn, "5550012") == 1  # phone digits
    assert matches(conn, "(518) 555-0012") == 1
    assert matches(conn, "johnson", "new") == 5
    counts = dict(conn.execute("SELECT status, n FROM consultation_counts"))
    assert counts == {
        "new": 10, "contacted": 10, "closed": 10, "scheduled": 0, "not_a_fit": 0, "spam": 0
    }  # fmt: skip

    conn.execute(
        "UPDATE consultations SET full_name = 'Renamed Person' WHERE reference = 'AKI-00001'"
    )
    conn.execute("UPDATE consultations SET status = 'scheduled' WHERE status = 'contacted'")
    conn.execute("DELETE FROM consultations WHERE reference = 'AKI-00003'")
    conn.commit()
    assert matches(conn, "johnson") == 13
    assert matches(conn, "renamed") == 1
    counts = dict(conn.execute("SELECT status, n FROM consultation_counts"))
    real = dict(conn.execute("SELECT status, count(*) FROM consultations GROUP BY status"))
    assert {k: v for k, v in counts.items() if v} == real


def test_migration_indexes_requests_that_already_exist(tmp_path):
    path = tmp_path / "old.sqlite"
    conn = sqlite3.connect(path)
    conn.close()
    from webapp import db as dbmodule

    # Apply up to 0003, add rows, then 0004: the index must include the old rows.
    all_migrations = dbmodule._migrations()
    original = dbmodule._migrations
    dbmodule._migrations = lambda: all_migrations[:3]
    try:
        migrate(path)
        conn = sqlite3.connect(path)
        conn.execute(
            "INSERT INTO consultations (reference, token_id, full_name, email, phone,"
            " contact_method, best_time, status, consent_at, created_at, updated_at) VALUES"
            " ('AKI-OLD01', 't', 'Early Person', 'e@example.org', '', 'email', 'any', 'new',"
            " 'x', 'x', 'x')"
        )
        conn.commit()
        conn.close()
    finally:
        dbmodule._migrations = original
    migrate(path)
    conn = sqlite3.connect(path)
    assert matches(conn, "early") == 1
    assert dict(conn.execute("SELECT status, n FROM consultation_counts"))["new"] == 1
