"""RETENTION_DAYS and LOG_CLIENT_ADDRESS: defaults, parsing and one-line refusals."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.unit.test_settings import config_error, env_for
from webapp.settings import ROOT, from_env


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    folder.mkdir()
    shutil.copy(ROOT / "data" / "clinic.toml", folder / "clinic.toml")
    return folder


def test_defaults(data_dir: Path) -> None:
    settings = from_env(env_for(data_dir))
    assert settings.retention_days == 365
    assert settings.log_client_address is False
    assert from_env(env_for(data_dir, RETENTION_DAYS="  ")).retention_days == 365


@pytest.mark.parametrize(
    ("raw", "days"), [("30", 30), ("365", 365), (" 730 ", 730), ("3650", 3650)]
)
def test_retention_days_good(data_dir: Path, raw: str, days: int) -> None:
    assert from_env(env_for(data_dir, RETENTION_DAYS=raw)).retention_days == days


@pytest.mark.parametrize(
    "raw", ["0", "29", "3651", "-1", "365.5", "1y", "٣٦٥", "365 days", "0x16d", "1e3"]
)
def test_retention_days_bad(data_dir: Path, raw: str) -> None:
    message = config_error(env_for(data_dir, RETENTION_DAYS=raw))
    assert message.startswith("RETENTION_DAYS must be a whole number of days from 30 to 3650")


@pytest.mark.parametrize(
    ("raw", "on"), [("true", True), ("1", True), ("false", False), ("", False)]
)
def test_log_client_address(data_dir: Path, raw: str, on: bool) -> None:
    assert from_env(env_for(data_dir, LOG_CLIENT_ADDRESS=raw)).log_client_address is on


def test_bad_log_client_address_is_refused(data_dir: Path) -> None:
    assert "LOG_CLIENT_ADDRESS must be true or false" in config_error(
        env_for(data_dir, LOG_CLIENT_ADDRESS="maybe")
    )
