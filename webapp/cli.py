"""The site's command line: python -m webapp COMMAND [options].

Running the site:
  serve          run the site (applies pending migrations first)
  migrate        apply pending database migrations only
  check          check the settings, clinic file, articles and migrations

Data:
  backup         copy the database safely while the site runs
  restore        put a backup in place of the database (the site must be stopped)
  purge          delete what is past its retention time (a daily job does this by itself)
  erase          erase a person's data on request (a request, its notes, same-contact ones)
  export-person  a copy of everything held about a person, as JSON or a web page
  closure        add, remove or list dated closures and special hours

Mail:
  send-test-mail send a test email through SMTP_HOST, to check the mail settings

Staff accounts:
  create-staff   add an account (--admin: one who manages accounts; the first is an admin)
  set-password   change a password (ends that account's sessions)
  disable-staff  disable an account and end its sessions
  enable-staff   enable a disabled account
  reset-mfa      turn off an account's two-factor sign-in (a lost phone)
  list-staff     list the accounts

Settings come from the environment (see the README); `COMMAND --help` shows a command's options.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar
from zoneinfo import ZoneInfo

from webapp import closures, privacy_cli
from webapp.clock import Clock, system_clock
from webapp.db import Database, migrate
from webapp.server import DEFAULT_HTTP, HTTP_IMPLEMENTATIONS, LOG_FORMAT, StartupError
from webapp.settings import ConfigError, Settings, from_env
from webapp.storage import DatabaseInUse, StorageUnavailable

T = TypeVar("T")
CLI_ACTOR = "command line"


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from webapp import logs, server
    from webapp.accesslog import AccessLog
    from webapp.app import create_app

    # One clear line, not a traceback, when the database cannot be used at all; when it
    # can be read but not written, the site serves and says so (one line, /healthz 503).
    # Migrations are applied here, once, before any worker starts.
    fault = server.prepare_database(settings.database_path, args.clock)
    if args.workers > 1:
        return _serve_workers(settings, args)
    access_log = AccessLog(log_client_address=settings.log_client_address)
    app = create_app(
        settings, clock=args.clock, access_log=access_log, on_started=server.settle_heap
    )
    logs.install(settings.log_client_address)
    if fault is not None:
        app.ctx.db.note_fault(fault.kind, fault.detail)
    config = server.uvicorn_config(app, settings, host=args.host, port=args.port, http=args.http)
    logging.getLogger("webapp").info(server.stack_line(config))
    uvicorn.Server(config).run()
    return 0


def _serve_workers(settings: Settings, args: argparse.Namespace) -> int:
    """uvicorn's supervisor: N worker processes on one socket and one database file. Each
    builds its app from the environment (server.worker_app); everything they share lives
    in the database. The supervisor holds the database's shared lock while it runs, so a
    restore is refused even while a worker is being replaced."""
    from uvicorn.supervisors import Multiprocess

    from webapp import server
    from webapp.storage import hold_shared_lock, release

    config = server.uvicorn_config(
        server.WORKER_APP, settings, host=args.host, port=args.port, http=args.http,
        workers=args.workers,
    )  # fmt: skip
    logging.getLogger("webapp").info(server.stack_line(config, args.workers))
    lock = hold_shared_lock(settings.database_path)
    try:
        Multiprocess(config, sockets=[config.bind_socket()]).run()
    finally:
        release(lock)
    return 0


def _migrate(settings: Settings, args: argparse.Namespace) -> int:
    applied = migrate(settings.database_path, args.clock)
    print(f"applied {len(applied)} migration(s)" + (": " + ", ".join(applied) if applied else ""))
    return 0


async def _with_db(settings: Settings, work: Callable[[Database], Awaitable[T]], clock: Clock) -> T:
    """Run `work` on the database (migrated first, stamped by the command's clock)."""
    migrate(settings.database_path, clock)
    db = Database(settings.database_path)
    await db.open()
    try:
        return await work(db)
    finally:
        await db.close()


def _closure(settings: Settings, args: argparse.Namespace) -> int:
    now = args.clock()
    today = now.astimezone(_clinic_tz(settings)).date()
    if args.action == "add":
        entries = closures.make_range(args.day, args.to, args.reason, args.opens, args.closes)
        asyncio.run(
            _with_db(
                settings,
                lambda db: closures.put_range(db, entries, now, today, CLI_ACTOR),
                args.clock,
            )
        )
        hours = f"open {args.opens}-{args.closes}" if args.opens else "closed"
        first, last = entries[0].day.isoformat(), entries[-1].day.isoformat()
        days = first if first == last else f"{first} to {last}"
        print(f"{days}: {hours} ({entries[0].reason})")
        return 0
    if args.action == "remove":
        day = closures.parse_day(args.day)
        end = closures.parse_day(args.to) if args.to else day
        removed = asyncio.run(
            _with_db(
                settings, lambda db: closures.remove_range(db, day, end, now, CLI_ACTOR), args.clock
            )
        )
        if not removed:
            print(
                f"no closure on {day.isoformat()}" + (f" to {end.isoformat()}" if args.to else "")
            )
            return 1
        print("removed " + ", ".join(o.day.isoformat() for o in removed))
        return 0
    since = closures.parse_day(args.since) if args.since else None
    rows = asyncio.run(
        _with_db(settings, lambda db: closures.list_from(db, since or today), args.clock)
    )
    for row in rows:
        hours = f"open {row.opens:%H:%M}-{row.closes:%H:%M}" if row.opens else "closed"
        print(f"{row.day.isoformat()}  {hours:<17} {row.reason}")
    if not rows:
        print("no closures from " + (since or today).isoformat())
    return 0


def _read_password(args: argparse.Namespace, email: str) -> str:
    """The new password from standard input (--password-stdin) or a prompt typed twice."""
    from webapp.auth import password_problem

    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("New password: ")
        if getpass.getpass("Repeat it: ") != password:
            raise ValueError("the two passwords differ")
    problem = password_problem(password, email)
    if problem:
        raise ValueError(problem)
    return password


def _email(raw: str) -> str:
    from webapp.consultations import EMAIL

    email = raw.strip()
    if not EMAIL.match(email):
        raise ValueError(f"{raw!r} is not an email address")
    return email


def _staff(settings: Settings, args: argparse.Namespace) -> int:
    from webapp import accounts, auth

    now = args.clock()
    if args.command == "list-staff":
        people = asyncio.run(_with_db(settings, accounts.list_staff, args.clock))
        for person in people:
            state = "active" if person.active else "disabled"
            two_factor = "two-factor on" if person.mfa_enabled else "two-factor off"
            print(f"{person.email}  {person.role}  {state}  {two_factor}")
        if not people:
            print("no staff accounts yet: python -m webapp create-staff EMAIL")
        return 0
    email = _email(args.email)

    async def by_email(db: Database, work: Callable[[int], Awaitable[T]]) -> T | None:
        try:
            staff_id = await accounts.staff_id_for(db, email)
        except accounts.AccountNotFound:
            return None
        return await work(staff_id)

    def on_account(work: Callable[[Database, int], Awaitable[T]]) -> T | None:
        return asyncio.run(
            _with_db(settings, lambda db: by_email(db, lambda i: work(db, i)), args.clock)
        )

    try:
        if args.command in ("disable-staff", "enable-staff"):
            active = args.command == "enable-staff"
            changed = on_account(
                lambda db, i: accounts.set_active(db, i, active, accounts.CLI, now)
            )
            said = "enabled" if active else "disabled"
            print(
                f"{said} {email}" + ("" if active else "; its sessions have ended")
                if changed
                else f"no account {email}"
            )
            return 0 if changed else 1
        if args.command == "reset-mfa":
            from webapp import mfa

            found = on_account(lambda db, i: mfa.turn_off(db, i, accounts.CLI, now))
            if found is None:
                print(f"no account {email}")
                return 1
            print(
                f"two-factor sign-in reset for {email}; they set it up again at next sign-in"
                if found
                else f"{email} had no two-factor sign-in"
            )
            return 0
    except accounts.LastAdmin as refused:
        raise ValueError(str(refused)) from None
    hashed = auth.Hasher().hash_sync(_read_password(args, email))
    if args.command == "create-staff":
        admin = bool(args.admin)
        asyncio.run(
            _with_db(
                settings,
                lambda db: auth.create_staff(db, email, hashed, now, admin=admin),
                args.clock,
            )
        )
        made = asyncio.run(_with_db(settings, lambda db: auth.find_staff(db, email), args.clock))
        print(f"created {email}" + (" (admin)" if made and made[0].is_admin else ""))
        return 0

    async def new_password(db: Database, staff_id: int) -> bool:
        await accounts.set_password(db, staff_id, hashed, accounts.CLI, now)
        return True

    done = on_account(new_password)
    print(
        f"new password set for {email}; its sessions have ended" if done else f"no account {email}"
    )
    return 0 if done else 1


def _check(settings: Settings, args: argparse.Namespace) -> int:
    """Configuration, clinic file, articles and database: what a deploy should verify."""
    from webapp.clinic import load_clinic
    from webapp.content import ArticleStore
    from webapp.db import pending_migrations

    clinic = load_clinic(settings.clinic_file)
    problems = ArticleStore(settings.articles_dir, clinic.name).validate_all()
    pending = pending_migrations(settings.database_path)
    print(f"clinic: {clinic.name}, {clinic.address_line}; {clinic.hours_summary}")
    print(f"database: {settings.database_path}; pending migrations: {', '.join(pending) or 'none'}")
    for problem in problems:
        print(f"article problem: {problem}")
    smtp = settings.smtp
    if smtp is None:
        print("mail: not set up (SMTP_HOST is not set): no one is emailed about requests")
    else:
        login = f" as {smtp.username}" if smtp.username else ""
        print(f"mail: {smtp.host}:{smtp.port} ({smtp.tls}){login}, from {smtp.mail_from}")
        if not settings.base_url:
            print("warning: BASE_URL is not set: links in the daily digest have no host name")
        if (
            smtp.tls == "none"
            and smtp.username
            and smtp.host not in ("127.0.0.1", "localhost", "::1")
        ):
            print("warning: SMTP_TLS=none sends SMTP_PASSWORD unencrypted to another machine")
    if settings.https_only and settings.staff_mfa != "required":
        print(
            "warning: HTTPS_ONLY=true but STAFF_MFA=optional: in production, set"
            " STAFF_MFA=required so every staff account needs two-factor sign-in"
        )
    if args.deploy:
        from webapp.deploy import GUIDE, warnings

        found = warnings(settings)
        for warning in found:
            print(f"deploy warning: {warning}")
        if found:
            print(f"{len(found)} deploy warning(s): see {GUIDE}")
        problems = [*problems, *found]
    print("ok" if not problems else f"{len(problems)} problem(s)")
    return 0 if not problems else 1


def _backup(settings: Settings, args: argparse.Namespace) -> int:
    from pathlib import Path

    from webapp.backups import make_backup
    from webapp.db import backup

    if not settings.database_path.exists():
        raise ValueError(f"there is no database at {settings.database_path} yet")
    if args.to:
        target = Path(args.to)
        size = backup(settings.database_path, target)
    else:
        target, size = make_backup(settings.database_path, settings.backup_dir, args.clock())
    print(f"backed up to {target} ({size:,} bytes, integrity ok)")
    return 0


def _restore(settings: Settings, args: argparse.Namespace) -> int:
    from pathlib import Path

    from webapp.backups import restore

    done = restore(Path(args.file), settings.database_path, args.clock(), args.clock)
    applied = f"; migrations applied: {', '.join(done.applied)}" if done.applied else ""
    print(
        f"restored {args.file} into {settings.database_path}: integrity ok, "
        f"{done.requests} consultation request(s){applied}"
    )
    if done.kept_aside:
        print(f"the replaced database is kept as {done.kept_aside}")
    again = done.erased_again
    if again.references:
        print(f"erased again (erased after this backup was made): {', '.join(again.references)}")
    if not again.readable:
        print(
            "warning: the replaced database could not be read: erase again anyone erased"
            " since this backup was made"
        )
    return 0


def _send_test_mail(settings: Settings, args: argparse.Namespace) -> int:
    from webapp import mailtext
    from webapp.clinic import load_clinic
    from webapp.mailer import describe, send_one

    smtp = settings.smtp
    if smtp is None:
        raise ValueError("SMTP_HOST is not set, so the site sends no mail (see the README)")
    address = _email(args.address)
    clinic = load_clinic(settings.clinic_file)
    now = args.clock()
    mail = mailtext.test_mail(clinic.name, now, clinic.schedule.tz)
    where = f"{smtp.host}:{smtp.port} ({smtp.tls})"
    try:
        asyncio.run(send_one(smtp, address, mail, now))
    except Exception as exc:  # say what failed, in one line, without a traceback
        print(f"not sent through {where}: {describe(exc)}", file=sys.stderr)
        return 1
    print(f"sent a test email to {address} through {where}")
    return 0


def _clinic_tz(settings: Settings) -> ZoneInfo:
    from webapp.clinic import load_clinic

    return load_clinic(settings.clinic_file).schedule.tz


def _positive(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 64:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of workers from 1 to 64")
    return int(text)


def parser() -> argparse.ArgumentParser:
    """The argument parser for `python -m webapp`."""
    top = argparse.ArgumentParser(
        prog="python -m webapp",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = top.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the site (applies pending migrations first)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--port", type=int, default=8000, help="port to listen on")
    serve.add_argument(
        "--http",
        choices=HTTP_IMPLEMENTATIONS,
        default=DEFAULT_HTTP,
        help=f"uvicorn's HTTP parser (default {DEFAULT_HTTP}; auto: httptools when installed)",
    )
    serve.add_argument(
        "--workers",
        type=_positive,
        default=1,
        help="worker processes sharing the port and the database (default 1; e.g. one per core)",
    )
    serve.set_defaults(run=_serve)

    sub.add_parser("migrate", help="apply pending database migrations").set_defaults(run=_migrate)
    check = sub.add_parser(
        "check", help="check the settings, clinic file, articles and pending migrations"
    )
    check.add_argument(
        "--deploy",
        action="store_true",
        help="also warn about settings and files that contradict docs/deploy.md",
    )
    check.set_defaults(run=_check)
    backup = sub.add_parser("backup", help="copy the database safely while the site runs")
    backup.add_argument("--to", help="the new file (default: BACKUP_DIR/clinic-<UTC time>.db)")
    backup.set_defaults(run=_backup)
    restore = sub.add_parser(
        "restore", help="put a backup in place of the database (the site must be stopped)"
    )
    restore.add_argument("file", help="the backup to restore (checked and migrated first)")
    restore.set_defaults(run=_restore)

    closure = sub.add_parser("closure", help="dated closures and special hours")
    actions = closure.add_subparsers(dest="action", required=True)
    add = actions.add_parser("add", help="close for a day, or set special hours for it")
    add.add_argument("day", help="clinic-local date, YYYY-MM-DD (the first, with --to)")
    add.add_argument("--to", help="the last day, YYYY-MM-DD, for several days in one entry")
    add.add_argument("--reason", required=True, help='shown to visitors, e.g. "Thanksgiving"')
    add.add_argument("--opens", help="special opening time HH:MM (with --closes)")
    add.add_argument("--closes", help="special closing time HH:MM (with --opens)")
    remove = actions.add_parser("remove", help="delete the entry for a day (or --to a day)")
    remove.add_argument("day", help="YYYY-MM-DD")
    remove.add_argument("--to", help="the last day, YYYY-MM-DD, to remove several")
    listing = actions.add_parser("list", help="entries from today (or --since) on")
    listing.add_argument("--since", help="YYYY-MM-DD")
    closure.set_defaults(run=_closure)

    for name, text in (
        ("create-staff", "add a staff account (the first one is an admin)"),
        ("set-password", "change a password"),
    ):
        cmd = sub.add_parser(name, help=text)
        cmd.add_argument("email")
        cmd.add_argument(
            "--password-stdin",
            action="store_true",
            help="read the password from standard input instead of a prompt",
        )
        if name == "create-staff":
            cmd.add_argument("--admin", action="store_true", help="an admin (manages accounts)")
        cmd.set_defaults(run=_staff)
    for name, text in (
        ("disable-staff", "disable an account and end its sessions"),
        ("enable-staff", "enable a disabled account"),
        ("reset-mfa", "turn off an account's two-factor sign-in (a lost phone)"),
    ):
        cmd = sub.add_parser(name, help=text)
        cmd.add_argument("email")
        cmd.set_defaults(run=_staff)
    sub.add_parser("list-staff", help="list staff accounts").set_defaults(run=_staff)
    test_mail = sub.add_parser(
        "send-test-mail", help="send a test email through SMTP_HOST to ADDRESS"
    )
    test_mail.add_argument("address", help="where to send it")
    test_mail.set_defaults(run=_send_test_mail)
    privacy_cli.add_commands(sub)
    return top


def main(argv: Sequence[str] | None = None, *, clock: Clock = system_clock) -> int:
    """Entry point; bad configuration or input ends with one clear line and exit code 2.

    `clock` is the time every command uses (tests pass their own).
    """
    args = parser().parse_args(argv)
    args.clock = clock
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    try:
        settings = from_env()
        code: int = args.run(settings, args)
        return code
    except (ConfigError, ValueError, StartupError, StorageUnavailable, DatabaseInUse) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
