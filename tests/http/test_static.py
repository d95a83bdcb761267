"""Static files: versioned URLs cached for a year, the vendored htmx intact."""

from __future__ import annotations

import hashlib
import re

import pytest

from webapp.settings import ROOT

HTMX_SHA256 = "a0abb04f2f45a1f89d1d4844023245537e5e6014c87b144553e0607b4cc32130"


def test_pages_link_versioned_assets_that_are_immutable(client):
    html = client.get("/").text
    urls = re.findall(r'(?:href|src)="(/static/[^"]+)"', html)
    # The stylesheet and one script: htmx and the site's own, as one file.
    assert {u.split("?")[0] for u in urls} == {"/static/css/site.css", "/static/js/page.js"}
    # The favicon rides inside the page (a first visit saves a request).
    assert '<link rel="icon" href="data:image/svg+xml,%3Csvg%20xmlns' in html
    for url in urls:
        assert re.search(r"\?v=[0-9a-f]{12}$", url), url
        response = client.get(url)
        assert response.status_code == 200
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable"


def test_unversioned_or_stale_urls_must_revalidate(client):
    for url in ("/static/css/site.css", "/static/css/site.css?v=000000000000"):
        response = client.get(url)
        assert response.status_code == 200
        assert response.headers["cache-control"] == "public, max-age=0, must-revalidate"


def test_missing_static_file_is_404(client):
    assert client.get("/static/nope.css").status_code == 404
    assert client.get("/static/../webapp/settings.py").status_code == 404


def test_vendored_htmx_matches_its_recorded_checksum():
    path = ROOT / "static/vendor/htmx-4.0.1.min.js"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == HTMX_SHA256
    readme = (ROOT / "static/vendor/README.md").read_text()
    assert HTMX_SHA256 in readme
    assert (ROOT / "static/vendor/htmx-LICENSE.txt").read_text().startswith("Zero-Clause BSD")


def test_the_pages_script_is_the_checked_htmx_then_the_sites_own(client, app):
    from webapp.static import minify_js

    url = app.ctx.templates.env.globals["static_url"]("js/page.js")
    sent = client.get(url, headers={"accept-encoding": "identity"})
    assert sent.headers["content-type"] == "text/javascript; charset=utf-8"
    htmx = (ROOT / "static/vendor/htmx-4.0.1.min.js").read_bytes()
    assert hashlib.sha256(htmx).hexdigest() == HTMX_SHA256
    # htmx exactly as vendored (its last statement ended on a line of its own), then
    # site.js as it is served on its own: nothing else in between or after.
    own = minify_js((ROOT / "static/js/site.js").read_text()).encode()
    assert sent.content == htmx + b"\n" + own
    assert sent.content.index(b"var htmx=") == 0
    assert url.endswith("?v=" + hashlib.sha256(sent.content).hexdigest()[:12])
    packed = client.get(url, headers={"accept-encoding": "gzip, deflate, br, zstd"})
    assert packed.headers["content-encoding"] == "br"
    assert packed.headers["cache-control"] == "public, max-age=31536000, immutable"


def test_a_bundle_changes_with_any_of_its_files_and_never_hides_a_file(tmp_path):
    from webapp.static import bundle, load_assets

    assert bundle([b"a()", b"b();\n"]) == b"a()\nb();\n"
    for name in ("vendor/htmx-4.0.1.min.js", "js/site.js"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("var " + name.split("/")[0] + " = 1;\n")
    first = load_assets(tmp_path)["js/page.js"]
    (tmp_path / "js/site.js").write_text("var js = 2;\n")
    second = load_assets(tmp_path)["js/page.js"]
    assert second.body == b"var vendor = 1;\nvar js = 2;\n"
    assert second.version != first.version  # a new URL: browsers fetch it again
    (tmp_path / "js/page.js").write_text("var shadow = 1;\n")
    with pytest.raises(ValueError, match="bundle"):
        load_assets(tmp_path)


def test_htmx_is_configured_not_to_swap_server_errors(client):
    html = client.get("/").text
    assert """<meta name="htmx-config" content='{"noSwap": [204, 304, "5xx"]}'>""" in html


def test_static_files_are_gzipped_once_and_revalidate_with_etags(client, app):
    url = app.ctx.templates.env.globals["static_url"]("vendor/htmx-4.0.1.min.js")
    packed = client.get(url, headers={"accept-encoding": "gzip"})
    assert packed.headers["content-encoding"] == "gzip"
    assert packed.headers["vary"] == "Accept-Encoding"
    assert int(packed.headers["content-length"]) < 14_000  # 37 KB before compression
    assert packed.headers["content-type"] == "text/javascript; charset=utf-8"
    plain = client.get(url, headers={"accept-encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert plain.content == packed.content  # the client undid the gzip: same bytes
    refused = client.get(url, headers={"accept-encoding": "gzip;q=0"})
    assert "content-encoding" not in refused.headers
    again = client.get(url, headers={"if-none-match": packed.headers["etag"]})
    assert again.status_code == 304
    assert again.content == b""


def test_static_head_and_unsafe_methods(client):
    assert client.head("/static/css/site.css").status_code == 200
    assert client.post("/static/css/site.css").status_code == 405


def test_browsers_that_take_brotli_get_it(client, app):
    import brotli

    url = app.ctx.templates.env.globals["static_url"]("vendor/htmx-4.0.1.min.js")
    plain = client.get(url, headers={"accept-encoding": "identity"}).content
    packed = client.get(url, headers={"accept-encoding": "gzip, deflate, br, zstd"})
    assert packed.headers["content-encoding"] == "br"
    assert packed.headers["vary"] == "Accept-Encoding"
    assert int(packed.headers["content-length"]) < 12_500  # gzip: 13.4 KB
    assert brotli.decompress(_raw(client, url, "br")) == plain
    refused = client.get(url, headers={"accept-encoding": "br;q=0, gzip"})
    assert refused.headers["content-encoding"] == "gzip"


def _raw(client, url: str, encoding: str) -> bytes:
    with client.stream("GET", url, headers={"accept-encoding": encoding}) as response:
        return b"".join(response.iter_raw())


def test_the_sites_own_css_and_js_are_sent_smaller_and_still_whole(client, app):
    from webapp.static import minify_css, minify_js

    css = (ROOT / "static/css/site.css").read_text()
    small = minify_css(css)
    assert len(small) < len(css) * 0.92
    assert "/*" not in small and '"Segoe UI"' in small  # strings are kept as they are
    assert small.count("{") == css.count("{") - _in_comments(css, "{")
    js = (ROOT / "static/js/site.js").read_text()
    assert minify_js(js).count("function") == js.count("function")
    url = app.ctx.templates.env.globals["static_url"]("css/site.css")
    assert client.get(url, headers={"accept-encoding": "identity"}).text == small


def _in_comments(text: str, char: str) -> int:
    return sum(part.count(char) for part in re.findall(r"/\*.*?\*/", text, re.S))


def test_brotli_is_kept_between_starts_and_a_bad_copy_is_not_used(tmp_path):
    import brotli

    from webapp.static import StaticAssets

    cache = tmp_path / "cache"
    first = StaticAssets(ROOT / "static", cache).assets["vendor/htmx-4.0.1.min.js"]
    kept = list(cache.glob("*.br"))
    assert kept and oct(cache.stat().st_mode & 0o777) == "0o700"
    for path in kept:  # damaged (or planted) copies are recomputed, not served
        path.write_bytes(brotli.compress(b"alert(1)"))
    again = StaticAssets(ROOT / "static", cache).assets["vendor/htmx-4.0.1.min.js"]
    assert again.brotli == first.brotli
    assert brotli.decompress(again.brotli) == again.body
    # A folder that cannot be written only means compressing again at each start.
    assert StaticAssets(ROOT / "static", tmp_path / "file" / "x").assets
