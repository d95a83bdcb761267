"""The consultation form: one fragment for the page, the inline htmx swap and no-JS posts."""

from __future__ import annotations

import hashlib
import logging
import math
from datetime import UTC, datetime, timedelta
from typing import Any

import aiosqlite
from itsdangerous import BadSignature, URLSafeSerializer
from starlette.datastructures import Secret
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from webapp import drafts
from webapp.consultations import (
    BEST_TIMES,
    CONTACT_METHODS,
    FORM_FIELDS,
    PERSON_FIELDS,
    FormSpent,
    RateLimited,
    Stored,
    store,
    validate,
)
from webapp.context import ctx
from webapp.hours import Schedule, format_reply_by, reply_by
from webapp.pagecache import Built
from webapp.security import BadToken, ExpiredToken
from webapp.spam import automated_signal
from webapp.storage import StorageUnavailable
from webapp.throttle import Limit
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
# Seconds a visitor is asked to wait when the site cannot save anything (a storage fault).
UNAVAILABLE_RETRY = 60
# A page with a form carries a single-use token: no cache (shared, or the browser's own on
# Back) may hand the same token out twice.
FORM_PAGE = {"Cache-Control": "no-store"}
NO_STORE = {"Vary": "HX-Request", "Cache-Control": "no-store"}
NOTICES = {
    "expired": "This form was open for a long time, so for your safety it needs to be sent "
    "again. Your details are still here: check them and press Send request.",
    "invalid": "We could not verify this form. Your details are still here: please press "
    "Send request again.",
    # The rate limit's own box (_consultation_form.html) adds when to try again and the phone.
    "rate": "We have received several requests from this internet connection in a short time "
    "(people who share a network, such as a household, count together). "
    "Your details are still here.",
    "gone": "The details typed on this page are no longer kept: they are deleted once a "
    "request is sent, or after 10 minutes. If you sent your request, you do not need to "
    "send it again.",
    "unavailable": "Your request was not sent: the site cannot save anything just now. Your "
    "details are still here: please press Send request again in a few minutes.",
}
# Drafts kept per client (no-JS error pages); past this the page is shown without a redirect.
DRAFT_LIMIT = Limit("consultation-draft", 30, timedelta(minutes=10))


def retry_words(seconds: int) -> str:
    """When a rate-limited visitor may send again: "now", "in a minute", "in about 9 minutes"."""
    if seconds <= 0:
        return "now"
    minutes = -(-seconds // 60)
    return "in a minute" if minutes == 1 else f"in about {minutes} minutes"


def form_context(
    request: Request,
    token: str,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    notice: str | None = None,
    *,
    draft: str = "",
    retry: int = 0,
) -> dict[str, Any]:
    """Template values for _consultation_form.html around the given token."""
    return {
        "form": {
            "typed": {k: v for k, v in (values or {}).items() if k in PERSON_FIELDS},
            "errors": errors or {},
            "notice": NOTICES.get(notice or ""),
            "notice_kind": notice or "",
            "retry": retry_words(retry),
            "draft": draft,
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
    status: int, retry: int = 0,
) -> Response:  # fmt: skip
    """The form back with what was typed: a fragment for htmx; without JavaScript a 303 to a
    page that shows it (Post/Redirect/Get, so Back never offers to resend a form)."""
    app = ctx(request)
    headers = {**NO_STORE, **({"Retry-After": str(retry)} if retry else {})}
    # When nothing can be saved, no draft can be either: the form is answered directly.
    if not is_htmx(request) and notice != "unavailable":
        now = app.clock()
        limit, client = DRAFT_LIMIT, client_key(request)

        async def admit(conn: aiosqlite.Connection) -> bool:
            return await app.throttle.reserve(conn, limit, client, now) is not None

        retry_at = now + timedelta(seconds=retry) if notice == "rate" else None
        try:
            draft_id = await drafts.save(
                app.db, values, PERSON_FIELDS, now, notice, retry_at, admit=admit
            )
        except StorageUnavailable:  # cannot keep a draft: answer with the form itself
            draft_id = None
        if draft_id is not None:
            if values.get("draft"):  # sent again from a kept draft: the new one replaces it
                await drafts.discard(app.db, values["draft"])
            url = request.app.url_path_for("consultation_details", draft_id=draft_id)
            return RedirectResponse(url, status_code=303, headers=NO_STORE)
    # Only a forged token gets a normally dated one: bots must not learn a shortcut.
    token = fresh_token(request, resubmit=notice != "invalid")
    # A kept draft stays named in the form, so sending it at last still forgets it.
    draft = values.get("draft", "")
    context = form_context(
        request, token, values, errors, notice, retry=retry,
        draft=draft if drafts.is_id(draft) else "",
    )  # fmt: skip
    if is_htmx(request):
        return template_response(
            request, "_consultation_form.html", context, status_code=status, headers=headers
        )
    return await render(request, "consultation.html", context, status_code=status, headers=headers)


async def consultation_details(request: Request) -> Response:
    """The no-JavaScript form shown again from a kept draft (the 303 target of an error)."""
    app = ctx(request)
    draft_id = request.path_params["draft_id"]
    now = app.clock()
    draft = await drafts.load(app.db, draft_id, now)
    if draft is None:
        context = form_context(request, fresh_token(request), notice="gone")
    else:
        errors = {} if draft.notice else validate(draft.values)[1]
        retry = 0
        if draft.retry_at is not None:
            retry = max(0, math.ceil((draft.retry_at - now).total_seconds()))
        token = fresh_token(request, resubmit=draft.notice != "invalid")
        context = form_context(
            request, token, draft.values, errors, draft.notice, draft=draft_id, retry=retry
        )
    return await render(
        request, "consultation.html", {**context, "robots": "noindex"}, headers=NO_STORE
    )


async def _done_context(
    request: Request, stored: Stored, current: tuple[datetime, Schedule] | None = None
) -> dict[str, Any]:
    """The confirmation's values; `current`: the instant and schedule the caller has."""
    now, schedule = current or await schedule_now(request)
    by = stored.reply_by
    # Day words ("today") are relative to when the page is read; once past, the date is given.
    relative_to = now if by is None or by > now else None
    return {
        "done": {
            "reference": stored.reference,
            "reply": format_reply_by(by, schedule.tz, relative_to),
            "method": stored.contact_method,
        }
    }


async def _confirmed(
    request: Request, stored: Stored, current: tuple[datetime, Schedule]
) -> Response:
    if not is_htmx(request):
        by = stored.reply_by.timestamp() if stored.reply_by is not None else None
        token = ctx(request).done_tokens.dumps(
            {
                "r": stored.reference,
                "t": stored.created_at.timestamp(),
                "m": stored.contact_method,
                "b": by,
            }
        )
        return RedirectResponse(
            request.app.url_path_for("consultation_done") + "?c=" + token,
            status_code=303,
            headers=NO_STORE,
        )
    context = await _done_context(request, stored, current)
    app = ctx(request)
    if app.settings.debug:  # templates are re-read when edited: no memory of them
        return template_response(request, "_consultation_done.html", context, headers=NO_STORE)
    done = context["done"]

    def build(stand_in: str) -> str:
        values = {"request": request, "done": {**done, "reference": stand_in}}
        return app.templates.get_template("_consultation_done.html").render(values)

    # The same for every request with this promise, but for its reference (AKI-XXXXX).
    html = app.confirmations.render((done["reply"], done["method"]), build, stored.reference)
    return HTMLResponse(html, headers=NO_STORE)


async def submit_consultation(request: Request) -> Response:
    """Check and store a request; answer with the confirmation or the form again.

    Every valid request is stored. One that looks automated is stored flagged as suspected
    spam, and its sender gets exactly the answer anyone else would.
    """
    state = ctx(request)
    values = await _read(request)
    now = state.clock()
    try:
        token = state.form_tokens.read(values.get("token", ""), now)
    except ExpiredToken:
        return await _form_again(request, values, {}, "expired", 422)
    except BadToken:
        return await _form_again(request, values, {}, "invalid", 422)
    submission, errors = validate(values)
    if submission is None:
        return await _form_again(request, values, errors, None, 422)
    signal = automated_signal(values, token.age, state.settings.min_submit_seconds)
    current = await schedule_now(request)
    schedule = current[1]
    client = client_key(request)
    origin = f"{request.url.scheme}://{request.url.netloc}"
    admit, flood = state.intake.checks(client, now)
    try:
        stored = await store(
            state.db, submission, token.nonce, now, admit,
            reply_by=reply_by(now, schedule), signal=signal, flood=flood,
            after_insert=state.notifier.after_request(origin, now),
            write=state.consultation_writes.write,
        )  # fmt: skip
    except RateLimited:
        retry = await state.intake.retry_after(client, now)
        return await _form_again(request, values, {}, "rate", 429, retry)
    except FormSpent:  # its request was deleted since: sending it again is a new decision
        return await _form_again(request, values, {}, "expired", 422)
    except StorageUnavailable:  # logged once by the database; the visitor keeps the text
        return await _form_again(request, values, {}, "unavailable", 503, UNAVAILABLE_RETRY)
    if not stored.replayed:
        # No reference: with the access line beside it, it would tie a request to an address.
        state.mailer.wake()  # its mails are in the outbox now
        flag = f" (suspected spam: {stored.suspected_spam})" if stored.suspected_spam else ""
        log.info("a consultation request was stored%s", flag)
    if values.get("draft"):
        await drafts.discard(state.db, values["draft"])
    return await _confirmed(request, stored, current)


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
        created = datetime.fromtimestamp(float(data["t"]), UTC)
        if "b" in data:
            by = None if data["b"] is None else datetime.fromtimestamp(float(data["b"]), UTC)
        else:  # a link made before the promise was kept in it
            by = reply_by(created, (await schedule_now(request))[1])
        stored = Stored(str(data["r"]), created, str(data["m"]), by)
    except (BadSignature, KeyError, TypeError, ValueError, OverflowError, OSError):
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
    Route(
        "/consultation/details/{draft_id}",
        consultation_details,
        methods=["GET"],
        name="consultation_details",
    ),  # fmt: skip
]
