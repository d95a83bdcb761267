"""In-memory sliding-window limits (one process serves the site, so memory is enough)."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from datetime import datetime

MAX_KEYS = 10_000


class SlidingWindow:
    """At most `limit` events per key within `window` seconds, timed by the app's clock."""

    def __init__(self, limit: int, window: float, clock: Callable[[], datetime]) -> None:
        self.limit = limit
        self.window = window
        self.clock = clock
        self._events: dict[str, deque[float]] = {}

    def _recent(self, key: str) -> deque[float]:
        now = self.clock().timestamp()
        events = self._events.get(key)
        if events is None:
            if len(self._events) >= MAX_KEYS:
                self._forget_idle(now)
            events = self._events[key] = deque()
        while events and events[0] <= now - self.window:
            events.popleft()
        return events

    def _forget_idle(self, now: float) -> None:
        for key in [k for k, ev in self._events.items() if not ev or ev[-1] <= now - self.window]:
            del self._events[key]

    def blocked(self, key: str) -> bool:
        """True when another event for key would go over the limit."""
        return len(self._recent(key)) >= self.limit

    def hit(self, key: str) -> bool:
        """Record an event if it fits; False (and nothing recorded) when over the limit."""
        events = self._recent(key)
        if len(events) >= self.limit:
            return False
        events.append(self.clock().timestamp())
        return True

    def retry_after(self, key: str) -> int:
        """Seconds until key may act again (0 when it may now)."""
        events = self._recent(key)
        if len(events) < self.limit:
            return 0
        return max(1, int(events[0] + self.window - self.clock().timestamp()) + 1)
