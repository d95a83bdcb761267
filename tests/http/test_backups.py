"""Backups that run and restore: the daily job (by the app's clock), pruning, `restore`'s
checks and refusals, and a drill: back up a live database under writes, restore it into a
fresh folder, and find every acknowledged request."""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import stat
import subprocess
import sys
import threading
from contextlib import closing
from datetime import datetime, time, timedelta
from pathlib import Path

import httpx2
import pytest
from starlette.testclient import TestClient

import webapp.db as db_module
from tests.conftest import ET, make_settings
from tests.helpers import HX, add_request, cli_environment, form, reference_in
from tests.serving import Site, aged_token, base_env
from webapp.app import create_app
from webapp.backups import backup_name, prune
from webapp.cli import main
from webapp.db import Database, migrate
from webapp.settings import ROOT


def references(path: Path) -> set[str]:
    with closing(sqlite3.connect(path)) as conn:
        return {row[0] for row in conn.execute("SELECT reference FROM consultations")}


def integrity(path: Path) -> str:
    with closing(sqlite3.connect(path)) as conn:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]


# --- the daily job -----------------------------------------------------------------------------


@pytest.fixture
def backed_up(tmp_path, clock):
    """An app whose daily backup goes to tmp_path/backups, keeping 3; (client, folder)."""
    folder = tmp_path / "backups"
    settings = make_settings(tmp_path, backup_dir_setting=folder, backup_keep=3)
    with TestClient(create_app(settings, clock=clock)) as client:
        yield client, folder


def tick(client: TestClient) -> list[tuple[str, bool]]:
    return [(o.name, o.ok) for o in client.portal.call(client.app.ctx.jobs.tick)]


def test_the_daily_backup_runs_at_its_hour_verified_private_and_pruned(backed_up, clock, caplog):
    caplog.set_level(logging.INFO)
    client, folder = backed_up
    add_request(client, "Grace Hopper")
    clock.set_local(2026, 12, 1, 2, 0)
    assert ("backup", True) in tick(client)  # never made: at once
    clock.set_local(2026, 12, 2, 3, 14)
    assert ("backup", True) not in tick(client)
    clock.set_local(2026, 12, 2, 3, 15)
    assert ("backup", True) in tick(client)
    assert ("backup", True) not in tick(client)  # once a day
    for day in (3, 4, 5):
        clock.set_local(2026, 12, day, 3, 30)
        assert ("backup", True) in tick(client)

    (folder / "notes.txt").write_text("not ours")
    names = sorted(p.name for p in folder.iterdir())
    assert names == [
        "clinic-20261203-083000.db",
        "clinic-20261204-083000.db",
        "clinic-20261205-083000.db",
        "notes.txt",
    ]
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for name in names[:-1]:
        path = folder / name
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert integrity(path) == "ok"
        with closing(sqlite3.connect(path)) as conn:
            assert conn.execute("SELECT full_name FROM consultations").fetchall() == [
                ("Grace Hopper",)
            ]
            assert conn.execute("PRAGMA journal_mode").fetchone() == ("delete",)
        assert not Path(f"{path}-wal").exists()
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("job backup")]
    assert len(lines) == 5
    assert lines[-1].endswith(" bytes, integrity ok); 1 older removed")
    assert "clinic-20261205-083000.db" in lines[-1]


def test_a_failing_backup_says_why_and_is_tried_again(tmp_path, clock, caplog):
    blocked = tmp_path / "backups"
    blocked.write_text("a file where the folder should be")
    settings = make_settings(tmp_path, backup_dir_setting=blocked)
    with TestClient(create_app(settings, clock=clock)) as client:
        assert ("backup", False) in tick(client)
        [why] = [r.getMessage() for r in caplog.records if r.name == "webapp.backups"]
        assert why.startswith(f"backup into {blocked} failed: ")
        blocked.unlink()
        clock.advance(minutes=10)
        assert ("backup", True) in tick(client)
    assert len(list(blocked.glob("clinic-*.db"))) == 1


def test_backups_off_registers_no_job(tmp_path, clock):
    settings = make_settings(tmp_path, backup_time=None)
    assert "backup" not in create_app(settings, clock=clock).ctx.jobs.jobs


def test_prune_keeps_the_newest_and_only_touches_its_own_files(tmp_path):
    start = datetime(2026, 12, 1, 8, 0, tzinfo=ET)
    made = [tmp_path / backup_name(start + timedelta(days=i)) for i in range(5)]
    for path in made:
        path.write_bytes(b"")
    others = [tmp_path / "clinic-manual.db", tmp_path / "clinic-20261201.db"]
    for path in others:
        path.write_bytes(b"")
    assert prune(tmp_path, 2) == made[:3]
    assert sorted(tmp_path.iterdir()) == sorted([*made[3:], *others])


# --- restore -------------------------------------------------------------------------------------


@pytest.fixture
def environment(tmp_path, monkeypatch) -> Path:
    """The CLI's environment (tests/helpers.py); returns the database path."""
    path = cli_environment(tmp_path, monkeypatch)
    monkeypatch.setenv("BACKUP_DIR", str(tmp_path / "backups"))
    return path


def make_site_db(path: Path, *names: str) -> None:
    migrate(path)
    with closing(sqlite3.connect(path)) as conn, conn:
        for i, name in enumerate(names):
            conn.execute(
                "INSERT INTO consultations (reference, token_id, full_name, email,"
                " contact_method, best_time, message, status, consent_at, created_at,"
                " updated_at) VALUES (?, ?, ?, 'a@example.org', 'email', 'any', '', 'new',"
                " 't', 't', 't')",
                (f"AKI-0000{i}", f"token-{name}", name),
            )


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_restore_puts_the_backup_in_place_and_keeps_the_old_database_aside(
    environment, tmp_path, capsys
):
    database = environment
    make_site_db(database, "Kept Aside")
    backup_file = tmp_path / "old.db"
    make_site_db(backup_file, "Restored One", "Restored Two")
    with closing(sqlite3.connect(database)) as conn:  # leave a -wal beside the live file
        conn.execute("PRAGMA wal_autocheckpoint=0")
        conn.execute("UPDATE consultations SET full_name = 'Kept Aside, in the WAL'")
        conn.commit()
        code, out, err = run(capsys, "restore", str(backup_file))
    assert (code, err) == (0, "")
    [kept] = [p for p in database.parent.iterdir() if p.name.startswith("clinic.db.replaced-")
              and not p.name.endswith(("-wal", "-shm"))]  # fmt: skip
    assert out == (
        f"restored {backup_file} into {database}: integrity ok, 2 consultation request(s)\n"
        f"the replaced database is kept as {kept}\n"
    )
    assert references(database) == {"AKI-00000", "AKI-00001"}
    with closing(sqlite3.connect(kept)) as conn:  # the old one, its WAL included
        assert conn.execute("SELECT full_name FROM consultations").fetchall() == [
            ("Kept Aside, in the WAL",)
        ]
    assert stat.S_IMODE(database.stat().st_mode) == 0o600
    assert integrity(database) == "ok"
    assert not list(database.parent.glob("*.restoring-*"))


def test_restore_migrates_an_older_backup(environment, tmp_path, capsys, monkeypatch):
    shipped = db_module._migrations()
    older = tmp_path / "older.db"
    with monkeypatch.context() as patched:  # (undo() would also undo the environment)
        patched.setattr(db_module, "_migrations", lambda: shipped[:-1])
        migrate(older)
    code, out, _ = run(capsys, "restore", str(older))
    assert code == 0
    assert f"migrations applied: {shipped[-1][1]}" in out
    assert db_module.pending_migrations(environment) == []


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("garbage", "is not a usable SQLite database"),
        ("other", "is not a backup of this site's database"),
        ("newer", "the backup has migrations this version does not know ([999])"),
        ("missing", "is not a file"),
    ],
)
def test_restore_refuses_what_it_cannot_use_and_changes_nothing(
    environment, tmp_path, capsys, content, message
):
    database = environment
    make_site_db(database, "Untouched")
    source = tmp_path / "source.db"
    if content == "garbage":
        source.write_bytes(b"not a database at all " * 100)
    elif content == "other":
        with closing(sqlite3.connect(source)) as conn:
            conn.execute("CREATE TABLE notes (x)")
    elif content == "newer":
        make_site_db(source)
        with closing(sqlite3.connect(source)) as conn, conn:
            conn.execute("INSERT INTO schema_migrations VALUES (999, '0999_future.sql', 't')")
    code, out, err = run(capsys, "restore", str(source))
    assert code == 2 and out == ""
    assert err.startswith("error: ") and err.count("\n") == 1 and message in err, err
    assert references(database) == {"AKI-00000"}
    assert sorted(p.name for p in database.parent.iterdir() if "clinic.db" in p.name) in (
        ["clinic.db", "clinic.db.lock"],
        ["clinic.db"],
    )


def test_restore_refuses_while_the_database_is_open(environment, tmp_path, capsys):
    database = environment
    make_site_db(database, "Live")
    backup_file = tmp_path / "b.db"
    make_site_db(backup_file, "Backup")

    async def while_open() -> tuple[int, str, str]:
        live = Database(database)
        await live.open()
        try:
            return run(capsys, "restore", str(backup_file))
        finally:
            await live.close()

    code, _, err = asyncio.run(while_open())
    assert code == 2
    assert err == f"error: the site (or another command) is using {database}: stop it first\n"
    assert references(database) == {"AKI-00000"}
    assert run(capsys, "restore", str(backup_file))[0] == 0  # once it is closed


def test_the_site_does_not_start_during_a_restore(environment, tmp_path):
    from webapp.storage import hold_exclusive_lock, release

    database = environment
    make_site_db(database)
    held = hold_exclusive_lock(database)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "webapp", "serve", "--port", "9"],
            cwd=ROOT, env=base_env(database), capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    finally:
        release(held)
    assert done.returncode == 2
    assert done.stderr == (f"error: {database} is being restored; start when that has finished\n")


# --- the drill ---------------------------------------------------------------------------------


def cli(env: dict[str, str], *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "webapp", *argv],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_drill_backup_under_writes_restore_elsewhere_find_every_acknowledged_row(tmp_path):
    database = tmp_path / "live" / "clinic.db"
    database.parent.mkdir()
    env = {"CONSULTATION_RATE_LIMIT": "100000/600"}
    site = Site(database, tmp_path / "site.log", env=env).start()
    acknowledged: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def writer() -> None:
        with httpx2.Client(base_url=site.url, timeout=30) as client:
            while not stop.is_set():
                answer = client.post("/consultation", data=form(aged_token()), headers=HX)
                assert answer.status_code == 200, answer.text
                with lock:
                    acknowledged.append(reference_in(answer.text))

    threads = [threading.Thread(target=writer) for _ in range(4)]
    try:
        for thread in threads:
            thread.start()
        while len(acknowledged) < 40:
            stop.wait(0.05)
        with lock:
            before_backup = set(acknowledged)
        during = cli(site.env, "backup", "--to", str(tmp_path / "during.db"))
        assert during.returncode == 0, during.stderr
        while len(acknowledged) < len(before_backup) + 40:
            stop.wait(0.05)
        refused = cli(site.env, "restore", str(tmp_path / "during.db"))
        assert refused.returncode == 2
        assert "is using" in refused.stderr and "stop it first" in refused.stderr
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
        final = cli(site.env, "backup")  # into BACKUP_DIR, as the daily job does
        assert final.returncode == 0, final.stderr
    finally:
        stop.set()
        site.stop()
    assert "Traceback" not in site.log()
    all_acknowledged = set(acknowledged)
    assert len(all_acknowledged) == len(acknowledged) >= 80

    # The daily job made one at start-up (none existed); the last is the final one.
    *_, final_file = sorted((database.parent / "backups").glob("clinic-*.db"))
    for source, expected_at_least in (
        (tmp_path / "during.db", before_backup),
        (final_file, all_acknowledged),
    ):
        fresh = tmp_path / f"fresh-{source.stem}" / "clinic.db"
        fresh.parent.mkdir()
        done = cli(base_env(fresh), "restore", str(source))
        assert done.returncode == 0, done.stderr
        restored = references(fresh)
        assert expected_at_least <= restored  # every request acknowledged before the copy
        assert restored <= all_acknowledged  # and nothing that was never acknowledged
        assert integrity(fresh) == "ok"
    assert references(fresh) == all_acknowledged == references(database)
    assert os.stat(fresh).st_mode & 0o077 == 0


def test_settings_for_backups_and_timeouts(tmp_path):
    from webapp.settings import ConfigError, from_env

    data = tmp_path / "data"
    data.mkdir()
    (data / "clinic.toml").write_text((ROOT / "data" / "clinic.toml").read_text())
    base = {"DATA_DIR": str(data), "SECRET_KEY": "k" * 40}
    found = from_env(base)
    assert (found.backup_dir, found.backup_keep, found.backup_time) == (
        data / "backups",
        14,
        time(3, 15),
    )
    assert found.body_timeout_seconds == 10
    found = from_env({**base, "BACKUP_DIR": str(tmp_path / "elsewhere"), "BACKUP_KEEP": "30",
                      "BACKUP_TIME": "23:05", "REQUEST_BODY_TIMEOUT": "2.5"})  # fmt: skip
    assert (found.backup_dir, found.backup_keep, found.backup_time) == (
        tmp_path / "elsewhere",
        30,
        time(23, 5),
    )
    assert found.body_timeout_seconds == 2.5
    assert from_env({**base, "BACKUP_TIME": "off"}).backup_time is None
    bad = [("BACKUP_TIME", "24:00"), ("BACKUP_TIME", "3pm"), ("BACKUP_TIME", "3:5"),
           ("BACKUP_KEEP", "0"), ("BACKUP_KEEP", "2.5"), ("REQUEST_BODY_TIMEOUT", "0"),
           ("REQUEST_BODY_TIMEOUT", "soon")]  # fmt: skip
    for name, value in bad:
        with pytest.raises(ConfigError, match=name):
            from_env({**base, name: value})


def test_backups_made_in_the_same_second_take_the_next_names_in_order(tmp_path):
    """The daily backup at start-up and one asked for straight after: both are made, and
    their names sort in the order they were made (prune keeps the newest by name)."""
    from webapp.backups import NAME, make_backup, prune

    source = tmp_path / "clinic.db"
    migrate(source)
    folder = tmp_path / "backups"
    now = datetime(2026, 12, 2, 10, 50, 33, 400_000, tzinfo=ET)
    made = [make_backup(source, folder, now)[0] for _ in range(3)]
    assert [p.name for p in made] == [
        "clinic-20261202-155033.db", "clinic-20261202-155034.db", "clinic-20261202-155035.db"
    ]  # fmt: skip
    assert all(NAME.match(p.name) for p in made)
    assert prune(folder, 1) == made[:2]
    assert sorted(folder.iterdir()) == made[2:]
