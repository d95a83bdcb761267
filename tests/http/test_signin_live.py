"""The sign-in flood against the real server (uvicorn on 127.0.0.1, real TCP connections):
200 wrong passwords at once reach Argon2 at most 5 times, and the member of staff on their
own device signs in meanwhile. `tests/perf/signin_flood.py` measures the same with the
production Argon2 parameters and prints the figures."""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import closing

import httpx2
import uvicorn

from tests.helpers import EMAIL, PASSWORD
from webapp.app import create_app
from webapp.db import utc_now_iso

TOKEN = re.compile(r'name="token" value="([^"]+)"')


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@contextlib.contextmanager
def serving(app) -> Iterator[str]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server = _Server(uvicorn.Config(app, lifespan="on", log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


async def sign_in(client: httpx2.AsyncClient, password: str) -> httpx2.Response:
    page = await client.get("/staff/login")
    token = TOKEN.search(page.text).group(1)
    return await client.post(
        "/staff/login",
        data={"token": token, "next": "/staff", "email": EMAIL, "password": password},
    )


async def flood_with_honest_sign_in(url: str, device: str) -> tuple[list[int], int, float]:
    limits = httpx2.Limits(max_connections=250, max_keepalive_connections=250)
    async with (
        httpx2.AsyncClient(base_url=url, timeout=60, limits=limits) as attacker,
        httpx2.AsyncClient(base_url=url, timeout=60, cookies={"aki_device": device}) as own,
    ):
        pages = await asyncio.gather(*(attacker.get("/staff/login") for _ in range(200)))
        tokens = [TOKEN.search(p.text).group(1) for p in pages]
        ready = asyncio.Event()

        async def wrong(i: int) -> int:
            await ready.wait()
            response = await attacker.post(
                "/staff/login",
                data={"token": tokens[i], "email": EMAIL, "password": f"wrong-{i}"},
            )
            return response.status_code

        async def honest() -> tuple[int, float]:
            await ready.wait()
            await asyncio.sleep(0.05)  # inside the flood, not ahead of it
            started = time.monotonic()
            response = await sign_in(own, PASSWORD)
            return response.status_code, time.monotonic() - started

        tasks = [asyncio.create_task(wrong(i)) for i in range(200)]
        mine = asyncio.create_task(honest())
        ready.set()
        codes = await asyncio.gather(*tasks)
        status, seconds = await mine
    return codes, status, seconds


def add_account(settings, app) -> None:
    """Written straight into the running server's database (as the command line would)."""
    stamp = utc_now_iso(app.ctx.clock())
    with closing(sqlite3.connect(settings.database_path, timeout=5, isolation_level=None)) as db:
        db.execute(
            "INSERT INTO staff (email, password_hash, active, role, created_at, updated_at)"
            " VALUES (?, ?, 1, 'admin', ?, ?)",
            (EMAIL, app.ctx.hasher.hash_sync(PASSWORD), stamp, stamp),
        )


async def scenario(url: str) -> tuple[list[int], int, float]:
    async with httpx2.AsyncClient(base_url=url) as browser:
        first = await sign_in(browser, PASSWORD)
        assert first.status_code == 303
        device = first.cookies["aki_device"]
    return await flood_with_honest_sign_in(url, device)


def test_a_flood_against_the_real_server(settings, clock):
    app = create_app(settings, clock=clock)
    checks = Counter()
    real = app.ctx.hasher.verify

    async def verify(stored, password, *, trusted=False):
        checks["trusted" if trusted else "untrusted"] += 1
        return await real(stored, password, trusted=trusted)

    app.ctx.hasher.verify = verify
    with serving(app) as url:
        add_account(settings, app)
        codes, honest, seconds = asyncio.run(scenario(url))
    assert Counter(codes) == {400: 5, 429: 195}
    assert checks == {"untrusted": 5 + 1, "trusted": 1}  # + the first, honest sign-in
    assert honest == 303
    # Generous: the figure itself is measured by tests/perf/signin_flood.py.
    assert seconds < 10, f"the honest sign-in took {seconds:.2f} s during the flood"
