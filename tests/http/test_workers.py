"""`serve --workers 2`: two uvicorn processes on one SQLite file, as real processes.

Which worker serves a connection is the kernel's choice; these tests find out from /proc
(the server-side socket of each connection, and the process holding it), so a request can
be sent to one worker and the next to the other on purpose.
"""

from __future__ import annotations

import asyncio
import functools
import http.client
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

import pytest

from tests.conftest import ET
from tests.helpers import EMAIL, PASSWORD, form
from tests.serving import Site, aged_token
from webapp import auth
from webapp.db import Database, migrate
from webapp.settings import ROOT

pytestmark = pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="needs Linux /proc")
WORKERS = 2
HTMX = {"HX-Request": "true", "Content-Type": "application/x-www-form-urlencoded"}
REFERENCE = re.compile(rb"AKI-[0-9A-Z]{5}")


OPEN: list[Conn] = []


@pytest.fixture(autouse=True)
def _close_connections():
    yield
    while OPEN:
        OPEN.pop().close()


class Conn:
    """One keep-alive HTTP connection to the site, and the worker process serving it."""

    def __init__(self, site: Site) -> None:
        self.site = site
        self.http = http.client.HTTPConnection("127.0.0.1", site.port, timeout=60)
        OPEN.append(self)
        self.request("GET", "/healthz")  # accepted by a worker once answered

    @functools.cached_property
    def pid(self) -> int:
        """The worker serving this connection (looked up when first asked: scanning /proc
        for each of 200 connections as it opens would outlast the server's keep-alive)."""
        return owner(self.site, self.http.sock.getsockname()[1])

    def request(
        self, method: str, path: str, body: str | None = None, headers: dict | None = None
    ) -> tuple[int, http.client.HTTPMessage, bytes]:
        self.http.request(method, path, body=body, headers=headers or {})
        response = self.http.getresponse()
        return response.status, response.headers, response.read()

    def close(self) -> None:
        self.http.close()


def _inode(port: int, client_port: int) -> str | None:
    """The inode of the server's socket for the connection from client_port."""
    local = f"0100007F:{port:04X}"
    remote = f"0100007F:{client_port:04X}"
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1] == local and fields[2] == remote:
            return fields[9]
    return None


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def owner(site: Site, client_port: int) -> int:
    """The process (a worker) that holds the server side of a connection."""
    inode = _inode(site.port, client_port)
    assert inode is not None, "connection not found in /proc/net/tcp"
    for pid in children(site.proc.pid):
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:  # a descriptor may close between the listing and the look
                if os.readlink(f"/proc/{pid}/fd/{fd}") == f"socket:[{inode}]":
                    return pid
            except OSError:
                continue
    raise AssertionError("no worker holds the connection")


def owners(site: Site, conns: list[Conn]) -> list[int]:
    """The worker holding each connection, from one reading of /proc (as `owner`)."""
    sockets: dict[str, int] = {}
    for pid in children(site.proc.pid):
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                sockets[os.readlink(f"/proc/{pid}/fd/{fd}")] = pid
            except OSError:
                continue
    table = {}
    local = f"0100007F:{site.port:04X}"
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1] == local:
            table[fields[2]] = fields[9]
    found = []
    for conn in conns:
        inode = table.get(f"0100007F:{conn.http.sock.getsockname()[1]:04X}")
        assert inode is not None, "connection not found in /proc/net/tcp"
        assert f"socket:[{inode}]" in sockets, "no worker holds the connection"
        found.append(sockets[f"socket:[{inode}]"])
    return found


def one_per_worker(site: Site, tries: int = 60) -> list[Conn]:
    """A connection to each worker (opening connections until each has one)."""
    found: dict[int, Conn] = {}
    spare = []
    for _ in range(tries):
        conn = Conn(site)
        if conn.pid in found:
            spare.append(conn)
        else:
            found[conn.pid] = conn
        if len(found) == WORKERS:
            break
    for conn in spare:
        conn.close()
    assert len(found) == WORKERS, f"only {len(found)} worker(s) took connections"
    return list(found.values())


@pytest.fixture
def database(tmp_path: Path) -> Path:
    path = tmp_path / "clinic.db"
    migrate(path)

    async def add_staff() -> None:
        db = Database(path)
        await db.open()
        try:
            hashed = auth.Hasher(fast=True).hash_sync(PASSWORD)
            await auth.create_staff(db, EMAIL, hashed, datetime.now(UTC))
        finally:
            await db.close()

    asyncio.run(add_staff())
    return path


@pytest.fixture
def site(database, tmp_path):
    running = Site(database, tmp_path / "site.log", http="httptools",
                   env={"CONSULTATION_RATE_LIMIT": "1000/60", "BACKUP_TIME": "off"},
                   args=("--workers", str(WORKERS))).start()  # fmt: skip
    deadline = time.monotonic() + 60
    while running.log().count("Application startup complete") < WORKERS:
        assert time.monotonic() < deadline, running.log()
        time.sleep(0.05)
    yield running
    running.stop()
    assert "Traceback" not in running.log(), running.log()


def rows(database: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(database) as conn:
        return conn.execute("SELECT reference, token_id FROM consultations").fetchall()


def test_two_workers_start_on_one_port_and_say_what_serves_them(site):
    log = site.log()
    assert "2 worker processes" in log
    assert "HTTP parser httptools" in log and "uvloop" in log
    workers = one_per_worker(site)
    assert len({conn.pid for conn in workers}) == WORKERS
    for conn in workers:
        status, _, body = conn.request("GET", "/healthz")
        assert status == 200 and b'"ok"' in body
    assert log.count("applied migration") == 0  # the parent had nothing to apply either


def test_200_submissions_at_once_across_both_workers_store_200_rows(site, database):
    conns = [Conn(site) for _ in range(200)]
    start = threading.Barrier(len(conns))
    answers: list[bytes] = [b""] * len(conns)

    def submit(index: int) -> None:
        body = urlencode(form(aged_token(), full_name=f"Visitor {index}"))
        start.wait()
        status, _, page = conns[index].request("POST", "/consultation", body, HTMX)
        assert status == 200, page[:300]
        answers[index] = REFERENCE.search(page).group()

    threads = [threading.Thread(target=submit, args=(i,)) for i in range(len(conns))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    served = Counter(owners(site, conns))  # all at once, within the server's keep-alive
    assert len(served) == WORKERS, served  # both workers held some of the connections
    for conn in conns:
        conn.close()
    stored = rows(database)
    assert len(stored) == 200
    assert sorted(ref for ref, _ in stored) == sorted(ref.decode() for ref in answers)


def test_one_token_sent_to_both_workers_at_once_stores_one_row(site, database):
    first, second = one_per_worker(site)
    more = [Conn(site) for _ in range(18)]
    conns = [first, second, *more]
    body = urlencode(form(aged_token()))
    start = threading.Barrier(len(conns))
    answers: list[bytes] = []

    def submit(conn: Conn) -> None:
        start.wait()
        status, _, page = conn.request("POST", "/consultation", body, HTMX)
        assert status == 200
        answers.append(REFERENCE.search(page).group())

    threads = [threading.Thread(target=submit, args=(conn,)) for conn in conns]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(answers) == len(conns)
    assert len(set(answers)) == 1  # every sender sees the one stored request
    assert len(rows(database)) == 1


def sign_in(conn: Conn) -> str:
    status, _, page = conn.request("GET", "/staff/login")
    token = re.search(rb'name="token" value="([^"]+)"', page).group(1).decode()
    fields = urlencode({"token": token, "email": EMAIL, "password": PASSWORD})
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    status, head, _ = conn.request("POST", "/staff/login", fields, headers)
    assert status == 303
    cookie = next(c for c in head.get_all("set-cookie") if c.startswith("aki_staff="))
    return cookie.split(";", 1)[0]


def banner(page: bytes) -> str:
    found = re.search(rb'<strong class="open-status__headline">([^<]*)</strong>', page)
    return found.group(1).decode()


def test_a_session_and_a_closure_made_on_one_worker_hold_on_the_other(site):
    first, second = one_per_worker(site)
    cookie = sign_in(first)
    for conn in (first, second):  # the session is in the database: both workers know it
        status, _, page = conn.request("GET", "/staff/hours", headers={"Cookie": cookie})
        assert status == 200, page[:300]
        assert f'Sign out <span class="muted">({EMAIL})'.encode() in page
    _, _, page = second.request("GET", "/clinic")
    assert not banner(page).startswith("Closed today")  # cached on the second worker
    csrf = re.search(rb'name="csrf" value="([^"]+)"', page_of(first, cookie)).group(1).decode()
    today = datetime.now(UTC).astimezone(ET).date().isoformat()
    fields = urlencode({"csrf": csrf, "day": today, "reason": "Staff training", "kind": "closed"})
    headers = {"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"}
    status, _, _ = first.request("POST", "/staff/hours", fields, headers)
    made = time.monotonic()
    assert status == 303
    # The other worker re-reads closures at least once a second: a second later, it shows.
    time.sleep(max(0.0, made + 1.0 - time.monotonic()))
    for path in ("/clinic", "/", "/open-status"):
        _, _, page = second.request("GET", path)
        assert banner(page) == "Closed today for Staff training", path


def page_of(conn: Conn, cookie: str) -> bytes:
    return conn.request("GET", "/staff/hours", headers={"Cookie": cookie})[2]


def test_sigterm_stops_the_parent_and_every_worker(site):
    helpers = children(site.proc.pid)
    workers = [pid for pid in helpers if b"resource_tracker" not in _cmdline(pid)]
    assert len(workers) == WORKERS
    started = time.monotonic()
    site.signal(signal.SIGTERM)
    site.wait(timeout=15)
    assert time.monotonic() - started < 15
    assert not [pid for pid in workers if _alive(pid)]  # the parent waited for each worker
    # multiprocessing's resource tracker follows its parent out.
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in helpers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [pid for pid in helpers if _alive(pid)]


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _alive(pid: int) -> bool:
    try:
        return " Z " not in Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False


def test_restore_is_refused_while_the_workers_run(site, database, tmp_path):
    backup = tmp_path / "copy.db"
    made = cli(site.env, "backup", "--to", str(backup))
    assert made.returncode == 0, made.stderr
    refused = cli(site.env, "restore", str(backup))
    assert refused.returncode == 2
    assert "is using" in refused.stderr and "stop it first" in refused.stderr


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 (our own command)
        [sys.executable, "-m", "webapp", *args], env=env, cwd=ROOT, capture_output=True,
        text=True, timeout=60, check=False,
    )  # fmt: skip
