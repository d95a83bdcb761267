"""The clinic's facts come from clinic.toml, wherever a page shows them: a clinic that edits
its file (a new name, a new street) sees it on every page, the article's byline included."""

from __future__ import annotations

import json
import re

from starlette.testclient import TestClient

from tests.conftest import make_settings
from tests.helpers import copy_data
from webapp.app import create_app

ARTICLE = """+++
title = "A short note"
description = "A note without a named author."
published = 2026-11-29
+++
Some text.
"""


def test_the_byline_of_an_article_without_an_author_is_the_clinic_file_s_name(tmp_path, clock):
    data = copy_data(tmp_path / "data")
    toml = data / "clinic.toml"
    text = toml.read_text()
    toml.write_text(
        text.replace(
            'name = "Albany Ketamine Infusions"', 'name = "Hudson Valley Infusions"'
        ).replace("7 Wembley Ct.", "12 River Rd.")
    )
    (data / "articles" / "a-short-note.md").write_text(ARTICLE)
    app = create_app(make_settings(tmp_path, data_dir=data), clock=clock)
    with TestClient(app) as client:
        page = client.get("/articles/a-short-note").text
        home = client.get("/").text
    assert "By Hudson Valley Infusions ·" in page
    found = re.search(r'<script type="application/ld\+json">(.*?)</script>', page, re.S)
    assert found is not None
    assert json.loads(found.group(1))["author"]["name"] == "Hudson Valley Infusions"
    for shown in (page, home):
        assert "Albany Ketamine Infusions" not in shown
        assert "Wembley" not in shown
        assert "12 River Rd." in shown
