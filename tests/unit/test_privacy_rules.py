"""The pure parts of webapp.privacy: references as typed, which requests a choice takes, and
how the privacy page words the retention period."""

from __future__ import annotations

import pytest

from tests.conftest import ET, make_settings
from webapp.person_copy import local_text
from webapp.privacy import SAME_EMAIL, SAME_PHONE, Held, Kept, NotOffered, Person


@pytest.mark.parametrize(
    ("typed", "stored"),
    [("AKI-7F3K2", "AKI-7F3K2"), (" aki-7f3k2 ", "AKI-7F3K2"), ("7f3k2", "AKI-7F3K2"),
     ("AKI-" + "X" * 40, "AKI-" + "X" * 16)],
)  # fmt: skip
def test_a_reference_as_typed(typed, stored):
    from webapp.privacy import normalise_reference

    assert normalise_reference(typed) == stored


def held(i: int, match: str = "") -> Held:
    return Held(i, f"AKI-{i:05d}", "A Person", "a@example.org", "", "2026-12-01T15:30:00Z",
                "new", None, 0, match)  # fmt: skip


PERSON = Person(held(1), (held(2, SAME_EMAIL), held(3, SAME_PHONE)))


@pytest.mark.parametrize(
    ("others", "ids"),
    [([], [1]), ([3], [1, 3]), ([3, 2], [1, 3, 2]), ([2, 2, 3, 2], [1, 2, 3])],
)
def test_the_request_asked_about_always_comes_first_and_others_once(others, ids):
    assert [h.id for h in PERSON.chosen(others)] == ids


@pytest.mark.parametrize("others", [[4], [1], [2, 99]])
def test_a_request_not_offered_is_refused(others):
    with pytest.raises(NotOffered):
        PERSON.chosen(others)


@pytest.mark.parametrize(
    ("days", "words"),
    [(365, "12 months (365 days)"), (730, "2 years (730 days)"), (30, "30 days"),
     (366, "366 days"), (3650, "10 years (3650 days)")],
)  # fmt: skip
def test_the_retention_period_in_words(tmp_path, days, words):
    kept = Kept.of(make_settings(tmp_path, retention_days=days))
    assert kept.retention_words == words
    assert (kept.spam_days, kept.draft_minutes, kept.rate_limit_hours, kept.backup_days) == (
        30, 10, 24, 14,
    )  # fmt: skip


def test_stored_times_read_in_the_clinics_zone():
    assert local_text("2026-07-04T16:05:00.000000Z", ET) == "Saturday, July 4, 2026, 12:05 PM ET"
    assert local_text(None, ET) == ""


def test_the_backup_period_follows_backup_keep(tmp_path):
    assert Kept.of(make_settings(tmp_path, backup_keep=7)).backup_days == 7
