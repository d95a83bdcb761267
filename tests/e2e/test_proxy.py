"""Debian's nginx, configured with the site block of docs/deploy.md, in front of the real site.

Only the addresses change: nginx listens on 127.0.0.1 ports of its own with a self-signed
certificate, and proxies to the site's port. Visitors are told apart by their source
address (127.0.0.2, 127.0.0.3: all of 127/8 is this machine).
"""

from __future__ import annotations

import re
import shutil
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from urllib.parse import urlencode

import httpx2 as httpx
import pytest

from tests.helpers import EMAIL, PASSWORD, form
from tests.serving import Site, aged_token, free_port, read_all
from webapp.db import migrate
from webapp.settings import ROOT

HOST = "www.example.org"
GUIDE = ROOT / "docs" / "deploy.md"


def guide_block(language: str) -> str:
    """The fenced ```language block of docs/deploy.md (there is one of each)."""
    [block] = re.findall(rf"```{language}\n(.*?)```", GUIDE.read_text(), flags=re.S)
    return block


def nginx_site(http_port: int, https_port: int, app_port: int, cert: Path, key: Path) -> str:
    """The guide's nginx site with this test's addresses, and nothing else changed."""
    text = guide_block("nginx")
    replacements = [
        (r"\n\s*listen \[::\]:\d+( ssl)?;", ""),
        (r"listen 80;", f"listen 127.0.0.1:{http_port};"),
        (r"listen 443 ssl;", f"listen 127.0.0.1:{https_port} ssl;"),
        (r"ssl_certificate\s+\S+;", f"ssl_certificate {cert};"),
        (r"ssl_certificate_key\s+\S+;", f"ssl_certificate_key {key};"),
        (r"proxy_pass http://127\.0\.0\.1:8000;", f"proxy_pass http://127.0.0.1:{app_port};"),
        (
            r"error_log /var/log/nginx/error\.log crit;",
            f"error_log {cert.parent}/nginx/site-error.log crit;",
        ),
    ]
    for pattern, new in replacements:
        text, found = re.subn(pattern, new, text)
        assert found, f"docs/deploy.md's nginx block no longer has {pattern!r}"
    return text


def main_config(prefix: Path, site: str) -> str:
    return f"""
user root;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log info;
events {{ worker_connections 256; }}
http {{
    access_log {prefix}/access.log;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
{site}
}}
"""


class Proxy:
    """nginx and the site behind it."""

    def __init__(self, site: Site, http_port: int, https_port: int, folder: Path) -> None:
        self.site, self.http_port, self.https_port, self.folder = (
            site, http_port, https_port, folder,
        )  # fmt: skip

    def client(self, source: str = "127.0.0.2", **kwargs) -> httpx.Client:
        """A visitor at `source` talking https to nginx (host name in the Host header)."""
        transport = httpx.HTTPTransport(local_address=source, verify=False)
        return httpx.Client(
            transport=transport,
            base_url=f"https://127.0.0.1:{self.https_port}",
            headers={"Host": HOST},
            follow_redirects=False,
            timeout=30,
            **kwargs,
        )


@pytest.fixture(scope="module")
def proxy(tmp_path_factory) -> Iterator[Proxy]:
    if shutil.which("nginx") is None or shutil.which("openssl") is None:
        pytest.fail("make e2e-proxy installs nginx and openssl; run it as root")
    folder = tmp_path_factory.mktemp("proxy")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", f"/CN={HOST}", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    database = folder / "db" / "clinic.db"
    database.parent.mkdir()
    migrate(database)
    env = {
        "HTTPS_ONLY": "true",
        "ALLOWED_HOSTS": HOST,
        "FORWARDED_ALLOW_IPS": "127.0.0.1",
        # Addresses in the access log here prove which one reached the site (off by default).
        "LOG_CLIENT_ADDRESS": "true",
        "CONSULTATION_RATE_LIMIT": "3/600",
        # No BASE_URL: canonical links then show the scheme the site believes it was asked in.
    }
    site = Site(database, folder / "site.log", env=env)
    made = subprocess.run(
        [sys.executable, "-m", "webapp", "create-staff", EMAIL, "--password-stdin"],
        cwd=ROOT, env=site.env, input=PASSWORD + "\n", capture_output=True, text=True,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    site.start()
    nginx: subprocess.Popen[bytes] | None = None
    try:
        http_port, https_port = free_port(), free_port()
        (folder / "nginx").mkdir()
        conf = folder / "nginx" / "nginx.conf"
        site_conf = nginx_site(http_port, https_port, site.port, cert, key)
        conf.write_text(main_config(folder / "nginx", site_conf))
        tested = subprocess.run(["nginx", "-t", "-c", str(conf)], capture_output=True, text=True)
        assert tested.returncode == 0, tested.stderr
        with (folder / "nginx-stderr.log").open("wb") as stderr:
            nginx = subprocess.Popen(  # noqa: S603
                ["nginx", "-c", str(conf), "-g", "daemon off;"],
                stdout=subprocess.DEVNULL, stderr=stderr, start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + 20
        while True:
            try:
                with closing(socket.create_connection(("127.0.0.1", https_port), timeout=1)):
                    break
            except OSError:
                assert nginx.poll() is None, (folder / "nginx-stderr.log").read_text()
                assert time.monotonic() < deadline, "nginx did not start"
                time.sleep(0.05)
        yield Proxy(site, http_port, https_port, folder)
    finally:
        if nginx is not None:
            nginx.terminate()
            try:
                nginx.wait(timeout=10)
            except subprocess.TimeoutExpired:
                nginx.kill()
                nginx.wait(timeout=10)
        site.stop()
    assert "Traceback" not in site.log(), site.log()


# --- the visitor's address -----------------------------------------------------------------------


# As htmx sends it: the answer is the form's fragment (no-JS errors answer 303 instead).
HTMX = {"HX-Request": "true"}


def submit(client: httpx.Client, **headers: str) -> int:
    headers = {**HTMX, **headers}
    return client.post("/consultation", data=form(aged_token()), headers=headers).status_code


def test_each_visitor_address_reaches_the_rate_limit_and_a_forged_one_does_not(proxy):
    with proxy.client("127.0.0.2") as first, proxy.client("127.0.0.3") as second:
        assert [submit(first) for _ in range(3)] == [200, 200, 200]
        limited = first.post("/consultation", data=form(aged_token()), headers=HTMX)
        assert limited.status_code == 429
        assert int(limited.headers["retry-after"]) > 0  # the site's header came through
        # nginx replaces X-Forwarded-For: claiming another address changes nothing.
        assert submit(first, **{"X-Forwarded-For": "198.51.100.7"}) == 429
        # Another visitor has a limit of their own.
        assert submit(second) == 200
    log = proxy.site.wait_for_log(
        '127.0.0.2:0 - "POST /consultation HTTP/1.1" 429',
        '127.0.0.3:0 - "POST /consultation HTTP/1.1" 200',
    )
    assert "198.51.100.7" not in log


# --- headers both ways ---------------------------------------------------------------------------


def test_the_site_sees_https_and_its_headers_come_through(proxy):
    with proxy.client() as client:
        page = client.get("/clinic")
        robots = client.get("/robots.txt")
    assert page.status_code == 200
    # X-Forwarded-Proto reached the site: it builds https links for the host it was asked.
    assert f'<link rel="canonical" href="https://{HOST}/clinic">' in page.text
    assert f"Sitemap: https://{HOST}/sitemap.xml" in robots.text
    headers = page.headers
    assert headers["strict-transport-security"].startswith("max-age=")
    assert "upgrade-insecure-requests" in headers["content-security-policy"]
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "same-origin"
    assert headers["server"] == "nginx"  # server_tokens off: no version


def test_htmx_request_headers_reach_the_site(proxy):
    with proxy.client("127.0.0.7") as client:
        answer = client.post(
            "/consultation", data=form(aged_token(), email="not an address"),
            headers={"HX-Request": "true"},
        )  # fmt: skip
    assert answer.status_code == 422
    assert "<html" not in answer.text and "<form" in answer.text  # the fragment, not a page
    assert answer.headers["vary"] == "HX-Request"


def test_a_staff_sign_in_through_the_proxy_gets_a_secure_host_cookie(proxy):
    origin = {"Origin": f"https://{HOST}", "Sec-Fetch-Site": "same-origin"}
    with proxy.client("127.0.0.4") as client:
        page = client.get("/staff/login")
        token = re.search(r'name="token" value="([^"]+)"', page.text).group(1)
        signed = client.post(
            "/staff/login",
            data={"token": token, "next": "/staff", "email": EMAIL, "password": PASSWORD},
            headers=origin,
        )
        assert signed.status_code == 303, signed.text
        cookie = signed.headers["set-cookie"]
        assert cookie.startswith("__Host-aki_staff=")
        assert "Secure" in cookie and "HttpOnly" in cookie and "Path=/" in cookie
        value = cookie.split(";", 1)[0]
        dashboard = client.get("/staff", headers={"Cookie": value})
    assert dashboard.status_code == 200
    assert dashboard.headers["cache-control"] == "no-store"


def test_an_unknown_host_name_is_refused_by_the_site(proxy):
    with proxy.client() as client:
        assert client.get("/", headers={"Host": "evil.example"}).status_code == 400


# --- plain HTTP, big bodies, smuggling -----------------------------------------------------------


def test_plain_http_is_redirected_to_https(proxy):
    with httpx.Client(base_url=f"http://127.0.0.1:{proxy.http_port}",
                      headers={"Host": HOST}) as client:  # fmt: skip
        answer = client.get("/clinic?x=1", follow_redirects=False)
    assert answer.status_code == 301
    assert answer.headers["location"] == f"https://{HOST}/clinic?x=1"


def test_the_site_itself_redirects_plain_http_when_https_only(proxy):
    # Straight to the site, as nginx would pass a plain-HTTP request if it proxied one.
    with httpx.Client(base_url=proxy.site.url, headers={"Host": HOST}) as client:
        answer = client.get(
            "/clinic", headers={"X-Forwarded-Proto": "http", "X-Forwarded-For": "127.0.0.2"},
            follow_redirects=False,
        )  # fmt: skip
    assert answer.status_code == 301
    assert answer.headers["location"] == f"https://{HOST}/clinic"


def test_bodies_over_64_kib_are_refused_before_the_site(proxy):
    with proxy.client("127.0.0.5") as client:
        answer = client.post(
            "/consultation",
            content=b"message=" + b"x" * 70_000,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
    assert answer.status_code == 413


def raw_tls(proxy: Proxy, request: bytes) -> tuple[bytes, bool]:
    """Send raw bytes over TLS to nginx; everything it answers, and whether it closed."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    raw = socket.create_connection(("127.0.0.1", proxy.https_port), timeout=10)
    with closing(context.wrap_socket(raw, server_hostname=HOST)) as sock:
        sock.sendall(request)
        return read_all(sock, 5, still_open=(TimeoutError, ssl.SSLError))


def test_length_and_chunked_together_are_refused_end_to_end(proxy):
    smuggled = f"GET /privacy?smuggled HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode()
    body = b"0\r\n\r\n" + smuggled
    request = (
        f"POST /consultation HTTP/1.1\r\nHost: {HOST}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {len(body)}\r\nTransfer-Encoding: chunked\r\n\r\n"
    ).encode() + body
    data, closed = raw_tls(proxy, request)
    assert [line for line in data.split(b"\r\n") if line.startswith(b"HTTP/1.1 ")] == [
        b"HTTP/1.1 400 Bad Request"
    ], data
    assert closed
    assert "/privacy" not in proxy.site.log_after_marker()
    assert "smuggled" not in (proxy.folder / "nginx" / "access.log").read_text()


def test_a_chunked_form_alone_still_works_through_the_proxy(proxy):
    with proxy.client("127.0.0.6") as client:
        body = urlencode(form(aged_token())).encode()
        answer = client.post(
            "/consultation",
            content=iter([body[:20], body[20:]]),  # no length: sent chunked
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
    assert answer.status_code == 303, answer.text


# --- what nginx keeps ----------------------------------------------------------------------------


def test_nginx_keeps_no_line_with_a_visitors_address_or_url(proxy):
    """The privacy page says no log holds a visitor's address (unless the site is told to) or
    what they typed; nginx's default logs would hold both (a staff search is a patient's
    name in the URL). The test's own nginx.conf logs everything at the http level, as
    Debian's does: the guide's site block must turn that off for its servers."""
    marker = "Zebulonquist"
    with proxy.client("127.0.0.4") as client:
        assert client.get(f"/staff?q={marker}").status_code == 303
        assert client.get(f"/no-such-page-{marker}").status_code == 404
        # nginx refuses this itself (an error line at "error" level, by default).
        big = client.post(f"/consultation?{marker}", content=b"x" * 70_000)
        assert big.status_code == 413
    plain = httpx.HTTPTransport(local_address="127.0.0.4")
    with httpx.Client(transport=plain, headers={"Host": HOST}, timeout=30) as client:
        redirected = client.get(f"http://127.0.0.1:{proxy.http_port}/staff?q={marker}")
        assert redirected.status_code == 301
    time.sleep(0.2)  # nginx writes its lines when a request ends
    logs = {path.name: path.read_text(errors="replace") for path in
            (proxy.folder / "nginx").glob("*.log") if path.name != "error.log"}  # fmt: skip
    assert "access.log" in logs  # the http-level log the guide's servers must not use
    for name, text in logs.items():
        assert marker not in text, (name, text[-2000:])
        assert "127.0.0.4" not in text, (name, text[-2000:])
    # The site's own line for the same requests: the path, never the query or the address.
    site_log = proxy.site.wait_for_log('"GET /staff HTTP/1.1" 303')
    assert f"q={marker}" not in site_log
