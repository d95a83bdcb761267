"""Every page, in each of its states, is valid HTML by the Nu HTML checker."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.helpers import add_staff, login, token_in
from webapp.settings import ROOT


def vnu_command() -> list[str]:
    jar = Path(
        os.environ.get("VNU_JAR", ROOT / ".cache/vnu/node_modules/vnu-jar/build/dist/vnu.jar")
    )
    java = shutil.which("java")
    if not jar.is_file() or java is None:
        pytest.fail(
            "the Nu HTML checker needs Java and vnu.jar: run the tests with `make test`, "
            "which installs it (npm install vnu-jar), or set VNU_JAR"
        )
    return [java, "-jar", str(jar), "--format", "json", "--also-check-css"]


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
    files = []
    for name, response in pages.items():
        path = tmp_path / f"{name}.html"
        path.write_text(response.text, encoding="utf-8")
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
