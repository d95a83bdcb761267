"""Looking for deleted personal data where an auditor would: the raw bytes of the database,
its -wal and -shm files, and the full-text index's own blocks.

Whole strings (a name, an email, phone digits, a message, a note) are searched in the raw
bytes, case-insensitively. The trigram index stores three-letter fragments, so the deleted
text's fragments are searched too: those not explained by anything still stored (other rows,
hashes, the schema's own text), so a fragment another row legitimately holds is no finding.
"""

from __future__ import annotations

import re
import sqlite3
from contextlib import closing
from pathlib import Path

SUFFIXES = ("", "-wal", "-shm")
LETTERS = re.compile(r"^[a-z]{3}$")


def raw(database: Path) -> dict[str, bytes]:
    """The bytes of the database, its -wal and its -shm (empty when a file does not exist)."""
    found = {}
    for suffix in SUFFIXES:
        path = Path(f"{database}{suffix}")
        found[suffix or "db"] = path.read_bytes() if path.exists() else b""
    return found


def whole_hits(database: Path, words: list[str]) -> list[tuple[str, str]]:
    """(file, word) for each word still in a file's bytes, any case."""
    hits = []
    for name, blob in raw(database).items():
        lower = blob.lower()
        hits += [(name, w) for w in words if w.lower().encode() in lower]
    return hits


def fragments(text: str) -> set[str]:
    """The three-letter fragments (letters only) the trigram index makes of a text."""
    lower = text.lower()
    return {lower[i : i + 3] for i in range(len(lower) - 2) if LETTERS.match(lower[i : i + 3])}


def stored_text(database: Path) -> str:
    """Every text value still stored in any table, and the schema: what explains a fragment."""
    with closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as conn:
        tables = [
            row[0]
            for row in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'"
                " AND name NOT LIKE 'consultations_fts%' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        parts = []
        for table in ["sqlite_master", *tables]:
            for row in conn.execute(f'SELECT * FROM "{table}"'):  # noqa: S608
                values = [str(value) for value in row if value is not None]
                # A row's values lie side by side in the file: "table" + "form_drafts".
                parts += [*values, "".join(values)]
    return "\n".join(parts)


def index_blocks(database: Path) -> bytes:
    """The full-text index's live blocks and segment keys, as stored."""
    with closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as conn:
        blocks = [row[0] for row in conn.execute("SELECT block FROM consultations_fts_data")]
        keys = [row[0] for row in conn.execute("SELECT term FROM consultations_fts_idx")]
    return b"".join(bytes(b) for b in blocks if b) + b"".join(bytes(k) for k in keys if k)


def fragment_hits(database: Path, deleted: list[str]) -> dict[str, list[str]]:
    """Fragments of the deleted texts, not explained by anything still stored, found in the
    index's blocks or in the raw files (case-sensitive: the index folds to lower case)."""
    still = stored_text(database).lower()
    for text in deleted:  # while they are held, the deleted texts explain nothing
        still = still.replace(text.lower(), "\n")
    unexplained = set().union(*(fragments(t) for t in deleted)) - fragments(still)
    places = {"index": index_blocks(database), **raw(database)}
    return {
        name: sorted(f for f in unexplained if f.encode() in blob)
        for name, blob in places.items()
        if any(f.encode() in blob for f in unexplained)
    }
