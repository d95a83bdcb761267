"""Opening hours: the "open now" banner and the reply promise, as pure functions of `now`."""

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# Shown after every clock time; the clinic says "ET" all year rather than EST/EDT.
TZ_LABEL = "ET"
CLOSING_SOON = timedelta(minutes=60)
# Opening time staff need to answer a request: with less left today, the promise moves on.
REPLY_NEEDS = timedelta(minutes=60)
# Openings are searched on the clinic-local dates today .. today + HORIZON_DAYS. Counting in dates
# (not hours) means the horizon only moves at local midnight, which `next_change` already covers.
HORIZON_DAYS = 60
# Days of open_intervals a schedule remembers (several horizons' worth).
INTERVALS_KEPT = 1000
DAY_KEYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

# English names kept here because strftime's %A/%B follow the process locale.
_WEEKDAY_NAMES = tuple(key.capitalize() for key in DAY_KEYS)
_MONTH_NAMES = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip
_MINUTE_US = 60_000_000


@dataclass(frozen=True)
class Override:
    """A dated exception to the weekly hours: closed all day, or special hours."""

    day: date
    reason: str
    opens: time | None = None
    closes: time | None = None

    def __post_init__(self) -> None:
        """Reject half-given or inverted hours, and datetimes that would never match a date key."""
        if isinstance(self.day, datetime):
            raise TypeError(f"override day must be a date, not a datetime: {self.day!r}")
        if (self.opens is None) != (self.closes is None):
            raise ValueError(f"override {self.day}: give both opens and closes, or neither")
        if self.opens is not None and self.closes is not None and not self.opens < self.closes:
            raise ValueError(f"override {self.day}: opens {self.opens} is not before {self.closes}")


@dataclass(frozen=True)
class Schedule:
    """Weekly hours (Monday first, None = closed) plus dated overrides, in the clinic's zone."""

    tz: ZoneInfo
    weekly: tuple[tuple[time, time] | None, ...]
    overrides: tuple[Override, ...] = ()
    # Looked up on every request, so built once; excluded from eq/hash/repr as it is derived.
    _by_day: dict[date, Override] = field(init=False, repr=False, compare=False)
    # open_intervals per day, filled as asked (time zone arithmetic is most of its cost).
    _intervals: dict[date, tuple[datetime, datetime] | None] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        """Check the weekly table and index overrides by day (a later duplicate wins)."""
        object.__setattr__(self, "weekly", tuple(self.weekly))
        object.__setattr__(self, "overrides", tuple(self.overrides))
        if len(self.weekly) != 7:
            raise ValueError(f"weekly hours need 7 entries (Monday first), got {len(self.weekly)}")
        for key, hours in zip(DAY_KEYS, self.weekly, strict=True):
            if hours is not None and not hours[0] < hours[1]:
                raise ValueError(f"{key}: opens {hours[0]} is not before closes {hours[1]}")
        object.__setattr__(self, "_by_day", {o.day: o for o in self.overrides})
        object.__setattr__(self, "_intervals", {})


@dataclass(frozen=True)
class Status:
    """What the banner shows at one instant, and when it must be recomputed."""

    state: str  # "open" | "closing_soon" | "closed"
    headline: str
    detail: str
    announcement: str  # for a polite live region: no countdown, so it does not chatter
    closes_at: datetime | None  # UTC; set when open or closing_soon
    opens_at: datetime | None  # UTC; next opening when closed, None if beyond the horizon
    next_change: datetime | None
    next_refresh: datetime | None
    reason: str | None  # reason of today's override (clinic-local date), if any

    @property
    def text(self) -> str:
        """Headline and detail as one line."""
        return f"{self.headline} \u00b7 {self.detail}"


def parse_time(text: str) -> time:
    """Parse a strict 24-hour "HH:MM" (e.g. "09:00")."""
    if (
        not isinstance(text, str)
        or len(text) != 5
        or text[2] != ":"
        # str.isdigit() would accept non-ASCII digits such as "٠٩:٠٠".
        or not all(c in "0123456789" for c in text[:2] + text[3:])
    ):
        raise ValueError(f"time must be HH:MM (24-hour), got {text!r}")
    hour, minute = int(text[:2]), int(text[3:])
    if hour > 23 or minute > 59:
        raise ValueError(f"time out of range (00:00-23:59), got {text!r}")
    return time(hour, minute)


def parse_weekly(mapping: dict[str, list[str] | None], tz_name: str) -> Schedule:
    """Build a Schedule from {"monday": ["09:00", "17:00"] or None/[], ...} and a zone name."""
    if not isinstance(tz_name, str) or not tz_name:
        raise ValueError(f"time zone must be a non-empty IANA name, got {tz_name!r}")
    try:
        tz = ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(f"unknown time zone {tz_name!r}") from None
    if not isinstance(mapping, dict):
        raise ValueError(f"weekly hours must be a dict, got {type(mapping).__name__}")
    unknown = sorted(str(k) for k in mapping if k not in DAY_KEYS)
    if unknown:
        raise ValueError(f"unknown day name(s): {', '.join(unknown)}")
    missing = [key for key in DAY_KEYS if key not in mapping]
    if missing:
        raise ValueError(f"missing day(s): {', '.join(missing)}")
    weekly: list[tuple[time, time] | None] = []
    for key in DAY_KEYS:
        value = mapping[key]
        if value is None or (isinstance(value, list | tuple) and len(value) == 0):
            weekly.append(None)
            continue
        if not isinstance(value, list | tuple) or len(value) != 2:
            raise ValueError(f'{key}: hours must be ["HH:MM", "HH:MM"] or null, got {value!r}')
        try:
            opens, closes = parse_time(value[0]), parse_time(value[1])
        except ValueError as exc:
            raise ValueError(f"{key}: {exc}") from None
        if not opens < closes:
            raise ValueError(f"{key}: opening time {value[0]} must be before closing {value[1]}")
        weekly.append((opens, closes))
    return Schedule(tz=tz, weekly=tuple(weekly))


def with_overrides(schedule: Schedule, overrides: Iterable[Override]) -> Schedule:
    """Return a copy of `schedule` whose overrides are replaced by `overrides`."""
    return replace(schedule, overrides=tuple(overrides))


def format_time(t: time) -> str:
    """A clock time the one way the site writes it: "9:00 AM", "12:00 noon", "5:00 PM".

    Banner, form, confirmation, clinic and staff pages all use this (templates through the
    `clock` filter), so noon never reads "12:00 PM" in one place and "noon" in another.
    """
    if t.minute == 0 and t.hour in (0, 12):
        return "12:00 noon" if t.hour == 12 else "12:00 midnight"
    return f"{t.hour % 12 or 12}:{t.minute:02d} {'AM' if t.hour < 12 else 'PM'}"


def format_date(day: date, *, year: bool = True) -> str:
    """A date for people, in English whatever the process locale: "Thursday, December 24, 2026"."""
    text = f"{_WEEKDAY_NAMES[day.weekday()]}, {_MONTH_NAMES[day.month - 1]} {day.day}"
    return f"{text}, {day.year}" if year else text


def _as_utc(now: datetime) -> datetime:
    """Convert an aware datetime to UTC; naive ones are ambiguous, so refuse them."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"now must be timezone-aware, got naive {now!r}")
    return now.astimezone(UTC)


def _local_to_utc(day: date, t: time, tz: ZoneInfo) -> datetime:
    """Read a clinic wall time as UTC.

    fold=0 explicitly: an ambiguous fall-back time means its first occurrence, and a time in a
    spring-forward gap is read with the pre-gap offset (so it lands one gap-length later).
    """
    d = datetime(day.year, day.month, day.day, t.hour, t.minute, t.second, t.microsecond)
    return d.replace(tzinfo=tz, fold=0).astimezone(UTC)


def open_intervals(schedule: Schedule, day: date) -> tuple[datetime, datetime] | None:
    """The [opens, closes) interval of a clinic-local date in UTC, or None if closed that day."""
    known = schedule._intervals
    if day in known:
        return known[day]
    if len(known) >= INTERVALS_KEPT:  # a long-lived schedule asked about many days
        known.clear()
    found = known[day] = _open_interval(schedule, day)
    return found


def _open_interval(schedule: Schedule, day: date) -> tuple[datetime, datetime] | None:
    override = schedule._by_day.get(day)
    if override is not None:
        if override.opens is None or override.closes is None:
            return None
        hours = (override.opens, override.closes)
    else:
        weekly = schedule.weekly[day.weekday()]
        if weekly is None:
            return None
        hours = weekly
    opens = _local_to_utc(day, hours[0], schedule.tz)
    closes = _local_to_utc(day, hours[1], schedule.tz)
    # Hours lying inside a spring-forward gap (e.g. 02:30-03:00) contain no real instant.
    return (opens, closes) if opens < closes else None


def _current_or_next(
    now_utc: datetime, schedule: Schedule, today: date
) -> tuple[date, datetime, datetime] | None:
    """The first interval not yet over at `now_utc` (day, opens, closes), within the horizon."""
    # Start a day early: a closing time in a gap that spans midnight can spill into today.
    for offset in range(-1, HORIZON_DAYS + 1):
        day = today + timedelta(days=offset)
        span = open_intervals(schedule, day)
        if span is not None and span[1] > now_utc:
            return day, span[0], span[1]
    return None


def _clock(instant: datetime, tz: ZoneInfo) -> str:
    """Format a UTC instant as clinic wall time with the zone label: "5:00 PM ET"."""
    return f"{format_time(instant.astimezone(tz).time())} {TZ_LABEL}"


def _day_words(day: date, today: date) -> str:
    """Name `day` relative to `today`: today, tomorrow, a weekday (2-6 days), else a full date."""
    ahead = (day - today).days
    if ahead == 0:
        return "today"
    if ahead == 1:
        return "tomorrow"
    words = _WEEKDAY_NAMES[day.weekday()]
    if not 2 <= ahead <= 6:
        words = f"{words}, {_MONTH_NAMES[day.month - 1]} {day.day}"
    return words


def status_at(now: datetime, schedule: Schedule) -> Status:
    """The banner status at `now` (any aware datetime); all arithmetic is in real UTC time.

    `next_change` is the earliest of: the instant the state changes (open -> closing_soon at
    closes_at - 60 min, closing_soon -> closed at closes_at, closed -> open at opens_at) and the
    next clinic-local midnight, where day words ("today"/"tomorrow"/weekday), today's override
    reason and the search horizon roll over. It is a safe bound: the text is unchanged before it,
    though at midnight the text may turn out the same. `next_refresh` equals `next_change`,
    except in closing_soon where it is the earlier instant the "Closes in N min" count drops
    (closes_at - (N - 1) min). Both are strictly after `now`.
    """
    now_utc = _as_utc(now)
    tz = schedule.tz
    today = now_utc.astimezone(tz).date()
    midnight = _local_to_utc(today + timedelta(days=1), time(0), tz)
    override = schedule._by_day.get(today)
    reason = override.reason if override is not None else None
    found = _current_or_next(now_utc, schedule, today)

    if found is not None and found[1] <= now_utc:
        day, _, closes = found
        detail = f"closes at {_clock(closes, tz)}"
        if day == today and override is not None and override.opens is not None:
            detail += f" today for {override.reason}"
        remaining = closes - now_utc
        if remaining > CLOSING_SOON:
            change = min(closes - CLOSING_SOON, midnight)
            return Status(
                state="open",
                headline="Open now",
                detail=detail,
                announcement=f"Open now, {detail}",
                closes_at=closes,
                opens_at=None,
                next_change=change,
                next_refresh=change,
                reason=reason,
            )
        # Integer microseconds: ceil() of a float could be off at exact minute boundaries.
        minutes = -(-(remaining // timedelta(microseconds=1)) // _MINUTE_US)
        change = min(closes, midnight)
        refresh = min(change, closes - timedelta(minutes=minutes - 1))
        return Status(
            state="closing_soon",
            headline=f"Closes in {minutes} min",
            detail=detail,
            announcement=f"Closing soon, {detail}",
            closes_at=closes,
            opens_at=None,
            next_change=change,
            next_refresh=refresh,
            reason=reason,
        )

    if override is not None and override.opens is None:
        headline = f"Closed today for {override.reason}"
    else:
        headline = "Closed"
    if found is None:
        opens_at, change = None, midnight
        detail = "opening hours to be announced"
    else:
        opens_at = found[1]
        change = min(opens_at, midnight)
        when = _day_words(opens_at.astimezone(tz).date(), today)
        detail = f"opens {when} at {_clock(opens_at, tz)}"
    return Status(
        state="closed",
        headline=headline,
        detail=detail,
        announcement=f"{headline}, {detail}",
        closes_at=None,
        opens_at=opens_at,
        next_change=change,
        next_refresh=change,
        reason=reason,
    )


def next_opening(now: datetime, schedule: Schedule) -> datetime | None:
    """The first instant >= now (UTC) at which the clinic is open, within the horizon."""
    now_utc = _as_utc(now)
    found = _current_or_next(now_utc, schedule, now_utc.astimezone(schedule.tz).date())
    return None if found is None else max(found[1], now_utc)


def reply_by(now: datetime, schedule: Schedule) -> datetime | None:
    """The latest instant (UTC) by which staff can honestly promise to reply to a request sent
    at `now`: the end of the first stretch of opening hours with at least REPLY_NEEDS of it
    still ahead (today's hours if enough is left, else the next opening day's; closures and
    special hours included). None when no such stretch lies within the horizon.

    Pure: the confirmation (htmx and no-JS) and the acknowledgement email both state it.
    """
    now_utc = _as_utc(now)
    today = now_utc.astimezone(schedule.tz).date()
    # From yesterday's date: a closing time in a gap that spans midnight can spill into today.
    for offset in range(-1, HORIZON_DAYS + 1):
        span = open_intervals(schedule, today + timedelta(days=offset))
        if span is not None and span[1] - max(span[0], now_utc) >= REPLY_NEEDS:
            return span[1]
    return None


def format_reply_by(by: datetime | None, tz: ZoneInfo, now: datetime | None = None) -> str:
    """The promise in words, to follow "We will call you": "by 5:00 PM ET today".

    With `now` (an on-screen answer) the day is relative: "by 5:00 PM ET today", "by 12:00 noon
    ET tomorrow (Wednesday)", "by Thursday, 12:00 noon ET", and with the date from a week on.
    Without it (an email, read later) the date is always given: "by Thursday, December 3,
    12:00 noon ET". None (no opening hours known yet) reads "as soon as the clinic reopens".
    """
    if by is None:
        return "as soon as the clinic reopens"
    local = _as_utc(by).astimezone(tz)
    clock = _clock(local, tz)
    if now is None:
        return f"by {format_date(local.date(), year=False)}, {clock}"
    ahead = (local.date() - _as_utc(now).astimezone(tz).date()).days
    weekday = _WEEKDAY_NAMES[local.weekday()]
    if ahead <= 0:
        return f"by {clock} today"
    if ahead == 1:
        return f"by {clock} tomorrow ({weekday})"
    if ahead <= 6:
        return f"by {weekday}, {clock}"
    return f"by {format_date(local.date(), year=False)}, {clock}"


def open_time_between(start: datetime, end: datetime, schedule: Schedule) -> timedelta:
    """How long the clinic was open between two instants (for "one business day" checks).

    Walks clinic-local dates, so keep the span short (callers cap it, e.g. 31 days).
    """
    start_utc, end_utc = _as_utc(start), _as_utc(end)
    total = timedelta(0)
    day = start_utc.astimezone(schedule.tz).date() - timedelta(days=1)
    last = end_utc.astimezone(schedule.tz).date()
    while day <= last:
        span = open_intervals(schedule, day)
        if span is not None:
            overlap = min(span[1], end_utc) - max(span[0], start_utc)
            if overlap > timedelta(0):
                total += overlap
        day += timedelta(days=1)
    return total


def regular_day_length(schedule: Schedule) -> timedelta:
    """The longest regular opening day: what "one business day" of open time means."""
    lengths = [
        datetime.combine(date.min, closes) - datetime.combine(date.min, opens)
        for hours in schedule.weekly
        if hours is not None
        for opens, closes in [hours]
    ]
    return max(lengths, default=timedelta(hours=8))
