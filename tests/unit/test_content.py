"""Unit tests for webapp.content: front matter, safe rendering, the store and the real article."""

from __future__ import annotations

import logging
import os
import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from webapp import content
from webapp.clinic import load_clinic
from webapp.content import (
    Article,
    ArticleError,
    ArticleStore,
    render_markdown,
    slugify,
)

REPO = Path(__file__).parents[2]
ARTICLES = REPO / "data" / "articles"
REAL_SLUG = "does-ketamine-treat-depression"
# The clinic's old page, as given with the brief; a copy lives in the repository so this check
# runs wherever the tests do.
SOURCE_ARTICLE = REPO / "tests" / "data" / "source-article.txt"
# An article that names no author is by the clinic, as clinic.toml names it.
AUTHOR = load_clinic(REPO / "data" / "clinic.toml").name


def parse_article(slug: str, text: str, **kwargs: Any) -> Article:
    return content.parse_article(slug, text, default_author=AUTHOR, **kwargs)


GOOD_META = 'title = "T"\ndescription = "D"\npublished = 2026-11-29\n'


def doc(meta: str = GOOD_META, body: str = "Hello there.\n") -> str:
    """An article file's text from front matter and body."""
    return f"+++\n{meta}+++\n{body}"


# --- front matter -----------------------------------------------------------------------


def test_minimal_article_defaults() -> None:
    a = parse_article("x", doc())
    assert (a.slug, a.title, a.description) == ("x", "T", "D")
    assert a.published == a.reviewed == date(2026, 11, 29)
    assert a.author == AUTHOR
    assert a.html == "<p>Hello there.</p>\n"
    assert a.headings == ()
    assert a.reading_minutes == 1
    assert a.source_mtime_ns == 0


def test_full_front_matter_and_crlf_and_bom() -> None:
    meta = GOOD_META + 'reviewed = 2026-12-01\nauthor = "Dr. A"\n'
    a = parse_article("x", "\ufeff" + doc(meta).replace("\n", "\r\n"), mtime_ns=42)
    assert a.reviewed == date(2026, 12, 1)
    assert a.author == "Dr. A"
    assert a.source_mtime_ns == 42


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("no front matter\n", "x.md: must start with a '+++' line"),
        ("", "x.md: must start with a '+++' line"),
        ("---\ntitle: T\n---\nbody\n", "x.md: must start with a '+++' line"),
        ("+++\ntitle = 'T'\nbody\n", "x.md: front matter has no closing '+++' line"),
        (doc('title = "T\n'), "x.md: front matter is not valid TOML"),
        (doc('description = "D"\npublished = 2026-11-29\n'), "missing required key 'title'"),
        (doc('title = "T"\npublished = 2026-11-29\n'), "missing required key 'description'"),
        (doc('title = "T"\ndescription = "D"\n'), "missing required key 'published'"),
        (doc(GOOD_META.replace('"T"', "3")), "x.md: 'title' must be a non-empty string"),
        (doc(GOOD_META.replace('"T"', '"  "')), "'title' must be a non-empty string"),
        (doc(GOOD_META.replace('"D"', '["D"]')), "'description' must be a non-empty string"),
        (doc(GOOD_META + "author = 7\n"), "'author' must be a non-empty string"),
        (doc(GOOD_META.replace("2026-11-29", '"2026-11-29"')), "'published' must be a date"),
        (doc(GOOD_META.replace("2026-11-29", "2026-11-29T10:00:00")), "'published' must be"),
        (doc(GOOD_META + 'reviewed = "soon"\n'), "'reviewed' must be a date"),
        (
            doc(GOOD_META + "reviewed = 2026-11-28\n"),
            "x.md: 'reviewed' (2026-11-28) is before 'published' (2026-11-29)",
        ),
        (doc(GOOD_META + "reveiwed = 2026-12-01\n"), "unknown front matter key(s) 'reveiwed'"),
        (doc(body="   \n\n"), "x.md: the article has no body text"),
    ],
)
def test_front_matter_errors(text: str, message: str) -> None:
    with pytest.raises(ArticleError) as info:
        parse_article("x", text)
    assert message in str(info.value)
    assert "\n" not in str(info.value)
    assert str(info.value).startswith("x.md: ")


def test_article_error_is_value_error() -> None:
    assert issubclass(ArticleError, ValueError)


# --- safe rendering -----------------------------------------------------------------------


def test_raw_html_is_escaped() -> None:
    html = parse_article("x", doc(body="<script>alert(1)</script>\n\nHi <b>x</b>\n")).html
    assert "<script" not in html
    assert "<b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;b&gt;x&lt;/b&gt;" in html


@pytest.mark.parametrize(
    "body",
    [
        "[click](javascript:alert(1))",
        "[click](JaVaScRiPt:alert(1))",
        "[click](  javascript:alert(1) )",
        "[click](&#x6A;avascript:alert(1))",
        "[click](&#106;&#97;vascript:alert(1))",
        "[click](<javascript:alert(1)>)",
        "![img](javascript:alert(1))",
        "<javascript:alert(1)>",
        "[click](vbscript:msgbox(1))",
        "[click](data:text/html;base64,PHNjcmlwdD4=)",
        "[ref]\n\n[ref]: javascript:alert(1)",
    ],
)
def test_dangerous_links_are_not_rendered_as_href(body: str) -> None:
    html = parse_article("x", doc(body=body + "\n")).html
    assert "<a" not in html
    assert "href" not in html


@pytest.mark.parametrize("body", ["[c](java%0ascript:alert(1))", "[c](<java\tscript:alert(1)>)"])
def test_obfuscated_javascript_stays_percent_encoded(body: str) -> None:
    # Browsers strip literal tabs/newlines from URLs but never decode %09/%0A in the scheme,
    # so these hrefs are harmless relative paths.
    html = parse_article("x", doc(body=body + "\n")).html
    href = re.search(r'href="([^"]*)"', html)
    assert href is not None
    assert re.fullmatch(r"java%0[9aA]script:alert\(1\)", href.group(1))


def test_relative_and_external_links() -> None:
    body = "[a](/consultation) [b](https://example.org/x) [c](//cdn.example.org) [d](mailto:x@y.z)"
    html = parse_article("x", doc(body=body + "\n")).html
    assert '<a href="/consultation">a</a>' in html
    assert '<a href="https://example.org/x" rel="noopener noreferrer">b</a>' in html
    assert '<a href="//cdn.example.org" rel="noopener noreferrer">c</a>' in html
    assert '<a href="mailto:x@y.z">d</a>' in html


def test_autolinks_and_bare_urls() -> None:
    html = parse_article("x", doc(body="<https://example.org> and www.example.org\n")).html
    assert 'href="https://example.org" rel="noopener noreferrer"' in html
    assert "www.example.org" in html and html.count("<a ") == 1  # no linkify


def test_typographer_and_tables() -> None:
    body = '"Quoted" -- it\'s\n\n| a | b |\n|---|---|\n| 1 | 2 |\n'
    html = parse_article("x", doc(body=body)).html
    assert "“Quoted” – it’s" in html
    assert "<table>" in html and "<td>1</td>" in html


# --- headings -----------------------------------------------------------------------------


def test_h2_ids_unique_and_stable() -> None:
    body = "## Is it right for you?\n\n## Is it right for you?\n\n## Is it right for you-2\n\n"
    body += "## Café & Crème\n\n## !!!\n\n### Not an anchor\n"
    a = parse_article("x", doc(body=body))
    ids = [i for i, _ in a.headings]
    assert ids == [
        "is-it-right-for-you",
        "is-it-right-for-you-2",
        "is-it-right-for-you-2-2",
        "cafe-creme",
        "section",
    ]
    assert a.headings[3] == ("cafe-creme", "Café & Crème")
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"[a-z0-9]+(?:-[a-z0-9]+)*", i) for i in ids)
    assert '<h2 id="is-it-right-for-you">Is it right for you?</h2>' in a.html
    assert "<h3>Not an anchor</h3>" in a.html
    assert parse_article("x", doc(body=body)) == a  # stable


def test_h1_in_body_is_demoted_to_h2() -> None:
    a = parse_article("x", doc(body="# Big title\n\nText\n\nSetext\n======\n"))
    assert "<h1" not in a.html
    assert '<h2 id="big-title">Big title</h2>' in a.html
    assert a.headings == (("big-title", "Big title"), ("setext", "Setext"))


def test_heading_text_includes_code_and_ignores_markup() -> None:
    a = parse_article("x", doc(body="## The *NMDA* `receptor` [link](/clinic)\n"))
    assert a.headings == (("the-nmda-receptor-link", "The NMDA receptor link"),)
    b = parse_article("x", doc(body="Glu**tam**ate\nsystem\n---\n"))
    assert b.headings == (("glutamate-system", "Glutamate system"),)


def test_slugify() -> None:
    assert slugify("  How fast it works, and how long relief lasts ") == (
        "how-fast-it-works-and-how-long-relief-lasts"
    )
    assert slugify("Ketamine: from anesthetic") == "ketamine-from-anesthetic"
    assert slugify("日本語") == "section"


@given(st.text(max_size=300))
def test_any_body_renders_safely(body: str) -> None:
    html, headings, words = render_markdown(body)
    assert "<script" not in html.lower()
    assert not re.search(r'href="\s*javascript:', html, re.IGNORECASE)
    ids = [i for i, _ in headings]
    assert len(ids) == len(set(ids))


@given(st.lists(st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1), max_size=60))
def test_plain_words_are_all_counted(found: list[str]) -> None:
    _, _, words = render_markdown(" ".join(found))
    assert words == len(found)


# --- reading time -------------------------------------------------------------------------


@pytest.mark.parametrize(("words", "minutes"), [(1, 1), (200, 1), (201, 2), (400, 2), (999, 5)])
def test_reading_minutes(words: int, minutes: int) -> None:
    assert parse_article("x", doc(body="word " * words + "\n")).reading_minutes == minutes


# --- store --------------------------------------------------------------------------------


def write(directory: Path, slug: str, text: str, mtime_ns: int | None = None) -> Path:
    """Write an article file and optionally pin its mtime."""
    path = directory / f"{slug}.md"
    path.write_text(text, encoding="utf-8")
    if mtime_ns is not None:
        os.utime(path, ns=(mtime_ns, mtime_ns))
    return path


def test_store_get_and_cache(tmp_path: Path) -> None:
    store = ArticleStore(tmp_path, AUTHOR)
    write(tmp_path, "a", doc(), mtime_ns=1_000_000_000)
    first = store.get("a")
    assert isinstance(first, Article)
    assert first.source_mtime_ns == 1_000_000_000
    assert store.get("a") is first  # unchanged file: cached object
    # Same size and content but a new mtime: re-read.
    write(tmp_path, "a", doc().replace("T", "U"), mtime_ns=2_000_000_000)
    second = store.get("a")
    assert second is not None and second is not first
    assert second.title == "U"
    assert store.get("a") is second


def test_store_rereads_when_size_changes_with_same_mtime(tmp_path: Path) -> None:
    store = ArticleStore(tmp_path, AUTHOR)
    write(tmp_path, "a", doc(), mtime_ns=1_000_000_000)
    assert store.get("a").title == "T"  # type: ignore[union-attr]
    write(tmp_path, "a", doc(meta=GOOD_META.replace('"T"', '"Longer"')), mtime_ns=1_000_000_000)
    assert store.get("a").title == "Longer"  # type: ignore[union-attr]


def test_store_does_not_reparse_unchanged_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import webapp.content as content

    calls = []
    real = content.parse_article
    monkeypatch.setattr(content, "parse_article", lambda *a, **k: calls.append(1) or real(*a, **k))
    store = ArticleStore(tmp_path, AUTHOR)
    write(tmp_path, "a", doc())
    for _ in range(5):
        store.get("a")
        store.all()
    assert len(calls) == 1


@pytest.mark.parametrize(
    "slug",
    ["../secret", "Foo", "a/b", "", "a--b", "-a", "a-", "a.md", "a\x00", "..", "a b", "é"],
)
def test_store_rejects_bad_slugs(tmp_path: Path, slug: str) -> None:
    (tmp_path / "articles").mkdir()
    write(tmp_path, "secret", doc())
    write(tmp_path / "articles", "foo", doc())
    store = ArticleStore(tmp_path / "articles", AUTHOR)
    assert store.get(slug) is None


def test_store_missing_and_deleted(tmp_path: Path) -> None:
    store = ArticleStore(tmp_path, AUTHOR)
    assert store.get("nope") is None
    path = write(tmp_path, "a", doc())
    assert store.get("a") is not None
    path.unlink()
    assert store.get("a") is None
    assert store.all() == []


def test_store_get_raises_on_broken_file(tmp_path: Path) -> None:
    store = ArticleStore(tmp_path, AUTHOR)
    write(tmp_path, "bad", "no front matter\n")
    for _ in range(2):  # also when served from the cache
        with pytest.raises(ArticleError, match=r"^bad\.md: must start"):
            store.get("bad")
    (tmp_path / "latin1.md").write_bytes(doc().encode() + b"caf\xe9\n")
    with pytest.raises(ArticleError, match="latin1.md: not valid UTF-8"):
        store.get("latin1")
    (tmp_path / "folder.md").mkdir()
    with pytest.raises(ArticleError, match="folder.md: cannot be read"):
        store.get("folder")


def test_store_all_sorted_skips_and_logs_broken(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write(tmp_path, "old", doc(GOOD_META.replace("2026-11-29", "2025-01-01")))
    write(tmp_path, "new", doc(GOOD_META.replace("2026-11-29", "2026-12-24")))
    write(tmp_path, "b-mid", doc())
    write(tmp_path, "a-mid", doc())
    write(tmp_path, "broken", doc(GOOD_META + "reviewed = 2020-01-01\n"))
    write(tmp_path, "Bad_Name", doc())
    (tmp_path / "notes.txt").write_text("ignored")
    store = ArticleStore(tmp_path, AUTHOR)
    with caplog.at_level(logging.ERROR, logger="webapp.content"):
        slugs = [a.slug for a in store.all()]
        assert slugs == ["new", "a-mid", "b-mid", "old"]
        assert store.all()[0].slug == "new"
    broken = [r for r in caplog.records if "broken.md" in r.getMessage()]
    assert len(broken) == 1  # logged once, not on every call


def test_validate_all(tmp_path: Path) -> None:
    store = ArticleStore(tmp_path, AUTHOR)
    write(tmp_path, "good", doc())
    assert store.validate_all() == []
    write(tmp_path, "broken", doc(GOOD_META.replace('"T"', "1")))
    write(tmp_path, "Bad_Name", doc())
    errors = store.validate_all()
    assert errors == [
        "Bad_Name.md: file name must be a slug like 'my-article.md' (a-z, 0-9, hyphens)",
        "broken.md: 'title' must be a non-empty string",
    ]
    assert ArticleStore(tmp_path / "missing", AUTHOR).validate_all()[0].endswith("does not exist")
    assert ArticleStore(tmp_path / "missing", AUTHOR).all() == []


# --- the real article ---------------------------------------------------------------------


def test_repo_articles_all_valid() -> None:
    assert ArticleStore(ARTICLES, AUTHOR).validate_all() == []


def test_real_article() -> None:
    a = ArticleStore(ARTICLES, AUTHOR).get(REAL_SLUG)
    assert a is not None
    assert a.title == "Does Ketamine Treat Depression?"
    assert 0 < len(a.description) <= 155
    assert a.reviewed >= a.published
    assert "NMDA" in a.html and "glutamate" in a.html
    assert len(a.headings) >= 5
    assert "<h1" not in a.html
    assert 3 <= a.reading_minutes <= 5
    hrefs = re.findall(r'href="([^"]*)"', a.html)
    assert set(hrefs) <= {"/consultation", "/clinic"}
    assert "/consultation" in hrefs
    lowered = a.html.lower()
    for banned in ("game-changer", "game changer", "psychedelic", "anaesthetic", "988"):
        assert banned not in lowered


def _words(text: str) -> list[str]:
    """Lowercased words with punctuation (including curly quotes) stripped."""
    text = text.lower().replace("’", "").replace("'", "")
    return re.sub(r"[^\w\s]|_", " ", text).split()


def _ngrams(words: list[str], n: int = 8) -> set[tuple[str, ...]]:
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def test_real_article_shares_no_8_gram_with_source() -> None:
    ours = (ARTICLES / f"{REAL_SLUG}.md").read_text(encoding="utf-8")
    body = ours.split("+++", 2)[2]
    shared = _ngrams(_words(body)) & _ngrams(_words(SOURCE_ARTICLE.read_text(encoding="utf-8")))
    assert not shared, [" ".join(g) for g in sorted(shared)]


def test_ngram_helper_detects_copying() -> None:
    src = "It is a complex mental health disorder, characterized by persistent feelings."
    assert _ngrams(_words("Yes: it is a COMPLEX mental-health disorder characterized by x")) & (
        _ngrams(_words(src))
    )
