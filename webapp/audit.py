"""The audit trail: who did what, when (UTC). Never records health text."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import aiosqlite

from webapp.db import Database, utc_now_iso

LABELS = {
    "login": "Signed in",
    "login_failed": "Failed sign-in",
    "login_locked": "Sign-in refused: too many failures",
    "logout": "Signed out",
    "view_request": "Viewed the request",
    "status_change": "Changed the status",
    "add_note": "Added a note",
    "export_csv": "Exported requests as CSV",
    "closure_add": "Set a closure or special hours",
    "closure_remove": "Removed a closure",
    "spam_restore": "Moved from suspected spam to the queue",
    "spam_purge": "Deleted suspected spam over 30 days old",
    # Accounts and sign-in (webapp/signin.py, accounts.py, invitations.py, mfa.py).
    "account_created": "Created an account",
    "account_disabled": "Disabled an account",
    "account_enabled": "Enabled an account",
    "role_changed": "Changed a role",
    "password_changed": "Changed a password",
    "sessions_ended": "Ended sessions",
    "session_ended": "Ended one of their sessions",
    "invitation_created": "Invited someone",
    "invitation_revoked": "Withdrew an invitation",
    "mfa_enabled": "Turned on two-factor sign-in",
    "mfa_disabled": "Turned off two-factor sign-in",
    "mfa_reset": "Reset two-factor sign-in",
    "mfa_failed": "Wrong two-factor code",
    "recovery_codes_new": "Made new recovery codes",
    "recovery_code_used": "Signed in with a recovery code",
    # The work queue and mail (webapp/handling.py, notifications.py).
    "assigned": "Assigned",
    "follow_up": "Set the follow-up date",
    "contact_attempt": "Contact attempt",
    "mail_preference": "Changed their new-request email",
    # Privacy (webapp/privacy.py, retention.py): by reference and counts only.
    "search": "Searched the requests",
    "erase": "Erased the person's data on request",
    "export_person": "Made a copy of the person's data",
    "retention": "Deleted data past its retention time",
}


async def record(
    conn: aiosqlite.Connection,
    now: datetime,
    actor: str,
    action: str,
    *,
    staff_id: int | None = None,
    consultation_id: int | None = None,
    detail: str = "",
) -> None:
    """Append one entry, inside the caller's write transaction."""
    if action not in LABELS:
        raise ValueError(f"unknown audit action {action!r}")
    await conn.execute(
        "INSERT INTO audit_log (at, staff_id, actor, action, consultation_id, detail)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (utc_now_iso(now), staff_id, actor[:254], action, consultation_id, detail[:200]),
    )


async def log(db: Database, now: datetime, actor: str, action: str, **kwargs: object) -> None:
    """Append one entry in a transaction of its own."""

    async def work(conn: aiosqlite.Connection) -> None:
        await record(conn, now, actor, action, **kwargs)  # type: ignore[arg-type]

    await db.write(work)


async def for_request(db: Database, consultation_id: int) -> list[dict[str, Any]]:
    """A request's history, oldest first."""
    rows = await db.fetchall(
        "SELECT at, actor, action, detail FROM audit_log WHERE consultation_id = ? ORDER BY at, id",
        (consultation_id,),
    )
    return [{**dict(row), "label": LABELS.get(row["action"], row["action"])} for row in rows]
