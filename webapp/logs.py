"""Logging set-up: access lines without query strings (searches hold names and emails)."""

from __future__ import annotations

import logging


class DropQueryStrings(logging.Filter):
    """Cut `?...` from the path in uvicorn's access lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record's path argument; never drops a line."""
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], args[2].split("?", 1)[0], *args[3:])
        return True


def install() -> None:
    """Attach the filters to uvicorn's access logger."""
    logging.getLogger("uvicorn.access").addFilter(DropQueryStrings())
