"""Logging set-up: access lines that tie nothing to a person.

An access line keeps the method, path and status, and leaves out:
- the query string (staff searches hold names and emails; the confirmation link a reference);
- any request reference in the path ("AKI-7F3K2" becomes "AKI-?????");
- the client's address, unless LOG_CLIENT_ADDRESS=true (then it is kept as it came).

aiosqlite logs every statement it runs, with its parameters (names, emails, messages), at
DEBUG: its logger stays at WARNING whatever the root level, so turning on debugging for the
site never writes a request into a log.

`access_fields` is the rule; any access logger (uvicorn's, or the app's own) applies it.
"""

from __future__ import annotations

import logging
import re

# A reference as issued (consultations.new_reference), in any case, also percent-encoded.
REFERENCE = re.compile(r"AKI(?:-|%2D)[0-9A-Z]{4,8}", re.IGNORECASE)
HIDDEN_REFERENCE = "AKI-?????"
HIDDEN_CLIENT = "-"


def access_fields(client: str, path: str, *, log_client_address: bool) -> tuple[str, str]:
    """What an access line may show of the client and the path (see the module's rule)."""
    shown_path = REFERENCE.sub(HIDDEN_REFERENCE, path.split("?", 1)[0])
    return (client if log_client_address else HIDDEN_CLIENT), shown_path


class AccessPrivacy(logging.Filter):
    """Applies `access_fields` to uvicorn's access lines: args (client, method, path, ...)."""

    def __init__(self, log_client_address: bool = False) -> None:
        super().__init__()
        self.log_client_address = log_client_address

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record's client and path arguments; never drops a line."""
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            client, path = access_fields(
                str(args[0]), args[2], log_client_address=self.log_client_address
            )
            record.args = (client, args[1], path, *args[3:])
        return True


def install(log_client_address: bool = False) -> None:
    """Attach the filter to uvicorn's access logger; keep aiosqlite's statements out."""
    logging.getLogger("uvicorn.access").addFilter(AccessPrivacy(log_client_address))
    logging.getLogger("aiosqlite").setLevel(logging.WARNING)
