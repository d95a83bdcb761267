"""/staff/accounts (admins only): invite, disable and enable, roles, two-factor resets,
ending sessions. And /staff/invitation, where an invited person chooses a password."""

from __future__ import annotations

from typing import Any

import aiosqlite
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from webapp import accounts, devices, invitations, mfa
from webapp.accounts import AccountNotFound, Actor, LastAdmin
from webapp.auth import password_problem
from webapp.consultations import EMAIL
from webapp.context import ctx
from webapp.invitations import AlreadyAnAccount, InvitationUnusable
from webapp.views.common import render
from webapp.views.forms import read_form
from webapp.views.staff_auth import (
    current_session,
    require_admin,
    signed_in,
    signed_in_response,
    staff_form,
    staff_headers,
)

ACTIONS = {
    "disable": "Account disabled; its sessions have ended.",
    "enable": "Account enabled.",
    "make-admin": "That account is now an admin.",
    "make-staff": "That account is now staff (not admin).",
    "reset-two-factor": "Two-factor sign-in reset: they set it up again at their next sign-in.",
    "end-sessions": "Their sessions have ended.",
    "revoked": "Invitation withdrawn.",
}
UNUSABLE = (
    "This invitation link cannot be used: it has expired, has been used or was withdrawn. "
    "Ask an admin for a new one."
)


async def _context(request: Request, **extra: Any) -> dict[str, Any]:
    app = ctx(request)
    now = app.clock()
    return {
        "accounts": await accounts.list_accounts(app.db, now),
        "invitations": await invitations.pending(app.db, now),
        "me": signed_in(request).staff,
        "tz": app.clinic.schedule.tz,
        "done": ACTIONS.get(request.query_params.get("done", ""), ""),
        "error": "",
        "invite_error": "",
        "invite_email": "",
        "invited": None,
        "robots": "noindex",
        **extra,
    }


@require_admin
async def accounts_page(request: Request) -> Response:
    """Every account, pending invitations, and the invitation form."""
    return await render(request, "staff/accounts.html", await _context(request))


def _base(request: Request) -> str:
    settings = ctx(request).settings
    return settings.base_url or f"{request.url.scheme}://{request.url.netloc}"


@require_admin
async def invite(request: Request) -> Response:
    """Invite an email address; the single-use link is shown once, here."""
    app = ctx(request)
    email = (await staff_form(request)).get("email", "").strip()[:254]
    if not EMAIL.match(email):
        context = await _context(
            request,
            invite_error="Enter an email address, like name@example.org.",
            invite_email=email,
        )
        return await render(request, "staff/accounts.html", context, status_code=422)
    staff = signed_in(request).staff
    now = app.clock()
    base, tz = _base(request), app.clinic.schedule.tz

    def message_for(invitation: invitations.Invitation, token: str) -> invitations.Message:
        url = invitations.link(base, token)
        expires = invitation.expires_at.astimezone(tz)
        return invitations.message(app.clinic.name, staff.email, url, expires)

    async def mail(
        conn: aiosqlite.Connection, invitation: invitations.Invitation, token: str
    ) -> None:
        text = message_for(invitation, token)
        await app.notifier.invitation(conn, invitation.id, invitation.email, text, now)

    mailed = app.mailer.configured
    try:
        invitation, token = await invitations.create(
            app.db, email, Actor.of(staff), now, then=mail if mailed else None
        )
    except AlreadyAnAccount:
        context = await _context(
            request, invite_error=f"{email} already has an account.", invite_email=email
        )
        return await render(request, "staff/accounts.html", context, status_code=409)
    if mailed:
        app.mailer.wake()
    message = message_for(invitation, token)
    invited = {
        "email": email,
        "url": invitations.link(base, token),
        "expires": invitation.expires_at.astimezone(tz),
        "message": message,
        "mailed": mailed,
    }
    return await render(request, "staff/accounts.html", await _context(request, invited=invited))


def _id(request: Request, name: str) -> int:
    raw = request.path_params[name]
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 12:
        raise HTTPException(404)
    return int(raw)


@require_admin
async def account_action(request: Request) -> Response:
    """One change to one account, audited; the last active admin stays."""
    app = ctx(request)
    action = request.path_params["action"]
    staff_id = _id(request, "staff_id")
    session = signed_in(request)
    actor, now = Actor.of(session.staff), app.clock()
    try:
        if action in ("disable", "enable"):
            await accounts.set_active(app.db, staff_id, action == "enable", actor, now)
        elif action in ("make-admin", "make-staff"):
            role = "admin" if action == "make-admin" else "staff"
            await accounts.set_role(app.db, staff_id, role, actor, now)
        elif action == "reset-two-factor":
            await mfa.turn_off(app.db, staff_id, actor, now)
        elif action == "end-sessions":
            keep = session.id_hash if staff_id == session.staff.id else ""
            await accounts.end_sessions(app.db, staff_id, actor, now, keep=keep)
        else:
            raise HTTPException(404)
    except AccountNotFound:
        raise HTTPException(404) from None
    except LastAdmin as refused:
        context = await _context(request, error=str(refused).capitalize() + ".")
        return await render(request, "staff/accounts.html", context, status_code=409)
    if action == "disable" and staff_id == session.staff.id:
        return RedirectResponse("/staff/login", status_code=303)
    return RedirectResponse(f"/staff/accounts?done={action}", status_code=303)


@require_admin
async def revoke_invitation(request: Request) -> Response:
    """Withdraw a pending invitation."""
    app = ctx(request)
    actor = Actor.of(signed_in(request).staff)
    await invitations.revoke(app.db, _id(request, "invitation_id"), actor, app.clock())
    return RedirectResponse("/staff/accounts?done=revoked", status_code=303)


# --- the invited person ------------------------------------------------------------------------


async def _invitation_page(
    request: Request, token: str, status: int = 200, error: str = "", email: str = ""
) -> Response:
    context = {"token": token, "error": error, "email": email, "robots": "noindex, nofollow"}
    response = await render(request, "staff/invitation.html", context, status_code=status)
    return staff_headers(response)


async def invitation_page(request: Request) -> Response:
    """Choose a password for an invited address (the link's token is in the query)."""
    app = ctx(request)
    token = request.query_params.get("token", "")
    if await current_session(request) is not None:
        return staff_headers(RedirectResponse("/staff", status_code=303))
    try:
        found = await invitations.find(app.db, token, app.clock())
    except InvitationUnusable:
        return await _invitation_page(request, "", 410, UNUSABLE)
    return await _invitation_page(request, token, email=found.email)


async def accept_invitation(request: Request) -> Response:
    """Create the account with the chosen password and sign the person in."""
    app = ctx(request)
    form = await read_form(
        request, app.settings.base_url, allowed={"token", "new_password", "repeat_password"}
    )
    token = form.get("token", "")
    now = app.clock()
    try:
        found = await invitations.find(app.db, token, now)
    except InvitationUnusable:
        return await _invitation_page(request, "", 410, UNUSABLE)
    new, repeat = form.get("new_password", ""), form.get("repeat_password", "")
    problem = password_problem(new, found.email)
    if not problem and new != repeat:
        problem = "The two passwords differ."
    if problem:
        return await _invitation_page(request, token, 422, problem, found.email)
    hashed = await app.hasher.hash(new)
    label = devices.label(request.headers.get("user-agent", ""))
    try:
        staff, cookie, csrf = await invitations.accept(
            app.db, app.sessions, token, hashed, now, label
        )
    except (InvitationUnusable, AlreadyAnAccount):
        return await _invitation_page(request, "", 410, UNUSABLE)
    return signed_in_response(request, staff, cookie, csrf, "/staff", dialog=False)


routes = [
    Route("/staff/accounts", accounts_page, name="staff_accounts"),
    Route("/staff/accounts/invite", invite, methods=["POST"], name="staff_invite"),
    Route(
        "/staff/accounts/{staff_id}/{action}",
        account_action,
        methods=["POST"],
        name="staff_account_action",
    ),
    Route(
        "/staff/accounts/invitations/{invitation_id}/revoke",
        revoke_invitation,
        methods=["POST"],
        name="staff_invitation_revoke",
    ),
    Route("/staff/invitation", invitation_page, name="staff_invitation"),
    Route("/staff/invitation", accept_invitation, methods=["POST"], name="staff_invitation_accept"),
]
