"""Every command takes its "now" from the clock given to main(): the database's own stamps
(the migrations a command applies first) included, never the machine's time."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.helpers import cli_environment
from webapp.cli import main
from webapp.db import utc_now_iso

# Years away from the machine's clock: a stamp from it could not pass for this one.
INSTANT = datetime(2031, 1, 2, 15, 0, tzinfo=UTC)


@pytest.fixture
def db_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return cli_environment(tmp_path, monkeypatch)


def stamps(path: Path) -> set[str]:
    with closing(sqlite3.connect(path)) as conn:
        return {row[0] for row in conn.execute("SELECT applied_at FROM schema_migrations")}


@pytest.mark.parametrize(
    "argv",
    [
        ["closure", "add", "2031-01-05", "--reason", "Staff training"],
        ["closure", "remove", "2031-01-05"],
        ["closure", "list"],
        ["list-staff"],
    ],
)
def test_a_command_on_a_fresh_database_stamps_its_migrations_by_its_clock(db_path, argv):
    assert main(argv, clock=lambda: INSTANT) in (0, 1)
    assert stamps(db_path) == {utc_now_iso(INSTANT)}


def test_closure_add_is_dated_by_the_clock_given(db_path):
    assert main(["closure", "add", "2031-01-05", "--reason", "Staff training"],
                clock=lambda: INSTANT) == 0  # fmt: skip
    with closing(sqlite3.connect(db_path)) as conn:
        created = conn.execute("SELECT created_at FROM closures").fetchone()[0]
        audited = conn.execute("SELECT at FROM audit_log WHERE action = 'closure_add'").fetchone()
    assert created == audited[0] == utc_now_iso(INSTANT)
