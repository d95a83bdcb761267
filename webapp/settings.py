"""Settings from the environment, checked once at start-up."""

from __future__ import annotations

import ipaddress
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import time
from email.utils import parseaddr
from pathlib import Path
from urllib.parse import urlsplit

from starlette.datastructures import Secret

ROOT = Path(__file__).resolve().parent.parent
TRUE = {"1", "true", "yes", "on"}
FALSE = {"0", "false", "no", "off", ""}
MIN_SECRET_LENGTH = 32


class ConfigError(Exception):
    """A setting is wrong; the message is one line a developer can act on."""


SMTP_TLS_MODES = ("starttls", "tls", "none")


@dataclass(frozen=True)
class SmtpSettings:
    """Where mail goes out (SMTP_*), and who it is from (MAIL_FROM)."""

    host: str
    mail_from: str
    port: int = 587
    tls: str = "starttls"  # starttls | tls (implicit TLS, usually port 465) | none
    username: str = ""
    password: Secret = field(default_factory=lambda: Secret(""))
    timeout: float = 30.0


@dataclass(frozen=True)
class Settings:
    """Everything the app needs to start; tests build one directly."""

    database_path: Path
    secret_keys: tuple[Secret, ...]
    data_dir: Path = ROOT / "data"
    templates_dir: Path = ROOT / "templates"
    static_dir: Path = ROOT / "static"
    https_only: bool = False
    allowed_hosts: tuple[str, ...] = ("127.0.0.1", "localhost", "::1", "[::1]")
    forwarded_allow_ips: str = ""
    base_url: str = ""
    debug: bool = False
    max_body_bytes: int = 64 * 1024
    # Consultation form: token lifetime, the fastest a person fills it, new requests per client.
    form_max_age_seconds: int = 24 * 3600
    min_submit_seconds: float = 2.0
    consultation_limit: tuple[int, int] = (5, 600)
    # Site-wide new requests per that many seconds past which new ones are stored flagged as
    # suspected spam ("flood"): far above what the clinic ever receives.
    consultation_flood: tuple[int, int] = (20, 600)
    # Test suites only: Argon2id with cheap parameters. Never set from the environment.
    fast_password_hashing: bool = False
    # Background jobs (retention, housekeeping, ...) tick in the process; tests call them.
    background_jobs: bool = True
    # Daily online backups: the folder (default DATA_DIR/backups), how many to keep, and the
    # clinic-local time of day (None: no daily backup).
    backup_dir_setting: Path | None = None
    backup_keep: int = 14
    backup_time: time | None = time(3, 15)
    # Seconds a request body may take to arrive before the connection is closed (408).
    body_timeout_seconds: float = 10.0
    extra: Mapping[str, str] = field(default_factory=dict)
    # Staff two-factor sign-in: "required" (everyone must set it up) or "optional".
    staff_mfa: str = "optional"
    # Outgoing mail (SMTP_HOST ...): None sends nothing (the outbox keeps the messages).
    smtp: SmtpSettings | None = None
    # How often an open dashboard asks whether new requests arrived (tests shorten it).
    staff_poll_seconds: float = 30.0
    # Privacy: closed requests are deleted this many days after closing (the daily retention
    # job); access-log lines name the client's address only when this is turned on.
    retention_days: int = 365
    log_client_address: bool = False
    # How long the server's logs are kept: the privacy page states it, and the deployment's
    # journal must delete them by then (docs/deploy.md; `check --deploy` compares the two).
    log_retention_days: int = 14
    # Consultation requests arriving together share one synced commit (webapp/groupcommit.py).
    group_commit: bool = True

    @property
    def secret_key(self) -> Secret:
        """The key new signatures use; older ones in the list still verify."""
        return self.secret_keys[0]

    @property
    def clinic_file(self) -> Path:
        """The clinic's facts and weekly hours."""
        return self.data_dir / "clinic.toml"

    @property
    def articles_dir(self) -> Path:
        """Markdown articles with TOML front matter."""
        return self.data_dir / "articles"

    @property
    def backup_dir(self) -> Path:
        """Where backups go (BACKUP_DIR, else DATA_DIR/backups)."""
        return self.backup_dir_setting or self.data_dir / "backups"


def _flag(env: Mapping[str, str], name: str) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw in TRUE:
        return True
    if raw in FALSE:
        return False
    raise ConfigError(f"{name} must be true or false, not {env[name]!r}")


def _secret_keys(env: Mapping[str, str], data_dir: Path) -> tuple[Secret, ...]:
    raw = env.get("SECRET_KEY", "")
    if raw.strip():
        # A comma-separated list rotates keys: the first signs, all verify.
        keys = [k.strip() for k in raw.split(",") if k.strip()]
        if not keys:
            raise ConfigError("SECRET_KEY is set but holds no key")
        for key in keys:
            if len(key) < MIN_SECRET_LENGTH:
                raise ConfigError(
                    f"SECRET_KEY entries must be at least {MIN_SECRET_LENGTH} characters "
                    '(make one with: python -c "import secrets; print(secrets.token_urlsafe(48))")'
                )
        return tuple(Secret(k) for k in keys)
    return (Secret(_generated_secret(data_dir / "secret_key")),)


def _generated_secret(path: Path) -> str:
    """Read the key kept under data/, creating it (mode 0600) on first start."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        try:
            key = path.read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read the secret key file {path}: {exc}") from None
        if len(key) < MIN_SECRET_LENGTH:
            raise ConfigError(
                f"{path} is too short to be a secret key; delete it to make a new one"
            ) from None
        return key
    except OSError as exc:
        raise ConfigError(f"cannot create {path}: {exc.strerror}") from exc
    key = secrets.token_urlsafe(48)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(key + "\n")
    return key


def _hosts(env: Mapping[str, str]) -> tuple[str, ...]:
    raw = env.get("ALLOWED_HOSTS", "")
    if not raw.strip():
        return Settings.allowed_hosts
    hosts = tuple(h.strip().lower() for h in raw.split(",") if h.strip())
    if not hosts:
        raise ConfigError("ALLOWED_HOSTS is set but names no host")
    for host in hosts:
        if "/" in host or " " in host:
            raise ConfigError(f"ALLOWED_HOSTS entries are host names, not URLs: {host!r}")
        if host.count(":") == 1:
            raise ConfigError(f"ALLOWED_HOSTS entries have no port: {host!r}")
    return hosts


def _forwarded(env: Mapping[str, str]) -> str:
    raw = env.get("FORWARDED_ALLOW_IPS", "").strip()
    if raw == "*":
        return raw
    for item in filter(None, (p.strip() for p in raw.split(","))):
        try:
            # strict: uvicorn ignores a network written with host bits set (10.0.0.1/8).
            ipaddress.ip_network(item, strict=True)
        except ValueError:
            raise ConfigError(
                f"FORWARDED_ALLOW_IPS must list IP addresses or networks, not {item!r}"
            ) from None
    return raw


def _base_url(env: Mapping[str, str]) -> str:
    raw = env.get("BASE_URL", "").strip().rstrip("/")
    if raw:
        parts = urlsplit(raw)
        bad = parts.path or parts.query or parts.fragment or raw.endswith(("?", "#"))
        if parts.scheme not in {"http", "https"} or not parts.netloc or bad:
            raise ConfigError(f"BASE_URL must look like https://www.example.org, not {raw!r}")
    return raw


def _limit(env: Mapping[str, str], name: str, default: tuple[int, int]) -> tuple[int, int]:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    count, _, seconds = raw.partition("/")
    digits = set("0123456789")
    if not (count and seconds and set(count) <= digits and set(seconds) <= digits) or not (
        int(count) > 0 and int(seconds) > 0
    ):
        raise ConfigError(f"{name} must look like 5/600 (requests per seconds), not {raw!r}")
    return int(count), int(seconds)


def _staff_mfa(env: Mapping[str, str]) -> str:
    raw = env.get("STAFF_MFA", "").strip().lower() or "optional"
    if raw not in ("required", "optional"):
        raise ConfigError(f"STAFF_MFA must be required or optional, not {env['STAFF_MFA']!r}")
    return raw


def _positive(env: Mapping[str, str], name: str, default: float, *, whole: bool = False) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw) if whole else float(raw)
    except ValueError:
        value = 0
    if not value > 0 or value > 10**6:
        kind = "a whole number" if whole else "a number of seconds"
        raise ConfigError(f"{name} must be {kind} above 0, not {raw!r}")
    return value


def _time_of_day(env: Mapping[str, str], name: str, default: time) -> time | None:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw == "off":
        return None
    hours, _, minutes = raw.partition(":")
    if not (hours.isdigit() and minutes.isdigit() and len(minutes) == 2 and len(hours) <= 2):
        raise ConfigError(f"{name} must be a time like 03:15 (clinic time) or off, not {raw!r}")
    if int(hours) > 23 or int(minutes) > 59:
        raise ConfigError(f"{name} must be a time like 03:15 (clinic time) or off, not {raw!r}")
    return time(int(hours), int(minutes))


def _backup_dir(env: Mapping[str, str]) -> Path | None:
    raw = env.get("BACKUP_DIR", "").strip()
    if not raw:
        return None
    path = Path(raw)
    return path if path.is_absolute() else (Path.cwd() / path).resolve()


def _smtp(env: Mapping[str, str]) -> SmtpSettings | None:
    host = env.get("SMTP_HOST", "").strip()
    if not host:
        return None
    if any(c in host for c in "/ :@") or not host.isascii():
        raise ConfigError(f"SMTP_HOST must be a host name or address, not {host!r}")
    raw_port = env.get("SMTP_PORT", "").strip() or "587"
    if not (raw_port.isascii() and raw_port.isdigit() and 0 < int(raw_port) < 65536):
        raise ConfigError(f"SMTP_PORT must be a port number such as 587, not {raw_port!r}")
    tls = env.get("SMTP_TLS", "").strip().lower() or "starttls"
    if tls not in SMTP_TLS_MODES:
        raise ConfigError(f"SMTP_TLS must be starttls, tls or none, not {env['SMTP_TLS']!r}")
    username = env.get("SMTP_USERNAME", "").strip()
    password = env.get("SMTP_PASSWORD", "")
    if bool(username) != bool(password):
        raise ConfigError("SMTP_USERNAME and SMTP_PASSWORD go together: set both or neither")
    mail_from = " ".join(env.get("MAIL_FROM", "").split())
    if not mail_from:
        raise ConfigError(
            "MAIL_FROM is needed with SMTP_HOST, e.g. MAIL_FROM='Clinic <noreply@example.org>'"
        )
    _, address = parseaddr(mail_from)
    local, _, domain = address.rpartition("@")
    if not local or "." not in domain or not address.isascii() or " " in address:
        raise ConfigError(f"MAIL_FROM must be an email address, not {mail_from!r}")
    return SmtpSettings(host, mail_from, int(raw_port), tls, username, Secret(password))


RETENTION_RANGE = (30, 3650)


def _retention_days(env: Mapping[str, str]) -> int:
    raw = env.get("RETENTION_DAYS", "").strip()
    if not raw:
        return Settings.retention_days
    low, high = RETENTION_RANGE
    if not (raw.isascii() and raw.isdigit()) or not low <= int(raw) <= high:
        raise ConfigError(
            f"RETENTION_DAYS must be a whole number of days from {low} to {high}, not {raw!r}"
        )
    return int(raw)


def from_env(env: Mapping[str, str] | None = None) -> Settings:
    """Build Settings from environment variables, raising ConfigError on bad values."""
    env = os.environ if env is None else env
    data_dir = Path(env.get("DATA_DIR", "") or ROOT / "data").resolve()
    db_raw = env.get("DATABASE_PATH", "").strip()
    database_path = Path(db_raw) if db_raw else data_dir / "clinic.db"
    if not database_path.is_absolute():
        database_path = (Path.cwd() / database_path).resolve()
    if database_path.is_dir():
        raise ConfigError(f"DATABASE_PATH points to a directory: {database_path}")
    if not data_dir.is_dir():
        raise ConfigError(f"DATA_DIR does not exist: {data_dir}")
    if not database_path.parent.is_dir():
        raise ConfigError(f"DATABASE_PATH's folder does not exist: {database_path.parent}")
    if not (data_dir / "clinic.toml").is_file():
        raise ConfigError(f"the clinic's data file is missing: {data_dir / 'clinic.toml'}")
    return Settings(
        database_path=database_path,
        secret_keys=_secret_keys(env, data_dir),
        data_dir=data_dir,
        https_only=_flag(env, "HTTPS_ONLY"),
        allowed_hosts=_hosts(env),
        forwarded_allow_ips=_forwarded(env),
        base_url=_base_url(env),
        debug=_flag(env, "DEBUG"),
        consultation_limit=_limit(env, "CONSULTATION_RATE_LIMIT", Settings.consultation_limit),
        consultation_flood=_limit(env, "CONSULTATION_FLOOD_LIMIT", Settings.consultation_flood),
        staff_mfa=_staff_mfa(env),
        backup_dir_setting=_backup_dir(env),
        backup_keep=int(_positive(env, "BACKUP_KEEP", Settings.backup_keep, whole=True)),
        backup_time=_time_of_day(env, "BACKUP_TIME", time(3, 15)),
        body_timeout_seconds=_positive(env, "REQUEST_BODY_TIMEOUT", Settings.body_timeout_seconds),
        smtp=_smtp(env),
        retention_days=_retention_days(env),
        log_client_address=_flag(env, "LOG_CLIENT_ADDRESS"),
        log_retention_days=int(
            _positive(env, "LOG_RETENTION_DAYS", Settings.log_retention_days, whole=True)
        ),
        group_commit=_flag(env, "GROUP_COMMIT") if env.get("GROUP_COMMIT", "").strip() else True,
    )
