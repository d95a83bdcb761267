"""SQLite access: one serialised writer, one reader, numbered migrations."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import sqlite3
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar, cast

import aiosqlite

from webapp.clock import Clock, system_clock
from webapp.storage import (
    Fault,
    StorageUnavailable,
    explain,
    hold_shared_lock,
    release,
    storage_fault,
)

T = TypeVar("T")
log = logging.getLogger(__name__)
# After a storage fault the next write connects afresh, except when the disk is full or
# another process holds the lock: those pass without it (and closing makes SQLite
# checkpoint, on a full disk). After read-only files the reader is opened afresh too (see
# `_drop_connections`); after other faults it stays, so pages can still be read.
KEEP_CONNECTED = {"disk full", "locked"}
MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
PRAGMAS = (
    # First: switching a new file to WAL takes a lock that another process may hold.
    "PRAGMA busy_timeout=5000",
    "PRAGMA journal_mode=WAL",
    # Health-adjacent records: an acknowledged write must survive a power cut.
    "PRAGMA synchronous=FULL",
    "PRAGMA foreign_keys=ON",
    # Deleted rows are overwritten with zeros, whatever the SQLite build's default: a purged
    # or erased request must not linger in free pages of the file.
    "PRAGMA secure_delete=ON",
    # Temporary data in memory, never in a file: a grouped commit's statement journal holds
    # whole pages of the requests being stored. In /var/tmp it was outside the database's
    # own files (so outside what an erasure empties) and ~100 KB written per stored request.
    "PRAGMA temp_store=MEMORY",
)


def _whole(
    raw: sqlite3.Connection, work: Callable[[sqlite3.Connection], T], broken: list[sqlite3.Error]
) -> T:
    """In the writer's thread: one transaction around `work` (Database.write_in_thread)."""
    raw.execute("BEGIN IMMEDIATE")
    try:
        result = work(raw)
        raw.execute("COMMIT")
    except BaseException:
        # Also when COMMIT itself fails (disk full, deferred constraint): the writer must
        # leave the transaction or every later write would fail.
        if raw.in_transaction:
            try:
                raw.execute("ROLLBACK")
            except sqlite3.Error as exc:
                broken.append(exc)
        raise
    return result


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


def create_private(path: Path) -> None:
    """Create an empty database file for its owner alone (0600), if there is none yet.

    It will hold patients' details; SQLite gives its -wal and -shm files the same mode.
    """
    # An existing file stays as it is; any other failure (a read-only folder, ...) is then
    # reported by SQLite's own attempt, in its words.
    with contextlib.suppress(OSError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def migrate(path: Path, clock: Clock = system_clock) -> list[str]:
    """Apply pending migrations to the database at path; return the names applied."""
    create_private(path)
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
                # One transaction per migration: it lands whole or not at all. Whether it is
                # still pending is decided inside it: another process starting at the same
                # time (serve --workers N, a command beside the site) may have applied it.
                conn.execute("BEGIN IMMEDIATE")
                if conn.execute(
                    "SELECT 1 FROM schema_migrations WHERE version = ?", (version,)
                ).fetchone():
                    conn.execute("COMMIT")
                    continue
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


def migration_versions() -> set[int]:
    """The versions of the migrations this code ships."""
    return {version for version, _, _ in _migrations()}


class TargetExists(ValueError):
    """A backup's file name is taken: nothing is overwritten."""


def backup(source: Path, target: Path) -> int:
    """Copy the live database, consistently, with SQLite's online backup; returns bytes.

    The copy is created for its owner alone (0600): it holds patients' details.
    """
    if not target.parent.is_dir():
        raise ValueError(f"the folder {target.parent} does not exist")
    try:
        os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        raise TargetExists(f"{target} already exists; choose a new file name") from None
    try:
        src = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True)
        try:
            dest = sqlite3.connect(target)
            try:
                src.backup(dest)  # safe while the site runs and writes
                # One self-contained file to copy off the server (no -wal beside it).
                dest.execute("PRAGMA journal_mode=DELETE")
                ok = dest.execute("PRAGMA integrity_check").fetchone()[0]
            finally:
                dest.close()
        finally:
            src.close()
        if ok != "ok":
            raise ValueError(f"the copy failed its integrity check: {ok}")
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return target.stat().st_size


def _heartbeat_value(current: int) -> int:
    return (current + 1) % 1_000_000


def probe_file(path: Path) -> None:
    """The health check's heartbeat, without the app (start-up): one commit that changes the
    file header's user_version, which nothing else uses. sqlite3.Error when it cannot."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        for pragma in PRAGMAS:
            conn.execute(pragma)
        conn.execute("BEGIN IMMEDIATE")
        try:
            beat = _heartbeat_value(int(conn.execute("PRAGMA user_version").fetchone()[0]))
            conn.execute(f"PRAGMA user_version = {beat:d}")
            conn.execute("COMMIT")
        finally:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
    finally:
        conn.close()


def pending_migrations(path: Path) -> list[str]:
    """Names of migrations not yet applied (for the CLI); creates no file."""
    if not path.exists():
        return [name for _, name, _ in _migrations()]
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        try:
            done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
        except sqlite3.OperationalError:
            done = set()
    finally:
        conn.close()
    return [name for version, name, _ in _migrations() if version not in done]


def checkpoint(path: Path, wait: float = 5) -> bool:
    """Copy the WAL into the database file and empty it: after personal data is deleted, so
    its old pages do not linger in -wal. False when a reader kept it from finishing within
    `wait` seconds (the next call tries again); writers wait meanwhile. Blocking: call it
    from a worker thread."""
    conn = sqlite3.connect(path, timeout=wait, isolation_level=None)
    try:
        row = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        return row is not None and row[0] == 0
    finally:
        conn.close()


class Database:
    """The app's connections: every write goes through `write`, one at a time.

    A write that the storage refuses (read-only files, a full disk, an I/O error) raises
    StorageUnavailable, is logged once per incident, and closes the writer: the next write
    opens it afresh, so the site heals by itself once the cause is fixed (an SQLite
    connection opened on a read-only file stays read-only). While open, the database holds
    a shared lock on `<file>.lock`, so `restore` can tell that it is in use.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._writer: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()
        self._reopen = asyncio.Lock()
        self._opened = False
        self._lock_fd: int | None = None
        # What this process has changed, by name, for its caches: a domain module bumps its
        # name after a write that changes what they hold (closures: the opening hours every
        # page shows). Other processes' changes are the caches' own business (a re-read
        # every second): this is only so that a change made here shows at once.
        self.changed: Counter[str] = Counter()
        # The storage problem of the current incident (None while writes work).
        self.fault: Fault | None = None
        self.failures = 0

    async def open(self) -> None:
        """Open both connections with the project's PRAGMAs (DatabaseInUse during a restore)."""
        self._lock_fd = hold_shared_lock(self.path)
        try:
            self._writer = await self._connect()
            self._reader = await self._connect(query_only=True)
        except BaseException:
            await self.close()
            raise
        self._opened = True

    async def _connect(self, *, query_only: bool = False) -> aiosqlite.Connection:
        conn = await aiosqlite.connect(self.path, isolation_level=None)
        try:
            conn.row_factory = sqlite3.Row
            for pragma in PRAGMAS:
                await conn.execute(pragma)
            if query_only:
                await conn.execute("PRAGMA query_only=ON")
        except BaseException:
            await conn.close()
            raise
        return conn

    async def close(self) -> None:
        """Close both connections and release the lock."""
        for conn in (self._reader, self._writer):
            if conn is not None:
                with contextlib.suppress(sqlite3.Error):  # a broken one is gone all the same
                    await conn.close()
        self._reader = self._writer = None
        self._opened = False
        release(self._lock_fd)
        self._lock_fd = None

    @property
    def reader(self) -> aiosqlite.Connection:
        """The read-only connection."""
        if self._reader is None:
            raise RuntimeError("database is not open")
        return self._reader

    async def _reader_connection(self) -> aiosqlite.Connection:
        if not self._opened:
            raise RuntimeError("database is not open")
        if self._reader is None:  # closed after a storage fault
            async with self._reopen:
                if self._reader is None:
                    self._reader = await self._connect(query_only=True)
        return self._reader

    async def fetchall(
        self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()
    ) -> list[sqlite3.Row]:
        """Run a read query and return every row (one trip to the database thread)."""
        try:
            reader = await self._reader_connection()
            return list(await reader.execute_fetchall(sql, params))
        except sqlite3.Error as exc:
            # "read-only" from the reader is a write sent to the wrong connection (a bug).
            if storage_fault(exc) in (None, "read-only"):
                raise
            raise self._fault(exc) from None

    async def fetchone(
        self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()
    ) -> sqlite3.Row | None:
        """Run a read query and return its first row, if any."""
        return next(iter(await self.fetchall(sql, params)), None)

    def _fault(self, exc: BaseException) -> StorageUnavailable:
        kind = storage_fault(exc) or "unavailable"
        if self.fault is not None and self.fault.kind == kind:  # the same incident
            self.failures += 1
            return StorageUnavailable(kind, self.fault.detail)
        return self.note_fault(kind, explain(self.path, exc))

    def note_fault(self, kind: str, detail: str) -> StorageUnavailable:
        """Record a storage fault, logged once per incident, and return it to raise."""
        self.failures += 1
        if self.fault is None or self.fault.kind != kind:
            log.warning("database fault (%s): %s; writes are tried afresh each time", kind, detail)
        self.fault = Fault(kind, detail)
        return StorageUnavailable(kind, detail)

    def _healed(self) -> None:
        if self.fault is not None:
            log.warning(
                "database fault over (%s): writes work again; %d failed meanwhile",
                self.fault.kind,
                self.failures,
            )
        self.fault = None
        self.failures = 0

    async def _drop_connections(self, *, reader: bool = False) -> None:
        """Close the writer (and the reader) after a storage fault; the next use reconnects.

        The reader too after read-only files: SQLite shares one mapping of the -shm file
        between the connections of a process, and one made while the file was read-only
        stays read-only until the last connection using it is closed. (Reads already
        queued on the reader finish first: aiosqlite runs a connection's calls in order.)
        """
        dropped = [self._writer, self._reader if reader else None]
        self._writer = None
        if reader:
            self._reader = None
        for conn in dropped:
            if conn is not None:
                with contextlib.suppress(sqlite3.Error):
                    await conn.close()

    async def _transaction(self, run: Callable[[aiosqlite.Connection], Awaitable[T]]) -> T:
        """Run one transaction on the writer (`run` begins and ends it), serialised with all
        others; a storage fault becomes StorageUnavailable, and the writer heals after it."""
        if not self._opened:
            raise RuntimeError("database is not open")
        async with self._lock:
            try:
                if self._writer is None:
                    self._writer = await self._connect()
                result = await run(self._writer)
            except sqlite3.Error as exc:
                kind = storage_fault(exc)
                if kind is None:
                    raise
                if kind not in KEEP_CONNECTED:
                    await self._drop_connections(reader=kind == "read-only")
                raise self._fault(exc) from None
            self._healed()
            return result

    async def _statements(
        self, conn: aiosqlite.Connection, work: Callable[[aiosqlite.Connection], Awaitable[T]]
    ) -> T:
        """BEGIN IMMEDIATE, `work`'s statements (a trip to the writer's thread each), COMMIT."""
        await conn.execute("BEGIN IMMEDIATE")
        try:
            result = await work(conn)
            await conn.execute("COMMIT")
        except BaseException:
            # Also when COMMIT itself fails (disk full, deferred constraint): the writer must
            # leave the transaction or every later write would fail.
            if conn.in_transaction:
                try:
                    await conn.execute("ROLLBACK")
                except sqlite3.Error:
                    await self._drop_connections()
            raise
        return result

    async def _whole_in_thread(
        self, conn: aiosqlite.Connection, work: Callable[[sqlite3.Connection], T]
    ) -> T:
        """BEGIN IMMEDIATE, `work` and COMMIT (ROLLBACK on any failure) in one trip to the
        writer's thread, the way aiosqlite runs each of its own calls there (`_execute`)."""
        broken: list[sqlite3.Error] = []
        inner = cast(Any, conn)
        try:
            return cast(T, await inner._execute(_whole, inner._conn, work, broken))
        finally:
            if broken:  # the ROLLBACK itself failed: the connection cannot be trusted
                await self._drop_connections()

    async def write_in_thread(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """`write` for a function of the writer's own sqlite3 connection that runs whole in
        its thread: the transaction is one trip there, where `write` makes one for each
        statement. Serialised with every other write; the same faults and healing."""
        return await self._transaction(lambda conn: self._whole_in_thread(conn, work))

    async def write(self, work: Callable[[aiosqlite.Connection], Awaitable[T]]) -> T:
        """Run `work` in one short BEGIN IMMEDIATE transaction, serialised with all others.

        StorageUnavailable when the storage refuses it (then nothing of it is stored).
        """
        return await self._transaction(lambda conn: self._statements(conn, work))

    async def probe(self) -> None:
        """Prove that a write commits now (the health check's heartbeat).

        It bumps the file header's user_version, which nothing else uses: a real commit,
        appended to the WAL and synced like every write, that changes no data.
        StorageUnavailable, as from `write`, when it cannot.
        """

        async def heartbeat(conn: aiosqlite.Connection) -> None:
            async with conn.execute("PRAGMA user_version") as cursor:
                row = await cursor.fetchone()
            beat = _heartbeat_value(int(row[0]) if row else 0)
            await conn.execute(f"PRAGMA user_version = {beat:d}")

        await self._transaction(lambda conn: self._statements(conn, heartbeat))

    async def data_version(self) -> int:
        """A number that changes whenever any connection, in any process, commits a change."""
        row = await self.fetchone("PRAGMA data_version")
        return int(row[0]) if row else 0

    async def check(self) -> bool:
        """True when the database answers a trivial query."""
        row = await self.fetchone("SELECT count(*) FROM schema_migrations")
        return row is not None
