"""A repeated dashboard view may be reused, but never once anything has changed."""

from __future__ import annotations

from datetime import timedelta

from tests.helpers import add_request, add_staff, login


def names_shown(page: str) -> int:
    return page.count('<th scope="row"><a href="/staff/requests/')


def test_dashboard_is_reused_only_while_nothing_changes(client, clock):
    add_staff(client)
    assert login(client).status_code == 303
    add_request(client, "First Person", ago=timedelta(minutes=5))
    first = client.get("/staff").text
    assert names_shown(first) == 1 and "5 min ago" in first
    assert client.get("/staff").text == first  # nothing changed: the same page
    # A request written by another connection (as another process would) shows at once.
    add_request(client, "Second Person")
    second = client.get("/staff").text
    assert names_shown(second) == 2 and "Second Person" in second
    # The minute turns: ages move on.
    clock.advance(minutes=1)
    assert "6 min ago" in client.get("/staff").text


def test_each_session_gets_its_own_page(client):
    add_staff(client)
    add_staff(client, "other@example.org")
    assert login(client).status_code == 303
    mine = client.get("/staff").text
    client.cookies.clear()
    assert login(client, "other@example.org").status_code == 303
    theirs = client.get("/staff").text
    assert "other@example.org" in theirs and "other@example.org" not in mine
