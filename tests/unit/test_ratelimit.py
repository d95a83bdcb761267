"""The in-memory sliding window behind the consultation form's rate limit."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.conftest import FakeClock
from webapp import ratelimit
from webapp.ratelimit import SlidingWindow


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 12, 1, 15, 30, tzinfo=UTC))


def test_allows_up_to_the_limit_then_refuses(clock):
    window = SlidingWindow(3, 60, clock)
    assert [window.hit("a") for _ in range(3)] == [True, True, True]
    assert window.blocked("a")
    assert window.hit("a") is False
    assert window.hit("a") is False


def test_keys_are_independent(clock):
    window = SlidingWindow(1, 60, clock)
    assert window.hit("a")
    assert not window.hit("a")
    assert window.hit("b")
    assert window.retry_after("b") > 0
    assert window.retry_after("c") == 0
    assert not window.blocked("c")


def test_events_leave_the_window_exactly_window_seconds_later(clock):
    window = SlidingWindow(2, 60, clock)
    assert window.hit("a")
    clock.advance(seconds=30)
    assert window.hit("a")
    clock.advance(seconds=29.999)
    assert window.blocked("a")
    assert not window.hit("a")
    clock.advance(seconds=0.001)  # the first event is now exactly 60 s old: it has left
    assert not window.blocked("a")
    assert window.hit("a")
    assert not window.hit("a")  # the second (t=30) and third (t=60) fill it again
    clock.advance(seconds=30)
    assert window.hit("a")


def test_retry_after_is_zero_when_allowed_and_never_too_early(clock):
    window = SlidingWindow(2, 600, clock)
    assert window.retry_after("a") == 0
    window.hit("a")
    assert window.retry_after("a") == 0  # one more still fits
    clock.advance(seconds=100)
    window.hit("a")
    retry = window.retry_after("a")
    # The oldest event leaves 500 s from now; the answer is whole seconds, at least that.
    assert 500 <= retry <= 501
    clock.advance(seconds=retry)
    assert window.hit("a")
    assert window.retry_after("a") >= 1


def test_retry_after_rounds_a_fraction_up(clock):
    window = SlidingWindow(1, 10, clock)
    window.hit("a")
    clock.advance(seconds=9.5)
    assert window.retry_after("a") == 1
    clock.advance(seconds=0.5)
    assert window.retry_after("a") == 0


def test_a_refused_hit_is_not_recorded(clock):
    window = SlidingWindow(1, 10, clock)
    assert window.hit("a")
    clock.advance(seconds=5)
    assert not window.hit("a")  # refused at t=5: must not extend the window
    assert window.retry_after("a") == 6  # still counted from the event at t=0
    clock.advance(seconds=5)
    assert window.hit("a")  # t=10: allowed, as if the refused attempt never happened


def test_blocked_and_retry_after_record_nothing(clock):
    window = SlidingWindow(1, 10, clock)
    for _ in range(5):
        assert not window.blocked("a")
        assert window.retry_after("a") == 0
    assert window.hit("a")


def test_idle_keys_are_forgotten_when_there_are_too_many(clock, monkeypatch):
    monkeypatch.setattr(ratelimit, "MAX_KEYS", 3)
    window = SlidingWindow(1, 10, clock)
    for key in ("a", "b", "c"):
        window.hit(key)
    clock.advance(seconds=10)
    window.hit("d")  # a, b and c are idle: dropped to make room
    assert set(window._events) == {"d"}
    # Active keys are kept, and still limited.
    window.hit("e")
    window.hit("f")
    window.hit("g")
    assert not window.hit("d")
