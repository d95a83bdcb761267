"""What the files and the disk allow: storage faults in words, free space, the database's lock.

SQLite reports a read-only file, a full disk or a failing disk as an error of the statement
that hit it; this module tells those apart from mistakes in the statement, and says in one
line, for an operator, which file or folder is at fault and why.
"""

from __future__ import annotations

import fcntl
import os
from dataclasses import dataclass
from pathlib import Path

# SQLite's result codes that mean the storage, not the statement, is at fault (extended codes
# such as SQLITE_READONLY_DIRECTORY or SQLITE_IOERR_WRITE are matched by their base name).
STORAGE_FAULTS = {
    "SQLITE_READONLY": "read-only",
    "SQLITE_PERM": "read-only",
    "SQLITE_FULL": "disk full",
    "SQLITE_IOERR": "I/O error",
    "SQLITE_CANTOPEN": "cannot open",
    "SQLITE_BUSY": "locked",
    "SQLITE_LOCKED": "locked",
    "SQLITE_NOTADB": "not a database",
    "SQLITE_CORRUPT": "corrupt",
}
# Less free space than this on the database's disk counts as full: SQLite needs room to grow
# its WAL file and then the database file, and on a full disk every write fails.
MIN_FREE_BYTES = 1024 * 1024
LOCK_SUFFIX = ".lock"


class StorageUnavailable(Exception):
    """The database cannot take a write (or a read) now: `kind` is a short name for monitors
    ("read-only", "disk full", ...), `detail` one line for an operator."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail


class DatabaseInUse(Exception):
    """The database's lock is held in a way that forbids what was asked (a restore while the
    site runs, or the site starting during a restore)."""


@dataclass(frozen=True)
class Fault:
    """A storage problem this process has seen and not yet seen healed."""

    kind: str
    detail: str


def storage_fault(exc: BaseException) -> str | None:
    """The kind of storage fault an SQLite error reports, or None for any other error."""
    name = str(getattr(exc, "sqlite_errorname", "") or "")
    return STORAGE_FAULTS.get("_".join(name.split("_")[:2]))


def free_bytes(path: Path) -> int:
    """Bytes an ordinary user may still write on the disk that holds `path`'s folder."""
    found = os.statvfs(path.parent)
    return found.f_bavail * found.f_frsize


def _writable(path: Path) -> bool:
    # Effective ids: what this process (perhaps root without its override capabilities) may do.
    return os.access(path, os.W_OK, effective_ids=os.access in os.supports_effective_ids)


def explain(path: Path, exc: BaseException) -> str:
    """One line naming the file or folder at fault and the problem, for an operator."""
    folder, name = path.parent, path.name
    user = f"this user (uid {os.geteuid()})"
    companions = [path, path.with_name(name + "-wal"), path.with_name(name + "-shm")]
    if not folder.is_dir():
        return f"{path}: its folder {folder} does not exist"
    read_only = [p.name for p in companions if p.exists() and not _writable(p)]
    missing = [p.name for p in companions if not p.exists()]
    if missing and not _writable(folder):
        return (
            f"{path}: the folder {folder} is read-only for {user}, and SQLite must create "
            f"{', '.join(missing)} there"
        )
    if read_only:
        verb = "is" if len(read_only) == 1 else "are"
        return f"{path}: {', '.join(read_only)} {verb} read-only for {user}"
    try:
        free = free_bytes(path)
    except OSError:
        free = MIN_FREE_BYTES
    if free < MIN_FREE_BYTES:
        return f"{path}: the disk is full ({free:,} bytes free in {folder})"
    kind = storage_fault(exc)
    return f"{path}: {exc}" + (f" ({kind})" if kind and kind not in str(exc) else "")


def lock_path(path: Path) -> Path:
    """The lock file beside a database: shared by its users, exclusive for a restore."""
    return path.with_name(path.name + LOCK_SUFFIX)


def _lock_fd(path: Path) -> int | None:
    target = lock_path(path)
    try:
        return os.open(target, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError:
        try:  # a read-only folder: an existing lock file still locks
            return os.open(target, os.O_RDONLY)
        except OSError:
            return None


def hold_shared_lock(path: Path) -> int | None:
    """Take the database's shared lock (any number of processes may hold it at once).

    Returns the descriptor to close when done, or None when no lock file can exist (a
    read-only folder, where nothing can be restored either). DatabaseInUse during a restore.
    """
    fd = _lock_fd(path)
    if fd is None:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise DatabaseInUse(f"{path} is being restored; start when that has finished") from None
    return fd


def hold_exclusive_lock(path: Path) -> int:
    """Take the database's lock alone (a restore); DatabaseInUse while anyone else uses it."""
    fd = _lock_fd(path)
    if fd is None:
        raise DatabaseInUse(f"cannot create the lock file {lock_path(path)}")
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise DatabaseInUse(
            f"the site (or another command) is using {path}: stop it first"
        ) from None
    return fd


def release(fd: int | None) -> None:
    """Give a lock back (closing its descriptor)."""
    if fd is not None:
        os.close(fd)
