"""The consultation form over HTTP: success with and without htmx, errors, replays, bots."""

from __future__ import annotations

import html as htmllib
import re
import sqlite3
from contextlib import closing
from datetime import timedelta

import pytest
from itsdangerous import URLSafeSerializer

from tests.conftest import TEST_SECRET
from tests.helpers import (
    HX,
    count,
    form,
    new_token,
    put_closure,
    reference_in,
    rows,
    token_in,
    words,
)
from webapp import closures

REFERENCE_FORMAT = re.compile(r"^AKI-[0-9A-HJKMNP-TV-Z]{5}$")


# --- helpers ----------------------------------------------------------------------------


def tag(page: str, element_id: str) -> str:
    """The opening tag of the element with this id."""
    match = re.search(rf'<(?:input|textarea)[^>]*\bid="{element_id}"[^>]*>', page)
    assert match, f"no field {element_id}"
    return match.group(0)


def radio(page: str, name: str, value: str) -> str:
    match = re.search(rf'<input type="radio" name="{name}" value="{value}"[^>]*>', page)
    assert match, f"no radio {name}={value}"
    return match.group(0)


def textarea(page: str) -> str:
    return re.search(r'<textarea id="cf-message"[^>]*>(.*?)</textarea>', page, re.S).group(1)


def post_htmx(client, data, **kwargs):
    return client.post("/consultation", data=data, headers=HX, **kwargs)


# --- the empty form ---------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/consultation", "/", "/articles/does-ketamine-treat-depression"])
def test_the_form_is_on_three_pages_and_works_from_each(client, clock, settings, path):
    page = client.get(path)
    assert page.status_code == 200
    text = page.text
    assert '<form class="consultation-form" action="/consultation" method="post"' in text
    assert (
        'data-hx-post="/consultation" data-hx-target="#consultation" data-hx-swap="outerHTML"'
        in text
    )
    assert 'aria-invalid="true"' not in text
    assert "error-summary" not in text
    # The honeypot is out of the tab order and never filled in.
    honeypot = '<input id="cf-website" type="text" name="website" tabindex="-1" autocomplete="off">'
    assert honeypot in text
    assert "checked" not in tag(text, "cf-consent")
    assert "checked" in radio(text, "best_time", "any")
    assert all("checked" not in radio(text, "contact_method", m) for m in ("call", "text", "email"))
    clock.advance(seconds=5)
    response = post_htmx(client, form(token_in(text)))
    assert response.status_code == 200
    assert rows(settings)[0]["reference"] == reference_in(response.text)


def test_consultation_page_title(client):
    page = client.get("/consultation").text
    assert "<title>Request a Consultation · Albany Ketamine Infusions</title>" in page
    assert "<h1>Request a consultation</h1>" in page


def test_each_render_gets_its_own_token(client):
    assert token_in(client.get("/consultation").text) != token_in(client.get("/").text)


@pytest.mark.parametrize("path", ["/consultation", "/", "/articles/does-ketamine-treat-depression"])
def test_pages_with_the_form_are_not_cached(client, path):
    cache_control = client.get(path).headers.get("cache-control", "")
    assert "no-store" in cache_control or "private" in cache_control


# --- success ----------------------------------------------------------------------------


def test_htmx_success_answers_the_confirmation_fragment(client, clock, settings):
    response = post_htmx(client, form(new_token(client, clock)))
    assert response.status_code == 200
    assert response.headers["vary"] == "HX-Request"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["content-type"].startswith("text/html")
    body = response.text
    assert body.lstrip().startswith(
        '<div id="consultation" class="consultation consultation--done" tabindex="-1" autofocus>'
    )
    assert "<html" not in body and "<form" not in body
    reference = reference_in(body)
    assert REFERENCE_FORMAT.match(reference)
    assert "Thank you. We have your request." in body
    assert (
        "What happens next: we will call you by 5:00 PM ET today to arrange a consultation"
        in words(body)
    )
    assert [r["reference"] for r in rows(settings)] == [reference]


@pytest.mark.parametrize(
    ("local", "method", "reply"),
    [
        ((2026, 12, 1, 10, 30), "call", "will call you by 5:00 PM ET today to"),
        ((2026, 12, 1, 18, 0), "email", "will email you by 5:00 PM ET tomorrow (Wednesday) to"),
        ((2026, 12, 1, 7, 0), "text", "will text you by 5:00 PM ET today to"),
        # Rendered at 15:59:56, sent at 16:00:01: under an hour of opening time is left.
        ((2026, 12, 1, 15, 59, 56), "call", "will call you by 5:00 PM ET tomorrow (Wednesday)"),
        ((2026, 12, 1, 15, 59, 55), "call", "will call you by 5:00 PM ET today to"),
    ],
)
def test_reply_window(client, clock, local, method, reply):
    clock.set_local(*local)
    response = post_htmx(client, form(new_token(client, clock), contact_method=method))
    assert response.status_code == 200
    assert reply in words(response.text)


def test_reply_window_skips_a_thanksgiving_closure(client, app, clock, settings):
    clock.set_local(2026, 11, 25, 18, 0)  # the Wednesday evening before Thanksgiving
    entry = closures.make_override("2026-11-26", "Thanksgiving")
    put_closure(client, entry)
    token = new_token(client, clock)
    response = post_htmx(client, form(token, contact_method="email"))
    assert response.status_code == 200
    assert "will email you by Friday, 5:00 PM ET to" in words(response.text)
    assert "tomorrow" not in response.text
    # The no-JavaScript confirmation says the same.
    second = client.post("/consultation", data=form(new_token(client, clock)))
    assert second.status_code == 200
    assert "will call you by Friday, 5:00 PM ET to" in words(second.text)
    # Sent on Thanksgiving itself, while the clinic would normally be open.
    clock.set_local(2026, 11, 26, 11, 0)
    third = post_htmx(client, form(new_token(client, clock)))
    assert "will call you by 5:00 PM ET tomorrow (Friday) to" in words(third.text)
    assert count(settings) == 3


def test_no_js_success_redirects_to_the_confirmation_page(client, clock, settings):
    response = client.post(
        "/consultation", data=form(new_token(client, clock)), follow_redirects=False
    )
    assert response.status_code == 303
    location = response.headers["location"]
    assert location.startswith("/consultation/thanks?c=")
    [row] = rows(settings)
    page = client.get(location)
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    assert "<html" in page.text
    assert "<title>Request received · Albany Ketamine Infusions</title>" in page.text
    assert '<meta name="robots" content="noindex">' in page.text
    assert reference_in(page.text) == row["reference"]
    assert "will call you by 5:00 PM ET today to" in words(page.text)
    # Loading the page again (a reload) stores nothing.
    assert client.get(location).status_code == 200
    assert count(settings) == 1


@pytest.mark.parametrize("c", ["", "garbage", "eyJyIjoiQUtJLUFBQUFBIn0.forged"])
def test_confirmation_page_refuses_unsigned_parameters(client, c):
    response = client.get(f"/consultation/thanks?c={c}", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/consultation"


def test_confirmation_page_refuses_another_key(client):
    forged = URLSafeSerializer("another-secret-0123456789abcdef", salt="consultation-done")
    c = forged.dumps({"r": "AKI-AAAAA", "t": 1796139000.0, "m": "call"})
    response = client.get(f"/consultation/thanks?c={c}", follow_redirects=False)
    assert response.status_code == 303


def test_the_stored_row(client, clock, settings):
    response = post_htmx(client, form(new_token(client, clock)))
    assert response.status_code == 200
    [row] = rows(settings)
    assert row["reference"] == reference_in(response.text)
    assert row["status"] == "new"
    # 10:30:05 in Albany on 1 December is 15:30:05 UTC.
    assert row["created_at"] == "2026-12-01T15:30:05.000000Z"
    assert row["consent_at"] == row["updated_at"] == row["created_at"]
    assert row["full_name"] == "Ada Lovelace"
    assert row["email"] == "Ada@example.com"
    assert row["phone"] == "+15185550123"
    assert (row["contact_method"], row["best_time"]) == ("call", "afternoon")
    assert row["message"] == "I have tried two antidepressants.\nCan ketamine help?"
    assert row["token_id"] and row["token_id"] not in response.text


def test_no_ip_address_or_user_agent_is_kept(client, clock, settings):
    headers = {**HX, "User-Agent": "Mozilla/5.0 UniqueAgent/9.9", "X-Forwarded-For": "203.0.113.9"}
    assert client.post("/consultation", data=form(new_token(client, clock)), headers=headers)
    with closing(sqlite3.connect(settings.database_path)) as conn:
        columns = {r[1] for r in conn.execute("PRAGMA table_info(consultations)")}
    assert {"reference", "token_id", "full_name", "email", "phone", "message"} <= columns
    # Other columns may come (the staff tool's), but nothing about the visitor's device.
    forbidden = ("ip", "ua", "host", "client", "remote", "browser", "device")
    assert not [c for c in columns if set(c.split("_")) & set(forbidden)]
    assert not [c for c in columns if "agent" in c or "addr" in c]
    stored = " ".join(str(v) for v in rows(settings)[0].values())
    for trace in ("UniqueAgent", "203.0.113.9", "testclient"):
        assert trace not in stored


def test_free_text_is_stored_as_typed(client, clock, settings):
    name = "<script>alert(1)</script>"
    message = 'Tom & Jerry\'s <b>note</b>\r\n"quoted" 😊'
    response = post_htmx(client, form(new_token(client, clock), full_name=name, message=message))
    assert response.status_code == 200
    [row] = rows(settings)
    assert row["full_name"] == name
    assert row["message"] == 'Tom & Jerry\'s <b>note</b>\n"quoted" 😊'
    # The confirmation does not repeat what was typed.
    assert "alert(1)" not in response.text and "Jerry" not in response.text


def test_typed_values_are_escaped_when_the_form_comes_back(client, clock, settings):
    name = '"><script>alert(1)</script>'
    message = "</textarea><script>alert(2)</script>"
    for headers in (HX, {}):
        data = form(new_token(client, clock), full_name=name, message=message, consent=None)
        response = client.post("/consultation", data=data, headers=headers)
        # htmx: the form comes back at once; without JavaScript, after a redirect (PRG).
        assert [r.status_code for r in response.history] == ([] if headers else [303])
        assert response.status_code == (422 if headers else 200)
        page = response.text
        assert "<script>alert" not in page
        assert "alert(1)" in page and "alert(2)" in page
        assert 'value="&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"' in tag(page, "cf-full_name")
        assert textarea(page) == "&lt;/textarea&gt;&lt;script&gt;alert(2)&lt;/script&gt;"
    assert count(settings) == 0


# --- invalid input ----------------------------------------------------------------------

TYPED = {
    "full_name": "Zoë Ñandú 😊",
    "email": "zoe@@example.com",
    "phone": "555-0123",
    "contact_method": "text",
    "best_time": "morning",
    "message": "Hello <there>\nsecond line",
    "consent": "yes",
}


def test_invalid_form_comes_back_with_everything_typed(client, clock, settings):
    old = new_token(client, clock)
    response = post_htmx(client, form(old, **TYPED))
    assert response.status_code == 422
    assert response.headers["vary"] == "HX-Request"
    assert response.headers["cache-control"] == "no-store"
    page = response.text
    assert page.lstrip().startswith('<div id="consultation" class="consultation">')
    assert "<html" not in page
    # Everything typed is still there.
    assert 'value="Zoë Ñandú 😊"' in tag(page, "cf-full_name")
    assert 'value="zoe@@example.com"' in tag(page, "cf-email")
    assert 'value="555-0123"' in tag(page, "cf-phone")
    assert "checked" in radio(page, "contact_method", "text")
    assert "checked" not in radio(page, "contact_method", "call")
    assert "checked" in radio(page, "best_time", "morning")
    assert "checked" not in radio(page, "best_time", "any")
    assert textarea(page) == "Hello &lt;there&gt;\nsecond line"
    assert "checked" in tag(page, "cf-consent")
    # The honeypot is never echoed.
    assert 'name="website" tabindex="-1" autocomplete="off">' in page
    # Each bad field says so and points at its message.
    email = tag(page, "cf-email")
    assert 'aria-invalid="true"' in email and 'aria-describedby="cf-email-error"' in email
    phone = tag(page, "cf-phone")
    assert 'aria-invalid="true"' in phone
    assert 'aria-describedby="cf-phone-hint cf-phone-error"' in phone
    assert '<p class="field-error" id="cf-email-error">' in page
    assert '<p class="field-error" id="cf-phone-error">' in page
    for good in ("cf-full_name", "cf-message", "cf-consent"):
        assert "aria-invalid" not in tag(page, good)
    # The summary comes first, takes focus and links to each field, in form order.
    summary = re.search(r'<div class="error-summary".*?</div>', page, re.S).group(0)
    assert 'role="alert"' in summary and "autofocus" in summary
    assert "Please check these 2 details" in summary
    assert re.findall(r'<a href="#([^"]+)">([^<]+)</a>', summary) == [
        ("cf-email", "Enter an email address like name@example.com."),
        ("cf-phone", "Enter a 10-digit US phone number, like (518) 555-0123."),
    ]
    assert page.index("error-summary") < page.index('id="cf-full_name"')
    assert count(settings) == 0
    # A fresh token comes with the form, and the corrected form goes through.
    fresh = token_in(page)
    assert fresh != old
    clock.advance(seconds=5)
    fixed = post_htmx(
        client, form(fresh, **{**TYPED, "email": "zoe@example.com", "phone": "518-555-0123"})
    )
    assert fixed.status_code == 200
    [row] = rows(settings)
    assert (row["reference"], row["full_name"]) == (reference_in(fixed.text), "Zoë Ñandú 😊")


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"full_name": ""}, "cf-full_name", "Enter your name."),
        ({"consent": None}, "cf-consent", "Tick the box to agree"),
        ({"message": "x" * 1001}, "cf-message", "(it has 1,001)"),
        (
            {"email": "", "phone": "", "contact_method": "email"},
            "cf-email",
            "Enter an email address or a phone number",
        ),
    ],
)
def test_each_field_error_is_linked(client, clock, settings, changes, field, message):
    response = post_htmx(client, form(new_token(client, clock), **changes))
    assert response.status_code == 422
    page = response.text
    name = field.removeprefix("cf-")
    assert "Please check this detail" in page
    assert f'<a href="#{field}">' in page
    attributes = tag(page, field)
    assert 'aria-invalid="true"' in attributes
    assert f"cf-{name}-error" in re.search(r'aria-describedby="([^"]+)"', attributes).group(1)
    error = re.search(rf'<p class="field-error" id="cf-{name}-error">(.*?)</p>', page).group(1)
    assert message in htmllib.unescape(error)
    assert count(settings) == 0


@pytest.mark.parametrize(
    ("changes", "group"),
    [({"contact_method": "fax"}, "contact_method"), ({"best_time": None}, "best_time")],
)
def test_radio_group_errors_describe_the_fieldset(client, clock, settings, changes, group):
    response = post_htmx(client, form(new_token(client, clock), **changes))
    assert response.status_code == 422
    page = response.text
    assert (
        f'<fieldset class="field-group field--error" aria-describedby="cf-{group}-error"'
        f' data-check-field="{group}"' in page
    )
    assert f'<a href="#cf-{group}">' in page
    assert f'id="cf-{group}"' in page  # the link's target: the group's first radio
    assert count(settings) == 0


def test_invalid_form_without_htmx_redirects_to_a_page_with_the_errors(client, clock, settings):
    response = client.post(
        "/consultation", data=form(new_token(client, clock), **TYPED), follow_redirects=False
    )
    # Post/Redirect/Get: Back and reload never offer to send the form again.
    assert response.status_code == 303
    assert response.headers["cache-control"] == "no-store"
    location = response.headers["location"]
    assert re.fullmatch(r"/consultation/details/[A-Za-z0-9_-]{32}", location)
    page = client.get(location)
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    text = page.text
    assert "<html" in text
    assert '<meta name="robots" content="noindex">' in text
    title = re.search(r"<title>(.*?)</title>", text).group(1)
    assert title.startswith("Check your details")
    assert 'value="zoe@@example.com"' in tag(text, "cf-email")
    assert 'value="Zoë Ñandú 😊"' in tag(text, "cf-full_name")
    assert "checked" in tag(text, "cf-consent")
    assert "checked" in radio(text, "contact_method", "text")
    assert textarea(text) == "Hello &lt;there&gt;\nsecond line"
    assert "Please check these 2 details" in text
    # A reload shows the same, with a fresh token each time.
    again = client.get(location)
    assert "Please check these 2 details" in again.text
    assert token_in(again.text) != token_in(text)
    assert count(settings) == 0


def test_a_quick_fix_after_an_error_is_not_taken_for_a_bot(client, clock, settings):
    response = post_htmx(client, form(new_token(client, clock), consent=None))
    assert response.status_code == 422
    clock.advance(seconds=1)  # tick the box, press Send
    fixed = post_htmx(client, form(token_in(response.text)))
    assert fixed.status_code == 200
    assert count(settings) == 1


def test_sending_again_at_once_after_the_expiry_notice_is_stored(client, clock, settings):
    token = new_token(client, clock)
    clock.advance(hours=25)
    response = post_htmx(client, form(token))
    assert response.status_code == 422
    clock.advance(seconds=1)
    again = post_htmx(client, form(token_in(response.text)))
    assert again.status_code == 200
    assert count(settings) == 1


# --- exactly once -----------------------------------------------------------------------


def test_double_submit_with_htmx_stores_once(client, clock, settings):
    data = form(new_token(client, clock))
    first = post_htmx(client, data)
    second = post_htmx(client, data)
    assert first.status_code == second.status_code == 200
    assert reference_in(first.text) == reference_in(second.text)
    assert count(settings) == 1


def test_double_submit_without_js_stores_once(client, clock, settings):
    data = form(new_token(client, clock))
    first = client.post("/consultation", data=data, follow_redirects=False)
    clock.advance(seconds=1)
    second = client.post("/consultation", data=data, follow_redirects=False)
    assert first.status_code == second.status_code == 303
    assert first.headers["location"] == second.headers["location"]
    page = client.get(second.headers["location"]).text
    assert reference_in(page) == rows(settings)[0]["reference"]
    assert count(settings) == 1


def test_replay_with_other_values_keeps_the_first(client, clock, settings):
    token = new_token(client, clock)
    first = post_htmx(client, form(token))
    clock.advance(minutes=3)
    replay = post_htmx(
        client, form(token, full_name="Mallory", email="m@example.com", contact_method="email")
    )
    assert replay.status_code == 200
    assert reference_in(replay.text) == reference_in(first.text)
    # The confirmation is the first one's: a call, as first asked.
    assert "will call you" in words(replay.text)
    [row] = rows(settings)
    assert (row["full_name"], row["email"]) == ("Ada Lovelace", "Ada@example.com")
    assert row["created_at"] == "2026-12-01T15:30:05.000000Z"


def test_two_forms_are_two_requests(client, clock, settings):
    first_token = new_token(client, clock)
    second_token = new_token(client, clock)
    first = post_htmx(client, form(second_token, full_name="Second"))
    second = post_htmx(client, form(first_token, full_name="First"))
    assert first.status_code == second.status_code == 200
    assert reference_in(first.text) != reference_in(second.text)
    assert [r["full_name"] for r in rows(settings)] == ["Second", "First"]


# --- expired and forged tokens ----------------------------------------------------------


def test_an_expired_token_asks_to_send_again(client, clock, settings):
    token = new_token(client, clock)
    clock.advance(hours=24, seconds=1)
    response = post_htmx(client, form(token, **TYPED))
    assert response.status_code == 422
    page = response.text
    assert "needs to be sent again" in page
    assert "Your details are still here" in page
    assert 'value="Zoë Ñandú 😊"' in tag(page, "cf-full_name")
    assert 'value="zoe@@example.com"' in tag(page, "cf-email")
    assert "checked" in radio(page, "contact_method", "text")
    assert "checked" in tag(page, "cf-consent")
    assert "aria-invalid" not in page  # no field errors yet: only the notice
    assert token_in(page) != token
    assert count(settings) == 0


def test_a_token_just_inside_its_lifetime_is_accepted(client, clock, settings):
    token = new_token(client, clock, wait=0)
    clock.advance(hours=24)
    assert post_htmx(client, form(token)).status_code == 200
    assert count(settings) == 1


def test_expired_without_htmx_redirects_to_the_notice(client, clock, settings):
    token = new_token(client, clock)
    clock.advance(days=3)
    response = client.post("/consultation", data=form(token))
    assert [r.status_code for r in response.history] == [303]
    assert response.status_code == 200
    assert re.search(r"<title>Check your details", response.text)
    assert "needs to be sent again" in response.text
    assert 'value="Ada Lovelace"' in tag(response.text, "cf-full_name")
    assert count(settings) == 0


def other_salt_token(clock) -> str:
    serializer = URLSafeSerializer(TEST_SECRET, salt="consultation-done")
    return serializer.dumps({"n": "abc", "t": (clock() - timedelta(seconds=5)).timestamp()})


def other_key_token(clock) -> str:
    serializer = URLSafeSerializer(
        "someone-elses-secret-0123456789abcdef", salt="consultation-form"
    )
    return serializer.dumps({"n": "abc", "t": (clock() - timedelta(seconds=5)).timestamp()})


@pytest.mark.parametrize(
    "make",
    [
        lambda real, clock: "",
        lambda real, clock: "garbage",
        # A character well inside the signature (the last one's low bits are base64 padding).
        lambda real, clock: real[:-5] + ("A" if real[-5] != "A" else "B") + real[-4:],
        lambda real, clock: real.split(".")[0],
        lambda real, clock: real + "x" * 300,
        lambda real, clock: other_salt_token(clock),
        lambda real, clock: other_key_token(clock),
    ],
    ids=[
        "empty",
        "garbage",
        "bad-signature",
        "no-signature",
        "too-long",
        "other-salt",
        "other-key",
    ],
)
def test_a_forged_token_cannot_be_verified(client, clock, settings, make):
    token = make(new_token(client, clock), clock)
    response = post_htmx(client, form(token, **TYPED))
    assert response.status_code == 422
    assert "We could not verify this form" in response.text
    assert 'value="Zoë Ñandú 😊"' in tag(response.text, "cf-full_name")
    assert count(settings) == 0


def test_a_missing_token_cannot_be_verified(client, clock, settings):
    data = {k: v for k, v in form("unused").items() if k != "token"}
    response = client.post("/consultation", data=data)
    assert [r.status_code for r in response.history] == [303]
    assert response.status_code == 200
    assert "We could not verify this form" in response.text
    assert count(settings) == 0


# --- requests that look automated: stored, flagged, answered like any other -------------------


def spam_flags(settings) -> list[str | None]:
    return [row["suspected_spam"] for row in rows(settings)]


def test_honeypot_is_stored_flagged_with_the_real_confirmation(client, clock, settings):
    response = post_htmx(client, form(new_token(client, clock), website="http://spam.example"))
    assert response.status_code == 200
    assert "Thank you. We have your request." in response.text
    assert spam_flags(settings) == ["honeypot"]
    assert rows(settings)[0]["reference"] == reference_in(response.text)
    assert rows(settings)[0]["full_name"] == "Ada Lovelace"


def test_honeypot_without_js_looks_the_same(client, clock, settings):
    response = client.post(
        "/consultation", data=form(new_token(client, clock), website="x"), follow_redirects=False
    )
    assert response.status_code == 303
    assert response.headers["location"].startswith("/consultation/thanks?c=")
    page = client.get(response.headers["location"])
    assert page.status_code == 200 and "Your reference is" in page.text
    assert reference_in(page.text) == rows(settings)[0]["reference"]
    assert spam_flags(settings) == ["honeypot"]


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "no-js"])
def test_a_flagged_request_gets_exactly_the_answer_of_a_real_one(client, clock, settings, htmx):
    """Status, headers and text match, but for the reference (and the signed thanks URL)."""
    headers = HX if htmx else {}
    real = client.post("/consultation", data=form(new_token(client, clock)), headers=headers,
                       follow_redirects=False)  # fmt: skip
    fake = client.post("/consultation", data=form(new_token(client, clock, wait=0.3),
                       website="x"), headers=headers, follow_redirects=False)  # fmt: skip
    assert real.status_code == fake.status_code == (200 if htmx else 303)
    ignore = {"date", "content-length", "location", "set-cookie"}
    assert {k: v for k, v in real.headers.items() if k not in ignore} == {
        k: v for k, v in fake.headers.items() if k not in ignore
    }
    if not htmx:
        real, fake = client.get(real.headers["location"]), client.get(fake.headers["location"])
    strip = re.compile(r"AKI-[0-9A-Z]{5}")
    assert strip.sub("REF", real.text) == strip.sub("REF", fake.text)
    assert spam_flags(settings) == [None, "honeypot"]


@pytest.mark.parametrize(
    ("wait", "flag"),
    [(0, "too_fast"), (0.3, "too_fast"), (1.999, "too_fast"), (2, None), (3, None)],
)
def test_too_fast_is_stored_flagged(client, clock, settings, wait, flag):
    response = post_htmx(client, form(new_token(client, clock, wait=wait)))
    assert response.status_code == 200
    assert reference_in(response.text) == rows(settings)[0]["reference"]
    assert spam_flags(settings) == [flag]


def test_five_fast_autofilled_sends_are_all_stored(client, clock, settings):
    """The report: five sends within 2 s of the page loading were all lost behind a thank-you."""
    shown = []
    for i in range(5):
        response = post_htmx(client, form(new_token(client, clock, wait=0.5), full_name=f"P{i}"))
        assert response.status_code == 200
        shown.append(reference_in(response.text))
    assert [r["reference"] for r in rows(settings)] == shown
    assert spam_flags(settings) == ["too_fast"] * 5


def test_honeypot_wins_over_too_fast(client, clock, settings):
    post_htmx(client, form(new_token(client, clock, wait=0), website="x"))
    assert spam_flags(settings) == ["honeypot"]


def test_an_automated_request_is_still_validated(client, clock, settings):
    response = post_htmx(client, form(new_token(client, clock, wait=0), website="x", consent=None))
    assert response.status_code == 422
    assert "Tick the box to agree" in response.text
    assert count(settings) == 0


def test_a_flagged_request_uses_up_its_token(client, clock, settings):
    token = new_token(client, clock, wait=1)
    first = post_htmx(client, form(token))
    clock.advance(seconds=5)
    again = post_htmx(client, form(token))
    assert reference_in(again.text) == reference_in(first.text)
    assert spam_flags(settings) == ["too_fast"]


# --- re-checking fields after a failed send ----------------------------------------------------


def test_fields_carry_a_recheck_only_after_a_failed_send(client, clock):
    fresh = client.get("/consultation").text
    assert "data-check-field" not in fresh
    token = new_token(client, clock)
    failed = client.post("/consultation", data=form(token, full_name="", consent=None), headers=HX)
    assert failed.status_code == 422
    assert 'data-check-field="full_name"' in failed.text
    assert "/consultation/check?fields=full_name,consent" in failed.text


def test_recheck_answers_each_listed_field_out_of_band_and_stores_nothing(client, settings):
    response = client.post(
        "/consultation/check?fields=full_name,email,consent,bogus",
        data={"full_name": "Ann", "email": "not-an-email", "contact_method": "email",
              "best_time": "any"},
        headers=HX,
    )  # fmt: skip
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    text = response.text
    assert '<div id="cf-full_name-feedback" data-hx-swap-oob="innerHTML"></div>' in text
    assert 'id="cf-email-error"' in text and "Enter an email address like" in text
    assert 'id="cf-consent-error"' in text
    assert "bogus" not in text and "cf-phone-feedback" not in text
    assert count(settings) == 0


def test_recheck_refuses_other_sites_and_strange_bodies(client):
    cross = client.post("/consultation/check?fields=email", data={"email": "x"},
                        headers={"sec-fetch-site": "cross-site"})  # fmt: skip
    assert cross.status_code == 403
    unknown = client.post("/consultation/check?fields=email", data={"password": "x"})
    assert unknown.status_code == 400
    escaped = client.post("/consultation/check?fields=full_name",
                          data={"full_name": "<script>" + "x" * 200}, headers=HX)  # fmt: skip
    assert "<script>x" not in escaped.text
