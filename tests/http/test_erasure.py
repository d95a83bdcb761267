"""Erasure and a copy on request: admins erase a person's data from the request page (a
confirmation naming what goes, same-contact requests offered) or with `python -m webapp erase`,
and download everything held (`export-person`); both audited by reference only. What is
erased is gone from the database files and the full-text index, and the trail survives."""

from __future__ import annotations

import dataclasses
import json
import re
import sqlite3
import stat
from contextlib import closing
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from tests.helpers import (
    CSRF_FIELD,
    HX,
    add_staff,
    audit,
    cli_environment,
    form,
    login,
    new_token,
    query,
    reference_in,
    with_cookie,
    words,
)
from tests.privacy_scan import fragment_hits, whole_hits
from webapp import cli
from webapp.app import create_app

ADMIN, ADMIN_PW = "admin@example.org", "quarry-lantern-orbit-61"
NURSE, NURSE_PW = "nurse@example.org", "violet-harbor-teapot-42"
# The person asking, their second request (same email), a relative (same phone), a stranger.
ASKER = {
    "full_name": "Quoxley Vindraxby",
    "email": "quoxley.vindraxby@wyvernmail.example",
    "phone": "(518) 555-0177",
    "message": "Zolpidem stopped helping after Thanksgiving; jittery mornings.",
}
AGAIN = {**ASKER, "phone": "", "contact_method": "email",
         "message": "Writing again: could someone phone after Yuletide?"}  # fmt: skip
RELATIVE = {**ASKER, "full_name": "Juniper Vindraxby", "email": "", "message": "For my son."}
STRANGER = {"full_name": "Ottoline Brackwater", "email": "ottoline@example.net", "phone": "",
            "contact_method": "email"}  # fmt: skip
NOTE = "Voicemail left twice; spouse answered Wednesday, asked to call back."
NOTE_AGAIN = "Emailed the intake questionnaire; awaiting Kvothe paperwork."


@pytest.fixture
def people(client, clock) -> dict[str, int]:
    return make_people(client, clock)


def make_people(client: TestClient, clock) -> dict[str, int]:
    """Four requests sent through the form, staff accounts, notes and a status change."""
    add_staff(client, ADMIN, ADMIN_PW)  # the first account: an admin
    add_staff(client, NURSE, NURSE_PW)
    ids = {}
    for key, values in (("asker", ASKER), ("again", AGAIN), ("relative", RELATIVE),
                        ("stranger", STRANGER)):  # fmt: skip
        sent = client.post("/consultation", data=form(new_token(client, clock), **values),
                           headers=HX)  # fmt: skip
        assert sent.status_code == 200, sent.text
        ref = reference_in(sent.text)
        ids[key] = query(client, "SELECT id FROM consultations WHERE reference = ?", (ref,))[0][0]
    nurse = signed_in(client, NURSE, NURSE_PW)
    csrf = csrf_of(client, nurse)
    for key, note in (("asker", NOTE), ("again", NOTE_AGAIN)):
        done = client.post(f"/staff/requests/{ids[key]}/notes", data={"csrf": csrf, "note": note},
                           headers=with_cookie(nurse), follow_redirects=False)  # fmt: skip
        assert done.status_code == 303
    moved = client.post(f"/staff/requests/{ids['asker']}/status",
                        data={"csrf": csrf, "status": "contacted"}, headers=with_cookie(nurse),
                        follow_redirects=False)  # fmt: skip
    assert moved.status_code == 303
    return ids


def signed_in(client: TestClient, email: str, password: str) -> str:
    cookie = login(client, email, password).cookies["aki_staff"]
    client.cookies.clear()
    return cookie


def csrf_of(client: TestClient, cookie: str) -> str:
    return CSRF_FIELD.search(client.get("/staff", headers=with_cookie(cookie)).text).group(1)


def ref_of(client: TestClient, request_id: int) -> str:
    return query(client, "SELECT reference FROM consultations WHERE id = ?", (request_id,))[0][0]


def texts(*values: dict[str, str]) -> list[str]:
    return [v for d in values for k, v in d.items() if k in ("full_name", "email", "message") and v]


# --- the request page and the confirmation step --------------------------------------------------


def test_admins_see_the_persons_data_section_with_same_contact_requests(client, people):
    admin = signed_in(client, ADMIN, ADMIN_PW)
    page = client.get(f"/staff/requests/{people['asker']}", headers=with_cookie(admin)).text
    text = words(page)
    assert "This person's data" in text and "Erase this person's data" in text
    again, relative = ref_of(client, people["again"]), ref_of(client, people["relative"])
    assert f"{again}: Quoxley Vindraxby (same email)" in text
    assert f"{relative}: Juniper Vindraxby (same phone)" in text
    assert ref_of(client, people["stranger"]) not in text
    nurse = signed_in(client, NURSE, NURSE_PW)
    page = client.get(f"/staff/requests/{people['asker']}", headers=with_cookie(nurse)).text
    assert "This person's data" not in page and "/erase" not in page


def test_the_confirmation_names_what_goes_and_what_stays(client, people):
    admin = signed_in(client, ADMIN, ADMIN_PW)
    page = client.get(f"/staff/requests/{people['asker']}/erase", headers=with_cookie(admin))
    assert page.status_code == 200
    text = words(page.text)
    asker = ref_of(client, people["asker"])
    assert f"Request {asker} : Quoxley Vindraxby, {ASKER['email']}, (518) 555-0177" in text
    assert "contacted; 1 note." in text
    assert f"{ref_of(client, people['again'])} (same email): Quoxley Vindraxby" in text
    assert f"{ref_of(client, people['relative'])} (same phone): Juniper Vindraxby" in text
    assert "a family or an office may share a phone" in text
    assert "What stays" in text and "up to 14 days" in text
    # Offered, never ticked for the admin.
    assert " checked" not in page.text
    assert page.headers["cache-control"] == "no-store"


def test_an_admin_erases_a_request_with_notes_history_index_and_a_sibling(client, people, settings):
    admin = signed_in(client, ADMIN, ADMIN_PW)
    asker, again = ref_of(client, people["asker"]), ref_of(client, people["again"])
    history_before = audit(client)
    answer = client.post(
        f"/staff/requests/{people['asker']}/erase",
        data={"csrf": csrf_of(client, admin), f"also-{people['again']}": "on"},
        headers=with_cookie(admin),
        follow_redirects=False,
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/staff/erased?r={asker}&r={again}"
    done = client.get(answer.headers["location"], headers=with_cookie(admin))
    assert f"{asker} : erased: no longer held" in words(done.text)
    assert f"{again} : erased: no longer held" in words(done.text)
    # The relative and the stranger stay, with the counts and the index right.
    left = query(client, "SELECT id FROM consultations ORDER BY id")
    assert [r[0] for r in left] == [people["relative"], people["stranger"]]
    assert query(client, "SELECT count(*) FROM notes")[0][0] == 0
    assert query(client, "SELECT n FROM consultation_counts WHERE status = 'new'")[0][0] == 2
    found = query(client, "SELECT rowid FROM consultations_fts WHERE consultations_fts MATCH ?",
                  ('"Vindraxby"',))  # fmt: skip
    assert [r[0] for r in found] == [people["relative"]]
    # The trail survives, and says what happened by reference only.
    assert audit(client)[: len(history_before)] == history_before
    erased = audit(client, "erase")
    assert [(e["consultation_id"], e["detail"], e["actor"]) for e in erased] == [
        (people["asker"], asker, ADMIN),
        (people["again"], f"{again} (same email)", ADMIN),
    ]
    # Gone from the bytes of the database, its -wal and -shm, the site still running.
    deleted = [*texts(ASKER, AGAIN), NOTE, NOTE_AGAIN]
    assert whole_hits(settings.database_path, [*deleted, "Quoxley", "Kvothe"]) == []
    assert fragment_hits(settings.database_path, deleted) == {}
    # Its page is gone; the relative's is not.
    gone = client.get(f"/staff/requests/{people['asker']}", headers=with_cookie(admin))
    assert gone.status_code == 404
    kept = client.get(f"/staff/requests/{people['relative']}", headers=with_cookie(admin))
    assert "Juniper Vindraxby" in kept.text


def test_the_erased_page_checks_rather_than_trusts(client, people):
    admin = signed_in(client, ADMIN, ADMIN_PW)
    held = ref_of(client, people["stranger"])
    page = client.get(f"/staff/erased?r={held}&r=AKI-ZZZZZ", headers=with_cookie(admin))
    assert f"{held} : still held" in words(page.text)
    assert "AKI-ZZZZZ : erased: no longer held" in words(page.text)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/staff/requests/{id}/erase"),
        ("post", "/staff/requests/{id}/erase"),
        ("get", "/staff/requests/{id}/copy?format=json"),
        ("get", "/staff/erased?r=AKI-ZZZZZ"),
    ],
)
def test_staff_who_are_not_admins_get_403(client, people, method, path):
    nurse = signed_in(client, NURSE, NURSE_PW)
    url = path.format(id=people["asker"])
    data = {"data": {"csrf": csrf_of(client, nurse)}} if method == "post" else {}
    answer = getattr(client, method)(url, headers=with_cookie(nurse), **data)
    assert answer.status_code == 403
    assert "Only an admin can copy or erase a person's data." in words(answer.text)
    assert query(client, "SELECT count(*) FROM consultations")[0][0] == 4
    assert audit(client, "erase") == audit(client, "export_person") == []


def test_signed_out_erasure_goes_to_sign_in_and_erases_nothing(client, people):
    answer = client.post(f"/staff/requests/{people['asker']}/erase", data={"csrf": "x"},
                         follow_redirects=False)  # fmt: skip
    assert answer.status_code == 303 and answer.headers["location"].startswith("/staff/login")
    assert query(client, "SELECT count(*) FROM consultations")[0][0] == 4


@pytest.mark.parametrize("fields", [{"csrf": ""}, {"csrf": "forged"}])
def test_erasure_needs_the_sessions_csrf_token(client, people, fields):
    admin = signed_in(client, ADMIN, ADMIN_PW)
    answer = client.post(f"/staff/requests/{people['asker']}/erase", data=fields,
                         headers=with_cookie(admin))  # fmt: skip
    assert answer.status_code == 403
    assert query(client, "SELECT count(*) FROM consultations")[0][0] == 4


def test_erasure_from_another_site_is_refused(client, people):
    admin = signed_in(client, ADMIN, ADMIN_PW)
    answer = client.post(
        f"/staff/requests/{people['asker']}/erase",
        data={"csrf": csrf_of(client, admin)},
        headers=with_cookie(
            admin, origin="https://evil.example", **{"sec-fetch-site": "cross-site"}
        ),
    )
    assert answer.status_code == 403
    assert query(client, "SELECT count(*) FROM consultations")[0][0] == 4


def test_a_request_not_offered_cannot_be_slipped_in(client, people):
    admin = signed_in(client, ADMIN, ADMIN_PW)
    answer = client.post(
        f"/staff/requests/{people['asker']}/erase",
        data={"csrf": csrf_of(client, admin), f"also-{people['stranger']}": "on"},
        headers=with_cookie(admin),
    )
    assert answer.status_code == 422
    assert "not offered with this one" in words(answer.text)
    assert query(client, "SELECT count(*) FROM consultations")[0][0] == 4


def test_erasing_twice_is_a_404_the_second_time(client, people):
    admin = signed_in(client, ADMIN, ADMIN_PW)
    csrf = csrf_of(client, admin)
    url = f"/staff/requests/{people['stranger']}/erase"
    first = client.post(
        url, data={"csrf": csrf}, headers=with_cookie(admin), follow_redirects=False
    )
    assert first.status_code == 303
    again = client.post(url, data={"csrf": csrf}, headers=with_cookie(admin))
    assert again.status_code == 404
    assert len(audit(client, "erase")) == 1


def test_an_erased_requests_id_is_never_given_to_the_next_one(client, clock, people):
    """Its history stays in the trail under its id: a new request must not inherit it."""
    admin = signed_in(client, ADMIN, ADMIN_PW)
    newest = max(people.values())
    client.get(f"/staff/requests/{newest}", headers=with_cookie(admin))  # a history entry
    client.post(f"/staff/requests/{newest}/erase", data={"csrf": csrf_of(client, admin)},
                headers=with_cookie(admin))  # fmt: skip
    sent = client.post("/consultation", data=form(new_token(client, clock)), headers=HX)
    new_id = query(client, "SELECT id FROM consultations WHERE reference = ?",
                   (reference_in(sent.text),))[0][0]  # fmt: skip
    assert new_id > newest
    page = client.get(f"/staff/requests/{new_id}", headers=with_cookie(admin)).text
    assert "Erased the person" not in page


# --- a copy for the person ----------------------------------------------------------------------


def test_an_admin_downloads_everything_held_as_json(client, people, clock):
    admin = signed_in(client, ADMIN, ADMIN_PW)
    answer = client.get(
        f"/staff/requests/{people['asker']}/copy?format=json&also-{people['again']}=on",
        headers=with_cookie(admin),
    )
    assert answer.status_code == 200
    asker, again = ref_of(client, people["asker"]), ref_of(client, people["again"])
    assert answer.headers["content-type"] == "application/json"
    assert answer.headers["content-disposition"] == f'attachment; filename="{asker}-20261201.json"'
    assert answer.headers["cache-control"] == "no-store"
    document = json.loads(answer.text)
    assert document["clinic"] == "Albany Ketamine Infusions"
    [first, second] = document["requests"]
    assert (first["reference"], first["why_included"]) == (asker, "the request asked about")
    assert (second["reference"], second["why_included"]) == (again, "same email")
    assert first["name"] == ASKER["full_name"] and first["phone"] == "+15185550177"
    assert first["message"] == ASKER["message"] and first["status"] == "Contacted"
    assert [n["text"] for n in first["notes"]] == [NOTE]
    assert first["notes"][0]["by"] == NURSE
    assert [(h["what"], h["by"]) for h in first["history"]] == [
        ("Added a note", NURSE),
        ("Changed the status", NURSE),
    ]
    assert [n["text"] for n in second["notes"]] == [NOTE_AGAIN]
    # Audited by reference, one entry per request copied.
    copies = audit(client, "export_person")
    assert [(e["consultation_id"], e["detail"]) for e in copies] == [
        (people["asker"], f"{asker} (JSON)"),
        (people["again"], f"{again} (JSON)"),
    ]


def test_the_readable_copy_is_a_web_page_with_everything(client, people):
    admin = signed_in(client, ADMIN, ADMIN_PW)
    answer = client.get(f"/staff/requests/{people['asker']}/copy?format=html",
                        headers=with_cookie(admin))  # fmt: skip
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/html; charset=utf-8"
    assert answer.headers["content-disposition"].startswith("attachment; ")
    text = words(answer.text)
    for value in (ASKER["full_name"], ASKER["email"], "+15185550177", ASKER["message"], NOTE):
        assert value in text
    assert "Tuesday, December 1, 2026, 10:30 AM ET" in text
    assert "Changed the status (New → Contacted), by nurse@example.org" in text
    assert ref_of(client, people["again"]) not in text  # not ticked: not included
    assert audit(client, "export_person")[0]["detail"].endswith("(web page)")


@pytest.mark.parametrize("query_string", ["format=pdf", "format=json&also-999=on", "also-x=on"])
def test_a_copy_of_something_not_offered_is_a_404(client, people, query_string):
    admin = signed_in(client, ADMIN, ADMIN_PW)
    answer = client.get(f"/staff/requests/{people['asker']}/copy?{query_string}",
                        headers=with_cookie(admin))  # fmt: skip
    if query_string == "also-x=on":  # not an id: ignored, the request alone
        assert answer.status_code == 200
        return
    assert answer.status_code == 404
    assert audit(client, "export_person") == []


# --- searches are audited without what was typed -------------------------------------------


def test_a_search_is_audited_with_its_count_not_its_words(client, people):
    nurse = signed_in(client, NURSE, NURSE_PW)
    client.get("/staff?q=Vindraxby", headers=with_cookie(nurse))
    client.get("/staff?q=555-0177&status=new", headers=with_cookie(nurse))
    client.get("/staff?status=new", headers=with_cookie(nurse))  # a filter, not a search
    client.get("/staff?q=Vindraxby", headers=with_cookie(nurse, **{"X-Staff-Poll": "1"}))
    searches = audit(client, "search")
    assert [(s["actor"], s["detail"]) for s in searches] == [
        (NURSE, "3 results"),
        (NURSE, "1 result, status new"),
    ]


def test_the_same_search_asked_again_is_audited_once_in_ten_minutes(client, people, clock):
    """Live search asks again at each pause in typing, paging and reload: one entry per
    person, view and query in ten minutes, not one per request (each is a synced write)."""
    nurse = signed_in(client, NURSE, NURSE_PW)
    for _ in range(5):
        client.get("/staff?q=Vindraxby", headers=with_cookie(nurse))
    client.get("/staff?q=Vindraxb", headers=with_cookie(nurse))  # another query: audited
    assert len(audit(client, "search")) == 2
    clock.advance(minutes=10)
    client.get("/staff?q=Vindraxby", headers=with_cookie(nurse))
    assert len(audit(client, "search")) == 3


# --- the command line ---------------------------------------------------------------------------


@pytest.fixture
def cli_db(tmp_path, monkeypatch, clock, settings):
    """A database the command line uses, holding the same people (made through the app)."""
    path = cli_environment(tmp_path, monkeypatch)
    app = create_app(dataclasses.replace(settings, database_path=path), clock=clock)
    with TestClient(app) as client:
        ids = make_people(client, clock)
        refs = {key: ref_of(client, value) for key, value in ids.items()}
    return path, refs


def cli_rows(path: Path) -> list[str]:
    with closing(sqlite3.connect(path)) as conn:
        return [r[0] for r in conn.execute("SELECT reference FROM consultations ORDER BY id")]


def test_erase_with_yes_erases_the_one_named_and_lists_the_others(cli_db, capsys, clock):
    path, refs = cli_db
    capsys.readouterr()
    assert cli.main(["erase", refs["asker"].lower(), "--yes"], clock=clock) == 0
    out = capsys.readouterr().out
    assert f"{refs['asker']}: Quoxley Vindraxby, {ASKER['email']}, +15185550177" in out
    assert f"{refs['again']} (same email): Quoxley Vindraxby" in out
    assert f"{refs['relative']} (same phone): Juniper Vindraxby" in out
    assert f"erased {refs['asker']}: gone from the database files." in out
    assert f"still held (same email or phone): {refs['again']}, {refs['relative']}" in out
    assert cli_rows(path) == [refs["again"], refs["relative"], refs["stranger"]]
    assert whole_hits(path, [NOTE]) == []
    with closing(sqlite3.connect(path)) as conn:
        [(actor, detail)] = conn.execute(
            "SELECT actor, detail FROM audit_log WHERE action = 'erase'"
        ).fetchall()
    assert (actor, detail) == ("command line", refs["asker"])


def test_erase_with_same_contact_takes_them_all(cli_db, capsys, clock):
    path, refs = cli_db
    assert cli.main(["erase", refs["asker"], "--yes", "--same-contact"], clock=clock) == 0
    assert cli_rows(path) == [refs["stranger"]]
    deleted = [*texts(ASKER, AGAIN, RELATIVE), NOTE, NOTE_AGAIN]
    assert whole_hits(path, deleted) == []
    assert fragment_hits(path, deleted) == {}


def test_erase_asks_first_and_each_sibling_in_turn(cli_db, capsys, clock, monkeypatch):
    path, refs = cli_db
    answers = iter(["n"])
    monkeypatch.setattr("builtins.input", lambda prompt: next(answers))
    assert cli.main(["erase", refs["asker"]], clock=clock) == 1
    assert "nothing erased" in capsys.readouterr().out
    assert len(cli_rows(path)) == 4
    answers = iter(["yes", "y", "N"])  # this one, the second request, not the relative
    assert cli.main(["erase", refs["asker"]], clock=clock) == 0
    assert cli_rows(path) == [refs["relative"], refs["stranger"]]


def test_erase_without_a_terminal_erases_nothing(cli_db, capsys, clock, monkeypatch):
    path, refs = cli_db

    def no_input(prompt):
        raise EOFError

    monkeypatch.setattr("builtins.input", no_input)
    assert cli.main(["erase", refs["stranger"]], clock=clock) == 1
    assert len(cli_rows(path)) == 4


def test_erase_of_an_unknown_reference_says_so(cli_db, capsys, clock):
    assert cli.main(["erase", "AKI-ZZZZZ", "--yes"], clock=clock) == 2
    assert "error: no request AKI-ZZZZZ is held" in capsys.readouterr().err


def test_export_person_prints_json_and_writes_a_private_page(cli_db, capsys, clock, tmp_path):
    path, refs = cli_db
    capsys.readouterr()
    assert cli.main(["export-person", refs["asker"]], clock=clock) == 0
    out, err = capsys.readouterr()
    document = json.loads(out)
    assert [r["reference"] for r in document["requests"]] == [refs["asker"]]
    assert document["requests"][0]["notes"][0]["text"] == NOTE
    assert f"not included: {refs['again']} (same email), {refs['relative']} (same phone)" in err
    target = tmp_path / "copy.html"
    assert cli.main(["export-person", refs["asker"], "--same-contact", "--format", "html",
                     "--output", str(target)], clock=clock) == 0  # fmt: skip
    page = target.read_text()
    assert all(refs[k] in page for k in ("asker", "again", "relative"))
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert cli.main(["export-person", refs["asker"], "--output", str(target)], clock=clock) == 2
    assert "already exists" in capsys.readouterr().err
    with closing(sqlite3.connect(path)) as conn:
        details = [r[0] for r in conn.execute(
            "SELECT detail FROM audit_log WHERE action = 'export_person' ORDER BY id")]  # fmt: skip
    assert details == [f"{refs['asker']} (JSON)", *(f"{refs[k]} (web page)" for k in
                       ("asker", "again", "relative"))]  # fmt: skip


def test_html_of_the_copy_escapes_what_was_typed(client, clock):
    add_staff(client, ADMIN, ADMIN_PW)
    sent = client.post("/consultation", data=form(new_token(client, clock),
                       full_name="<script>alert(1)</script>"), headers=HX)  # fmt: skip
    ref = reference_in(sent.text)
    request_id = query(client, "SELECT id FROM consultations WHERE reference = ?", (ref,))[0][0]
    admin = signed_in(client, ADMIN, ADMIN_PW)
    page = client.get(f"/staff/requests/{request_id}/copy", headers=with_cookie(admin)).text
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert re.search(r"<title>Your data held by Albany Ketamine Infusions</title>", page)


def test_a_search_during_a_storage_fault_is_answered(client, people, monkeypatch, caplog):
    """Staff read during an outage: the search cannot be audited then, and says so in the log."""
    from webapp.storage import StorageUnavailable

    nurse = signed_in(client, NURSE, NURSE_PW)

    async def refused(work):
        raise StorageUnavailable("read-only", "test: the database is read-only")

    monkeypatch.setattr(client.app.ctx.db, "write", refused)
    page = client.get("/staff?q=Vindraxby", headers=with_cookie(nurse))
    assert page.status_code == 200 and "Juniper Vindraxby" in page.text
    assert "a search could not be audited" in caplog.text


# --- a form sent again after its request was erased -------------------------------------------


def test_the_same_form_sent_again_after_an_erasure_is_not_stored_again(client, clock, settings):
    """The replay check reads the request's token; an erasure deletes the request, so without
    the spent token (migration 0011) the browser's retry would bring the person back."""
    add_staff(client, ADMIN, ADMIN_PW)
    sent_form = form(new_token(client, clock), **ASKER)
    sent = client.post("/consultation", data=sent_form, headers=HX)
    ref = reference_in(sent.text)
    again = client.post("/consultation", data=sent_form, headers=HX)  # a retry: same answer
    assert reference_in(again.text) == ref
    [(request_id,)] = query(client, "SELECT id FROM consultations WHERE reference = ?", (ref,))
    admin = signed_in(client, ADMIN, ADMIN_PW)
    erased = client.post(f"/staff/requests/{request_id}/erase",
                         data={"csrf": csrf_of(client, admin)}, headers=with_cookie(admin),
                         follow_redirects=False)  # fmt: skip
    assert erased.status_code == 303
    clock.advance(hours=1)
    for headers in (HX, {}):  # htmx, and without JavaScript
        late = client.post("/consultation", data=sent_form, headers=headers,
                           follow_redirects=False)  # fmt: skip
        assert late.status_code in (422, 303), late.text
        assert query(client, "SELECT count(*) FROM consultations")[0][0] == 0
    answer = client.post("/consultation", data=sent_form, headers=HX)
    assert "Thank you" not in answer.text and "needs to be sent again" in words(answer.text)
    # A new form is a new decision: it is stored.
    fresh = client.post("/consultation", data=form(new_token(client, clock), **ASKER), headers=HX)
    assert fresh.status_code == 200 and reference_in(fresh.text) != ref


def test_a_deleted_request_leaves_only_its_tokens_id_and_time(client, clock, settings):
    sent = client.post("/consultation", data=form(new_token(client, clock), **ASKER), headers=HX)
    ref = reference_in(sent.text)
    with closing(sqlite3.connect(settings.database_path)) as conn:
        token_id, created = conn.execute(
            "SELECT token_id, created_at FROM consultations WHERE reference = ?", (ref,)
        ).fetchone()
        conn.execute("DELETE FROM consultations WHERE reference = ?", (ref,))
        conn.commit()
        columns = [row[1] for row in conn.execute("PRAGMA table_info(spent_form_tokens)")]
        kept = conn.execute("SELECT token_id, created_at FROM spent_form_tokens").fetchall()
    assert columns == ["token_id", "created_at"]
    assert kept == [(token_id, created)]
