"""Two-factor codes at fixed instants (RFC 6238's own test vector included), replays, drift,
and recovery codes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyotp
import pytest
from hypothesis import given
from hypothesis import strategies as st

from webapp import totp

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
NOW = datetime(2026, 12, 1, 15, 30, 7, tzinfo=UTC)


def code(at: datetime, secret: str = SECRET) -> str:
    return pyotp.TOTP(secret).at(at)


def test_rfc_6238_vector():
    # RFC 6238 appendix B, SHA-1, T = 59 s: 94287082 (8 digits); our 6 digits are its tail.
    rfc_secret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"  # "12345678901234567890" in base32
    assert totp.code_at(rfc_secret, 59 // 30) == "287082"


def test_the_current_code_is_accepted_and_names_its_step():
    assert totp.matching_step(SECRET, code(NOW), NOW, None) == totp.step_at(NOW)


@pytest.mark.parametrize(
    ("offset", "accepted"),
    [(-31, False), (-30, True), (-1, True), (0, True), (29, True), (59, True), (60, False)],
)
def test_drift_of_one_step_either_way(offset, accepted):
    now = datetime(2026, 12, 1, 15, 30, 0, tzinfo=UTC)  # the start of a step
    typed = code(now + timedelta(seconds=offset))
    assert (totp.matching_step(SECRET, typed, now, None) is not None) is accepted


def test_a_code_is_refused_at_or_before_the_last_step_used():
    step = totp.step_at(NOW)
    assert totp.matching_step(SECRET, code(NOW), NOW, step) is None  # replay
    earlier = code(NOW - timedelta(seconds=30))
    assert totp.matching_step(SECRET, earlier, NOW, step) is None  # older than the last used
    later = code(NOW + timedelta(seconds=30))
    assert totp.matching_step(SECRET, later, NOW, step) == step + 1


@pytest.mark.parametrize("typed", ["", "12345", "1234567", "abcdef", "１２３４５６", "12 34 5x"])
def test_malformed_codes_are_refused(typed):
    assert totp.matching_step(SECRET, typed, NOW, None) is None


def test_spaces_and_dashes_inside_a_code_are_ignored():
    good = code(NOW)
    assert totp.matching_step(SECRET, f" {good[:3]} {good[3:]} ", NOW, None) is not None
    assert totp.matching_step(SECRET, f"{good[:3]}-{good[3:]}", NOW, None) is not None


def test_another_secrets_code_is_refused():
    other = "KRUGKIDROVUWG2ZAMJZG653OEBTG66BA"
    assert code(NOW, other) != code(NOW)
    assert totp.matching_step(SECRET, code(NOW, other), NOW, None) is None


@given(st.integers(min_value=0, max_value=10**6))
def test_every_instant_accepts_its_own_code_once(seconds):
    now = NOW + timedelta(seconds=seconds)
    step = totp.matching_step(SECRET, code(now), now, None)
    assert step == totp.step_at(now)
    assert totp.matching_step(SECRET, code(now), now, step) is None


def test_new_secrets_are_random_base32_of_160_bits():
    secrets = {totp.new_secret() for _ in range(50)}
    assert len(secrets) == 50
    assert all(totp.valid_secret(s) for s in secrets)
    assert not totp.valid_secret("short") and not totp.valid_secret("1" * 32)


def test_provisioning_uri_and_qr_code():
    uri = totp.provisioning_uri(SECRET, "nurse@example.org", "Albany Ketamine Infusions")
    assert uri.startswith("otpauth://totp/Albany%20Ketamine%20Infusions:nurse%40example.org?")
    assert f"secret={SECRET}" in uri and "issuer=Albany%20Ketamine%20Infusions" in uri
    image = totp.qr_svg_data_uri(uri)
    assert image.startswith("data:image/svg+xml;base64,")
    import base64

    svg = base64.b64decode(image.split(",", 1)[1]).decode()
    assert svg.startswith("<svg") and "<path" in svg
    assert "style" not in svg and "script" not in svg


def test_recovery_codes():
    codes = totp.new_recovery_codes()
    assert len(codes) == 10 == len(set(codes))
    for item in codes:
        parts = item.split("-")
        assert [len(p) for p in parts] == [4, 4, 4, 4]
        assert set("".join(parts)) <= set(totp.RECOVERY_ALPHABET)
    first = codes[0]
    assert totp.normalize_recovery(first.lower().replace("-", " ")) == first.replace("-", "")
    assert totp.recovery_hash(first) == totp.recovery_hash(first.lower())
    assert first.replace("-", "") not in totp.recovery_hash(first)


@pytest.mark.parametrize("typed", ["", "ABCD", "ABCD-EFGH-JKLM-NPQ0", "I" * 16, "é" * 16])
def test_what_cannot_be_a_recovery_code(typed):
    assert totp.normalize_recovery(typed) is None
    with pytest.raises(ValueError):
        totp.recovery_hash(typed)
