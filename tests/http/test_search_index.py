"""The full-text index and the per-status counts stay true to the requests table."""

from __future__ import annotations

import sqlite3
from datetime import date

from webapp import search
from webapp.consultations import INDEX_NEW
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


def test_a_request_inserted_without_its_folded_text_is_folded_and_found(tmp_path):
    """The site gives search_text itself; any other writer (the command line, a restore) may
    leave it out, and the SQL folds it as before (migration 0010)."""
    conn = fill(tmp_path / "db.sqlite", 3)
    conn.execute(
        "INSERT INTO consultations (reference, token_id, full_name, email, message, phone,"
        " contact_method, best_time, status, consent_at, created_at, updated_at) VALUES"
        " ('AKI-ZZZZ1', 'tz', 'Zoë Núñez', 'zn@example.org', 'Ça va', '', 'email', 'any',"
        " 'new', 'x', 'x', 'x')"
    )
    text = conn.execute("SELECT search_text FROM consultations WHERE reference = 'AKI-ZZZZ1'")
    assert text.fetchone()[0] == "AKI-ZZZZ1\nZoe Nunez\nzn@example.org\nca va"  # Ç folds to c
    assert matches(conn, "nunez") == 1
    assert matches(conn, "ÇA VA") == 1


def test_a_request_inserted_with_its_folded_text_is_indexed_by_its_writer(tmp_path):
    """A row given its folded text is indexed by its writer with `INDEX_NEW` (the site's
    store does it; migration 0012), after which updates and deletes keep the index."""
    conn = fill(tmp_path / "db.sqlite", 3)
    text = search.indexed_text("AKI-ZZZZ2", "Zoë Núñez", "zn@example.org", "")
    row_id = conn.execute(
        "INSERT INTO consultations (reference, token_id, full_name, email, message, phone,"
        " contact_method, best_time, status, consent_at, created_at, updated_at, search_text)"
        " VALUES ('AKI-ZZZZ2', 'tz', 'Zoë Núñez', 'zn@example.org', '', '+15185550199',"
        " 'email', 'any', 'new', 'x', 'x', 'x', ?)",
        (text,),
    ).lastrowid
    assert matches(conn, "zoe nunez") == 0  # no trigger indexes a row given its text
    conn.execute(INDEX_NEW, (row_id, text, "+15185550199"))
    assert matches(conn, "zoe nunez") == 1
    assert matches(conn, "555-0199") == 1
    conn.execute("UPDATE consultations SET full_name = 'Ana' WHERE reference = 'AKI-ZZZZ2'")
    assert matches(conn, "nunez") == 0  # the update trigger re-folds from the row
    assert matches(conn, "ana") == 1
    conn.execute("DELETE FROM consultations WHERE reference = 'AKI-ZZZZ2'")
    assert matches(conn, "ana") == 0
    # FTS5's own check: raises if the index and the table disagree.
    conn.execute("INSERT INTO consultations_fts (consultations_fts) VALUES ('integrity-check')")
