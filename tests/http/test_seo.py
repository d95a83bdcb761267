"""What search engines read: JSON-LD, robots.txt, sitemap.xml, canonical links."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from datetime import date

from starlette.testclient import TestClient

from tests.conftest import make_settings
from tests.helpers import put_closure
from webapp import closures
from webapp.app import create_app


def jsonld(html: str) -> dict:
    [block] = re.findall(r'<script type="application/ld\+json">(.*?)</script>', html, re.S)
    return json.loads(block)


def test_clinic_jsonld_has_address_and_hours(client):
    data = jsonld(client.get("/clinic").text)
    assert data["@context"] == "https://schema.org"
    assert data["@type"] == "MedicalClinic"
    assert data["name"] == "Albany Ketamine Infusions"
    assert data["address"] == {
        "@type": "PostalAddress",
        "streetAddress": "7 Wembley Ct.",
        "addressLocality": "Albany",
        "addressRegion": "NY",
        "postalCode": "12205",
        "addressCountry": "US",
    }
    [hours] = data["openingHoursSpecification"]
    assert hours["dayOfWeek"] == [
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
        "Sunday",
    ]
    assert (hours["opens"], hours["closes"]) == ("09:00", "17:00")
    assert "geo" not in data
    assert "specialOpeningHoursSpecification" not in data


def test_closures_appear_as_special_opening_hours(client, app, clock):
    for entry in (
        closures.make_override("2026-12-25", "Christmas Day"),
        closures.make_override("2026-12-24", "Christmas Eve", "10:00", "14:00"),
        closures.make_override("2026-11-01", "Past, not shown"),
    ):
        put_closure(client, entry, as_of=date(2026, 10, 1))
    data = jsonld(client.get("/").text)
    assert data["specialOpeningHoursSpecification"] == [
        {
            "@type": "OpeningHoursSpecification",
            "validFrom": "2026-12-24",
            "validThrough": "2026-12-24",
            "opens": "10:00",
            "closes": "14:00",
            "description": "Christmas Eve",
        },
        {
            "@type": "OpeningHoursSpecification",
            "validFrom": "2026-12-25",
            "validThrough": "2026-12-25",
            "opens": "00:00",
            "closes": "00:00",
            "description": "Christmas Day",
        },
    ]


def test_jsonld_cannot_break_out_of_its_script(client, app, clock):
    entry = closures.make_override("2026-12-25", "</script><script>alert(1)</script>")
    put_closure(client, entry)
    html = client.get("/clinic").text
    assert "</script><script>alert(1)" not in html
    assert jsonld(html)["specialOpeningHoursSpecification"][0]["description"].startswith(
        "</script>"
    )


def test_article_jsonld_is_a_reviewed_medical_web_page(client):
    data = jsonld(client.get("/articles/does-ketamine-treat-depression").text)
    assert data["@type"] == "MedicalWebPage"
    assert data["headline"] == "Does Ketamine Treat Depression?"
    assert data["datePublished"] == "2026-11-29"
    assert data["lastReviewed"] == "2026-11-29"
    assert data["about"]["name"] == "Depression"


def test_robots_txt_points_to_the_sitemap_and_hides_staff(client):
    response = client.get("/robots.txt")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert "Disallow: /staff" in response.text
    assert "Sitemap: http://testserver/sitemap.xml" in response.text


def test_sitemap_lists_public_pages_and_articles(client):
    response = client.get("/sitemap.xml")
    assert response.headers["content-type"].startswith("application/xml")
    root = ET.fromstring(response.content)
    ns = {"s": "http://www.sitemaps.org/schemas/sitemap/0.9"}
    locs = [el.text for el in root.findall("s:url/s:loc", ns)]
    assert locs == [
        "http://testserver/",
        "http://testserver/clinic",
        "http://testserver/privacy",
        "http://testserver/articles/",
        "http://testserver/articles/does-ketamine-treat-depression",
    ]
    assert root.find("s:url/s:lastmod", ns).text == "2026-11-29"
    for loc in locs:
        assert client.get(loc.removeprefix("http://testserver")).status_code == 200


def test_base_url_setting_fixes_canonical_links(tmp_path, clock):
    settings = make_settings(tmp_path, base_url="https://www.example.org")
    with TestClient(create_app(settings, clock=clock)) as client:
        html = client.get("/clinic").text
        assert '<link rel="canonical" href="https://www.example.org/clinic">' in html
        assert "Sitemap: https://www.example.org/sitemap.xml" in client.get("/robots.txt").text
