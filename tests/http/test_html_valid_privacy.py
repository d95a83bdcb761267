"""The privacy pages, in each state, are valid HTML by the Nu HTML checker: the request page
with an admin's section, the erasure confirmation (with an error), the erased page, the
readable copy a person receives, and the privacy notice with each setting."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.conftest import make_settings
from tests.helpers import with_cookie
from tests.http.test_erasure import ADMIN, ADMIN_PW, csrf_of, make_people, signed_in
from tests.http.test_html_valid import vnu_command
from webapp.app import create_app


def check(tmp_path: Path, pages: dict[str, str]) -> None:
    files = []
    for name, text in pages.items():
        path = tmp_path / f"{name}.html"
        path.write_text(text, encoding="utf-8")
        files.append(str(path))
    result = subprocess.run(
        [*vnu_command(), *files], capture_output=True, text=True, timeout=120, check=False
    )
    messages = json.loads(result.stderr or "{}").get("messages", [])
    problems = [
        f"{Path(m.get('url', '')).name}:{m.get('lastLine')}: {m.get('type')}: {m.get('message')}"
        for m in messages
        if m.get("type") in ("error", "non-document-error")
        or (m.get("type") == "info" and m.get("subType") == "warning")
    ]
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
