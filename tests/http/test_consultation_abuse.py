"""The consultation form under abuse: bad bodies, other sites, floods, fuzzing and races."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections import Counter
from contextlib import closing
from dataclasses import replace
from datetime import timedelta
from urllib.parse import urlencode

import httpx2
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from markupsafe import escape
from starlette.testclient import TestClient

from tests import helpers
from tests.conftest import make_settings
from tests.helpers import HX, count, new_token, reference_in, token_in, words
from webapp.app import create_app
from webapp.consultations import FORM_FIELDS, validate
from webapp.throttle import Limit

FORM_TYPE = {"Content-Type": "application/x-www-form-urlencoded"}
# A plainer valid form than test_consultation's: lowercase email, any time, a one-word message.
VALID = {**helpers.VALID, "email": "ada@example.com", "best_time": "any", "message": "Hello"}
LIMIT_TEXT = "We have received several requests from this internet connection in a short time"


# --- helpers ----------------------------------------------------------------------------


def form(token: str, **changes: str | None) -> dict[str, str]:
    """helpers.form() with this file's VALID values (None leaves a field out)."""
    return helpers.form(token, **{**VALID, **changes})


def references(settings) -> list[str]:
    with closing(sqlite3.connect(settings.database_path)) as conn:
        return [r[0] for r in conn.execute("SELECT reference FROM consultations ORDER BY id")]


# --- bodies the form never sends --------------------------------------------------------

TOO_LARGE = "The request is too large."
NOT_FORM = "Please send the form from the page (it must be form-encoded)."
UNREADABLE = "The form could not be read: it has too many fields or text that is not valid UTF-8."
UNKNOWN = "The form has a field it does not expect."
TWICE = "The form has a field more than once."


def encoded(token: str, **changes: str | None) -> bytes:
    return urlencode(form(token, **changes)).encode()


# name -> (how to send it given a valid token, status, message shown)
BAD_INPUT = {
    "larger than 64 KiB": (
        lambda t: {"content": encoded(t, message="x" * 70_000), "headers": FORM_TYPE},
        413,
        TOO_LARGE,
    ),
    "larger than 64 KiB, streamed without a length": (
        lambda t: {
            "content": iter([encoded(t)] + [b"&x=" + b"y" * 8192] * 9),
            "headers": FORM_TYPE,
        },
        413,
        TOO_LARGE,
    ),
    "multipart": (
        lambda t: {"data": form(t), "files": {"upload": ("a.txt", b"hi", "text/plain")}},
        415,
        NOT_FORM,
    ),
    "json": (lambda t: {"json": form(t)}, 415, NOT_FORM),
    "text/plain": (
        lambda t: {"content": encoded(t), "headers": {"Content-Type": "text/plain"}},
        415,
        NOT_FORM,
    ),
    "no content type": (lambda t: {"content": encoded(t)}, 415, NOT_FORM),
    "unknown field": (
        lambda t: {"content": encoded(t, website=None) + b"&is_admin=1", "headers": FORM_TYPE},
        400,
        UNKNOWN,
    ),
    "duplicated field": (
        lambda t: {
            "content": encoded(t, website=None) + b"&full_name=Mallory",
            "headers": FORM_TYPE,
        },
        400,
        TWICE,
    ),
    "more than 10 fields": (
        lambda t: {"content": encoded(t, draft="") + b"&website=&website=", "headers": FORM_TYPE},
        400,
        UNREADABLE,
    ),
    "invalid UTF-8 percent-escape": (
        lambda t: {"content": b"full_name=%FF&token=" + t.encode(), "headers": FORM_TYPE},
        400,
        UNREADABLE,
    ),
    "encoded surrogate": (
        lambda t: {"content": encoded(t, full_name="x") + b"%ED%A0%80", "headers": FORM_TYPE},
        400,
        UNREADABLE,
    ),
    "raw non-UTF-8 bytes": (
        lambda t: {
            "content": "full_name=Zoë".encode("latin-1") + b"&token=" + t.encode(),
            "headers": {"Content-Type": "application/x-www-form-urlencoded; charset=latin-1"},
        },
        400,
        UNREADABLE,
    ),
    "10,000-character name": (
        lambda t: {"data": form(t, full_name="x" * 10_000)},
        422,
        "Your name must be 100 characters or fewer.",
    ),
    "NUL in the name": (
        lambda t: {"data": form(t, full_name="Ada\x00Lovelace")},
        422,
        "Your name contains characters we can't accept.",
    ),
    "missing token": (
        lambda t: {"data": {k: v for k, v in form(t).items() if k != "token"}},
        422,
        "We could not verify this form.",
    ),
    "empty body": (lambda t: {"content": b"", "headers": FORM_TYPE}, 422, "could not verify"),
}


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "no-js"])
@pytest.mark.parametrize("case", list(BAD_INPUT))
def test_bad_input(client, clock, settings, case, htmx):
    build, status, message = BAD_INPUT[case]
    request = build(new_token(client, clock))
    headers = {**request.pop("headers", {}), **(HX if htmx else {})}
    response = client.post("/consultation", headers=headers, **request)
    if status == 422 and not htmx:
        # Without JavaScript the form comes back after a redirect (Post/Redirect/Get).
        assert [r.status_code for r in response.history] == [303]
        status = 200
    assert response.status_code == status
    assert message in words(response.text)
    assert count(settings) == 0
    if status == 422 or (status == 200 and not htmx):
        # The form comes back (a fragment for htmx) with a new token, never an error page.
        assert token_in(response.text)
        assert ("<html" in response.text) is not htmx
        assert "hx-reswap" not in response.headers
    elif htmx:
        # htmx must not swap an error page over the form: plain words, no swap.
        assert response.headers["hx-reswap"] == "none"
        assert response.headers["content-type"].startswith("text/plain")
        assert "<" not in response.text
    else:
        assert "<html" in response.text
        assert "hx-reswap" not in response.headers


def test_a_non_numeric_content_length_is_refused(client, clock, settings):
    token = new_token(client, clock)
    response = client.post(
        "/consultation", content=encoded(token), headers={**FORM_TYPE, "Content-Length": "12x"}
    )
    assert response.status_code == 400
    assert "The request's Content-Length is not a number." in words(response.text)
    assert count(settings) == 0


def test_exactly_ten_fields_with_everything_filled_is_fine(client, clock, settings):
    token = new_token(client, clock)
    body = encoded(token, draft="x" * 32)
    assert body.count(b"&") + 1 == len(FORM_FIELDS) == 10
    response = client.post("/consultation", content=body, headers={**FORM_TYPE, **HX})
    assert response.status_code == 200
    assert count(settings) == 1


def test_charset_parameter_is_accepted_for_utf8(client, clock, settings):
    token = new_token(client, clock)
    headers = {"Content-Type": "application/x-www-form-urlencoded; charset=UTF-8", **HX}
    body = encoded(token, full_name="Zoë Ñandú 😊")
    response = client.post("/consultation", content=body, headers=headers)
    assert response.status_code == 200
    assert count(settings) == 1


# --- other sites ------------------------------------------------------------------------

REFUSED = "This form can only be sent from the clinic's own website."


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Origin": "http://testserver.evil.example"},
        {"Origin": "https://testserver"},
        {"Sec-Fetch-Site": "cross-site", "Origin": "http://testserver"},
    ],
)
@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "no-js"])
def test_other_sites_are_refused(client, clock, settings, headers, htmx):
    data = form(new_token(client, clock))
    response = client.post("/consultation", data=data, headers={**headers, **(HX if htmx else {})})
    assert response.status_code == 403
    assert REFUSED in words(response.text)
    if htmx:
        assert response.headers["hx-reswap"] == "none"
    assert count(settings) == 0


def test_refused_before_the_body_is_read(client, settings):
    response = client.post(
        "/consultation",
        content=b"\xff\xfe garbage",
        headers={"Sec-Fetch-Site": "cross-site", "Content-Type": "application/json"},
    )
    assert response.status_code == 403
    assert count(settings) == 0


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "same-origin"},
        {"Sec-Fetch-Site": "same-origin", "Origin": "http://testserver"},
        {"Sec-Fetch-Site": "none"},
        {"Origin": "http://testserver"},
        {"Origin": "HTTP://TESTSERVER"},
        {},  # curl and other non-browser clients: the token still guards the form
    ],
)
def test_own_site_is_accepted(client, clock, settings, headers):
    response = client.post(
        "/consultation", data=form(new_token(client, clock)), headers={**headers, **HX}
    )
    assert response.status_code == 200
    assert count(settings) == 1


def test_the_public_base_url_is_own_site(tmp_path, clock):
    settings = make_settings(tmp_path, base_url="https://www.albanyketamine.example")
    with TestClient(create_app(settings, clock=clock), base_url="http://testserver") as client:
        token = new_token(client, clock)
        ok = client.post(
            "/consultation",
            data=form(token),
            headers={"Origin": "https://www.albanyketamine.example", **HX},
        )
        assert ok.status_code == 200
        refused = client.post(
            "/consultation",
            data=form(new_token(client, clock)),
            headers={"Origin": "https://albanyketamine.example", **HX},
        )
        assert refused.status_code == 403
        assert count(settings) == 1


# --- tokens ----------------------------------------------------------------------------


def test_token_issued_in_the_future_counts_as_too_fast(client, clock, settings):
    # A clock step backwards must not let a form through the too-fast check.
    token = client.app.ctx.form_tokens.issue(clock() + timedelta(minutes=5))
    response = client.post("/consultation", data=form(token), headers=HX)
    assert response.status_code == 200
    assert [r["suspected_spam"] for r in helpers.rows(settings)] == ["too_fast"]


# --- the rate limit ---------------------------------------------------------------------


def post(client, data: dict[str, str], htmx: bool = True):
    return client.post("/consultation", data=data, headers=HX if htmx else {})


def fill_the_limit(client, clock, settings) -> list[str]:
    """Five stored requests, 5 s apart (the forms were rendered 5 s before each)."""
    tokens = []
    for _ in range(5):
        tokens.append(new_token(client, clock))
        assert post(client, form(tokens[-1])).status_code == 200
    assert count(settings) == 5
    return tokens


def test_the_sixth_request_is_refused_kindly(client, clock, settings):
    fill_the_limit(client, clock, settings)  # stored at +5 s, +10 s, ... +25 s
    token = new_token(client, clock)  # sent at +30 s
    response = post(client, form(token, full_name="Zoë Ñandú 😊", best_time="morning"))
    assert response.status_code == 429
    # The first of the five leaves the 600 s window 575 s from now.
    assert 575 <= int(response.headers["retry-after"]) <= 576
    page = response.text
    assert page.lstrip().startswith('<div id="consultation"')  # swapped in like any answer
    assert "hx-reswap" not in response.headers
    text = words(page)
    assert "Your request was not sent" in text
    assert LIMIT_TEXT in text
    assert "people who share a network, such as a household, count together" in text
    assert "Your details are still here. Please press Send request again in about 10 minutes." in (
        text
    )
    assert "Or call us" not in text  # data/clinic.toml sets no phone number
    assert 'value="Zoë Ñandú 😊"' in page
    assert re.search(r'<input type="radio" name="best_time" value="morning"[^>]* checked>', page)
    assert token_in(page) != token
    assert count(settings) == 5


def test_the_limit_without_js_redirects_to_a_page_that_says_not_sent(client, clock, settings):
    fill_the_limit(client, clock, settings)
    data = form(new_token(client, clock), full_name="Zoë Ñandú", message="Mornings, please")
    response = client.post("/consultation", data=data, follow_redirects=False)
    assert response.status_code == 303
    location = response.headers["location"]
    assert location.startswith("/consultation/details/")
    for private in ("Zo", "Mornings", "ada", "518", "555"):
        assert private not in location
    page = client.get(location)
    assert page.status_code == 200
    assert "<title>Not sent: Request a Consultation" in page.text
    text = words(page.text)
    assert "Your request was not sent" in text and LIMIT_TEXT in text
    assert "Please press Send request again in about 10 minutes." in text
    assert 'value="Zoë Ñandú"' in page.text
    assert ">Mornings, please</textarea>" in page.text
    # Minutes later the same page says how long is left.
    clock.advance(minutes=6)
    assert "again in about 4 minutes." in words(client.get(location).text)
    clock.advance(minutes=4)
    assert "Please press Send request again now." in words(client.get(location).text)
    assert count(settings) == 5


def test_a_stored_request_is_still_confirmed_while_limited(client, clock, settings):
    tokens = fill_the_limit(client, clock, settings)
    assert post(client, form(new_token(client, clock))).status_code == 429
    again = post(client, form(tokens[2]))
    assert again.status_code == 200
    assert reference_in(again.text) == references(settings)[2]
    assert count(settings) == 5


def test_the_limit_lifts_after_the_window(client, clock, settings):
    fill_the_limit(client, clock, settings)
    refused = post(client, form(new_token(client, clock)))
    assert refused.status_code == 429
    clock.advance(minutes=11)
    # The form that came back with the notice works once the window has passed.
    accepted = post(client, form(token_in(refused.text)))
    assert accepted.status_code == 200
    assert count(settings) == 6


def test_errors_do_not_count_towards_the_limit_but_flagged_requests_do(client, clock, settings):
    for _ in range(6):
        token = new_token(client, clock)
        assert post(client, form(token, consent="")).status_code == 422
        assert post(client, form("forged")).status_code == 422
    assert count(settings) == 0
    # Suspected spam is stored, so it counts like any stored request.
    for _ in range(3):
        assert post(client, form(new_token(client, clock), website="x")).status_code == 200
    for _ in range(2):
        assert post(client, form(new_token(client, clock))).status_code == 200
    refused = post(client, form(new_token(client, clock), website="x"))
    assert refused.status_code == 429
    assert "Your request was not sent" in refused.text
    assert count(settings) == 5


def test_replays_do_not_count_towards_the_limit(client, clock, settings):
    token = new_token(client, clock)
    for _ in range(8):
        assert post(client, form(token)).status_code == 200
    assert count(settings) == 1
    for _ in range(4):
        assert post(client, form(new_token(client, clock))).status_code == 200
    assert count(settings) == 5


# --- fuzzing: never a server error; stored exactly when valid ----------------------------

ANY_TEXT = st.text(max_size=40)
FIELD_VALUES = {
    "full_name": st.one_of(
        st.sampled_from(["Ada", " Zoë Ñandú 😊 ", "a" * 100, "a" * 101, "A\x00B"]),
        st.text(max_size=120),
    ),
    "email": st.one_of(
        st.sampled_from(["", "ada@example.com", "A@EXAMPLE.COM", "a@b", " a@b.co "]), ANY_TEXT
    ),
    "phone": st.one_of(
        st.sampled_from(
            ["", "(518) 555-0123", "+1 518 555 0123", "555-0123", "５１８５５５０１２３"]
        ),
        st.text(alphabet="0123456789 +-().x", max_size=20),
        ANY_TEXT,
    ),
    "contact_method": st.one_of(st.sampled_from(["call", "text", "email", "", "fax"]), ANY_TEXT),
    "best_time": st.one_of(st.sampled_from(["morning", "afternoon", "any", "never"]), ANY_TEXT),
    "message": st.one_of(
        st.sampled_from(["", "x" * 1000, "x" * 1001, "a\r\nb", "\x00"]), st.text(max_size=1100)
    ),
    "consent": st.one_of(st.sampled_from(["yes", "on", ""]), ANY_TEXT),
    "website": st.sampled_from(["", "", "", "http://spam.example"]),
}
# Mostly-valid forms, so that both sides of "stored iff valid" are exercised.
PRINTABLE = st.characters(exclude_categories=["Cc", "Cs", "Zl", "Zp"])
LIKELY_VALID = st.fixed_dictionaries(
    {
        "full_name": st.text(PRINTABLE, min_size=1, max_size=100),
        "email": st.one_of(st.emails(), st.sampled_from(["ada@example.com", ""])),
        "phone": st.one_of(
            st.just(""),
            st.from_regex(
                r"(\+?1[ .-]?)?\(?[2-9][0-9]{2}\)?[ .-]?[2-9][0-9]{2}[ .-]?[0-9]{4}", fullmatch=True
            ),
        ),
        "contact_method": st.sampled_from(["call", "text", "email"]),
        "best_time": st.sampled_from(["morning", "afternoon", "any"]),
        "message": st.one_of(st.text(PRINTABLE, max_size=1000), st.text(max_size=50)),
        "consent": st.just("yes"),
    },
    optional={"website": st.just("")},
)
UNKNOWN_KEYS = st.dictionaries(
    st.text(min_size=1, max_size=12).filter(lambda k: k not in FORM_FIELDS),
    ANY_TEXT,
    max_size=2,
)


def test_fuzzed_forms_never_fail_and_store_exactly_when_valid(tmp_path, clock):
    settings = make_settings(
        tmp_path, consultation_limit=(10_000, 600), consultation_flood=(10_000, 600)
    )
    app = create_app(settings, clock=clock)
    # One address sends them all: lift its daily flood limit too, so nothing is flagged a flood.
    intake = replace(app.ctx.intake, flood_client=Limit("fuzz", 10_000, timedelta(days=1)))
    app.ctx = replace(app.ctx, intake=intake)
    with TestClient(app, base_url="http://testserver") as client:

        @hypothesis_settings(
            max_examples=100,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow],
        )
        @given(
            values=st.one_of(st.fixed_dictionaries({}, optional=FIELD_VALUES), LIKELY_VALID),
            extra=st.one_of(st.just({}), UNKNOWN_KEYS),
            htmx=st.booleans(),
        )
        def check(values, extra, htmx):
            clock.advance(seconds=27)  # no more than 20 error pages (drafts) per 10 minutes
            token = app.ctx.form_tokens.issue(clock())
            clock.advance(seconds=3)
            before = count(settings)
            response = client.post(
                "/consultation",
                data={**values, **extra, "token": token},
                headers=HX if htmx else {},
                follow_redirects=False,
            )
            assert response.status_code < 500
            added = count(settings) - before
            submission, errors = validate(values)
            valid = "invalid" if submission is None else "stored"
            outcome = "unknown field" if extra else valid
            outcomes[outcome] += 1
            assert (response.status_code, added) == {
                "unknown field": (400, 0),
                "invalid": (422 if htmx else 303, 0),
                "stored": (200 if htmx else 303, 1),
            }[outcome]
            if outcome == "invalid":
                page = response.text if htmx else client.get(response.headers["location"]).text
                for message in errors.values():
                    assert str(escape(message)) in page
            if outcome == "stored":
                # Whatever it looks like, it is stored; the honeypot only flags it.
                flagged = "honeypot" if values.get("website") else None
                with closing(sqlite3.connect(settings.database_path)) as conn:
                    flag = conn.execute(
                        "SELECT suspected_spam FROM consultations ORDER BY id DESC LIMIT 1"
                    ).fetchone()[0]
                assert flag == flagged
                with closing(sqlite3.connect(settings.database_path)) as conn:
                    row = conn.execute(
                        "SELECT full_name, email, phone, contact_method, best_time, message"
                        " FROM consultations ORDER BY id DESC LIMIT 1"
                    ).fetchone()
                assert row == (
                    submission.full_name,
                    submission.email,
                    submission.phone,
                    submission.contact_method,
                    submission.best_time,
                    submission.message,
                )

        outcomes: Counter[str] = Counter()
        check()
        # Both sides of "stored iff valid" were exercised, and the refusals too.
        assert outcomes["stored"] >= 5 and outcomes["invalid"] >= 5, outcomes
        assert outcomes["unknown field"] >= 1, outcomes


# --- concurrency ------------------------------------------------------------------------


@pytest.fixture
def busy_app(tmp_path, clock):
    settings = make_settings(tmp_path, consultation_limit=(10_000, 600))
    return create_app(settings, clock=clock), settings


def async_client(app, address: str = "127.0.0.1") -> httpx2.AsyncClient:
    transport = httpx2.ASGITransport(app=app, client=(address, 50000))
    return httpx2.AsyncClient(transport=transport, base_url="http://testserver")


async def post_async(client: httpx2.AsyncClient, data: dict[str, str]):
    return await client.post("/consultation", data=data, headers=HX)


@pytest.mark.anyio
async def test_200_requests_at_once_are_all_stored(busy_app, clock):
    app, settings = busy_app
    tokens = [app.ctx.form_tokens.issue(clock()) for _ in range(200)]
    assert len(set(tokens)) == 200
    clock.advance(seconds=5)
    async with app.router.lifespan_context(app), async_client(app) as client:
        responses = await asyncio.gather(
            *(post_async(client, form(t, full_name=f"Person {i}")) for i, t in enumerate(tokens))
        )
    assert [r.status_code for r in responses] == [200] * 200
    shown = [reference_in(r.text) for r in responses]
    assert len(set(shown)) == 200
    assert count(settings) == 200
    assert sorted(references(settings)) == sorted(shown)


@pytest.mark.anyio
async def test_the_same_token_20_times_at_once_is_stored_once(busy_app, clock):
    app, settings = busy_app
    token = app.ctx.form_tokens.issue(clock())
    clock.advance(seconds=5)
    async with app.router.lifespan_context(app), async_client(app) as client:
        responses = await asyncio.gather(*(post_async(client, form(token)) for _ in range(20)))
    assert [r.status_code for r in responses] == [200] * 20
    assert {reference_in(r.text) for r in responses} == set(references(settings))
    assert count(settings) == 1


@pytest.mark.anyio
async def test_the_limit_holds_under_a_burst_per_client(tmp_path, clock):
    settings = make_settings(tmp_path)  # the real limit: 5 per 10 minutes
    app = create_app(settings, clock=clock)
    tokens = [app.ctx.form_tokens.issue(clock()) for _ in range(40)]
    clock.advance(seconds=5)
    async with app.router.lifespan_context(app), async_client(app) as first:
        second = async_client(app, address="198.51.100.7")
        async with second:
            responses = await asyncio.gather(
                *(post_async(first if i % 2 else second, form(t)) for i, t in enumerate(tokens))
            )
    for client_responses in (responses[0::2], responses[1::2]):
        codes = sorted(r.status_code for r in client_responses)
        assert codes == [200] * 5 + [429] * 15
        refused = [r for r in client_responses if r.status_code == 429]
        assert all(int(r.headers["retry-after"]) > 0 for r in refused)
    assert count(settings) == 10
