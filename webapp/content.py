"""Articles: Markdown files ``<slug>.md`` with ``+++``-fenced TOML front matter, rendered safely.

Front matter keys: title, description, published (required); reviewed (defaults to published),
author (defaults to the clinic's name, from clinic.toml). Raw HTML is escaped, never passed
through; ``javascript:`` and similar links stay plain text (markdown-it's ``validateLink``);
every h2 gets a stable, unique ``id``; absolute http(s) links get ``rel="noopener
noreferrer"``. A ``#`` h1 in the body is demoted to h2 rather than rejected: the page template
renders the title as the only h1, and text pasted with a leading ``# Title`` should still work.
"""

from __future__ import annotations

import logging
import math
import os
import re
import tomllib
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from markdown_it import MarkdownIt
from markdown_it.token import Token

logger = logging.getLogger(__name__)

SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
# Longer slugs are no article: file names stop at 255 bytes ("<slug>.md").
MAX_SLUG = 200
WORDS_PER_MINUTE = 200
_KEYS = ("title", "description", "published", "reviewed", "author")


class ArticleError(ValueError):
    """An article file that cannot be used; the message is one line naming file and field."""


@dataclass(frozen=True)
class Article:
    """One parsed article, ready for the page template."""

    slug: str
    title: str
    description: str
    published: date
    reviewed: date
    author: str
    html: str
    headings: tuple[tuple[str, str], ...]
    reading_minutes: int
    source_mtime_ns: int


def _markdown() -> MarkdownIt:
    """Build the CommonMark renderer: no raw HTML, no linkify, typographic quotes, tables."""
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": True})
    return md.enable(["replacements", "smartquotes", "table"])


_MD = _markdown()


def slugify(text: str) -> str:
    """Turn heading text into a lowercase ASCII id with hyphens ("section" if nothing is left)."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-") or "section"


def _inline_text(token: Token) -> str:
    """Plain text of an inline token (text and code spans, soft breaks as spaces)."""
    breaks = ("softbreak", "hardbreak")
    kids = token.children or ()
    return "".join(
        c.content if c.type in ("text", "code_inline") else " " * (c.type in breaks) for c in kids
    )


def render_markdown(body: str) -> tuple[str, tuple[tuple[str, str], ...], int]:
    """Render a Markdown body; return (html, h2 headings as (id, text), word count)."""
    tokens = _MD.parse(body, {})
    headings: list[tuple[str, str]] = []
    used: set[str] = set()
    words = 0
    for i, tok in enumerate(tokens):
        if tok.type == "inline":
            words += len(_inline_text(tok).split())
        elif tok.type in ("heading_open", "heading_close") and tok.tag == "h1":
            tok.tag = "h2"
        if tok.type == "heading_open" and tok.tag == "h2":
            text = " ".join(_inline_text(tokens[i + 1]).split())
            base = anchor = slugify(text)
            n = 2
            while anchor in used:
                anchor, n = f"{base}-{n}", n + 1
            used.add(anchor)
            tok.attrSet("id", anchor)
            headings.append((anchor, text))
        for child in tok.children or ():
            if child.type == "link_open" and _is_external(str(child.attrGet("href") or "")):
                child.attrSet("rel", "noopener noreferrer")
    return _MD.renderer.render(tokens, _MD.options, {}), tuple(headings), words


def _is_external(href: str) -> bool:
    """True for absolute http(s) or protocol-relative links, i.e. ones leaving this site."""
    parts = urlsplit(href)
    return bool(parts.netloc) and parts.scheme.lower() in ("", "http", "https")


def _split_front_matter(name: str, text: str) -> tuple[dict[str, Any], str]:
    """Split ``+++``-fenced TOML front matter from the body and parse it."""
    lines = text.lstrip("\ufeff").replace("\r\n", "\n").split("\n")
    if not lines or lines[0].strip() != "+++":
        raise ArticleError(f"{name}: must start with a '+++' line opening the front matter")
    try:
        end = next(i for i in range(1, len(lines)) if lines[i].strip() == "+++")
    except StopIteration:
        raise ArticleError(f"{name}: front matter has no closing '+++' line") from None
    try:
        meta = tomllib.loads("\n".join(lines[1:end]))
    except tomllib.TOMLDecodeError as exc:
        msg = " ".join(str(exc).split())
        raise ArticleError(f"{name}: front matter is not valid TOML: {msg}") from None
    return meta, "\n".join(lines[end + 1 :])


def _text_field(name: str, meta: dict[str, Any], key: str, default: str | None = None) -> str:
    """A required (or defaulted) non-empty string field."""
    value = meta.get(key, default)
    if value is None:
        raise ArticleError(f"{name}: front matter is missing required key '{key}'")
    if not isinstance(value, str) or not value.strip():
        raise ArticleError(f"{name}: '{key}' must be a non-empty string")
    return " ".join(value.split())


def _date_field(name: str, meta: dict[str, Any], key: str, default: date | None = None) -> date:
    """A required (or defaulted) date field: a bare TOML date such as 2026-11-29."""
    value = meta.get(key, default)
    if value is None:
        raise ArticleError(f"{name}: front matter is missing required key '{key}'")
    if isinstance(value, datetime) or not isinstance(value, date):
        raise ArticleError(f"{name}: '{key}' must be a date like 2026-11-29 (no quotes)")
    return value


def parse_article(slug: str, text: str, *, default_author: str, mtime_ns: int = 0) -> Article:
    """Parse one article's text; raise ArticleError naming the file and field on bad input.

    `default_author`: the byline when the front matter names none (the clinic's name).
    """
    name = f"{slug}.md"
    meta, body = _split_front_matter(name, text)
    unknown = sorted(set(meta) - set(_KEYS))
    if unknown:
        raise ArticleError(
            f"{name}: unknown front matter key(s) {', '.join(map(repr, unknown))}; "
            f"allowed: {', '.join(_KEYS)}"
        )
    title = _text_field(name, meta, "title")
    description = _text_field(name, meta, "description")
    published = _date_field(name, meta, "published")
    reviewed = _date_field(name, meta, "reviewed", published)
    author = _text_field(name, meta, "author", default_author)
    if reviewed < published:
        raise ArticleError(f"{name}: 'reviewed' ({reviewed}) is before 'published' ({published})")
    if not body.strip():
        raise ArticleError(f"{name}: the article has no body text after the front matter")
    html, headings, words = render_markdown(body)
    return Article(
        slug=slug,
        title=title,
        description=description,
        published=published,
        reviewed=reviewed,
        author=author,
        html=html,
        headings=headings,
        reading_minutes=max(1, math.ceil(words / WORDS_PER_MINUTE)),
        source_mtime_ns=mtime_ns,
    )


class ArticleStore:
    """Articles in a directory, parsed on first use and re-parsed only when a file changes."""

    def __init__(self, directory: Path, default_author: str) -> None:
        """Remember the directory (and the byline of articles that name no author); nothing
        is read until asked."""
        self.directory = Path(directory)
        self.default_author = default_author
        # slug -> ((mtime_ns, size), Article, or the error message of a broken file)
        self._cache: dict[str, tuple[tuple[int, int], Article | str]] = {}

    def _load(self, slug: str) -> tuple[Article | str | None, bool]:
        """Return (Article, error message, or None if absent; whether it was just parsed)."""
        path = self.directory / f"{slug}.md"
        try:
            st = path.stat()
        except OSError:  # absent, or a name the file system cannot hold
            self._cache.pop(slug, None)
            return None, False
        cached = self._cache.get(slug)
        if cached and cached[0] == (st.st_mtime_ns, st.st_size):
            return cached[1], False
        result: Article | str
        try:
            with path.open("rb") as fh:
                st = os.fstat(fh.fileno())
                raw = fh.read()
            result = parse_article(
                slug, raw.decode("utf-8"), default_author=self.default_author,
                mtime_ns=st.st_mtime_ns,
            )  # fmt: skip
        except UnicodeDecodeError as exc:
            result = f"{slug}.md: not valid UTF-8 text (byte {exc.start})"
        except OSError as exc:
            result = f"{slug}.md: cannot be read ({exc.strerror or exc})"
        except ArticleError as exc:
            result = str(exc)
        self._cache[slug] = ((st.st_mtime_ns, st.st_size), result)
        return result, True

    def get(self, slug: str) -> Article | None:
        """The article for a slug, None if the slug is invalid or absent; ArticleError if broken."""
        if not isinstance(slug, str) or len(slug) > MAX_SLUG or not SLUG_RE.fullmatch(slug):
            return None
        result, _ = self._load(slug)
        if isinstance(result, str):
            raise ArticleError(result)
        return result

    def _slugs(self) -> list[str]:
        """Stems of the directory's valid-slug ``.md`` files, sorted."""
        if not self.directory.is_dir():
            return []
        return sorted(p.stem for p in self.directory.glob("*.md") if SLUG_RE.fullmatch(p.stem))

    def all(self) -> list[Article]:
        """All good articles, newest published first; broken files are logged and skipped."""
        articles, slugs = [], self._slugs()
        for gone in set(self._cache) - set(slugs):
            del self._cache[gone]
        for slug in slugs:
            result, fresh = self._load(slug)
            if isinstance(result, str):
                if fresh:
                    logger.error("skipping article: %s", result)
            elif result is not None:
                articles.append(result)
        return sorted(articles, key=lambda a: (-a.published.toordinal(), a.slug))

    def validate_all(self) -> list[str]:
        """One error line per broken or badly named ``.md`` file (empty list when all is well)."""
        if not self.directory.is_dir():
            return [f"{self.directory}: article directory does not exist"]
        errors = [
            f"{p.name}: file name must be a slug like 'my-article.md' (a-z, 0-9, hyphens)"
            for p in sorted(self.directory.glob("*.md"))
            if not SLUG_RE.fullmatch(p.stem)
        ]
        for slug in self._slugs():
            result, _ = self._load(slug)
            if isinstance(result, str):
                errors.append(result)
        return errors
