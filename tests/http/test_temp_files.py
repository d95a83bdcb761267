"""SQLite keeps its temporary data in memory (PRAGMA temp_store=MEMORY): a grouped commit's
statement journal holds whole pages of the requests being stored, and on disk it was a file
under /var/tmp, outside the database's own files (so outside what an erasure empties) and
about 100 KB written per stored request."""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from webapp.consultations import Submission, store
from webapp.groupcommit import GroupCommit

NOW = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)
MESSAGE = "I have had depression for years and two medicines have not helped. " * 14


def open_files() -> set[str]:
    found = set()
    for fd in Path("/proc/self/fd").iterdir():
        try:
            found.add(os.readlink(fd))
        except OSError:
            continue  # closed meanwhile
    return found


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc")
@pytest.mark.anyio
async def test_a_grouped_commit_writes_no_temporary_file(db, db_path):
    group = GroupCommit(db)
    seen: list[set[str]] = []

    async def look(conn) -> None:  # the last write of the group, still inside its transaction
        seen.append(open_files())

    person = Submission("Zoë Example", "zoe@example.org", "+15185550142", "call", "any", MESSAGE)
    writes = [store(db, person, f"token-{i}", NOW, write=group.write) for i in range(80)]
    await asyncio.gather(*writes, group.write(look))
    assert group.transactions < 80  # the writes were grouped, as under load
    [files] = seen
    ours = {name for name in files if str(db_path.parent) in name}
    assert ours <= {str(db_path), f"{db_path}-wal", f"{db_path}-shm", f"{db_path}.lock"}
    assert not [name for name in files if "etilqs" in name], files


@pytest.mark.anyio
async def test_both_connections_keep_temporary_data_in_memory(db):
    assert (await db.fetchone("PRAGMA temp_store"))[0] == 2

    async def writer(conn) -> int:
        async with conn.execute("PRAGMA temp_store") as cursor:
            return (await cursor.fetchone())[0]

    assert await db.write(writer) == 2
