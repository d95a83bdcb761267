"""Static files served from memory: content-hashed URLs, a year's cache, gzip and brotli made
once (brotli, where the browser takes it, is a tenth smaller again: a first visit is mostly
htmx, the stylesheet and the site's script).

Every page runs htmx and then the site's script: they are sent as one file (BUNDLES), so a
first visit makes one request and carries one response head fewer (~700 bytes with the
security headers, a fifteenth of what that visit transfers). The vendored file is kept and
checked as it is; the bundle is made from it at start-up."""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import brotli
from starlette.datastructures import Headers
from starlette.types import Receive, Scope, Send

IMMUTABLE = b"public, max-age=31536000, immutable"
REVALIDATE = b"public, max-age=0, must-revalidate"
# Served files made of several under static/, in order (the page's scripts: htmx, then the
# site's own, which listens for htmx's events).
BUNDLES = {"js/page.js": ("vendor/htmx-4.0.1.min.js", "js/site.js")}
COMPRESSIBLE = {".css", ".js", ".svg", ".txt", ".json", ".map", ".md", ".html"}
TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
         ".svg": "image/svg+xml", ".md": "text/markdown; charset=utf-8",
         ".txt": "text/plain; charset=utf-8"}  # fmt: skip


@dataclass(frozen=True)
class Asset:
    """One file, its gzip and brotli variants (if worth it) and its version hash."""

    body: bytes
    gzipped: bytes | None
    content_type: str
    version: str
    brotli: bytes | None = None

    @property
    def etag(self) -> bytes:
        """A strong validator from the content hash."""
        return f'"{self.version}"'.encode()


# CSS outside its string literals: comments, and the spaces around braces and semicolons,
# carry nothing a browser reads.
_CSS_STRING = re.compile(r"""("(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')""")
_CSS_COMMENT = re.compile(r"/\*.*?\*/", re.S)


def minify_css(text: str) -> str:
    """The stylesheet without comments and needless spaces (strings left as they are)."""
    pieces = _CSS_STRING.split(_CSS_COMMENT.sub("", text))
    for index in range(0, len(pieces), 2):  # the even pieces are outside strings
        squeezed = re.sub(r"\s+", " ", pieces[index])
        pieces[index] = re.sub(r"\s*([{};])\s*", r"\1", squeezed)
    return "".join(pieces).strip() + "\n"


def minify_js(text: str) -> str:
    """The script without its whole-line comments and indentation (our own, unminified
    scripts only: none of their lines is inside a multi-line string)."""
    lines = (line.strip() for line in text.splitlines())
    return "\n".join(line for line in lines if line and not line.startswith("//")) + "\n"


def _served(path: Path, body: bytes) -> bytes:
    """What is sent for a file: the site's own CSS and JS made smaller, the rest as is."""
    if path.name.endswith((".min.js", ".min.css")):
        return body
    if path.suffix == ".css":
        return minify_css(body.decode("utf-8")).encode("utf-8")
    if path.suffix == ".js":
        return minify_js(body.decode("utf-8")).encode("utf-8")
    return body


def _brotli(body: bytes, cache: Path | None) -> bytes:
    """brotli at its best (about 50 ms for htmx, on every start): kept in `cache` under the
    content's hash, and used from there only when it decompresses to the content."""
    name = hashlib.sha256(body).hexdigest() + ".br"
    if cache is not None:
        try:
            kept = (cache / name).read_bytes()
            if brotli.decompress(kept) == body:
                return kept
        except (OSError, brotli.error):
            pass
    packed: bytes = brotli.compress(body, mode=brotli.MODE_TEXT, quality=11)
    if cache is not None:
        try:
            cache.mkdir(mode=0o700, exist_ok=True)
            fresh = cache / f".{name}.{os.getpid()}"
            fresh.write_bytes(packed)
            fresh.replace(cache / name)
        except OSError:  # a read-only folder: compressed again at the next start
            pass
    return packed


def load_assets(directory: Path, cache: Path | None = None) -> dict[str, Asset]:
    """Read every file under directory once, at start-up (`cache`: a folder of our own
    where compressed files are kept between starts), and make the BUNDLES from them."""
    assets = {}
    for path in sorted(directory.rglob("*")):
        if not path.is_file() or path.name.startswith("."):
            continue
        name = path.relative_to(directory).as_posix()
        assets[name] = _asset(name, _served(path, path.read_bytes()), cache)
    for name, parts in BUNDLES.items():
        if name in assets:
            raise ValueError(f"static/{name} is a bundle's name: the file would be hidden")
        if all(part in assets for part in parts):
            assets[name] = _asset(name, bundle([assets[part].body for part in parts]), cache)
    return assets


def bundle(bodies: list[bytes]) -> bytes:
    """Scripts run one after the other, as one file: each ends its last line, and a
    semicolon-free end (an expression without one) cannot run into the next script."""
    return b"".join(body if body.endswith(b"\n") else body + b"\n" for body in bodies)


def _asset(name: str, body: bytes, cache: Path | None) -> Asset:
    """A file as served: its compressed forms (where they help), type and version."""
    suffix = Path(name).suffix
    gzipped = squeezed = None
    if suffix in COMPRESSIBLE and len(body) > 256:
        packed = gzip.compress(body, compresslevel=9, mtime=0)
        gzipped = packed if len(packed) < len(body) * 0.9 else None
        if gzipped is not None:
            smaller = _brotli(body, cache)
            squeezed = smaller if len(smaller) < len(gzipped) else None
    content_type = TYPES.get(suffix) or (
        mimetypes.guess_type(Path(name).name)[0] or "application/octet-stream"
    )
    version = hashlib.sha256(body).hexdigest()[:12]
    return Asset(body, gzipped, content_type, version, squeezed)


def accepts_gzip(headers: Headers) -> bool:
    """True when the client takes gzip (a q=0 refusal counts as no)."""
    return _accepts(headers, "gzip")


def accepts_brotli(headers: Headers) -> bool:
    """True when the client takes brotli ("br"; a q=0 refusal counts as no)."""
    return _accepts(headers, "br")


def _accepts(headers: Headers, coding: str) -> bool:
    for part in headers.get("accept-encoding", "").lower().split(","):
        name, _, params = part.strip().partition(";")
        if name.strip() in (coding, "*"):
            return params.replace(" ", "") not in ("q=0", "q=0.0", "q=0.00", "q=0.000")
    return False


class StaticAssets:
    """The /static mount: files from memory; the URL's ?v= decides how long to cache."""

    def __init__(self, directory: Path, cache: Path | None = None) -> None:
        self.assets = load_assets(directory, cache)

    def url_path(self, path: str) -> str:
        """The versioned URL path for a file under static/ (KeyError if it does not exist)."""
        return f"/static/{path}?v={self.assets[path].version}"

    def data_url(self, path: str) -> str:
        """A small file as a data: URL, to ship inside the page instead of a request of its
        own (the favicon: a first visit saves a round trip and its headers)."""
        asset = self.assets[path]
        text = quote(asset.body.decode("utf-8"), safe=":/=")
        return f"data:{asset.content_type},{text}"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve GET/HEAD for a known file; 404/405 otherwise."""
        path = scope["path"].removeprefix(scope.get("root_path", "")).lstrip("/")
        path = path.removeprefix("static/")
        asset = self.assets.get(path)
        if scope["method"] not in ("GET", "HEAD"):
            await _plain(send, 405, b"Method Not Allowed", [(b"allow", b"GET, HEAD")])
            return
        if asset is None:
            await _plain(send, 404, b"Not Found")
            return
        headers = Headers(scope=scope)
        fresh = scope.get("query_string", b"") == f"v={asset.version}".encode()
        common = [
            (b"cache-control", IMMUTABLE if fresh else REVALIDATE),
            (b"etag", asset.etag),
            (b"vary", b"Accept-Encoding"),
        ]
        if asset.etag in [t.strip().encode() for t in headers.get("if-none-match", "").split(",")]:
            await send({"type": "http.response.start", "status": 304, "headers": common})
            await send({"type": "http.response.body", "body": b""})
            return
        body = asset.body
        if asset.brotli is not None and accepts_brotli(headers):
            body = asset.brotli
            common.append((b"content-encoding", b"br"))
        elif asset.gzipped is not None and accepts_gzip(headers):
            body = asset.gzipped
            common.append((b"content-encoding", b"gzip"))
        common += [
            (b"content-type", asset.content_type.encode()),
            (b"content-length", str(len(body)).encode()),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": common})
        await send({"type": "http.response.body",
                    "body": b"" if scope["method"] == "HEAD" else body})  # fmt: skip


async def _plain(
    send: Send, status: int, text: bytes, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    headers = [(b"content-type", b"text/plain; charset=utf-8"),
               (b"content-length", str(len(text)).encode()), *(extra or [])]  # fmt: skip
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": text})
