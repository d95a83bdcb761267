"""Device cookies (OWASP's "slow down online guessing attacks with device cookies") and the
short device labels shown in a person's list of sessions.

A successful sign-in gives the browser a long-lived signed cookie naming the account and a
random nonce. A later sign-in to that account from that browser is throttled by the nonce
alone, so a member of staff on their usual device signs in normally while their account is
being attacked from elsewhere (where attempts share the account's limit for untrusted
clients). One browser may hold entries for a few accounts (a shared front-desk computer).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from itsdangerous import BadSignature, URLSafeSerializer
from starlette.datastructures import Secret

LIFETIME = timedelta(days=180)
MAX_ENTRIES = 5
MAX_COOKIE = 1200


@dataclass(frozen=True)
class DeviceEntry:
    """One account this browser has signed in to: who, the nonce, when (UTC seconds)."""

    staff_id: int
    nonce: str
    issued: float


class DeviceCookies:
    """Signed device cookies: read the valid entries, issue a fresh one for an account."""

    def __init__(self, keys: tuple[Secret, ...]) -> None:
        # itsdangerous signs with the last key and verifies with all: newest goes last.
        self._serializer = URLSafeSerializer(
            [str(k) for k in reversed(keys)],
            salt="staff-device",
            signer_kwargs={"digest_method": hashlib.sha256},
        )

    def read(self, value: str | None, now: datetime) -> list[DeviceEntry]:
        """The entries of a cookie that are genuine and not older than LIFETIME."""
        if not value or len(value) > MAX_COOKIE:
            return []
        try:
            raw = self._serializer.loads(value)
        except (BadSignature, UnicodeDecodeError):
            return []
        if not isinstance(raw, list):
            return []
        oldest = (now - LIFETIME).timestamp()
        entries = []
        for item in raw[:MAX_ENTRIES]:
            try:
                staff_id, nonce, issued = int(item[0]), str(item[1]), float(item[2])
            except (TypeError, ValueError, IndexError, KeyError):
                continue
            if oldest <= issued <= now.timestamp() + 60:
                entries.append(DeviceEntry(staff_id, nonce, issued))
        return entries

    def issue(self, entries: list[DeviceEntry], staff_id: int, now: datetime) -> str:
        """A cookie value with a new entry for this account first (a new nonce at each
        sign-in), then the browser's other accounts, newest first."""
        fresh = DeviceEntry(staff_id, secrets.token_urlsafe(16), now.timestamp())
        kept = [e for e in entries if e.staff_id != staff_id][: MAX_ENTRIES - 1]
        return self._serializer.dumps([[e.staff_id, e.nonce, e.issued] for e in [fresh, *kept]])


def entry_for(entries: list[DeviceEntry], staff_id: int | None) -> DeviceEntry | None:
    """The browser's entry for this account, if it has one."""
    if staff_id is None:
        return None
    return next((e for e in entries if e.staff_id == staff_id), None)


def max_age_seconds() -> int:
    """The cookie's Max-Age."""
    return int(LIFETIME.total_seconds())


_BROWSERS = (
    (re.compile(r"\bEdg(?:e|A|iOS)?/"), "Edge"),
    (re.compile(r"\b(?:OPR|Opera)/"), "Opera"),
    (re.compile(r"\bSamsungBrowser/"), "Samsung Internet"),
    (re.compile(r"\b(?:Firefox|FxiOS)/"), "Firefox"),
    (re.compile(r"\b(?:Chrome|CriOS|Chromium)/"), "Chrome"),
    (re.compile(r"\bVersion/[\d.]+.*\bSafari/"), "Safari"),
)
_SYSTEMS = (
    (re.compile(r"\biPhone\b"), "iPhone"),
    (re.compile(r"\biPad\b"), "iPad"),
    (re.compile(r"\bAndroid\b"), "Android"),
    (re.compile(r"\bCrOS\b"), "ChromeOS"),
    (re.compile(r"\bWindows\b"), "Windows"),
    (re.compile(r"\bMac OS X\b|\bMacintosh\b"), "macOS"),
    (re.compile(r"\bLinux\b"), "Linux"),
)


def label(user_agent: str) -> str:
    """A short, human label for a browser ("Firefox on Windows"); nothing else of the
    User-Agent is kept."""
    text = user_agent[:512]
    browser = next((name for pattern, name in _BROWSERS if pattern.search(text)), "")
    system = next((name for pattern, name in _SYSTEMS if pattern.search(text)), "")
    if browser and system:
        return f"{browser} on {system}"
    return browser or system or "Unknown browser"


def issued_at(entry: DeviceEntry) -> datetime:
    """When an entry was issued."""
    return datetime.fromtimestamp(entry.issued, UTC)
