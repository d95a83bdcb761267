"""Tests for `python -m webapp`: migrate and closures in-process, start-up errors for real."""

from __future__ import annotations

import argparse
import os
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest

from tests.helpers import CLI_ENV_NAMES, CLI_SECRET, cli_environment, copy_data
from webapp.cli import main
from webapp.db import _migrations, pending_migrations

MIGRATION_NAMES = [name for _, name, _ in _migrations()]


@pytest.fixture
def db_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A clean environment for main(): tmp data dir and database, a fixed secret."""
    return cli_environment(tmp_path, monkeypatch)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def rows(path: Path) -> list[tuple]:
    with closing(sqlite3.connect(path)) as conn:
        return conn.execute(
            "SELECT day, opens, closes, reason FROM closures ORDER BY day"
        ).fetchall()


def assert_one_error_line(err: str) -> str:
    assert err.startswith("error: "), err
    assert err.endswith("\n") and err.count("\n") == 1, err
    assert "Traceback" not in err
    return err[len("error: ") : -1]


# --- migrate ---------------------------------------------------------------------------------


def test_migrate_prints_what_it_applied_and_is_idempotent(
    db_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "migrate") == (
        0,
        f"applied {len(MIGRATION_NAMES)} migration(s): {', '.join(MIGRATION_NAMES)}\n",
        "",
    )
    assert "0001_closures.sql" in MIGRATION_NAMES
    with closing(sqlite3.connect(db_path)) as conn:
        recorded = conn.execute("SELECT name FROM schema_migrations ORDER BY version").fetchall()
    assert [name for (name,) in recorded] == MIGRATION_NAMES

    assert run(capsys, "migrate") == (0, "applied 0 migration(s)\n", "")
    assert pending_migrations(db_path) == []


def test_migrate_with_bad_config_exits_2(
    db_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTPS_ONLY", "perhaps")
    code, out, err = run(capsys, "migrate")
    assert code == 2 and out == ""
    assert assert_one_error_line(err) == "HTTPS_ONLY must be true or false, not 'perhaps'"
    assert not db_path.exists()


# --- closures --------------------------------------------------------------------------------


def test_closure_add_then_list(db_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "closure", "add", "2026-12-25", "--reason", "Christmas Day") == (
        0,
        "2026-12-25: closed (Christmas Day)\n",
        "",
    )
    assert rows(db_path) == [("2026-12-25", None, None, "Christmas Day")]
    assert run(capsys, "closure", "list", "--since", "2026-12-01") == (
        0,
        "2026-12-25  closed            Christmas Day\n",
        "",
    )


def test_closure_special_hours(db_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(
        capsys,
        "closure", "add", "2026-12-24", "--reason", "Christmas Eve",
        "--opens", "10:00", "--closes", "14:00",
    )  # fmt: skip
    assert (code, out, err) == (0, "2026-12-24: open 10:00-14:00 (Christmas Eve)\n", "")
    assert rows(db_path) == [("2026-12-24", "10:00", "14:00", "Christmas Eve")]

    run(capsys, "closure", "add", "2026-12-25", "--reason", "Christmas Day")
    assert run(capsys, "closure", "list", "--since", "2026-12-01") == (
        0,
        "2026-12-24  open 10:00-14:00  Christmas Eve\n"
        "2026-12-25  closed            Christmas Day\n",
        "",
    )


def test_closure_list_since_filters_and_reports_none(
    db_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys, "closure", "add", "2026-11-26", "--reason", "Thanksgiving")
    run(capsys, "closure", "add", "2026-12-25", "--reason", "Christmas Day")
    code, out, _ = run(capsys, "closure", "list", "--since", "2026-12-25")
    assert (code, out) == (0, "2026-12-25  closed            Christmas Day\n")
    assert run(capsys, "closure", "list", "--since", "2026-12-26") == (
        0,
        "no closures from 2026-12-26\n",
        "",
    )


def test_closure_list_defaults_to_today(db_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, "closure", "add", "2000-01-01", "--reason", "Long ago")
    code, out, err = run(capsys, "closure", "list")
    assert code == 0 and err == ""
    assert out.startswith("no closures from ")
    assert "2000-01-01" not in out


def test_reason_whitespace_is_normalised(db_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "closure", "add", "2026-12-25", "--reason", "  Christmas \t Day ")
    assert (code, out) == (0, "2026-12-25: closed (Christmas Day)\n")
    assert rows(db_path) == [("2026-12-25", None, None, "Christmas Day")]


def test_reason_of_80_characters_is_accepted(
    db_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    reason = "r" * 80
    assert run(capsys, "closure", "add", "2026-12-25", "--reason", reason)[0] == 0
    assert rows(db_path) == [("2026-12-25", None, None, reason)]


BAD_ADDS = [
    pytest.param(
        ["2026-02-30", "--reason", "Nope"],
        "'2026-02-30' is not a date in the form YYYY-MM-DD",
        id="impossible-date",
    ),
    pytest.param(
        ["25/12/2026", "--reason", "Nope"],
        "'25/12/2026' is not a date in the form YYYY-MM-DD",
        id="not-iso",
    ),
    pytest.param(
        ["2026-1-5", "--reason", "Nope"],
        "'2026-1-5' is not a date in the form YYYY-MM-DD",
        id="short-date",
    ),
    pytest.param(
        ["2026-12-25", "--reason", "Half", "--opens", "10:00"],
        "special hours need both an opening and a closing time",
        id="opens-without-closes",
    ),
    pytest.param(
        ["2026-12-25", "--reason", "Half", "--closes", "14:00"],
        "special hours need both an opening and a closing time",
        id="closes-without-opens",
    ),
    pytest.param(
        ["2026-12-25", "--reason", "Inverted", "--opens", "14:00", "--closes", "10:00"],
        "the opening time must be before the closing time",
        id="opens-after-closes",
    ),
    pytest.param(
        ["2026-12-25", "--reason", "Empty", "--opens", "10:00", "--closes", "10:00"],
        "the opening time must be before the closing time",
        id="opens-equals-closes",
    ),
    pytest.param(
        ["2026-12-25", "--reason", "Late", "--opens", "10:00", "--closes", "24:00"],
        "time out of range (00:00-23:59), got '24:00'",
        id="bad-time",
    ),
    pytest.param(
        ["2026-12-25", "--reason", "   "],
        'a reason is required, e.g. "Thanksgiving"',
        id="empty-reason",
    ),
    pytest.param(
        ["2026-12-25", "--reason", "r" * 81],
        "the reason must be at most 80 characters",
        id="81-char-reason",
    ),
    pytest.param(
        ["2026-12-25", "--reason", "Bell\x07"],
        "the reason must be plain text",
        id="control-char-reason",
    ),
]


@pytest.mark.parametrize(("args", "message"), BAD_ADDS)
def test_bad_closure_add_exits_2_and_stores_nothing(
    db_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    run(capsys, "closure", "add", "2026-12-25", "--reason", "Christmas Day")
    code, out, err = run(capsys, "closure", "add", *args)
    assert (code, out) == (2, "")
    assert assert_one_error_line(err) == message
    # The existing entry for that day is untouched and nothing else was added.
    assert rows(db_path) == [("2026-12-25", None, None, "Christmas Day")]


def test_bad_add_on_a_fresh_install_creates_nothing(
    db_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "closure", "add", "2026-13-01", "--reason", "Nope")
    assert code == 2
    assert assert_one_error_line(err) == "'2026-13-01' is not a date in the form YYYY-MM-DD"
    assert not db_path.exists()


def test_closure_remove(db_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, "closure", "add", "2026-12-25", "--reason", "Christmas Day")
    run(capsys, "closure", "add", "2026-12-26", "--reason", "Boxing Day")
    assert run(capsys, "closure", "remove", "2026-12-25") == (0, "removed 2026-12-25\n", "")
    assert rows(db_path) == [("2026-12-26", None, None, "Boxing Day")]
    assert run(capsys, "closure", "remove", "2026-12-25") == (1, "no closure on 2026-12-25\n", "")
    assert rows(db_path) == [("2026-12-26", None, None, "Boxing Day")]


def test_closure_remove_bad_date_exits_2(db_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, "closure", "add", "2026-12-25", "--reason", "Christmas Day")
    code, out, err = run(capsys, "closure", "remove", "Christmas")
    assert (code, out) == (2, "")
    assert assert_one_error_line(err) == "'Christmas' is not a date in the form YYYY-MM-DD"
    assert len(rows(db_path)) == 1


def test_closure_list_bad_since_exits_2(db_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "closure", "list", "--since", "yesterday")
    assert (code, out) == (2, "")
    assert assert_one_error_line(err) == "'yesterday' is not a date in the form YYYY-MM-DD"


def test_re_adding_a_day_replaces_it(db_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, "closure", "add", "2026-12-24", "--reason", "Christmas Eve")
    with closing(sqlite3.connect(db_path)) as conn:
        (created,) = conn.execute("SELECT created_at FROM closures").fetchone()
    code, out, _ = run(
        capsys,
        "closure", "add", "2026-12-24", "--reason", "Short day",
        "--opens", "09:30", "--closes", "12:00",
    )  # fmt: skip
    assert (code, out) == (0, "2026-12-24: open 09:30-12:00 (Short day)\n")
    assert rows(db_path) == [("2026-12-24", "09:30", "12:00", "Short day")]
    with closing(sqlite3.connect(db_path)) as conn:
        assert conn.execute("SELECT created_at FROM closures").fetchall() == [(created,)]

    # And back to closed all day: the special hours are cleared.
    run(capsys, "closure", "add", "2026-12-24", "--reason", "Closed after all")
    assert rows(db_path) == [("2026-12-24", None, None, "Closed after all")]
    assert run(capsys, "closure", "list", "--since", "2026-12-24")[1] == (
        "2026-12-24  closed            Closed after all\n"
    )


# --- real processes --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "overrides", "expected"),
    [
        pytest.param(
            ["serve", "--port", "0"],
            {"SECRET_KEY": "short"},
            "error: SECRET_KEY entries must be at least 32 characters",
            id="serve-short-secret",
        ),
        pytest.param(
            ["migrate"],
            {"DATABASE_PATH": "/nonexistent/dir/x.db"},
            "error: DATABASE_PATH's folder does not exist: /nonexistent/dir",
            id="migrate-missing-folder",
        ),
    ],
)
def test_start_up_errors_in_a_real_process(
    tmp_path: Path, argv: list[str], overrides: dict[str, str], expected: str
) -> None:
    env = {k: v for k, v in os.environ.items() if k not in CLI_ENV_NAMES}
    env.update(
        DATA_DIR=str(copy_data(tmp_path / "data")),
        DATABASE_PATH=str(tmp_path / "clinic.db"),
        SECRET_KEY=CLI_SECRET,
        PYTHONDONTWRITEBYTECODE="1",
    )
    env.update(overrides)
    done = subprocess.run(
        [sys.executable, "-m", "webapp", *argv],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1 and done.stderr.endswith("\n"), done.stderr
    assert done.stderr.startswith(expected), done.stderr
    assert not (tmp_path / "clinic.db").exists()
    assert not (tmp_path / "data" / "secret_key").exists()


def test_database_under_a_file_is_a_clean_error(
    db_path: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (tmp_path / "afile").write_text("not a folder")
    monkeypatch.setenv("DATABASE_PATH", str(tmp_path / "afile" / "x.db"))
    code, out, err = run(capsys, "migrate")
    assert (code, out) == (2, "")
    assert assert_one_error_line(err).startswith("DATABASE_PATH")


def test_check_reports_the_clinic_migrations_and_article_problems(tmp_path, monkeypatch, capsys):
    cli_environment(tmp_path, monkeypatch)
    data = tmp_path / "data"
    assert main(["check"]) == 0
    out = capsys.readouterr().out
    assert "Albany Ketamine Infusions, 7 Wembley Ct., Albany, NY 12205" in out
    assert "pending migrations: 0001_closures.sql" in out  # a new database: nothing applied
    assert out.rstrip().endswith("ok")
    (data / "articles" / "broken.md").write_text("no front matter\n", encoding="utf-8")
    assert main(["check"]) == 1
    assert "article problem: broken.md" in capsys.readouterr().out


def test_backup_copies_the_live_database_and_refuses_to_overwrite(tmp_path, monkeypatch, capsys):
    db = cli_environment(tmp_path, monkeypatch)
    assert main(["backup"]) == 2  # no database yet
    assert "no database" in capsys.readouterr().err
    assert main(["closure", "add", "2026-12-25", "--reason", "Christmas Day"]) == 0
    capsys.readouterr()
    assert main(["backup"]) == 0
    out = capsys.readouterr().out
    [copy] = (tmp_path / "data" / "backups").glob("clinic-*.db")
    assert str(copy) in out and "integrity ok" in out
    with closing(sqlite3.connect(copy)) as conn:
        assert conn.execute("SELECT reason FROM closures").fetchall() == [("Christmas Day",)]
    target = tmp_path / "chosen.db"
    assert main(["backup", "--to", str(target)]) == 0
    assert main(["backup", "--to", str(target)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert db.exists()


def test_help_names_every_command(capsys):
    """`python -m webapp --help` is how a developer finds the commands: it lists them all."""
    from webapp.cli import main, parser

    commands = next(
        action for action in parser()._actions if isinstance(action, argparse._SubParsersAction)
    ).choices
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    # The description, between the usage lines and argparse's own list.
    shown = out.split("COMMAND [options].", 1)[1].split("positional arguments:", 1)[0]
    listed = {line.split()[0] for line in shown.splitlines() if line.startswith("  ")}
    assert set(commands) <= listed, set(commands) - listed
