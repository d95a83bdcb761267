"""A rendered page cut at its per-response slots, and the bytes of each response made from it.

A shared page is rendered once with placeholders where a response must differ: the visitor's
form token, and the banner's refresh trigger (its delay counts down to the next change). The
page is kept as the static parts around those slots, each part gzipped once; a response is
the parts with fresh values between them. In the gzip stream each part is an independent
deflate run ended on a byte boundary (a full flush), so a value can follow as a stored block
(no compression: a token is random, a trigger a few bytes) and the next part after it; only
the trailer (CRC-32 and length of the whole body) is made per response, from the parts'
precomputed CRCs.

Everything here is pure: bytes in, bytes out.
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from array import array
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

# Pages smaller than this are sent as they are: gzip would save next to nothing.
GZIP_MIN = 512
GZIP_LEVEL = 9


class SliceError(Exception):
    """A page cannot be cut as asked (a placeholder missing or repeated)."""


def _stored_block(value: bytes) -> bytes:
    """A non-final stored deflate block holding value as it is (byte-aligned in, and out)."""
    if len(value) > 0xFFFF:
        raise ValueError("a spliced value must be under 64 KiB")
    return b"\x00" + struct.pack("<HH", len(value), len(value) ^ 0xFFFF) + value


class CrcShift:
    """CRC-32 of a concatenation without reading the first part again.

    zlib's crc32(data, start) is affine in `start`: crc32(data, c) = L(c) ^ crc32(data, 0),
    where the linear map L depends only on len(data). L is kept as four tables of 256
    entries (one per byte of c), so appending a known part costs four lookups.
    """

    __slots__ = ("crc", "tables")

    def __init__(self, part: bytes) -> None:
        self.crc = zlib.crc32(part)
        zeros = bytes(len(part))
        offset = zlib.crc32(zeros, 0)
        basis = [zlib.crc32(zeros, 1 << bit) ^ offset for bit in range(32)]
        self.tables: list[array[int]] = []  # (arrays: 4 KB a part, not 40 KB of ints)
        for byte in range(4):
            table = array("I", bytes(4 * 256))
            for value in range(1, 256):
                low = value & -value
                table[value] = table[value ^ low] ^ basis[8 * byte + low.bit_length() - 1]
            self.tables.append(table)

    def after(self, crc: int) -> int:
        """crc32(part, crc): the CRC of what `crc` covered followed by the part."""
        t = self.tables
        return (
            t[0][crc & 0xFF] ^ t[1][(crc >> 8) & 0xFF] ^ t[2][(crc >> 16) & 0xFF] ^ t[3][crc >> 24]
        ) ^ self.crc


@dataclass(frozen=True)
class Sliced:
    """A page's bytes around its slots, and the gzip of each part (made once)."""

    parts: tuple[bytes, ...]
    slots: tuple[str, ...]  # the slot between parts[i] and parts[i + 1]
    gzipped: tuple[bytes, ...] | None  # None: sent as it is
    shifts: tuple[CrcShift, ...]  # for parts[1:]
    first_crc: int
    static_size: int
    digest: str  # of the parts: with the slots' values, an ETag
    sizes: Mapping[str, int]  # slots of a known length (their next part is packed knowing it)

    def body(self, values: Mapping[str, bytes]) -> bytes:
        """The page with each slot's value in place."""
        if not self.slots:
            return self.parts[0]
        out = [self.parts[0]]
        for slot, part in zip(self.slots, self.parts[1:], strict=True):
            out += (values[slot], part)
        return b"".join(out)

    def gzip(self, values: Mapping[str, bytes]) -> bytes:
        """The gzip stream of body(values), made without compressing anything again."""
        assert self.gzipped is not None
        if not self.slots:
            return self.gzipped[0]
        if any(len(values[slot]) != size for slot, size in self.sizes.items()):
            return zlib.compress(self.body(values), 6, 31)  # (not seen in practice)
        out = [self.gzipped[0]]
        crc, size = self.first_crc, self.static_size
        for slot, packed, shift in zip(self.slots, self.gzipped[1:], self.shifts, strict=True):
            value = values[slot]
            crc = shift.after(zlib.crc32(value, crc))
            size += len(value)
            out += (_stored_block(value), packed)
        out.append(struct.pack("<II", crc, size & 0xFFFFFFFF))
        return b"".join(out)


def slice_page(
    body: bytes,
    markers: Mapping[str, bytes],
    *,
    gzip: bool,
    sizes: Mapping[str, int] | None = None,
) -> Sliced:
    """Cut body at each marker (each present at most once) and gzip the parts if asked.

    `sizes`: slots whose values always have that length (the form token). The part after
    such a slot is compressed knowing what precedes it, the slot as NUL bytes (which a page
    never holds, so nothing refers to them): the page compresses almost as well as whole.
    A value of another length still makes a right response (compressed afresh).
    """
    sizes = {slot: size for slot, size in (sizes or {}).items() if slot in markers}
    found: list[tuple[int, str, bytes]] = []
    for slot, marker in markers.items():
        count = body.count(marker)
        if count > 1:
            raise SliceError(f"the placeholder for {slot} appears {count} times")
        if count:
            found.append((body.index(marker), slot, marker))
    found.sort()
    parts: list[bytes] = []
    start = 0
    for at, _, marker in found:
        parts.append(body[start:at])
        start = at + len(marker)
    parts.append(body[start:])
    static_size = sum(map(len, parts))
    slots = tuple(slot for _, slot, _ in found)
    digest = hashlib.sha256(b"\0".join(parts)).hexdigest()[:20]
    shifts = tuple(CrcShift(part) for part in parts[1:]) if gzip and slots else ()
    packed = _gzip_parts(parts, slots, sizes) if gzip and static_size > GZIP_MIN else None
    used = {slot: size for slot, size in sizes.items() if slot in slots}
    return Sliced(tuple(parts), slots, packed, shifts if packed else (), zlib.crc32(parts[0]),
                  static_size, digest, used)  # fmt: skip


def _context(
    parts: Sequence[bytes], slots: Sequence[str], sizes: Mapping[str, int], index: int
) -> bytes:
    """What precedes parts[index] in every response alike, back to the nearest slot of no
    fixed length: known-length slots as NUL bytes."""
    out: list[bytes] = []
    for before in range(index - 1, -1, -1):  # slot `before` sits after parts[before]
        size = sizes.get(slots[before])
        if size is None:
            break
        out += (b"\0" * size, parts[before])
    found = b"".join(reversed(out))
    return b"" if b"\0" in b"".join(parts) else found[-32768:]


def _gzip_parts(
    parts: Sequence[bytes], slots: Sequence[str], sizes: Mapping[str, int]
) -> tuple[bytes, ...]:
    """The first part with the gzip header; each part its own deflate run, byte-aligned at
    its end; the last one final. Without slots: one ordinary gzip file."""
    if len(parts) == 1:
        return (zlib.compress(parts[0], GZIP_LEVEL, 31),)
    out = []
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        context = _context(parts, slots, sizes, index) if index else b""
        wbits = 31 if index == 0 else -15
        packer = (
            zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, wbits, zdict=context)
            if context
            else zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, wbits)
        )
        end = zlib.Z_FINISH if last else zlib.Z_FULL_FLUSH
        out.append(packer.compress(part) + packer.flush(end))
    return tuple(out)
