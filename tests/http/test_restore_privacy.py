"""A restore must not bring erased people back: erasures the replaced database records are
applied to the restored copy before it goes live, with their audit entries; when the replaced
database cannot be read, the command says so."""

from __future__ import annotations

import dataclasses
import sqlite3
from contextlib import closing

from starlette.testclient import TestClient

from tests.helpers import cli_environment
from tests.http.test_erasure import AGAIN, ASKER, NOTE, NOTE_AGAIN, make_people, texts
from tests.privacy_scan import fragment_hits, whole_hits
from webapp import cli
from webapp.app import create_app


def test_a_restore_erases_again_what_was_erased_after_the_backup(
    tmp_path, monkeypatch, capsys, clock, settings
):
    path = cli_environment(tmp_path, monkeypatch)
    with TestClient(
        create_app(dataclasses.replace(settings, database_path=path), clock=clock)
    ) as c:
        ids = make_people(c, clock)
    with closing(sqlite3.connect(path)) as conn:
        refs = {k: conn.execute("SELECT reference FROM consultations WHERE id = ?", (v,))
                .fetchone()[0] for k, v in ids.items()}  # fmt: skip
    backup_file = tmp_path / "before-erasure.db"
    assert cli.main(["backup", "--to", str(backup_file)], clock=clock) == 0
    # The person asks; both their requests are erased. Later the database is restored.
    assert cli.main(["erase", refs["asker"], "--yes"], clock=clock) == 0
    assert cli.main(["erase", refs["again"], "--yes"], clock=clock) == 0
    capsys.readouterr()
    assert cli.main(["restore", str(backup_file)], clock=clock) == 0
    out = capsys.readouterr().out
    assert (
        f"erased again (erased after this backup was made): {refs['asker']}, {refs['again']}" in out
    )
    with closing(sqlite3.connect(path)) as conn:
        left = {r[0] for r in conn.execute("SELECT reference FROM consultations")}
        trail = conn.execute(
            "SELECT consultation_id, detail FROM audit_log WHERE action = 'erase' ORDER BY id"
        ).fetchall()
    assert left == {refs["relative"], refs["stranger"]}
    assert trail == [(ids["asker"], refs["asker"]), (ids["again"], refs["again"])]
    deleted = [*texts(ASKER, AGAIN), NOTE, NOTE_AGAIN]
    assert whole_hits(path, deleted) == []
    assert fragment_hits(path, deleted) == {}
    # Restored once more from the same backup: erased again, the trail not doubled.
    capsys.readouterr()
    assert cli.main(["restore", str(backup_file)], clock=clock) == 0
    assert "erased again" in capsys.readouterr().out
    with closing(sqlite3.connect(path)) as conn:
        assert (
            conn.execute("SELECT count(*) FROM audit_log WHERE action = 'erase'").fetchone()[0] == 2
        )


def test_an_unreadable_replaced_database_is_said_plainly(tmp_path, monkeypatch, capsys, clock):
    path = cli_environment(tmp_path, monkeypatch)
    good = tmp_path / "good.db"
    assert cli.main(["migrate"], clock=clock) == 0
    assert cli.main(["backup", "--to", str(good)], clock=clock) == 0
    path.write_bytes(b"not a database any more " * 100)
    for suffix in ("-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)
    capsys.readouterr()
    assert cli.main(["restore", str(good)], clock=clock) == 0
    assert "warning: the replaced database could not be read" in capsys.readouterr().out
