"""The privacy promises checked as an auditor would, against the real server (`python -m webapp
serve`, its own process, production settings): a visitor and staff type marker strings
everywhere they can; then, with the server still running, `purge` and an admin's erasure
leave no byte of them in the database, its -wal or -shm; the audit trail holds none of what
anyone typed; and the server's whole log holds no marker, no client address and no reference.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx2

from tests.helpers import CLI_ENV_NAMES, copy_data
from tests.privacy_scan import fragment_hits, whole_hits
from webapp.db import utc_now_iso
from webapp.settings import ROOT

SECRET = "live-privacy-secret-key-that-is-long-enough-0123456789"
ADMIN, ADMIN_PW = "owner@example.org", "quarry-lantern-orbit-61"
TOKEN = re.compile(r'name="token" value="([^"]+)"')
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
REFERENCE = re.compile(r"AKI-[0-9A-Z]{5}")

# What a visitor types: the person who later asks for erasure, their second request, someone
# whose request is closed and purged a year on, and a stranger who stays.
ASKER = {"full_name": "Quoxley Vindraxby", "email": "quoxley.vindraxby@wyvernmail.example",
         "phone": "(518) 555-0177", "contact_method": "call", "best_time": "morning",
         "message": "Zolpidem stopped helping after Thanksgiving; jittery mornings."}  # fmt: skip
AGAIN = {**ASKER, "phone": "", "contact_method": "email",
         "message": "Writing again: could someone phone after Yuletide?"}  # fmt: skip
OLD = {"full_name": "Brannoch Quillfeather", "email": "b.quillfeather@kestrelpost.example",
       "phone": "(518) 555-0144", "contact_method": "text", "best_time": "any",
       "message": "Sertraline made me numb; curious about infusions near Juneteenth."}  # fmt: skip
STAYS = {"full_name": "Ottoline Brackwater", "email": "ottoline@example.net", "phone": "",
         "contact_method": "email", "best_time": "any", "message": "Hello."}  # fmt: skip
# What staff type: notes, searches, and what lands in the sign-in form by mistake.
NOTE_ASKER = "Voicemail left twice; spouse answered Wednesday, asked to call back."
NOTE_OLD = "Referred to Dr. Vexmoor; closed after the Kestrelbrook consult."
SEARCHES = ["Vindraxby", "555-0177", "wyvernmail", "Quillfeather"]
TYPED_ID = "quoxley.typo@wyvernmail.example"
PASSWORD_IN_EMAIL_BOX = "Zanzibar-Pelican-Secret-99"
WRONG_PASSWORD = "Xylophone-Wrong-Pass-51"


def phone_forms(phone: str) -> list[str]:
    digits = re.sub(r"\D", "", phone)
    return [digits, digits[-7:], f"{digits[-7:-4]}-{digits[-4:]}"]


def markers(*people: dict[str, str]) -> list[str]:
    found = []
    for person in people:
        found += [person["full_name"], *person["full_name"].split(), person["message"]]
        found += [person["email"]] if person["email"] else []
        found += phone_forms(person["phone"]) if person["phone"] else []
    return found


@dataclass
class Live:
    url: str
    database: Path
    log: Path
    env: dict[str, str]
    proc: subprocess.Popen


def free_port() -> int:
    with closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def environment(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in CLI_ENV_NAMES}
    data = copy_data(tmp_path / "data")
    env.update(DATA_DIR=str(data), DATABASE_PATH=str(data / "clinic.db"), SECRET_KEY=SECRET,
               PYTHONPATH=str(ROOT), **extra)  # fmt: skip
    return env


def command(env: dict[str, str], *args: str, stdin: str = "") -> str:
    done = subprocess.run(  # noqa: S603 (our own command line)
        [sys.executable, "-m", "webapp", *args], env=env, input=stdin, capture_output=True,
        text=True, timeout=120, check=False, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


@contextmanager
def serving(tmp_path: Path, env: dict[str, str]) -> Iterator[Live]:
    """The site as shipped, in its own process; stopped (SIGTERM, by its own pid) at the end."""
    port = free_port()
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(  # noqa: S603 (our own command line)
            [sys.executable, "-m", "webapp", "serve", "--port", str(port)],
            env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT,
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, log.read_text()
            try:
                if httpx2.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx2.HTTPError:
                pass
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.05)
        try:
            yield Live(url, Path(env["DATABASE_PATH"]), log, env, proc)
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=10)


def send_requests(live: Live, people: list[dict[str, str]]) -> list[str]:
    """As visitors: each fetches the form, reads for a while, sends it (two without JS)."""
    clients = [httpx2.Client(base_url=live.url, timeout=30, follow_redirects=True) for _ in people]
    tokens = [TOKEN.search(c.get("/consultation").text).group(1) for c in clients]
    time.sleep(2.1)  # a person takes longer than 2 seconds to fill the form in
    references = []
    for index, (client, token, person) in enumerate(zip(clients, tokens, people, strict=True)):
        headers = {"HX-Request": "true"} if index % 2 == 0 else {}
        sent = client.post("/consultation", data={"token": token, **person, "consent": "yes",
                                                  "website": ""}, headers=headers)  # fmt: skip
        assert sent.status_code == 200, sent.text
        references.append(REFERENCE.search(sent.text).group(0))
        client.close()
    return references


def sign_in(client: httpx2.Client, email: str, password: str) -> httpx2.Response:
    token = TOKEN.search(client.get("/staff/login").text).group(1)
    fields = {"token": token, "next": "/staff", "email": email, "password": password}
    return client.post("/staff/login", data=fields, follow_redirects=False)


def id_of(live: Live, reference: str) -> int:
    with closing(sqlite3.connect(f"file:{live.database}?mode=ro", uri=True)) as conn:
        return conn.execute("SELECT id FROM consultations WHERE reference = ?",
                            (reference,)).fetchone()[0]  # fmt: skip


def audit_text(live: Live) -> str:
    with closing(sqlite3.connect(f"file:{live.database}?mode=ro", uri=True)) as conn:
        rows = conn.execute("SELECT * FROM audit_log").fetchall()
    assert rows
    return "\n".join(" ".join(str(v) for v in row) for row in rows).lower()


def test_the_real_server_keeps_no_trace_of_what_was_deleted_or_typed(tmp_path):
    env = environment(tmp_path)
    command(env, "create-staff", ADMIN, "--password-stdin", stdin=ADMIN_PW + "\n")
    with serving(tmp_path, env) as live:
        asker, again, old, stays = send_requests(live, [ASKER, AGAIN, OLD, STAYS])
        # Staff at work: mistakes at sign-in, searches, an export, notes, closing a request.
        with httpx2.Client(base_url=live.url, timeout=60, follow_redirects=True) as staff:
            assert sign_in(staff, TYPED_ID, WRONG_PASSWORD).status_code == 400
            assert sign_in(staff, PASSWORD_IN_EMAIL_BOX, ADMIN_PW).status_code == 400
            assert sign_in(staff, ADMIN, WRONG_PASSWORD).status_code == 400
            assert sign_in(staff, ADMIN, ADMIN_PW).status_code == 303
            csrf = CSRF.search(staff.get("/staff").text).group(1)
            for term in SEARCHES:
                assert staff.get("/staff", params={"q": term}).status_code == 200
            assert staff.get("/staff/requests.csv", params={"q": "Vindraxby"}).status_code == 200
            for reference, note in ((asker, NOTE_ASKER), (old, NOTE_OLD)):
                request_id = id_of(live, reference)
                assert staff.get(f"/staff/requests/{request_id}").status_code == 200
                posted = staff.post(f"/staff/requests/{request_id}/notes",
                                    data={"csrf": csrf, "note": note})  # fmt: skip
                assert posted.status_code == 200
            old_id = id_of(live, old)
            for status in ("contacted", "closed"):
                staff.post(
                    f"/staff/requests/{old_id}/status", data={"csrf": csrf, "status": status}
                )
            copied = staff.get(f"/staff/requests/{id_of(live, asker)}/copy?format=json")
            assert NOTE_ASKER in copied.text

            # A year after it was closed, the retention run (as the command, the site running).
            with closing(sqlite3.connect(live.database, timeout=10)) as conn, conn:
                year_ago = utc_now_iso(datetime.now(UTC) - timedelta(days=366))
                conn.execute("UPDATE consultations SET closed_at = ? WHERE id = ?",
                             (year_ago, old_id))  # fmt: skip
            deleted_old = [*markers(OLD), NOTE_OLD]
            assert whole_hits(live.database, deleted_old)  # the scan sees them while held
            out = command(live.env, "purge")
            assert out.startswith("deleted 1 requests closed over 365 days ago")
            assert whole_hits(live.database, deleted_old) == []
            assert fragment_hits(live.database, [*deleted_old]) == {}

            # The person asks for erasure: an admin erases both their requests.
            asker_id, again_id = id_of(live, asker), id_of(live, again)
            page = staff.get(f"/staff/requests/{asker_id}/erase").text
            assert again in page
            erased = staff.post(f"/staff/requests/{asker_id}/erase",
                                data={"csrf": csrf, f"also-{again_id}": "on"})  # fmt: skip
            assert erased.status_code == 200 and "no longer held" in erased.text
            deleted_asker = [*markers(ASKER, AGAIN), NOTE_ASKER]
            assert whole_hits(live.database, deleted_asker) == []
            assert fragment_hits(live.database, deleted_asker) == {}
            # The stranger's request is untouched and still found.
            found = staff.get("/staff", params={"q": "Brackwater"}).text
            assert stays in found

        # The trail: who did what, by account and reference, none of what anyone typed.
        trail = audit_text(live)
        typed = [*markers(ASKER, AGAIN, OLD, STAYS), NOTE_ASKER, NOTE_OLD, *SEARCHES, TYPED_ID,
                 PASSWORD_IN_EMAIL_BOX, WRONG_PASSWORD, ADMIN_PW]  # fmt: skip
        assert [t for t in typed if t.lower() in trail] == []
        for action in ("login_failed", "search", "export_csv", "export_person", "retention",
                       "erase", "add_note", "status_change"):  # fmt: skip
            assert f" {action} " in trail, action
        assert asker.lower() in trail and again.lower() in trail  # erasure, by reference

    # The server's whole log (stopped now): access lines and the app's own, nothing personal.
    log = live.log.read_text()
    assert '"POST /consultation HTTP/1.1" 200' in log and "job retention: deleted" in log
    assert [t for t in typed if t.lower() in log.lower()] == []
    # No client address (LOG_CLIENT_ADDRESS is off); the server's own listening address aside.
    assert [ln for ln in log.splitlines() if "127.0.0.1" in ln and "running on" not in ln] == []
    assert REFERENCE.search(log) is None
    assert not re.search(r'"(GET|POST) [^" ]*\?', log), "a query string reached the log"


def test_log_client_address_puts_addresses_back_in_access_lines(tmp_path):
    with serving(tmp_path, environment(tmp_path, LOG_CLIENT_ADDRESS="true")) as live:
        assert httpx2.get(live.url + "/privacy?x=1").status_code == 200
    log = live.log.read_text()
    assert re.search(r'127\.0\.0\.1:\d+ - "GET /privacy HTTP/1\.1" 200', log), log
