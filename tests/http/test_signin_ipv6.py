"""Per-address sign-in limits hold for IPv6: one household or server is given a whole /64
(2^64 addresses), so an attacker there could take a new address for every attempt. The
address limit counts the /64 as one client; IPv4 and IPv4-mapped addresses count alone."""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx2
import pytest

from tests.helpers import EMAIL, PASSWORD
from webapp import auth, signin
from webapp.app import create_app

pytestmark = pytest.mark.anyio


@pytest.fixture
def app(settings, clock):
    app = create_app(settings, clock=clock)
    app.checks = 0
    real = app.ctx.hasher.verify

    async def verify(stored, password, *, trusted=False):
        app.checks += 1
        return await real(stored, password, trusted=trusted)

    app.ctx.hasher.verify = verify
    return app


async def post_login(app, address: str, email: str, password: str):
    transport = httpx2.ASGITransport(app=app, client=(address, 50000))
    async with httpx2.AsyncClient(transport=transport, base_url="http://testserver") as client:
        token = app.ctx.login_tokens.issue(app.ctx.clock())
        return await client.post(
            "/staff/login", data={"token": token, "email": email, "password": password}
        )


async def test_a_new_ipv6_address_per_attempt_within_one_64_is_one_client(app):
    async with app.router.lifespan_context(app):
        state = app.ctx
        await auth.create_staff(state.db, EMAIL, state.hasher.hash_sync(PASSWORD), state.clock())
        responses = await asyncio.gather(
            *(
                post_login(app, f"2001:db8:1:2:{i:x}::{i + 1:x}", f"guess{i}@example.org", "x" * 12)
                for i in range(100)
            )
        )
        assert app.checks == signin.ADDRESS.limit
        assert Counter(r.status_code for r in responses) == {400: 10, 429: 90}
        # Another /64 is another client; so is the member of staff's own IPv4 address.
        other = await post_login(app, "2001:db8:1:3::1", EMAIL, PASSWORD)
        assert other.status_code == 303
        mine = await post_login(app, "192.0.2.10", EMAIL, PASSWORD)
        assert mine.status_code == 303


@pytest.mark.parametrize(
    ("client", "key"),
    [
        ("192.0.2.10", "192.0.2.10"),
        ("2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::/64"),
        ("2001:DB8:1:2::1", "2001:db8:1:2::/64"),
        ("::ffff:192.0.2.10", "192.0.2.10"),
        ("fe80::1%eth0", "fe80::/64"),
        ("unknown", "unknown"),
        ("not an address", "not an address"),
    ],
)
def test_address_keys(client, key):
    assert signin.address_key(client) == key
