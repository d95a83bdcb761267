"""The staff's CSV export, made for spreadsheets (pure).

Times are the clinic's wall-clock time as `YYYY-MM-DD HH:MM` (the zone is named in the
header), which spreadsheets read as dates and which match what the staff pages show; every
cell that could start a formula is made text.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from webapp.consultations import BEST_TIMES, CONTACT_METHODS, format_phone
from webapp.db import parse_utc
from webapp.followup import STATUSES, csv_safe


def header(tz: ZoneInfo) -> list[str]:
    """The first row; the time columns name the zone their times are in."""
    zone = tz.key
    return [
        "Reference", f"Received ({zone})", "Status", "Assigned to", "Follow-up date",
        "Contact attempts", f"Closed ({zone})", "Name", "Email", "Phone", "Preferred contact",
        "Best time", "Message", "Notes",
    ]  # fmt: skip


def local_minute(stored: str | None, tz: ZoneInfo) -> str:
    """A stored UTC timestamp as the clinic's "2026-12-01 10:30" ('' for none)."""
    if not stored:
        return ""
    return parse_utc(stored).astimezone(tz).strftime("%Y-%m-%d %H:%M")


def _notes(notes: Iterable[Mapping[str, Any]], tz: ZoneInfo) -> str:
    return "\n".join(
        f"{local_minute(n['created_at'], tz)} {n['author']}: {n['body']}" for n in notes
    )


def csv_text(rows: Iterable[Mapping[str, Any]], tz: ZoneInfo) -> str:
    """The rows (queue.export_rows) as CSV text, header first, with a BOM so spreadsheets
    read it as UTF-8."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header(tz))
    for row in rows:
        writer.writerow([csv_safe(value) for value in (
            row["reference"], local_minute(row["created_at"], tz), STATUSES[row["status"]],
            row["assignee"], row["follow_up_on"] or "", row["attempts"],
            local_minute(row["closed_at"], tz), row["full_name"], row["email"],
            format_phone(row["phone"]) if row["phone"] else "",
            CONTACT_METHODS[row["contact_method"]], BEST_TIMES[row["best_time"]],
            row["message"], _notes(row["notes"], tz),
        )])  # fmt: skip
    return "\ufeff" + buffer.getvalue()


def file_name(now: datetime, tz: ZoneInfo) -> str:
    """requests-20261201-1030.csv, in the clinic's time."""
    return f"requests-{now.astimezone(tz):%Y%m%d-%H%M}.csv"
