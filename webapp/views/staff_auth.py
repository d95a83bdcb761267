"""Staff sign-in (password, then a two-factor code when the account has one), sign-out, and
the guards every other /staff route sits behind."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import urlencode, urlsplit

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from webapp import devices
from webapp.auth import Session, Staff, csrf_matches, replace_hash
from webapp.context import ctx
from webapp.security import BadToken, ExpiredToken
from webapp.signin import Attempt, CodeOutcome, Failed, Refused
from webapp.views.common import client_key, is_htmx, render, template_response
from webapp.views.forms import Fields, read_form

Handler = Callable[[Request], Awaitable[Response]]
STAFF_HEADERS = {"Cache-Control": "no-store", "X-Robots-Tag": "noindex, nofollow"}
LOGIN_ERROR = "That email and password do not match an active account."
CODE_ERROR = "That code is not right, or has been used already. Try the newest code."
EXPIRED_FORM = "The sign-in form had expired. Please try again."
PENDING_GONE = "That sign-in has expired. Please sign in again."
MAX_FIELD = 512
# Requests no person made (polling for the "N new" badge, auto-refreshing lists) send this
# header: they do not count as activity, so a session left open still times out.
POLL_HEADER = "x-staff-poll"
SETUP_PATH = "/staff/account/two-factor"


def cookie_name(request: Request) -> str:
    """__Host- cookies are pinned to this host over HTTPS; plain name for local HTTP."""
    return "__Host-aki_staff" if ctx(request).settings.https_only else "aki_staff"


def device_cookie_name(request: Request) -> str:
    """The device cookie's name (see webapp/devices.py)."""
    return "__Host-aki_device" if ctx(request).settings.https_only else "aki_device"


def is_poll(request: Request) -> bool:
    """True for a request made by polling, not by a person."""
    return request.headers.get(POLL_HEADER) is not None


async def current_session(request: Request) -> Session | None:
    """The signed-in staff session for this request, loaded once."""
    if "staff_session" not in request.scope:
        app = ctx(request)
        cookie = request.cookies.get(cookie_name(request))
        request.scope["staff_session"] = await app.sessions.load(
            cookie, app.clock(), touch=not is_poll(request)
        )
    found = request.scope["staff_session"]
    return found if isinstance(found, Session) else None


def signed_in(request: Request) -> Session:
    """The session of a request that passed `require_staff`."""
    found = request.scope.get("staff_session")
    if not isinstance(found, Session):
        raise RuntimeError("this handler needs @require_staff")
    return found


def staff_of(request: Request) -> Staff:
    """The member of staff behind a request that passed `require_staff`."""
    return signed_in(request).staff


def safe_next(target: str | None) -> str:
    """Only a local /staff path may be the place to return to after signing in."""
    if not target or len(target) > 500:
        return "/staff"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/staff") or "\\" in target:
        return "/staff"
    if target.startswith("//") or parts.path.startswith("/staff/login"):
        return "/staff"
    if any(segment in (".", "..") for segment in parts.path.split("/")) or "%2e" in target.lower():
        return "/staff"
    return target


def staff_headers(response: Response) -> Response:
    """The headers of every staff response: never cached, never indexed."""
    for name, value in STAFF_HEADERS.items():
        response.headers[name] = value
    return response


def mfa_setup_needed(request: Request, session: Session) -> bool:
    """STAFF_MFA=required and this account has not set up two-factor yet."""
    return ctx(request).settings.staff_mfa == "required" and not session.staff.mfa_enabled


def _guard(handler: Handler, *, during_setup: bool = False, admin: bool = False) -> Handler:
    @functools.wraps(handler)
    async def guarded(request: Request) -> Response:
        session = await current_session(request)
        if session is None:
            return await _signed_out(request)
        if request.method not in ("GET", "HEAD"):
            await check_csrf(request, session)
        if not during_setup and mfa_setup_needed(request, session):
            # Two-factor is required: nothing else until it is set up.
            if is_htmx(request):
                return staff_headers(Response(status_code=403, headers={"HX-Redirect": SETUP_PATH}))
            return staff_headers(RedirectResponse(SETUP_PATH, status_code=303))
        if admin and not session.staff.is_admin:
            raise HTTPException(403, "Only an admin can manage accounts.")
        return staff_headers(await handler(request))

    return guarded


def require_staff(handler: Handler) -> Handler:
    """Refuse anonymous requests: sign-in redirect (full page), HX-Redirect (htmx GET), or
    a sign-in dialog (an htmx action, so what was typed stays on the page)."""
    return _guard(handler)


def require_staff_during_setup(handler: Handler) -> Handler:
    """Like require_staff, and also open while required two-factor is being set up."""
    return _guard(handler, during_setup=True)


def require_admin(handler: Handler) -> Handler:
    """Like require_staff, and 403 for anyone but an admin."""
    return _guard(handler, admin=True)


async def _signed_out(request: Request) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if request.method != "GET":
        target = "/staff"
    if is_htmx(request):
        if request.method not in ("GET", "HEAD"):
            # An action (a note, a status): sign in on the same page, then send it again.
            return await _reauth_dialog(request)
        # Come back to the page the fragment was part of, not to the fragment.
        current = request.headers.get("hx-current-url")
        if current:
            page = urlsplit(current)
            target = page.path + (f"?{page.query}" if page.query else "")
        login = "/staff/login?" + urlencode({"next": safe_next(target)})
        return staff_headers(Response(status_code=401, headers={"HX-Redirect": login}))
    login = "/staff/login?" + urlencode({"next": safe_next(target)})
    return staff_headers(RedirectResponse(login, status_code=303))


async def _reauth_dialog(request: Request) -> Response:
    """401 with a sign-in dialog appended to the page (static/js/staff.js opens it)."""
    context = {"login": _login_values(request, dialog=True)}
    headers = {"HX-Retarget": "body", "HX-Reswap": "beforeend"}
    response = template_response(
        request, "staff/_reauth.html", context, status_code=401, headers=headers
    )
    return staff_headers(response)


async def staff_form(request: Request) -> Fields:
    """A staff form's fields (same origin, url-encoded, UTF-8, each name once)."""
    return await read_form(request, ctx(request).settings.base_url)


async def check_csrf(request: Request, session: Session) -> None:
    """Unsafe staff requests need this session's token and a same-origin browser context."""
    submitted = (await staff_form(request)).get("csrf")
    if not csrf_matches(session, submitted):
        raise HTTPException(403, "This form has expired. Reload the page and try again.")


# --- signing in ---------------------------------------------------------------------------------


def _login_values(
    request: Request,
    *,
    dialog: bool = False,
    error: str = "",
    email: str = "",
    next_url: str | None = None,
    pending: str = "",
) -> dict[str, Any]:
    state = ctx(request)
    return {
        "token": state.login_tokens.issue(state.clock()),
        "next": safe_next(next_url or request.query_params.get("next")),
        "error": error,
        "email": email,
        "dialog": dialog,
        "pending": pending,
    }


async def login_page(request: Request) -> Response:
    """The sign-in form; signed-in staff go straight on."""
    if await current_session(request) is not None:
        return staff_headers(RedirectResponse(safe_next(request.query_params.get("next")), 303))
    return await _answer(request, 200, _login_values(request))


async def _answer(
    request: Request,
    status: int,
    login: Mapping[str, Any],
    headers: Mapping[str, str] | None = None,
) -> Response:
    """The sign-in page, or (in the dialog) just the form, in its current step."""
    context = {"login": login, "robots": "noindex, nofollow"}
    if login["dialog"]:
        template = "staff/_code_form.html" if login["pending"] else "staff/_login_form.html"
        response = template_response(
            request, template, context, status_code=status, headers=headers
        )
    else:
        response = await render(
            request, "staff/login.html", context, status_code=status, headers=headers
        )
    return staff_headers(response)


def _attempt(request: Request, identifier: str) -> Attempt:
    state = ctx(request)
    entries = state.devices.read(request.cookies.get(device_cookie_name(request)), state.clock())
    return Attempt(identifier, client_key(request), entries)


def _refused_message(wait: int) -> str:
    return f"Too many failed attempts. Try again in {max(1, -(-wait // 60))} minutes."


async def login(request: Request) -> Response:
    """Check the password (throttled before it is checked); one message for every failure."""
    state = ctx(request)
    form = await staff_form(request)
    dialog = form.get("via") == "dialog"
    email = form.get("email", "").strip()[:MAX_FIELD]
    password = form.get("password", "")[:MAX_FIELD]
    next_url = form.get("next")
    now = state.clock()

    def again(error: str) -> dict[str, Any]:
        return _login_values(request, dialog=dialog, error=error, email=email, next_url=next_url)

    try:
        state.login_tokens.read(form.get("token", ""), now)
    except (BadToken, ExpiredToken):
        return await _answer(request, 400, again(EXPIRED_FORM))
    attempt = _attempt(request, email)
    try:
        verified = await state.signin.check_password(attempt, password, now)
    except Refused as refused:
        headers = {"Retry-After": str(refused.retry_after)}
        return await _answer(request, 429, again(_refused_message(refused.retry_after)), headers)
    except Failed:
        return await _answer(request, 400, again(LOGIN_ERROR))
    staff = verified.staff
    if state.hasher.needs_rehash(verified.password_hash):
        new_hash = await state.hasher.hash(password)
        await replace_hash(state.db, staff.id, new_hash, now)
        verified = dataclasses.replace(verified, password_hash=new_hash)
    if staff.mfa_enabled:
        pending = await state.signin.passed_password(verified, safe_next(next_url), now)
        values = {**again(""), "pending": pending}
        return await _answer(request, 200, values)
    label = devices.label(request.headers.get("user-agent", ""))
    cookie, csrf = await state.signin.complete(verified, now, label)
    return signed_in_response(request, staff, cookie, csrf, safe_next(next_url), dialog)


async def login_code(request: Request) -> Response:
    """The second step: a code from the authenticator app, or a recovery code."""
    state = ctx(request)
    form = await staff_form(request)
    dialog = form.get("via") == "dialog"
    now = state.clock()
    pending = state.signin.read_pending(form.get("pending", ""), now)
    if pending is None:
        values = _login_values(request, dialog=dialog, error=PENDING_GONE)
        return await _answer(request, 400, values)
    typed = form.get("code", "")[:64]
    label = devices.label(request.headers.get("user-agent", ""))
    result = await state.signin.check_code(pending, typed, _attempt(request, ""), now, label)
    if result.outcome is CodeOutcome.SIGNED_IN and result.staff is not None:
        return signed_in_response(
            request, result.staff, result.cookie, result.csrf, safe_next(pending.next_url), dialog
        )
    if result.outcome is CodeOutcome.GONE:
        values = _login_values(request, dialog=dialog, error=PENDING_GONE)
        return await _answer(request, 400, values)
    values = _login_values(
        request, dialog=dialog, next_url=pending.next_url, pending=form.get("pending", "")
    )
    if result.outcome is CodeOutcome.REFUSED:
        values["error"] = _refused_message(result.retry_after)
        headers = {"Retry-After": str(result.retry_after)}
        return await _answer(request, 429, values, headers)
    values["error"] = CODE_ERROR
    return await _answer(request, 400, values)


def signed_in_response(
    request: Request, staff: Staff, cookie: str, csrf: str, next_url: str, dialog: bool
) -> Response:
    """Set the session cookie and renew the device cookie; go on (or close the dialog)."""
    state = ctx(request)
    if dialog:
        response: Response = template_response(request, "staff/_reauth_done.html", {"csrf": csrf})
    else:
        response = RedirectResponse(next_url, status_code=303)
    https = state.settings.https_only
    response.set_cookie(
        cookie_name(request), cookie, httponly=True, samesite="lax", secure=https, path="/"
    )
    now = state.clock()
    entries = state.devices.read(request.cookies.get(device_cookie_name(request)), now)
    response.set_cookie(
        device_cookie_name(request),
        state.devices.issue(entries, staff.id, now),
        max_age=devices.max_age_seconds(),
        httponly=True,
        samesite="strict",
        secure=https,
        path="/",
    )
    return staff_headers(response)


@require_staff_during_setup
async def logout(request: Request) -> Response:
    """End the session at once: the cookie stops working even if it was copied."""
    state = ctx(request)
    await state.sessions.sign_out(signed_in(request), state.clock())
    response = RedirectResponse("/staff/login", status_code=303)
    response.delete_cookie(
        cookie_name(request),
        path="/",
        secure=state.settings.https_only,
        httponly=True,
        samesite="lax",
    )
    if is_htmx(request):
        response.headers["HX-Redirect"] = "/staff/login"
    return response


routes = [
    Route("/staff/login", login_page, methods=["GET"], name="staff_login"),
    Route("/staff/login", login, methods=["POST"], name="staff_login_post"),
    Route("/staff/login/code", login_code, methods=["POST"], name="staff_login_code"),
    Route("/staff/logout", logout, methods=["POST"], name="staff_logout"),
]
