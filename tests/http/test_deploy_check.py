"""`python -m webapp check --deploy`: one warning per thing that contradicts docs/deploy.md."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import pytest

from tests.helpers import cli_environment
from webapp.cli import main
from webapp.settings import ROOT

PRODUCTION = {
    "HTTPS_ONLY": "true",
    "ALLOWED_HOSTS": "www.example.org",
    "FORWARDED_ALLOW_IPS": "127.0.0.1",
    "BASE_URL": "https://www.example.org",
}


def guides_journal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The guide's journald@clinic.conf, where `check --deploy` reads it."""
    from webapp import deploy

    [conf] = guide_blocks("conf")
    path = tmp_path / "journald@clinic.conf"
    path.write_text(conf)
    monkeypatch.setattr(deploy, "JOURNAL_CONF", path)
    return path


@pytest.fixture
def production(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The guide's set-up: every setting as it says, private folders, its journal's
    retention; the database path."""
    guides_journal(tmp_path, monkeypatch)
    database = cli_environment(tmp_path, monkeypatch)
    for name, value in PRODUCTION.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("BACKUP_DIR", str(tmp_path / "backups"))
    assert main(["migrate"]) == 0
    for folder in (database.parent, tmp_path / "data"):
        folder.chmod(0o700)
    database.chmod(0o600)
    return database


def deploy_warnings(capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    capsys.readouterr()
    code = main(["check", "--deploy"])
    lines = capsys.readouterr().out.splitlines()
    return code, [line.removeprefix("deploy warning: ") for line in lines
                  if line.startswith("deploy warning: ")]  # fmt: skip


def test_a_deployment_as_the_guide_says_has_no_warnings(production, capsys):
    code, found = deploy_warnings(capsys)
    assert (code, found) == (0, [])


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("HTTPS_ONLY", "false", "HTTPS_ONLY is not true"),
        ("ALLOWED_HOSTS", "", "ALLOWED_HOSTS is the default (local names only)"),
        ("ALLOWED_HOSTS", "*", "ALLOWED_HOSTS is *"),
        ("FORWARDED_ALLOW_IPS", "", "FORWARDED_ALLOW_IPS is empty"),
        ("FORWARDED_ALLOW_IPS", "*", "FORWARDED_ALLOW_IPS is *"),
        ("BASE_URL", "http://www.example.org", "BASE_URL http://www.example.org is not https"),
        ("DEBUG", "true", "DEBUG is on"),
        ("BACKUP_TIME", "off", "BACKUP_TIME is off: no daily backup is made"),
    ],
)
def test_each_setting_against_the_guide_is_named(
    production, capsys, monkeypatch, name, value, expected
):
    monkeypatch.setenv(name, value)
    code, found = deploy_warnings(capsys)
    assert code == 1
    assert len(found) == 1 and found[0].startswith(expected), found


def test_folders_and_files_open_to_others_are_named(production, capsys):
    database = production
    database.parent.chmod(0o755)
    database.chmod(0o644)
    code, found = deploy_warnings(capsys)
    assert code == 1
    assert found == [
        f"the folder {database.parent} is open to other users (mode 0755): chmod go-rwx it",
        f"the file {database} is open to other users (mode 0644): chmod go-rwx it",
    ]


def test_plain_check_says_nothing_about_deployment(production, capsys, monkeypatch):
    monkeypatch.setenv("HTTPS_ONLY", "false")
    capsys.readouterr()
    assert main(["check"]) == 0
    assert "deploy" not in capsys.readouterr().out
    assert os.environ["HTTPS_ONLY"] == "false"


# --- the guide itself ------------------------------------------------------------------------

GUIDE = ROOT / "docs" / "deploy.md"


def guide_blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", GUIDE.read_text(), flags=re.S)


def test_the_guides_settings_pass_the_deploy_check(tmp_path, monkeypatch, capsys):
    [block] = [b for b in guide_blocks("sh") if "HTTPS_ONLY=true" in b]
    guides_journal(tmp_path, monkeypatch)
    database = cli_environment(tmp_path, monkeypatch)
    for line in block.splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, value = line.partition("=")
            if name not in ("DATA_DIR", "SECRET_KEY"):
                monkeypatch.setenv(name, value)
    monkeypatch.setenv("BACKUP_DIR", str(tmp_path / "backups"))
    assert main(["migrate"]) == 0
    for folder in (database.parent, tmp_path / "data"):
        folder.chmod(0o700)
    database.chmod(0o600)
    assert deploy_warnings(capsys) == (0, [])


def test_the_guides_service_restarts_runs_as_its_user_and_stops_in_time():
    [unit] = guide_blocks("ini")
    keys = dict(
        line.split("=", 1) for line in unit.splitlines() if "=" in line and line[0] not in "#;"
    )
    assert keys["Restart"] == "on-failure"
    assert keys["User"] == keys["Group"] == "clinic"
    assert keys["UMask"] == "0077"
    assert keys["ReadWritePaths"] == "/srv/clinic/data"
    # The site ends within 15 s of SIGTERM; systemd must not kill it sooner.
    assert keys["KillSignal"] == "SIGTERM" and int(keys["TimeoutStopSec"]) >= 15
    assert keys["ExecStart"].endswith("-m webapp serve --host 127.0.0.1 --port 8000")
    assert keys["EnvironmentFile"] == "/etc/clinic/env"


@pytest.mark.parametrize(
    ("conf", "expected"),
    [
        (None, "is missing: the site's logs are kept with no time limit"),
        ("[Journal]\nMaxFileSec=1day\n", "sets no MaxRetentionSec"),
        ("[Journal]\nMaxRetentionSec=0\nMaxFileSec=1day\n", "sets no MaxRetentionSec"),
        # journald starts a new file monthly unless told: a line can stay 13 days + a month.
        ("[Journal]\nMaxRetentionSec=13day\n", "up to 43.44 days, the privacy page says 14"),
        ("[Journal]\nMaxRetentionSec=14day\nMaxFileSec=1day\n", "up to 15 days"),
        ("[Journal]\nMaxRetentionSec=2w\nMaxFileSec=1h\n", "up to 14.0417 days"),
        ("[Journal]\nMaxRetentionSec=soon\nMaxFileSec=1day\n", "MaxRetentionSec=soon is not"),
        # Only [Journal] counts, and the last setting wins (as systemd reads it).
        ("[Other]\nMaxRetentionSec=1day\nMaxFileSec=1day\n", "sets no MaxRetentionSec"),
        ("[Journal]\nMaxRetentionSec=1d\nMaxFileSec=1d\nMaxRetentionSec=30d\n", "up to 31 days"),
        ("# MaxRetentionSec=1d\n[Journal]\n#MaxRetentionSec=1d\n", "sets no MaxRetentionSec"),
    ],
)
def test_a_journal_that_keeps_logs_longer_than_the_privacy_page_says_is_named(
    production, capsys, monkeypatch, conf, expected
):
    from webapp import deploy

    if conf is None:
        deploy.JOURNAL_CONF.unlink()
    else:
        deploy.JOURNAL_CONF.write_text(conf)
    code, found = deploy_warnings(capsys)
    assert code == 1
    assert len(found) == 1 and expected in found[0], found
    assert str(deploy.JOURNAL_CONF) in found[0]


def test_a_shorter_promise_needs_a_shorter_journal(production, capsys, monkeypatch):
    monkeypatch.setenv("LOG_RETENTION_DAYS", "7")
    code, found = deploy_warnings(capsys)
    assert code == 1 and len(found) == 1 and "up to 14 days, the privacy page says 7" in found[0]
    monkeypatch.setenv("LOG_RETENTION_DAYS", "30")
    assert deploy_warnings(capsys) == (0, [])


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("14day", 14 * 86400), ("2w", 14 * 86400), ("1d 12h", 36 * 3600), ("90", 90),
        ("1month", 30.44 * 86400), ("1y", 365.25 * 86400), ("500ms", 0.5), ("3 weeks", 21 * 86400),
        ("", None), ("soon", None), ("14 fortnights", None), ("-1d", None), ("1d x", None),
    ],
)  # fmt: skip
def test_systemd_time_spans_are_read_as_systemd_reads_them(text, seconds):
    from webapp.deploy import timespan_seconds

    found = timespan_seconds(text)
    assert found == pytest.approx(seconds) if seconds is not None else found is None


def test_the_guides_service_keeps_its_logs_in_a_journal_of_its_own():
    [unit] = guide_blocks("ini")
    assert "\nLogNamespace=clinic\n" in unit
    [conf] = guide_blocks("conf")
    assert "[Journal]" in conf
    guide = GUIDE.read_text()
    assert "journalctl --namespace=clinic -u clinic" in guide
    assert "/etc/systemd/journald@clinic.conf" in guide


def test_the_guides_nginx_keeps_no_log_of_visitors():
    [block] = guide_blocks("nginx")
    servers = block.split("server {")[1:]
    assert len(servers) == 2
    for server in servers:  # the redirect on port 80 as well as the site
        assert "access_log off;" in server
        assert re.search(r"error_log \S+ crit;", server)


def test_the_guides_nginx_site_passes_the_client_and_scheme_and_limits_bodies():
    [site] = guide_blocks("nginx")
    assert "proxy_set_header X-Forwarded-For $remote_addr;" in site
    assert "proxy_set_header X-Forwarded-Proto $scheme;" in site
    assert "proxy_set_header Host $host;" in site
    assert "client_max_body_size 64k;" in site
    assert "return 301 https://$host$request_uri;" in site


def test_the_database_is_created_private_and_check_creates_none(tmp_path, monkeypatch, capsys):
    database = cli_environment(tmp_path, monkeypatch)
    assert main(["check"]) == 0
    assert not database.exists()  # checking is not creating
    assert main(["migrate"]) == 0
    assert stat.S_IMODE(database.stat().st_mode) == 0o600
    assert main(["closure", "add", "2030-12-25", "--reason", "Christmas Day"]) == 0
    for companion in database.parent.glob("clinic.db-*"):
        assert stat.S_IMODE(companion.stat().st_mode) == 0o600, companion
