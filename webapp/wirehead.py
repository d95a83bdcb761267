"""A response's headers encoded once, as the bytes the HTTP protocol writes for them.

uvicorn writes a response's head by walking its header list: two regular expressions, a
lower-casing and four comparisons per header, for every response. A cached page sends the
same dozen headers each time (the security headers among them), so the page cache encodes
them once, when it renders the page (`encode`), and the fast path hands the bytes to the
protocol alongside the usual header list, under the key `PREPARED` of its
`http.response.start` message. The site's httptools protocol (webapp/httpguard.py) writes
them as they are; any other server ignores the key and uses the list, which says the same.

The bytes are exactly uvicorn's for the same list (tests/http/test_prepared_head.py): a name
lower-cased, ": ", the value, CRLF. A list uvicorn would refuse, or would read for its own
bookkeeping (connection, transfer-encoding), is not prepared; content-length is, and its
value travels beside the bytes.
"""

from __future__ import annotations

from collections.abc import Sequence

# uvicorn's own rules for what it refuses to write, so the two can never disagree.
from uvicorn.protocols.http.httptools_impl import HEADER_RE, HEADER_VALUE_RE

# The key of http.response.start that carries a prepared head: (bytes, content length or
# None when the head has none).
PREPARED = "webapp.prepared_head"
Prepared = tuple[bytes, int | None]
_INTERPRETED = frozenset({b"connection", b"transfer-encoding"})


class NotPreparable(ValueError):
    """A header list the protocol must see as a list."""


def line(name: bytes, value: bytes) -> bytes:
    """One header as written on the wire."""
    if HEADER_RE.search(name) or HEADER_VALUE_RE.search(value):
        raise NotPreparable(f"header {name!r} cannot be written as it is")
    name = name.lower()
    if name in _INTERPRETED:
        raise NotPreparable(f"header {name!r} is the protocol's to interpret")
    return made(name, value)


def made(name: bytes, value: bytes) -> bytes:
    """`line` for a header the site made itself from plain characters (a length, an etag
    of hex digits), unchecked: these are added per response."""
    return name + b": " + value + b"\r\n"


def encode(headers: Sequence[tuple[bytes, bytes]]) -> bytes:
    """The header lines for `headers`, in order (NotPreparable when they cannot be)."""
    return b"".join(line(name, value) for name, value in headers)
