"""Every public page through the ASGI app: status, metadata, shared parts, content."""

from __future__ import annotations

import json
import re

import pytest

PAGES = [
    ("/", "Ketamine Infusions for Depression in Albany, NY"),
    ("/articles/", "Articles about depression and ketamine"),
    ("/articles/does-ketamine-treat-depression", "Does Ketamine Treat Depression?"),
    ("/clinic", "Hours, Address and Directions"),
    ("/privacy", "Privacy"),
]


def jsonld(html: str) -> list[dict]:
    blocks = re.findall(r'<script type="application/ld\+json">(.*?)</script>', html, re.S)
    return [json.loads(block) for block in blocks]


@pytest.mark.parametrize(("path", "title"), PAGES)
def test_page_has_metadata_and_shared_parts(client, path, title):
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    html = response.text
    assert html.startswith("<!doctype html>")
    assert '<html lang="en-US">' in html
    assert re.search(r"<title>[^<]*" + re.escape(title.replace("&", "&amp;")), html)
    description = re.search(r'<meta name="description" content="([^"]+)">', html)
    assert description and 50 <= len(description.group(1)) <= 170
    assert f'<link rel="canonical" href="http://testserver{path}">' in html
    # Crisis notice, banner, navigation and footer on every page.
    assert 'href="tel:988"' in html and "text <a" in html and 'href="tel:911"' in html
    assert 'id="open-status"' in html and "Open now" in html
    assert 'id="open-status-announcer"' in html and 'aria-live="polite"' in html
    assert '<nav class="site-nav" aria-label="Main">' in html
    assert "7 Wembley Ct." in html and "Albany, NY 12205" in html
    assert "Every day, 9:00 AM – 5:00 PM" in html
    # Exactly one h1; nothing inline that the CSP would block.
    assert html.count("<h1") == 1
    assert "style=" not in html and "<style" not in html
    assert re.search(r"<script(?![^>]*(src=|application/ld\+json))", html) is None


def test_titles_and_descriptions_are_unique(client):
    seen_titles, seen_descriptions = set(), set()
    for path, _ in PAGES:
        html = client.get(path).text
        seen_titles.add(re.search(r"<title>(.*?)</title>", html).group(1))
        seen_descriptions.add(re.search(r'name="description" content="([^"]+)"', html).group(1))
    assert len(seen_titles) == len(PAGES)
    assert len(seen_descriptions) == len(PAGES)


def test_nav_marks_the_current_page(client):
    html = client.get("/clinic").text
    assert 'href="/clinic" aria-current="page"' in html
    assert 'href="/" aria-current="page"' not in html


def test_home_explains_the_clinic_and_links_onwards(client):
    html = client.get("/").text
    assert "depression" in html
    assert "How a consultation works" in html
    assert 'href="/consultation"' in html
    assert 'href="/articles/does-ketamine-treat-depression"' in html
    [clinic] = jsonld(html)
    assert clinic["@type"] == "MedicalClinic"


def test_article_page_renders_markdown_and_disclaimer(client):
    html = client.get("/articles/does-ketamine-treat-depression").text
    assert '<h1 id="article-title">Does Ketamine Treat Depression?</h1>' in html
    assert "NMDA" in html and "glutamate" in html
    assert html.count("<h2 id=") >= 6  # sections, with linkable ids
    assert "not medical advice" in html
    assert '<time datetime="2026-11-29">' in html
    [page] = jsonld(html)
    assert page["@type"] == "MedicalWebPage"
    assert page["lastReviewed"] == "2026-11-29"
    assert page["url"] == "http://testserver/articles/does-ketamine-treat-depression"


def test_article_index_lists_the_article(client):
    html = client.get("/articles/").text
    assert 'href="/articles/does-ketamine-treat-depression"' in html
    assert "min read" in html


@pytest.mark.parametrize(
    "path", ["/articles/nope", "/articles/..%2F..%2Fclinic.toml", "/articles/UPPER", "/nope"]
)
def test_unknown_pages_get_the_custom_404(client, path):
    response = client.get(path)
    assert response.status_code == 404
    assert "Page not found" in response.text
    assert 'name="robots" content="noindex"' in response.text
    assert 'id="open-status"' in response.text  # the full site frame, not a bare error


def test_clinic_page_has_hours_table_directions_and_closures(client):
    html = client.get("/clinic").text
    for day in ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"):
        assert f'<th scope="row">{day}</th><td>9:00 AM – 5:00 PM</td>' in html
    assert 'href="https://www.google.com/maps/dir/?api=1&amp;destination=' in html
    assert "<iframe" not in html
    assert "No closures are planned" in html


def test_privacy_page_says_what_is_collected_and_kept(client):
    html = client.get("/privacy").text
    for heading in ("What the consultation form collects", "Who sees it", "How long we keep it"):
        assert heading in html


def test_head_request_works(client):
    response = client.head("/")
    assert response.status_code == 200


def test_method_not_allowed_is_a_clear_405(client):
    response = client.post("/clinic")
    assert response.status_code == 405
    assert "That action is not available here" in response.text
