"""Searching requests: one accent-folded text per request, indexed by trigrams.

SQLite's trigram tokenizer folds case but (before 3.45) cannot remove accents, so the folding
happens before it: `consultations.search_text` holds the request's reference, name, email and
message with accented Latin letters replaced by plain ones, set by triggers in plain SQL
(migrations 0009 and 0010, from `fold_statements`), so it is right whichever connection writes
a request (the app's, the command line's, a test's). The site's own INSERT gives the folded
text itself (`indexed_text`, the same table in Python): the SQL folding was a quarter of a
stored request's INSERT (about 290 against 220 microseconds in groups of 16). Such a row is
indexed by its writer, in the same transaction (consultations.store, migration 0012): the site's
group commit indexes a group's requests together after they have all run, one index segment
per group instead of one per request. The search box's text is folded the same way here,
from the same table (FOLD). The full-text index stays external-content; updates and deletes
are kept by triggers on `consultations`.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

MIN_SEARCH = 3  # the trigram index needs three characters
# Letters NFKD does not take apart, folded as a reader would type them without accents.
_SPECIAL = {
    "Æ": "ae", "æ": "ae", "Ð": "d", "ð": "d", "Ø": "o", "ø": "o", "Þ": "th", "þ": "th",
    "ß": "ss", "Đ": "d", "đ": "d", "Ħ": "h", "ħ": "h", "ı": "i", "Ŀ": "l", "ŀ": "l",
    "Ł": "l", "ł": "l", "Œ": "oe", "œ": "oe", "Ŧ": "t", "ŧ": "t",
    # Typographic apostrophes (O’Brien) read as the plain one (O'Brien).
    "\u2018": "'", "\u2019": "'",
}  # fmt: skip
# Combining accents, for text typed decomposed (e + U+0301 rather than é).
_COMBINING = (*range(0x300, 0x309), 0x30A, 0x30B, 0x30C, 0x327, 0x328)


def _fold_table() -> dict[str, str]:
    table: dict[str, str] = {}
    for code in range(0xC0, 0x180):
        char = chr(code)
        if not char.isalpha():
            continue
        parts = unicodedata.normalize("NFKD", char)
        base = "".join(c for c in parts if not unicodedata.combining(c))
        if base.isascii() and base.isalpha() and base != char:
            table[char] = base.lower()
    table.update(_SPECIAL)
    table.update({chr(code): "" for code in _COMBINING})
    return table


FOLD = _fold_table()
_TRANSLATE = str.maketrans(FOLD)


def indexed_text(reference: str, full_name: str, email: str, message: str) -> str:
    """`consultations.search_text` for a new request, exactly as `fold_statements` would set
    it (folded, case kept: the tokenizer folds case). The site's own INSERT gives it, so the
    row is written once and indexed at once (migration 0010); a row inserted without it
    (by the command line, a restore, a test) is still folded by the SQL."""
    return "\n".join((reference, full_name, email, message)).translate(_TRANSLATE)


def fold(text: str) -> str:
    """Text as the index holds it: accents off, lower case. Character by character with the
    table the SQL uses (no Unicode normalisation, which the SQL cannot do), so that a query
    and a stored text fold alike however each was typed."""
    return text.translate(_TRANSLATE).lower()


NON_ASCII = "'*[^' || char(1) || '-' || char(127) || ']*'"
SOURCE = "reference || char(10) || full_name || char(10) || email || char(10) || message"
# SQLite's parser takes about twenty nested calls in one expression: the replacements are
# applied in steps of this many, one UPDATE statement each.
STEP = 20


def fold_statements(where: str) -> list[str]:
    """The SQL that sets `consultations.search_text` for the rows `where` selects to the
    request's text folded as `fold` folds it (less the lower-casing, which the tokenizer
    does): the text, then the replacements in steps, each only on text that is not plain
    ASCII. Migration 0009 holds these statements; a test keeps the two the same."""
    statements = [f"UPDATE consultations SET search_text = {SOURCE} WHERE {where};"]  # noqa: S608
    pairs = list(FOLD.items())
    for start in range(0, len(pairs), STEP):
        folded = "search_text"
        for char, plain in pairs[start : start + STEP]:
            quoted = plain.replace("'", "''")
            folded = f"replace({folded}, char({ord(char)}), '{quoted}')"
        statements.append(
            f"UPDATE consultations SET search_text = {folded}\n"  # noqa: S608
            f"    WHERE {where} AND search_text GLOB {NON_ASCII};"
        )
    return statements


_PHONE_LIKE = re.compile(r"^[\d\s().+\-]+$")


@dataclass(frozen=True)
class Query:
    """What a search box's text asks the index: a MATCH expression (None: too short for it)
    and, for words under three characters, LIKE patterns on the folded text."""

    match: str | None
    likes: tuple[str, ...]


def _quoted(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _like(word: str) -> str:
    return "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def parse(q: str) -> Query:
    """The search for a box's text: every word must appear in the reference, name, email or
    message (accents and case aside); a phone number matches its digits, however written."""
    text = " ".join(fold(q).split())
    if not text:
        return Query(None, ())
    digits = re.sub(r"\D", "", text)
    if _PHONE_LIKE.match(text) and len(digits) >= MIN_SEARCH:
        # "(518) 555-0123", "555 0123", "5550123": the phone's digits, or the text as typed
        # (a reference's digits, a street number in a message).
        return Query(f"phone : {_quoted(digits)} OR search_text : {_quoted(text)}", ())
    clauses: list[str] = []
    likes: list[str] = []
    for word in text.split(" "):
        if len(word) < MIN_SEARCH:
            likes.append(_like(word))
            continue
        clause = f"search_text : {_quoted(word)}"
        word_digits = re.sub(r"\D", "", word)
        if _PHONE_LIKE.match(word) and len(word_digits) >= MIN_SEARCH:
            clause = f"({clause} OR phone : {_quoted(word_digits)})"
        clauses.append(clause)
    return Query(" AND ".join(clauses) if clauses else None, tuple(likes))
