"""/staff/account: a person's own password, two-factor sign-in and sessions."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from webapp import accounts, mfa, notifications, totp
from webapp.accounts import Actor
from webapp.auth import get_staff, password_problem
from webapp.context import ctx
from webapp.throttle import Limit
from webapp.views.common import render
from webapp.views.staff_auth import (
    cookie_name,
    mfa_setup_needed,
    require_staff,
    require_staff_during_setup,
    signed_in,
    staff_form,
)

# Checks of the current password (changing it, turning two-factor off, new recovery codes)
# are throttled like sign-ins: a session left open is not a way to guess the password.
PASSWORD_CHECKS = Limit("account-password", 5, timedelta(minutes=15))
WRONG_PASSWORD = "Your current password is not right."  # noqa: S105 (a message)
DONE = {
    "password": "Your password has been changed. Your other sessions have ended.",
    "mfa-off": "Two-factor sign-in is off.",
    "session": "That session has ended.",
    "others": "Your other sessions have ended.",
    "mail": "Your choice of email about new requests is saved.",
}


async def _context(request: Request, **extra: Any) -> dict[str, Any]:
    app = ctx(request)
    session = signed_in(request)
    done = DONE.get(request.query_params.get("done", ""), "")
    return {
        "sessions": await accounts.own_sessions(app.db, session.staff.id, session.id_hash),
        "codes_left": await mfa.unused_codes(app.db, session.staff.id),
        "mfa_required": app.settings.staff_mfa == "required",
        "request_mail": await notifications.request_mail_choice(app.db, session.staff.id),
        "mail_choices": notifications.CHOICES,
        "mail_configured": app.mailer.configured,
        "tz": app.clinic.schedule.tz,
        "done": done,
        "password_error": "",
        "mfa_error": "",
        "mail_error": "",
        "robots": "noindex",
        **extra,
    }


@require_staff
async def account_page(request: Request) -> Response:
    """Password, two-factor and sessions."""
    return await render(request, "staff/account.html", await _context(request))


async def _password_ok(request: Request, password: str) -> str:
    """'' when the current password is right; else what to say (wrong, or too many tries)."""
    app = ctx(request)
    staff = signed_in(request).staff
    now = app.clock()
    reserved = await app.db.write(
        lambda conn: app.throttle.reserve(conn, PASSWORD_CHECKS, str(staff.id), now)
    )
    if reserved is None:
        wait = await app.throttle.retry_after(PASSWORD_CHECKS, str(staff.id), now)
        return f"Too many wrong passwords. Try again in {max(1, -(-wait // 60))} minutes."
    found = await get_staff(app.db, staff.id)
    if found is None or not await app.hasher.verify(found[1], password[:512], trusted=True):
        return WRONG_PASSWORD
    await app.db.write(lambda conn: app.throttle.release(conn, reserved))
    return ""


@require_staff
async def change_password(request: Request) -> Response:
    """A new password, with the current one; other sessions end."""
    app = ctx(request)
    form = await staff_form(request)
    session = signed_in(request)
    new, repeat = form.get("new_password", ""), form.get("repeat_password", "")
    problem = password_problem(new, session.staff.email)
    if not problem and new != repeat:
        problem = "The two new passwords differ."
    if not problem:
        problem = await _password_ok(request, form.get("current_password", ""))
    if problem:
        context = await _context(request, password_error=problem)
        return await render(request, "staff/account.html", context, status_code=422)
    hashed = await app.hasher.hash(new)
    await accounts.set_password(
        app.db, session.staff.id, hashed, Actor.of(session.staff), app.clock(), keep=session.id_hash
    )
    return RedirectResponse("/staff/account?done=password", status_code=303)


@require_staff_during_setup
async def setup_page(request: Request) -> Response:
    """Set up two-factor: a QR code (and the key as text), confirmed with a first code."""
    if signed_in(request).staff.mfa_enabled:
        return RedirectResponse("/staff/account", status_code=303)
    return await _setup(request, totp.new_secret(), "", 200)


async def _setup(request: Request, secret: str, error: str, status: int) -> Response:
    app = ctx(request)
    staff = signed_in(request).staff
    uri = totp.provisioning_uri(secret, staff.email, app.clinic.name)
    context = {
        "secret": secret,
        "secret_groups": " ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
        "uri": uri,
        "qr": totp.qr_svg_data_uri(uri),
        "setup_token": app.mfa_setup.issue(staff.id, secret, app.clock()),
        "error": error,
        "required": mfa_setup_needed(request, signed_in(request)),
        "robots": "noindex",
    }
    return await render(request, "staff/two_factor.html", context, status_code=status)


@require_staff_during_setup
async def confirm_setup(request: Request) -> Response:
    """Turn two-factor on once a code from the app matches; show the recovery codes once."""
    app = ctx(request)
    form = await staff_form(request)
    staff = signed_in(request).staff
    now = app.clock()
    secret = app.mfa_setup.read(form.get("setup", ""), staff.id, now)
    if secret is None:
        return await _setup(
            request,
            totp.new_secret(),
            "That set-up had expired. Scan this new code, then enter a code.",
            422,
        )
    if staff.mfa_enabled:
        return RedirectResponse("/staff/account", status_code=303)
    try:
        codes = await mfa.enable(app.db, staff, secret, form.get("code", "")[:64], now)
    except mfa.WrongCode:
        return await _setup(
            request, secret, "That code does not match. Enter the newest code your app shows.", 422
        )
    return await _show_codes(request, codes, first=True)


async def _show_codes(request: Request, codes: list[str], *, first: bool) -> Response:
    context = {"codes": codes, "first": first, "robots": "noindex"}
    return await render(request, "staff/recovery_codes.html", context)


@require_staff
async def new_codes(request: Request) -> Response:
    """Replace the recovery codes (current password needed)."""
    app = ctx(request)
    form = await staff_form(request)
    staff = signed_in(request).staff
    problem = "" if staff.mfa_enabled else "Two-factor sign-in is not on."
    problem = problem or await _password_ok(request, form.get("current_password", ""))
    if problem:
        context = await _context(request, mfa_error=problem)
        return await render(request, "staff/account.html", context, status_code=422)
    codes = await mfa.new_recovery_codes(app.db, staff, app.clock())
    return await _show_codes(request, codes, first=False)


@require_staff
async def turn_off(request: Request) -> Response:
    """Turn two-factor off (current password needed; not when it is required)."""
    app = ctx(request)
    form = await staff_form(request)
    staff = signed_in(request).staff
    problem = ""
    if app.settings.staff_mfa == "required":
        problem = "Two-factor sign-in is required here. To move it to a new phone, set it up again."
    problem = problem or await _password_ok(request, form.get("current_password", ""))
    if problem:
        context = await _context(request, mfa_error=problem)
        return await render(request, "staff/account.html", context, status_code=422)
    await mfa.turn_off(app.db, staff.id, Actor.of(staff), app.clock())
    return RedirectResponse("/staff/account?done=mfa-off", status_code=303)


@require_staff_during_setup
async def end_session(request: Request) -> Response:
    """End one of one's own sessions (the current one signs out)."""
    app = ctx(request)
    session = signed_in(request)
    handle = request.path_params["handle"]
    if len(handle) > 40:
        return RedirectResponse("/staff/account", status_code=303)
    ended = await accounts.end_own_session(app.db, session.staff, handle, app.clock())
    if ended and handle == session.handle:
        response = RedirectResponse("/staff/login", status_code=303)
        response.delete_cookie(
            cookie_name(request),
            path="/",
            httponly=True,
            samesite="lax",
            secure=app.settings.https_only,
        )
        return response
    return RedirectResponse("/staff/account?done=session", status_code=303)


@require_staff_during_setup
async def end_other_sessions(request: Request) -> Response:
    """End every session of one's own but this one."""
    app = ctx(request)
    session = signed_in(request)
    await accounts.end_sessions(
        app.db, session.staff.id, Actor.of(session.staff), app.clock(), keep=session.id_hash
    )
    return RedirectResponse("/staff/account?done=others", status_code=303)


@require_staff
async def request_mail(request: Request) -> Response:
    """Choose the new-request email: each one, a daily digest, or none."""
    app = ctx(request)
    choice = (await staff_form(request)).get("request_mail", "")
    try:
        await notifications.set_request_mail(app.db, signed_in(request).staff, choice, app.clock())
    except notifications.UnknownChoice:
        context = await _context(request, mail_error="Choose one of the options offered.")
        return await render(request, "staff/account.html", context, status_code=422)
    return RedirectResponse("/staff/account?done=mail#mail", status_code=303)


routes = [
    Route("/staff/account", account_page, name="staff_account"),
    Route(
        "/staff/account/password", change_password, methods=["POST"], name="staff_account_password"
    ),
    Route("/staff/account/mail", request_mail, methods=["POST"], name="staff_account_mail"),
    Route("/staff/account/two-factor", setup_page, name="staff_mfa_setup"),
    Route("/staff/account/two-factor", confirm_setup, methods=["POST"], name="staff_mfa_confirm"),
    Route("/staff/account/two-factor/off", turn_off, methods=["POST"], name="staff_mfa_off"),
    Route(
        "/staff/account/recovery-codes", new_codes, methods=["POST"], name="staff_recovery_codes"
    ),
    Route(
        "/staff/account/sessions/{handle}/end",
        end_session,
        methods=["POST"],
        name="staff_session_end",
    ),
    Route(
        "/staff/account/sessions/end-others",
        end_other_sessions,
        methods=["POST"],
        name="staff_sessions_end_others",
    ),
]
