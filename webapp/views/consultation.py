"""The consultation form: one fragment for the page, the inline htmx swap and no-JS posts."""

from __future__ import annotations

import hashlib
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import aiosqlite
from itsdangerous import BadSignature, URLSafeSerializer
from starlette.datastructures import Secret
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from webapp.consultations import (
    BEST_TIMES,
    CONTACT_METHODS,
    FORM_FIELDS,
    HONEYPOT,
    PERSON_FIELDS,
    RateLimited,
    Stored,
    new_reference,
    store,
    validate,
)
from webapp.context import ctx
from webapp.hours import reply_window
from webapp.pagecache import Built
from webapp.security import BadToken, ExpiredToken
from webapp.storage import StorageUnavailable
from webapp.views.common import (
    cached_page,
    client_key,
    is_htmx,
    render,
    render_shared,
    schedule_now,
    template_response,
)
from webapp.views.forms import read_form

log = logging.getLogger(__name__)
# A page with a form carries a single-use token: no cache (shared, or the browser's own on
# Back) may hand the same token out twice.
FORM_PAGE = {"Cache-Control": "no-store"}
NOTICES = {
    "expired": "This form was open for a long time, so for your safety it needs to be sent "
    "again. Your details are still here: check them and press Send request.",
    "invalid": "We could not verify this form. Your details are still here: please press "
    "Send request again.",
    "rate": "We have received several requests from you in a short time. Please wait a few "
    "minutes and try again. Your details are still here.",
    "unavailable": "Your request was not sent: the site cannot save anything just now. Your "
    "details are still here: please press Send request again in a few minutes.",
}


def form_context(
    request: Request,
    token: str,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    notice: str | None = None,
) -> dict[str, Any]:
    """Template values for _consultation_form.html around the given token."""
    return {
        "form": {
            "typed": {k: v for k, v in (values or {}).items() if k not in ("token", HONEYPOT)},
            "errors": errors or {},
            "notice": NOTICES.get(notice or ""),
            "token": token,
            "methods": CONTACT_METHODS,
            "times": BEST_TIMES,
        }
    }


def fresh_token(request: Request, *, resubmit: bool = False) -> str:
    """A new single-use token for a form sent to one visitor.

    `resubmit`: the form comes back to a person who already filled it in; they may press
    Send again at once, so the token is dated as if the form had been open long enough.
    """
    app = ctx(request)
    issued = app.clock()
    if resubmit:
        issued -= timedelta(seconds=app.settings.min_submit_seconds)
    return app.form_tokens.issue(issued)


async def _read(request: Request) -> dict[str, str]:
    fields = await read_form(
        request, ctx(request).settings.base_url, allowed=FORM_FIELDS, max_fields=len(FORM_FIELDS)
    )
    return dict(fields)


async def consultation_page(request: Request) -> Response:
    """The form on a page of its own."""

    async def build(token: str | None) -> Built:
        assert token is not None
        context = form_context(request, token)
        return await render_shared(request, "consultation.html", context, headers=FORM_PAGE)

    return await cached_page(request, "consultation", build, form=True)


async def _form_again(
    request: Request, values: dict[str, str], errors: dict[str, str], notice: str | None,
    status: int, headers: dict[str, str] | None = None,
) -> Response:  # fmt: skip
    # Only a forged token gets a normally dated one: bots must not learn a shortcut.
    token = fresh_token(request, resubmit=notice != "invalid")
    context = form_context(request, token, values, errors, notice)
    headers = {"Vary": "HX-Request", "Cache-Control": "no-store", **(headers or {})}
    if is_htmx(request):
        return template_response(
            request, "_consultation_form.html", context, status_code=status, headers=headers
        )
    return await render(request, "consultation.html", context, status_code=status, headers=headers)


async def _done_context(request: Request, stored: Stored) -> dict[str, Any]:
    _, schedule = await schedule_now(request)
    return {
        "done": {
            "reference": stored.reference,
            "reply": reply_window(stored.created_at, schedule),
            "method": stored.contact_method,
        }
    }


async def _confirmed(request: Request, stored: Stored) -> Response:
    if not is_htmx(request):
        token = ctx(request).done_tokens.dumps(
            {"r": stored.reference, "t": stored.created_at.timestamp(), "m": stored.contact_method}
        )
        return RedirectResponse(
            request.app.url_path_for("consultation_done") + "?c=" + token, status_code=303
        )
    return template_response(
        request,
        "_consultation_done.html",
        await _done_context(request, stored),
        headers={"Vary": "HX-Request", "Cache-Control": "no-store"},
    )


async def submit_consultation(request: Request) -> Response:
    """Check and store a request; answer with the confirmation or the form again."""
    state = ctx(request)
    values = await _read(request)
    now = state.clock()
    try:
        token = state.form_tokens.read(values.get("token", ""), now)
    except ExpiredToken:
        return await _form_again(request, values, {}, "expired", 422)
    except BadToken:
        return await _form_again(request, values, {}, "invalid", 422)
    if values.get(HONEYPOT) or token.age < timedelta(seconds=state.settings.min_submit_seconds):
        # Judged a bot: answer as if stored, store nothing.
        log.info("consultation form: automated submission ignored")
        fake = Stored(new_reference(), now, values.get("contact_method", "email"))
        return await _confirmed(request, fake)
    submission, errors = validate(values)
    if submission is None:
        return await _form_again(request, values, errors, None, 422)
    limit, client = state.consultation_limit, client_key(request)

    async def admit(conn: aiosqlite.Connection) -> bool:
        return await state.throttle.reserve(conn, limit, client, now) is not None

    try:
        stored = await store(state.db, submission, token.nonce, now, admit)
    except RateLimited:
        retry = str(await state.throttle.retry_after(limit, client, now))
        return await _form_again(request, values, {}, "rate", 429, {"Retry-After": retry})
    except StorageUnavailable:  # logged once by the database; the visitor keeps the text
        return await _form_again(request, values, {}, "unavailable", 503, {"Retry-After": "60"})
    if not stored.replayed:
        log.info("consultation request %s stored", stored.reference)
    return await _confirmed(request, stored)


async def check_consultation(request: Request) -> Response:
    """Re-check the fields that were wrong after a failed send (nothing is stored)."""
    values = await _read(request)
    names = request.query_params.get("fields", "").split(",")
    _, errors = validate(values)
    return template_response(
        request,
        "_consultation_feedback.html",
        {"fields": [name for name in PERSON_FIELDS if name in names], "errors": errors},
        headers={"Cache-Control": "no-store"},
    )


async def consultation_done(request: Request) -> Response:
    """The confirmation page after a no-JavaScript submission (303 target)."""
    try:
        data = ctx(request).done_tokens.loads(request.query_params.get("c", ""))
        stored = Stored(
            str(data["r"]), datetime.fromtimestamp(float(data["t"]), UTC), str(data["m"])
        )
    except (BadSignature, KeyError, TypeError, ValueError):
        return RedirectResponse(request.app.url_path_for("consultation"), status_code=303)
    context = await _done_context(request, stored)
    return await render(
        request, "consultation_done.html", {**context, "robots": "noindex"},
        headers={"Cache-Control": "no-store"},
    )  # fmt: skip


def done_serializer(keys: tuple[Secret, ...], salt: str = "consultation-done") -> URLSafeSerializer:
    """Signs the confirmation page's parameters so they cannot be forged or enumerated."""
    return URLSafeSerializer(
        [str(k) for k in reversed(keys)], salt=salt, signer_kwargs={"digest_method": hashlib.sha256}
    )


routes = [
    Route("/consultation", consultation_page, methods=["GET"], name="consultation"),
    Route("/consultation", submit_consultation, methods=["POST"], name="submit_consultation"),
    Route("/consultation/thanks", consultation_done, methods=["GET"], name="consultation_done"),
    Route("/consultation/check", check_consultation, methods=["POST"], name="check_consultation"),
]
