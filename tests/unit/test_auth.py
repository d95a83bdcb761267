"""Password rules, Argon2id hashing, CSRF comparison and the post-login redirect rule."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from webapp.auth import MAX_PASSWORD, MIN_PASSWORD, Hasher, Session, Staff, csrf_matches
from webapp.auth import password_problem as problem
from webapp.views.staff_auth import safe_next

EMAIL = "janedoe@example.org"
TOO_SHORT = "Use at least 12 characters."
TOO_LONG = "Use at most 256 characters."
COMMON = "Choose a less common password."
PASSPHRASE = "maple quarry lantern orbit "


# --- password_problem ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("password", "email", "expected"),
    [
        ("", "", TOO_SHORT),
        ("Tq8#vL2!pZ9", "", TOO_SHORT),  # 11 characters, however random
        ("a" * 11, "", TOO_SHORT),
        ("password1234", "", COMMON),
        ("qwertyuiop123", "", COMMON),
        ("aaaaaaaaaaaa", "", COMMON),
        ("123456789012", "", COMMON),
        ("janedoe@example.org", EMAIL, COMMON),  # the email itself
        ("janedoe12345", EMAIL, COMMON),  # the email's local part and digits
        ("albanyketamine", "", COMMON),  # the clinic's own words
        ("ketamineclinic", "", COMMON),
        ("x" * 257, "", TOO_LONG),
        ("correct horse battery staple violet", "", None),
        ("Tq8#vL2!pZ9w", "", None),  # exactly 12 characters
        ("janedoe12345", "", None),  # guessable only for Jane herself
        ("Þorgrímur sá hvalinn í gær", "", None),  # non-ASCII is fine
    ],
)
def test_password_problem(password, email, expected):
    found = problem(password, email)
    if expected is None:
        assert found is None
    else:
        assert found is not None and found.startswith(expected), found


def test_the_limits_are_what_the_messages_say():
    assert (MIN_PASSWORD, MAX_PASSWORD) == (12, 256)


def test_common_password_message_carries_zxcvbn_advice():
    assert problem("password1234") == (
        "Choose a less common password. This is a very common password."
    )


def test_a_hint_free_message_still_says_why():
    assert (
        problem("janedoe12345", EMAIL) == "Choose a less common password. It is too easy to guess."
    )


@pytest.mark.parametrize("length", [73, 100, 256])
def test_long_passphrases_up_to_the_limit_are_accepted(length):
    password = (PASSPHRASE * 10)[:length]
    assert problem(password) is None


# --- Hasher ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hasher() -> Hasher:
    return Hasher(fast=True)


@pytest.fixture(scope="module")
def stored(hasher) -> str:
    return hasher.hash_sync("violet-harbor-teapot-42")


def verify(hasher: Hasher, stored: str | None, password: str) -> bool:
    return asyncio.run(hasher.verify(stored, password))


def test_hashes_are_argon2id_and_salted(hasher, stored):
    assert stored.startswith("$argon2id$")
    assert hasher.hash_sync("violet-harbor-teapot-42") != stored
    assert "violet" not in stored


@pytest.mark.parametrize(
    ("stored_value", "password", "ok"),
    [
        ("STORED", "violet-harbor-teapot-42", True),
        ("STORED", "violet-harbor-teapot-43", False),
        ("STORED", "", False),
        ("STORED", "Violet-harbor-teapot-42", False),
        ("not-a-hash", "violet-harbor-teapot-42", False),
        ("$argon2id$v=19$m=8192,t=1,p=1$garbage$garbage", "x", False),
        ("$2b$12$abcdefghijklmnopqrstuuM0lPpE7b9N9oL1Qnq0K6cU0vq5lG1Z6", "x", False),
        ("", "violet-harbor-teapot-42", False),
        (None, "violet-harbor-teapot-42", False),
        (None, "", False),
    ],
)
def test_verify(hasher, stored, stored_value, password, ok):
    value = stored if stored_value == "STORED" else stored_value
    assert verify(hasher, value, password) is ok


def test_an_unknown_account_never_matches_even_the_dummy(hasher):
    # The dummy hash's password is random and secret; None must fail whatever is typed.
    assert verify(hasher, None, "anything") is False
    assert hasher._dummy is not None  # made on first use, then reused
    assert verify(hasher, None, hasher._dummy) is False


def test_hashes_made_with_other_parameters_still_verify(hasher):
    other = Hasher(fast=True)
    assert verify(hasher, other.hash_sync("granite-meadow-lantern-77"), "granite-meadow-lantern-77")


def test_needs_rehash(hasher, stored):
    assert hasher.needs_rehash(stored) is False


# --- csrf_matches ------------------------------------------------------------------------------


def session(token: str = "Zm9vYmFyLXRva2VuLTEyMzQ1Njc4OTAtYWJjZGVmZ2g") -> Session:
    now = datetime(2026, 12, 1, 15, 30, tzinfo=UTC)
    return Session("hash", Staff(1, "a@example.org", True), token, now, now)


@pytest.mark.parametrize(
    ("submitted", "ok"),
    [
        ("Zm9vYmFyLXRva2VuLTEyMzQ1Njc4OTAtYWJjZGVmZ2g", True),
        ("Zm9vYmFyLXRva2VuLTEyMzQ1Njc4OTAtYWJjZGVmZ2", False),
        ("Zm9vYmFyLXRva2VuLTEyMzQ1Njc4OTAtYWJjZGVmZ2gx", False),
        ("zm9vYmFyLXRva2VuLTEyMzQ1Njc4OTAtYWJjZGVmZ2g", False),
        (" Zm9vYmFyLXRva2VuLTEyMzQ1Njc4OTAtYWJjZGVmZ2g", False),
        ("", False),
        (None, False),
    ],
)
def test_csrf_matches(submitted, ok):
    assert csrf_matches(session(), submitted) is ok


def test_an_empty_session_token_matches_nothing():
    assert csrf_matches(session(""), "") is False


@pytest.mark.parametrize(
    "submitted", ["é", "Zm9vYmFyLXRva2VuLTEyMzQ1Njc4OTAtYWJjZGVmZ2✓", "\ud800", "\x00"]
)
def test_non_ascii_csrf_is_simply_a_mismatch(submitted):
    # Found as a bug in the first version: hmac.compare_digest raised TypeError on non-ASCII str.
    assert csrf_matches(session(), submitted) is False


# --- safe_next -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/staff", "/staff"),
        ("/staff/hours", "/staff/hours"),
        ("/staff?status=new&q=ann", "/staff?status=new&q=ann"),
        ("/staff/requests/12", "/staff/requests/12"),
        (None, "/staff"),
        ("", "/staff"),
        ("https://evil.example", "/staff"),
        ("https://evil.example/staff", "/staff"),
        ("//evil.example", "/staff"),
        ("//evil.example/staff", "/staff"),
        ("///evil.example", "/staff"),
        ("/\\evil.example", "/staff"),
        ("/staff\\..\\..\\evil", "/staff"),
        ("javascript:alert(1)", "/staff"),
        ("data:text/html,hi", "/staff"),
        ("/public-page", "/staff"),
        ("staff", "/staff"),
        ("/staff/login", "/staff"),
        ("/staff/login?next=/staff", "/staff"),
        (" //evil.example", "/staff"),
        ("\t//evil.example", "/staff"),
        ("/staff/" + "x" * 600, "/staff"),
        ("/staff/../clinic", "/staff"),
        ("/staff/%2E%2E/clinic", "/staff"),
        ("/staff/.", "/staff"),
    ],
)
def test_safe_next(target, expected):
    assert safe_next(target) == expected


def test_trusted_checks_go_before_untrusted_ones():
    # Argon2id takes every core: while a trusted check (a known device) waits or runs, no
    # untrusted one starts, so a flood from elsewhere cannot slow the person down.
    import threading
    import time

    import anyio

    hasher = Hasher(fast=True)
    stored = hasher.hash_sync("a-password-of-some-length")
    events: list[str] = []
    lock = threading.Lock()
    real = hasher._hasher

    class Slow:
        def verify(self, hash_, password):
            with lock:
                events.append(f"start {password}")
            time.sleep(0.1)
            with lock:
                events.append(f"end {password}")
            return real.verify(hash_, "a-password-of-some-length")

    hasher._hasher = Slow()

    async def scenario():
        async with anyio.create_task_group() as group:
            group.start_soon(lambda: hasher.verify(stored, "trusted-1", trusted=True))
            await anyio.sleep(0.01)
            group.start_soon(lambda: hasher.verify(stored, "untrusted", trusted=False))
            await anyio.sleep(0.01)
            group.start_soon(lambda: hasher.verify(stored, "trusted-2", trusted=True))

    anyio.run(scenario)
    assert events.index("start untrusted") > events.index("end trusted-2")
