"""Follow-up rules: status moves, note checks and CSV cells (the queue's filter and search:
test_queue.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from webapp.followup import FINISHED, MAX_NOTE, NEXT, STATUSES, csv_safe, note_problem
from webapp.views.worklist import age_text

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
