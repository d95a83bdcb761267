"""The staff dashboard: listing, search, request pages, status and notes, CSV, hours."""

from __future__ import annotations

import csv
import io
import json
import re
import sqlite3
from contextlib import closing
from datetime import datetime, timedelta
from urllib.parse import urlencode

import pytest
from starlette.testclient import TestClient

from tests.conftest import ET
from tests.helpers import (
    CSRF_FIELD,
    EMAIL,
    HX,
    add_request,
    add_staff,
    audit,
    db_path,
    login,
    query,
)
from webapp import retention
from webapp.db import utc_now_iso

ROW = re.compile(r'<th scope="row"><a href="/staff/requests/(\d+)">([^<]*)</a>')
FLAG = "No contact after 1 business day"
CSV_HEADER = [
    "Reference",
    "Received (America/New_York)",
    "Status",
    "Assigned to",
    "Follow-up date",
    "Contact attempts",
    "Closed (America/New_York)",
    "Name",
    "Email",
    "Phone",
    "Preferred contact",
    "Best time",
    "Message",
    "Notes",
]
NAME, EMAIL_COLUMN, PHONE, METHOD, BEST, MESSAGE = 7, 8, 9, 10, 11, 12


# --- fixtures and helpers ----------------------------------------------------------------------


@pytest.fixture
def staff(client) -> int:
    return add_staff(client)


def sign_in(client: TestClient) -> TestClient:
    """Sign in through the real sign-in form; the cookie lands in the client's jar."""
    client.cookies.clear()
    assert login(client).status_code == 303
    return client


@pytest.fixture
def staff_client(client, staff) -> TestClient:
    return sign_in(client)


@pytest.fixture
def csrf(staff_client) -> str:
    return CSRF_FIELD.search(staff_client.get("/staff").text).group(1)


def execute(client: TestClient, sql: str, params: tuple = ()) -> None:
    with closing(sqlite3.connect(db_path(client))) as conn, conn:
        conn.execute(sql, params)


def detail_page(client: TestClient, request_id: int) -> str:
    """A request's page (asserting it is one, not a sign-in page after a time jump)."""
    response = client.get(f"/staff/requests/{request_id}", follow_redirects=False)
    assert response.status_code == 200
    assert '<div id="request-detail"' in response.text
    return response.text


def names(html: str) -> list[str]:
    """The names in the request table, top to bottom."""
    return [name for _, name in ROW.findall(html)]


def htmx(**extra: str) -> dict[str, str]:
    return {**HX, **extra}


def post(client: TestClient, url: str, csrf: str, htmx_request: bool = False, **fields: str):
    headers = htmx() if htmx_request else {}
    return client.post(url, data={"csrf": csrf, **fields}, headers=headers, follow_redirects=False)


def jsonld(html: str) -> dict:
    match = re.search(r'<script type="application/ld\+json">(.*?)</script>', html, re.S)
    assert match, "no JSON-LD"
    return json.loads(match.group(1))


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()


# --- the list --------------------------------------------------------------------------------


@pytest.fixture
def three(staff_client) -> dict[str, int]:
    return {
        "olive": add_request(staff_client, "Olive Oldest", email="olive@example.org",
                             ago=timedelta(hours=3)),
        "mabel": add_request(staff_client, "Mabel Middle", email="mabel@example.org",
                             phone="+15185550199", status="contacted", ago=timedelta(hours=2)),
        "nora": add_request(staff_client, "Nora Newest", phone="+15185550123", method="text",
                            ago=timedelta(hours=1)),
    }  # fmt: skip


def test_dashboard_shows_what_needs_action_oldest_first_with_counts(staff_client, three):
    response = staff_client.get("/staff")
    assert response.status_code == 200
    assert response.headers["vary"] == "HX-Request"
    assert response.headers["cache-control"] == "no-store"
    page = response.text
    assert "<html" in page and '<section id="request-list"' in page
    # "Needs action": the new requests (not Mabel, contacted), oldest first.
    assert names(page) == ["Olive Oldest", "Nora Newest"]
    assert "2 requests · Needs action" in page
    assert "<title>(2) Requests · Staff" in page
    assert "New: <strong>2</strong>" in page
    assert "Contacted: <strong>1</strong>" in page
    assert "Scheduled: <strong>0</strong>" in page
    assert "Not a fit: <strong>0</strong>" in page
    assert "Closed: <strong>0</strong>" in page
    assert "All: <strong>3</strong>" in page
    assert "Needs action: <strong>2</strong>" in page
    assert '<option value="">Needs action (2)</option>' in page
    assert '<option value="all">All (3)</option>' in page
    assert '<option value="new">New (2)</option>' in page
    assert '<option value="">Default order</option>' in page
    assert "<strong>2</strong> new</a>" in page
    assert "1 h ago" in page and "3 h ago" in page
    assert "(518) 555-0123" in page  # text message: the phone is shown
    assert "olive@example.org" in page  # email: the address is shown
    # Every other view lists newest first, as does a search.
    everything = staff_client.get("/staff?status=all").text
    assert names(everything) == ["Nora Newest", "Mabel Middle", "Olive Oldest"]
    assert "3 requests · All" in everything
    assert names(staff_client.get("/staff?sort=oldest&status=all").text) == [
        "Olive Oldest",
        "Mabel Middle",
        "Nora Newest",
    ]
    assert '<option value="oldest" selected>' in staff_client.get("/staff?sort=oldest").text


def test_empty_dashboard(staff_client):
    page = staff_client.get("/staff").text
    assert "0 requests · Needs action" in page
    assert "Nothing needs action: no new requests and no follow-ups due." in page
    assert "Page 1 of 1" in page
    assert "<title>Requests · Staff" in page
    assert "No requests match." in staff_client.get("/staff?status=closed").text


def test_filter_by_status(staff_client, three):
    page = staff_client.get("/staff?status=contacted").text
    assert names(page) == ["Mabel Middle"]
    assert "1 request · Contacted" in page
    assert 'href="/staff?status=contacted" aria-current="true"' in page
    assert '<option value="contacted" selected>' in page
    assert names(staff_client.get("/staff?status=new").text) == ["Nora Newest", "Olive Oldest"]
    assert names(staff_client.get("/staff?status=closed").text) == []
    # An unknown status shows the default view rather than failing.
    assert names(staff_client.get("/staff?status=bogus").text) == ["Olive Oldest", "Nora Newest"]


@pytest.mark.parametrize(
    ("q", "found"),
    [
        ("nora", ["Nora Newest"]),
        ("MIDDLE", ["Mabel Middle"]),
        ("e", ["Nora Newest", "Mabel Middle", "Olive Oldest"]),
        ("mabel@exa", ["Mabel Middle"]),
        ("olive@example.org", ["Olive Oldest"]),
        ("5550123", ["Nora Newest"]),
        ("(518) 555-0199", ["Mabel Middle"]),
        ("518-555", ["Mabel Middle", "Nora Newest"]),
        ("  nora   newest  ", ["Nora Newest"]),
        ("%", []),
        ("_", []),
        ("zzz", []),
        ("12", []),  # fewer than 3 digits never searches phones
    ],
)
def test_search(staff_client, three, q, found):
    page = staff_client.get("/staff?" + urlencode({"q": q})).text
    assert sorted(names(page)) == sorted(found)
    shown = " ".join(q.split())
    plural = "" if len(found) == 1 else "s"
    assert f"{len(found)} result{plural} for “{shown}”" in page
    assert f'value="{shown}"' in page  # the search box keeps what was typed


def test_search_and_status_combine(staff_client, three):
    page = staff_client.get("/staff?status=new&q=555").text
    assert names(page) == ["Nora Newest"]


def test_pagination(staff_client):
    for n in range(30):
        add_request(staff_client, f"Person {n:02d}", ago=timedelta(minutes=60 - n))
    first = staff_client.get("/staff").text
    assert names(first) == [f"Person {n:02d}" for n in range(25)]
    assert "Page 1 of 2" in first
    assert 'href="/staff?page=2"' in first and 'rel="next"' in first
    assert 'rel="prev"' not in first
    second = staff_client.get("/staff?page=2").text
    assert names(second) == ["Person 25", "Person 26", "Person 27", "Person 28", "Person 29"]
    assert "Page 2 of 2" in second
    assert 'rel="prev"' in second and 'rel="next"' not in second
    assert "30 requests" in second
    beyond = staff_client.get("/staff?page=3").text
    assert names(beyond) == []
    for bad in ("abc", "0", "-1", "", "1.5"):
        assert names(staff_client.get(f"/staff?page={bad}").text) == names(first), bad
    newest = staff_client.get("/staff?status=all&page=2").text
    assert names(newest) == ["Person 04", "Person 03", "Person 02", "Person 01", "Person 00"]


def test_pager_links_keep_the_filter(staff_client):
    for n in range(27):
        add_request(staff_client, f"Person {n:02d}", ago=timedelta(minutes=60 - n))
    page = staff_client.get("/staff?status=new&q=Person&page=2").text
    assert names(page) == ["Person 01", "Person 00"]
    assert 'href="/staff?status=new&amp;q=Person" data-hx-get' in page
    assert 'href="/staff/requests.csv?status=new&amp;q=Person"' in page


@pytest.mark.parametrize(
    "url", ["/staff", "/staff?status=new", "/staff?q=nora", "/staff?status=new&q=o&page=1",
            "/staff?page=2"],
)  # fmt: skip
def test_each_url_is_a_full_page_and_htmx_gets_only_the_list(staff_client, three, url):
    full = staff_client.get(url)
    assert full.status_code == 200
    assert "<html" in full.text and '<form class="filters"' in full.text
    assert '<section id="request-list"' in full.text
    partial = staff_client.get(url, headers=htmx())
    assert partial.status_code == 200
    assert partial.headers["vary"] == "HX-Request"
    assert partial.headers["cache-control"] == "no-store"
    assert partial.text.lstrip().startswith('<section id="request-list"')
    assert partial.text.rstrip().endswith("</section>")
    assert "<html" not in partial.text and '<form class="filters"' not in partial.text
    assert names(partial.text) == names(full.text)


def test_new_count_fragment(staff_client, three):
    response = staff_client.get("/staff/new-count", headers=htmx())
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    fragment = response.text.strip()
    assert fragment.startswith('<a id="new-count" class="new-count new-count--some"')
    assert "<strong>2</strong> new" in fragment
    assert "<html" not in fragment
    execute(staff_client, "UPDATE consultations SET status = 'closed'")
    fragment = staff_client.get("/staff/new-count", headers=htmx()).text
    assert 'class="new-count"' in fragment and "<strong>0</strong> new" in fragment


# --- overdue ---------------------------------------------------------------------------------


def test_overdue_after_one_business_day_of_open_time(staff_client, clock):
    # Now: Tuesday 2026-12-01 10:30 ET; the clinic opens 9:00-17:00 every day (8 h).
    late = add_request(staff_client, "Late Lena", created=datetime(2026, 11, 30, 10, 30, tzinfo=ET))
    fresh = add_request(
        staff_client, "Fresh Fay", created=datetime(2026, 11, 30, 10, 31, tzinfo=ET)
    )
    handled = add_request(staff_client, "Handled Hal", status="contacted",
                          created=datetime(2026, 11, 20, 10, 0, tzinfo=ET))  # fmt: skip
    ancient = add_request(staff_client, "Ancient Ada", created=datetime(2026, 10, 1, tzinfo=ET))
    page = staff_client.get("/staff?status=all").text
    rows = {
        name: row
        for row in re.findall(r"<tr.*?</tr>", page, re.S)
        for name in re.findall(r'<th scope="row"><a [^>]*>([^<]*)</a>', row)
    }
    assert 'class="overdue"' in rows["Late Lena"] and FLAG in rows["Late Lena"]
    assert 'class="overdue"' in rows["Ancient Ada"] and FLAG in rows["Ancient Ada"]
    assert "overdue" not in rows["Fresh Fay"] and FLAG not in rows["Fresh Fay"]
    assert "overdue" not in rows["Handled Hal"] and FLAG not in rows["Handled Hal"]
    assert FLAG in detail_page(staff_client, late)
    assert FLAG not in detail_page(staff_client, fresh)
    assert FLAG not in detail_page(staff_client, handled)
    assert FLAG in detail_page(staff_client, ancient)
    # A minute later the second one has had its business day too.
    clock.advance(minutes=1)
    assert FLAG in detail_page(staff_client, fresh)


def test_a_request_sent_at_night_is_not_overdue_next_afternoon(client, staff, clock):
    # Sent Tuesday 22:00; Wednesday 9:00-16:00 is 7 h of open time, 17:00 makes 8 h.
    night = add_request(client, "Night Nell", created=datetime(2026, 12, 1, 22, 0, tzinfo=ET))
    clock.set_local(2026, 12, 2, 16, 0)
    assert FLAG not in detail_page(sign_in(client), night)
    clock.set_local(2026, 12, 2, 16, 59)
    assert FLAG not in detail_page(sign_in(client), night)
    clock.set_local(2026, 12, 2, 17, 0)
    assert FLAG in detail_page(sign_in(client), night)


def test_closed_days_do_not_count_towards_overdue(client, staff, clock):
    # Received Saturday 16:00 (1 h of open time left); closed Sunday and Monday for a holiday;
    # now Tuesday 10:00: 2 h of open time since, so not yet overdue.
    for day in ("2026-12-06", "2026-12-07"):
        execute(
            client,
            "INSERT INTO closures (day, reason, created_at) VALUES (?, 'Holiday', ?)",
            (day, "2026-11-01T00:00:00.000000Z"),
        )
    weekend = add_request(client, "Weekend Wes", created=datetime(2026, 12, 5, 16, 0, tzinfo=ET))
    clock.set_local(2026, 12, 8, 10, 0)
    assert FLAG not in detail_page(sign_in(client), weekend)


def test_a_closure_from_yesterday_does_count(client, staff, clock):
    # The same, one day shorter: received Sunday 16:00, closed Monday, now Tuesday 10:00.
    execute(
        client,
        "INSERT INTO closures (day, reason, created_at) VALUES ('2026-12-07', 'Holiday', ?)",
        ("2026-11-01T00:00:00.000000Z",),
    )
    sunday = add_request(client, "Sunday Sam", created=datetime(2026, 12, 6, 16, 0, tzinfo=ET))
    clock.set_local(2026, 12, 8, 10, 0)
    assert FLAG not in detail_page(sign_in(client), sunday)


# --- one request -----------------------------------------------------------------------------


def test_request_page_shows_contact_links_and_is_audited(staff_client, staff):
    request_id = add_request(staff_client, "Ann Example", email="ann@example.org",
                             phone="+15185550123", method="text", best_time="morning",
                             message="I have been feeling low for months.")  # fmt: skip
    response = staff_client.get(f"/staff/requests/{request_id}")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    page = response.text
    assert '<a href="tel:+15185550123">(518) 555-0123</a>' in page
    assert '<a href="sms:+15185550123">Text</a>' in page
    assert '<a href="mailto:ann@example.org">ann@example.org</a>' in page
    assert "Text message · Morning (9:00 AM – 12:00 noon)" in page
    assert "I have been feeling low for months." in page
    assert "<h1>Ann Example" in page
    assert "Mark contacted" in page and "Mark not a fit" in page and "Mark closed" in page
    assert "Mark scheduled" not in page
    [view] = audit(staff_client, "view_request")
    assert view["consultation_id"] == request_id
    assert view["actor"] == EMAIL and view["staff_id"] == staff
    assert "feeling low" not in str(view)
    staff_client.get(f"/staff/requests/{request_id}")
    assert len(audit(staff_client, "view_request")) == 2  # every view is recorded


def test_a_call_request_has_no_text_link(staff_client):
    request_id = add_request(staff_client, phone="+15185550123", method="call")
    page = staff_client.get(f"/staff/requests/{request_id}").text
    assert 'href="tel:+15185550123"' in page
    assert "sms:" not in page and "mailto:" not in page


def test_status_moves_along_with_an_audit_trail(staff_client, csrf):
    request_id = add_request(staff_client)
    url = f"/staff/requests/{request_id}/status"
    for new, label in (("contacted", "Contacted"), ("scheduled", "Scheduled"),
                       ("closed", "Closed")):  # fmt: skip
        response = post(staff_client, url, csrf, status=new)
        assert response.status_code == 303
        assert response.headers["location"] == f"/staff/requests/{request_id}"
        row = query(staff_client, "SELECT status, closed_at FROM consultations")[0]
        assert row["status"] == new
        page = staff_client.get(f"/staff/requests/{request_id}").text
        assert f'<span class="status status--{new}">{label}</span>' in page
    changes = [(r["detail"], r["actor"], r["consultation_id"])
               for r in audit(staff_client, "status_change")]  # fmt: skip
    assert changes == [
        ("New → Contacted", EMAIL, request_id),
        ("Contacted → Scheduled", EMAIL, request_id),
        ("Scheduled → Closed", EMAIL, request_id),
    ]
    assert query(staff_client, "SELECT closed_at FROM consultations")[0][0] is not None
    page = staff_client.get(f"/staff/requests/{request_id}").text
    assert f"Changed the status: New → Contacted · {EMAIL}" in page
    assert f"Changed the status: Scheduled → Closed · {EMAIL}" in page
    assert "Dec 1, 2026 10:30 AM ET" in page
    # A closed request can only be reopened.
    assert re.findall(r'name="status" value="(\w+)"', page) == ["contacted"]
    assert post(staff_client, url, csrf, status="contacted").status_code == 303
    assert query(staff_client, "SELECT status, closed_at FROM consultations")[0][:] == (
        "contacted",
        None,
    )


@pytest.mark.parametrize(
    ("start", "new", "message"),
    [
        ("new", "scheduled", "A request that is new cannot become scheduled."),
        ("new", "new", "A request that is new cannot become new."),
        ("closed", "closed", "A request that is closed cannot become closed."),
        ("not_a_fit", "scheduled", "A request that is not a fit cannot become scheduled."),
    ],
)
def test_an_illegal_transition_is_a_409_with_a_message(staff_client, csrf, start, new, message):
    request_id = add_request(staff_client, status=start)
    url = f"/staff/requests/{request_id}/status"
    response = post(staff_client, url, csrf, status=new)
    assert response.status_code == 409
    assert "<html" in response.text and message in response.text
    fragment = post(staff_client, url, csrf, htmx_request=True, status=new)
    assert fragment.status_code == 409
    assert fragment.text.lstrip().startswith('<div id="request-detail"')
    assert message in fragment.text and 'role="alert"' in fragment.text
    assert query(staff_client, "SELECT status FROM consultations")[0][0] == start
    assert audit(staff_client, "status_change") == []


@pytest.mark.parametrize("value", ["archived", "", "NEW", "new "])
def test_an_unknown_status_is_a_422(staff_client, csrf, value):
    request_id = add_request(staff_client)
    response = post(staff_client, f"/staff/requests/{request_id}/status", csrf, status=value)
    assert response.status_code == 422
    assert "Choose one of the statuses offered." in response.text
    assert query(staff_client, "SELECT status FROM consultations")[0][0] == "new"


def test_htmx_status_change_returns_the_detail_fragment(staff_client, csrf):
    request_id = add_request(staff_client)
    response = post(staff_client, f"/staff/requests/{request_id}/status", csrf,
                    htmx_request=True, status="contacted")  # fmt: skip
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    assert response.text.lstrip().startswith('<div id="request-detail"')
    assert "<html" not in response.text
    assert '<span class="status status--contacted">Contacted</span>' in response.text
    assert "Changed the status: New → Contacted" in response.text
    assert CSRF_FIELD.search(response.text).group(1) == csrf


def test_notes_are_appended_with_author_and_time(staff_client, csrf, clock, staff):
    request_id = add_request(staff_client)
    url = f"/staff/requests/{request_id}/notes"
    first = "Called at 10:30, left a voicemail.\r\nWill try again Thursday."
    response = post(staff_client, url, csrf, note=first)
    assert response.status_code == 303
    assert response.headers["location"] == f"/staff/requests/{request_id}"
    clock.advance(minutes=25)
    fragment = post(staff_client, url, csrf, htmx_request=True, note="  Booked for Friday.  ")
    assert fragment.status_code == 200
    assert fragment.text.lstrip().startswith('<div id="request-detail"')
    assert "<html" not in fragment.text
    rows = [tuple(r) for r in query(staff_client, "SELECT body, staff_id, created_at FROM notes")]
    assert rows == [
        ("Called at 10:30, left a voicemail.\nWill try again Thursday.", staff,
         "2026-12-01T15:30:00.000000Z"),
        ("Booked for Friday.", staff, "2026-12-01T15:55:00.000000Z"),
    ]  # fmt: skip
    page = staff_client.get(f"/staff/requests/{request_id}").text
    assert page.index("left a voicemail.") < page.index("Booked for Friday.")
    assert f"{EMAIL} · <time" in page
    assert "Dec 1, 2026 10:30 AM ET" in page and "Dec 1, 2026 10:55 AM ET" in page
    notes_audit = audit(staff_client, "add_note")
    assert [r["detail"] for r in notes_audit] == ["note #1", "note #2"]
    for row in audit(staff_client):
        assert "voicemail" not in str(row) and "Friday" not in str(row)
    assert "Added a note: note #1 · " + EMAIL in page


@pytest.mark.parametrize(
    ("note", "message"),
    [
        ("", "Write the note first."),
        ("   \r\n  ", "Write the note first."),
        ("x" * 2001, "Keep notes to 2,000 characters or fewer (this one has 2,001)."),
        ("bell\x07", "The note contains characters that cannot be saved."),
    ],
)
def test_a_bad_note_is_a_422_and_nothing_is_stored(staff_client, csrf, note, message):
    request_id = add_request(staff_client)
    response = post(staff_client, f"/staff/requests/{request_id}/notes", csrf, note=note)
    assert response.status_code == 422
    assert message in response.text
    assert 'aria-invalid="true"' in response.text
    assert query(staff_client, "SELECT count(*) FROM notes")[0][0] == 0
    assert audit(staff_client, "add_note") == []


def test_a_long_note_is_kept_in_the_form_after_the_error(staff_client, csrf):
    request_id = add_request(staff_client)
    text = "y" * 2001
    response = post(staff_client, f"/staff/requests/{request_id}/notes", csrf,
                    htmx_request=True, note=text)  # fmt: skip
    assert response.status_code == 422
    assert f">{text}</textarea>" in response.text


def test_a_note_of_exactly_2000_characters_is_fine(staff_client, csrf):
    request_id = add_request(staff_client)
    response = post(staff_client, f"/staff/requests/{request_id}/notes", csrf, note="z" * 2000)
    assert response.status_code == 303
    assert query(staff_client, "SELECT length(body) FROM notes")[0][0] == 2000


@pytest.mark.parametrize("raw", ["999", "0", "abc", "1.0", "-1", "9" * 13])
def test_unknown_requests_are_404(staff_client, csrf, raw):
    add_request(staff_client)
    assert staff_client.get(f"/staff/requests/{raw}").status_code == 404
    base = f"/staff/requests/{raw}"
    assert post(staff_client, base + "/status", csrf, status="contacted").status_code == 404
    assert post(staff_client, base + "/notes", csrf, note="hello").status_code == 404
    assert query(staff_client, "SELECT count(*) FROM notes")[0][0] == 0
    assert audit(staff_client, "view_request") == []


def test_a_superscript_digit_id_is_a_404(staff_client):
    add_request(staff_client)
    assert staff_client.get("/staff/requests/²").status_code == 404


# --- hostile content ---------------------------------------------------------------------------

SCRIPT = "<script>alert(1)</script>"
FORMULA = '=HYPERLINK("http://evil.example","x")'


@pytest.fixture
def hostile(staff_client) -> dict[str, int]:
    return {
        "script": add_request(staff_client, SCRIPT, email="s@example.org",
                              message="<img src=x onerror=alert(2)>", ago=timedelta(hours=2)),
        "formula": add_request(staff_client, FORMULA, email="=1+2@example.org",
                               message="@SUM(1+1)", ago=timedelta(hours=1)),
        "plain": add_request(staff_client, "Plain Pat", phone="+15185550123",
                             message="-2+3 and\ttabs", status="contacted"),
    }  # fmt: skip


def test_hostile_names_are_escaped_on_the_dashboard(staff_client, hostile):
    page = staff_client.get("/staff").text
    assert "<script>alert(1)" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "=HYPERLINK(&#34;http://evil.example&#34;,&#34;x&#34;)" in page
    partial = staff_client.get("/staff?q=script", headers=htmx()).text
    assert "<script>alert(1)" not in partial and "&lt;script&gt;" in partial


def test_hostile_content_is_escaped_on_the_request_page(staff_client, csrf, hostile):
    request_id = hostile["script"]
    post(staff_client, f"/staff/requests/{request_id}/notes", csrf, note="<b>bold</b>" + SCRIPT)
    page = staff_client.get(f"/staff/requests/{request_id}").text
    assert "<script>alert(1)" not in page
    assert "<img src=x" not in page
    assert "&lt;img src=x onerror=alert(2)&gt;" in page
    assert "<b>bold</b>" not in page and "&lt;b&gt;bold&lt;/b&gt;" in page
    assert "<h1>&lt;script&gt;alert(1)&lt;/script&gt; <span" in page


def test_a_hostile_search_is_escaped(staff_client):
    page = staff_client.get("/staff?" + urlencode({"q": '"><script>alert(3)</script>'})).text
    assert "<script>alert(3)" not in page
    assert 'value="&#34;&gt;&lt;script&gt;alert(3)&lt;/script&gt;"' in page


def read_csv(response) -> list[list[str]]:
    assert response.text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(response.text[1:])))


def test_csv_export_is_safe_to_open_in_a_spreadsheet(staff_client, hostile, staff):
    response = staff_client.get("/staff/requests.csv?status=all")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    # The file is named in the clinic's time, as its dates are (10:30 AM ET is 15:30 UTC).
    assert response.headers["content-disposition"] == (
        'attachment; filename="requests-20261201-1030.csv"'
    )
    assert response.headers["cache-control"] == "no-store"
    rows = read_csv(response)
    assert rows[0] == CSV_HEADER
    body = rows[1:]
    assert [r[NAME] for r in body] == ["Plain Pat", "'" + FORMULA, SCRIPT]
    by_name = {r[NAME]: r for r in body}
    formula = by_name["'" + FORMULA]
    assert formula[EMAIL_COLUMN] == "'=1+2@example.org"
    assert formula[MESSAGE] == "'@SUM(1+1)"
    assert formula[2] == "New" and formula[METHOD] == "Email" and formula[BEST] == "Any time"
    plain = by_name["Plain Pat"]
    assert plain[PHONE] == "(518) 555-0123" and plain[MESSAGE] == "'-2+3 and\ttabs"
    assert plain[2] == "Contacted" and plain[METHOD] == "Phone call"
    assert by_name[SCRIPT][MESSAGE] == "<img src=x onerror=alert(2)>"
    assert re.fullmatch(r"AKI-\w+", plain[0])
    assert plain[1] == "2026-12-01 10:30"
    assert by_name[SCRIPT][1] == "2026-12-01 08:30"
    for row in body:
        for cell in row:
            assert cell[:1] not in ("=", "+", "-", "@", "\t", "\r", "|", "%"), cell
    [entry] = audit(staff_client, "export_csv")
    assert entry["actor"] == EMAIL and entry["staff_id"] == staff
    assert entry["detail"] == "3 rows, status all"


def test_csv_export_follows_the_filter(staff_client, hostile):
    rows = read_csv(staff_client.get("/staff/requests.csv?status=new&q=example.org&page=2"))
    assert rows[0] == CSV_HEADER
    assert sorted(r[NAME] for r in rows[1:]) == sorted(["'" + FORMULA, SCRIPT])
    rows = read_csv(staff_client.get("/staff/requests.csv?status=contacted"))
    assert [r[NAME] for r in rows[1:]] == ["Plain Pat"]
    rows = read_csv(staff_client.get("/staff/requests.csv?q=nobody-matches"))
    assert rows == [CSV_HEADER]
    # The default view: what needs action, oldest first.
    rows = read_csv(staff_client.get("/staff/requests.csv"))
    assert [r[NAME] for r in rows[1:]] == [SCRIPT, "'" + FORMULA]
    details = [r["detail"] for r in audit(staff_client, "export_csv")]
    # What was exported and how much, never the search text (it may be a name).
    assert details == [
        "2 rows, status new, with a search",
        "1 rows, status contacted",
        "0 rows, with a search",
        "2 rows",
    ]


def test_csv_export_is_not_paged(staff_client):
    for n in range(30):
        add_request(staff_client, f"Person {n:02d}", ago=timedelta(minutes=n))
    assert len(read_csv(staff_client.get("/staff/requests.csv"))) == 31
    assert len(read_csv(staff_client.get("/staff/requests.csv?status=all"))) == 31


# --- hours and closures ------------------------------------------------------------------------


def test_a_closure_added_by_staff_shows_on_the_public_site_at_once(staff_client, csrf, staff):
    response = post(staff_client, "/staff/hours", csrf, day="2026-12-01", reason="Staff training",
                    kind="closed", opens="10:00", closes="14:00")  # fmt: skip
    assert response.status_code == 303
    assert response.headers["location"] == "/staff/hours?saved=2026-12-01#saved"
    assert [tuple(r) for r in query(staff_client, "SELECT day, opens, closes, reason FROM closures")
            ] == [("2026-12-01", None, None, "Staff training")]  # fmt: skip
    hours = staff_client.get("/staff/hours").text
    assert "Tuesday, December 1, 2026</time>: closed (Staff training)" in hours
    banner = staff_client.get("/open-status").text
    assert "Closed today for Staff training" in banner
    assert "Tuesday, December 1, 2026</time>: closed (Staff training)" in (
        staff_client.get("/clinic").text
    )
    special = jsonld(staff_client.get("/").text)["specialOpeningHoursSpecification"]
    assert special == [
        {
            "@type": "OpeningHoursSpecification",
            "validFrom": "2026-12-01",
            "validThrough": "2026-12-01",
            "opens": "00:00",
            "closes": "00:00",
            "description": "Staff training",
        }
    ]
    [entry] = audit(staff_client, "closure_add")
    assert entry["detail"] == "2026-12-01 closed (Staff training)"
    assert entry["actor"] == EMAIL and entry["staff_id"] == staff


def test_special_hours_added_by_staff_show_at_once(staff_client, csrf):
    post(staff_client, "/staff/hours", csrf, day="2026-12-01", reason="Short day",
         kind="special", opens="09:00", closes="11:00")  # fmt: skip
    post(staff_client, "/staff/hours", csrf, day="2026-12-24", reason="Christmas Eve",
         kind="special", opens="10:00", closes="14:00")  # fmt: skip
    banner = text_of(staff_client.get("/open-status").text)
    assert "Closes in 30 min · closes at 11:00 AM ET today for Short day" in banner
    clinic = staff_client.get("/clinic").text
    assert "Thursday, December 24, 2026</time>: open 10:00 AM – 2:00 PM (Christmas Eve)" in clinic
    special = jsonld(staff_client.get("/").text)["specialOpeningHoursSpecification"]
    assert [(s["validFrom"], s["opens"], s["closes"], s["description"]) for s in special] == [
        ("2026-12-01", "09:00", "11:00", "Short day"),
        ("2026-12-24", "10:00", "14:00", "Christmas Eve"),
    ]
    assert [r["detail"] for r in audit(staff_client, "closure_add")] == [
        "2026-12-01 09:00-11:00 (Short day)",
        "2026-12-24 10:00-14:00 (Christmas Eve)",
    ]


def test_a_closure_for_the_same_day_replaces_the_first(staff_client, csrf):
    post(staff_client, "/staff/hours", csrf, day="2026-12-24", reason="Closed", kind="closed")
    post(staff_client, "/staff/hours", csrf, day="2026-12-24", reason="Christmas Eve",
         kind="special", opens="10:00", closes="14:00")  # fmt: skip
    assert [tuple(r) for r in query(staff_client, "SELECT day, opens, reason FROM closures")] == [
        ("2026-12-24", "10:00", "Christmas Eve")
    ]


def test_removing_a_closure(staff_client, csrf, staff):
    post(staff_client, "/staff/hours", csrf, day="2026-12-24", reason="Christmas Eve")
    assert "Christmas Eve" in staff_client.get("/clinic").text
    hours = staff_client.get("/staff/hours").text
    # "Remove" asks first (a page of its own), then posts.
    assert 'href="/staff/hours/2026-12-24/remove">Remove' in hours
    confirm = staff_client.get("/staff/hours/2026-12-24/remove").text
    assert 'action="/staff/hours/2026-12-24/delete"' in confirm
    assert query(staff_client, "SELECT count(*) FROM closures")[0][0] == 1
    response = post(staff_client, "/staff/hours/2026-12-24/delete", csrf)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/staff/hours?removed=")
    assert query(staff_client, "SELECT count(*) FROM closures")[0][0] == 0
    assert "Christmas Eve" not in staff_client.get("/clinic").text
    assert "specialOpeningHoursSpecification" not in jsonld(staff_client.get("/").text)
    assert "No closures or special hours are set." in staff_client.get("/staff/hours").text
    [entry] = audit(staff_client, "closure_remove")
    assert entry["detail"] == "2026-12-24" and entry["actor"] == EMAIL
    # Removing again: nothing there, nothing audited.
    again = post(staff_client, "/staff/hours/2026-12-24/delete", csrf)
    assert again.status_code == 303 and again.headers["location"] == "/staff/hours"
    assert len(audit(staff_client, "closure_remove")) == 1
    for bad in ("2026-13-01", "tomorrow", "2026-1-5"):
        assert post(staff_client, f"/staff/hours/{bad}/delete", csrf).status_code == 404


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"day": "2026-13-01", "reason": "Holiday"},
         "&#39;2026-13-01&#39; is not a date in the form YYYY-MM-DD."),
        ({"day": "", "reason": "Holiday"}, "&#39;&#39; is not a date in the form YYYY-MM-DD."),
        ({"day": "12/24/2026", "reason": "Holiday"}, "is not a date in the form YYYY-MM-DD."),
        ({"day": "2026-12-24", "reason": ""}, "A reason is required, e.g. &#34;Thanksgiving&#34;."),
        ({"day": "2026-12-24", "reason": "   "}, "A reason is required"),
        ({"day": "2026-12-24", "reason": "x" * 81}, "The reason must be at most 80 characters."),
        ({"day": "2026-12-24", "reason": "Eve", "kind": "special", "opens": "14:00",
          "closes": "10:00"}, "The opening time must be before the closing time."),
        ({"day": "2026-12-24", "reason": "Eve", "kind": "special", "opens": "10:00",
          "closes": "10:00"}, "The opening time must be before the closing time."),
        ({"day": "2026-12-24", "reason": "Eve", "kind": "special", "opens": "25:00",
          "closes": "26:00"}, "Time out of range"),
        ({"day": "2026-12-24", "reason": "Eve", "kind": "special", "opens": "",
          "closes": "14:00"}, "Time must be HH:MM (24-hour)"),
        ({"day": "2026-12-24", "reason": "Eve", "kind": "special", "closes": "14:00"},
         "Special hours need both an opening and a closing time."),
    ],
)  # fmt: skip
def test_bad_hours_input_is_a_422_and_nothing_is_stored(staff_client, csrf, fields, message):
    response = post(staff_client, "/staff/hours", csrf, **fields)
    assert response.status_code == 422
    assert "<html" in response.text
    assert message in response.text
    assert 'role="alert"' in response.text
    assert query(staff_client, "SELECT count(*) FROM closures")[0][0] == 0
    assert audit(staff_client, "closure_add") == []
    if fields.get("reason", "").strip() and len(fields["reason"]) <= 80:
        assert f'value="{fields["reason"]}"' in response.text  # what was typed stays


def test_a_date_in_the_past_is_refused(staff_client, csrf):
    response = post(staff_client, "/staff/hours", csrf, day="2026-11-30", reason="Holiday")
    assert response.status_code == 422
    assert query(staff_client, "SELECT count(*) FROM closures")[0][0] == 0


def test_a_hostile_reason_cannot_break_out_of_the_json_ld(staff_client, csrf):
    reason = "</script><script>alert(1)</script>"
    assert (
        post(staff_client, "/staff/hours", csrf, day="2026-12-24", reason=reason).status_code == 303
    )
    for path in ("/", "/clinic", "/staff/hours"):
        page = staff_client.get(path).text
        assert "<script>alert(1)" not in page, path
    home = staff_client.get("/").text
    assert jsonld(home)["specialOpeningHoursSpecification"][0]["description"] == reason


# --- notes and the audit trail are append-only ---------------------------------------------------


@pytest.fixture
def noted(staff_client, csrf) -> int:
    request_id = add_request(staff_client)
    post(staff_client, f"/staff/requests/{request_id}/notes", csrf, note="First call made.")
    return request_id


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE notes SET body = 'rewritten'",
        "DELETE FROM notes",
        "UPDATE audit_log SET actor = 'someone-else@example.org'",
        "UPDATE audit_log SET detail = ''",
        "DELETE FROM audit_log",
    ],
)
def test_notes_and_audit_trail_are_append_only(staff_client, noted, sql):
    before = [tuple(r) for r in query(staff_client, "SELECT * FROM notes")] + [
        tuple(r) for r in query(staff_client, "SELECT * FROM audit_log")
    ]
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        execute(staff_client, sql)
    after = [tuple(r) for r in query(staff_client, "SELECT * FROM notes")] + [
        tuple(r) for r in query(staff_client, "SELECT * FROM audit_log")
    ]
    assert after == before


def test_notes_go_only_with_their_request(staff_client, noted):
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        execute(staff_client, "DELETE FROM notes")
    with closing(sqlite3.connect(db_path(staff_client))) as conn, conn:
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("DELETE FROM consultations WHERE id = ?", (noted,))
    assert query(staff_client, "SELECT count(*) FROM notes")[0][0] == 0
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        execute(staff_client, "DELETE FROM audit_log")


def test_purge_follows_the_apps_clock_not_the_databases(staff_client, csrf):
    """The one-year rule is computed from the app's clock: 365 days after closing by that
    clock, not by the machine's."""
    clock = staff_client.app.ctx.clock
    old = add_request(staff_client, "Old Closed")
    young = add_request(staff_client, "Young Closed")
    still_open = add_request(staff_client, "Still Open")
    post(staff_client, f"/staff/requests/{old}/notes", csrf, note="Called back.")
    closed = {old: clock() - timedelta(days=366), young: clock() - timedelta(days=364)}
    for request_id, at in closed.items():
        execute(
            staff_client,
            "UPDATE consultations SET status = 'closed', closed_at = ? WHERE id = ?",
            (utc_now_iso(at), request_id),
        )
    db = staff_client.app.ctx.db
    gone = staff_client.portal.call(retention.sweep, db, clock(), 365).closed
    assert gone == 1
    names = [r[0] for r in query(staff_client, "SELECT full_name FROM consultations ORDER BY id")]
    assert names == ["Young Closed", "Still Open"]
    assert (
        query(staff_client, "SELECT count(*) FROM notes WHERE consultation_id = ?", (old,))[0][0]
        == 0
    )
    # Two days later by the app's clock, the younger one goes too; the open one stays.
    gone = staff_client.portal.call(retention.sweep, db, clock() + timedelta(days=2), 365).closed
    assert gone == 1
    assert [r[0] for r in query(staff_client, "SELECT id FROM consultations")] == [still_open]
