"""The work queue's pure rules: the filter, the search's parsing and folding (and that the
SQL folds the same), overdue and follow-up marks, the outbox's retry schedule."""

from __future__ import annotations

import re
import sqlite3
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from webapp import outbox, search
from webapp.handling import FollowUpOutOfRange, check_follow_up
from webapp.hours import parse_weekly
from webapp.queue import (
    ACTION,
    ALL,
    MAX_QUERY,
    MINE,
    Filter,
    _where,
    follow_up_state,
    is_overdue,
    preview,
)
from webapp.settings import ROOT

ET = ZoneInfo("America/New_York")
TODAY = date(2026, 12, 1)
MIGRATION = ROOT / "webapp" / "migrations" / "0009_work_queue_outbox_search.sql"
GIVEN = ROOT / "webapp" / "migrations" / "0010_search_text_given.sql"

# --- the filter ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, Filter("", "", "", 1)),
        ({"status": "new"}, Filter("new", "", "", 1)),
        ({"status": "not_a_fit"}, Filter("not_a_fit", "", "", 1)),
        ({"status": "action"}, Filter("action", "", "", 1)),
        ({"status": "mine"}, Filter("mine", "", "", 1)),
        ({"status": "all"}, Filter("all", "", "", 1)),
        ({"status": "spam"}, Filter("spam", "", "", 1)),
        ({"status": "bogus"}, Filter("", "", "", 1)),
        ({"status": "NEW"}, Filter("", "", "", 1)),
        ({"status": "new' OR 1=1 --"}, Filter("", "", "", 1)),
        ({"sort": "follow_up"}, Filter("", "", "follow_up", 1)),
        ({"sort": "newest"}, Filter("", "", "newest", 1)),
        ({"sort": "id DESC; DROP TABLE x"}, Filter("", "", "", 1)),
        ({"page": "2"}, Filter("", "", "", 2)),
        ({"page": " 3 "}, Filter("", "", "", 3)),
        ({"page": "abc"}, Filter("", "", "", 1)),
        ({"page": "1.5"}, Filter("", "", "", 1)),
        ({"page": "0"}, Filter("", "", "", 1)),
        ({"page": "-4"}, Filter("", "", "", 1)),
        ({"page": "9" * 30}, Filter("", "", "", 100_000)),
        ({"q": "  Ann   Example \t"}, Filter("", "Ann Example", "", 1)),
        ({"q": "\n"}, Filter("", "", "", 1)),
        ({"status": "closed", "q": "ann", "page": "4", "other": "x"},
         Filter("closed", "ann", "", 4)),
    ],
)  # fmt: skip
def test_filter_parse(params, expected):
    assert Filter.parse(params) == expected


def test_long_queries_are_cut_after_spaces_are_collapsed():
    assert Filter.parse({"q": "x" * 500}).q == "x" * MAX_QUERY
    assert Filter.parse({"q": "a" + " " * 300 + "b"}).q == "a b"


@pytest.mark.parametrize(
    ("filter_", "view", "order"),
    [
        (Filter(), ACTION, "oldest"),  # the default: what needs action, oldest first
        (Filter(q="ann"), ALL, "newest"),  # a search looks through everything, newest first
        (Filter("action", "ann"), ACTION, "oldest"),  # unless a view is chosen
        (Filter(MINE), MINE, "oldest"),
        (Filter("new"), "new", "newest"),
        (Filter("spam"), "spam", "newest"),
        (Filter("", "", "follow_up"), ACTION, "follow_up"),
        (Filter("all", "", "oldest"), ALL, "oldest"),
    ],
)
def test_views_and_their_default_order(filter_, view, order):
    assert (filter_.view, filter_.order) == (view, order)


@pytest.mark.parametrize(
    ("filter_", "changes", "expected"),
    [
        (Filter(), {}, {}),
        (Filter("new", "ann"), {}, {"status": "new", "q": "ann"}),
        (Filter("new", "ann", "oldest", 3), {}, {"status": "new", "q": "ann", "sort": "oldest",
                                                 "page": "3"}),
        (Filter("new", "ann", "", 3), {"page": 1}, {"status": "new", "q": "ann"}),
        (Filter("new", "ann", "", 3), {"page": ""}, {"status": "new", "q": "ann"}),
        (Filter("", "ann", "", 2), {"status": "closed"}, {"status": "closed", "q": "ann",
                                                          "page": "2"}),
    ],
)  # fmt: skip
def test_filter_query(filter_, changes, expected):
    assert filter_.query(**changes) == expected


@pytest.mark.parametrize(
    ("filter_", "start"),
    [
        (Filter(), " WHERE c.id IN (SELECT id FROM consultations WHERE suspected_spam IS NULL"),
        (Filter("action"), " WHERE c.id IN (SELECT id FROM consultations WHERE suspected_spam"),
        (Filter("all"), " WHERE c.suspected_spam IS NULL"),
        (Filter("closed"), " WHERE c.suspected_spam IS NULL AND c.status = :status"),
        (Filter("mine"), " WHERE c.suspected_spam IS NULL AND c.status IN"),
        (Filter("spam"), " WHERE c.suspected_spam IS NOT NULL"),
    ],
)
def test_suspected_spam_only_under_its_own_view(filter_, start):
    where, _ = _where(filter_, TODAY, 7)
    assert where.startswith(start)
    searched, params = _where(Filter(filter_.status, "ann"), TODAY, 7)
    # A search without a chosen view looks through all requests (never suspected spam).
    start = start if filter_.status else " WHERE c.suspected_spam IS NULL AND c.id IN"
    assert searched.startswith(start) and "MATCH :match" in searched
    assert params["match"] == 'search_text : "ann"'


@pytest.mark.parametrize(
    ("q", "like"),
    [("an", "%an%"), ("%_", "%\\%\\_%"), ("\\", "%\\\\%")],
)
def test_short_words_scan_with_escaped_wildcards(q, like):
    where, params = _where(Filter(q=q), TODAY, 1)
    assert "c.search_text LIKE :like0 ESCAPE" in where
    assert params["like0"] == like
    assert q.strip("\\") == "" or q not in where  # values are bound, never pasted into SQL


# --- search ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("q", "match", "likes"),
    [
        ("ann", 'search_text : "ann"', ()),
        ("José", 'search_text : "jose"', ()),
        ("JOSÉ GARCÍA", 'search_text : "jose" AND search_text : "garcia"', ()),
        ("Jose\u0301", 'search_text : "jose"', ()),  # typed decomposed
        ("O’Brien", 'search_text : "o\'brien"', ()),
        ('say "hi"', 'search_text : "say" AND search_text : """hi"""', ()),
        ("AKI-44HK9", 'search_text : "aki-44hk9"', ()),
        ("insurance", 'search_text : "insurance"', ()),
        ("555-0123", 'phone : "5550123" OR search_text : "555-0123"', ()),
        ("(518) 555-0123", 'phone : "5185550123" OR search_text : "(518) 555-0123"', ()),
        ("0123", 'phone : "0123" OR search_text : "0123"', ()),
        ("12", None, ("%12%",)),
        ("Jo Smith", 'search_text : "smith"', ("%jo%",)),
        ("ann 5550123x", 'search_text : "ann" AND search_text : "5550123x"', ()),
        ("   ", None, ()),
    ],
)
def test_search_parse(q, match, likes):
    assert search.parse(q) == search.Query(match, likes)


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("José Núñez", "jose nunez"),
        ("Zoë Ærø Øyvind Łukasz Straße", "zoe aero oyvind lukasz strasse"),
        ("Siobhán Ó Briain", "siobhan o briain"),
        ("Ça Œuvre Þór", "ca oeuvre thor"),
        ("plain ASCII", "plain ascii"),
    ],
)
def test_fold(text, folded):
    assert search.fold(text) == folded


def _sql_fold(conn: sqlite3.Connection, text: str) -> str:
    conn.execute("DELETE FROM consultations")
    conn.execute(
        "INSERT INTO consultations (id, reference, full_name, email, message)"
        " VALUES (1, '', ?, '', '')",
        (text,),
    )
    for statement in search.fold_statements("id = 1"):
        conn.execute(statement)
    return conn.execute("SELECT search_text FROM consultations").fetchone()[0].strip("\n")


@pytest.fixture(scope="module")
def folding() -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:")
    conn.execute(
        "CREATE TABLE consultations (id INTEGER PRIMARY KEY, reference TEXT, full_name TEXT,"
        " email TEXT, message TEXT, search_text TEXT NOT NULL DEFAULT '')"
    )
    return conn


def test_the_sql_folds_every_letter_as_python_does(folding):
    everything = "".join(search.FOLD)
    assert _sql_fold(folding, everything).lower() == search.fold(everything)
    for char, plain in search.FOLD.items():
        assert _sql_fold(folding, f"x{char}y").lower() == f"x{plain}y", repr(char)


@given(st.text(alphabet=st.sampled_from([*search.FOLD, *"abcXYZ -'1"]), max_size=30))
def test_sql_and_python_fold_agree(text):
    conn = sqlite3.connect(":memory:")
    conn.execute(
        "CREATE TABLE consultations (id INTEGER PRIMARY KEY, reference TEXT, full_name TEXT,"
        " email TEXT, message TEXT, search_text TEXT NOT NULL DEFAULT '')"
    )
    assert _sql_fold(conn, text).lower() == search.fold(text).strip("\n")


def test_the_migrations_hold_the_fold_statements():
    sql = MIGRATION.read_text(encoding="utf-8")
    assert "\n".join(search.fold_statements("1")) in sql
    indented = "\n".join(
        "    " + s.replace("\n", "\n    ") for s in search.fold_statements("id = new.id")
    )
    assert sql.count(indented) == 2  # the insert and the update trigger
    # 0010: the insert trigger for rows inserted without their folded text.
    assert GIVEN.read_text(encoding="utf-8").count(indented) == 1


def _sql_indexed(conn: sqlite3.Connection, reference, name, email, message) -> str:
    conn.execute("DELETE FROM consultations")
    conn.execute(
        "INSERT INTO consultations (id, reference, full_name, email, message)"
        " VALUES (1, ?, ?, ?, ?)",
        (reference, name, email, message),
    )
    for statement in search.fold_statements("id = 1"):
        conn.execute(statement)
    return conn.execute("SELECT search_text FROM consultations").fetchone()[0]


LETTERS = st.text(alphabet=st.sampled_from([*search.FOLD, *"abcXYZ -'1@.\n"]), max_size=20)


@given(LETTERS, LETTERS, LETTERS, LETTERS)
def test_the_text_the_site_inserts_is_the_text_the_sql_would_fold(reference, name, email, message):
    """The site's INSERT gives search_text itself (migration 0010 then only indexes it): it
    must be what the triggers would have made, case and line breaks included."""
    conn = sqlite3.connect(":memory:")
    conn.execute(
        "CREATE TABLE consultations (id INTEGER PRIMARY KEY, reference TEXT, full_name TEXT,"
        " email TEXT, message TEXT, search_text TEXT NOT NULL DEFAULT '')"
    )
    given = search.indexed_text(reference, name, email, message)
    assert given == _sql_indexed(conn, reference, name, email, message)


# --- overdue and follow-up marks ---------------------------------------------------------------

DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
SCHEDULE = parse_weekly({day: ["09:00", "17:00"] for day in DAYS}, "America/New_York")
NOW = datetime(2026, 12, 1, 15, 0, tzinfo=ET)
PROMISED = datetime(2026, 12, 1, 17, 0, tzinfo=ET)


def row(status="new", spam=None, attempts=0):
    return {"status": status, "suspected_spam": spam, "attempts": attempts}


@pytest.mark.parametrize(
    ("fields", "now", "overdue"),
    [
        (row(), NOW, False),
        (row(), PROMISED, False),  # at the promised minute: still on time
        (row(), PROMISED + timedelta(seconds=1), True),
        (row(attempts=1), PROMISED + timedelta(hours=3), False),  # someone tried
        (row("contacted"), PROMISED + timedelta(days=3), False),
        (row(spam="flood"), PROMISED + timedelta(days=3), False),
    ],
)
def test_overdue_means_past_the_promised_reply(fields, now, overdue):
    created = datetime(2026, 12, 1, 10, 0, tzinfo=ET)
    assert is_overdue(fields, created, PROMISED, now, SCHEDULE) is overdue


def test_without_a_promise_a_business_day_of_open_time():
    created = datetime(2026, 11, 30, 10, 30, tzinfo=ET)
    before = datetime(2026, 12, 1, 10, 29, tzinfo=ET)
    assert is_overdue(row(), created, None, before, SCHEDULE) is False
    assert is_overdue(row(), created, None, before + timedelta(minutes=1), SCHEDULE) is True


@pytest.mark.parametrize(
    ("day", "status", "state"),
    [
        (None, "new", ""),
        (date(2026, 11, 30), "new", "overdue"),
        (date(2026, 12, 1), "contacted", "due"),
        (date(2026, 12, 2), "scheduled", "later"),
        (date(2026, 11, 30), "closed", ""),
        (date(2026, 12, 1), "not_a_fit", ""),
    ],
)
def test_follow_up_state(day, status, state):
    assert follow_up_state(day, TODAY, status) == state


@pytest.mark.parametrize(
    ("day", "ok"),
    [
        (TODAY, True),
        (TODAY + timedelta(days=366), True),
        (TODAY - timedelta(days=1), False),
        (TODAY + timedelta(days=367), False),
    ],
)
def test_follow_up_dates_from_today_to_a_year_ahead(day, ok):
    if ok:
        check_follow_up(day, TODAY)
    else:
        with pytest.raises(FollowUpOutOfRange):
            check_follow_up(day, TODAY)


@pytest.mark.parametrize(
    ("message", "shown"),
    [
        ("", ""),
        ("Short.", "Short."),
        ("Two\n\nlines  here", "Two lines here"),
        ("word " * 40, ("word " * 18).strip() + "…"),
        ("x" * 200, "x" * 90 + "…"),
    ],
)
def test_preview(message, shown):
    assert preview(message) == shown


# --- the outbox's retries ----------------------------------------------------------------------

CREATED = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)


@given(st.integers(min_value=0, max_value=24 * 3600 - 1))
def test_retries_every_minute_for_ten_minutes_then_less_often_for_a_day(seconds):
    now = CREATED + timedelta(seconds=seconds)
    again = outbox.next_try(CREATED, now)
    assert again is not None and now < again <= CREATED + outbox.GIVE_UP_AFTER
    if seconds < 600:
        assert again - now == timedelta(minutes=1)
    else:
        end = CREATED + outbox.GIVE_UP_AFTER
        assert timedelta(minutes=2) <= again - now <= timedelta(hours=1) or again == end
    later = CREATED + timedelta(seconds=seconds + 60)
    if later < CREATED + outbox.GIVE_UP_AFTER - timedelta(hours=1):
        assert outbox.retry_delay(later - CREATED) >= outbox.retry_delay(now - CREATED)


def test_after_a_day_it_gives_up():
    assert outbox.next_try(CREATED, CREATED + timedelta(days=1)) is None
    assert outbox.next_try(CREATED, CREATED + timedelta(days=3)) is None
    # The last try is no later than the day's end.
    last = outbox.next_try(CREATED, CREATED + timedelta(hours=23, minutes=50))
    assert last == CREATED + timedelta(days=1)


def test_a_day_holds_at_least_sixty_tries():
    now, tries = CREATED, 0
    while (now := outbox.next_try(CREATED, now)) is not None:
        tries += 1
        if now >= CREATED + outbox.GIVE_UP_AFTER:
            break
    assert tries >= 10 + 24  # ten in the first ten minutes, then at least hourly


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("550 5.1.1 <ann@example.org>: Recipient address rejected",
         "550 5.1.1 <[address]>: Recipient address rejected"),
        ("line one\nline two", "line one line two"),
        ("", "unknown error"),
        ("x" * 1000, "x" * outbox.MAX_ERROR),
    ],
)  # fmt: skip
def test_errors_lose_addresses_and_lines(raw, clean):
    assert outbox.clean_error(raw) == clean


def test_message_tokens_are_unique_and_safe():
    tokens = {outbox.message_token(CREATED) for _ in range(1000)}
    assert len(tokens) == 1000
    for token in tokens:
        assert re.fullmatch(r"20261201150000\.[0-9a-f]{20}", token)
    assert outbox.message_id("a.b", "example.org") == "<a.b@example.org>"
