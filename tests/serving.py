"""The site as a real process for tests: `python -m webapp serve` on a free port, its log kept.

Also how to run it as an ordinary user, for permission tests (root ignores file modes): as
`nobody` through setpriv when that user can run this interpreter and read the project, else
as root without the capabilities that bypass file permissions (CAP_DAC_OVERRIDE,
CAP_DAC_READ_SEARCH, CAP_FOWNER), which makes file modes bind it like anyone else.
"""

from __future__ import annotations

import functools
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx2 as httpx
from starlette.datastructures import Secret

from tests.helpers import CLI_SECRET
from webapp.security import FormTokens
from webapp.settings import ROOT

NOBODY = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"]
NO_OVERRIDE = ["setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner", "--"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@functools.cache
def ordinary_user() -> tuple[list[str], int, int]:
    """(command prefix, uid, gid) under which file permissions apply to the server."""
    if os.geteuid() != 0:
        return [], os.geteuid(), os.getegid()
    if shutil.which("setpriv") is None:
        raise RuntimeError("permission tests run as root need setpriv (util-linux)")
    probe = [sys.executable, "-c", "import webapp.cli"]
    try:
        ok = subprocess.run([*NOBODY, *probe], cwd=ROOT, capture_output=True, timeout=60)
        if ok.returncode == 0:
            import pwd

            entry = pwd.getpwnam("nobody")
            return NOBODY, entry.pw_uid, entry.pw_gid
    except (OSError, KeyError, subprocess.TimeoutExpired):
        pass
    return NO_OVERRIDE, 0, 0


def aged_token(seconds: float = 10) -> str:
    """A consultation form token as a test server issues it, `seconds` old by the real clock
    (the server's clock), so a submission need not wait out the 2-second minimum."""
    tokens = FormTokens((Secret(CLI_SECRET),), "consultation-form", timedelta(hours=24))
    return tokens.issue(datetime.now(UTC) - timedelta(seconds=seconds))


def base_env(database: Path, **extra: str) -> dict[str, str]:
    """The environment of a test server: its own database, a fixed secret, the repo's data."""
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "HOME")}
    env.update(
        DATA_DIR=str(ROOT / "data"),
        DATABASE_PATH=str(database),
        BACKUP_DIR=str(database.parent / "backups"),
        SECRET_KEY=CLI_SECRET,
        PYTHONUNBUFFERED="1",
        PYTHONDONTWRITEBYTECODE="1",
    )
    env.update(extra)
    return env


class Site:
    """One server process (stopped only by its own id)."""

    def __init__(
        self,
        database: Path,
        log: Path,
        *,
        http: str = "h11",
        env: dict[str, str] | None = None,
        prefix: Sequence[str] = (),
        args: Sequence[str] = (),
    ) -> None:
        self.port = free_port()
        self.log_path = log
        self.env = base_env(database, **(env or {}))
        self.argv = [*prefix, sys.executable, "-m", "webapp", "serve", "--port", str(self.port),
                     "--http", http, *args]  # fmt: skip
        self.proc: subprocess.Popen[bytes] | None = None
        self._copier = threading.Thread()
        self.log_path.touch()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30, preexec_fn: Callable[[], None] | None = None) -> Site:
        """Start it and wait until it answers (any status) or exits.

        Its output goes through a pipe to the log file, so a limit on the files the server
        may write (RLIMIT_FSIZE) never cuts its log short.
        """
        self.proc = subprocess.Popen(  # noqa: S603 (our own fixed command line)
            self.argv,
            cwd=ROOT,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=preexec_fn,  # noqa: PLW1509 (a signal disposition, no threads)
        )
        self._copier = threading.Thread(target=self._copy, daemon=True)
        self._copier.start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self._copier.join(timeout=5)
                return self
            try:
                httpx.get(self.url + "/healthz", timeout=2)
                return self
            except httpx.TransportError:
                time.sleep(0.05)
        raise AssertionError(f"the site did not answer within {timeout} s:\n{self.log()}")

    def _copy(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        with self.log_path.open("ab", buffering=0) as log:
            for line in iter(self.proc.stdout.readline, b""):
                log.write(line)

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def wait_for_log(self, *texts: str, timeout: float = 10) -> str:
        """The log once it holds every one of `texts`: access lines are written at the event
        loop's next turn and reach the file through a pipe, after the answer they log."""
        deadline = time.monotonic() + timeout
        while True:
            log = self.log()
            if all(text in log for text in texts):
                return log
            assert time.monotonic() < deadline, f"not logged: {texts}\n{log}"
            time.sleep(0.02)

    def log_after_marker(self, base_url: str | None = None) -> str:
        """The log once every earlier request is in it: a request of its own (a 404 with a
        unique path) is answered after them, and its line follows theirs."""
        marker = f"/log-marker-{time.monotonic_ns()}"
        httpx.get((base_url or self.url) + marker, timeout=5, verify=False)
        return self.wait_for_log(marker)

    def signal(self, sig: int = signal.SIGTERM) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def wait(self, timeout: float) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout=timeout)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it is still there after 20 s; the log is complete after."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._copier.join(timeout=10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


# --- raw sockets against a running Site (framing, slow clients, shutdown) ---------------------


def connect(site: Site) -> socket.socket:
    """A raw connection to the running site, for what an HTTP client library would tidy up."""
    sock = socket.create_connection(("127.0.0.1", site.port), timeout=30)
    sock.settimeout(30)
    return sock


def read_all(
    sock: socket.socket,
    timeout: float,
    still_open: tuple[type[Exception], ...] = (TimeoutError,),
) -> tuple[bytes, bool]:
    """Everything the server sends within `timeout`; and whether it closed the connection.
    `still_open`: the errors that end the reading with the connection still up."""
    sock.settimeout(timeout)
    data = b""
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return data, True
            data += chunk
    except still_open:
        return data, False
    except ConnectionResetError:
        return data, True


def statuses(data: bytes) -> list[bytes]:
    """The status lines in what a raw connection received."""
    return [line for line in data.split(b"\r\n") if line.startswith(b"HTTP/1.1 ")]


def trickle(sock: socket.socket, stop: threading.Event) -> None:
    """Send a byte every half second until told to stop or the server closes."""
    while not stop.is_set():
        try:
            sock.send(b"a")
        except OSError:
            return
        stop.wait(0.5)
