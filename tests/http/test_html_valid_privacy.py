"""The privacy pages, in each state, are valid HTML by the Nu HTML checker: the request page
with an admin's section, the erasure confirmation (with an error), the erased page, the
readable copy a person receives, and the privacy notice with each setting."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import make_settings
from tests.helpers import with_cookie
from tests.http.test_erasure import ADMIN, ADMIN_PW, csrf_of, make_people, signed_in
from tests.nu import nu_problems
from webapp.app import create_app


def check(tmp_path: Path, pages: dict[str, str]) -> None:
    problems = nu_problems(pages, tmp_path)
    assert problems == [], "\n".join(problems)


def test_privacy_pages_are_valid_html(client, clock, tmp_path):
    ids = make_people(client, clock)
    admin = with_cookie(signed_in(client, ADMIN, ADMIN_PW))
    asker, stranger = ids["asker"], ids["stranger"]
    pages = {
        "request-admin": client.get(f"/staff/requests/{asker}", headers=admin).text,
        "request-alone": client.get(f"/staff/requests/{stranger}", headers=admin).text,
        "erase": client.get(f"/staff/requests/{asker}/erase", headers=admin).text,
        "erase-alone": client.get(f"/staff/requests/{stranger}/erase", headers=admin).text,
        "copy": client.get(
            f"/staff/requests/{asker}/copy?also-{ids['again']}=on", headers=admin
        ).text,  # fmt: skip
    }
    csrf = csrf_of(client, admin["cookie"].split("=", 1)[1])
    pages["erase-error"] = client.post(
        f"/staff/requests/{asker}/erase",
        data={"csrf": csrf, f"also-{stranger}": "on"},
        headers=admin,
    ).text
    pages["erased"] = client.post(
        f"/staff/requests/{asker}/erase", data={"csrf": csrf}, headers=admin
    ).text
    pages["erased-none"] = client.get("/staff/erased", headers=admin).text
    pages["privacy"] = client.get("/privacy").text
    settings = make_settings(tmp_path, retention_days=90, log_client_address=True)
    from starlette.testclient import TestClient

    with TestClient(create_app(settings, clock=clock)) as other:
        pages["privacy-other-settings"] = other.get("/privacy").text
    check(tmp_path, pages)
