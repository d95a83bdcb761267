"""Sign-in under a flood, measured: `make bench-signin`.

Starts the site as shipped (`python -m webapp serve`, production Argon2id parameters, a
temporary database, FORWARDED_ALLOW_IPS=127.0.0.1 so the harness can play many addresses
with X-Forwarded-For), makes accounts with `create-staff --password-stdin`, lets each member
of staff sign in once (their browser keeps its device cookie), then times that person's
sign-in while 200 wrong-password requests arrive at once:

  A. one account, from one address (a targeted guess), a new account and address each round;
  B. 200 addresses each trying an unknown name (a botnet spraying).

Prints the time from the honest sign-in form being sent to its answer (median and worst over
the rounds; the page was loaded before the flood), without a flood for comparison, and how
many flood requests reached Argon2 (answered 400; the rest got 429).
Everything runs on 127.0.0.1 and is stopped at the end (by process id). ROUNDS=5 by default.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx2

ROOT = Path(__file__).resolve().parent.parent.parent
HOST = "127.0.0.1"
TOKEN = re.compile(r'name="token" value="([^"]+)"')
PASSWORD = "copper-lantern-meadow-58"
FLOOD = 200
APP_VARS = ("DATABASE_PATH", "SECRET_KEY", "HTTPS_ONLY", "ALLOWED_HOSTS", "FORWARDED_ALLOW_IPS",
            "BASE_URL", "DATA_DIR", "CONSULTATION_RATE_LIMIT", "DEBUG", "STAFF_MFA")  # fmt: skip


def log(message: str) -> None:
    print(f"signin-flood: {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def environment(folder: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in APP_VARS}
    env.update(
        DATABASE_PATH=str(folder / "clinic.db"),
        SECRET_KEY=secrets.token_urlsafe(48),
        FORWARDED_ALLOW_IPS=HOST,
    )
    return env


def create_staff(env: dict[str, str], email: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "webapp", "create-staff", email, "--password-stdin"],
        input=PASSWORD + "\n", text=True, env=env, cwd=ROOT, check=True, capture_output=True,
    )  # fmt: skip


async def login(client: httpx2.AsyncClient, email: str, password: str, **headers: str):
    page = await client.get("/staff/login", headers=headers)
    token = TOKEN.search(page.text)
    assert token, page.status_code
    return await client.post(
        "/staff/login",
        data={"token": token.group(1), "email": email, "password": password},
        headers=headers,
    )


async def device_cookie(url: str, email: str) -> str:
    async with httpx2.AsyncClient(base_url=url, timeout=60) as browser:
        response = await login(browser, email, PASSWORD)
        assert response.status_code == 303, response.status_code
        return response.cookies["aki_device"]


async def timed_sign_in(
    url: str, email: str, device: str, ready: asyncio.Event | None = None
) -> tuple[int, float]:
    """The person's browser has the sign-in page open (loaded before the flood); the time
    is from sending the form to its answer."""
    async with httpx2.AsyncClient(base_url=url, timeout=60, cookies={"aki_device": device}) as c:
        page = await c.get("/staff/login")
        token = TOKEN.search(page.text).group(1)
        if ready is not None:
            await ready.wait()
            await asyncio.sleep(0.05)  # inside the flood, not ahead of it
        started = time.perf_counter()
        response = await c.post(
            "/staff/login", data={"token": token, "email": email, "password": PASSWORD}
        )
        return response.status_code, time.perf_counter() - started


async def flood(
    url: str, email: str, device: str, spray: bool, attacker_address: str = "203.0.113.1"
) -> tuple[Counter[int], int, float]:
    limits = httpx2.Limits(max_connections=FLOOD + 10, max_keepalive_connections=FLOOD + 10)
    async with httpx2.AsyncClient(base_url=url, timeout=120, limits=limits) as attacker:
        page = await attacker.get("/staff/login")
        token = TOKEN.search(page.text).group(1)  # one form token serves every attempt
        ready = asyncio.Event()

        async def wrong(i: int) -> int:
            await ready.wait()
            target = f"bot{i}.{secrets.token_hex(3)}@example.net" if spray else email
            address = f"198.18.{i // 250}.{i % 250 + 1}" if spray else attacker_address
            headers = {"X-Forwarded-For": address}
            response = await attacker.post(
                "/staff/login",
                data={"token": token, "email": target, "password": f"guess-{i}"},
                headers=headers,
            )
            return response.status_code

        mine = asyncio.create_task(timed_sign_in(url, email, device, ready))
        await asyncio.sleep(0.5)  # the person's page is loaded
        tasks = [asyncio.create_task(wrong(i)) for i in range(FLOOD)]
        ready.set()
        codes = Counter(await asyncio.gather(*tasks))
        status, seconds = await mine
    return codes, status, seconds


def main() -> int:
    rounds = int(os.environ.get("ROUNDS", "5"))
    with tempfile.TemporaryDirectory(prefix="signin-flood-") as tmp:
        env = environment(Path(tmp))
        emails = [f"staff{i}@example.org" for i in range(rounds + 2)]
        log(f"creating {len(emails)} accounts (production Argon2id)")
        for email in emails:
            create_staff(env, email)
        port = free_port()
        url = f"http://{HOST}:{port}"
        server = subprocess.Popen(  # noqa: S603 (our own interpreter and module)
            [sys.executable, "-m", "webapp", "serve", "--host", HOST, "--port", str(port)],
            env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if httpx2.get(f"{url}/staff/login", timeout=2).status_code == 200:
                        break
                except httpx2.TransportError:
                    pass
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("the site did not start")
                time.sleep(0.1)
            return asyncio.run(measure(url, emails, rounds))
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()


async def measure(url: str, emails: list[str], rounds: int) -> int:
    devices = {email: await device_cookie(url, email) for email in emails}
    quiet = [(await timed_sign_in(url, emails[-1], devices[emails[-1]]))[1] for _ in range(3)]
    targeted, checked, problems = [], [], []
    for n, email in enumerate(emails[:rounds]):
        codes, status, seconds = await flood(
            url, email, devices[email], spray=False, attacker_address=f"203.0.113.{n + 1}"
        )
        targeted.append(seconds)
        checked.append(codes[400])
        if status != 303 or codes[400] > 5:
            problems.append(f"targeted round: honest {status}, flood {dict(codes)}")
    log("waiting 61 s: the limit on all untrusted attempts together counts per minute")
    await asyncio.sleep(61)
    codes, status, spray_seconds = await flood(url, emails[-2], devices[emails[-2]], spray=True)
    if status != 303:
        problems.append(f"spray round: honest {status}, flood {dict(codes)}")
    print(f"honest sign-in, no flood:           median {statistics.median(quiet):.3f} s")
    print(
        f"honest sign-in, {FLOOD} at one account: median {statistics.median(targeted):.3f} s,"
        f" worst {max(targeted):.3f} s over {rounds} rounds;"
        f" flood requests checked by Argon2: {checked} (limit 5)"
    )
    print(
        f"honest sign-in, {FLOOD}-address spray:  {spray_seconds:.3f} s;"
        f" flood answers {dict(codes)} (Argon2 checks = 400s, global limit 30/min)"
    )
    for problem in problems:
        print(f"FAIL {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
