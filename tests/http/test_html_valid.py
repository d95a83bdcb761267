"""Every page, in each of its states, is valid HTML by the Nu HTML checker."""

from __future__ import annotations

import re

from tests.helpers import add_staff, login, token_in
from tests.nu import nu_problems


def test_pages_are_valid_html(client, clock, tmp_path):
    pages = {
        "home": client.get("/"),
        "articles": client.get("/articles/"),
        "article": client.get("/articles/does-ketamine-treat-depression"),
        "clinic": client.get("/clinic"),
        "privacy": client.get("/privacy"),
        "consultation": client.get("/consultation"),
        "not-found": client.get("/no-such-page"),
        "staff-login": client.get("/staff/login"),
    }
    page = pages["consultation"].text
    token = token_in(page)
    clock.advance(seconds=5)
    pages["form-errors"] = client.post("/consultation", data={"token": token, "email": "x"})
    done = client.post(
        "/consultation",
        data={"token": token, "full_name": "Ann", "email": "ann@example.org",
              "contact_method": "email", "best_time": "any", "consent": "yes"},
    )  # fmt: skip
    pages["thanks"] = done
    pages["form-gone"] = client.get("/consultation/details/" + "x" * 32)
    # Suspected spam (the honeypot), then the rate limit: four more, and a sixth is refused.
    valid = {"full_name": "Bo", "email": "bo@example.org", "contact_method": "email",
             "best_time": "any", "consent": "yes"}  # fmt: skip
    for i in range(5):
        fresh = token_in(client.get("/consultation").text)
        clock.advance(seconds=5)
        extra = {"website": "http://spam.example"} if i == 0 else {}
        client.post("/consultation", data={"token": fresh, **valid, **extra})
    pages["rate-limited"] = client.post("/consultation", data={"token": fresh, **valid})
    assert "Your request was not sent" in pages["rate-limited"].text
    add_staff(client)
    assert login(client).status_code == 303
    pages["staff-spam"] = client.get("/staff?status=spam")
    spam_id = re.search(r'href="/staff/requests/(\d+)"', pages["staff-spam"].text).group(1)
    pages["staff-spam-request"] = client.get(f"/staff/requests/{spam_id}")
    assert "Move to the queue" in pages["staff-spam-request"].text
    problems = nu_problems({n: r.text for n, r in pages.items()}, tmp_path)
    assert problems == [], "\n".join(problems)
