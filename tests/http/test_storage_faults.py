"""Faults of the storage with real files: a full disk, read-only files, an unusable database.

What must hold: /healthz tells the truth (503 with the reason), visitors get the form back
with what they typed and a "not sent" message (never a bare 500), the log gets one line per
incident (no traceback per request), and the site heals by itself once the cause is fixed.
The full disk is a 3 MB tmpfs (mounting needs root; where it cannot be mounted, a file-size
limit on the real server process stands in for it). Read-only files are tested on the real
server run as an ordinary user (tests/serving.py), since file modes do not bind root.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import resource
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import httpx2
import pytest
from starlette.testclient import TestClient

from tests.conftest import make_settings
from tests.helpers import HX, count, form, new_token, token_in, words
from tests.serving import Site, aged_token, base_env, ordinary_user
from webapp.app import create_app
from webapp.db import migrate
from webapp.settings import ROOT

NOT_SENT = "Your request was not sent: the site cannot save anything just now."
NAME = "Ada Lovelace"  # helpers.VALID's name: it must come back in the form


def fill(folder: Path) -> Path:
    """Fill the file system holding `folder` to the last byte; the filler file."""
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (1 << 20, 1 << 16, 1 << 12, 1 << 9, 1):
            block = b"\0" * size
            while True:
                try:
                    if os.write(fd, block) < size:
                        break
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    break
    finally:
        os.close(fd)
    return filler


@pytest.fixture
def small_disk(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Path]:
    """A 3 MB tmpfs of the test's own (root only); indirect parametrisation may ask for
    another size."""
    folder = tmp_path / "disk"
    folder.mkdir()
    size = getattr(request, "param", "3m")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(
            "cannot mount a tmpfs here (needs root); the file-size-limit test below stands in: "
            + mounted.stderr.strip()
        )
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def fault_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "webapp.db"]


def post_form(client: TestClient, clock, **headers: str):
    return client.post("/consultation", data=form(new_token(client, clock)), headers=headers,
                       follow_redirects=False)  # fmt: skip


def assert_not_sent(response, *, htmx: bool = False) -> None:
    """The visitor's answer to a request that could not be stored: the form, kept."""
    assert response.status_code == 503
    assert response.headers["retry-after"] == "60"
    assert response.headers["cache-control"] == "no-store"
    if htmx:
        # htmx does not swap a 5xx (base.html's htmx-config): the page keeps the form and
        # static/js/site.js says it was not sent. The fragment is the form all the same.
        assert response.text.lstrip().startswith("<form") or "<form" in response.text[:400]
    assert NOT_SENT in words(response.text)
    assert f'value="{NAME}"' in response.text
    token_in(response.text)  # a fresh token: pressing Send again works


# --- a full disk ------------------------------------------------------------------------------


def test_a_full_disk_is_reported_answered_and_healed(small_disk, clock, caplog):
    caplog.set_level(logging.INFO)
    settings = make_settings(small_disk, database_path=small_disk / "clinic.db")
    app = create_app(settings, clock=clock)
    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.get("/healthz").json() == {"status": "ok", "database": "ok"}
        assert post_form(client, clock).status_code == 303
        filler = fill(small_disk)

        clock.advance(seconds=5)  # the health check is cached for 5 s of the app's clock
        health = client.get("/healthz")
        assert health.status_code == 503
        assert health.json() == {
            "status": "error",
            "database": "disk full",
            "reason": "the disk that holds the database is full",
        }
        assert client.get("/").status_code == 200  # pages that only read still work
        for _ in range(3):
            assert_not_sent(post_form(client, clock))
        assert_not_sent(post_form(client, clock, **HX), htmx=True)

        # One line for the incident, no traceback, nothing from the 500 handler.
        lines = fault_lines(caplog)
        assert len(lines) == 1 and lines[0].startswith("database fault (disk full)"), lines
        assert all(r.exc_info is None for r in caplog.records)
        assert not any("unhandled error" in r.getMessage() for r in caplog.records)

        filler.unlink()
        clock.advance(seconds=5)
        assert client.get("/healthz").json() == {"status": "ok", "database": "ok"}
        assert post_form(client, clock).status_code == 303
        lines = fault_lines(caplog)
        assert len(lines) == 2 and lines[1].startswith("database fault over (disk full)"), lines
    assert count(settings) == 2  # before and after; none of the refused ones half-stored


def test_health_is_cached_by_the_app_clock(small_disk, clock):
    settings = make_settings(small_disk, database_path=small_disk / "clinic.db")
    with TestClient(create_app(settings, clock=clock)) as client:
        assert client.get("/healthz").status_code == 200
        filler = fill(small_disk)
        clock.advance(seconds=4)
        assert client.get("/healthz").status_code == 200  # still the cached answer
        clock.advance(seconds=1)
        assert client.get("/healthz").status_code == 503
        filler.unlink()
        assert client.get("/healthz").status_code == 503
        clock.advance(seconds=5)
        assert client.get("/healthz").status_code == 200


def test_a_full_disk_at_start_up_stops_it_with_one_line(small_disk, tmp_path):
    """SQLite cannot even read a WAL database without room for its -shm file: the site stops
    with one line (systemd starts it again), and starts once there is room."""
    database = small_disk / "clinic.db"
    migrate(database)
    filler = fill(small_disk)
    done = subprocess.run(
        [sys.executable, "-m", "webapp", "serve", "--port", "9"],
        cwd=ROOT, env=base_env(database), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr == (
        f"error: cannot use the database {database}: the disk is full (0 bytes free in "
        f"{small_disk})\n"
    )
    filler.unlink()
    site = Site(database, tmp_path / "site.log").start()
    try:
        assert httpx2.get(site.url + "/healthz").json() == {"status": "ok", "database": "ok"}
    finally:
        site.stop()
    assert "Traceback" not in site.log()


def test_writes_refused_by_a_file_size_limit_answer_and_heal(tmp_path):
    """Where no tmpfs can be mounted: the real server under RLIMIT_FSIZE (any user can set
    it on its own child, and lift it again with prlimit) fails its writes like a full disk."""
    database = tmp_path / "clinic.db"
    migrate(database)

    def no_sigxfsz() -> None:  # a write past the limit fails (EFBIG) instead of killing
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)

    site = Site(database, tmp_path / "site.log").start(preexec_fn=no_sigxfsz)
    try:
        with httpx2.Client(base_url=site.url, follow_redirects=False) as client:
            assert submit(client).status_code == 303
            _, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
            resource.prlimit(site.proc.pid, resource.RLIMIT_FSIZE, (1, hard))
            for _ in range(3):
                assert_not_sent(submit(client))
            assert wait_for_health(site, 503)["database"] == "I/O error"
            resource.prlimit(site.proc.pid, resource.RLIMIT_FSIZE, (hard, hard))
            wait_for_health(site, 200)
            assert submit(client).status_code == 303
    finally:
        site.stop()
    log = site.log()
    assert log.count("database fault (I/O error)") == 1, log
    assert log.count("database fault over (I/O error)") == 1, log
    assert "Traceback" not in log
    with closing(sqlite3.connect(database)) as conn:
        assert conn.execute("SELECT count(*) FROM consultations").fetchone() == (2,)


# --- helpers for the real server ---------------------------------------------------------------


def wait_for_health(site: Site, status: int, timeout: float = 15) -> dict[str, str]:
    """Poll /healthz (cached 5 s by the server) until it answers `status`."""
    deadline = time.monotonic() + timeout
    while True:
        answer = httpx2.get(site.url + "/healthz", timeout=10)
        if answer.status_code == status:
            return answer.json()
        assert time.monotonic() < deadline, f"/healthz stayed {answer.status_code}: {site.log()}"
        time.sleep(0.2)


def submit(client: httpx2.Client):
    """A no-JS submission to the real server, with a token old enough by its (real) clock."""
    return client.post("/consultation", data=form(aged_token()))


# --- read-only files, as an ordinary user --------------------------------------------------------


@pytest.fixture
def open_folder() -> Iterator[Path]:
    """A temporary folder an ordinary user can reach (pytest's own is private to root)."""
    folder = Path(tempfile.mkdtemp(prefix="webapp-faults-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        for path in folder.rglob("*"):
            path.chmod(0o755 if path.is_dir() else 0o644)
        subprocess.run(["rm", "-rf", str(folder)], check=False)


def own(path: Path, uid: int, gid: int) -> None:
    os.chown(path, uid, gid)


def test_read_only_files_serve_pages_and_heal_when_fixed(open_folder, tmp_path):
    prefix, uid, gid = ordinary_user()
    folder = open_folder / "db"
    folder.mkdir()
    database = folder / "clinic.db"
    migrate(database)
    for path in (folder, database):
        own(path, uid, gid)
    database.chmod(0o444)  # the folder stays writable: SQLite can make its -wal and -shm

    site = Site(database, tmp_path / "site.log", prefix=prefix).start()
    try:
        assert site.proc.poll() is None, site.log()
        assert httpx2.get(site.url + "/").status_code == 200
        health = httpx2.get(site.url + "/healthz")
        assert health.status_code == 503
        assert health.json() == {
            "status": "error",
            "database": "read-only",
            "reason": "the database cannot be written: its file or folder is read-only",
        }
        with httpx2.Client(base_url=site.url, follow_redirects=False) as client:
            for _ in range(2):
                assert_not_sent(submit(client))
            for name in ("clinic.db", "clinic.db-wal", "clinic.db-shm"):
                if (folder / name).exists():
                    (folder / name).chmod(0o644)
            # No restart: the next write connects afresh and works.
            assert submit(client).status_code == 303
        wait_for_health(site, 200)
    finally:
        site.stop()
    log = site.log()
    faults = [line for line in log.splitlines() if "database fault (" in line]
    assert len(faults) == 1, log
    assert str(database) in faults[0] and "read-only for this user" in faults[0]
    assert log.count("database fault over (read-only)") == 1, log
    assert "Traceback" not in log
    with closing(sqlite3.connect(database)) as conn:
        assert conn.execute("SELECT count(*) FROM consultations").fetchone() == (1,)


def test_a_database_that_cannot_be_opened_stops_start_up_with_one_line(open_folder):
    prefix, uid, gid = ordinary_user()
    folder = open_folder / "db"
    folder.mkdir()
    database = folder / "clinic.db"
    migrate(database)  # closed cleanly: no -wal or -shm left
    for path in (folder, database):
        own(path, uid, gid)
    database.chmod(0o444)
    folder.chmod(0o555)  # and SQLite cannot create its -wal and -shm: nothing can be read
    done = subprocess.run(
        [*prefix, sys.executable, "-m", "webapp", "serve", "--port", "9"],
        cwd=ROOT, env=base_env(database), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.startswith(f"error: cannot use the database {database}: the folder ")
    assert "is read-only for this user" in done.stderr
    assert "clinic.db-wal, clinic.db-shm" in done.stderr


def test_a_file_that_is_no_database_stops_start_up_with_one_line(tmp_path):
    database = tmp_path / "clinic.db"
    database.write_bytes(b"these are not the bytes of a database\n" * 200)
    done = subprocess.run(
        [sys.executable, "-m", "webapp", "serve", "--port", "9"],
        cwd=ROOT, env=base_env(database), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr == f"error: cannot use the database {database}: file is not a database\n"


# --- many at once -------------------------------------------------------------------------------


async def post_many(url: str, count: int) -> list[int]:
    """`count` no-JS submissions at once, each with a token of its own."""
    async with httpx2.AsyncClient(base_url=url, timeout=60, follow_redirects=False) as client:
        bodies = [form(aged_token()) for _ in range(count)]
        answers = await asyncio.gather(*(client.post("/consultation", data=b) for b in bodies))
    for answer in answers:
        if answer.status_code == 503:
            assert NOT_SENT in words(answer.text) and f'value="{NAME}"' in answer.text
    return [answer.status_code for answer in answers]


@pytest.mark.parametrize("small_disk", ["24m"], indirect=True)  # room for 100 requests' WAL
def test_a_hundred_at_once_on_a_full_disk_then_after_it(small_disk, tmp_path):
    database = small_disk / "clinic.db"
    migrate(database)
    site = Site(database, tmp_path / "site.log", env={"CONSULTATION_RATE_LIMIT": "1000/600"})
    site.start()
    try:
        filler = fill(small_disk)
        assert asyncio.run(post_many(site.url, 100)) == [503] * 100
        filler.unlink()
        assert asyncio.run(post_many(site.url, 100)) == [303] * 100
    finally:
        site.stop()
    log = site.log()
    assert log.count("database fault (disk full)") == 1, log
    assert log.count("database fault over (disk full)") == 1, log
    assert "Traceback" not in log and "Exception" not in log
    with closing(sqlite3.connect(database)) as conn:
        assert conn.execute("SELECT count(*) FROM consultations").fetchone() == (100,)


def test_health_checks_at_once_make_one_probe(client, settings):
    def beats() -> int:
        with closing(sqlite3.connect(settings.database_path)) as conn:
            return conn.execute("PRAGMA user_version").fetchone()[0]

    before = beats()

    async def many() -> list[int]:
        transport = httpx2.ASGITransport(app=client.app)
        async with httpx2.AsyncClient(transport=transport, base_url="http://testserver") as c:
            answers = await asyncio.gather(*(c.get("/healthz") for _ in range(50)))
        return [a.status_code for a in answers]

    assert client.portal.call(many) == [200] * 50
    assert beats() == before + 1


def test_a_database_locked_too_long_by_another_process_is_reported(client, settings, clock):
    """Another process holding the write lock past the busy timeout (5 s of real time:
    SQLite's own wait) makes /healthz say so; once it lets go, the site is healthy again."""
    holder = sqlite3.connect(settings.database_path, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        health = client.get("/healthz")
        assert health.status_code == 503
        assert health.json()["database"] == "locked"
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    clock.advance(seconds=5)
    assert client.get("/healthz").json() == {"status": "ok", "database": "ok"}


def test_staff_can_still_read_while_nothing_can_be_written(client, clock, monkeypatch):
    """Loading a session writes only housekeeping (its last-seen time): during a storage
    fault the request list still opens, and writing the touch waits for the next write."""
    from tests.helpers import add_request, add_staff, login
    from webapp.storage import StorageUnavailable

    add_staff(client)
    add_request(client, "Ann Example")
    assert login(client).status_code == 303
    clock.advance(minutes=5)  # past the once-a-minute touch

    async def refused(work):
        raise StorageUnavailable("read-only", "test: the database is read-only")

    monkeypatch.setattr(client.app.ctx.db, "write", refused)
    page = client.get("/staff", follow_redirects=False)
    assert page.status_code == 200
    assert "Ann Example" in page.text
