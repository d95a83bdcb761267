"""The access lines of `serve --workers 2`, as the real processes write them: for pages
answered on the short path (a cached page, webapp/fastpath.py) and by the full stack alike,
no client address unless LOG_CLIENT_ADDRESS=true, never a query string, a request reference
or what a visitor typed; whole lines, whichever worker wrote them."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlencode

import pytest

from tests.helpers import form
from tests.http.test_workers import HTMX, REFERENCE, WORKERS, one_per_worker
from tests.serving import Site, aged_token
from webapp.db import migrate

pytestmark = pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="needs Linux /proc")
NAME, EMAIL = "Wendeline Accesslogger", "wendeline@accesslogger.example"
ACCESS = re.compile(
    r'^INFO:     (?P<who>\S+) - "(?P<method>[A-Z]+) (?P<path>\S*) HTTP/1\.1" \d{3} '
)
# Each worker: a page three times (built by the full stack, then twice from its page cache),
# a page with a query (full stack), a reference in a path, a query hidden in a path, a search.
PATHS = ["/", "/", "/", "/privacy?q=Accesslogger", "/staff/requests/AKI-7F3K2",
         "/x%3Femail=wendeline@accesslogger.example", "/staff?q=Wendeline"]  # fmt: skip


@pytest.fixture
def database(tmp_path: Path) -> Path:
    path = tmp_path / "clinic.db"
    migrate(path)
    return path


def traffic(database: Path, tmp_path: Path, log_client_address: str) -> tuple[str, list[int]]:
    """The whole log, and the client port of each worker's connection."""
    site = Site(database, tmp_path / f"site-{log_client_address}.log", http="httptools",
                env={"BACKUP_TIME": "off", "LOG_CLIENT_ADDRESS": log_client_address},
                args=("--workers", str(WORKERS))).start()  # fmt: skip
    workers, ports = [], []
    try:
        workers = one_per_worker(site)
        ports = [conn.http.sock.getsockname()[1] for conn in workers]
        for conn in workers:
            for path in PATHS:
                assert conn.request("GET", path)[0] in (200, 303, 404)
            body = urlencode(form(aged_token(), full_name=NAME, email=EMAIL))
            status, _, page = conn.request("POST", "/consultation", body, HTMX)
            assert status == 200 and REFERENCE.search(page)
    finally:
        for conn in workers:
            conn.close()
        site.stop()
    return site.log(), ports


def access_lines(log: str) -> list[re.Match[str]]:
    lines = [line for line in log.splitlines() if "HTTP/1.1" in line]
    found = [ACCESS.match(line) for line in lines]
    assert all(found), [line for line, m in zip(lines, found, strict=True) if m is None]
    return [m for m in found if m is not None]


def nothing_personal(log: str) -> None:
    assert REFERENCE.search(log.encode()) is None
    for typed in (NAME, EMAIL, "Accesslogger", "Wendeline", "q="):
        assert typed.lower() not in log.lower(), typed


def test_without_the_setting_no_worker_logs_an_address(database, tmp_path):
    log, _ = traffic(database, tmp_path, "false")
    lines = access_lines(log)
    assert len([m for m in lines if m["path"] == "/"]) == 3 * WORKERS  # short path lines too
    assert {m["who"] for m in lines} == {"-"}
    assert "127.0.0.1:" not in log.replace("running on http://127.0.0.1:", "")
    nothing_personal(log)


def test_with_the_setting_every_line_of_both_paths_has_the_address(database, tmp_path):
    log, ports = traffic(database, tmp_path, "true")
    lines = access_lines(log)
    for port in ports:  # each worker's own lines, by its connection's port
        mine = [m["path"] for m in lines if m["who"] == f"127.0.0.1:{port}"]
        assert mine.count("/") == 3, mine  # the full stack's line and the short path's two
        assert "/staff/requests/AKI-?????" in mine and "/privacy" in mine and "/x" in mine
    nothing_personal(log)
