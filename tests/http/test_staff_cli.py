"""Staff accounts from the command line, in-process, and what the running site makes of them."""

from __future__ import annotations

import io
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import pytest
from starlette.testclient import TestClient

import webapp.auth
from tests.conftest import make_settings
from tests.helpers import EMAIL, PASSWORD, cli_environment, is_signed_in, login
from webapp.app import create_app
from webapp.cli import main

NEW_PASSWORD = "granite-meadow-lantern-77"
ADMIN = "admin@example.org"
RealHasher = webapp.auth.Hasher


@pytest.fixture
def db_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A clean environment for main(): a copy of data/, a tmp database, a fixed secret."""
    return cli_environment(tmp_path, monkeypatch)


@pytest.fixture
def fast_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI's Hasher with the test parameters (the production ones take ~150 ms a hash)."""
    monkeypatch.setattr(webapp.auth, "Hasher", lambda fast=False: RealHasher(fast=True))


def run(capsys, monkeypatch, *argv: str, stdin: str | None = None) -> tuple[int, str, str]:
    if stdin is not None:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def staff_rows(path: Path) -> list[tuple]:
    """(email, active) per account; [] when the CLI stopped before creating the database."""
    if not path.exists():
        return []
    with closing(sqlite3.connect(path)) as conn:
        return conn.execute("SELECT email, active FROM staff ORDER BY id").fetchall()


@contextmanager
def site(path: Path, tmp_path: Path, clock) -> Iterator[TestClient]:
    """The web app on the CLI's database."""
    app = create_app(make_settings(tmp_path, database_path=path), clock=clock)
    with TestClient(app) as client:
        yield client


def sign_in(client: TestClient, email: str = EMAIL, password: str = PASSWORD):
    """Sign in afresh (the jar emptied first); the raw response."""
    client.cookies.clear()
    return login(client, email, password)


# --- create-staff ------------------------------------------------------------------------------


def test_create_staff_with_production_hashing(db_path, capsys, monkeypatch, tmp_path, clock):
    code, out, err = run(
        capsys, monkeypatch, "create-staff", EMAIL, "--password-stdin", stdin=PASSWORD + "\n"
    )
    assert (code, out, err) == (0, f"created {EMAIL} (admin)\n", "")  # the first account
    with closing(sqlite3.connect(db_path)) as conn:
        [(email, stored, active)] = conn.execute(
            "SELECT email, password_hash, active FROM staff"
        ).fetchall()
    assert (email, active) == (EMAIL, 1)
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert PASSWORD not in stored
    with site(db_path, tmp_path, clock) as client:
        assert sign_in(client).status_code == 303


def test_create_staff_reads_one_line_and_strips_the_line_end(
    db_path, capsys, monkeypatch, fast_hashing, tmp_path, clock
):
    stdin = PASSWORD + "\r\nsecond line is ignored\n"
    assert run(capsys, monkeypatch, "create-staff", EMAIL, "--password-stdin", stdin=stdin)[0] == 0
    with site(db_path, tmp_path, clock) as client:
        assert sign_in(client).status_code == 303


def test_create_staff_with_the_prompt(db_path, capsys, monkeypatch, fast_hashing):
    answers = iter([PASSWORD, PASSWORD])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    assert run(capsys, monkeypatch, "create-staff", EMAIL) == (0, f"created {EMAIL} (admin)\n", "")


def test_prompted_passwords_must_match(db_path, capsys, monkeypatch, fast_hashing):
    answers = iter([PASSWORD, PASSWORD + "x"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    assert run(capsys, monkeypatch, "create-staff", EMAIL) == (
        2,
        "",
        "error: the two passwords differ\n",
    )
    assert staff_rows(db_path) == []


@pytest.mark.parametrize("other", [EMAIL, EMAIL.upper(), "Nurse@Example.org"])
def test_a_duplicate_account_is_refused(db_path, capsys, monkeypatch, fast_hashing, other):
    run(capsys, monkeypatch, "create-staff", EMAIL, "--password-stdin", stdin=PASSWORD)
    code, out, err = run(
        capsys, monkeypatch, "create-staff", other, "--password-stdin", stdin=NEW_PASSWORD
    )
    assert (code, out) == (2, "")
    assert err == f"error: an account for {other} already exists\n"
    assert staff_rows(db_path) == [(EMAIL, 1)]


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("short-pw", "Use at least 12 characters."),
        ("", "Use at least 12 characters."),
        ("password1234", "Choose a less common password. This is a very common password."),
        ("nurse@example.org", "Choose a less common password."),
        ("nurse12345678", "Choose a less common password."),
        ("x" * 257, "Use at most 256 characters."),
    ],
)
def test_a_weak_password_is_refused_with_the_reason(
    db_path, capsys, monkeypatch, fast_hashing, password, message
):
    code, out, err = run(
        capsys, monkeypatch, "create-staff", EMAIL, "--password-stdin", stdin=password + "\n"
    )
    assert (code, out) == (2, "")
    assert err.startswith("error: " + message)
    assert err.count("\n") == 1 and "Traceback" not in err
    if password:
        assert password not in err
    assert staff_rows(db_path) == []


def test_a_long_passphrase_is_accepted(db_path, capsys, monkeypatch, fast_hashing):
    passphrase = "maple quarry lantern orbit " * 3  # 81 characters
    code, out, err = run(
        capsys, monkeypatch, "create-staff", EMAIL, "--password-stdin", stdin=passphrase + "\n"
    )
    assert (code, out, err) == (0, f"created {EMAIL} (admin)\n", "")


@pytest.mark.parametrize("command", ["create-staff", "set-password", "disable-staff",
                                     "enable-staff"])  # fmt: skip
@pytest.mark.parametrize("email", ["not-an-email", "nurse@", "@example.org", "a b@example.org"])
def test_a_bad_email_is_refused(db_path, capsys, monkeypatch, fast_hashing, command, email):
    extra = ["--password-stdin"] if command in ("create-staff", "set-password") else []
    code, out, err = run(capsys, monkeypatch, command, email, *extra, stdin=PASSWORD + "\n")
    assert (code, out) == (2, "")
    assert err == f"error: {email!r} is not an email address\n"
    assert staff_rows(db_path) == []


# --- set-password, disable-staff, enable-staff ----------------------------------------------------


def test_set_password_ends_the_accounts_sessions(
    db_path, capsys, monkeypatch, fast_hashing, tmp_path, clock
):
    run(capsys, monkeypatch, "create-staff", EMAIL, "--password-stdin", stdin=PASSWORD)
    run(capsys, monkeypatch, "create-staff", "doctor@example.org", "--password-stdin",
        stdin=NEW_PASSWORD)  # fmt: skip
    with site(db_path, tmp_path, clock) as client:
        cookie = sign_in(client).cookies["aki_staff"]
        other = sign_in(client, "doctor@example.org", NEW_PASSWORD).cookies["aki_staff"]
        assert is_signed_in(client, cookie)
        code, out, err = run(
            capsys, monkeypatch, "set-password", EMAIL, "--password-stdin", stdin=NEW_PASSWORD
        )
        assert (code, out, err) == (
            0,
            f"new password set for {EMAIL}; its sessions have ended\n",
            "",
        )
        assert not is_signed_in(client, cookie)
        assert is_signed_in(client, other)  # someone else's session is untouched
        assert sign_in(client, EMAIL, PASSWORD).status_code == 400
        assert sign_in(client, EMAIL, NEW_PASSWORD).status_code == 303


def test_set_password_checks_the_new_password(db_path, capsys, monkeypatch, fast_hashing):
    run(capsys, monkeypatch, "create-staff", EMAIL, "--password-stdin", stdin=PASSWORD)
    with closing(sqlite3.connect(db_path)) as conn:
        before = conn.execute("SELECT password_hash FROM staff").fetchone()
    code, _, err = run(
        capsys, monkeypatch, "set-password", EMAIL, "--password-stdin", stdin="password1234"
    )
    assert code == 2 and err.startswith("error: Choose a less common password.")
    with closing(sqlite3.connect(db_path)) as conn:
        assert conn.execute("SELECT password_hash FROM staff").fetchone() == before


def test_set_password_for_an_unknown_account(db_path, capsys, monkeypatch, fast_hashing):
    code, out, err = run(
        capsys, monkeypatch, "set-password", EMAIL, "--password-stdin", stdin=PASSWORD
    )
    assert (code, out, err) == (1, f"no account {EMAIL}\n", "")


def test_disable_and_enable(db_path, capsys, monkeypatch, fast_hashing, tmp_path, clock):
    run(capsys, monkeypatch, "create-staff", ADMIN, "--password-stdin", stdin=PASSWORD)
    run(capsys, monkeypatch, "create-staff", EMAIL, "--password-stdin", stdin=PASSWORD)
    with site(db_path, tmp_path, clock) as client:
        cookie = sign_in(client).cookies["aki_staff"]
        assert run(capsys, monkeypatch, "disable-staff", EMAIL) == (
            0,
            f"disabled {EMAIL}; its sessions have ended\n",
            "",
        )
        assert staff_rows(db_path) == [(ADMIN, 1), (EMAIL, 0)]
        assert not is_signed_in(client, cookie)
        assert sign_in(client).status_code == 400
        assert run(capsys, monkeypatch, "enable-staff", EMAIL) == (0, f"enabled {EMAIL}\n", "")
        assert staff_rows(db_path) == [(ADMIN, 1), (EMAIL, 1)]
        assert not is_signed_in(client, cookie)  # an ended session stays ended
        assert sign_in(client).status_code == 303


@pytest.mark.parametrize("command", ["disable-staff", "enable-staff"])
def test_disable_or_enable_an_unknown_account(db_path, capsys, monkeypatch, command):
    assert run(capsys, monkeypatch, command, EMAIL) == (1, f"no account {EMAIL}\n", "")


# --- list-staff --------------------------------------------------------------------------------


def test_list_staff(db_path, capsys, monkeypatch, fast_hashing):
    assert run(capsys, monkeypatch, "list-staff") == (
        0,
        "no staff accounts yet: python -m webapp create-staff EMAIL\n",
        "",
    )
    for email in ("zoe@example.org", "amy@example.org", EMAIL):
        run(capsys, monkeypatch, "create-staff", email, "--password-stdin", stdin=PASSWORD)
    run(capsys, monkeypatch, "disable-staff", "amy@example.org")
    code, out, err = run(capsys, monkeypatch, "list-staff")
    assert (code, err) == (0, "")
    assert out == (
        "amy@example.org  staff  disabled  two-factor off\n"
        "nurse@example.org  staff  active  two-factor off\n"
        "zoe@example.org  admin  active  two-factor off\n"
    )
    assert PASSWORD not in out and "argon2" not in out


def test_the_password_is_never_printed(db_path, capsys, monkeypatch, fast_hashing):
    outputs = []
    for argv, stdin in [
        (("create-staff", EMAIL, "--password-stdin"), PASSWORD),
        (("set-password", EMAIL, "--password-stdin"), NEW_PASSWORD),
        (("list-staff",), None),
    ]:
        outputs.append(run(capsys, monkeypatch, *argv, stdin=stdin))
    for _, out, err in outputs:
        assert PASSWORD not in out + err and NEW_PASSWORD not in out + err
