"""The htmx confirmation is rendered once per promise, and is exactly what a render makes."""

from __future__ import annotations

import pytest

from tests.helpers import HX, form, new_token, reference_in
from webapp.pagecache import SplicedFragments


def fresh(client, reference: str, reply: str, method: str) -> str:
    """The fragment as the template renders it for this request alone."""
    template = client.app.ctx.templates.get_template("_consultation_done.html")
    done = {"reference": reference, "reply": reply, "method": method}
    return template.render({"request": None, "done": done})


def test_each_confirmation_is_the_render_of_its_own_request(client, clock):
    memo = client.app.ctx.confirmations
    clock.set_local(2026, 12, 2, 10, 0, 0)  # a Wednesday morning: "by 5:00 PM ET today"
    seen = []
    for method in ("email", "call", "email", "text", "call"):
        token = new_token(client, clock)
        answer = client.post("/consultation", data=form(token, contact_method=method), headers=HX)
        assert answer.status_code == 200
        assert answer.headers["content-type"] == "text/html; charset=utf-8"
        assert answer.headers["cache-control"] == "no-store"
        reference = reference_in(answer.text)
        assert answer.text == fresh(client, reference, "by 5:00 PM ET today", method)
        assert answer.text.count(reference) == 1
        seen.append(reference)
    assert len(set(seen)) == 5
    assert memo.renders == 3  # one per contact method: the promise was the same
    # Later in the day the promise is tomorrow's: rendered again, and right.
    clock.set_local(2026, 12, 2, 16, 30, 0)
    later = form(new_token(client, clock), contact_method="email")
    answer = client.post("/consultation", data=later, headers=HX)
    assert answer.text == fresh(
        client, reference_in(answer.text), "by 5:00 PM ET tomorrow (Thursday)", "email"
    )
    assert memo.renders == 4


def test_only_plain_values_are_put_into_the_html():
    fragments = SplicedFragments(size=2)
    built = []

    def build(stand_in: str) -> str:
        built.append(stand_in)
        return f"<p>Your reference is <b>{stand_in}</b>.</p>"

    assert fragments.render("k", build, "AKI-7F3K2") == "<p>Your reference is <b>AKI-7F3K2</b>.</p>"
    assert fragments.render("k", build, "AKI-00000").endswith("<b>AKI-00000</b>.</p>")
    assert len(built) == 1
    for bad in ("<script>", "a&b", "", "x" * 41, 'a"b'):
        with pytest.raises(ValueError):
            fragments.render("k", build, bad)
    # Bounded: a third key clears the memory.
    fragments.render("k2", build, "A")
    fragments.render("k3", build, "A")
    assert len(built) == 3 and len(fragments._items) == 1
