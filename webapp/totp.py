"""Two-factor codes (TOTP, RFC 6238) and recovery codes: pure rules, no I/O.

A code is checked at an instant from the app's clock against the previous, current and next
30-second step (clocks drift), and only at a step later than the last one accepted for the
account, so a code cannot be used twice. Recovery codes hold 80 random bits each; only their
SHA-256 is stored.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import secrets
from datetime import datetime

import pyotp
import segno

STEP_SECONDS = 30
DIGITS = 6
DRIFT_STEPS = 1
RECOVERY_COUNT = 10
# Base32 without the look-alikes 0/O and 1/I: 32 symbols, 5 bits each.
RECOVERY_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
RECOVERY_LENGTH = 16


def new_secret() -> str:
    """A fresh shared secret: 160 random bits in base32, as authenticator apps expect."""
    return pyotp.random_base32(length=32)


def valid_secret(secret: str) -> bool:
    """True for a secret this module could have made (32 base32 characters)."""
    return len(secret) == 32 and all(c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567" for c in secret)


def step_at(now: datetime) -> int:
    """The 30-second time-step an instant falls in."""
    return int(now.timestamp()) // STEP_SECONDS


def code_at(secret: str, step: int) -> str:
    """The six-digit code for a time-step."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).generate_otp(step)


def clean_code(text: str) -> str:
    """What a person typed, without the spaces and dashes apps show inside a code."""
    return "".join(text.split()).replace("-", "")


def looks_like_code(text: str) -> bool:
    """Six digits (after clean_code): an authenticator code rather than a recovery code."""
    cleaned = clean_code(text)
    return len(cleaned) == DIGITS and cleaned.isascii() and cleaned.isdigit()


def matching_step(secret: str, typed: str, now: datetime, last_step: int | None) -> int | None:
    """The time-step whose code was typed, if it is within the drift allowed and later than
    the last step accepted; None otherwise (wrong, too old, or already used)."""
    code = clean_code(typed)
    if not looks_like_code(code):
        return None
    current = step_at(now)
    found = None
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        # Compare every candidate (constant work), remember the match.
        if hmac.compare_digest(code_at(secret, step), code) and found is None:
            found = step
    if found is None or (last_step is not None and found <= last_step):
        return None
    return found


def provisioning_uri(secret: str, account: str, issuer: str) -> str:
    """The otpauth:// URI an authenticator app reads from the QR code."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(
        name=account, issuer_name=issuer
    )


def qr_svg_data_uri(uri: str) -> str:
    """The URI as a QR code: an SVG image in a data: URI (no inline style or script, so the
    page's Content-Security-Policy holds), dark on white with the quiet zone around it."""
    qr = segno.make(uri, error="m", micro=False)
    buffer = io.BytesIO()
    qr.save(buffer, kind="svg", scale=5, border=4, dark="#000", light="#fff", xmldecl=False)
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def new_recovery_codes(count: int = RECOVERY_COUNT) -> list[str]:
    """Fresh recovery codes, shown once, written as XXXX-XXXX-XXXX-XXXX."""
    codes = []
    for _ in range(count):
        raw = "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(RECOVERY_LENGTH))
        codes.append("-".join(raw[i : i + 4] for i in range(0, RECOVERY_LENGTH, 4)))
    return codes


def normalize_recovery(text: str) -> str | None:
    """A typed recovery code in its stored form (upper case, no spaces or dashes), or None
    when it cannot be one."""
    cleaned = clean_code(text).upper()
    if len(cleaned) != RECOVERY_LENGTH or any(c not in RECOVERY_ALPHABET for c in cleaned):
        return None
    return cleaned


def recovery_hash(code: str) -> str:
    """The stored form of a recovery code (normalized first)."""
    normalized = normalize_recovery(code)
    if normalized is None:
        raise ValueError("not a recovery code")
    return hashlib.sha256(normalized.encode()).hexdigest()
