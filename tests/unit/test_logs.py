"""Access lines tie nothing to a person: no query string, no request reference, and no client
address unless LOG_CLIENT_ADDRESS=true."""

import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from webapp.consultations import new_reference
from webapp.logs import AccessPrivacy, access_fields, install

FORMAT = '%s - "%s %s HTTP/%s" %d'


def access_record(client: str, path: str) -> logging.LogRecord:
    return logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, FORMAT, (client, "GET", path, "1.1", 200), None
    )


@pytest.mark.parametrize(
    ("path", "shown"),
    [
        ("/staff", "/staff"),
        ("/staff?q=Jane%20Doe&status=new", "/staff"),
        ("/consultation/thanks?c=eyJyIjoiQUtJLTdGM0syIn0", "/consultation/thanks"),
        ("/staff/requests/12", "/staff/requests/12"),
        ("/AKI-7F3K2", "/AKI-?????"),
        ("/lookup/aki-7f3k2/x", "/lookup/AKI-?????/x"),
        ("/AKI%2D7F3K2", "/AKI-?????"),
        ("/staff/requests.csv?q=555-0177", "/staff/requests.csv"),
        ("", ""),
    ],
)
def test_the_path_keeps_no_query_and_no_reference(path, shown):
    assert access_fields("127.0.0.1:5000", path, log_client_address=False) == ("-", shown)
    assert access_fields("127.0.0.1:5000", path, log_client_address=True) == (
        "127.0.0.1:5000",
        shown,
    )


@given(st.integers(min_value=0, max_value=50))
def test_no_issued_reference_survives(_):
    reference = new_reference()
    _, path = access_fields("x", f"/a/{reference}/b?{reference}", log_client_address=False)
    assert reference not in path and path == "/a/AKI-?????/b"


def test_uvicorns_access_line_by_default():
    record = access_record("203.0.113.7:5000", "/staff?q=Jane%20Doe&status=new")
    assert AccessPrivacy().filter(record) is True
    assert record.getMessage() == '- - "GET /staff HTTP/1.1" 200'


def test_uvicorns_access_line_with_the_address_turned_on():
    record = access_record("203.0.113.7:5000", "/AKI-7F3K2?c=1")
    AccessPrivacy(log_client_address=True).filter(record)
    assert record.getMessage() == '203.0.113.7:5000 - "GET /AKI-????? HTTP/1.1" 200'


def test_other_records_pass_untouched():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "plain %s", ("a?b",), None)
    AccessPrivacy().filter(record)
    assert record.getMessage() == "plain a?b"


def test_install_attaches_the_rule_to_uvicorns_access_logger():
    logger = logging.getLogger("uvicorn.access")
    before = list(logger.filters)
    try:
        install(log_client_address=False)
        [added] = [f for f in logger.filters if f not in before]
        assert isinstance(added, AccessPrivacy) and added.log_client_address is False
    finally:
        logger.filters[:] = before


@pytest.mark.anyio
async def test_statements_and_their_parameters_never_reach_a_log_even_at_debug(
    db, caplog: pytest.LogCaptureFixture
):
    aiosqlite_logger = logging.getLogger("aiosqlite")
    level = aiosqlite_logger.level
    try:
        install(log_client_address=False)
        with caplog.at_level(logging.DEBUG):  # the root logger at DEBUG
            await db.fetchone("SELECT ?", ("Zoe Example, zoe@example.org",))
        assert not [r for r in caplog.records if "zoe@example.org" in r.getMessage()]
        assert not [r for r in caplog.records if r.name.startswith("aiosqlite")]
    finally:
        aiosqlite_logger.setLevel(level)
