"""`check --deploy`: what in the environment contradicts docs/deploy.md (pure, one line each)."""

from __future__ import annotations

import stat
from pathlib import Path

from webapp.settings import Settings

GUIDE = "docs/deploy.md"


def _exposed(path: Path) -> str | None:
    """A warning when group or others may read `path` (the guide's data folder is 0700)."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return None
    if mode & 0o077:
        kind = "folder" if path.is_dir() else "file"
        return f"the {kind} {path} is open to other users (mode {mode:04o}): chmod go-rwx it"
    return None


def warnings(settings: Settings) -> list[str]:
    """Each setting or file that contradicts the deployment guide, as one line."""
    found: list[str] = []
    if not settings.https_only:
        found.append(
            "HTTPS_ONLY is not true: cookies lack Secure, there is no HSTS, and plain HTTP "
            "is served; behind the guide's TLS proxy set HTTPS_ONLY=true"
        )
    hosts = set(settings.allowed_hosts)
    if "*" in hosts:
        found.append("ALLOWED_HOSTS is *: the site answers any Host header; name its host")
    elif hosts <= set(Settings.allowed_hosts):
        found.append("ALLOWED_HOSTS is the default (local names only): set the site's host name(s)")
    if not settings.forwarded_allow_ips:
        found.append(
            "FORWARDED_ALLOW_IPS is empty: behind the proxy every visitor looks like the "
            "proxy (one shared rate limit) and https is not seen; set it to the proxy's "
            "address (127.0.0.1)"
        )
    elif settings.forwarded_allow_ips.strip() == "*":
        found.append(
            "FORWARDED_ALLOW_IPS is *: anyone can claim any address with X-Forwarded-For; "
            "list only the proxy's address"
        )
    if settings.base_url and not settings.base_url.startswith("https://"):
        found.append(f"BASE_URL {settings.base_url} is not https")
    if settings.debug:
        found.append("DEBUG is on: templates are re-read on every change (development only)")
    if settings.backup_time is None:
        found.append("BACKUP_TIME is off: no daily backup is made")
    database = settings.database_path
    for path in (database.parent, database, settings.backup_dir, settings.data_dir / "secret_key"):
        problem = _exposed(path)
        if problem and problem not in found:
            found.append(problem)
    return found
