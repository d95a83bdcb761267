"""Staff sign-in and sign-out, and the guard every other /staff route sits behind."""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from urllib.parse import urlencode, urlsplit

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from webapp import auth
from webapp.auth import Session, Staff, csrf_matches, find_staff, replace_hash
from webapp.context import ctx
from webapp.security import BadToken, ExpiredToken
from webapp.views.common import client_key, is_htmx, render
from webapp.views.forms import Fields, read_form

log = logging.getLogger(__name__)
Handler = Callable[[Request], Awaitable[Response]]
STAFF_HEADERS = {"Cache-Control": "no-store", "X-Robots-Tag": "noindex, nofollow"}
LOGIN_ERROR = "That email and password do not match an active account."
MAX_FIELD = 512


def cookie_name(request: Request) -> str:
    """__Host- cookies are pinned to this host over HTTPS; plain name for local HTTP."""
    return "__Host-aki_staff" if ctx(request).settings.https_only else "aki_staff"


async def current_session(request: Request) -> Session | None:
    """The signed-in staff session for this request, loaded once."""
    if "staff_session" not in request.scope:
        app = ctx(request)
        cookie = request.cookies.get(cookie_name(request))
        request.scope["staff_session"] = await app.sessions.load(cookie, app.clock())
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


def _staff_headers(response: Response) -> Response:
    for name, value in STAFF_HEADERS.items():
        response.headers[name] = value
    return response


def require_staff(handler: Handler) -> Handler:
    """Refuse anonymous requests: login redirect (full page) or HX-Redirect (htmx)."""

    @functools.wraps(handler)
    async def guarded(request: Request) -> Response:
        session = await current_session(request)
        if session is None:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            if request.method != "GET":
                target = "/staff"
            if is_htmx(request):
                # Come back to the page the fragment was part of, not to the fragment.
                current = request.headers.get("hx-current-url")
                if current:
                    page = urlsplit(current)
                    target = page.path + (f"?{page.query}" if page.query else "")
                login = "/staff/login?" + urlencode({"next": safe_next(target)})
                return _staff_headers(Response(status_code=401, headers={"HX-Redirect": login}))
            login = "/staff/login?" + urlencode({"next": safe_next(target)})
            return _staff_headers(RedirectResponse(login, status_code=303))
        if request.method not in ("GET", "HEAD"):
            await check_csrf(request, session)
        return _staff_headers(await handler(request))

    return guarded


async def staff_form(request: Request) -> Fields:
    """A staff form's fields (same origin, url-encoded, UTF-8, each name once)."""
    return await read_form(request, ctx(request).settings.base_url)


async def check_csrf(request: Request, session: Session) -> None:
    """Unsafe staff requests need this session's token and a same-origin browser context."""
    submitted = (await staff_form(request)).get("csrf")
    if not csrf_matches(session, submitted):
        raise HTTPException(403, "This form has expired. Reload the page and try again.")


async def login_page(request: Request) -> Response:
    """The sign-in form; signed-in staff go straight on."""
    if await current_session(request) is not None:
        return _staff_headers(RedirectResponse(safe_next(request.query_params.get("next")), 303))
    return await _login_form(request, 200)


async def _login_form(
    request: Request,
    status: int,
    error: str = "",
    email: str = "",
    headers: dict[str, str] | None = None,
    next_url: str | None = None,
) -> Response:
    state = ctx(request)
    context = {
        "login": {
            "token": state.login_tokens.issue(state.clock()),
            "next": safe_next(next_url or request.query_params.get("next")),
            "error": error,
            "email": email,
        },
        "robots": "noindex, nofollow",
    }
    response = await render(request, "staff/login.html", context, status_code=status,
                            headers=headers)  # fmt: skip
    return _staff_headers(response)


async def login(request: Request) -> Response:
    """Check credentials; one message for every failure; throttle repeated failures."""
    state = ctx(request)
    form = await staff_form(request)
    email = form.get("email", "").strip()[:MAX_FIELD]
    password = form.get("password", "")[:MAX_FIELD]
    now = state.clock()
    try:
        state.login_tokens.read(form.get("token", ""), now)
    except (BadToken, ExpiredToken):
        return await _login_form(request, 400, "The sign-in form had expired. Please try again.",
                                 email, next_url=form.get("next"))  # fmt: skip
    account_key, client = email.lower(), client_key(request)
    limits = state.login_limits
    if limits.account.blocked(account_key) or limits.client.blocked(client):
        wait = max(limits.account.retry_after(account_key), limits.client.retry_after(client))
        # One audit entry per lock-out, not per refused attempt (the trail is append-only).
        if limits.noted.hit(f"{account_key}|{client}"):
            await auth.record_refusal(state.db, email, client, now, locked=True)
            log.warning("staff sign-in refused after repeated failures")
        message = f"Too many failed attempts. Try again in {max(1, wait // 60)} minutes."
        return await _login_form(
            request, 429, message, email, {"Retry-After": str(wait)}, next_url=form.get("next")
        )
    found = await find_staff(state.db, email) if email else None
    ok = await state.hasher.verify(found[1] if found else None, password)
    if not ok or found is None or not found[0].active:
        limits.account.hit(account_key)
        limits.client.hit(client)
        await auth.record_refusal(state.db, email, client, now)
        return await _login_form(request, 400, LOGIN_ERROR, email, next_url=form.get("next"))
    staff = found[0]
    if state.hasher.needs_rehash(found[1]):
        await replace_hash(state.db, staff.id, state.hasher.hash_sync(password), now)
    cookie, _csrf = await state.sessions.start(staff, now)
    response = RedirectResponse(safe_next(form.get("next")), status_code=303)
    response.set_cookie(
        cookie_name(request), cookie, httponly=True, samesite="lax",
        secure=state.settings.https_only, path="/",
    )  # fmt: skip
    return _staff_headers(response)


@require_staff
async def logout(request: Request) -> Response:
    """End the session at once: the cookie stops working even if it was copied."""
    state = ctx(request)
    await state.sessions.sign_out(signed_in(request), state.clock())
    response = RedirectResponse("/staff/login", status_code=303)
    response.delete_cookie(cookie_name(request), path="/", secure=state.settings.https_only,
                           httponly=True, samesite="lax")  # fmt: skip
    if is_htmx(request):
        response.headers["HX-Redirect"] = "/staff/login"
    return response


routes = [
    Route("/staff/login", login_page, methods=["GET"], name="staff_login"),
    Route("/staff/login", login, methods=["POST"], name="staff_login_post"),
    Route("/staff/logout", logout, methods=["POST"], name="staff_logout"),
]
