"""Staff pages and the staff invitation write times the one way the site does ("12:00 noon",
"4:05 PM"), like the banner, the form and the public pages (hours.format_time)."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

from tests.conftest import ET
from tests.helpers import CSRF_FIELD, add_staff, login, with_cookie
from webapp.invitations import message

ADMIN, ADMIN_PW = "admin.times@example.org", "quarry-lantern-orbit-61"
ROOT = Path(__file__).resolve().parents[2]


def test_the_invitation_message_writes_noon_and_afternoon_as_the_site_does():
    for local, words in (
        (datetime(2026, 12, 4, 12, 0, tzinfo=ET), "until Friday, December 4 at 12:00 noon"),
        (datetime(2026, 12, 4, 16, 5, tzinfo=ET), "until Friday, December 4 at 4:05 PM"),
    ):
        link = "https://x.example/i?token=t"
        body = message("Albany Ketamine Infusions", ADMIN, link, local).body
        assert words in body
        assert "p.m." not in body and "12:00 PM" not in body


def test_account_pages_write_noon_alike(client, clock):
    clock.set_local(2026, 12, 1, 12, 0)  # signed in, active and inviting at noon
    add_staff(client, ADMIN, ADMIN_PW)
    response = login(client, ADMIN, ADMIN_PW)
    assert response.status_code == 303
    cookie = response.cookies["aki_staff"]
    client.cookies.clear()
    own = client.get("/staff/account", headers=with_cookie(cookie))
    assert own.status_code == 200
    assert "Dec 1, 12:00 noon ET" in own.text
    token = CSRF_FIELD.search(own.text)[1]
    invited = client.post(
        "/staff/accounts/invite",
        data={"csrf": token, "email": "newcomer.times@example.org"},
        headers=with_cookie(cookie),
    )
    assert invited.status_code == 200
    text = re.sub(r"\s+", " ", invited.text)
    assert "until Friday, December 4 at 12:00 noon ET" in text  # the page's own sentence
    assert "until Friday, December 4 at 12:00 noon (Eastern Time)" in text  # the message
    assert "valid until Dec 4, 12:00 noon ET" in text  # the pending list
    assert "last active Dec 1, 12:00 noon ET" in text
    for page in (own.text, invited.text):
        assert "12:00 PM" not in page and "p.m." not in page


def test_no_template_or_module_writes_a_clock_time_with_strftime():
    """%I/%p would write noon as "12:00 PM": every clock time goes through format_time."""
    offenders = [
        str(path.relative_to(ROOT))
        for folder, pattern in (("templates", "**/*.html"), ("webapp", "**/*.py"))
        for path in (ROOT / folder).glob(pattern)
        if re.search(r"%-?I|%p", path.read_text(encoding="utf-8"))
    ]
    assert offenders == []
