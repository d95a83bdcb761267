"""The retention rule runs by itself: a daily job at a quiet hour (and at start-up when overdue)
deletes requests closed more than RETENTION_DAYS ago, suspected spam after 30 days, expired
sessions, spent invitations and expired form drafts, by the app's clock; one audit entry and
one log line of counts per run; and what it deleted is gone from the database files."""

from __future__ import annotations

import logging
import secrets
import sqlite3
from contextlib import closing
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from tests.conftest import ET, FakeClock, make_settings
from tests.helpers import add_request, cli_environment, db_path, query
from tests.privacy_scan import fragment_hits, whole_hits
from webapp import cli, privacy, retention
from webapp.app import create_app
from webapp.db import PRAGMAS, checkpoint, utc_now_iso

# Distinctive text, so any fragment left behind is a finding, never a coincidence.
OLD = {
    "name": "Quoxley Vindraxby",
    "email": "quoxley.vindraxby@wyvernmail.example",
    "phone": "+15185550177",
    "message": "Zolpidem stopped helping after Thanksgiving; jittery mornings.",
}
NOTE = "Voicemail left twice; spouse answered Wednesday, asked to call back."


def make_client(tmp_path: Path, clock: FakeClock, **settings) -> TestClient:
    return TestClient(create_app(make_settings(tmp_path, **settings), clock=clock))


def execute(client: TestClient, sql: str, params: tuple = ()) -> None:
    with closing(sqlite3.connect(db_path(client))) as conn, conn:
        conn.execute(sql, params)


def close(client: TestClient, request_id: int, at: datetime, status: str = "closed") -> None:
    execute(
        client,
        "UPDATE consultations SET status = ?, closed_at = ? WHERE id = ?",
        (status, utc_now_iso(at), request_id),
    )


def names(client: TestClient) -> list[str]:
    return [r[0] for r in query(client, "SELECT full_name FROM consultations ORDER BY id")]


def retention_runs(client: TestClient) -> list[str]:
    """The summaries of the retention job's runs in one tick."""
    outcomes = client.portal.call(client.app.ctx.jobs.tick)
    return [o.summary for o in outcomes if o.name == "retention" and o.ok]


# --- when it runs -------------------------------------------------------------------------------


def test_it_runs_at_start_up_then_once_a_day_at_the_quiet_hour(tmp_path):
    clock = FakeClock(datetime(2026, 12, 1, 10, 30, tzinfo=ET))
    with make_client(tmp_path, clock) as client:
        assert len(retention_runs(client)) == 1  # never ran: at start-up
        clock.set_local(2026, 12, 1, 23, 59)
        assert retention_runs(client) == []
        clock.set_local(2026, 12, 2, 2, 59)
        assert retention_runs(client) == []
        clock.set_local(2026, 12, 2, 3, 0)
        assert len(retention_runs(client)) == 1
        for minute in range(1, 60):  # the rest of the hour: nothing more
            clock.set_local(2026, 12, 2, 3, minute)
            assert retention_runs(client) == []
        clock.set_local(2026, 12, 3, 3, 0)
        assert len(retention_runs(client)) == 1
        runs = query(client, "SELECT count(*) FROM audit_log WHERE action = 'retention'")
        assert runs[0][0] == 3


def test_it_catches_up_after_downtime_whatever_the_hour(tmp_path):
    clock = FakeClock(datetime(2026, 12, 1, 10, 30, tzinfo=ET))
    with make_client(tmp_path, clock) as client:
        assert len(retention_runs(client)) == 1
    # The site was down from Tuesday to Friday, and comes back at 1:15 AM.
    clock.set_local(2026, 12, 4, 1, 15)
    with make_client(tmp_path, clock) as client:
        old = add_request(client, "Closed Long Ago")
        close(client, old, clock() - timedelta(days=400))
        [summary] = retention_runs(client)
        assert "deleted 1 requests closed over 365 days ago" in summary
        clock.set_local(2026, 12, 4, 3, 0)  # the day's run has happened: not again
        assert retention_runs(client) == []
        clock.set_local(2026, 12, 5, 2, 0)  # only one night since: wait for 3:00
        assert retention_runs(client) == []
        clock.set_local(2026, 12, 5, 3, 0)
        assert len(retention_runs(client)) == 1


def test_two_workers_run_it_once(tmp_path):
    clock = FakeClock(datetime(2026, 12, 2, 3, 0, tzinfo=ET))
    settings = make_settings(tmp_path)
    first, second = (create_app(settings, clock=clock) for _ in range(2))
    with TestClient(first) as a, TestClient(second) as b:
        assert len(retention_runs(a)) + len(retention_runs(b)) == 1


# --- what it deletes ----------------------------------------------------------------------------


@pytest.mark.parametrize(("days", "kept", "gone"), [(365, 364, 366), (30, 29, 31), (730, 729, 731)])
def test_it_respects_retention_days(tmp_path, clock, days, kept, gone):
    with make_client(tmp_path, clock, retention_days=days) as client:
        young = add_request(client, "Closed Recently")
        old = add_request(client, "Closed Long Ago")
        not_a_fit = add_request(client, "Not A Fit Long Ago")
        reopened = add_request(client, "Open Again")
        still_open = add_request(client, "Never Closed", ago=timedelta(days=gone + 100))
        close(client, young, clock() - timedelta(days=kept))
        close(client, old, clock() - timedelta(days=gone))
        close(client, not_a_fit, clock() - timedelta(days=gone), status="not_a_fit")
        execute(client, "UPDATE consultations SET status = 'contacted' WHERE id = ?", (reopened,))
        assert still_open and reopened
        [summary] = retention_runs(client)
        assert summary.startswith(f"deleted 2 requests closed over {days} days ago,")
        assert names(client) == ["Closed Recently", "Open Again", "Never Closed"]
        # A day short of the limit is kept; the next day's run, a day later, takes it.
        clock.advance(days=1, minutes=1)
        assert retention_runs(client)[0].startswith(f"deleted 1 requests closed over {days}")
        assert names(client) == ["Open Again", "Never Closed"]


def test_it_deletes_spam_sessions_invitations_and_drafts_past_their_time(tmp_path, clock):
    now = clock()
    with make_client(tmp_path, clock) as client:
        for name, days in (("Spam Old", 31), ("Spam Young", 29)):
            request_id = add_request(client, name, ago=timedelta(days=days))
            execute(
                client,
                "UPDATE consultations SET suspected_spam = 'honeypot' WHERE id = ?",
                (request_id,),
            )
        execute(
            client,
            "INSERT INTO staff (email, password_hash, created_at, updated_at, role)"
            " VALUES ('a@example.org', 'x', ?, ?, 'admin')",
            (utc_now_iso(now), utc_now_iso(now)),
        )
        for seen, created in ((31, 60), (1, 60), (1, 13 * 60)):  # minutes ago
            execute(
                client,
                "INSERT INTO sessions (id_hash, staff_id, csrf_token, created_at, last_seen_at,"
                " handle) VALUES (?, 1, 'c', ?, ?, ?)",
                (
                    secrets.token_hex(8),
                    utc_now_iso(now - timedelta(minutes=created)),
                    utc_now_iso(now - timedelta(minutes=seen)),
                    secrets.token_hex(6),
                ),
            )
        for email, expires, used, revoked in (
            ("pending@example.org", 1, None, None),
            ("expired@example.org", -1, None, None),
            ("used@example.org", 1, now, None),
            ("revoked@example.org", 1, None, now),
        ):
            execute(
                client,
                "INSERT INTO invitations (email, token_hash, created_at, expires_at, used_at,"
                " revoked_at) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    email, secrets.token_hex(8), utc_now_iso(now),
                    utc_now_iso(now + timedelta(hours=expires)),
                    utc_now_iso(used) if used else None, utc_now_iso(revoked) if revoked else None,
                ),
            )  # fmt: skip
        for minutes in (-1, 1):
            execute(
                client,
                "INSERT INTO form_drafts (id, fields, created_at, expires_at) VALUES (?, ?, ?, ?)",
                (secrets.token_urlsafe(24), "{}", utc_now_iso(now),
                 utc_now_iso(now + timedelta(minutes=minutes))),
            )  # fmt: skip
        # (The hourly and 5-minute jobs would take the sessions and drafts first: run it alone.)
        swept = client.portal.call(retention.run, client.app.ctx.db, now, 365)
        assert swept.summary(365) == (
            "deleted 0 requests closed over 365 days ago, 1 suspected spam over 30 days old,"
            " 2 expired sessions, 3 spent invitations, 1 expired form drafts"
        )
        assert names(client) == ["Spam Young"]
        assert query(client, "SELECT count(*) FROM sessions")[0][0] == 1
        assert [r[0] for r in query(client, "SELECT email FROM invitations")] == [
            "pending@example.org"
        ]
        assert query(client, "SELECT count(*) FROM form_drafts")[0][0] == 1


# --- what it records ----------------------------------------------------------------------------


def test_each_run_is_one_audit_entry_and_one_log_line_of_counts(tmp_path, clock, caplog):
    caplog.set_level(logging.INFO)
    with make_client(tmp_path, clock) as client:
        old = add_request(client, OLD["name"], email=OLD["email"], message=OLD["message"])
        close(client, old, clock() - timedelta(days=366))
        retention_runs(client)
        [entry] = [dict(r) for r in query(client, "SELECT * FROM audit_log")]
    assert (entry["actor"], entry["action"], entry["consultation_id"]) == (
        "system", "retention", None
    )  # fmt: skip
    assert entry["detail"] == (
        "1 closed requests, 0 suspected spam, 0 sessions, 0 invitations, 0 form drafts"
        " (kept 365 days after closing)"
    )
    lines = [r.getMessage() for r in caplog.records if "retention" in r.getMessage()]
    assert lines == [
        "job retention: deleted 1 requests closed over 365 days ago, 0 suspected spam over"
        " 30 days old, 0 expired sessions, 0 spent invitations, 0 expired form drafts"
    ]
    logged = "\n".join(r.getMessage() for r in caplog.records)
    for value in OLD.values():
        assert value not in logged


def test_what_it_deleted_is_gone_from_the_files_and_the_index(tmp_path, clock):
    settings = make_settings(tmp_path)
    with TestClient(create_app(settings, clock=clock)) as client:
        retention_runs(client)  # the start-up run, before anything is old
        others = [
            add_request(client, f"Kept Person {i}", phone=f"+1518555{2000 + i}") for i in range(200)
        ]
        old = add_request(client, OLD["name"], email=OLD["email"], phone=OLD["phone"],
                          message=OLD["message"], status="closed")  # fmt: skip
        execute(
            client,
            "INSERT INTO staff (email, password_hash, created_at, updated_at, role)"
            " VALUES ('a@example.org', 'x', '2026-01-01', '2026-01-01', 'admin')",
        )
        execute(
            client,
            "INSERT INTO notes (consultation_id, staff_id, body, created_at) VALUES (?, 1, ?, ?)",
            (old, NOTE, utc_now_iso(clock())),
        )
        others += [add_request(client, f"Later Person {i}", phone=f"+1518556{2000 + i}")
                   for i in range(20)]  # fmt: skip
        close(client, old, clock() - timedelta(days=366))
        # A year on, the row has long been copied from the write-ahead log into the file.
        assert checkpoint(settings.database_path)
        deleted = [*OLD.values(), NOTE]
        words = [*deleted, "5550177", OLD["name"].split()[1]]
        assert whole_hits(settings.database_path, words)  # the scan finds them while held
        assert fragment_hits(settings.database_path, deleted)
        clock.set_local(2026, 12, 2, 3, 0)
        [summary] = retention_runs(client)
        assert "deleted 1 requests closed" in summary
        # The site still runs (its connections open): the files hold nothing of it.
        assert whole_hits(settings.database_path, words) == []
        assert fragment_hits(settings.database_path, deleted) == {}
        assert len(names(client)) == len(others)
        # The index still finds those kept.
        found = query(client, "SELECT rowid FROM consultations_fts WHERE consultations_fts"
                      " MATCH 'Person'")  # fmt: skip
        assert len(found) == len(others)


def test_the_run_leaves_the_write_ahead_log_empty(tmp_path, clock):
    """TRUNCATE: after a run (nothing else writing), the -wal file is zero bytes long."""
    settings = make_settings(tmp_path)
    with TestClient(create_app(settings, clock=clock)) as client:
        old = add_request(client, OLD["name"], email=OLD["email"])
        close(client, old, clock() - timedelta(days=366))
        swept = client.portal.call(retention.run, client.app.ctx.db, clock(), 365)
        assert swept.closed == 1
        assert Path(f"{settings.database_path}-wal").stat().st_size == 0


def test_every_connection_of_the_app_and_the_command_line_deletes_securely(tmp_path, clock):
    """secure_delete is set by the app, not left to how the machine's SQLite was built."""
    assert "PRAGMA secure_delete=ON" in PRAGMAS
    with make_client(tmp_path, clock) as client:
        db = client.app.ctx.db  # the command line opens the same Database
        for conn in (db.reader, db._writer):
            rows = client.portal.call(conn.execute_fetchall, "PRAGMA secure_delete")
            assert [tuple(r) for r in rows] == [(1,)]


# --- the command ---------------------------------------------------------------------------------


def test_purge_is_the_same_run_from_the_command_line(tmp_path, monkeypatch, capsys, clock):
    path = cli_environment(tmp_path, monkeypatch)
    monkeypatch.setenv("RETENTION_DAYS", "30")
    assert cli.main(["migrate"], clock=clock) == 0
    with closing(sqlite3.connect(path)) as conn, conn:
        for name, closed in (("Old Closed", 31), ("Young Closed", 29)):
            conn.execute(
                "INSERT INTO consultations (reference, token_id, full_name, email, contact_method,"
                " best_time, status, consent_at, created_at, updated_at, closed_at)"
                " VALUES (?, ?, ?, 'x@example.org', 'email', 'any', 'closed', ?, ?, ?, ?)",
                (f"AKI-{name[:5].upper()}", name, name, *[utc_now_iso(clock())] * 3,
                 utc_now_iso(clock() - timedelta(days=closed))),
            )  # fmt: skip
    capsys.readouterr()
    assert cli.main(["purge"], clock=clock) == 0
    assert capsys.readouterr().out == (
        "deleted 1 requests closed over 30 days ago, 0 suspected spam over 30 days old,"
        " 0 expired sessions, 0 spent invitations, 0 expired form drafts\n"
    )
    with closing(sqlite3.connect(path)) as conn:
        assert [r[0] for r in conn.execute("SELECT full_name FROM consultations")] == [
            "Young Closed"
        ]
        [(actor, detail)] = conn.execute(
            "SELECT actor, detail FROM audit_log WHERE action = 'retention'"
        ).fetchall()
    assert actor == "system" and detail.startswith("1 closed requests")
    # The command's connection closed: no write-ahead log is left behind with the old pages.
    wal = Path(f"{path}-wal")
    assert not wal.exists() or wal.stat().st_size == 0


def test_the_privacy_page_states_the_retention_setting(tmp_path, clock):
    for days, words in (
        (365, "12 months (365 days)"),
        (90, "90 days"),
        (730, "2 years (730 days)"),
    ):
        folder = tmp_path / str(days)
        folder.mkdir()
        with make_client(folder, clock, retention_days=days) as client:
            page = client.get("/privacy").text
        assert f"then {words} after the request is closed" in page
        assert "deleted 30 days after it arrived" in page
        assert "for up to 24 hours" in page and "up to 14 days" in page
        assert "without your internet address" in page


def test_the_privacy_page_says_how_long_logs_are_kept(tmp_path, clock, monkeypatch):
    from webapp.settings import ROOT, ConfigError, from_env

    with make_client(tmp_path, clock) as client:
        assert "and they are deleted after 14 days." in client.get("/privacy").text
    folder = tmp_path / "seven"
    folder.mkdir()
    with make_client(folder, clock, log_retention_days=7) as client:
        assert "and they are deleted after 7 days." in client.get("/privacy").text
    base = {"DATA_DIR": str(ROOT / "data"), "SECRET_KEY": "k" * 40}
    assert from_env(base).log_retention_days == 14
    assert from_env({**base, "LOG_RETENTION_DAYS": "30"}).log_retention_days == 30
    for bad in ("0", "2.5", "a week", "-1"):
        with pytest.raises(ConfigError, match="LOG_RETENTION_DAYS"):
            from_env({**base, "LOG_RETENTION_DAYS": bad})


def test_the_privacy_page_says_when_logs_keep_addresses(tmp_path, clock):
    with make_client(tmp_path, clock, log_client_address=True) as client:
        page = client.get("/privacy").text
    assert "with the internet address of the device that asked" in page
    assert privacy.Kept.of(client.app.ctx.settings).log_client_address is True


def test_the_retention_summary_counts_only(clock):
    swept = retention.Swept(closed=2, spam=1, sessions=3, invitations=0, drafts=4)
    assert swept.requests == 3
    assert swept.summary(365) == (
        "deleted 2 requests closed over 365 days ago, 1 suspected spam over 30 days old,"
        " 3 expired sessions, 0 spent invitations, 4 expired form drafts"
    )


def test_spent_form_tokens_go_once_no_token_of_their_time_can_be_sent(tmp_path, clock):
    """What a deleted request leaves (its token's id and arrival, migration 0011) is kept
    while its form could still be sent again, and the retention run deletes it after that."""
    token_life = timedelta(seconds=make_settings(tmp_path).form_max_age_seconds)
    assert token_life < retention.SPENT_TOKEN_KEEP
    with make_client(tmp_path, clock) as client:
        for name, hours in (("Spent Old", 49), ("Spent Young", 47)):
            request_id = add_request(client, name, ago=timedelta(hours=hours))
            execute(client, "DELETE FROM consultations WHERE id = ?", (request_id,))
        assert len(query(client, "SELECT token_id FROM spent_form_tokens")) == 2
        client.portal.call(retention.sweep, client.app.ctx.db, clock(), 365)
        kept = query(client, "SELECT created_at FROM spent_form_tokens")
        assert [row[0] for row in kept] == [utc_now_iso(clock() - timedelta(hours=47))]
