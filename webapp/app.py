"""The application factory: everything is built here, nothing at import time."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime, time, timedelta
from typing import Any

import anyio
import jinja2
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp

from webapp import backups, drafts, housekeeping, notifications, privacy, retention, spam
from webapp.accesslog import AccessLog, AccessLogMiddleware
from webapp.auth import Hasher, Sessions
from webapp.clinic import load_clinic
from webapp.clock import Clock, SeenRecently, system_clock
from webapp.content import ArticleStore
from webapp.context import AppContext
from webapp.db import Database, migrate, parse_utc, utc_now_iso
from webapp.devices import DeviceCookies
from webapp.fastpath import FastPath
from webapp.groupcommit import GroupCommit
from webapp.health import Health
from webapp.hours import format_date, format_time
from webapp.https import HttpsRedirectMiddleware
from webapp.jobs import Jobs
from webapp.mailer import Mailer
from webapp.mfa import SetupTokens
from webapp.pagecache import (
    ArticleVersion,
    ClosureCache,
    PageCache,
    ResponseMemo,
    SplicedFragments,
)
from webapp.security import (
    BodyLimitMiddleware,
    FormTokens,
    SecurityMiddleware,
    security_headers,
)
from webapp.server import RequestGuard
from webapp.settings import Settings
from webapp.signin import SignIn
from webapp.static import StaticAssets
from webapp.throttle import Limit, Throttle
from webapp.views import account, accounts, consultation, errors, person, public, staff, staff_auth
from webapp.views import hours as hours_views
from webapp.views import queue as queue_views

log = logging.getLogger("webapp")


class ClinicApp(Starlette):
    """Starlette with the app's typed context and the security layer outside everything
    (its own 500 page included), the request guard outside that, and the access log and
    the short path for cached pages outermost."""

    ctx: AppContext
    # The server's access log (None: no access lines, as in tests through the ASGI app).
    access_log: AccessLog | None = None

    def build_middleware_stack(self) -> ASGIApp:
        """Wrap the whole stack so even ServerErrorMiddleware's responses get the headers."""
        settings = self.ctx.settings
        inner = HttpsRedirectMiddleware(super().build_middleware_stack(), settings.https_only)
        secured = SecurityMiddleware(inner, settings)
        guarded = RequestGuard(secured, settings.body_timeout_seconds, security_headers(settings))
        # In front of it all: one cheap access line per request, and cached public pages
        # answered before any of the layers above (webapp/fastpath.py).
        log = self.access_log
        logged = guarded if log is None else AccessLogMiddleware(guarded, log)
        return FastPath(logged, self.ctx, log)


def _url_path_function() -> Callable[..., str]:
    """`url_for` for templates: root-relative paths, each looked up once (routes are fixed,
    and a dashboard page asks for dozens)."""
    known: dict[tuple[object, ...], str] = {}

    @jinja2.pass_context
    def url_path(context: jinja2.runtime.Context, name: str, /, **params: Any) -> str:
        key = (name, *sorted(params.items()))
        found = known.get(key)
        if found is None:
            found = str(context["request"].app.url_path_for(name, **params))
            if len(known) < 10_000:
                known[key] = found
        return found

    return url_path


def _clock_filter(value: time | datetime) -> str:
    """A clock time (or a datetime's, in its own zone) as hours.format_time writes it."""
    return format_time(value.time() if isinstance(value, datetime) else value)


def _html_instant(stored: str) -> str:
    """A stored UTC timestamp ("...T15:30:10.000000Z") as a valid HTML datetime value, which
    allows at most three digits of a second: "2026-12-01T15:30:10Z"."""
    return utc_now_iso(parse_utc(stored)).split(".")[0] + "Z"


def make_templates(settings: Settings, static: StaticAssets) -> Jinja2Templates:
    """A Jinja environment that escapes everything and compiles each template once."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(settings.templates_dir),
        autoescape=True,
        auto_reload=settings.debug,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["static_url"] = static.url_path
    # The favicon rides inside the page: one request fewer on a first visit.
    env.globals["inline_url"] = static.data_url
    # One way of writing times and dates on every page: "12:00 noon", "Thursday, December 24".
    env.filters["clock"] = _clock_filter
    env.filters["long_date"] = format_date
    env.filters["html_instant"] = _html_instant
    # Root-relative links: the page works behind any host name or proxy.
    env.globals["url_for"] = _url_path_function()
    return Jinja2Templates(env=env)


def create_app(
    settings: Settings,
    *,
    clock: Clock = system_clock,
    access_log: AccessLog | None = None,
    on_started: Callable[[], None] | None = None,
) -> ClinicApp:
    """Build the app for the given settings; the lifespan opens and closes the database.

    `access_log`: where the server writes one line per request (webapp.accesslog).
    `on_started`: called once the app has started, before the first request (the server
    settles its memory there: webapp.server.settle_heap).
    """
    static = StaticAssets(settings.static_dir, settings.data_dir / "cache")
    db = Database(settings.database_path)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        applied = await anyio.to_thread.run_sync(migrate, settings.database_path, clock)
        for name in applied:
            log.info("applied migration %s", name)
        await db.open()
        if on_started is not None:
            on_started()
        try:
            async with anyio.create_task_group() as group:
                if settings.background_jobs:
                    group.start_soon(jobs.run_forever)
                    group.start_soon(mailer.run_forever)
                yield
                group.cancel_scope.cancel()
        finally:
            await db.close()

    app = ClinicApp(
        debug=False,
        routes=[
            *public.routes,
            *consultation.routes,
            *staff_auth.routes,
            *staff.routes,
            *queue_views.routes,
            *hours_views.routes,
            *account.routes,
            *accounts.routes,
            *person.routes,
            Mount("/static", app=static, name="static"),
        ],
        middleware=[Middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)],
        exception_handlers=errors.handlers,
        lifespan=lifespan,
    )
    app.access_log = access_log
    clinic = load_clinic(settings.clinic_file)
    templates = make_templates(settings, static)
    templates.env.globals["clinic"] = clinic
    templates.env.globals["kept"] = privacy.Kept.of(settings)
    limit, window = settings.consultation_limit
    throttle = Throttle(db, settings.secret_key)
    jobs = Jobs(db, clock, clinic.schedule.tz)
    jobs.add(housekeeping.job(db))
    jobs.add(drafts.job(db))
    notifier = notifications.Notifier(db, clinic, settings.base_url)
    mailer = Mailer(db, clock, settings.smtp)
    jobs.add(notifier.digest_job())
    jobs.add(notifications.outbox_prune_job(db))
    jobs.add(retention.job(db, settings.retention_days, timedelta(days=settings.backup_keep)))
    jobs.add(retention.wal_job(db))
    per_client = Limit(spam.BUCKET, limit, timedelta(seconds=window))
    flood, flood_window = settings.consultation_flood
    hasher = Hasher(fast=settings.fast_password_hashing)
    sessions = Sessions(db, settings.secret_keys)
    backup_job = backups.daily_job(settings, clock)
    if backup_job is not None:
        jobs.add(backup_job)
    app.ctx = AppContext(
        settings=settings,
        clock=clock,
        db=db,
        clinic=clinic,
        static=static,
        templates=templates,
        articles=ArticleStore(settings.articles_dir, clinic.name),
        article_version=ArticleVersion(settings.articles_dir, clock),
        closure_cache=ClosureCache(db, clock),
        page_cache=PageCache(security_headers(settings)),
        dashboard_memo=ResponseMemo(),
        confirmations=SplicedFragments(),
        searches_audited=SeenRecently(clock, timedelta(minutes=10)),
        form_tokens=FormTokens(
            settings.secret_keys,
            "consultation-form",
            timedelta(seconds=settings.form_max_age_seconds),
        ),
        done_tokens=consultation.done_serializer(settings.secret_keys),
        consultation_limit=per_client,
        throttle=throttle,
        jobs=jobs,
        hasher=hasher,
        sessions=sessions,
        login_tokens=FormTokens(settings.secret_keys, "staff-login", timedelta(hours=12)),
        intake=spam.Intake(
            throttle,
            per_client,
            Limit("consultation-flood", flood, timedelta(seconds=flood_window)),
        ),
        signin=SignIn(db, throttle, hasher, sessions, settings.secret_keys),
        devices=DeviceCookies(settings.secret_keys),
        mfa_setup=SetupTokens(settings.secret_keys),
        notifier=notifier,
        mailer=mailer,
        health=Health(db, clock),
        consultation_writes=GroupCommit(db, enabled=settings.group_commit),
    )
    return app
