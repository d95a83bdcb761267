"""SQLite access: one serialised writer, one reader, numbered migrations."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from webapp.clock import Clock, system_clock

T = TypeVar("T")
MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    # Health-adjacent records: an acknowledged write must survive a power cut.
    "PRAGMA synchronous=FULL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=5000",
    # Deleted rows are overwritten with zeros, whatever the SQLite build's default: a purged
    # or erased request must not linger in free pages of the file.
    "PRAGMA secure_delete=ON",
)


def utc_now_iso(now: datetime) -> str:
    """An instant (from the app's clock) as the ISO-8601 UTC text of every timestamp column."""
    return now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_utc(text: str) -> datetime:
    """A stored timestamp (utc_now_iso's text) back into an aware datetime."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _migrations() -> list[tuple[int, str, str]]:
    """The migration files shipped in webapp/migrations, in order."""
    found = []
    for entry in resources.files("webapp.migrations").iterdir():
        match = MIGRATION_NAME.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    found.sort()
    versions = [v for v, _, _ in found]
    if versions != list(range(1, len(versions) + 1)):
        raise RuntimeError(f"migrations must be numbered 0001, 0002, ... without gaps: {versions}")
    return found


def migrate(path: Path, clock: Clock = system_clock) -> list[str]:
    """Apply pending migrations to the database at path; return the names applied."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        for pragma in PRAGMAS:
            conn.execute(pragma)
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
        )
        done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
        applied = []
        for version, name, sql in _migrations():
            if version in done:
                continue
            try:
                # One transaction per migration: it lands whole or not at all.
                conn.execute("BEGIN IMMEDIATE")
                for statement in _statements(sql):
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                    (version, name, utc_now_iso(clock())),
                )
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            applied.append(name)
        return applied
    finally:
        conn.close()


def _statements(sql: str) -> Iterable[str]:
    """Split a migration into complete statements (handles triggers' inner semicolons)."""
    buffer = ""
    for line in sql.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            if buffer.strip():
                yield buffer.strip()
            buffer = ""
    leftover = [ln for ln in buffer.splitlines() if ln.strip() and not ln.strip().startswith("--")]
    if leftover:
        raise RuntimeError(f"incomplete statement at the end of a migration: {buffer.strip()!r}")


def backup(source: Path, target: Path) -> int:
    """Copy the live database, consistently, with SQLite's online backup; returns bytes."""
    if target.exists():
        raise ValueError(f"{target} already exists; choose a new file name")
    if not target.parent.is_dir():
        raise ValueError(f"the folder {target.parent} does not exist")
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        dest = sqlite3.connect(target)
        try:
            src.backup(dest)  # safe while the site runs and writes
            ok = dest.execute("PRAGMA integrity_check").fetchone()[0]
        finally:
            dest.close()
    finally:
        src.close()
    if ok != "ok":
        target.unlink(missing_ok=True)
        raise ValueError(f"the copy failed its integrity check: {ok}")
    return target.stat().st_size


def pending_migrations(path: Path) -> list[str]:
    """Names of migrations not yet applied (for the health check and the CLI)."""
    conn = sqlite3.connect(path)
    try:
        try:
            done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
        except sqlite3.OperationalError:
            done = set()
    finally:
        conn.close()
    return [name for version, name, _ in _migrations() if version not in done]


def checkpoint(path: Path) -> bool:
    """Copy the WAL into the database file and empty it: after personal data is deleted, so
    its old pages do not linger in -wal. False when a reader kept it from finishing (the next
    call tries again). Blocking: call it from a worker thread."""
    conn = sqlite3.connect(path, timeout=5, isolation_level=None)
    try:
        row = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        return row is not None and row[0] == 0
    finally:
        conn.close()


class Database:
    """The app's connections: every write goes through `write`, one at a time."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._writer: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()
        # Bumped after each commit: caches of this process notice their data changed.
        self.commits = 0

    async def open(self) -> None:
        """Open both connections with the project's PRAGMAs."""
        self._writer = await self._connect()
        self._reader = await self._connect()
        await self._reader.execute("PRAGMA query_only=ON")

    async def _connect(self) -> aiosqlite.Connection:
        conn = await aiosqlite.connect(self.path, isolation_level=None)
        conn.row_factory = sqlite3.Row
        for pragma in PRAGMAS:
            await conn.execute(pragma)
        return conn

    async def close(self) -> None:
        """Close both connections."""
        for conn in (self._reader, self._writer):
            if conn is not None:
                await conn.close()
        self._reader = self._writer = None

    @property
    def reader(self) -> aiosqlite.Connection:
        """The read-only connection."""
        if self._reader is None:
            raise RuntimeError("database is not open")
        return self._reader

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        """Run a read query and return every row (one trip to the database thread)."""
        return list(await self.reader.execute_fetchall(sql, params))

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        """Run a read query and return its first row, if any."""
        rows = await self.reader.execute_fetchall(sql, params)
        return next(iter(rows), None)

    async def write(self, work: Callable[[aiosqlite.Connection], Awaitable[T]]) -> T:
        """Run `work` in one short BEGIN IMMEDIATE transaction, serialised with all others."""
        if self._writer is None:
            raise RuntimeError("database is not open")
        conn = self._writer
        async with self._lock:
            await conn.execute("BEGIN IMMEDIATE")
            try:
                result = await work(conn)
                await conn.execute("COMMIT")
                self.commits += 1
            except BaseException:
                # Also when COMMIT itself fails (disk full, deferred constraint): the writer
                # must leave the transaction or every later write would fail.
                if conn.in_transaction:
                    await conn.execute("ROLLBACK")
                raise
            return result

    async def data_version(self) -> int:
        """A number that changes whenever any connection, in any process, commits a change."""
        row = await self.fetchone("PRAGMA data_version")
        return int(row[0]) if row else 0

    async def check(self) -> bool:
        """True when the database answers a trivial query (the health check)."""
        row = await self.fetchone("SELECT count(*) FROM schema_migrations")
        return row is not None
