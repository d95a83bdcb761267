"""Every input path has an answer below 500: routes x junk paths, queries and form fields.

Junk: control characters (NUL included), lone surrogates' escapes, very long text, odd
Unicode, percent signs, for anonymous visitors and for signed-in staff (whose forms carry a
valid CSRF token, so the junk reaches the handlers and the domain, not only the guards).
"""

from __future__ import annotations

import re
from urllib.parse import quote, urlencode

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from starlette.routing import Route
from starlette.testclient import TestClient

from tests.conftest import make_settings
from tests.helpers import CSRF_FIELD, add_request, add_staff, login
from webapp.app import create_app

PARAM = re.compile(r"\{[^}]+\}")
CONTROL = st.characters(min_codepoint=0, max_codepoint=0x1F)
JUNK_TEXT = st.one_of(
    st.text(max_size=40),
    st.text(st.one_of(CONTROL, st.sampled_from("%&=?#/\\.\"'<>;+ \u202e\u2028\ufeff")),
            max_size=30),
    st.builds(lambda c, n: c * n, st.sampled_from(["a", "9", "-", "%", "\x00", "é"]),
              st.integers(min_value=200, max_value=3000)),
    st.sampled_from(["", "0", "-1", "99999999999999999999", "2026-02-30", "..", "%00", "%ff",
                     "nul\x00byte", "1e309", "NaN", "../../etc/passwd"]),
)  # fmt: skip
# Junk under the query parameters the views read (so it reaches them), and under others.
QUERIES = st.builds(
    lambda known, other: {**other, **known},
    st.dictionaries(st.sampled_from(["q", "status", "page", "was", "c", "fields", "next"]),
                    JUNK_TEXT, max_size=3),
    st.dictionaries(JUNK_TEXT, JUNK_TEXT, max_size=1),
)  # fmt: skip
HYPOTHESIS = hypothesis_settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def route_table(app) -> list[tuple[str, frozenset[str]]]:
    """(path template, methods) of every route the app has, the static mount left out."""
    found = []
    for route in app.routes:
        if isinstance(route, Route):
            found.append((route.path, frozenset(route.methods or {"GET"})))
    return found


def fill_path(template: str, junk: str) -> str:
    return PARAM.sub(lambda _: quote(junk, safe="") or "x", template)


@pytest.fixture
def staff_client(tmp_path, clock):
    """A signed-in member of staff with one stored request, and that session's CSRF token."""
    settings = make_settings(tmp_path)
    app = create_app(settings, clock=clock)
    with TestClient(app, raise_server_exceptions=False) as client:
        add_staff(client)
        assert login(client).status_code == 303
        request_id = add_request(client)
        page = client.get("/staff/hours")
        csrf = CSRF_FIELD.search(page.text).group(1)
        yield client, csrf, request_id


def test_routes_cover_what_the_app_serves(staff_client):
    client, _, _ = staff_client
    paths = {path for path, _ in route_table(client.app)}
    assert {"/", "/articles/{slug}", "/staff", "/staff/requests.csv", "/consultation"} <= paths


def test_junk_paths_and_queries_never_get_a_5xx(staff_client):
    client, _, _ = staff_client
    routes = route_table(client.app)

    @hypothesis_settings(HYPOTHESIS, max_examples=400)
    @given(
        route=st.sampled_from(routes),
        junk=JUNK_TEXT,
        query=QUERIES,
        signed_in=st.booleans(),
        htmx=st.booleans(),
    )
    def check(route, junk, query, signed_in, htmx):
        template, methods = route
        path = fill_path(template, junk)
        url = path + ("?" + urlencode(query) if query else "")
        headers = {"HX-Request": "true"} if htmx else {}
        if not signed_in:  # an explicit header replaces the signed-in session's cookie
            headers["cookie"] = "aki_staff=" + quote(junk, safe="")
        method = "GET" if "GET" in methods else sorted(methods)[0]
        if method == "POST" and template == "/staff/logout":
            method = "GET"  # a real sign-out would end the session the other checks use
        response = client.request(method, url, headers=headers, follow_redirects=False)
        assert response.status_code < 500, (method, url, response.status_code)

    check()


def test_junk_in_the_staff_search_never_gets_a_5xx(staff_client):
    """The search text reaches SQLite's full-text query language: the likeliest place for
    junk to break something, so it gets examples of its own."""
    client, _, _ = staff_client

    @HYPOTHESIS
    @given(
        path=st.sampled_from(["/staff", "/staff/requests.csv"]),
        q=JUNK_TEXT,
        status=st.one_of(st.sampled_from(["", "new", "closed"]), JUNK_TEXT),
        page=st.one_of(st.integers(-5, 10**12).map(str), JUNK_TEXT),
    )
    def check(path, q, status, page):
        url = path + "?" + urlencode({"q": q, "status": status, "page": page})
        response = client.get(url, follow_redirects=False)
        assert response.status_code < 500, (url, response.status_code)

    check()


def test_junk_paths_below_known_prefixes_never_get_a_5xx(staff_client):
    client, _, _ = staff_client

    @HYPOTHESIS
    @given(
        prefix=st.sampled_from(["/", "/articles/", "/staff/", "/staff/requests/", "/static/",
                                "/staff/hours/", "/consultation/"]),
        junk=st.lists(JUNK_TEXT, min_size=1, max_size=3),
    )  # fmt: skip
    def check(prefix, junk):
        url = prefix + "/".join(quote(part, safe="") for part in junk)
        response = client.get(url, follow_redirects=False)
        assert response.status_code < 500, (url, response.status_code)

    check()


def test_junk_form_fields_never_get_a_5xx(staff_client, clock):
    client, csrf, request_id = staff_client
    targets = {
        "/consultation": ["token", "full_name", "email", "phone", "contact_method",
                          "best_time", "message", "consent", "website"],
        "/consultation/check?fields=full_name,email,phone": ["full_name", "email", "phone"],
        "/staff/login": ["token", "email", "password", "next"],
        f"/staff/requests/{request_id}/status": ["csrf", "status"],
        f"/staff/requests/{request_id}/notes": ["csrf", "note"],
        "/staff/hours": ["csrf", "day", "reason", "kind", "opens", "closes"],
        "/staff/hours/2026-12-25/delete": ["csrf"],
    }  # fmt: skip

    @HYPOTHESIS
    @given(
        target=st.sampled_from(sorted(targets)),
        values=st.lists(JUNK_TEXT, min_size=9, max_size=9),
        keep_csrf=st.booleans(),
        htmx=st.booleans(),
    )
    def check(target, values, keep_csrf, htmx):
        fields = dict(zip(targets[target], values, strict=False))
        if "csrf" in fields and keep_csrf:
            fields["csrf"] = csrf
        clock.advance(seconds=3)
        response = client.post(
            target,
            data=fields,
            headers={"HX-Request": "true"} if htmx else {},
            follow_redirects=False,
        )
        assert response.status_code < 500, (target, fields, response.status_code)

    check()


@pytest.mark.parametrize("length", [200, 201, 253, 254, 255, 300, 5000])
def test_over_long_article_slugs_are_not_found(client, length):
    response = client.get("/articles/" + "a" * length)
    assert response.status_code == 404
    assert "Page not found" in response.text
