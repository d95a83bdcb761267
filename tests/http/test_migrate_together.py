"""Migrations run once when several processes start together (serve --workers N, a CLI
command beside the site): which migrations are pending is decided inside the migration's
own write transaction, not before it."""

from __future__ import annotations

import multiprocessing
import sqlite3
import time
from pathlib import Path

from webapp.db import migrate, migration_versions

PROCESSES = 4


def _migrate(path: str, results: multiprocessing.Queue) -> None:
    try:
        results.put(("ok", migrate(Path(path))))
    except Exception as exc:  # reported to the test, which fails on it
        results.put(("error", repr(exc)))


def run_together(path: Path, hold: bool) -> list[tuple[str, object]]:
    """PROCESSES processes migrate the file at once; with `hold`, each has already read the
    applied versions and waits for the write lock (held here) when they are let go."""
    spawn = multiprocessing.get_context("spawn")
    results = spawn.Queue()
    blocker = None
    if hold:
        blocker = sqlite3.connect(path, isolation_level=None)
        blocker.execute("PRAGMA journal_mode=WAL")
        blocker.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
        )
        blocker.execute("BEGIN IMMEDIATE")
    procs = [spawn.Process(target=_migrate, args=(str(path), results)) for _ in range(PROCESSES)]
    for proc in procs:
        proc.start()
    if blocker is not None:
        time.sleep(2)  # real processes: let each reach the lock (they wait up to 5 s)
        blocker.execute("ROLLBACK")
        blocker.close()
    found = [results.get(timeout=60) for _ in procs]
    for proc in procs:
        proc.join(timeout=30)
    return found


def applied_versions(path: Path) -> list[int]:
    with sqlite3.connect(path) as conn:
        return [row[0] for row in conn.execute("SELECT version FROM schema_migrations")]


def test_processes_waiting_on_the_lock_apply_each_migration_once(tmp_path):
    path = tmp_path / "clinic.db"
    found = run_together(path, hold=True)
    assert [kind for kind, _ in found] == ["ok"] * PROCESSES, found
    names = [name for _, applied in found for name in applied]  # type: ignore[union-attr]
    assert len(names) == len(set(names)) == len(migration_versions())
    assert sorted(applied_versions(path)) == sorted(migration_versions())


def test_processes_starting_on_a_new_file_together_all_succeed(tmp_path):
    path = tmp_path / "clinic.db"
    found = run_together(path, hold=False)
    assert [kind for kind, _ in found] == ["ok"] * PROCESSES, found
    assert sorted(applied_versions(path)) == sorted(migration_versions())
