"""Sign-in under attack, through the app with many requests at once: the throttle is taken in
the database before any password is checked, device cookies keep the real member of staff
signing in, and the audit trail never holds what an attacker typed."""

from __future__ import annotations

import asyncio
import sqlite3
from collections import Counter
from contextlib import closing
from datetime import timedelta
from pathlib import Path

import httpx2
import pytest

from tests.conftest import make_settings
from tests.helpers import EMAIL, PASSWORD
from webapp import auth, signin
from webapp.app import create_app

pytestmark = pytest.mark.anyio
STAFF_ADDRESS = "192.0.2.10"
ATTACKER = "203.0.113.66"
WRONG = "wrong-guess-"
UNKNOWN = "not.on.staff.guess@example.net"


class Counted:
    """The app with its Argon2 checks counted (the hasher's verify, wrapped)."""

    def __init__(self, app) -> None:
        self.app = app
        self.checks = 0
        hasher = app.ctx.hasher
        real = hasher.verify

        async def verify(stored, password, *, trusted=False):
            self.checks += 1
            return await real(stored, password, trusted=trusted)

        hasher.verify = verify


@pytest.fixture
def counted(settings, clock) -> Counted:
    return Counted(create_app(settings, clock=clock))


def client_for(app, address: str, cookies: dict[str, str] | None = None) -> httpx2.AsyncClient:
    transport = httpx2.ASGITransport(app=app, client=(address, 50000))
    return httpx2.AsyncClient(transport=transport, base_url="http://testserver", cookies=cookies)


async def add_account(app, email: str = EMAIL, password: str = PASSWORD) -> int:
    state = app.ctx
    return await auth.create_staff(state.db, email, state.hasher.hash_sync(password), state.clock())


async def post_login(client: httpx2.AsyncClient, app, email: str, password: str):
    token = app.ctx.login_tokens.issue(app.ctx.clock())
    return await client.post(
        "/staff/login",
        data={"token": token, "next": "/staff", "email": email, "password": password},
    )


def signed_in(response) -> bool:
    return response.status_code == 303 and "aki_staff" in response.cookies


async def device_cookie_of(app, address: str = STAFF_ADDRESS) -> str:
    """Sign in once as the real member of staff: their browser keeps the device cookie."""
    async with client_for(app, address) as browser:
        response = await post_login(browser, app, EMAIL, PASSWORD)
        assert signed_in(response)
        return response.cookies["aki_device"]


def rows(settings, sql: str) -> list[tuple]:
    with closing(sqlite3.connect(settings.database_path)) as conn:
        return conn.execute(sql).fetchall()


# --- a flood against one account -----------------------------------------------------------------


async def test_200_wrong_passwords_at_once_reach_argon2_at_most_5_times(counted, settings):
    app = counted.app
    async with app.router.lifespan_context(app):
        await add_account(app)
        async with client_for(app, ATTACKER) as attacker:
            wrong = [post_login(attacker, app, EMAIL, f"{WRONG}{i}") for i in range(200)]
            # The right password, sent in the flood (last, so the flood has filled the limit).
            responses = await asyncio.gather(*wrong, post_login(attacker, app, EMAIL, PASSWORD))
    codes = Counter(r.status_code for r in responses)
    assert counted.checks <= 5
    assert codes == {400: counted.checks, 429: 201 - counted.checks}
    assert not signed_in(responses[-1]) and responses[-1].status_code == 429
    assert not any(signed_in(r) for r in responses)
    assert rows(settings, "SELECT count(*) FROM sessions") == [(0,)]
    refused = [r for r in responses if r.status_code == 429]
    assert all(0 < int(r.headers["retry-after"]) <= 15 * 60 for r in refused)
    # One audit entry per checked failure, one for the lock-out, however many were refused.
    actions = Counter(a for (a,) in rows(settings, "SELECT action FROM audit_log"))
    assert actions["login_failed"] == counted.checks
    assert actions["login_locked"] == 1


async def test_the_real_member_of_staff_on_their_device_signs_in_during_the_flood(
    counted, settings
):
    app = counted.app
    async with app.router.lifespan_context(app):
        await add_account(app)
        device = await device_cookie_of(app)
        checks_before = counted.checks
        async with (
            client_for(app, ATTACKER) as attacker,
            client_for(app, STAFF_ADDRESS, {"aki_device": device}) as own_browser,
        ):
            flood = [post_login(attacker, app, EMAIL, f"{WRONG}{i}") for i in range(200)]
            half = len(flood) // 2
            responses = await asyncio.gather(
                *flood[:half], post_login(own_browser, app, EMAIL, PASSWORD), *flood[half:]
            )
            honest = responses[half]
            assert signed_in(honest), honest.text
            assert honest.headers["location"] == "/staff"
            # A new device cookie (a new nonce) came with it.
            assert honest.cookies["aki_device"] != device
            # While the attack goes on, the same browser still gets in; a new one does not.
            again = await post_login(own_browser, app, EMAIL, PASSWORD)
            assert signed_in(again)
            async with client_for(app, STAFF_ADDRESS) as new_browser:
                locked = await post_login(new_browser, app, EMAIL, PASSWORD)
            assert locked.status_code == 429
    assert counted.checks - checks_before <= 5 + 2
    assert rows(settings, "SELECT count(*) FROM sessions") == [(3,)]


async def test_a_device_cookie_has_its_own_limit(counted, settings, clock):
    app = counted.app
    async with app.router.lifespan_context(app):
        await add_account(app)
        device = await device_cookie_of(app)
        async with client_for(app, STAFF_ADDRESS, {"aki_device": device}) as browser:
            tries = await asyncio.gather(
                *(post_login(browser, app, EMAIL, f"{WRONG}{i}") for i in range(20))
            )
            assert sorted(r.status_code for r in tries) == [400] * 5 + [429] * 15
            assert (await post_login(browser, app, EMAIL, PASSWORD)).status_code == 429
        # Other browsers are not locked out by a device's mistakes.
        async with client_for(app, "198.51.100.20") as other:
            assert signed_in(await post_login(other, app, EMAIL, PASSWORD))
        clock.advance(minutes=16)
        async with client_for(app, STAFF_ADDRESS, {"aki_device": device}) as browser:
            assert signed_in(await post_login(browser, app, EMAIL, PASSWORD))


@pytest.mark.parametrize("forgery", ["junk", "resigned", "other-account"])
async def test_a_forged_or_foreign_device_cookie_gives_no_trust(counted, settings, forgery):
    app = counted.app
    async with app.router.lifespan_context(app):
        await add_account(app)
        await add_account(app, "doctor@example.org", "granite-meadow-lantern-77")
        device = await device_cookie_of(app)
        if forgery == "junk":
            cookie = device[:-3] + "abc"
        elif forgery == "resigned":
            from itsdangerous import URLSafeSerializer

            cookie = URLSafeSerializer("another-key-" + "z" * 40, salt="staff-device").dumps(
                [[1, "n", app.ctx.clock().timestamp()]]
            )
        else:
            cookie = device  # the nurse's device cookie, used against the doctor's account
        async with client_for(app, ATTACKER) as attacker:
            for i in range(5):
                await post_login(attacker, app, "doctor@example.org", f"{WRONG}{i}")
        async with client_for(app, STAFF_ADDRESS, {"aki_device": cookie}) as browser:
            response = await post_login(
                browser, app, "doctor@example.org", "granite-meadow-lantern-77"
            )
    assert response.status_code == 429


async def test_a_device_cookie_expires_after_180_days(counted, settings, clock):
    app = counted.app
    async with app.router.lifespan_context(app):
        await add_account(app)
        device = await device_cookie_of(app)
        clock.advance(days=181)
        async with client_for(app, ATTACKER) as attacker:
            await asyncio.gather(
                *(post_login(attacker, app, EMAIL, f"{WRONG}{i}") for i in range(5))
            )
        async with client_for(app, STAFF_ADDRESS, {"aki_device": device}) as browser:
            assert (await post_login(browser, app, EMAIL, PASSWORD)).status_code == 429


# --- floods across accounts and addresses --------------------------------------------------------


async def test_one_address_trying_many_accounts_at_once_is_held_to_its_limit(counted, settings):
    app = counted.app
    async with app.router.lifespan_context(app):
        await add_account(app)
        async with client_for(app, ATTACKER) as attacker:
            responses = await asyncio.gather(
                *(post_login(attacker, app, f"guess{i}@example.org", "x" * 12) for i in range(200))
            )
    assert counted.checks == signin.ADDRESS.limit
    assert Counter(r.status_code for r in responses) == {400: 10, 429: 190}


async def test_a_botnet_of_many_addresses_and_names_is_held_to_the_global_limit(
    counted, settings, clock
):
    app = counted.app
    async with app.router.lifespan_context(app):
        await add_account(app)
        device = await device_cookie_of(app)
        clients = [client_for(app, f"198.18.{i // 250}.{i % 250}") for i in range(200)]
        try:
            responses = await asyncio.gather(
                *(
                    post_login(c, app, f"bot{i}@example.org", "x" * 12)
                    for i, c in enumerate(clients)
                )
            )
        finally:
            for c in clients:
                await c.aclose()
        assert counted.checks == 1 + signin.UNTRUSTED.limit
        assert Counter(r.status_code for r in responses) == {400: 30, 429: 170}
        # The trusted lane is open all the while.
        async with client_for(app, STAFF_ADDRESS, {"aki_device": device}) as browser:
            assert signed_in(await post_login(browser, app, EMAIL, PASSWORD))
        clock.advance(seconds=61)
        async with client_for(app, "198.51.100.99") as newcomer:
            assert signed_in(await post_login(newcomer, app, EMAIL, PASSWORD))


async def test_a_success_takes_its_reservations_back(counted, settings):
    app = counted.app
    async with app.router.lifespan_context(app):
        await add_account(app)
        async with client_for(app, STAFF_ADDRESS) as browser:
            for _ in range(4):
                await post_login(browser, app, EMAIL, "not-it-at-all")
            browser.cookies.clear()
            for _ in range(12):
                assert signed_in(await post_login(browser, app, EMAIL, PASSWORD))
                browser.cookies.clear()
    buckets = Counter(b for (b,) in rows(settings, "SELECT bucket FROM rate_events"))
    assert buckets == {"login-account": 4, "login-address": 4, "login-untrusted": 4}


# --- the audit trail ---------------------------------------------------------------------------


def raw_bytes(path: Path) -> bytes:
    found = b""
    for suffix in ("", "-wal", "-shm", "-journal"):
        part = Path(str(path) + suffix)
        if part.exists():
            found += part.read_bytes()
    return found


async def test_what_an_attacker_types_is_never_stored(counted, settings):
    app = counted.app
    typed_password = "Hunter2-typed-password-XYZ"
    async with app.router.lifespan_context(app):
        await add_account(app)
        async with client_for(app, ATTACKER) as attacker:
            await post_login(attacker, app, UNKNOWN, typed_password)
            await post_login(attacker, app, UNKNOWN.upper(), typed_password)
            # A password typed into the email field by mistake.
            await post_login(attacker, app, PASSWORD + "-in-the-wrong-box", "")
            await post_login(attacker, app, EMAIL, typed_password)
        audit = rows(settings, "SELECT actor, action, staff_id, detail FROM audit_log"
                               " WHERE action = 'login_failed' ORDER BY id")  # fmt: skip
    unknown, unknown_again, wrong_box, known = audit
    assert unknown[0] == "unknown account" and unknown[2] is None
    assert unknown[3].startswith("typed id:") and unknown[3].endswith(f"from {ATTACKER}")
    assert unknown[3] == unknown_again[3]  # the same typing, the same keyed hash
    assert wrong_box[0] == "unknown account" and wrong_box[3] != unknown[3]
    assert known[:3] == (EMAIL, "login_failed", 1)
    assert known[3] == f"from {ATTACKER}"
    stored = raw_bytes(settings.database_path).lower()
    for secret in (UNKNOWN, typed_password, PASSWORD + "-in-the-wrong-box"):
        assert secret.lower().encode() not in stored, secret


async def test_the_identifier_hash_is_keyed(settings, clock):
    one = create_app(settings, clock=clock).ctx.signin.identifier_hash(UNKNOWN)
    other_key = make_settings(settings.database_path.parent, secret_keys=(auth.Secret("k" * 48),))
    two = create_app(other_key, clock=clock).ctx.signin.identifier_hash(UNKNOWN)
    assert one != two and UNKNOWN not in one


async def test_lock_outs_are_audited_once_per_window(counted, settings, clock):
    app = counted.app
    async with app.router.lifespan_context(app):
        await add_account(app)
        async with client_for(app, ATTACKER) as attacker:
            for _ in range(3):
                await asyncio.gather(
                    *(post_login(attacker, app, EMAIL, f"{WRONG}{i}") for i in range(30))
                )
            clock.advance(minutes=16)
            await asyncio.gather(
                *(post_login(attacker, app, EMAIL, f"{WRONG}{i}") for i in range(30))
            )
    locked = rows(settings, "SELECT actor, detail FROM audit_log WHERE action = 'login_locked'")
    assert locked == [(EMAIL, f"login-account: from {ATTACKER}")] * 2


async def test_throttle_windows_slide_with_the_apps_clock(counted, settings, clock):
    app = counted.app
    async with app.router.lifespan_context(app):
        await add_account(app)
        async with client_for(app, ATTACKER) as attacker:
            for _ in range(5):
                await post_login(attacker, app, EMAIL, WRONG)
            for minutes in (1, 13):
                clock.advance(minutes=minutes)
                assert (await post_login(attacker, app, EMAIL, PASSWORD)).status_code == 429
            clock.advance(minutes=1, seconds=1)
            assert signed_in(await post_login(attacker, app, EMAIL, PASSWORD))


def test_limits_are_as_documented():
    assert (signin.ACCOUNT.limit, signin.ACCOUNT.window) == (5, timedelta(minutes=15))
    assert (signin.DEVICE.limit, signin.DEVICE.window) == (5, timedelta(minutes=15))
    assert (signin.ADDRESS.limit, signin.ADDRESS.window) == (10, timedelta(minutes=15))
    assert (signin.UNTRUSTED.limit, signin.UNTRUSTED.window) == (30, timedelta(minutes=1))
