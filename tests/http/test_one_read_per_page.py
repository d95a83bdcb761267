"""Each staff page reads what it shows once: no query runs twice for one response (the same
request, the status counts, the session, the mail health). A second copy of a read is how
two parts of a page drift apart; this finds it whichever part adds it."""

from __future__ import annotations

from collections import Counter

import pytest

from tests.helpers import CSRF_FIELD, HX, add_request, add_staff, login
from webapp.db import Database


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every query sent to the database's reader (fetchone goes through fetchall)."""
    seen: list[str] = []
    fetchall = Database.fetchall

    async def counted(self: Database, sql: str, params=()):  # type: ignore[no-untyped-def]
        seen.append(" ".join(sql.split()))
        return await fetchall(self, sql, params)

    monkeypatch.setattr(Database, "fetchall", counted)
    return seen


@pytest.fixture
def signed_in(client):
    add_staff(client)
    assert login(client).status_code == 303
    first = add_request(client, "Ann Example", message="A first request")
    add_request(client, "Bob Example", phone="+15185550123", status="contacted")
    return client, first


def repeated(seen: list[str]) -> dict[str, int]:
    return {sql: n for sql, n in Counter(seen).items() if n > 1}


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/staff", {}),
        ("/staff", HX),
        ("/staff?status=all&q=example&sort=oldest", {}),
        ("/staff/requests/{id}", {}),
        ("/staff/requests/{id}/copy", {}),
        ("/staff/requests/{id}/erase", {}),
        ("/staff/hours", {}),
        ("/staff/account", {}),
        ("/staff/accounts", {}),
        ("/staff/new-count", HX),
        ("/staff/queue-state", HX),
    ],
)
def test_a_staff_page_runs_each_query_once(signed_in, reads, path, headers):
    client, first = signed_in
    reads.clear()
    response = client.get(path.format(id=first), headers=headers, follow_redirects=False)
    assert response.status_code == 200, response.text[:300]
    assert reads, "the page read nothing: the counter is not counting"
    assert repeated(reads) == {}


def test_a_status_change_answers_with_one_read_of_the_request(signed_in, reads):
    client, first = signed_in
    csrf = CSRF_FIELD.search(client.get(f"/staff/requests/{first}").text).group(1)
    reads.clear()
    response = client.post(
        f"/staff/requests/{first}/status", data={"csrf": csrf, "status": "contacted"}, headers=HX
    )
    assert response.status_code == 200
    assert "Contacted" in response.text
    assert repeated(reads) == {}
