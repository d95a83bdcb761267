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


class SeenRecently:
    """Keys seen within `ttl` by the app's clock (memory only; a bounded table)."""

    def __init__(self, clock: Clock, ttl: timedelta, size: int = 4096) -> None:
        self.clock = clock
        self.ttl = ttl
        self.size = size
        self._seen: dict[object, datetime] = {}

    def first(self, key: object) -> bool:
        """True (and remember it) unless key was seen within `ttl`."""
        now = self.clock()
        last = self._seen.get(key)
        if last is not None and timedelta(0) <= now - last < self.ttl:
            return False
        if len(self._seen) >= self.size:
            self._seen = {k: t for k, t in self._seen.items() if timedelta(0) <= now - t < self.ttl}
            if len(self._seen) >= self.size:
                self._seen.clear()
        self._seen[key] = now
        return True


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
