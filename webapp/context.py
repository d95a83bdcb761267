"""The application context: every service the views use, typed, built once in `create_app`.

Views reach it through `ctx(request)`; mypy then checks each use. Nothing here does I/O at
import time.
"""

from __future__ import annotations

from dataclasses import dataclass

from itsdangerous import URLSafeSerializer
from starlette.requests import Request
from starlette.templating import Jinja2Templates

from webapp.auth import Hasher, Sessions
from webapp.clinic import Clinic
from webapp.clock import Clock, SeenRecently
from webapp.content import ArticleStore
from webapp.db import Database
from webapp.devices import DeviceCookies
from webapp.groupcommit import GroupCommit
from webapp.health import Health
from webapp.jobs import Jobs
from webapp.mailer import Mailer
from webapp.mfa import SetupTokens
from webapp.notifications import Notifier
from webapp.pagecache import (
    ArticleVersion,
    ClosureCache,
    PageCache,
    ResponseMemo,
    SplicedFragments,
)
from webapp.security import FormTokens
from webapp.settings import Settings
from webapp.signin import SignIn
from webapp.spam import Intake
from webapp.static import StaticAssets
from webapp.throttle import Limit, Throttle


@dataclass(frozen=True)
class AppContext:
    """The services of one running app."""

    settings: Settings
    clock: Clock
    db: Database
    clinic: Clinic
    static: StaticAssets
    templates: Jinja2Templates
    articles: ArticleStore
    article_version: ArticleVersion
    closure_cache: ClosureCache
    page_cache: PageCache
    dashboard_memo: ResponseMemo
    # The consultation's confirmation fragment, rendered once per promise (views/consultation).
    confirmations: SplicedFragments
    # Searches already audited (per session and query, for a while): live search re-asks.
    searches_audited: SeenRecently
    form_tokens: FormTokens
    done_tokens: URLSafeSerializer
    consultation_limit: Limit
    throttle: Throttle
    jobs: Jobs
    hasher: Hasher
    sessions: Sessions
    login_tokens: FormTokens
    intake: Intake
    signin: SignIn
    devices: DeviceCookies
    mfa_setup: SetupTokens
    health: Health
    # Mail: who is told what (into the outbox), and the outbox's sender.
    notifier: Notifier
    mailer: Mailer
    # New consultation requests, stored in shared transactions (webapp/groupcommit.py).
    consultation_writes: GroupCommit


def of(app: object) -> AppContext:
    """The context of an app made by `create_app`."""
    found = getattr(app, "ctx", None)
    if not isinstance(found, AppContext):
        raise RuntimeError("this app was not made by webapp.app.create_app")
    return found


def ctx(request: Request) -> AppContext:
    """The context of the app serving this request."""
    return of(request.app)
