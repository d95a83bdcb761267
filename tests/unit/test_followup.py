"""Follow-up rules: the dashboard filter, status moves, note checks and CSV cells."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from webapp.followup import (
    FINISHED,
    MAX_NOTE,
    MAX_QUERY,
    NEXT,
    STATUSES,
    Filter,
    _where,
    csv_safe,
    fts_query,
    note_problem,
)
from webapp.views.staff import age_text

# --- Filter --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, Filter("", "", 1)),
        ({"status": "new"}, Filter("new", "", 1)),
        ({"status": "not_a_fit"}, Filter("not_a_fit", "", 1)),
        ({"status": "bogus"}, Filter("", "", 1)),
        ({"status": "NEW"}, Filter("", "", 1)),
        ({"status": "new' OR 1=1 --"}, Filter("", "", 1)),
        ({"page": "2"}, Filter("", "", 2)),
        ({"page": " 3 "}, Filter("", "", 3)),
        ({"page": "abc"}, Filter("", "", 1)),
        ({"page": ""}, Filter("", "", 1)),
        ({"page": "1.5"}, Filter("", "", 1)),
        ({"page": "0"}, Filter("", "", 1)),
        ({"page": "-4"}, Filter("", "", 1)),
        ({"page": "9" * 30}, Filter("", "", 100_000)),
        ({"q": "  Ann   Example \t"}, Filter("", "Ann Example", 1)),
        ({"q": "\n"}, Filter("", "", 1)),
        ({"status": "closed", "q": "ann", "page": "4", "other": "x"}, Filter("closed", "ann", 4)),
    ],
)
def test_filter_parse(params, expected):
    assert Filter.parse(params) == expected


def test_a_long_query_is_truncated():
    parsed = Filter.parse({"q": "x" * 500})
    assert parsed.q == "x" * MAX_QUERY


def test_a_query_is_truncated_after_spaces_are_collapsed():
    parsed = Filter.parse({"q": "a" + " " * 300 + "b"})
    assert parsed.q == "a b"


@pytest.mark.parametrize(
    ("filter_", "changes", "expected"),
    [
        (Filter(), {}, {}),
        (Filter("new", "ann", 1), {}, {"status": "new", "q": "ann"}),
        (Filter("new", "ann", 3), {}, {"status": "new", "q": "ann", "page": "3"}),
        (Filter("new", "ann", 3), {"page": 2}, {"status": "new", "q": "ann", "page": "2"}),
        (Filter("new", "ann", 3), {"page": 1}, {"status": "new", "q": "ann"}),
        (Filter("new", "ann", 3), {"page": ""}, {"status": "new", "q": "ann"}),
        (Filter("", "ann", 2), {"status": "closed"}, {"status": "closed", "q": "ann", "page": "2"}),
    ],
)
def test_filter_query(filter_, changes, expected):
    assert filter_.query(**changes) == expected


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("ann", '{full_name email} : "ann"'),
        ('say "hi"', '{full_name email} : "say ""hi"""'),
        ("555-0123", '{full_name email} : "555-0123" OR phone : "5550123"'),
        ("(518) 555", '{full_name email} : "(518) 555" OR phone : "518555"'),
        ("12", None),
    ],
)
def test_fts_query_quotes_text_and_searches_phone_digits(q, expected):
    assert fts_query(q) == expected


@pytest.mark.parametrize(
    ("q", "like"),
    [("an", "%an%"), ("%_", "%\\%\\_%"), ("\\", "%\\\\%")],
)
def test_short_searches_scan_with_escaped_wildcards(q, like):
    where, params = _where(Filter(q=q))
    assert "LIKE ? ESCAPE" in where
    assert params == [like, like]
    assert q.strip("\\") == "" or q not in where  # values are bound, never pasted into SQL


def test_status_and_search_are_both_applied():
    where, params = _where(Filter("new", "ann", 1))
    assert where.startswith(
        " WHERE suspected_spam IS NULL AND status = ?"
        " AND id IN (SELECT rowid FROM consultations_fts"
    )
    assert params == ["new", '{full_name email} : "ann"']


@pytest.mark.parametrize(
    ("filter_", "where"),
    [
        (Filter(), " WHERE suspected_spam IS NULL"),
        (Filter("closed"), " WHERE suspected_spam IS NULL AND status = ?"),
        (Filter("spam"), " WHERE suspected_spam IS NOT NULL"),
    ],
)
def test_suspected_spam_only_under_its_own_filter(filter_, where):
    assert _where(filter_)[0] == where
    assert _where(Filter(filter_.status, "ann"))[0].startswith(where + " AND id IN")


@pytest.mark.parametrize(
    ("params", "status"),
    [({"status": "spam"}, "spam"), ({"status": "new"}, "new"), ({"status": "SPAM"}, "")],
)
def test_the_spam_filter_parses(params, status):
    assert Filter.parse(params).status == status
    assert Filter.parse(params).query().get("status", "") == status


# --- status moves --------------------------------------------------------------------------------


def test_every_status_has_moves_to_known_statuses():
    assert set(NEXT) == set(STATUSES)
    for source, targets in NEXT.items():
        assert targets, source
        assert set(targets) <= set(STATUSES)
        assert source not in targets  # no move to the same status
        assert "new" not in targets  # nothing goes back to new


def test_finished_requests_can_only_be_reopened():
    assert {"not_a_fit", "closed"} == FINISHED
    for status in FINISHED:
        assert NEXT[status] == ("contacted",)


def test_the_usual_path_is_possible():
    path = ["new", "contacted", "scheduled", "closed"]
    for old, new in zip(path, path[1:], strict=False):
        assert new in NEXT[old]


# --- notes ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("Left a voicemail.", None),
        ("Two lines\nof note\tand a tab", None),
        ("x" * MAX_NOTE, None),
        ("", "Write the note first."),
        ("   \n ", "Write the note first."),
        ("x" * (MAX_NOTE + 1), "Keep notes to 2,000 characters or fewer (this one has 2,001)."),
        ("nul\x00", "The note contains characters that cannot be saved."),
        ("escape\x1b[31m", "The note contains characters that cannot be saved."),
        ("delete\x7f", "The note contains characters that cannot be saved."),
    ],
)
def test_note_problem(body, expected):
    assert note_problem(body) == expected


# --- CSV cells -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=1+1", "'=1+1"),
        ('=HYPERLINK("http://evil.example","x")', '\'=HYPERLINK("http://evil.example","x")'),
        ("+15185550123", "'+15185550123"),
        ("-2+3", "'-2+3"),
        ("@SUM(1+1)", "'@SUM(1+1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("\n=1", "'\n=1"),
        ("|cmd", "'|cmd"),
        ("%0A", "'%0A"),
        ("Ann Example", "Ann Example"),
        ("a=b", "a=b"),
        ("ann@example.org", "ann@example.org"),
        ("(518) 555-0123", "(518) 555-0123"),
        ("<script>alert(1)</script>", "<script>alert(1)</script>"),
        ("'already quoted", "'already quoted"),
        ("", ""),
        (None, ""),
        (42, "42"),
        (-1, "'-1"),
    ],
)
def test_csv_safe(value, expected):
    assert csv_safe(value) == expected


# --- age text ------------------------------------------------------------------------------------

NOW = datetime(2026, 12, 1, 15, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("ago", "text"),
    [
        (timedelta(seconds=-30), "just now"),
        (timedelta(seconds=59), "just now"),
        (timedelta(minutes=1), "1 min ago"),
        (timedelta(minutes=59, seconds=59), "59 min ago"),
        (timedelta(hours=1), "1 h ago"),
        (timedelta(hours=23, minutes=59), "23 h ago"),
        (timedelta(days=1), "1 day ago"),
        (timedelta(days=40), "40 days ago"),
    ],
)
def test_age_text(ago, text):
    assert age_text(NOW - ago, NOW) == text
