"""webapp.splice: a page cut at its slots gives, for any values, exactly the page with those
values in place, as plain bytes and as a valid gzip stream."""

from __future__ import annotations

import gzip
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from webapp.splice import CrcShift, SliceError, slice_page

MARKS = {"token": b"@@TOKEN@@", "trigger": b"@@TRIGGER@@"}
text = st.binary(max_size=3000).map(lambda b: b.replace(b"@@", b""))
value = st.binary(max_size=300)


@settings(max_examples=200, deadline=None)
@given(a=text, b=text, c=text, token=value, trigger=value, order=st.booleans(),
       fixed=st.booleans())  # fmt: skip
def test_any_values_make_the_page_and_its_gzip(a, b, c, token, trigger, order, fixed):
    first, second = ("token", "trigger") if order else ("trigger", "token")
    body = a + MARKS[first] + b + MARKS[second] + c
    sizes = {"token": len(token)} if fixed else {}
    page = slice_page(body, MARKS, gzip=True, sizes=sizes)
    values = {"token": token, "trigger": trigger}
    expected = body.replace(MARKS["token"], token).replace(MARKS["trigger"], trigger)
    assert page.body(values) == expected
    if page.gzipped is not None:
        assert gzip.decompress(page.gzip(values)) == expected  # CRC and length checked too
        # A token of another length than announced still makes a right stream.
        other = {"token": token + b"x", "trigger": trigger}
        assert gzip.decompress(page.gzip(other)) == page.body(other)


@pytest.mark.parametrize("where", ["start", "end", "both"])
def test_slots_at_the_edges(where):
    filler = b"<p>" + b"words and more words " * 60 + b"</p>"
    body = {
        "start": MARKS["token"] + filler,
        "end": filler + MARKS["token"],
        "both": MARKS["token"] + filler + MARKS["trigger"],
    }[where]
    page = slice_page(body, MARKS, gzip=True, sizes={"token": 5})
    values = {"token": b"12345", "trigger": b"every 60s"}
    assert gzip.decompress(page.gzip(values)) == page.body(values)


def test_a_page_without_slots_is_one_ordinary_gzip_file():
    body = b"<html>" + b"same text " * 100 + b"</html>"
    page = slice_page(body, MARKS, gzip=True)
    assert page.slots == ()
    assert page.gzip({}) == page.gzipped[0] and gzip.decompress(page.gzip({})) == body


def test_small_pages_are_not_gzipped():
    assert slice_page(b"short" + MARKS["token"], MARKS, gzip=True).gzipped is None


def test_a_placeholder_twice_is_refused():
    with pytest.raises(SliceError):
        slice_page(MARKS["token"] * 2, MARKS, gzip=True)


def test_the_part_after_a_fixed_size_slot_compresses_knowing_what_came_before():
    page_text = b"<main>" + b"".join(b"<p>paragraph %d of the article</p>" % i for i in range(300))
    body = page_text + MARKS["token"] + page_text[:2000]
    known = slice_page(body, MARKS, gzip=True, sizes={"token": 10})
    unknown = slice_page(body, MARKS, gzip=True)
    assert len(known.gzip({"token": b"0123456789"})) < len(unknown.gzip({"token": b"0123456789"}))


@given(st.binary(max_size=2000), st.binary(max_size=2000))
def test_crc_shift_continues_a_crc_over_a_known_part(head, part):
    assert CrcShift(part).after(zlib.crc32(head)) == zlib.crc32(head + part)
