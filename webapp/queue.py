"""The staff's work queue: which requests a view shows, in which order, searched how.

Views: "Needs action" (the default: new requests and follow-ups due, oldest first), "Assigned
to me", "All", each status, and suspected spam (left out of everything else). A search looks
through everything unless a view is chosen. Sort by when a request was received (oldest or
newest first) or by its follow-up date. Every list is one indexed query at any size of history.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any

from webapp import audit, search
from webapp.auth import Staff
from webapp.db import Database, utc_now_iso
from webapp.followup import STATUSES as STATUSES  # re-exported for the views
from webapp.hours import Schedule, open_time_between, regular_day_length

OPEN = ("new", "contacted", "scheduled")
ACTION = "action"
MINE = "mine"
ALL = "all"
SPAM = "spam"
VIEWS = {
    ACTION: "Needs action",
    MINE: "Assigned to me",
    ALL: "All",
    **STATUSES,
    SPAM: "Suspected spam",
}
SORTS = {
    "oldest": "Received, oldest first",
    "newest": "Received, newest first",
    "follow_up": "Follow-up date, soonest first",
}
PER_PAGE = 25
MAX_QUERY = 100
COUNT_CAP = 1000  # past this, "more than 1,000" (an exact count would read every match)
PREVIEW = 90  # characters of a message shown in the list
COLUMNS = (
    "c.id, c.reference, c.full_name, c.email, c.phone, c.contact_method, c.best_time,"
    " c.message, c.status, c.created_at, c.updated_at, c.closed_at, c.suspected_spam,"
    " c.reply_by, c.assigned_to, c.follow_up_on, c.attempts, coalesce(a.email, '') AS assignee"
)
FROM = " FROM consultations c LEFT JOIN staff a ON a.id = c.assigned_to"
# The open requests, and those that need action: new ones (unless a call-back date puts them
# off) and those whose call-back date has come. Each is a range of the index
# `consultations_queue` (status, follow_up_on; suspected spam left out), so counting them and
# finding a page of them reads only those rows, at any size of history.
OPEN_SQL = "c.suspected_spam IS NULL AND c.status IN ('new', 'contacted', 'scheduled')"
NEEDS_ACTION_IDS = (
    "SELECT id FROM consultations WHERE suspected_spam IS NULL AND status = 'new'"
    " AND (follow_up_on IS NULL OR follow_up_on <= :today)"
    " UNION ALL SELECT id FROM consultations WHERE suspected_spam IS NULL"
    " AND status IN ('contacted', 'scheduled') AND follow_up_on <= :today"
)
NEEDS_ACTION_SQL = f"c.id IN ({NEEDS_ACTION_IDS})"
ORDER = {
    "oldest": "c.id",
    "newest": "c.id DESC",
    "follow_up": "c.follow_up_on IS NULL, c.follow_up_on, c.id",
}

Row = dict[str, Any]


@dataclass(frozen=True)
class Filter:
    """A view, a search, a sort and a page, from the dashboard's query string.

    `status` keeps its old name in URLs (`?status=new`, `?status=spam`); empty means the
    default: "Needs action", or "All" while searching.
    """

    status: str = ""
    q: str = ""
    sort: str = ""
    page: int = 1

    @classmethod
    def parse(cls, params: Mapping[str, str]) -> Filter:
        """From query parameters, ignoring anything out of range."""
        status = params.get("status", "")
        q = " ".join(params.get("q", "").split())[:MAX_QUERY]
        sort = params.get("sort", "")
        try:
            page = max(1, min(int(params.get("page", "1")), 100_000))
        except ValueError:
            page = 1
        return cls(status if status in VIEWS else "", q, sort if sort in SORTS else "", page)

    @property
    def view(self) -> str:
        """The view in effect."""
        return self.status or (ALL if self.q else ACTION)

    @property
    def order(self) -> str:
        """The sort in effect: oldest first where work is waiting, newest first elsewhere."""
        return self.sort or ("oldest" if self.view in (ACTION, MINE) else "newest")

    def query(self, **changes: object) -> dict[str, str]:
        """Query parameters for this filter with some changed (empty values left out)."""
        values = {
            "status": self.status,
            "q": self.q,
            "sort": self.sort,
            "page": str(self.page),
            **changes,
        }
        return {k: str(v) for k, v in values.items() if v and not (k == "page" and v in (1, "1"))}

    def first_page(self) -> Filter:
        """The same view and search from its first page."""
        return replace(self, page=1)


def _where(filter_: Filter, today: date, me: int) -> tuple[str, dict[str, object]]:
    view = filter_.view
    params: dict[str, object] = {"today": today.isoformat(), "me": me}
    if view == SPAM:
        clauses = ["c.suspected_spam IS NOT NULL"]
    elif view == ACTION:
        clauses = [NEEDS_ACTION_SQL]
    elif view == MINE:
        clauses = [OPEN_SQL, "c.assigned_to = :me"]
    elif view == ALL:
        clauses = ["c.suspected_spam IS NULL"]
    else:
        clauses = ["c.suspected_spam IS NULL", "c.status = :status"]
        params["status"] = view
    found = search.parse(filter_.q)
    if found.match is not None:
        clauses.append(
            "c.id IN (SELECT rowid FROM consultations_fts WHERE consultations_fts MATCH :match)"
        )
        params["match"] = found.match
    for index, like in enumerate(found.likes):
        clauses.append(f"c.search_text LIKE :like{index} ESCAPE '\\'")
        params[f"like{index}"] = like
    return " WHERE " + " AND ".join(clauses), params


async def counts(db: Database, today: date, me: int) -> dict[str, int]:
    """How many requests each view holds: statuses and spam from the counts the triggers
    keep, the open views counted through their index."""
    rows = await db.fetchall("SELECT status, n FROM consultation_counts")
    found = {row[0]: row[1] for row in rows}
    result = {key: found.get(key, 0) for key in (*STATUSES, SPAM)}
    result[ALL] = sum(result[s] for s in STATUSES)
    row = await db.fetchone(
        f"SELECT (SELECT count(*) FROM ({NEEDS_ACTION_IDS})),"  # noqa: S608
        f" (SELECT count(*) FROM consultations c WHERE {OPEN_SQL} AND c.assigned_to = :me)",
        {"today": today.isoformat(), "me": me},
    )
    result[ACTION] = int(row[0]) if row else 0
    result[MINE] = int(row[1]) if row else 0
    return result


async def latest_id(db: Database) -> int:
    """The newest request's id (suspected spam aside): a new one has a higher id."""
    row = await db.fetchone(
        "SELECT id FROM consultations WHERE suspected_spam IS NULL ORDER BY id DESC LIMIT 1"
    )
    return int(row[0]) if row else 0


async def arrived_since(db: Database, since: int) -> int:
    """How many requests (suspected spam aside) have an id above `since`."""
    row = await db.fetchone(
        "SELECT count(*) FROM consultations WHERE id > ? AND suspected_spam IS NULL", (since,)
    )
    return int(row[0]) if row else 0


async def page(
    db: Database, filter_: Filter, counted: Mapping[str, int], today: date, me: int
) -> tuple[list[Row], int]:
    """One page of the filter's requests, and how many there are (capped at COUNT_CAP + 1
    for a search). `counted` is `counts()`, which the caller shows too."""
    where, params = _where(filter_, today, me)
    if filter_.q:
        total_row = await db.fetchone(
            f"SELECT count(*) FROM (SELECT 1 FROM consultations c{where} LIMIT :cap)",  # noqa: S608
            {**params, "cap": COUNT_CAP + 1},
        )
        total = int(total_row[0]) if total_row else 0
    else:
        total = counted[filter_.view]
    rows = await db.fetchall(
        f"SELECT {COLUMNS}{FROM}{where}"  # noqa: S608 (fixed fragments only)
        f" ORDER BY {ORDER[filter_.order]} LIMIT :limit OFFSET :offset",
        {**params, "limit": PER_PAGE, "offset": (filter_.page - 1) * PER_PAGE},
    )
    return [dict(row) for row in rows], total


async def export_rows(
    db: Database, filter_: Filter, today: date, me: int, limit: int = 100_000
) -> list[Row]:
    """Every request of the filter (all pages), in its order, with its notes."""
    where, params = _where(filter_, today, me)
    rows = [
        dict(row)
        for row in await db.fetchall(
            f"SELECT {COLUMNS}{FROM}{where}"  # noqa: S608 (fixed fragments only)
            f" ORDER BY {ORDER[filter_.order]} LIMIT :limit",
            {**params, "limit": limit},
        )
    ]
    notes: dict[int, list[Row]] = {}
    if rows:
        found = await db.fetchall(
            "SELECT n.consultation_id, n.body, n.created_at, s.email AS author FROM notes n"  # noqa: S608
            f" JOIN staff s ON s.id = n.staff_id JOIN consultations c ON c.id = n.consultation_id"
            f"{where} ORDER BY n.consultation_id, n.created_at, n.id",
            params,
        )
        for note in found:
            notes.setdefault(note["consultation_id"], []).append(dict(note))
    for row in rows:
        row["notes"] = notes.get(row["id"], [])
    return rows


async def linked_counts(db: Database, ids: list[int]) -> dict[int, int]:
    """For each request, how many others share its email address (any case) or phone."""
    if not ids:
        return {}
    marks = ", ".join("?" for _ in ids)
    rows = await db.fetchall(
        "SELECT cid, count(DISTINCT oid) FROM ("  # noqa: S608 (placeholders only)
        " SELECT c.id AS cid, o.id AS oid FROM consultations c JOIN consultations o"
        "  ON o.email <> '' AND lower(o.email) = lower(c.email) AND o.id <> c.id"
        f"  WHERE c.id IN ({marks}) AND c.email <> ''"
        " UNION ALL"
        # `o.phone <> ''` lets SQLite use the partial index on phone (without it, each
        # row of the page read the whole table: seconds at 100,000 requests).
        " SELECT c.id, o.id FROM consultations c JOIN consultations o"
        "  ON o.phone <> '' AND o.phone = c.phone AND o.id <> c.id"
        f"  WHERE c.id IN ({marks}) AND c.phone <> '')"
        " GROUP BY cid",
        [*ids, *ids],
    )
    return {int(r[0]): int(r[1]) for r in rows}


async def linked(db: Database, row: Row, limit: int = 20) -> list[Row]:
    """The other requests from the same email address or phone number, newest first."""
    rows = await db.fetchall(
        "SELECT id, reference, full_name, status, created_at, suspected_spam,"
        " (email <> '' AND lower(email) = lower(:email)) AS same_email,"
        " (phone <> '' AND phone = :phone) AS same_phone FROM consultations"
        # Each side on its own partial index (an OR across the two read the whole table).
        " WHERE id <> :id AND id IN ("
        "  SELECT id FROM consultations WHERE :email <> '' AND email <> ''"
        "   AND lower(email) = lower(:email)"
        "  UNION SELECT id FROM consultations WHERE :phone <> '' AND phone <> ''"
        "   AND phone = :phone)"
        " ORDER BY id DESC LIMIT :limit",
        {"id": row["id"], "email": row["email"], "phone": row["phone"], "limit": limit},
    )
    return [dict(r) for r in rows]


PRESENCE = timedelta(minutes=5)


async def open_by_others(
    db: Database, ids: list[int], me: int, now: datetime
) -> dict[int, list[str]]:
    """Who else opened each request in the past few minutes ("… has this open")."""
    if not ids:
        return {}
    marks = ", ".join("?" for _ in ids)
    rows = await db.fetchall(
        "SELECT v.consultation_id, s.email FROM request_views v"  # noqa: S608 (placeholders)
        f" JOIN staff s ON s.id = v.staff_id WHERE v.consultation_id IN ({marks})"
        " AND v.staff_id <> ? AND v.at > ? ORDER BY v.at DESC",
        [*ids, me, utc_now_iso(now - PRESENCE)],
    )
    found: dict[int, list[str]] = {}
    for cid, email in rows:
        found.setdefault(int(cid), []).append(str(email))
    return found


def preview(message: str, length: int = PREVIEW) -> str:
    """The start of a message on one line, cut at a word: "I have tried two…"."""
    flat = " ".join(message.split())
    if len(flat) <= length:
        return flat
    cut = flat[:length].rsplit(" ", 1)[0] if " " in flat[:length] else flat[:length]
    return cut.rstrip(" ,.;:") + "…"


OVERDUE_SCAN = timedelta(days=31)


def is_overdue(
    row: Mapping[str, Any], created: datetime, reply_by: datetime | None, now: datetime,
    schedule: Schedule,
) -> bool:  # fmt: skip
    """A new request nobody has tried to reach past the reply its sender was promised (the
    stored "by" time); for one stored without a promise, after a business day of open time.

    `schedule` needs the closures from OVERDUE_SCAN ago on."""
    if row["status"] != "new" or row["suspected_spam"] is not None or row["attempts"]:
        return False
    if reply_by is not None:
        return now > reply_by
    return now - created > OVERDUE_SCAN or (
        open_time_between(created, now, schedule) >= regular_day_length(schedule)
    )


def follow_up_state(day: date | None, today: date, status: str) -> str:
    """ "overdue" (a past date), "due" (today), "later", or "" (none, or the request is done)."""
    if day is None or status not in OPEN:
        return ""
    if day < today:
        return "overdue"
    return "due" if day == today else "later"


async def record_export(
    db: Database, staff: Staff, filter_: Filter, rows: int, now: datetime
) -> None:
    """Audit a CSV export: how many rows and which view, never the search text."""
    described = f"{rows} rows" + (f", status {filter_.status}" if filter_.status else "")
    if filter_.q:
        described += ", with a search"
    await audit.log(db, now, staff.email, "export_csv", staff_id=staff.id, detail=described)
