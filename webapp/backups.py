"""Backups that run and restore: a daily online copy, verified and pruned, and `restore`.

A backup is SQLite's online backup of the live database (consistent while the site writes),
checked with `PRAGMA integrity_check`, written as `clinic-<UTC time>.db` (mode 0600) into
BACKUP_DIR; the newest BACKUP_KEEP are kept. A restore refuses while anything uses the
database (the lock every open `Database` shares), checks the copy's integrity and its
migrations, applies the ones it lacks, keeps the replaced database aside and only then puts
the copy in its place.
"""

from __future__ import annotations

import contextlib
import glob
import logging
import os
import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio

from webapp.clock import Clock
from webapp.db import TargetExists, backup, migrate, migration_versions
from webapp.jobs import Job
from webapp.privacy import Reapplied, reapply_erasures
from webapp.settings import Settings
from webapp.storage import hold_exclusive_lock, release

log = logging.getLogger(__name__)
NAME = re.compile(r"^clinic-\d{8}-\d{6}\.db$")
COMPANIONS = ("", "-wal", "-shm")
REPLACED = ".replaced-"
STAMP = "%Y%m%d-%H%M%S"
SAME_SECOND_TRIES = 10


class RestoreRefused(ValueError):
    """The file cannot be restored; the message says why, in one line."""


def backup_name(now: datetime) -> str:
    """The file name of a backup made at `now`: clinic-YYYYMMDD-HHMMSS.db (UTC)."""
    return f"clinic-{now.astimezone(UTC):%Y%m%d-%H%M%S}.db"


def make_backup(source: Path, folder: Path, now: datetime) -> tuple[Path, int]:
    """Copy the live database into `folder` (created 0700), verified; (file, bytes)."""
    if not source.exists():
        raise ValueError(f"there is no database at {source} yet")
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    # Two in one second (the daily one at start-up and one asked for): the later takes the
    # next second's name, so names stay in the order the copies were made.
    for later in range(SAME_SECOND_TRIES):
        target = folder / backup_name(now + timedelta(seconds=later))
        try:
            return target, backup(source, target)
        except TargetExists:
            continue
    raise TargetExists(f"{target} already exists; choose a new file name")


def prune(folder: Path, keep: int) -> list[Path]:
    """Delete all but the newest `keep` backups in `folder` (only files named like ours)."""
    ours = sorted(p for p in folder.glob("clinic-*.db") if NAME.match(p.name))
    old = ours[:-keep] if keep > 0 else []
    for path in old:
        path.unlink(missing_ok=True)
    return old


def daily_job(settings: Settings, clock: Clock) -> Job | None:
    """The daily backup at BACKUP_TIME (clinic-local), or None when it is off."""
    if settings.backup_time is None:
        return None
    source, folder, keep = settings.database_path, settings.backup_dir, settings.backup_keep

    def work(now: datetime) -> str:
        target, size = make_backup(source, folder, now)
        removed = prune(folder, keep)
        return f"{target} ({size:,} bytes, integrity ok); {len(removed)} older removed"

    async def run(now: datetime) -> str:
        try:
            return await anyio.to_thread.run_sync(work, now)
        except (OSError, ValueError, sqlite3.Error) as exc:
            # The job runner logs only the error's type; the operator needs the words.
            log.warning("backup into %s failed: %s", folder, exc)
            raise

    return Job("backup", run, daily_at=settings.backup_time)


@dataclass(frozen=True)
class Restored:
    """What a restore did: the requests it holds, migrations applied, the file kept aside."""

    requests: int
    applied: list[str]
    kept_aside: Path | None
    # Erasures recorded in the replaced database, applied to the copy again (privacy.py).
    erased_again: Reapplied = Reapplied([], True)


@contextlib.contextmanager
def _exclusive(path: Path) -> Iterator[None]:
    fd = hold_exclusive_lock(path)
    try:
        yield
    finally:
        release(fd)


def _check_copy(path: Path) -> None:
    """Integrity and a known schema, or RestoreRefused."""
    try:
        with contextlib.closing(sqlite3.connect(path)) as conn:
            result = conn.execute("PRAGMA integrity_check").fetchone()[0]
            if result != "ok":
                raise RestoreRefused(f"the copy fails its integrity check: {result}")
            try:
                versions = {r[0] for r in conn.execute("SELECT version FROM schema_migrations")}
            except sqlite3.OperationalError:
                raise RestoreRefused("the file is not a backup of this site's database") from None
    except sqlite3.DatabaseError as exc:
        raise RestoreRefused(f"the file is not a usable SQLite database: {exc}") from None
    unknown = versions - migration_versions()
    if unknown:
        raise RestoreRefused(
            f"the backup has migrations this version does not know ({sorted(unknown)}): "
            "restore it with the version of the site that made it"
        )


def _count_requests(path: Path) -> int:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        return int(conn.execute("SELECT count(*) FROM consultations").fetchone()[0])


def _owner_of(database: Path) -> os.stat_result:
    """Whose the restored file should be: the replaced file's owner, else its folder's."""
    return database.stat() if database.exists() else database.parent.stat()


def restore(source: Path, database: Path, now: datetime, clock: Clock) -> Restored:
    """Put a backup in place of `database` (see the module); RestoreRefused or DatabaseInUse."""
    if not source.is_file():
        raise RestoreRefused(f"{source} is not a file")
    if database.exists() and source.resolve() == database.resolve():
        raise RestoreRefused(f"{source} is the live database itself")
    if not database.parent.is_dir():
        raise RestoreRefused(f"the database's folder {database.parent} does not exist")
    stamp = f"{now.astimezone(UTC):{STAMP}}"
    with _exclusive(database):
        incoming = database.with_name(f"{database.name}.restoring-{stamp}")
        try:
            try:  # a consistent copy of the file, even with a WAL of its own beside it
                backup(source, incoming)
            except sqlite3.DatabaseError as exc:
                raise RestoreRefused(f"the file is not a usable SQLite database: {exc}") from None
            _check_copy(incoming)
            applied = migrate(incoming, clock)
            erased_again = reapply_erasures(database, incoming)
            with contextlib.closing(sqlite3.connect(incoming, isolation_level=None)) as conn:
                # One self-contained file (the site turns WAL on again when it opens it).
                conn.execute("PRAGMA journal_mode=DELETE")
            _check_copy(incoming)
            requests = _count_requests(incoming)
            os.chmod(incoming, 0o600)  # patients' details: for the site's user only
            if os.geteuid() == 0:  # run as root: the file must still be the site's own
                owner = _owner_of(database)
                os.chown(incoming, owner.st_uid, owner.st_gid)
            kept = _swap_in(incoming, database, stamp)
        finally:
            for suffix in COMPANIONS:
                incoming.with_name(incoming.name + suffix).unlink(missing_ok=True)
        _sync_folder(database.parent)
    return Restored(requests, applied, kept, erased_again)


def _swap_in(incoming: Path, database: Path, stamp: str) -> Path | None:
    """Move the database (and its -wal, -shm) aside, then the new file in; all back on error."""
    kept = database.with_name(f"{database.name}{REPLACED}{stamp}") if database.exists() else None
    moved: list[tuple[Path, Path]] = []
    try:
        if kept is not None:
            for suffix in COMPANIONS:
                current = database.with_name(database.name + suffix)
                if current.exists():
                    aside = kept.with_name(kept.name + suffix)
                    current.rename(aside)
                    moved.append((aside, current))
        os.replace(incoming, database)
    except OSError:
        for aside, current in reversed(moved):
            aside.rename(current)
        raise
    return kept


def _sync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def drop_replaced(database: Path, now: datetime, keep: timedelta) -> int:
    """Delete the databases a restore put aside (`<database>.replaced-<UTC time>`, with their
    -wal and -shm) once older than `keep`. Such a copy holds patients' details like a backup
    and no erasure or retention run reaches it, so it goes when the backups of its time do.
    Returns how many copies were deleted (a name `restore` did not make is left alone)."""
    prefix = database.name + REPLACED
    dropped = 0
    for path in sorted(database.parent.glob(glob.escape(prefix) + "*")):
        stamp = path.name[len(prefix) :]
        try:
            made = datetime.strptime(stamp, STAMP).replace(tzinfo=UTC)
        except ValueError:  # a companion (-wal, -shm) or a name of someone else's
            continue
        if now - made < keep:
            continue
        try:
            for suffix in reversed(COMPANIONS):  # the database file last: a retry finds it
                path.with_name(path.name + suffix).unlink(missing_ok=True)
        except OSError as exc:  # the next run tries again
            log.warning("a replaced database could not be deleted: %s", exc)
            continue
        dropped += 1
    return dropped
