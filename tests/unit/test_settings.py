"""Tests for webapp.settings.from_env: defaults, secrets, and every setting's parsing."""

from __future__ import annotations

import shutil
import stat
from pathlib import Path

import pytest
from uvicorn.middleware.proxy_headers import _TrustedHosts

from webapp.settings import MIN_SECRET_LENGTH, ROOT, ConfigError, Settings, from_env

KEY_A = "a" * 40
KEY_B = "b" * 48


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A DATA_DIR holding a copy of the repo's clinic.toml and nothing else."""
    folder = tmp_path / "data"
    folder.mkdir()
    shutil.copy(ROOT / "data" / "clinic.toml", folder / "clinic.toml")
    return folder


def env_for(data_dir: Path, **values: str) -> dict[str, str]:
    """An environment with DATA_DIR set and a valid SECRET_KEY unless overridden."""
    return {"DATA_DIR": str(data_dir), "SECRET_KEY": KEY_A, **values}


def config_error(env: dict[str, str]) -> str:
    """The ConfigError message from_env raises for env; it must be a single line."""
    with pytest.raises(ConfigError) as caught:
        from_env(env)
    message = str(caught.value)
    assert message
    assert "\n" not in message and "\r" not in message, message
    return message


# --- defaults --------------------------------------------------------------------------------


def test_defaults(data_dir: Path) -> None:
    settings = from_env({"DATA_DIR": str(data_dir)})
    resolved = data_dir.resolve()
    assert settings.data_dir == resolved
    assert settings.database_path == resolved / "clinic.db"
    assert settings.clinic_file == resolved / "clinic.toml"
    assert settings.articles_dir == resolved / "articles"
    assert settings.templates_dir == ROOT / "templates"
    assert settings.static_dir == ROOT / "static"
    assert settings.https_only is False
    assert settings.debug is False
    assert settings.allowed_hosts == ("127.0.0.1", "localhost", "::1", "[::1]")
    assert settings.forwarded_allow_ips == ""
    assert settings.base_url == ""
    assert settings.max_body_bytes == 64 * 1024
    # No SECRET_KEY: one key, generated under DATA_DIR.
    assert len(settings.secret_keys) == 1
    assert str(settings.secret_key) == (data_dir / "secret_key").read_text().strip()
    # from_env checks but creates no database.
    assert not (data_dir / "clinic.db").exists()


def test_empty_values_mean_defaults(data_dir: Path) -> None:
    blank = dict.fromkeys(
        [
            "DATABASE_PATH",
            "HTTPS_ONLY",
            "ALLOWED_HOSTS",
            "FORWARDED_ALLOW_IPS",
            "BASE_URL",
            "DEBUG",
        ],
        "",
    )
    settings = from_env(env_for(data_dir, **blank))
    assert settings == Settings(
        database_path=data_dir.resolve() / "clinic.db",
        secret_keys=settings.secret_keys,
        data_dir=data_dir.resolve(),
    )
    assert str(settings.secret_key) == KEY_A


def test_relative_database_path_resolves_against_cwd(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "db").mkdir()
    monkeypatch.chdir(tmp_path)
    settings = from_env(env_for(data_dir, DATABASE_PATH="db/site.db"))
    assert settings.database_path == tmp_path.resolve() / "db" / "site.db"
    assert settings.database_path.is_absolute()


def test_relative_data_dir_resolves_against_cwd(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    settings = from_env({"DATA_DIR": "data", "SECRET_KEY": KEY_A})
    assert settings.data_dir == data_dir.resolve()
    assert settings.database_path == data_dir.resolve() / "clinic.db"


def test_absolute_database_path_is_kept(data_dir: Path, tmp_path: Path) -> None:
    target = tmp_path / "elsewhere.db"
    assert from_env(env_for(data_dir, DATABASE_PATH=str(target))).database_path == target


# --- secret keys -----------------------------------------------------------------------------


def test_generated_secret_is_private_and_reused(data_dir: Path) -> None:
    env = {"DATA_DIR": str(data_dir)}
    first = from_env(env)
    key_file = data_dir / "secret_key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = key_file.read_text(encoding="ascii")
    assert key.endswith("\n") and key.count("\n") == 1
    assert len(key.strip()) >= MIN_SECRET_LENGTH
    assert str(first.secret_key) == key.strip()

    second = from_env(env)
    assert str(second.secret_key) == key.strip()
    assert key_file.read_text(encoding="ascii") == key  # not rewritten
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


def test_generated_secrets_differ_between_installs(tmp_path: Path) -> None:
    keys = set()
    for name in ("one", "two"):
        folder = tmp_path / name
        folder.mkdir()
        shutil.copy(ROOT / "data" / "clinic.toml", folder / "clinic.toml")
        keys.add(str(from_env({"DATA_DIR": str(folder)}).secret_key))
    assert len(keys) == 2


def test_secret_key_env_wins_over_the_file(data_dir: Path) -> None:
    settings = from_env(env_for(data_dir))
    assert str(settings.secret_key) == KEY_A
    assert not (data_dir / "secret_key").exists()


def test_short_secret_file_is_refused(data_dir: Path) -> None:
    (data_dir / "secret_key").write_text("too-short\n")
    message = config_error({"DATA_DIR": str(data_dir)})
    assert "secret_key" in message and "delete it" in message


def test_unreadable_secret_file_is_a_config_error(data_dir: Path) -> None:
    (data_dir / "secret_key").mkdir()
    assert "secret_key" in config_error({"DATA_DIR": str(data_dir)})


@pytest.mark.parametrize(
    "raw",
    [
        "short",
        "x" * (MIN_SECRET_LENGTH - 1),
        f"{KEY_A},short",  # every entry of a rotation list is checked
        f"short,{KEY_A}",
    ],
)
def test_short_secret_key_is_refused(data_dir: Path, raw: str) -> None:
    message = config_error(env_for(data_dir, SECRET_KEY=raw))
    assert "SECRET_KEY" in message
    assert str(MIN_SECRET_LENGTH) in message
    for key in raw.split(","):
        assert key not in message  # a secret is never echoed back


def test_secret_key_of_minimum_length_is_accepted(data_dir: Path) -> None:
    key = "k" * MIN_SECRET_LENGTH
    assert str(from_env(env_for(data_dir, SECRET_KEY=key)).secret_key) == key


def test_secret_key_rotation(data_dir: Path) -> None:
    settings = from_env(env_for(data_dir, SECRET_KEY=f" {KEY_B} , {KEY_A} ,"))
    assert str(settings.secret_key) == KEY_B  # the first one signs
    assert [str(k) for k in settings.secret_keys] == [KEY_B, KEY_A]  # all verify
    assert isinstance(settings.secret_keys, tuple)
    assert not (data_dir / "secret_key").exists()


def test_secret_key_of_only_commas_is_refused(data_dir: Path) -> None:
    assert "SECRET_KEY" in config_error(env_for(data_dir, SECRET_KEY=" , ,"))


# --- flags -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("true", True),
        ("false", False),
        ("1", True),
        ("0", False),
        ("yes", True),
        ("no", False),
        ("on", True),
        ("off", False),
        ("", False),
        (" TRUE ", True),
        ("Yes", True),
        ("FALSE", False),
    ],
)
def test_https_only_parsing(data_dir: Path, raw: str, expected: bool) -> None:
    assert from_env(env_for(data_dir, HTTPS_ONLY=raw)).https_only is expected


@pytest.mark.parametrize("raw", ["maybe", "2", "enabled", "t r u e"])
def test_bad_https_only_is_refused(data_dir: Path, raw: str) -> None:
    message = config_error(env_for(data_dir, HTTPS_ONLY=raw))
    assert message.startswith("HTTPS_ONLY ")
    assert repr(raw) in message


def test_bad_value_with_newline_still_gives_one_line(data_dir: Path) -> None:
    message = config_error(env_for(data_dir, HTTPS_ONLY="true\nfalse"))
    assert "HTTPS_ONLY" in message


@pytest.mark.parametrize(("raw", "expected"), [("1", True), ("no", False), ("", False)])
def test_debug_parsing(data_dir: Path, raw: str, expected: bool) -> None:
    assert from_env(env_for(data_dir, DEBUG=raw)).debug is expected


def test_bad_debug_is_refused(data_dir: Path) -> None:
    assert config_error(env_for(data_dir, DEBUG="verbose")).startswith("DEBUG ")


# --- hosts -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("example.org", ("example.org",)),
        ("Example.ORG, www.example.org", ("example.org", "www.example.org")),
        (" example.org ,, www.example.org , ", ("example.org", "www.example.org")),
        ("*", ("*",)),
        ("", ("127.0.0.1", "localhost", "::1", "[::1]")),
        ("   ", ("127.0.0.1", "localhost", "::1", "[::1]")),
    ],
)
def test_allowed_hosts_parsing(data_dir: Path, raw: str, expected: tuple[str, ...]) -> None:
    assert from_env(env_for(data_dir, ALLOWED_HOSTS=raw)).allowed_hosts == expected


@pytest.mark.parametrize(
    ("raw", "culprit"),
    [
        ("https://www.example.org", "https://www.example.org"),
        ("example.org, https://www.example.org/", "https://www.example.org/"),
        ("example.org/clinic", "example.org/clinic"),
        ("www.example org", "www.example org"),
    ],
)
def test_url_in_allowed_hosts_is_refused(data_dir: Path, raw: str, culprit: str) -> None:
    message = config_error(env_for(data_dir, ALLOWED_HOSTS=raw))
    assert message.startswith("ALLOWED_HOSTS ")
    assert repr(culprit) in message


# --- forwarded IPs ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("10.0.0.0/8", "10.0.0.0/8"),
        ("*", "*"),
        (" * ", "*"),
        ("127.0.0.1, 10.0.0.0/8", "127.0.0.1, 10.0.0.0/8"),
        ("::1,fd00::/8", "::1,fd00::/8"),
        ("", ""),
    ],
)
def test_forwarded_allow_ips_good(data_dir: Path, raw: str, expected: str) -> None:
    assert from_env(env_for(data_dir, FORWARDED_ALLOW_IPS=raw)).forwarded_allow_ips == expected


@pytest.mark.parametrize(
    ("raw", "culprit"),
    [
        ("localhost", "localhost"),
        ("127.0.0.1, proxy.internal", "proxy.internal"),
        ("10.0.0.0/33", "10.0.0.0/33"),
        ("256.1.1.1", "256.1.1.1"),
        ("http://10.0.0.1", "http://10.0.0.1"),
    ],
)
def test_forwarded_allow_ips_bad(data_dir: Path, raw: str, culprit: str) -> None:
    message = config_error(env_for(data_dir, FORWARDED_ALLOW_IPS=raw))
    assert message.startswith("FORWARDED_ALLOW_IPS ")
    assert repr(culprit) in message


def test_accepted_forwarded_networks_are_trusted_by_uvicorn(data_dir: Path) -> None:
    raw = from_env(env_for(data_dir, FORWARDED_ALLOW_IPS="127.0.0.1, 10.0.0.0/8"))
    trusted = _TrustedHosts(raw.forwarded_allow_ips)
    assert "10.1.2.3" in trusted and "127.0.0.1" in trusted
    assert "192.168.0.1" not in trusted


def test_network_with_host_bits_is_refused(data_dir: Path) -> None:
    # uvicorn would never trust 10.1.2.3 for this value, so it must not pass as valid.
    assert "10.1.2.3" not in _TrustedHosts("10.0.0.1/8")
    assert "FORWARDED_ALLOW_IPS" in config_error(
        env_for(data_dir, FORWARDED_ALLOW_IPS="10.0.0.1/8")
    )


def test_star_inside_a_list_is_refused(data_dir: Path) -> None:
    assert "10.1.2.3" not in _TrustedHosts("127.0.0.1, *")
    message = config_error(env_for(data_dir, FORWARDED_ALLOW_IPS="127.0.0.1, *"))
    assert "FORWARDED_ALLOW_IPS" in message


# --- base URL --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("https://www.example.org", "https://www.example.org"),
        ("https://www.example.org/", "https://www.example.org"),
        (" http://localhost:8000 ", "http://localhost:8000"),
        ("", ""),
    ],
)
def test_base_url_good(data_dir: Path, raw: str, expected: str) -> None:
    assert from_env(env_for(data_dir, BASE_URL=raw)).base_url == expected


@pytest.mark.parametrize(
    "raw",
    [
        "www.example.org",
        "ftp://www.example.org",
        "https://www.example.org/clinic",
        "https://",
        "example.org:443",
    ],
)
def test_base_url_bad(data_dir: Path, raw: str) -> None:
    message = config_error(env_for(data_dir, BASE_URL=raw))
    assert message.startswith("BASE_URL ")
    assert repr(raw.rstrip("/")) in message


@pytest.mark.parametrize("raw", ["https://www.example.org?x=1", "https://www.example.org#top"])
def test_base_url_with_query_or_fragment_is_refused(data_dir: Path, raw: str) -> None:
    assert config_error(env_for(data_dir, BASE_URL=raw)).startswith("BASE_URL ")


# --- paths -----------------------------------------------------------------------------------


def test_database_in_missing_folder_is_refused(data_dir: Path, tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "deeper"
    message = config_error(env_for(data_dir, DATABASE_PATH=str(missing / "x.db")))
    assert message.startswith("DATABASE_PATH")
    assert str(missing) in message
    assert not missing.exists()


def test_database_path_to_a_directory_is_refused(data_dir: Path, tmp_path: Path) -> None:
    message = config_error(env_for(data_dir, DATABASE_PATH=str(tmp_path)))
    assert message.startswith("DATABASE_PATH")
    assert "directory" in message


def test_database_under_a_regular_file_is_refused(data_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("not a folder")
    message = config_error(env_for(data_dir, DATABASE_PATH=str(tmp_path / "afile" / "x.db")))
    assert message.startswith("DATABASE_PATH")


def test_missing_clinic_file_is_refused(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    message = config_error({"DATA_DIR": str(empty)})
    assert str(empty.resolve() / "clinic.toml") in message
    assert not (empty / "secret_key").exists()  # nothing written on a refused start


def test_missing_data_dir_is_refused(tmp_path: Path) -> None:
    message = config_error({"DATA_DIR": str(tmp_path / "nowhere"), "SECRET_KEY": KEY_A})
    assert "nowhere" in message
    assert not (tmp_path / "nowhere").exists()


# --- consultation rate limit -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("", (5, 600)), ("  ", (5, 600)), ("10/60", (10, 60)), (" 1/1 ", (1, 1))],
)
def test_consultation_rate_limit_good(data_dir: Path, raw: str, expected: tuple[int, int]) -> None:
    settings = from_env(env_for(data_dir, CONSULTATION_RATE_LIMIT=raw))
    assert settings.consultation_limit == expected


@pytest.mark.parametrize("raw", ["5", "0/600", "5/0", "five/600", "5/600/1", "-1/600", "5 / 600"])
def test_consultation_rate_limit_bad(data_dir: Path, raw: str) -> None:
    message = config_error(env_for(data_dir, CONSULTATION_RATE_LIMIT=raw))
    assert message.startswith("CONSULTATION_RATE_LIMIT ")
    assert repr(raw.strip()) in message


@pytest.mark.parametrize(("raw", "expected"), [("", (20, 600)), ("50/3600", (50, 3600))])
def test_consultation_flood_limit_good(data_dir: Path, raw: str, expected: tuple[int, int]) -> None:
    settings = from_env(env_for(data_dir, CONSULTATION_FLOOD_LIMIT=raw))
    assert settings.consultation_flood == expected


@pytest.mark.parametrize("raw", ["20", "0/600", "x/600"])
def test_consultation_flood_limit_bad(data_dir: Path, raw: str) -> None:
    assert config_error(env_for(data_dir, CONSULTATION_FLOOD_LIMIT=raw)).startswith(
        "CONSULTATION_FLOOD_LIMIT "
    )


def test_consultation_rate_limit_non_ascii_digit_is_a_config_error(data_dir: Path) -> None:
    assert "CONSULTATION_RATE_LIMIT" in config_error(
        env_for(data_dir, CONSULTATION_RATE_LIMIT="5/6²")
    )
