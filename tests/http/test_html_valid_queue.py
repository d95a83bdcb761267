"""The work queue's pages, in each of their states, are valid HTML by the Nu HTML checker:
the dashboard (with rows, the bulk form, a bulk result, mail failing), a request's page
(handling, attempts, linked requests, who has it open, mails, errors), hours (saved, removed,
the confirmation) and the account page with the mail choice."""

from __future__ import annotations

import re
import sqlite3
from contextlib import closing

from tests.helpers import CSRF_FIELD, HX, add_request, add_staff, login, query
from tests.nu import nu_problems

NURSE, DOCTOR, PASSWORD = "nurse@example.org", "doctor@example.org", "violet-harbor-teapot-42"


def test_work_queue_pages_are_valid_html(client, clock, tmp_path):
    add_staff(client, NURSE, PASSWORD)
    add_staff(client, DOCTOR, PASSWORD)
    first = add_request(client, "Pat Same", phone="+15185550111", message="A first message.")
    second = add_request(client, "Pat S.", phone="+15185550111", message="x" * 300)
    add_request(client, "Closed Cy", status="closed")
    with_outbox = add_request(client, "Mailed Mo", email="mo@example.org")
    # A mail that failed once, one given up, one sent: what the request page and banner show.
    with closing(sqlite3.connect(client.app.ctx.settings.database_path)) as conn, conn:
        done = "2026-12-01T15:00:00.000000Z"
        for n, (state, error, finished) in enumerate([
            ("queued", "the mail server refused the connection", None),
            ("failed", "the server refused the recipient (SMTP 550)", done),
            ("sent", "", done),
        ]):  # fmt: skip
            conn.execute(
                "INSERT INTO outbox (kind, dedupe_key, consultation_id, staff_id, recipient,"
                " subject, body, message_id, state, attempts, created_at, next_attempt_at,"
                " give_up_at, last_attempt_at, last_error, finished_at) VALUES"
                " ('new_request', ?, ?, 1, ?, 's', 'b', ?, ?, 1, ?, ?, ?, ?, ?, ?)",
                (f"k{n}", with_outbox, NURSE, f"m{n}", state, "2026-12-01T15:00:00.000000Z",
                 "2026-12-01T15:31:00.000000Z", "2026-12-02T15:00:00.000000Z",
                 "2026-12-01T15:30:00.000000Z", error, finished),
            )  # fmt: skip
    pages: dict[str, str] = {}
    assert login(client, DOCTOR, PASSWORD).status_code == 303
    client.get(f"/staff/requests/{second}")  # the doctor has it open
    client.cookies.clear()
    assert login(client, NURSE, PASSWORD).status_code == 303
    token = CSRF_FIELD.search(client.get("/staff").text).group(1)
    pages["dashboard"] = client.get("/staff").text
    pages["dashboard-all-by-date"] = client.get("/staff?status=all&sort=follow_up").text
    pages["dashboard-search"] = client.get("/staff?q=pat").text
    pages["dashboard-empty"] = client.get("/staff?status=scheduled").text
    page = client.get(f"/staff/requests/{second}").text
    assert "has this open" in page and "Other requests with the same email or phone" in page
    pages["request"] = page
    post = {"csrf": token}
    client.post(f"/staff/requests/{second}/assign", data={**post, "to": "me"})
    client.post(f"/staff/requests/{second}/follow-up", data={**post, "on": "2026-12-03"})
    client.post(f"/staff/requests/{second}/attempts", data={**post, "outcome": "voicemail"})
    pages["request-handled"] = client.get(f"/staff/requests/{second}").text
    pages["request-error"] = client.post(
        f"/staff/requests/{second}/follow-up", data={**post, "on": "yesterday"}
    ).text
    pages["request-mails"] = client.get(f"/staff/requests/{with_outbox}").text
    assert "Not delivered" in pages["request-mails"]
    closed = query(client, "SELECT id FROM consultations WHERE full_name = 'Closed Cy'")[0][0]
    pages["request-closed"] = client.get(f"/staff/requests/{closed}").text
    fragment = client.post(
        "/staff/requests/bulk",
        data={**post, "new_status": "closed", "ids": str(first)},
        headers=HX,
    ).text
    pages["dashboard-after-bulk"] = pages["dashboard"].replace(
        pages["dashboard"][
            pages["dashboard"].index('<section id="request-list"') : pages["dashboard"].index(
                "</section>", pages["dashboard"].index('<section id="request-list"')
            )
            + len("</section>")
        ],
        fragment.strip(),
    )
    pages["dashboard-bulk-no-js"] = client.get(
        "/staff?bulk=closed&changed=1&skipped=AKI-ABCDE"
    ).text
    pages["account"] = client.get("/staff/account").text
    pages["account-mail-error"] = client.post(
        "/staff/account/mail", data={**post, "request_mail": "never"}
    ).text
    saved = client.post(
        "/staff/hours",
        data={**post, "day": "2026-12-24", "to": "2026-12-26", "reason": "Christmas"},
    )
    pages["hours-saved"] = saved.text
    pages["hours-confirm"] = client.get("/staff/hours/2026-12-24/remove?to=2026-12-26").text
    pages["hours-removed"] = client.post(
        "/staff/hours/2026-12-24/delete", data={**post, "to": "2026-12-26"}
    ).text
    assert "Undo" in pages["hours-removed"]
    pages["hours-range-error"] = client.post(
        "/staff/hours", data={**post, "day": "2026-12-26", "to": "2026-12-24", "reason": "X"}
    ).text
    for name, text in pages.items():
        assert "<html" in text, name
    problems = nu_problems(pages, tmp_path)
    assert problems == [], "\n".join(problems)
    assert re.search(r"<title>\(\d+\) Requests", pages["dashboard"])
