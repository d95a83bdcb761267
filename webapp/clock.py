"""The app's one clock: every "now" (pages, caches, tokens, jobs, SQL values) comes from here.

Tests pass their own clock to `create_app` and the CLI; nothing that a test must steer reads
the machine's clock, zone or `time.monotonic()` directly.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    """The real time, in UTC."""
    return datetime.now(UTC)


class Interval:
    """ "At most once per `every`" by the app's clock (a clock set back also counts as due)."""

    def __init__(self, clock: Clock, every: timedelta) -> None:
        self.clock = clock
        self.every = every
        self._last: datetime | None = None

    def due(self, now: datetime | None = None) -> bool:
        """True when the interval has passed since the last `mark` (or never marked);
        `now`: the clock's reading the caller already has."""
        if self._last is None:
            return True
        elapsed = (now or self.clock()) - self._last
        return elapsed >= self.every or elapsed < timedelta(0)

    def mark(self, now: datetime | None = None) -> None:
        """Start a new interval now."""
        self._last = now or self.clock()

    def reset(self) -> None:
        """Make the next `due` true."""
        self._last = None
