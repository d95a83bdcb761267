"""Access lines keep the path but never the query string (searches hold personal data)."""

import logging

from webapp.logs import DropQueryStrings


def test_query_strings_are_dropped_from_access_lines():
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/staff?q=Jane%20Doe&status=new", "1.1", 200), None,
    )  # fmt: skip
    assert DropQueryStrings().filter(record) is True
    assert record.getMessage() == '127.0.0.1:5000 - "GET /staff HTTP/1.1" 200'


def test_other_records_pass_untouched():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "plain %s", ("a?b",), None)
    DropQueryStrings().filter(record)
    assert record.getMessage() == "plain a?b"
