"""Server errors: the visitor sees a calm page, never a traceback; headers still apply."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient


@pytest.fixture
def failing_client(app, monkeypatch):
    def explode(slug):
        raise RuntimeError("secret internal detail /etc/passwd")

    monkeypatch.setattr(app.ctx.articles, "get", explode)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def test_500_page_is_friendly_and_leaks_nothing(failing_client, caplog):
    response = failing_client.get("/articles/does-ketamine-treat-depression")
    assert response.status_code == 500
    assert "Something went wrong on our side" in response.text
    assert "Traceback" not in response.text
    assert "secret internal detail" not in response.text
    assert 'href="tel:988"' in response.text
    assert response.headers["content-security-policy"].startswith("default-src 'self'")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-store"
    assert any("unhandled error" in record.message for record in caplog.records)


def test_the_error_line_shows_the_path_as_an_access_line_would(failing_client, caplog):
    response = failing_client.get("/articles/aki-7f3k2-notes", params={"q": "Jane Doe"})
    assert response.status_code == 500
    lines = [r.getMessage() for r in caplog.records if "unhandled error" in r.getMessage()]
    assert lines == ["unhandled error on GET /articles/AKI-?????-notes"]


def test_500_when_the_database_is_gone(app, monkeypatch):
    async def broken(*args, **kwargs):
        raise OSError("disk I/O error")

    with TestClient(app, raise_server_exceptions=False) as test_client:
        monkeypatch.setattr(app.ctx.db, "fetchall", broken)
        monkeypatch.setattr(app.ctx.db, "fetchone", broken)
        page = test_client.get("/")
        assert page.status_code == 500
        assert "Something went wrong" in page.text
        health = test_client.get("/healthz")
        assert health.status_code == 503
        assert health.json() == {
            "status": "error",
            "database": "unavailable",
            "reason": "the database cannot be read",
        }
        # A 404 whose banner cannot be computed still answers 404, in plain text.
        missing = test_client.get("/nope")
        assert missing.status_code == 404
        assert "Page not found" in missing.text
