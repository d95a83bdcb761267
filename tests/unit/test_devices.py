"""Device cookies (signed, expiring, one entry per account) and device labels."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from starlette.datastructures import Secret

from webapp.devices import LIFETIME, MAX_ENTRIES, DeviceCookies, entry_for, label

NOW = datetime(2026, 12, 1, 15, 30, tzinfo=UTC)
KEYS = (Secret("k" * 48),)


def test_an_issued_cookie_reads_back_for_its_account():
    cookies = DeviceCookies(KEYS)
    value = cookies.issue([], 7, NOW)
    [entry] = cookies.read(value, NOW)
    assert entry.staff_id == 7 and len(entry.nonce) >= 20
    assert entry_for([entry], 7) == entry and entry_for([entry], 8) is None
    assert entry_for([entry], None) is None


def test_each_sign_in_gets_a_new_nonce_and_keeps_other_accounts():
    cookies = DeviceCookies(KEYS)
    first = cookies.read(cookies.issue([], 1, NOW), NOW)
    both = cookies.read(cookies.issue(first, 2, NOW), NOW)
    assert [e.staff_id for e in both] == [2, 1]
    again = cookies.read(cookies.issue(both, 1, NOW), NOW)
    assert [e.staff_id for e in again] == [1, 2]
    assert entry_for(again, 1).nonce != entry_for(first, 1).nonce


def test_at_most_a_few_accounts_per_browser():
    cookies = DeviceCookies(KEYS)
    entries = []
    for staff_id in range(1, 10):
        entries = cookies.read(cookies.issue(entries, staff_id, NOW), NOW)
    assert [e.staff_id for e in entries] == [9, 8, 7, 6, 5][:MAX_ENTRIES]


def test_entries_expire():
    cookies = DeviceCookies(KEYS)
    value = cookies.issue([], 1, NOW)
    assert cookies.read(value, NOW + LIFETIME - timedelta(seconds=1))
    assert cookies.read(value, NOW + LIFETIME + timedelta(seconds=1)) == []
    assert cookies.read(value, NOW - timedelta(hours=1)) == []  # from the future


@pytest.mark.parametrize("value", [None, "", "junk", "x" * 5000, "W10.bad-signature"])
def test_bad_cookies_read_as_none(value):
    assert DeviceCookies(KEYS).read(value, NOW) == []


def test_another_key_or_purpose_is_refused():
    value = DeviceCookies((Secret("z" * 48),)).issue([], 1, NOW)
    assert DeviceCookies(KEYS).read(value, NOW) == []


def test_key_rotation_keeps_old_cookies():
    old = DeviceCookies(KEYS).issue([], 1, NOW)
    rotated = DeviceCookies((Secret("n" * 48), *KEYS))
    assert [e.staff_id for e in rotated.read(old, NOW)] == [1]


@pytest.mark.parametrize(
    ("agent", "expected"),
    [
        ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko)"
         " Chrome/131.0.0.0 Safari/537.36", "Chrome on Windows"),
        ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko)"
         " Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0", "Edge on Windows"),
        ("Mozilla/5.0 (Macintosh; Intel Mac OS X 14_7) AppleWebKit/605.1.15 (KHTML, like Gecko)"
         " Version/18.1 Safari/605.1.15", "Safari on macOS"),
        ("Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15"
         " (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1", "Safari on iPhone"),
        ("Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
         "Firefox on Linux"),
        ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko)"
         " Chrome/131.0.0.0 Mobile Safari/537.36", "Chrome on Android"),
        ("Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko)"
         " Chrome/131.0.0.0 Safari/537.36", "Chrome on ChromeOS"),
        ("curl/8.5.0", "Unknown browser"),
        ("", "Unknown browser"),
        ("<script>alert(1)</script>", "Unknown browser"),
    ],
)  # fmt: skip
def test_labels(agent, expected):
    assert label(agent) == expected
