"""`check --deploy`: what in the environment contradicts docs/deploy.md (pure, one line each)."""

from __future__ import annotations

import re
import stat
from pathlib import Path

from webapp.settings import Settings

GUIDE = "docs/deploy.md"
# The site's own journal (the guide's unit has LogNamespace=clinic) and the file that says
# how long that journal keeps the site's lines: the privacy page promises LOG_RETENTION_DAYS.
JOURNAL_CONF = Path("/etc/systemd/journald@clinic.conf")
# systemd.time(7): the units of a time span, in seconds (a bare number is seconds).
_SPAN_UNITS = {
    **dict.fromkeys(("us", "usec", "µs"), 1e-6),
    **dict.fromkeys(("ms", "msec"), 1e-3),
    **dict.fromkeys(("s", "sec", "second", "seconds", ""), 1),
    **dict.fromkeys(("m", "min", "minute", "minutes"), 60),
    **dict.fromkeys(("h", "hr", "hour", "hours"), 3600),
    **dict.fromkeys(("d", "day", "days"), 86400),
    **dict.fromkeys(("w", "week", "weeks"), 7 * 86400),
    **dict.fromkeys(("M", "month", "months"), 30.44 * 86400),
    **dict.fromkeys(("y", "year", "years"), 365.25 * 86400),
}
_SPAN_PART = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Zµ]*)")


def timespan_seconds(text: str) -> float | None:
    """A systemd time span ("14day", "2w", "1d 12h", "1209600") in seconds; None when it is
    not one."""
    text = text.strip()
    total, at = 0.0, 0
    while at < len(text):
        part = _SPAN_PART.match(text, at)
        if part is None or part.end() == at or part.group(2) not in _SPAN_UNITS:
            return None
        total += float(part.group(1)) * _SPAN_UNITS[part.group(2)]
        at = part.end()
    return total if text else None


def journal_setting(conf: str, key: str) -> str | None:
    """A setting as a journald.conf text gives it in [Journal] (the last one wins), or None
    when it is not set there."""
    section, found = "", None
    for raw in conf.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1].strip()
        elif section == "Journal" and "=" in line:
            name, _, value = line.partition("=")
            if name.strip() == key:
                found = value.strip()
    return found


def journal_warning(days: int, conf: str | None, where: Path) -> str | None:
    """A warning when the site's journal may keep a line longer than the privacy page says
    (`conf`: the text of `where`, None when it cannot be read).

    journald deletes a journal file once its newest line is older than MaxRetentionSec, and
    starts a new file every MaxFileSec (a month unless set): a line can be as old as the two
    together before it goes."""
    fix = (
        f"set MaxRetentionSec and MaxFileSec under [Journal] in {where} to at most {days}"
        f" days together (LOG_RETENTION_DAYS; {GUIDE})"
    )
    if conf is None:
        return f"{where} is missing: the site's logs are kept with no time limit; {fix}"
    longest = 0.0
    for key, default in (("MaxRetentionSec", None), ("MaxFileSec", "1month")):
        value = journal_setting(conf, key) or default
        seconds = timespan_seconds(value) if value is not None else 0
        if seconds is None:
            return f"{where}: {key}={value} is not a time span systemd reads; {fix}"
        if not seconds:  # unset, or 0: no limit
            return f"{where} sets no {key}: the site's logs are kept with no time limit; {fix}"
        longest += seconds
    if longest > days * 86400:
        return (
            f"{where} keeps a line of the site's logs up to {longest / 86400:g} days, the"
            f" privacy page says {days}; {fix}"
        )
    return None


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
    try:
        conf: str | None = JOURNAL_CONF.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        conf = None
    journal = journal_warning(settings.log_retention_days, conf, JOURNAL_CONF)
    if journal:
        found.append(journal)
    database = settings.database_path
    for path in (database.parent, database, settings.backup_dir, settings.data_dir / "secret_key"):
        problem = _exposed(path)
        if problem and problem not in found:
            found.append(problem)
    return found
