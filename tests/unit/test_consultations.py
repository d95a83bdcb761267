"""The pure half of the consultation form: validate(), phone numbers, references, and store()."""

from __future__ import annotations

import re
import sqlite3
from contextlib import closing
from datetime import UTC, datetime

import pytest

from webapp.consultations import (
    PERSON_FIELDS,
    REFERENCE_ALPHABET,
    RateLimited,
    Submission,
    format_phone,
    new_reference,
    normalise_phone,
    store,
    validate,
)
from webapp.db import Database, migrate

VALID = {
    "full_name": "Ada Lovelace",
    "email": "ada@example.com",
    "phone": "",
    "contact_method": "email",
    "best_time": "any",
    "message": "",
    "consent": "yes",
}

NAME_TOO_LONG = "Your name must be 100 characters or fewer."
NAME_BAD_CHARS = "Your name contains characters we can't accept."
EMAIL_BAD = "Enter an email address like name@example.com."
PHONE_BAD = "Enter a 10-digit US phone number, like (518) 555-0123."
REACH = "Enter an email address or a phone number, so we can reach you."


def check(**changes: str | None) -> tuple[Submission | None, dict[str, str]]:
    """validate() on a valid form with some fields changed (None removes the field)."""
    values = {**VALID, **changes}
    return validate({k: v for k, v in values.items() if v is not None})


def email_of_length(n: int) -> str:
    """An address with sensible parts (local part <= 64, labels <= 63) and n characters."""
    head = "a@" + ".".join(["b" * 63, "c" * 63, "d" * 63]) + "."
    return head + "e" * (n - len(head) - 4) + ".com"


# --- names ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("", "Enter your name."),
        ("   ", "Enter your name."),
        ("\t\n ", "Enter your name."),
        ("a" * 100, None),
        ("  " + "a" * 100 + "  ", None),  # the surrounding spaces do not count
        ("a" * 101, NAME_TOO_LONG),
        ("a" * 10_000, NAME_TOO_LONG),
        ("Bob\x00Smith", NAME_BAD_CHARS),
        ("Bob\x07Smith", NAME_BAD_CHARS),
        ("Bob\x1bSmith", NAME_BAD_CHARS),
        ("Bob\x7fSmith", NAME_BAD_CHARS),
        ("Bob\x85Smith", NAME_BAD_CHARS),
        ("Bob\nSmith", NAME_BAD_CHARS),
        ("Bob\r\nSmith", NAME_BAD_CHARS),
        ("Bob\tSmith", NAME_BAD_CHARS),
        ("Bob\u2028Smith", NAME_BAD_CHARS),
        ("Zoë Ñandú 😊", None),
        ("Mary-Jane O'Neill", None),
        ("李小龙", None),
        ("<script>alert(1)</script>", None),  # stored as typed; escaped when shown
    ],
)
def test_names(name, error):
    submission, errors = check(full_name=name)
    assert errors.get("full_name") == error
    if error is None:
        assert errors == {}
        assert submission is not None
        assert submission.full_name == name.strip()
    else:
        assert submission is None
        assert list(errors) == ["full_name"]


def test_missing_name_field():
    assert check(full_name=None)[1] == {"full_name": "Enter your name."}


# --- emails -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("email", "stored"),
    [
        ("ada@example.com", "ada@example.com"),
        ("first.last+tag@mail.example.co.uk", "first.last+tag@mail.example.co.uk"),
        ("  ada@example.com  ", "ada@example.com"),
        ("Ada.Lovelace@Example.COM", "Ada.Lovelace@example.com"),  # the domain only
        ("o'brien@example.ie", "o'brien@example.ie"),
        ("a@my-host.example", "a@my-host.example"),
        (email_of_length(254), email_of_length(254)),
    ],
)
def test_good_emails(email, stored):
    submission, errors = check(email=email)
    assert errors == {}
    assert submission.email == stored


@pytest.mark.parametrize(
    "email",
    [
        "a@b",
        "a@@b.com",
        "a b@c.com",
        "ada@example.com.",
        "ada@example..com",
        "ada..x@example.com",
        "@example.com",
        "ada@",
        "ada",
        "ada@-example.com",
        "ada@example-.com",
        "ada@exa_mple.com",
        "ada@example.c",
        "ada@example.123",
        "ada@exämple.com",
        "ada@example.com\nBcc: x@example.com",
        "<ada@example.com>",
        email_of_length(255),
    ],
)
def test_bad_emails(email):
    submission, errors = check(email=email)
    assert submission is None
    assert errors == {"email": EMAIL_BAD}


def test_length_helper_builds_what_it_says():
    assert len(email_of_length(254)) == 254
    assert len(email_of_length(255)) == 255


# --- phones -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "phone",
    [
        "(518) 555-0123",
        "518.555.0123",
        "518-555-0123",
        "5185550123",
        "+1 518 555 0123",
        "+15185550123",
        "1-518-555-0123",
        "1 (518) 555-0123",
        "  518 555 0123  ",
    ],
)
def test_good_phones(phone):
    assert normalise_phone(phone.strip()) == "+15185550123"
    submission, errors = check(phone=phone, contact_method="call")
    assert errors == {}
    assert submission.phone == "+15185550123"


@pytest.mark.parametrize(
    "phone",
    [
        "555-0123",  # seven digits: no area code
        "+44 20 7946 0958",  # not a US number
        "+2 518 555 0123",
        "(018) 555-0123",  # area codes do not start with 0 or 1
        "(118) 555-0123",
        "518-155-0123",  # nor do exchanges
        "518-055-0123",
        "518-555-O123",  # a letter O
        "call me",
        "518-555-0123 ext 4",
        "５１８５５５０１２３",  # fullwidth digits
        "518٥550123",  # an Arabic-Indic digit
        "+1 (518) 555-01234",
        "2-518-555-0123",
        "++15185550123",
        "518/555/0123",
        "518" + " " * 30 + "5550123",  # longer than the field allows
    ],
)
def test_bad_phones(phone):
    submission, errors = check(phone=phone, contact_method="call")
    assert submission is None
    assert errors == {"phone": PHONE_BAD}
    if len(phone) <= 30:
        assert normalise_phone(phone) is None


def test_a_bad_phone_with_a_good_email_is_still_an_error():
    assert check(phone="555-0123")[1] == {"phone": PHONE_BAD}


@pytest.mark.parametrize(
    ("e164", "shown"),
    [("+15185550123", "(518) 555-0123"), ("+12125550199", "(212) 555-0199"), ("", "")],
)
def test_format_phone(e164, shown):
    assert format_phone(e164) == shown


def test_format_phone_leaves_anything_else_alone():
    assert format_phone("+442079460958") == "+442079460958"


# --- how to reach and contact -----------------------------------------------------------


def test_neither_email_nor_phone():
    submission, errors = check(email="", phone="  ")
    assert submission is None
    # One message, on the first of the two fields; no second complaint about the method.
    assert errors == {"email": REACH}


def test_phone_only_is_enough_for_a_call_or_text():
    for method in ("call", "text"):
        submission, errors = check(email="", phone="518-555-0123", contact_method=method)
        assert errors == {}
        assert (submission.email, submission.phone) == ("", "+15185550123")


def test_email_chosen_without_an_email():
    submission, errors = check(email="", phone="518-555-0123", contact_method="email")
    assert submission is None
    assert errors == {
        "contact_method": "You chose email: add your email address, or choose a call or text."
    }


@pytest.mark.parametrize("method", ["call", "text"])
def test_call_or_text_chosen_without_a_phone(method):
    submission, errors = check(contact_method=method, phone="")
    assert submission is None
    assert errors == {
        "contact_method": "You chose a call or text: add your phone number, or choose email."
    }


def test_a_wrong_phone_is_reported_once_not_twice():
    _, errors = check(contact_method="call", phone="555-0123")
    assert errors == {"phone": PHONE_BAD}


@pytest.mark.parametrize("method", ["", "fax", "EMAIL", " email", "email ", "0", None])
def test_bad_contact_methods(method):
    assert check(contact_method=method)[1] == {
        "contact_method": "Choose how you would like us to contact you."
    }


@pytest.mark.parametrize("time", ["", "evening", "ANY", "any ", "Morning", None])
def test_bad_best_times(time):
    assert check(best_time=time)[1] == {"best_time": "Choose the best time to reach you."}


@pytest.mark.parametrize("time", ["morning", "afternoon", "any"])
def test_good_best_times(time):
    submission, errors = check(best_time=time)
    assert errors == {}
    assert submission.best_time == time


# --- message and consent ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "stored"),
    [
        ("", ""),
        ("x" * 1000, "x" * 1000),
        ("line one\r\nline two", "line one\nline two"),
        ("old mac\rline", "old mac\nline"),
        ("x" * 499 + "\r\n" + "x" * 500, "x" * 499 + "\n" + "x" * 500),  # 1,000 once normalised
        ("  padded \n\n", "padded"),
        ("tab\tseparated", "tab\tseparated"),
        ("Zoë <b>bold</b> & 😊", "Zoë <b>bold</b> & 😊"),
    ],
)
def test_good_messages(message, stored):
    submission, errors = check(message=message)
    assert errors == {}
    assert submission.message == stored


def test_missing_message_is_empty():
    assert check(message=None)[0].message == ""


def test_message_of_1001_characters():
    assert check(message="x" * 1001)[1] == {
        "message": "Your message must be 1,000 characters or fewer (it has 1,001)."
    }


@pytest.mark.parametrize("bad", ["\x00", "\x08", "\x0b", "\x0c", "\x1f", "\x7f", "\u2029"])
def test_messages_with_control_characters(bad):
    assert check(message=f"hello{bad}world")[1] == {
        "message": "Your message contains characters we can't accept."
    }


@pytest.mark.parametrize("consent", [None, "", "on", "YES", "yes ", "true", "1"])
def test_consent_must_be_yes(consent):
    submission, errors = check(consent=consent)
    assert submission is None
    assert errors == {
        "consent": "Tick the box to agree, so we can keep your details and contact you."
    }


# --- the whole -----------------------------------------------------------------------------


def test_a_valid_request_is_normalised():
    submission, errors = validate(
        {
            "full_name": "  Zoë Ñandú 😊 ",
            "email": "Zoe@Example.ORG",
            "phone": "(518) 555-0123",
            "contact_method": "text",
            "best_time": "morning",
            "message": "Hello\r\nthere ",
            "consent": "yes",
            "token": "ignored",
            "website": "",
        }
    )
    assert errors == {}
    assert submission == Submission(
        full_name="Zoë Ñandú 😊",
        email="Zoe@example.org",
        phone="+15185550123",
        contact_method="text",
        best_time="morning",
        message="Hello\nthere",
    )


def test_errors_follow_the_form_order():
    _, errors = validate(
        {
            "consent": "on",
            "message": "x" * 1001,
            "best_time": "never",
            "contact_method": "fax",
            "phone": "12",
            "email": "nope",
            "full_name": "",
        }
    )
    assert list(errors) == list(PERSON_FIELDS)


def test_errors_order_when_the_reach_error_is_found_late():
    # The email error for "neither" is decided after the phone; it still comes second.
    _, errors = validate({"full_name": "", "best_time": "x", "contact_method": "call"})
    # With neither email nor phone, one message covers it: no second one about the phone.
    assert list(errors) == ["full_name", "email", "best_time", "consent"]
    assert errors["email"] == REACH


def test_empty_submission():
    submission, errors = validate({})
    assert submission is None
    assert list(errors) == ["full_name", "email", "contact_method", "best_time", "consent"]


# --- references -------------------------------------------------------------------------


def test_reference_format():
    pattern = re.compile(r"^AKI-[0-9A-HJKMNP-TV-Z]{5}$")
    references = {new_reference() for _ in range(2000)}
    assert all(pattern.match(r) for r in references)
    assert len(references) > 1990  # random, not a counter
    used = set("".join(r[4:] for r in references))
    assert not used & set("ILOU")
    assert used <= set(REFERENCE_ALPHABET)
    assert len(REFERENCE_ALPHABET) == 32 == len(set(REFERENCE_ALPHABET))


# --- store(): exactly once per token, admit only for new requests ----------------------------


@pytest.fixture
async def db(tmp_path):
    path = tmp_path / "unit.db"
    migrate(path)
    database = Database(path)
    await database.open()
    yield database
    await database.close()


NOW = datetime(2026, 12, 1, 15, 30, 5, tzinfo=UTC)


def count_rows(path) -> int:
    with closing(sqlite3.connect(path)) as conn:
        return conn.execute("SELECT count(*) FROM consultations").fetchone()[0]


@pytest.mark.anyio
async def test_store_once_per_token(db):
    submission, _ = check(phone="518 555 0123")
    calls = []

    async def admit(conn) -> bool:
        calls.append(1)
        return True

    first = await store(db, submission, "nonce-1", NOW, admit)
    assert not first.replayed
    assert first.created_at == NOW
    again = await store(db, check(full_name="Someone Else")[0], "nonce-1", NOW, admit)
    assert again.replayed
    assert (again.reference, again.created_at, again.contact_method) == (
        first.reference,
        NOW,
        "email",
    )
    assert len(calls) == 1  # a replay is not a new request: the limit is not asked
    other = await store(db, submission, "nonce-2", NOW, admit)
    assert other.reference != first.reference
    assert len(calls) == 2
    assert count_rows(db.path) == 2
    row = await db.fetchone("SELECT * FROM consultations WHERE token_id = 'nonce-1'")
    assert row["full_name"] == "Ada Lovelace"
    assert row["phone"] == "+15185550123"
    assert row["status"] == "new"
    assert row["created_at"] == row["consent_at"] == "2026-12-01T15:30:05.000000Z"


async def refuse(conn) -> bool:
    return False


@pytest.mark.anyio
async def test_store_refused_by_admit_stores_nothing(db):
    submission, _ = check()
    with pytest.raises(RateLimited):
        await store(db, submission, "nonce-1", NOW, refuse)
    assert count_rows(db.path) == 0
    # The refusal left no transaction open: the next write works.
    stored = await store(db, submission, "nonce-1", NOW)
    assert not stored.replayed
    # A stored token is still answered when admit would refuse.
    again = await store(db, submission, "nonce-1", NOW, refuse)
    assert again.replayed and again.reference == stored.reference
    assert count_rows(db.path) == 1


@pytest.mark.anyio
async def test_store_draws_again_on_a_reference_clash(db, monkeypatch):
    from webapp import consultations

    submission, _ = check()
    draws = iter(["AKI-AAAAA", "AKI-AAAAA", "AKI-BBBBB"])
    monkeypatch.setattr(consultations, "new_reference", lambda: next(draws))
    assert (await store(db, submission, "n1", NOW)).reference == "AKI-AAAAA"
    assert (await store(db, submission, "n2", NOW)).reference == "AKI-BBBBB"
    assert count_rows(db.path) == 2
