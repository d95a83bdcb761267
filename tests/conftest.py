"""Fixture chain: settings -> app -> client, each test with its own database and clock."""

from __future__ import annotations

import sqlite3
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from starlette.datastructures import Secret
from starlette.testclient import TestClient

from webapp.app import create_app
from webapp.context import of
from webapp.db import Database, migrate
from webapp.settings import ROOT, Settings

ET = ZoneInfo("America/New_York")
TEST_SECRET = "test-secret-key-that-is-long-enough-0123456789"
SHM = Path("/dev/shm")


class FakeClock:
    """A clock tests set; with `running=True` it moves on in real time from the set instant."""

    def __init__(self, start: datetime, *, running: bool = False) -> None:
        self.set(start)
        self.running = running

    def set(self, instant: datetime) -> None:
        """Jump to an instant (must be timezone-aware)."""
        if instant.tzinfo is None:
            raise ValueError("FakeClock needs an aware datetime")
        self._base = instant.astimezone(UTC)
        self._started = time.monotonic()

    def set_local(self, *args: int) -> None:
        """Jump to a clinic-local wall time: set_local(2026, 12, 1, 16, 59, 58)."""
        self.set(datetime(*args, tzinfo=ET))

    def advance(self, **kwargs: float) -> None:
        """Move the clock forward by a timedelta's worth."""
        self.set(self() + timedelta(**kwargs))

    def __call__(self) -> datetime:
        if self.running:
            return self._base + timedelta(seconds=time.monotonic() - self._started)
        return self._base


# Requests with no entry in the full-text index. The site indexes what it stores itself
# (consultations.INDEX_NEW, migration 0012), not a trigger: every test that stores requests checks,
# when it ends, that none was left out.
UNINDEXED = (
    "SELECT reference FROM consultations c"
    " WHERE NOT EXISTS (SELECT 1 FROM consultations_fts_docsize d WHERE d.id = c.id)"
)


def assert_all_indexed(path: Path) -> None:
    """Every request in the database at `path` can be found by search (when it exists)."""
    if not path.exists():
        return
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        try:
            missing = [row[0] for row in conn.execute(UNINDEXED)]
        finally:
            conn.close()
    except sqlite3.OperationalError:  # not migrated, or the test took the file away
        return
    assert not missing, f"requests missing from the search index: {missing[:5]}"


def make_settings(tmp_path: Path, **overrides) -> Settings:
    """Settings for a test: temporary database, fixed secret, the repo's data files."""
    values = {
        "database_path": tmp_path / "test.db",
        "secret_keys": (Secret(TEST_SECRET),),
        "data_dir": ROOT / "data",
        "allowed_hosts": ("testserver", "127.0.0.1", "localhost"),
        "fast_password_hashing": True,
        "background_jobs": False,
        "backup_dir_setting": tmp_path / "backups",  # never the repo's data/backups
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def anyio_backend() -> str:
    """Async tests and fixtures run on asyncio, the loop the site runs on."""
    return "asyncio"


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """A migrated database file, for tests of the domain modules without the app."""
    path = tmp_path / "clinic.db"
    migrate(path)
    return path


@pytest.fixture
async def db(db_path: Path, anyio_backend: str) -> AsyncIterator[Database]:
    """That file opened as the app opens it."""
    database = Database(db_path)
    await database.open()
    try:
        yield database
    finally:
        await database.close()
    assert_all_indexed(db_path)


@pytest.fixture
def clock() -> FakeClock:
    """Tuesday 2026-12-01, 10:30 in Albany: the clinic is open."""
    return FakeClock(datetime(2026, 12, 1, 10, 30, tzinfo=ET))


@pytest.fixture
def settings(tmp_path: Path) -> Iterator[Settings]:
    """make_settings() with the database on memory-backed /dev/shm when there is one, else in
    tmp_path: the app syncs every write to disk (synchronous=FULL), slow and beside the point."""
    if not SHM.is_dir():
        yield make_settings(tmp_path)
        return
    with tempfile.TemporaryDirectory(dir=SHM, prefix="webapp-tests-") as folder:
        yield make_settings(Path(folder))


@pytest.fixture
def app(settings: Settings, clock: FakeClock):
    return create_app(settings, clock=clock)


@pytest.fixture
def client(app) -> Iterator[TestClient]:
    with TestClient(app, base_url="http://testserver") as test_client:
        yield test_client
    assert_all_indexed(of(app).settings.database_path)


@pytest.fixture
async def database(settings: Settings):
    """A migrated database of the test's own, opened as the app opens it (for async tests)."""
    from webapp.db import Database, migrate

    migrate(settings.database_path)
    db = Database(settings.database_path)
    await db.open()
    try:
        yield db
    finally:
        await db.close()
    assert_all_indexed(settings.database_path)
