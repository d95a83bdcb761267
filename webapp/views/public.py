"""The public pages: short handlers that parse, call and render."""

from __future__ import annotations

import logging
from xml.sax.saxutils import escape

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from webapp.hours import status_at
from webapp.seo import article_jsonld, clinic_jsonld
from webapp.views.common import banner_context, canonical_url, render, schedule_now, upcoming
from webapp.views.consultation import FORM_PAGE, form_context

log = logging.getLogger(__name__)
STATES = {"open", "closing_soon", "closed"}
ARTICLE_SLUG = "does-ketamine-treat-depression"


async def home(request: Request) -> Response:
    """The home page: who the clinic is, what it treats, how to start."""
    now, schedule = await schedule_now(request)
    today = now.astimezone(schedule.tz).date()
    base = canonical_url(request, "")
    return await render(
        request,
        "home.html",
        {
            "article": request.app.state.articles.get(ARTICLE_SLUG),
            "jsonld": clinic_jsonld(request.app.state.clinic, base, upcoming(schedule, today)),
            **form_context(request),
        },
        headers=FORM_PAGE,
    )


async def article_index(request: Request) -> Response:
    """All articles, newest first."""
    return await render(request, "articles.html", {"articles": request.app.state.articles.all()})


async def article(request: Request) -> Response:
    """One article rendered from its Markdown file."""
    found = request.app.state.articles.get(request.path_params["slug"])
    if found is None:
        raise HTTPException(404)
    url = canonical_url(request)
    return await render(
        request,
        "article.html",
        {
            "article": found,
            "jsonld": article_jsonld(found, url, canonical_url(request, "")),
            **form_context(request),
        },
        headers=FORM_PAGE,
    )


async def clinic_page(request: Request) -> Response:
    """Address, directions, weekly hours and the closures ahead."""
    now, schedule = await schedule_now(request)
    today = now.astimezone(schedule.tz).date()
    ahead = upcoming(schedule, today)
    base = canonical_url(request, "")
    return await render(
        request,
        "clinic.html",
        {
            "closures": ahead,
            "jsonld": clinic_jsonld(request.app.state.clinic, base, ahead),
        },
    )


async def privacy(request: Request) -> Response:
    """What the consultation form collects and what happens to it."""
    return await render(request, "privacy.html")


async def open_status(request: Request) -> Response:
    """The open-now banner fragment, fresh on every request."""
    now, schedule = await schedule_now(request)
    status = status_at(now, schedule)
    was = request.query_params.get("was")
    context = banner_context(now, status, was if was in STATES else None)
    return request.app.state.templates.TemplateResponse(
        request,
        "_open_status.html",
        context,
        headers={"Cache-Control": "no-store"},
    )


async def healthz(request: Request) -> Response:
    """Liveness and database check for monitors (JSON)."""
    try:
        ok = await request.app.state.db.check()
    except Exception:  # any database failure means unhealthy, never a traceback
        log.exception("health check failed")
        ok = False
    body = {"status": "ok" if ok else "error", "database": "ok" if ok else "unavailable"}
    return JSONResponse(body, status_code=200 if ok else 503, headers={"Cache-Control": "no-store"})


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
    entries = [(canonical_url(request, path), None) for path in ("/", "/clinic", "/privacy")]
    entries.append((canonical_url(request, "/articles/"), None))
    for item in request.app.state.articles.all():
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
