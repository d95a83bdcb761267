"""The public pages: short handlers that parse, call and render."""

from __future__ import annotations

import logging
from xml.sax.saxutils import escape

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from webapp.context import ctx
from webapp.hours import status_at
from webapp.pagecache import Built
from webapp.seo import article_jsonld, clinic_jsonld
from webapp.views.common import (
    banner_context,
    cache_until,
    cached_page,
    canonical_url,
    render_shared,
    schedule_now,
    template_response,
    upcoming,
)
from webapp.views.consultation import FORM_PAGE, form_context

log = logging.getLogger(__name__)
STATES = {"open", "closing_soon", "closed"}
# Pages without per-visitor content: browsers revalidate them (ETag) on each visit.
REVALIDATE = {"Cache-Control": "no-cache"}
ARTICLE_SLUG = "does-ketamine-treat-depression"


async def home(request: Request) -> Response:
    """The home page: who the clinic is, what it treats, how to start."""

    async def build(token: str | None) -> Built:
        assert token is not None
        now, schedule = await schedule_now(request)
        today = now.astimezone(schedule.tz).date()
        base = canonical_url(request, "")
        app = ctx(request)
        context = {
            "article": app.articles.get(ARTICLE_SLUG),
            "jsonld": clinic_jsonld(app.clinic, base, upcoming(schedule, today)),
            **form_context(request, token),
        }
        return await render_shared(request, "home.html", context, headers=FORM_PAGE)

    return await cached_page(request, "home", build, form=True)


async def article_index(request: Request) -> Response:
    """All articles, newest first."""

    async def build(_: str | None) -> Built:
        context = {"articles": ctx(request).articles.all()}
        return await render_shared(request, "articles.html", context, headers=REVALIDATE)

    return await cached_page(request, "articles", build)


async def article(request: Request) -> Response:
    """One article rendered from its Markdown file."""
    slug = request.path_params["slug"]
    found = ctx(request).articles.get(slug)
    if found is None:
        raise HTTPException(404)

    async def build(token: str | None) -> Built:
        assert token is not None
        url = canonical_url(request)
        context = {
            "article": found,
            "jsonld": article_jsonld(found, url, canonical_url(request, "")),
            **form_context(request, token),
        }
        return await render_shared(request, "article.html", context, headers=FORM_PAGE)

    return await cached_page(request, ("article", slug), build, form=True)


async def clinic_page(request: Request) -> Response:
    """Address, directions, weekly hours and the closures ahead."""

    async def build(_: str | None) -> Built:
        now, schedule = await schedule_now(request)
        ahead = upcoming(schedule, now.astimezone(schedule.tz).date())
        base = canonical_url(request, "")
        context = {
            "closures": ahead,
            "jsonld": clinic_jsonld(ctx(request).clinic, base, ahead),
        }
        return await render_shared(request, "clinic.html", context, headers=REVALIDATE)

    return await cached_page(request, "clinic", build)


async def privacy(request: Request) -> Response:
    """What the consultation form collects and what happens to it."""

    async def build(_: str | None) -> Built:
        return await render_shared(request, "privacy.html", headers=REVALIDATE)

    return await cached_page(request, "privacy", build)


async def open_status(request: Request) -> Response:
    """The open-now banner fragment; browsers never cache it, the server reuses it."""
    was = request.query_params.get("was")
    was = was if was in STATES else None

    async def build(_: str | None) -> Built:
        now, schedule = await schedule_now(request)
        status = status_at(now, schedule)
        response = template_response(
            request,
            "_open_status.html",
            banner_context(now, status, was),
            headers={"Cache-Control": "no-store"},
        )
        return Built(response, cache_until(status))

    return await cached_page(request, ("open-status", was), build)


async def healthz(request: Request) -> Response:
    """For monitors (JSON): 200 when the database takes a write now, else 503 with the reason."""
    report = await ctx(request).health.report()
    return JSONResponse(
        report.body(),
        status_code=200 if report.ok else 503,
        headers={"Cache-Control": "no-store"},
    )


async def robots(request: Request) -> Response:
    """Crawlers may index the public site, never the staff area."""
    text = (
        "User-agent: *\n"
        "Disallow: /staff\n"
        "Disallow: /open-status\n"
        f"Sitemap: {canonical_url(request, '/sitemap.xml')}\n"
    )
    return PlainTextResponse(text)


async def sitemap(request: Request) -> Response:
    """The public pages and every article, with their last changes."""
    entries: list[tuple[str, str | None]] = [
        (canonical_url(request, path), None) for path in ("/", "/clinic", "/privacy")
    ]
    entries.append((canonical_url(request, "/articles/"), None))
    for item in ctx(request).articles.all():
        url = canonical_url(request, request.url_for("article", slug=item.slug).path)
        entries.append((url, item.reviewed.isoformat()))
    lines = ['<?xml version="1.0" encoding="UTF-8"?>']
    lines.append('<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">')
    for loc, lastmod in entries:
        extra = f"<lastmod>{lastmod}</lastmod>" if lastmod else ""
        lines.append(f"  <url><loc>{escape(loc)}</loc>{extra}</url>")
    lines.append("</urlset>\n")
    return Response("\n".join(lines), media_type="application/xml")


routes = [
    Route("/", home, name="home"),
    Route("/articles/", article_index, name="articles"),
    Route("/articles/{slug}", article, name="article"),
    Route("/clinic", clinic_page, name="clinic"),
    Route("/privacy", privacy, name="privacy"),
    Route("/open-status", open_status, name="open_status"),
    Route("/healthz", healthz, name="healthz"),
    Route("/robots.txt", robots, name="robots"),
    Route("/sitemap.xml", sitemap, name="sitemap"),
]
