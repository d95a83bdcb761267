"""Mail settings (SMTP_*, MAIL_FROM) and the commands that show and try them:
`check` and `send-test-mail`, against a real SMTP server."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.conftest import FakeClock
from tests.helpers import cli_environment
from tests.smtp import MailServer
from webapp.cli import main
from webapp.settings import ConfigError, _smtp

FROM = "Albany Ketamine Infusions <noreply@clinic.example>"


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, None),
        ({"SMTP_HOST": "  ", "MAIL_FROM": FROM}, None),
        ({"SMTP_HOST": "mail.example.org", "MAIL_FROM": FROM},
         ("mail.example.org", 587, "starttls", "", "")),
        ({"SMTP_HOST": "mail.example.org", "MAIL_FROM": "noreply@example.org",
          "SMTP_PORT": "465", "SMTP_TLS": "TLS", "SMTP_USERNAME": "site",
          "SMTP_PASSWORD": "p a s s"},
         ("mail.example.org", 465, "tls", "site", "p a s s")),
        ({"SMTP_HOST": "127.0.0.1", "MAIL_FROM": FROM, "SMTP_TLS": "none", "SMTP_PORT": "25"},
         ("127.0.0.1", 25, "none", "", "")),
    ],
)  # fmt: skip
def test_smtp_settings(env, expected):
    found = _smtp(env)
    if expected is None:
        assert found is None
    else:
        assert (found.host, found.port, found.tls, found.username, str(found.password)) == expected
        assert "p a s s" not in repr(found)  # the password never shows in a repr or a log


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"SMTP_HOST": "mail.example.org"}, "MAIL_FROM is needed with SMTP_HOST"),
        ({"SMTP_HOST": "mail.example.org", "MAIL_FROM": "not an address"},
         "MAIL_FROM must be an email address"),
        ({"SMTP_HOST": "mail.example.org", "MAIL_FROM": "a@b"}, "MAIL_FROM must be an email"),
        ({"SMTP_HOST": "smtp://mail.example.org", "MAIL_FROM": FROM}, "SMTP_HOST must be a host"),
        ({"SMTP_HOST": "mail.example.org:587", "MAIL_FROM": FROM}, "SMTP_HOST must be a host"),
        ({"SMTP_HOST": "mail.example.org", "MAIL_FROM": FROM, "SMTP_PORT": "0"},
         "SMTP_PORT must be a port number"),
        ({"SMTP_HOST": "mail.example.org", "MAIL_FROM": FROM, "SMTP_PORT": "70000"},
         "SMTP_PORT must be a port number"),
        ({"SMTP_HOST": "mail.example.org", "MAIL_FROM": FROM, "SMTP_PORT": "５８７"},
         "SMTP_PORT must be a port number"),
        ({"SMTP_HOST": "mail.example.org", "MAIL_FROM": FROM, "SMTP_TLS": "ssl"},
         "SMTP_TLS must be starttls, tls or none"),
        ({"SMTP_HOST": "mail.example.org", "MAIL_FROM": FROM, "SMTP_USERNAME": "site"},
         "SMTP_USERNAME and SMTP_PASSWORD go together"),
        ({"SMTP_HOST": "mail.example.org", "MAIL_FROM": FROM, "SMTP_PASSWORD": "x"},
         "SMTP_USERNAME and SMTP_PASSWORD go together"),
    ],
)  # fmt: skip
def test_bad_smtp_settings_stop_start_up_with_one_line(env, says):
    with pytest.raises(ConfigError, match=says) as raised:
        _smtp(env)
    assert "\n" not in str(raised.value)
    assert env.get("SMTP_PASSWORD", "not-there") not in str(raised.value)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 12, 1, 15, 30, tzinfo=UTC))


def mail_env(monkeypatch, server: MailServer) -> None:
    for name, value in {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(server.port),
                        "SMTP_TLS": "none", "MAIL_FROM": FROM}.items():  # fmt: skip
        monkeypatch.setenv(name, value)


def test_send_test_mail(tmp_path, monkeypatch, capsys, clock):
    cli_environment(tmp_path, monkeypatch)
    server = MailServer().start()
    try:
        mail_env(monkeypatch, server)
        assert main(["send-test-mail", "frontdesk@example.org"], clock=clock) == 0
        said = capsys.readouterr().out
        assert f"sent a test email to frontdesk@example.org through 127.0.0.1:{server.port}" in said
        [delivered] = server.received
        assert delivered.recipients == ["frontdesk@example.org"]
        message = delivered.message
        assert message["Subject"] == "Test email from Albany Ketamine Infusions's website"
        assert "Tuesday, December 1 at 10:30 AM ET" in message.get_payload(decode=True).decode()
        assert message["Message-ID"].endswith("@clinic.example>")
    finally:
        server.stop()


def test_send_test_mail_says_what_failed(tmp_path, monkeypatch, capsys, clock):
    cli_environment(tmp_path, monkeypatch)
    mail_env(monkeypatch, MailServer())  # nothing listens there
    assert main(["send-test-mail", "frontdesk@example.org"], clock=clock) == 1
    err = capsys.readouterr().err
    assert "not sent through 127.0.0.1:" in err
    assert "the mail server refused the connection" in err
    assert "Traceback" not in err
    assert main(["send-test-mail", "not-an-address"], clock=clock) == 2


def test_send_test_mail_without_smtp_host(tmp_path, monkeypatch, capsys, clock):
    cli_environment(tmp_path, monkeypatch)
    assert main(["send-test-mail", "frontdesk@example.org"], clock=clock) == 2
    assert "SMTP_HOST is not set" in capsys.readouterr().err


def test_check_shows_the_mail_settings(tmp_path, monkeypatch, capsys):
    cli_environment(tmp_path, monkeypatch)
    assert main(["check"]) == 0
    assert "mail: not set up (SMTP_HOST is not set)" in capsys.readouterr().out
    monkeypatch.setenv("SMTP_HOST", "mail.example.org")
    monkeypatch.setenv("MAIL_FROM", FROM)
    monkeypatch.setenv("SMTP_USERNAME", "site")
    monkeypatch.setenv("SMTP_PASSWORD", "hunter2-hunter2")
    monkeypatch.setenv("SMTP_TLS", "none")
    assert main(["check"]) == 0
    out = capsys.readouterr().out
    assert f"mail: mail.example.org:587 (none) as site, from {FROM}" in out
    assert "warning: SMTP_TLS=none sends SMTP_PASSWORD unencrypted" in out
    assert "warning: BASE_URL is not set" in out
    assert "hunter2" not in out
    monkeypatch.setenv("SMTP_TLS", "bogus")
    assert main(["check"]) == 2
    assert "SMTP_TLS must be starttls, tls or none" in capsys.readouterr().err
