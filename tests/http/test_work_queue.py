"""The work queue through the app: "Needs action" in order with overdue marks at fixed
instants, sorting, assignment, call-back dates and contact attempts in the audit trail,
linked requests, who has a request open, bulk status changes, search and the CSV."""

from __future__ import annotations

import csv
import io
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
    HX,
    add_request,
    add_staff,
    audit,
    db_path,
    form,
    login,
    new_token,
    query,
    reference_in,
    words,
)
from webapp.db import utc_now_iso

NURSE, DOCTOR = "nurse@example.org", "doctor@example.org"
PASSWORD = "violet-harbor-teapot-42"
ROW = re.compile(r'<th scope="row"><a href="/staff/requests/(\d+)">([^<]*)</a>')


def names(html: str) -> list[str]:
    return [name for _, name in ROW.findall(html)]


def execute(client: TestClient, sql: str, params: tuple = ()) -> None:
    with closing(sqlite3.connect(db_path(client))) as conn, conn:
        conn.execute(sql, params)


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=ET)


def row_of(html: str, name: str) -> str:
    for row in re.findall(r"<tr.*?</tr>", html, re.S):
        if f">{name}</a>" in row:
            return row
    raise AssertionError(f"no row for {name}")


@pytest.fixture
def nurse(client) -> int:
    doctor = add_staff(client, DOCTOR, PASSWORD)
    assert doctor
    return add_staff(client, NURSE, PASSWORD)


@pytest.fixture
def staff_client(client, nurse) -> TestClient:
    assert login(client, NURSE, PASSWORD).status_code == 303
    return client


@pytest.fixture
def csrf(staff_client) -> str:
    return CSRF_FIELD.search(staff_client.get("/staff").text).group(1)


def post(client, url, csrf, htmx=False, **fields):
    return client.post(url, data={"csrf": csrf, **fields}, headers=HX if htmx else {},
                       follow_redirects=False)  # fmt: skip


def promise(client, request_id: int, by: datetime) -> None:
    execute(client, "UPDATE consultations SET reply_by = ? WHERE id = ?",
            (utc_now_iso(by), request_id))  # fmt: skip


def follow(client, request_id: int, day: str) -> None:
    execute(client, "UPDATE consultations SET follow_up_on = ? WHERE id = ?", (day, request_id))


# --- "Needs action": order and marks at fixed instants ----------------------------------------


@pytest.fixture
def queue(staff_client) -> dict[str, int]:
    """Now: Tuesday 2026-12-01, 10:30 in Albany (the clinic opens 9-5 every day)."""
    made = {
        "due": add_request(staff_client, "Due Dora", status="contacted",
                           created=local(2026, 11, 20, 9, 0)),
        "missed": add_request(staff_client, "Missed Mo", status="scheduled",
                              created=local(2026, 11, 21, 9, 0)),
        "later": add_request(staff_client, "Later Lou", status="contacted",
                             created=local(2026, 11, 22, 9, 0)),
        "deferred": add_request(staff_client, "Deferred Del", created=local(2026, 11, 23, 9, 0)),
        "closed": add_request(staff_client, "Closed Cy", status="closed",
                              created=local(2026, 11, 24, 9, 0)),
        "spam": add_request(staff_client, "Spam Sy", created=local(2026, 11, 25, 9, 0)),
        "late": add_request(staff_client, "Late Lena", created=local(2026, 11, 30, 14, 0)),
        "fresh": add_request(staff_client, "Fresh Fay", created=local(2026, 12, 1, 9, 15)),
    }  # fmt: skip
    promise(staff_client, made["late"], local(2026, 11, 30, 17, 0))
    promise(staff_client, made["fresh"], local(2026, 12, 1, 17, 0))
    promise(staff_client, made["deferred"], local(2026, 11, 23, 17, 0))
    follow(staff_client, made["due"], "2026-12-01")
    follow(staff_client, made["missed"], "2026-11-30")
    follow(staff_client, made["later"], "2026-12-02")
    follow(staff_client, made["deferred"], "2026-12-03")  # voicemail left; call back Thursday
    follow(staff_client, made["closed"], "2026-11-30")
    execute(staff_client, "UPDATE consultations SET suspected_spam = 'flood' WHERE id = ?",
            (made["spam"],))  # fmt: skip
    return made


def test_needs_action_is_new_requests_and_follow_ups_due_oldest_first(staff_client, queue):
    page = staff_client.get("/staff").text
    assert names(page) == ["Due Dora", "Missed Mo", "Late Lena", "Fresh Fay"]
    assert "4 requests · Needs action" in words(page)
    late = row_of(page, "Late Lena")
    assert 'class="overdue"' in late
    assert "Overdue: promised by Monday, November 30, 5:00 PM ET" in words(late)
    assert "overdue" not in row_of(page, "Fresh Fay")
    assert "Call back today" in words(row_of(page, "Due Dora"))
    assert "Call back was due Mon Nov 30" in words(row_of(page, "Missed Mo"))
    # Sorted by call-back date: the dated ones first, soonest first.
    by_date = staff_client.get("/staff?sort=follow_up").text
    assert names(by_date) == ["Missed Mo", "Due Dora", "Late Lena", "Fresh Fay"]
    newest = staff_client.get("/staff?sort=newest").text
    assert names(newest) == ["Fresh Fay", "Late Lena", "Missed Mo", "Due Dora"]
    # Everything else is under "All" (suspected spam under its own view).
    everything = names(staff_client.get("/staff?status=all").text)
    assert set(everything) == {"Late Lena", "Fresh Fay", "Due Dora", "Missed Mo", "Later Lou",
                               "Deferred Del", "Closed Cy"}  # fmt: skip


def test_overdue_follows_the_promise_minute_by_minute(staff_client, queue, clock):
    clock.set_local(2026, 12, 1, 17, 0)
    assert login(staff_client, NURSE, PASSWORD).status_code == 303  # 6 1/2 hours idle
    assert "overdue" not in row_of(staff_client.get("/staff").text, "Fresh Fay")
    clock.set_local(2026, 12, 1, 17, 1)
    fresh = row_of(staff_client.get("/staff").text, "Fresh Fay")
    assert "Overdue: promised by Tuesday, December 1, 5:00 PM ET" in words(fresh)


def test_a_deferred_request_comes_back_on_its_day(staff_client, queue, clock):
    clock.set_local(2026, 12, 3, 8, 0)
    assert login(staff_client, NURSE, PASSWORD).status_code == 303
    page = staff_client.get("/staff").text
    assert "Deferred Del" in names(page) and "Later Lou" in names(page)
    assert "Call back today" in words(row_of(page, "Deferred Del"))


def test_the_counts_in_the_views(staff_client, queue):
    page = staff_client.get("/staff").text
    assert '<option value="">Needs action (4)</option>' in page
    assert '<option value="all">All (7)</option>' in page
    assert '<option value="spam">Suspected spam (1)</option>' in page
    assert '<option value="mine">Assigned to me (0)</option>' in page


# --- assignment ----------------------------------------------------------------------------------


def test_assign_to_me_to_a_colleague_and_to_no_one(staff_client, csrf, nurse, queue):
    request_id = queue["late"]
    url = f"/staff/requests/{request_id}/assign"
    response = post(staff_client, url, csrf, to="me")
    assert response.status_code == 303
    assert response.headers["location"] == f"/staff/requests/{request_id}"
    assert query(staff_client, "SELECT assigned_to FROM consultations WHERE id = ?",
                 (request_id,))[0][0] == nurse  # fmt: skip
    page = words(staff_client.get(f"/staff/requests/{request_id}").text)
    assert "Assigned to: you" in page
    assert names(staff_client.get("/staff?status=mine").text) == ["Late Lena"]
    assert "You" in row_of(staff_client.get("/staff").text, "Late Lena")
    doctor = query(staff_client, "SELECT id FROM staff WHERE email = ?", (DOCTOR,))[0][0]
    fragment = post(staff_client, url, csrf, htmx=True, to=str(doctor))
    assert fragment.status_code == 200
    assert fragment.text.lstrip().startswith('<div id="request-detail"')
    assert f"Assigned to: {DOCTOR}" in words(fragment.text)
    assert names(staff_client.get("/staff?status=mine").text) == []
    post(staff_client, url, csrf, to="none")
    post(staff_client, url, csrf, to="none")  # already so: nothing to audit
    trail = [
        (r["detail"], r["actor"], r["consultation_id"]) for r in audit(staff_client, "assigned")
    ]
    assert trail == [
        (f"to {NURSE}", NURSE, request_id),
        (f"to {DOCTOR}", NURSE, request_id),
        ("to no one", NURSE, request_id),
    ]
    history = words(staff_client.get(f"/staff/requests/{request_id}").text)
    assert f"Assigned: to {DOCTOR} · {NURSE}" in history


@pytest.mark.parametrize(
    ("to", "status", "message"),
    [
        ("someone", 422, "Choose someone to assign it to."),
        ("", 422, "Choose someone to assign it to."),
        ("999", 409, "That account is not active: choose someone else."),
        ("disabled", 409, "That account is not active: choose someone else."),
    ],
)
def test_assigning_to_no_real_colleague_is_refused(staff_client, csrf, queue, to, status, message):
    if to == "disabled":
        to = str(add_staff(staff_client, "left@example.org", PASSWORD))
        execute(staff_client, "UPDATE staff SET active = 0 WHERE email = 'left@example.org'")
    response = post(staff_client, f"/staff/requests/{queue['late']}/assign", csrf, to=to)
    assert response.status_code == status
    assert message in response.text and 'role="alert"' in response.text
    assert audit(staff_client, "assigned") == []


def test_queue_actions_need_the_session_and_its_token(staff_client, csrf, queue):
    for path, fields in (("assign", {"to": "me"}), ("follow-up", {"on": "2026-12-02"}),
                         ("attempts", {"outcome": "spoke"})):  # fmt: skip
        url = f"/staff/requests/{queue['late']}/{path}"
        assert post(staff_client, url, "not-the-token", **fields).status_code == 403
        assert (
            post(staff_client, f"/staff/requests/999999/{path}", csrf, **fields).status_code == 404
        )
        spam = post(staff_client, f"/staff/requests/{queue['spam']}/{path}", csrf, **fields)
        assert spam.status_code == 409 and "suspected spam" in spam.text
    assert audit(staff_client, "assigned") == audit(staff_client, "follow_up") == []
    assert audit(staff_client, "contact_attempt") == []
    staff_client.cookies.clear()
    signed_out = post(staff_client, f"/staff/requests/{queue['late']}/assign", csrf, to="me")
    assert signed_out.status_code == 303 and "/staff/login" in signed_out.headers["location"]


# --- call-back dates -------------------------------------------------------------------------


def test_a_call_back_date(staff_client, csrf, queue, clock):
    request_id = queue["fresh"]
    url = f"/staff/requests/{request_id}/follow-up"
    assert post(staff_client, url, csrf, on="2026-12-03", action="set").status_code == 303
    assert query(staff_client, "SELECT follow_up_on FROM consultations WHERE id = ?",
                 (request_id,))[0][0] == "2026-12-03"  # fmt: skip
    assert "Fresh Fay" not in names(staff_client.get("/staff").text)  # back on Thursday
    page = words(staff_client.get(f"/staff/requests/{request_id}").text)
    assert "It shows under “Needs action” on Thursday, December 3, 2026." in page
    assert post(staff_client, url, csrf, action="clear").status_code == 303
    assert "Fresh Fay" in names(staff_client.get("/staff").text)
    details = [r["detail"] for r in audit(staff_client, "follow_up")]
    assert details == ["call back on 2026-12-03", "follow-up date cleared"]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("2026-11-30", "Choose a date from today to a year ahead."),
        ("2027-12-03", "Choose a date from today to a year ahead."),
        ("tomorrow", "Enter the date to call back, like 2026-12-03."),
        ("", "Enter the date to call back, like 2026-12-03."),
        ("2026-02-30", "Enter the date to call back, like 2026-12-03."),
    ],
)
def test_bad_call_back_dates_are_refused(staff_client, csrf, queue, value, message):
    response = post(staff_client, f"/staff/requests/{queue['fresh']}/follow-up", csrf, on=value)
    assert response.status_code == 422 and message in response.text
    assert audit(staff_client, "follow_up") == []


def test_a_closed_request_gets_no_call_back_or_attempts(staff_client, csrf, queue):
    closed = queue["closed"]
    response = post(staff_client, f"/staff/requests/{closed}/follow-up", csrf, on="2026-12-02")
    assert response.status_code == 409 and "reopen it" in response.text
    response = post(staff_client, f"/staff/requests/{closed}/attempts", csrf, outcome="spoke")
    assert response.status_code == 409
    page = words(staff_client.get(f"/staff/requests/{closed}").text)
    assert "Closed: reopen it to plan a call back or log a contact attempt." in page
    assert "Left voicemail" not in page


# --- contact attempts ------------------------------------------------------------------------


def test_contact_attempts_with_one_click_counted_and_audited(staff_client, csrf, queue, clock):
    request_id = queue["late"]
    url = f"/staff/requests/{request_id}/attempts"
    assert post(staff_client, url, csrf, outcome="no_answer").status_code == 303
    clock.advance(seconds=3)
    assert post(staff_client, url, csrf, outcome="no_answer").status_code == 303  # double click
    assert query(staff_client, "SELECT attempts FROM consultations WHERE id = ?",
                 (request_id,))[0][0] == 1  # fmt: skip
    clock.advance(minutes=20)
    fragment = post(staff_client, url, csrf, htmx=True, outcome="voicemail")
    assert fragment.status_code == 200 and "Contact attempts: 2" in words(fragment.text)
    # Someone tried: the promise is kept, the request is no longer overdue.
    page = staff_client.get("/staff").text
    assert "overdue" not in row_of(page, "Late Lena")
    assert "2 attempts" in words(row_of(page, "Late Lena"))
    clock.advance(minutes=25)
    post(staff_client, url, csrf, outcome="spoke")
    row = query(staff_client, "SELECT status, attempts FROM consultations WHERE id = ?",
                (request_id,))[0]  # fmt: skip
    assert tuple(row) == ("contacted", 3)  # "Spoke": a new request is contacted
    trail = [(r["action"], r["detail"]) for r in audit(staff_client)
             if r["action"] in ("contact_attempt", "status_change")]  # fmt: skip
    assert trail == [
        ("contact_attempt", "No answer (attempt 1)"),
        ("contact_attempt", "Left voicemail (attempt 2)"),
        ("contact_attempt", "Spoke (attempt 3)"),
        ("status_change", "New → Contacted"),
    ]
    page = words(staff_client.get(f"/staff/requests/{request_id}").text)
    assert "Contact attempt: Left voicemail (attempt 2) · nurse@example.org" in page
    assert "Contact attempts: 3" in page
    bad = post(staff_client, url, csrf, outcome="emailed")
    assert bad.status_code == 422 and "Choose one of the outcomes offered." in bad.text


def test_contact_attempts_and_assignment_stay_out_of_the_audit_text(staff_client, csrf, queue):
    post(staff_client, f"/staff/requests/{queue['late']}/attempts", csrf, outcome="spoke")
    for entry in audit(staff_client):
        assert "Lena" not in str(entry)


# --- requests from the same person ----------------------------------------------------------


def test_requests_sharing_an_email_or_phone_are_linked(staff_client):
    first = add_request(staff_client, "Pat Same", email="Pat@Example.org", ago=timedelta(days=3))
    second = add_request(staff_client, "Pat S.", email="pat@example.org", phone="+15185550111",
                         ago=timedelta(days=2))  # fmt: skip
    third = add_request(staff_client, "P. Same", phone="+15185550111", ago=timedelta(days=1))
    other = add_request(staff_client, "Someone Else", email="else@example.org")
    page = staff_client.get("/staff").text
    assert "Same email or phone as 1 other request" in words(row_of(page, "Pat Same"))
    assert "Same email or phone as 2 other requests" in words(row_of(page, "Pat S."))
    assert "Same email or phone" not in row_of(page, "Someone Else")
    detail = staff_client.get(f"/staff/requests/{second}").text
    text = words(detail)
    assert "Other requests with the same email or phone" in text
    assert (
        f'href="/staff/requests/{first}"' in detail and f'href="/staff/requests/{third}"' in detail
    )
    assert "same email" in text and "same phone" in text
    assert f'href="/staff/requests/{other}"' not in detail


# --- who has it open -----------------------------------------------------------------------------


def test_someone_else_having_it_open_is_shown(client, nurse, clock):
    request_id = add_request(client, "Open Olga")
    assert login(client, DOCTOR, PASSWORD).status_code == 303
    client.get(f"/staff/requests/{request_id}")
    client.cookies.clear()
    assert login(client, NURSE, PASSWORD).status_code == 303
    clock.advance(minutes=2)
    page = client.get(f"/staff/requests/{request_id}").text
    assert f"{DOCTOR} has this open (in the past few minutes)" in words(page)
    assert f"{DOCTOR} has this open" in words(row_of(client.get("/staff").text, "Open Olga"))
    clock.advance(minutes=4)  # six minutes since the doctor looked
    assert "has this open" not in client.get(f"/staff/requests/{request_id}").text
    assert "has this open" not in client.get("/staff").text  # nor one's own view


# --- many at once -------------------------------------------------------------------------------


@pytest.fixture
def mix(staff_client) -> dict[str, int]:
    return {
        "a": add_request(staff_client, "Alpha New", ago=timedelta(hours=5)),
        "b": add_request(staff_client, "Bravo New", ago=timedelta(hours=4)),
        "c": add_request(staff_client, "Charlie Contacted", status="contacted",
                         ago=timedelta(hours=3)),
        "d": add_request(staff_client, "Delta Closed", status="closed", ago=timedelta(hours=2)),
        "e": add_request(staff_client, "Echo Spam", ago=timedelta(hours=1)),
    }  # fmt: skip


def bulk(client, csrf, ids, new, htmx=False, **extra):
    body = [("csrf", csrf), ("new_status", new), *(("ids", str(i)) for i in ids),
            *extra.items()]  # fmt: skip
    headers = {"Content-Type": "application/x-www-form-urlencoded", **(HX if htmx else {})}
    return client.post("/staff/requests/bulk", content=urlencode(body), headers=headers,
                       follow_redirects=False)  # fmt: skip


def test_bulk_status_change_audited_per_request(staff_client, csrf, mix):
    execute(staff_client, "UPDATE consultations SET suspected_spam = 'flood' WHERE id = ?",
            (mix["e"],))  # fmt: skip
    ids = [mix[k] for k in "abcde"]
    response = bulk(staff_client, csrf, ids, "closed", htmx=True, status="all")
    assert response.status_code == 200
    fragment = response.text
    assert fragment.lstrip().startswith('<section id="request-list"')
    text = words(fragment)
    assert "3 requests marked closed." in text
    references = {
        r["id"]: r["reference"] for r in query(staff_client, "SELECT * FROM consultations")
    }
    assert f"{references[mix['d']]}: already closed" in text
    assert f"{references[mix['e']]}: suspected spam" in text
    statuses = {r["id"]: r["status"] for r in query(staff_client, "SELECT * FROM consultations")}
    assert [statuses[mix[k]] for k in "abcde"] == ["closed", "closed", "closed", "closed", "new"]
    trail = sorted(
        (r["consultation_id"], r["detail"]) for r in audit(staff_client, "status_change")
    )
    assert trail == [
        (mix["a"], "New → Closed (bulk)"),
        (mix["b"], "New → Closed (bulk)"),
        (mix["c"], "Contacted → Closed (bulk)"),
    ]
    # The list came back in its view ("All", newest first), still filtered.
    assert names(fragment)[0] == "Delta Closed"


def test_bulk_without_javascript_redirects_and_says_what_happened(staff_client, csrf, mix):
    response = bulk(staff_client, csrf, [mix["a"], mix["d"], mix["a"]], "not_a_fit")
    assert response.status_code == 303
    location = response.headers["location"]
    assert location.startswith("/staff?bulk=not_a_fit&changed=1&skipped=AKI-")
    page = words(staff_client.get(location).text)
    assert "1 request marked not a fit." in page
    assert "its status does not allow it" in page
    assert len(audit(staff_client, "status_change")) == 1  # the repeated id counted once
    # A forged message in the address is not shown: only references and known statuses.
    forged = staff_client.get("/staff?bulk=closed&changed=2&skipped=<b>forged-words</b>,x").text
    assert "2 requests marked closed." in words(forged) and "forged-words" not in forged


def test_bulk_refuses_bad_input_and_forgery(staff_client, csrf, mix):
    assert bulk(staff_client, "forged", [mix["a"]], "closed").status_code == 403
    assert bulk(staff_client, csrf, [mix["a"]], "archived").status_code == 422
    assert bulk(staff_client, csrf, [mix["a"]], "closed", **{"surprise": "x"}).status_code == 400
    nothing = bulk(staff_client, csrf, [], "closed", htmx=True)
    assert "Select one or more requests first." in words(nothing.text)
    junk = bulk(staff_client, csrf, ["x", "-1", "1e3"], "closed", htmx=True)
    assert junk.status_code == 200
    too_many = bulk(staff_client, csrf, range(1000, 1200), "closed")
    assert too_many.status_code == 400  # more fields than a page of rows can send
    fields = {"csrf": csrf, "new_status": "closed", "ids": str(mix["a"])}
    cross = staff_client.post(
        "/staff/requests/bulk", data=fields, headers={"Origin": "https://evil.example"}
    )
    assert cross.status_code == 403
    assert audit(staff_client, "status_change") == []


def test_the_list_has_a_checkbox_per_row_for_the_bulk_form(staff_client, mix):
    page = staff_client.get("/staff").text
    assert '<form id="bulk" class="bulk" action="/staff/requests/bulk" method="post"' in page
    for key in "ab":
        assert (f'<input type="checkbox" id="pick-{mix[key]}" name="ids" value="{mix[key]}"'
                ' form="bulk">') in page  # fmt: skip
    assert 'id="bulk"' not in staff_client.get("/staff?status=spam").text


# --- search --------------------------------------------------------------------------------------


@pytest.fixture
def people(staff_client, clock) -> dict[str, str]:
    """Requests sent through the form, so the search text is what the triggers make of them."""
    sent = {}
    for name, fields in {
        "José Núñez": {"email": "jnunez@example.org", "phone": "(518) 555-0123",
                       "message": "Does insurance cover it?"},
        "Zoë O’Brien": {"email": "", "phone": "518-555-0777", "message": "Evenings only."},
        "Josh Ames": {"email": "joe@example.net", "phone": "", "contact_method": "email",
                        "message": "Can my husband drive me home?"},
    }.items():  # fmt: skip
        response = staff_client.post(
            "/consultation", data=form(new_token(staff_client, clock), full_name=name, **fields),
            headers=HX,
        )  # fmt: skip
        sent[name] = reference_in(response.text)
    return sent


@pytest.mark.parametrize(
    ("q", "found"),
    [
        ("jose", ["José Núñez"]),
        ("josh", ["Josh Ames"]),
        ("JOSÉ", ["José Núñez"]),
        ("nunez", ["José Núñez"]),
        ("Núñez", ["José Núñez"]),
        ("jos", ["José Núñez", "Josh Ames"]),
        ("zoe", ["Zoë O’Brien"]),
        ("o'brien", ["Zoë O’Brien"]),
        ("insurance", ["José Núñez"]),
        ("INSURANCE cover", ["José Núñez"]),
        ("husband", ["Josh Ames"]),
        ("jose insurance", ["José Núñez"]),
        ("jose husband", []),
        ("0123", ["José Núñez"]),
        ("555-0123", ["José Núñez"]),
        ("(518) 555-0777", ["Zoë O’Brien"]),
        ("518", ["José Núñez", "Zoë O’Brien"]),
        ("joe@example", ["Josh Ames"]),
        ("example.net", ["Josh Ames"]),
        ("Jo Ames", ["Josh Ames"]),
    ],
)
def test_search(staff_client, people, q, found):
    page = staff_client.get("/staff", params={"q": q}).text
    assert sorted(names(page)) == sorted(found)


def test_search_by_reference(staff_client, people):
    reference = people["Josh Ames"]
    for q in (reference, reference.lower(), reference[4:], reference[5:]):
        assert names(staff_client.get("/staff", params={"q": q}).text) == ["Josh Ames"], q


def test_a_renamed_request_is_found_by_its_new_name(staff_client, people):
    execute(staff_client, "UPDATE consultations SET full_name = 'Renée Roe' WHERE full_name = ?",
            ("José Núñez",))  # fmt: skip
    assert names(staff_client.get("/staff", params={"q": "renee"}).text) == ["Renée Roe"]
    assert names(staff_client.get("/staff", params={"q": "josé"}).text) == []
    assert names(staff_client.get("/staff", params={"q": "insurance"}).text) == ["Renée Roe"]


def test_a_search_within_a_view(staff_client, people):
    execute(staff_client, "UPDATE consultations SET status = 'contacted' WHERE full_name = ?",
            ("Josh Ames",))  # fmt: skip
    # Without a chosen view a search looks through everything; with one, within it.
    assert names(staff_client.get("/staff", params={"q": "jos"}).text) == [
        "Josh Ames", "José Núñez"
    ]  # fmt: skip
    assert names(staff_client.get("/staff", params={"q": "jos", "status": "action"}).text) == [
        "José Núñez"
    ]
    assert names(staff_client.get("/staff", params={"q": "jos", "status": "contacted"}).text) == [
        "Josh Ames"
    ]


def test_the_queries_use_their_indexes(staff_client):
    """Every list is one indexed query, whatever the size of the history."""
    from webapp.queue import COLUMNS, FROM, ORDER, Filter, _where

    plans = {}
    with closing(sqlite3.connect(db_path(staff_client))) as conn:
        for name, filter_ in {
            "action": Filter(),
            "action-by-date": Filter(sort="follow_up"),
            "mine": Filter("mine"),
            "all": Filter("all"),
            "search": Filter(q="jose"),
            "status": Filter("new"),
            "spam": Filter("spam"),
        }.items():
            where, params = _where(filter_, datetime(2026, 12, 1).date(), 1)
            sql = (f"EXPLAIN QUERY PLAN SELECT {COLUMNS}{FROM}{where}"
                   f" ORDER BY {ORDER[filter_.order]} LIMIT 25")  # fmt: skip
            plans[name] = " | ".join(r[3] for r in conn.execute(sql, params))
    assert "consultations_queue" in plans["action"]
    assert "consultations_queue" in plans["action-by-date"]
    assert "consultations_by_assignee" in plans["mine"]
    assert "consultations_fts VIRTUAL TABLE INDEX" in plans["search"]
    assert "consultations_by_status" in plans["status"]
    assert "consultations_suspected" in plans["spam"]
    for name, plan in plans.items():  # no reading of the whole table (but "All", by id)
        assert "SCAN c |" not in plan + " |" or name == "all", (name, plan)


# --- the CSV -------------------------------------------------------------------------------------


def test_the_csv_has_local_times_the_handling_and_the_notes(staff_client, csrf, clock, nurse):
    request_id = add_request(staff_client, "Csv Cora", created=local(2026, 11, 30, 16, 45))
    post(staff_client, f"/staff/requests/{request_id}/assign", csrf, to="me")
    post(staff_client, f"/staff/requests/{request_id}/follow-up", csrf, on="2026-12-04")
    post(staff_client, f"/staff/requests/{request_id}/attempts", csrf, outcome="voicemail")
    post(staff_client, f"/staff/requests/{request_id}/notes", csrf, note="=cmd|' /C calc'!A0")
    clock.advance(minutes=5)
    post(staff_client, f"/staff/requests/{request_id}/notes", csrf, note="Second note\ntwo lines")
    clock.advance(minutes=20)
    post(staff_client, f"/staff/requests/{request_id}/status", csrf, status="not_a_fit")
    response = staff_client.get("/staff/requests.csv?status=all")
    assert response.text.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(response.text[1:])))
    [row] = rows
    assert row["Received (America/New_York)"] == "2026-11-30 16:45"
    assert row["Closed (America/New_York)"] == "2026-12-01 10:55"
    assert row["Status"] == "Not a fit"
    assert row["Assigned to"] == NURSE
    assert row["Follow-up date"] == "2026-12-04"
    assert row["Contact attempts"] == "1"
    assert row["Notes"] == (
        f"2026-12-01 10:30 {NURSE}: =cmd|' /C calc'!A0\n"
        f"2026-12-01 10:35 {NURSE}: Second note\ntwo lines"
    )
    for value in row.values():
        assert value[:1] not in ("=", "+", "-", "@", "\t", "\r", "|", "%"), value
    # Parsed as a spreadsheet would: a date and time, in the clinic's zone.
    assert datetime.strptime(row["Received (America/New_York)"], "%Y-%m-%d %H:%M")
    [entry] = audit(staff_client, "export_csv")
    assert entry["detail"] == "1 rows, status all"
