"""The acknowledgement states the promise once, plainly: the time zone is said once ("ET"),
and a promise without a time ("as soon as the clinic reopens") carries no zone at all."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from webapp.mailtext import acknowledgement

NY = ZoneInfo("America/New_York")
RECEIVED = datetime(2026, 12, 24, 17, 45, tzinfo=UTC)


@pytest.mark.parametrize(
    ("by", "sentence"),
    [
        (datetime(2026, 12, 26, 22, tzinfo=UTC), "by Saturday, December 26, 5:00 PM ET.\n"),
        (datetime(2026, 12, 28, 17, tzinfo=UTC), "by Monday, December 28, 12:00 noon ET.\n"),
        (None, "as soon as the clinic reopens.\n"),
    ],
)  # fmt: skip
def test_the_promise_is_one_plain_sentence(by, sentence):
    body = acknowledgement("Albany Ketamine Infusions", "AKI-7F3K2", RECEIVED, by, NY).body
    assert f"We will reply {sentence}" in body
    assert "Eastern Time" not in body
    assert "on Thursday, December 24 at 12:45 PM ET." in body
