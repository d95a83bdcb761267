"""Group commit: the writes that arrive while a commit is on its way share the next one.

Every write is synchronised to disk before it is acknowledged (`synchronous=FULL`): on a
disk where that takes a millisecond, one transaction per request caps the site at about a
thousand stored requests a second, however fast the rest is. Here the requests that arrive
while a transaction commits wait, and then go into one transaction together, each in a
savepoint of its own:

- each is acknowledged (its caller's `await` returns) only after the COMMIT that holds it;
- one that fails (a refusal, a constraint) is rolled back to its savepoint alone and its
  caller gets its exception; the others are kept;
- a storage fault (read-only files, a full disk, ...) or a failed COMMIT fails them all:
  nobody is told "stored" for a write that is not on disk;
- a caller that has gone (cancelled) before its turn is left out.

There is no waiting on purpose: a lone request commits at once; grouping only happens
when requests arrive faster than commits complete.

A group's whole transaction (BEGIN, its writes, COMMIT) is one trip to the database's
thread (`Database.write_in_thread`). Each statement of an aiosqlite connection is a round
trip between the event loop and that thread (a wake-up each way), and a consultation
request makes about twenty: more work than the rest of the request. A write here is the
same `async def work(conn)` the domain module gives `Database.write`; it is driven to its
end in the database's thread against a connection that runs each statement at once
(`_InThread`), so it never waits, and anything else it awaited would be an error
(RuntimeError), not a hang.

A write may leave statements for the end of the group (`at_group_end`): they run after every
write of the group, outside the savepoints, and only for writes that were kept. The search
index needs it: FTS5 writes its pending data to disk at every savepoint, so indexing each
request inside its own made one index segment per request.
"""

from __future__ import annotations

import asyncio
import functools
import sqlite3
from collections.abc import Awaitable, Callable, Coroutine, Generator, Sequence
from typing import Any, TypeVar, cast

import aiosqlite

from webapp.db import Database
from webapp.storage import storage_fault

T = TypeVar("T")
Work = Callable[[aiosqlite.Connection], Awaitable[Any]]
Outcome = tuple[bool, Any]
SAVEPOINT = "grouped"


class GroupCommit:
    """Writes of one kind, grouped into shared transactions on `db`'s writer."""

    def __init__(self, db: Database, *, enabled: bool = True) -> None:
        self.db = db
        # Off: the same writes, each in a transaction of its own (one synced commit each).
        self.enabled = enabled
        self._pending: list[tuple[Work, asyncio.Future[Any]]] = []
        self._task: asyncio.Task[None] | None = None
        self.transactions = 0  # (tests and the benchmark read these)
        self.writes = 0

    async def write(self, work: Callable[[aiosqlite.Connection], Awaitable[T]]) -> T:
        """Run `work` in a transaction shared with the writes that queue with it; return
        its result once that transaction has committed (its exception if it failed)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._pending.append((work, future))
        if self._task is None or self._task.done():
            self._task = loop.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        while self._pending:
            live = [(w, f) for w, f in self._pending if not f.done()]
            batch, rest = (live, []) if self.enabled else (live[:1], live[1:])
            self._pending = rest
            if not batch:
                continue
            works = [work for work, _ in batch]
            try:
                outcomes = await self.db.write_in_thread(functools.partial(_run_group, works=works))
            except BaseException as exc:  # nothing of this transaction is stored
                for _, future in batch:
                    _settle(future, False, exc)
                if not isinstance(exc, Exception):
                    raise
                continue
            finally:
                self.transactions += 1
            self.writes += len(batch)
            for (_, future), (ok, value) in zip(batch, outcomes, strict=True):
                _settle(future, ok, value)


async def at_group_end(
    conn: aiosqlite.Connection, sql: str, parameters: Sequence[Any] = ()
) -> None:
    """Run a statement of a write after all the writes of its group, outside their
    savepoints (dropped if the write is rolled back); at once on any other connection."""
    if isinstance(conn, _InThread):
        conn.later.append((sql, parameters))
    else:
        await conn.execute(sql, parameters)


def _run_group(raw: sqlite3.Connection, works: Sequence[Work]) -> list[Outcome]:
    """In the database's thread, inside the shared transaction: each write in a savepoint,
    then the statements they left for the end (`at_group_end`)."""
    outcomes: list[Outcome] = []
    kept: list[_InThread] = []
    for work in works:
        conn = _InThread(raw)
        raw.execute(f"SAVEPOINT {SAVEPOINT}")
        try:
            value = _complete(cast(Coroutine[Any, Any, Any], work(cast(Any, conn))))
        except Exception as exc:
            if isinstance(exc, sqlite3.Error) and storage_fault(exc) is not None:
                raise  # the storage refuses: the whole transaction goes
            raw.execute(f"ROLLBACK TO {SAVEPOINT}")
            raw.execute(f"RELEASE {SAVEPOINT}")
            outcomes.append((False, exc))
        else:
            raw.execute(f"RELEASE {SAVEPOINT}")
            outcomes.append((True, value))
            kept.append(conn)
    for done in kept:
        for sql, parameters in done.later:
            raw.execute(sql, parameters)
    return outcomes


def _complete(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never waits to its end, here and now."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        return cast(T, done.value)
    coroutine.close()
    raise RuntimeError("a grouped write waited on something other than its own statements")


def _settle(future: asyncio.Future[Any], ok: bool, value: Any) -> None:
    if future.done():
        return
    if ok:
        future.set_result(value)
    elif isinstance(value, asyncio.CancelledError):
        future.cancel()
    else:
        future.set_exception(value)


class _Ready:
    """An awaitable already done: awaiting it returns at once, never suspends."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __await__(self) -> Generator[Any, None, Any]:
        yield from ()
        return self.value


class _Cursor:
    """aiosqlite's Cursor, for statements that have already run."""

    __slots__ = ("_cursor",)

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = cursor

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid


class _Result(_Ready):
    """What `execute` returns: awaited, the cursor; in `async with`, closed after."""

    __slots__ = ()

    async def __aenter__(self) -> _Cursor:
        return cast(_Cursor, self.value)

    async def __aexit__(self, *exc: object) -> None:
        await cast(_Cursor, self.value).close()


class _InThread:
    """aiosqlite's Connection, as the domain's write functions use it, on the sqlite3
    connection of the thread it runs in: each statement runs when called."""

    __slots__ = ("_raw", "later")

    def __init__(self, raw: sqlite3.Connection) -> None:
        self._raw = raw
        self.later: list[tuple[str, Sequence[Any]]] = []  # see at_group_end

    def execute(self, sql: str, parameters: Sequence[Any] = ()) -> _Result:
        return _Result(_Cursor(self._raw.execute(sql, parameters)))

    async def execute_fetchall(self, sql: str, parameters: Sequence[Any] = ()) -> list[Any]:
        return self._raw.execute(sql, parameters).fetchall()

    @property
    def in_transaction(self) -> bool:
        return self._raw.in_transaction
