"""A restore keeps the database it replaces beside the live one (`<database>.replaced-<time>`).
That copy holds patients' details like a backup, and neither an erasure nor the retention rule
reaches it: it must not outlive the backups of its time. The daily retention run (and `purge`)
deletes it, with its -wal and -shm, once it is BACKUP_KEEP days old; younger copies and files
that `restore` did not make are left alone."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from starlette.testclient import TestClient

from tests.conftest import make_settings
from tests.helpers import add_request, cli_environment
from tests.privacy_scan import whole_hits
from webapp import cli
from webapp.app import create_app

NAME, EMAIL = "Quenby Restorwick", "quenby@restorwick.example"


def set_aside(path: Path) -> list[Path]:
    """The databases restores put aside (their -wal and -shm not counted)."""
    return sorted(p for p in path.parent.glob(path.name + ".replaced-*") if p.name[-4:] != "-wal"
                  and p.name[-4:] != "-shm")  # fmt: skip


def restored_once(tmp_path, monkeypatch, clock) -> tuple[Path, Path, str]:
    """A database holding one person, backed up and restored: (database, copy aside, ref)."""
    path = cli_environment(tmp_path, monkeypatch)
    with TestClient(create_app(make_settings(tmp_path, database_path=path), clock=clock)) as c:
        add_request(c, NAME, email=EMAIL)
    backup_file = tmp_path / "copy.db"
    assert cli.main(["backup", "--to", str(backup_file)], clock=clock) == 0
    assert cli.main(["restore", str(backup_file)], clock=clock) == 0
    [aside] = set_aside(path)
    with closing(sqlite3.connect(path)) as conn:
        [(reference,)] = conn.execute("SELECT reference FROM consultations").fetchall()
    return path, aside, reference


def retention_runs(client: TestClient) -> list[str]:
    outcomes = client.portal.call(client.app.ctx.jobs.tick)
    return [o.summary for o in outcomes if o.name == "retention" and o.ok]


def test_the_daily_run_deletes_a_replaced_copy_when_its_backups_are_gone(
    tmp_path, monkeypatch, clock
):
    path, aside, reference = restored_once(tmp_path, monkeypatch, clock)
    for suffix in ("-wal", "-shm"):
        Path(f"{aside}{suffix}").write_bytes(b"left beside it")
    not_ours = path.with_name(path.name + ".replaced-by-hand")
    not_ours.write_bytes(b"an operator's own file")
    # The person asks to be erased: gone from the live database, but the copy still holds them.
    assert cli.main(["erase", reference, "--yes"], clock=clock) == 0
    assert whole_hits(path, [NAME, EMAIL]) == []
    assert whole_hits(aside, [NAME, EMAIL]) != []
    settings = make_settings(tmp_path, database_path=path)  # BACKUP_KEEP: 14 (days)
    assert settings.backup_keep == 14
    clock.advance(days=13)
    with TestClient(create_app(settings, clock=clock)) as client:
        [summary] = retention_runs(client)  # at start-up: 13 days old, kept
        assert "replaced" not in summary and aside.exists()
        clock.set_local(2026, 12, 15, 3, 0)  # 13 days and 16 hours: kept
        [summary] = retention_runs(client)
        assert "replaced" not in summary and aside.exists()
        clock.set_local(2026, 12, 16, 3, 0)  # the first run once it is 14 days old
        [summary] = retention_runs(client)
        assert summary.endswith(", 1 replaced database copies")
        clock.set_local(2026, 12, 17, 3, 0)
        [summary] = retention_runs(client)
        assert "replaced" not in summary
    assert set_aside(path) == [not_ours]  # a name restore did not make is left alone
    assert not Path(f"{aside}-wal").exists() and not Path(f"{aside}-shm").exists()
    with closing(sqlite3.connect(path)) as conn:
        details = [r[0] for r in conn.execute(
            "SELECT detail FROM audit_log WHERE action = 'retention' ORDER BY id")]  # fmt: skip
    assert [d.endswith(", 1 replaced database copies") for d in details] == [
        False, False, True, False
    ]  # fmt: skip
    assert all(NAME not in d and EMAIL not in d for d in details)


def test_purge_deletes_replaced_copies_as_old_as_backup_keep(tmp_path, monkeypatch, capsys, clock):
    path, aside, _ = restored_once(tmp_path, monkeypatch, clock)
    monkeypatch.setenv("BACKUP_KEEP", "3")
    clock.advance(days=2, hours=23)
    capsys.readouterr()
    assert cli.main(["purge"], clock=clock) == 0
    assert "replaced" not in capsys.readouterr().out and aside.exists()
    clock.advance(hours=1)
    assert cli.main(["purge"], clock=clock) == 0
    assert capsys.readouterr().out.strip().endswith(", 1 replaced database copies")
    assert set_aside(path) == []
