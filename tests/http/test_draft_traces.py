"""A no-JavaScript draft that is sent at last (or replaced by a newer one) leaves no trace in
the database's raw bytes once the drafts job has run: like an expired one, never later than
the job's next run (every 5 minutes), however long its own time would have been."""

from __future__ import annotations

from tests.helpers import form, new_token, query, token_in
from tests.privacy_scan import whole_hits

# Typed first, then corrected before sending: only the drafts ever held these.
FIRST = {"full_name": "Ottoline Quarrington", "phone": "518 555 01", "message": "Vermiculite"}
SECOND = {"full_name": "Ottoline Q", "phone": "(518) 555-0142", "message": "Plain words"}
GONE = ["Quarrington", "Vermiculite", "Zanthoxylum"]


def draft_of(location: str) -> str:
    return location.rsplit("/", 1)[1]


def test_a_sent_draft_leaves_no_trace_after_the_next_drafts_run(client, clock, settings):
    client.portal.call(client.app.ctx.jobs.tick)  # today's daily jobs are done: only drafts'
    data = form(new_token(client, clock), **{**FIRST, "consent": None})
    first = client.post("/consultation", data=data, follow_redirects=False)
    assert first.status_code == 303
    page = client.get(first.headers["location"])
    assert "Quarrington" in page.text
    # A second error from that page: a new draft replaces the first one.
    clock.advance(seconds=3)
    data = form(token_in(page.text), **{**FIRST, "message": "Zanthoxylum", "consent": None},
                draft=draft_of(first.headers["location"]))  # fmt: skip
    second = client.post("/consultation", data=data, follow_redirects=False)
    assert second.status_code == 303
    page = client.get(second.headers["location"])
    assert "Zanthoxylum" in page.text
    # Corrected and sent: stored, the draft forgotten at once.
    clock.advance(seconds=3)
    data = form(token_in(page.text), **SECOND, draft=draft_of(second.headers["location"]))
    sent = client.post("/consultation", data=data, follow_redirects=False)
    assert sent.headers["location"].startswith("/consultation/thanks?c=")
    again = client.get(second.headers["location"])
    assert "Quarrington" not in again.text and "Zanthoxylum" not in again.text
    # The drafts job's next run (5 minutes on; their own 10 minutes are not over yet).
    clock.advance(minutes=5)
    outcomes = client.portal.call(client.app.ctx.jobs.tick)
    assert "2 expired form drafts deleted" in [o.summary for o in outcomes]
    assert query(client, "SELECT count(*) FROM form_drafts")[0][0] == 0
    assert whole_hits(settings.database_path, GONE) == []
    assert whole_hits(settings.database_path, ["Ottoline Q"]) != []  # the request itself
