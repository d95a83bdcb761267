"""The application factory: everything is built here, nothing at import time."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import anyio
import jinja2
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp

from webapp.auth import LOGIN_FAILURES, LOGIN_WINDOW, Hasher, Sessions
from webapp.clinic import load_clinic
from webapp.content import ArticleStore
from webapp.db import Database, migrate
from webapp.pagecache import ArticleVersion, ClosureCache, PageCache, ResponseMemo
from webapp.ratelimit import SlidingWindow
from webapp.security import BodyLimitMiddleware, FormTokens, SecurityMiddleware
from webapp.settings import Settings
from webapp.static import StaticAssets
from webapp.views import consultation, errors, public, staff, staff_auth

log = logging.getLogger("webapp")
Clock = Callable[[], datetime]


def system_clock() -> datetime:
    """The real time, in UTC."""
    return datetime.now(UTC)


class ClinicApp(Starlette):
    """Starlette with the security layer outside everything, its own 500 page included."""

    def build_middleware_stack(self) -> ASGIApp:
        """Wrap the whole stack so even ServerErrorMiddleware's responses get the headers."""
        return SecurityMiddleware(super().build_middleware_stack(), self.state.settings)


def _url_path_function() -> Callable[..., str]:
    """`url_for` for templates: root-relative paths, each looked up once (routes are fixed,
    and a dashboard page asks for dozens)."""
    known: dict[tuple, str] = {}

    @jinja2.pass_context
    def url_path(context: dict, name: str, /, **params: object) -> str:
        key = (name, *sorted(params.items()))
        found = known.get(key)
        if found is None:
            found = str(context["request"].app.url_path_for(name, **params))
            if len(known) < 10_000:
                known[key] = found
        return found

    return url_path


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
    # Root-relative links: the page works behind any host name or proxy.
    env.globals["url_for"] = _url_path_function()
    return Jinja2Templates(env=env)


def create_app(settings: Settings, *, clock: Clock = system_clock) -> Starlette:
    """Build the app for the given settings; the lifespan opens and closes the database."""
    static = StaticAssets(settings.static_dir)
    db = Database(settings.database_path)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        applied = await anyio.to_thread.run_sync(migrate, settings.database_path)
        for name in applied:
            log.info("applied migration %s", name)
        await db.open()
        try:
            yield
        finally:
            await db.close()

    app = ClinicApp(
        debug=False,
        routes=[
            *public.routes,
            *consultation.routes,
            *staff_auth.routes,
            *staff.routes,
            Mount("/static", app=static, name="static"),
        ],
        middleware=[Middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)],
        exception_handlers=errors.handlers,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.db = db
    app.state.clock = clock
    app.state.clinic = load_clinic(settings.clinic_file)
    app.state.articles = ArticleStore(settings.articles_dir)
    app.state.article_version = ArticleVersion(settings.articles_dir)
    app.state.closure_cache = ClosureCache(db)
    app.state.page_cache = PageCache()
    app.state.dashboard_memo = ResponseMemo()
    app.state.templates = make_templates(settings, static)
    app.state.templates.env.globals["clinic"] = app.state.clinic
    app.state.form_tokens = FormTokens(
        settings.secret_keys, "consultation-form", timedelta(seconds=settings.form_max_age_seconds)
    )
    app.state.done_tokens = consultation.done_serializer(settings.secret_keys)
    limit, window = settings.consultation_limit
    app.state.consultation_limiter = SlidingWindow(limit, window, clock)
    app.state.hasher = Hasher(fast=settings.fast_password_hashing)
    app.state.sessions = Sessions(db, settings.secret_keys)
    app.state.login_tokens = FormTokens(settings.secret_keys, "staff-login", timedelta(hours=12))
    app.state.login_limits = SimpleNamespace(
        account=SlidingWindow(LOGIN_FAILURES, LOGIN_WINDOW, clock),
        client=SlidingWindow(LOGIN_FAILURES, LOGIN_WINDOW, clock),
        noted=SlidingWindow(1, LOGIN_WINDOW, clock),
    )
    return app
