"""The privacy commands: purge (the retention run), erase and export-person.

python -m webapp purge
python -m webapp erase AKI-XXXXX [--same-contact] [--yes]
python -m webapp export-person AKI-XXXXX [--same-contact] [--format json|html] [--output FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any, TextIO

from webapp import person_copy, privacy, retention
from webapp.db import Database
from webapp.privacy import Held, Person
from webapp.settings import Settings


def _clinic(settings: Settings) -> Any:
    from webapp.clinic import load_clinic

    return load_clinic(settings.clinic_file)


def _find(settings: Settings, args: argparse.Namespace) -> Person:
    from webapp.cli import _with_db

    async def work(db: Database) -> Person:
        return await privacy.person(db, await privacy.id_for(db, args.reference))

    try:
        return asyncio.run(_with_db(settings, work, args.clock))
    except privacy.NotHeld:
        raise ValueError(
            f"no request {privacy.normalise_reference(args.reference)} is held"
            " (never received, or deleted already)"
        ) from None


def _line(held: Held, tz: Any) -> str:
    received = person_copy.local_text(held.created_at, tz)
    match = f" ({held.match})" if held.match else ""
    notes = f"{held.notes} note{'s' if held.notes != 1 else ''}"
    contact = ", ".join(part for part in (held.email, held.phone) if part)
    return f"  {held.reference}{match}: {held.full_name}, {contact}; received {received}; {notes}"


def _ask(question: str) -> bool:
    try:
        return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")
    except EOFError:
        print()
        return False


def _purge(settings: Settings, args: argparse.Namespace) -> int:
    from webapp.cli import _with_db

    days = settings.retention_days
    keep = timedelta(days=settings.backup_keep)  # restores' replaced copies, like backups
    swept = asyncio.run(
        _with_db(settings, lambda db: retention.run(db, args.clock(), days, keep), args.clock)
    )
    print(swept.summary(days))
    return 0


def _erase(settings: Settings, args: argparse.Namespace) -> int:
    from webapp.cli import CLI_ACTOR, _with_db

    found = _find(settings, args)
    tz = _clinic(settings).schedule.tz
    print("This request and its notes will be deleted for good:")
    print(_line(found.request, tz))
    if found.others:
        print("Other requests with the same email or phone (a family may share a phone):")
        for other in found.others:
            print(_line(other, tz))
    print(
        "The history of who opened or changed each request stays: it names the reference and"
        " staff, nothing of the person."
    )
    if args.yes:
        chosen = [found.request, *(found.others if args.same_contact else ())]
    else:
        if not _ask(f"Erase {found.request.reference}?"):
            print("nothing erased")
            return 1
        chosen = [found.request]
        for other in found.others:
            if args.same_contact or _ask(f"Also erase {other.reference} ({other.match})?"):
                chosen.append(other)

    async def work(db: Database) -> list[str]:
        return await privacy.erase(db, chosen, args.clock(), CLI_ACTOR)

    try:
        erased = asyncio.run(_with_db(settings, work, args.clock))
    except privacy.NotHeld:
        raise ValueError(f"{found.request.reference} was deleted meanwhile") from None
    kept = privacy.Kept.of(settings)
    print(
        f"erased {', '.join(erased)}: gone from the database files. Backups made before now"
        f" still hold it until they are replaced (up to {kept.backup_days} days)."
    )
    left = [other.reference for other in found.others if other.reference not in erased]
    if left:
        print(f"still held (same email or phone): {', '.join(left)}")
    return 0


def _open_private(path: Path) -> TextIO:
    """A new file only its owner can read (it holds personal data); never overwrites. Opened
    before the copy is made, so a copy is audited only when it can be written."""
    if not path.parent.is_dir():
        raise ValueError(f"the folder {path.parent} does not exist")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise ValueError(f"{path} already exists; choose a new file name") from None
    return os.fdopen(fd, "w", encoding="utf-8")


def _export(settings: Settings, args: argparse.Namespace) -> int:
    from webapp.cli import CLI_ACTOR, _with_db

    found = _find(settings, args)
    clinic = _clinic(settings)
    chosen = [found.request, *(found.others if args.same_contact else ())]
    kind = "web page" if args.format == "html" else "JSON"

    async def work(db: Database) -> Any:
        now = args.clock()
        document = await person_copy.copy(db, chosen, clinic.name, now)
        await person_copy.record_copy(db, chosen, kind, now, CLI_ACTOR)
        return document

    target = _open_private(Path(args.output)) if args.output else None
    try:
        document = asyncio.run(_with_db(settings, work, args.clock))
        if args.format == "html":
            text = person_copy.copy_as_html(document, settings.templates_dir, clinic.schedule.tz)
        else:
            text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
        (target or sys.stdout).write(text)
    except BaseException:
        if target is not None:
            target.close()
            Path(args.output).unlink(missing_ok=True)
        raise
    if target is not None:
        target.close()
        print(f"copy of {found.request.reference} written to {args.output}", file=sys.stderr)
    if found.others and not args.same_contact:
        others = ", ".join(f"{o.reference} ({o.match})" for o in found.others)
        print(
            f"not included: {others}; add --same-contact to include them",
            file=sys.stderr,
        )
    return 0


def add_commands(sub: Any) -> None:
    """Add purge, erase and export-person to `python -m webapp`."""
    sub.add_parser(
        "purge",
        help="delete what is past its retention time now (the daily job does this by itself)",
    ).set_defaults(run=_purge)
    erase = sub.add_parser(
        "erase", help="erase a person's data on request: a request, its notes (and same-contact)"
    )
    erase.add_argument("reference", help="the request's reference, e.g. AKI-7F3K2")
    erase.add_argument(
        "--same-contact",
        action="store_true",
        help="also erase every other request with the same email or phone",
    )
    erase.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    erase.set_defaults(run=_erase)
    export = sub.add_parser(
        "export-person", help="a copy of everything held about a person (subject access)"
    )
    export.add_argument("reference", help="the request's reference, e.g. AKI-7F3K2")
    export.add_argument(
        "--same-contact",
        action="store_true",
        help="include every other request with the same email or phone",
    )
    export.add_argument("--format", choices=("json", "html"), default="json")
    export.add_argument("--output", help="a new file (mode 0600); default: standard output")
    export.set_defaults(run=_export)
