"""Form tokens: what `read` accepts is exactly what the signing library would, never more."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from itsdangerous import URLSafeSerializer
from starlette.datastructures import Secret

from webapp.security import BadToken, ExpiredToken, FormTokens

NOW = datetime(2026, 12, 2, 17, 0, tzinfo=UTC)
OLD, NEW = Secret("o" * 40), Secret("n" * 40)
DAY = timedelta(hours=24)


def tokens(*keys: Secret) -> FormTokens:
    return FormTokens(keys, "consultation-form", DAY)


def library(key: Secret, salt: str = "consultation-form") -> URLSafeSerializer:
    """The signing library's own serializer, as FormTokens configures it."""
    return URLSafeSerializer(str(key), salt=salt, signer_kwargs={"digest_method": hashlib.sha256})


def test_an_issued_token_reads_back_with_its_age():
    made = tokens(NEW)
    info = made.read(made.issue(NOW - timedelta(seconds=5)), NOW)
    assert len(info.nonce) == 22 and info.age == timedelta(seconds=5)
    # The same bytes the library makes: it reads them, and they read here.
    assert library(NEW).loads(made.issue(NOW))["n"]


def test_after_a_key_rotation_tokens_of_the_old_key_still_read():
    before = tokens(OLD).issue(NOW)
    rotated = tokens(NEW, OLD)  # newest first, as SECRET_KEY and its old values
    assert rotated.read(before, NOW).nonce
    with pytest.raises(BadToken):
        tokens(OLD).read(rotated.issue(NOW), NOW)  # signed with the new key only


@pytest.mark.parametrize(
    "payload",
    [
        {"n": "abc", "t": NOW.timestamp()},
        {"n": "x" * 40, "t": NOW.timestamp(), "padding": "y" * 60},  # compressed by the library
    ],
)
def test_tokens_the_library_makes_read_too(payload):
    token = library(NEW).dumps(payload)
    assert tokens(NEW).read(token, NOW).nonce == payload["n"]


def test_a_token_for_another_form_or_key_is_refused():
    with pytest.raises(BadToken):
        tokens(NEW).read(library(NEW, salt="staff-login").dumps({"n": "a", "t": 1.0}), NOW)
    with pytest.raises(BadToken):
        tokens(NEW).read(tokens(Secret("z" * 40)).issue(NOW), NOW)


def _tampered(token: str) -> list[str]:
    value, signature = token.rsplit(".", 1)
    body = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).replace(b'"t":', b'"t":1')
    forged = base64.urlsafe_b64encode(body).rstrip(b"=").decode()
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    return [
        f"{forged}.{signature}",  # another payload under the real signature
        f"{value}.{flipped}",
        f"{value}.{signature}==",  # padding the library would strip
        f"{value}.{signature[:-1]}",
        f"{value}",
        f".{value}.{signature}",  # claims to be compressed
        f"{value}.{signature}.{signature}",
        token.replace("A", "é", 1) if "A" in token else token + "é",
    ]


def test_any_change_to_a_token_is_refused():
    made = tokens(NEW)
    token = made.issue(NOW)
    for bad in _tampered(token):
        with pytest.raises(BadToken):
            made.read(bad, NOW)


@pytest.mark.parametrize("payload", [[1, 2], "text", 7, {"n": "a"}, {"t": 1.0}, {"n": 1, "t": "x"}])
def test_a_signed_payload_of_the_wrong_shape_is_refused(payload):
    with pytest.raises(BadToken):
        tokens(NEW).read(library(NEW).dumps(payload), NOW)


def test_an_old_token_is_expired_and_empty_or_long_ones_are_bad():
    made = tokens(NEW)
    with pytest.raises(ExpiredToken):
        made.read(made.issue(NOW - DAY - timedelta(seconds=1)), NOW)
    for bad in ("", "x" * 201):
        with pytest.raises(BadToken):
            made.read(bad, NOW)
