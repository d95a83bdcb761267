"""The disk fills up while consultation requests are being grouped into shared commits, on
the real server (the fast stack, one worker and two): whoever is told "stored" is on disk,
whoever is told "not sent" is not, and the site takes requests again once there is room."""

from __future__ import annotations

import asyncio
import os
import re
import sqlite3
from contextlib import closing
from pathlib import Path

import httpx2
import pytest

from tests.conftest import assert_all_indexed
from tests.helpers import form
from tests.http.test_storage_faults import NOT_SENT, fill, small_disk
from tests.serving import Site, aged_token
from webapp.db import migrate

__all__ = ["small_disk"]  # the fixture, imported for this file's test
REFERENCE = re.compile(r"AKI-[0-9A-Z]{5}")
ROOM = 192 * 1024  # left free: enough for some requests of the burst, not all


async def burst(url: str, names: list[str]) -> list[tuple[str, int, str | None, str]]:
    """Each name sent at once as an htmx submission: (name, status, reference, page)."""
    limits = httpx2.Limits(max_connections=len(names))
    async with httpx2.AsyncClient(base_url=url, timeout=60, limits=limits) as client:

        async def one(name: str) -> tuple[str, int, str | None, str]:
            answer = await client.post(
                "/consultation",
                data=form(aged_token(), full_name=name),
                headers={"HX-Request": "true"},
            )
            found = REFERENCE.search(answer.text)
            return name, answer.status_code, found.group() if found else None, answer.text

        return await asyncio.gather(*(one(name) for name in names))


@pytest.mark.parametrize("small_disk", ["8m"], indirect=True)
@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_disk_filling_during_grouped_commits_tells_each_visitor_the_truth(
    small_disk: Path, tmp_path: Path, workers: str
) -> None:
    database = small_disk / "clinic.db"
    migrate(database)
    site = Site(database, tmp_path / "site.log", http="httptools",
                env={"CONSULTATION_RATE_LIMIT": "100000/60", "BACKUP_TIME": "off"},
                args=("--workers", workers))  # fmt: skip
    site.start()
    try:
        filler = fill(small_disk)
        os.truncate(filler, max(0, filler.stat().st_size - ROOM))
        answers = []
        for wave in range(6):
            names = [f"Visitor {wave}-{i}" for i in range(60)]
            answers += asyncio.run(burst(site.url, names))
        filler.unlink()
        after = asyncio.run(burst(site.url, [f"After {i}" for i in range(20)]))
    finally:
        site.stop()
    statuses = {status for _, status, _, _ in answers}
    assert statuses == {200, 503}, statuses  # the disk filled part-way through
    for _, status, reference, page in answers:
        if status == 200:
            assert reference is not None
        else:
            assert NOT_SENT in re.sub(r"\s+", " ", page)
    assert {status for _, status, _, _ in after} == {200}
    with closing(sqlite3.connect(database)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        stored = dict(conn.execute("SELECT full_name, reference FROM consultations"))
    told_stored = {name: ref for name, status, ref, _ in [*answers, *after] if status == 200}
    told_not = {name for name, status, _, _ in answers if status == 503}
    assert told_stored == {name: stored.get(name) for name in told_stored}
    assert not told_not & stored.keys(), "a visitor told 'not sent' was stored"
    assert len(stored) == len(told_stored)
    assert "Traceback" not in site.log()
    assert_all_indexed(database)  # each group's index entries went with its commit, or not
