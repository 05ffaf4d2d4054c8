"""The write-ahead log: record framing, checksums, and the operations format.

A log is a chain of segment files ``wal/<first lsn, 20 digits>.log``. Each
segment is a sequence of frames::

    u32 payload length | u32 crc32(lsn bytes + payload) | u64 lsn | payload

Log sequence numbers (lsn) rise by one per record across segments. A
payload starts with a record type byte:

* ``WRITE``: one committed write (a put, delete, update, batch or
  transaction, with the index changes it causes): ``u32 count`` then
  ``count`` operations, each
  ``u8 len + space | key pk | key sk | u8 flags | blob new | blob old``
  where ``space`` names what the operation changes (the table, an index or
  the transaction tokens: see :mod:`dynafile.storage.layout`), a blob is
  ``u32 length + bytes`` (``0xFFFFFFFF`` for "absent") and a key is
  ``u8 tag ('S', 'B', 'N', '-' for none) | u16 length | bytes`` or, for
  index sort keys, ``'T' | u16 count | keys...``.
* ``WRITE_AT``: a ``WRITE`` with the time it was committed: ``u64
  milliseconds since the epoch`` before the operations (what format 2
  writes; change records carry it as their approximate time).
* ``ROTATE``: the last record of a segment; the next segment's name is
  the following lsn.

A frame whose bytes are incomplete, or whose checksum fails with nothing
valid after it, is a torn tail left by a crash: recovery truncates it. A
bad frame followed by valid ones is corruption and is reported.
"""

from __future__ import annotations

import heapq
import os
import re
import struct
import zlib
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any, NamedTuple

from ..errors import CorruptFileError
from .layout import Layout

__all__ = [
    "FLAG_DROP_SPACE",
    "FLAG_EXPIRED",
    "FLAG_OLD_HIDDEN",
    "FLAG_REWRITE",
    "HEADER",
    "MAX_PAYLOAD",
    "ROTATE",
    "UNDECIDED",
    "WRITE",
    "WRITES",
    "WRITE_AT",
    "Frame",
    "LogReader",
    "Op",
    "decode_record",
    "decode_write",
    "encode_frame",
    "encode_record",
    "encode_write",
    "find_valid_frame",
    "parse_frames",
]

HEADER = struct.Struct("<IIQ")
_LSN = struct.Struct("<Q")
_U32 = struct.Struct("<I")
_KEYHDR = struct.Struct("<cH")
_ABSENT = 0xFFFFFFFF

WRITE = 1
ROTATE = 2
WRITE_AT = 3
#: The record types that hold operations.
WRITES = (WRITE, WRITE_AT)
_MS = struct.Struct("<Q")

#: Largest payload a frame may claim; a bigger length field is corruption.
MAX_PAYLOAD = 1 << 30

#: Operation flag: the delete was a TTL expiry.
FLAG_EXPIRED = 1
#: Operation flag: drop every entry of the operation's space (an index drop).
FLAG_DROP_SPACE = 2
#: Operation flag: ``old`` holds the bytes replaced, but the item had expired,
#: so streams and listeners report no old image (the item was absent to readers).
FLAG_OLD_HIDDEN = 4
#: Operation flag: the same item in new bytes (an encryption key rotation
#: re-encrypting it); not a change: streams and listeners skip it.
FLAG_REWRITE = 8


class Op(NamedTuple):
    """One change inside a WRITE record.

    ``new`` is the value written (``None``: deleted); ``old`` is always the
    bytes it replaced (``None``: there were none), whatever a reader saw.
    """

    pk: Any
    sk: Any
    new: bytes | None
    old: bytes | None
    flags: int = 0
    space: str = ""


class Frame(NamedTuple):
    """One record as read from a segment: its lsn, type and body, where it
    is, and its checksum."""

    lsn: int
    rtype: int
    body: bytes
    start: int
    end: int
    segment: int = 0
    crc: int = 0


def encode_frame(lsn: int, rtype: int, body: bytes) -> bytes:
    """Return the framed bytes of one record."""
    payload = bytes((rtype,)) + body
    crc = zlib.crc32(payload, zlib.crc32(_LSN.pack(lsn)))
    return HEADER.pack(len(payload), crc, lsn) + payload


def _frame_at(buf: bytes, pos: int, base: int = 0, segment: int = 0
              ) -> tuple[str, Frame | None]:
    """Parse one frame at ``pos``: ``("ok", frame)``, ``("short", None)`` or
    ``("bad", None)``; the frame's offsets are ``base`` plus its place in
    ``buf``. Costs its checksum and one copy of the body."""
    if len(buf) - pos < HEADER.size:
        return "short", None
    length, crc, lsn = HEADER.unpack_from(buf, pos)
    if length == 0 or length > MAX_PAYLOAD:
        return "bad", None
    start = pos + HEADER.size
    end = start + length
    if end > len(buf):
        return "short", None
    if zlib.crc32(memoryview(buf)[start:end], zlib.crc32(_LSN.pack(lsn))) != crc:
        return "bad", None
    return "ok", Frame(lsn, buf[start], buf[start + 1:end], base + pos, base + end, segment, crc)


def parse_frames(buf: bytes, base: int = 0, segment: int = 0
                 ) -> tuple[list[Frame], str | None, int]:
    """Parse the frames in ``buf`` (file bytes starting at file offset ``base``).

    Returns ``(frames, stop, stop_offset)``: ``stop`` is ``None`` when the
    buffer ended exactly after a frame, ``"short"`` when it ends inside a
    frame (a torn tail, or a write still in progress), or ``"bad"`` when a
    frame fails its checks; ``stop_offset`` is the file offset where parsing
    stopped. O(len(buf)).
    """
    frames: list[Frame] = []
    pos = 0
    size = len(buf)
    while pos < size:
        status, frame = _frame_at(buf, pos, base, segment)
        if frame is None:
            return frames, status, base + pos
        frames.append(frame)
        pos = frame.end - base
    return frames, None, base + pos


#: The smallest frame: a header and a record type byte.
_MIN_FRAME = HEADER.size + 1
#: What :func:`find_valid_frame` returns when the bytes hold too many
#: plausible headers to check them all at a cost linear in their size.
UNDECIDED = -1
_NONZERO = re.compile(rb"[^\x00]")


def find_valid_frame(buf: bytes, after_lsn: int) -> int | None:
    """Return the offset in ``buf`` (which starts at an invalid frame, the one
    after lsn ``after_lsn``) of the first valid frame with an lsn above
    ``after_lsn``; ``None`` when there is none; :data:`UNDECIDED` when
    telling would cost more than a few passes over ``buf``. Tells corruption
    (valid data follows a bad frame) from a torn tail (nothing valid follows).

    Only a plausible header is checksummed: a length that fits in ``buf``,
    and an lsn the bytes before it leave room for (above ``after_lsn``, at
    most one more per 17 bytes: the smallest frame). Such headers are found
    by searching for the lsn's high bytes (``bytes.find``), so random bytes,
    zeros or text cost a scan at C speed, and the checksums together cover
    at most about four times ``buf`` (past that: :data:`UNDECIDED`, which
    the reader reports as corruption rather than cutting). O(len(buf)).
    """
    size = len(buf)
    if size < 1 + _MIN_FRAME:
        return None
    view = memoryview(buf)
    lowest = after_lsn + 1
    highest = after_lsn + 2 + size // _MIN_FRAME
    # An lsn is 8 little-endian bytes at offset 8 of the header; every lsn in
    # [lowest, highest] has one of these top five bytes (the window is far
    # narrower than 2**24 for any buffer under 256 MiB).
    needles = [(top).to_bytes(5, "little") for top in range(lowest >> 24, (highest >> 24) + 1)]
    budget = 4 * size + (1 << 20)
    candidates = heapq.merge(*(_headers_with(buf, needle) for needle in needles))
    for pos in candidates:
        length, crc, lsn = HEADER.unpack_from(buf, pos)
        end = pos + HEADER.size + length
        if not (lowest <= lsn <= after_lsn + 2 + pos // _MIN_FRAME) or end > size:
            continue
        budget -= length
        if budget < 0:
            return UNDECIDED
        if zlib.crc32(view[pos + HEADER.size:end], zlib.crc32(_LSN.pack(lsn))) == crc:
            return pos
    return None


def _headers_with(buf: bytes, needle: bytes) -> Iterator[int]:
    """The offsets (from 1, in order) of headers in ``buf`` whose lsn's top
    five bytes are ``needle`` and whose length is not zero. A run of zeros
    is skipped in one step, not byte by byte."""
    size = len(buf)
    at = buf.find(needle, 1 + 11)
    while at >= 0:
        pos = at - 11  # the lsn's top five bytes start 11 bytes into a header
        if pos + _MIN_FRAME > size:
            return
        if buf[pos:pos + 4] == b"\x00\x00\x00\x00":  # length 0: never a frame
            # The next header with a non-zero length has one of its length
            # bytes at or after the next non-zero byte.
            nonzero = _NONZERO.search(buf, pos + 4)
            if nonzero is None:
                return
            at = buf.find(needle, max(at + 1, nonzero.start() + 8))
            continue
        yield pos
        at = buf.find(needle, at + 1)


def _encode_key(parts: list[bytes], value: Any) -> None:
    if value is None:
        parts.append(_KEYHDR.pack(b"-", 0))
        return
    cls = type(value)
    if cls is tuple:
        parts.append(_KEYHDR.pack(b"T", len(value)))
        for element in value:
            _encode_key(parts, element)
        return
    if cls is str:
        raw = value.encode("utf-8", "surrogatepass")
        tag = b"S"
    elif cls is bytes:
        raw = value
        tag = b"B"
    else:
        raw = str(value).encode("ascii")
        tag = b"N"
    parts.append(_KEYHDR.pack(tag, len(raw)))
    parts.append(raw)


#: The deepest a key's tuples nest (index entries are one tuple of scalars).
_MAX_KEY_DEPTH = 4
#: The longest text of a number key: DynamoDB's largest integer has 126 digits.
_MAX_NUMBER_TEXT = 200


def _decode_key(body: bytes, pos: int, depth: int = 0) -> tuple[Any, int]:
    tag, length = _KEYHDR.unpack_from(body, pos)
    pos += _KEYHDR.size
    if tag == b"T":
        if depth >= _MAX_KEY_DEPTH:
            raise ValueError("key tuples nested too deeply")
        elements = []
        for _ in range(length):
            element, pos = _decode_key(body, pos, depth + 1)
            elements.append(element)
        return tuple(elements), pos
    raw = body[pos : pos + length]
    if len(raw) != length:
        raise ValueError("truncated key")
    pos += length
    if tag == b"S":
        return raw.decode("utf-8", "surrogatepass"), pos
    if tag == b"B":
        return bytes(raw), pos
    if tag == b"N":
        # What encode_write writes: str() of a normalised number, finite and
        # within DynamoDB's range, so never long (an int() of a long digit
        # string, or of a Decimal with a huge exponent, costs far more).
        text = raw.decode("ascii")
        if length > _MAX_NUMBER_TEXT:
            raise ValueError(f"number key of {length} characters")
        if text.lstrip("-").isdigit():
            return int(text), pos
        try:
            number = Decimal(text)
        except ArithmeticError:  # decimal.InvalidOperation: not a number
            raise ValueError(f"number key {text!r} is not a number") from None
        if not number.is_finite() or not -_MAX_NUMBER_TEXT < number.adjusted() < _MAX_NUMBER_TEXT:
            raise ValueError(f"number key {text!r} is not a number DynamoDB stores")
        return number, pos
    if tag == b"-":
        return None, pos
    raise ValueError(f"unknown key tag {tag!r}")


def _encode_blob(parts: list[bytes], data: bytes | None) -> None:
    if data is None:
        parts.append(_U32.pack(_ABSENT))
    else:
        parts.append(_U32.pack(len(data)))
        parts.append(data)


def _decode_blob(body: bytes, pos: int) -> tuple[bytes | None, int]:
    (length,) = _U32.unpack_from(body, pos)
    pos += 4
    if length == _ABSENT:
        return None, pos
    data = body[pos : pos + length]
    if len(data) != length:
        raise ValueError("truncated value")
    return data, pos + length


_FLAG_BYTES = [bytes((i,)) for i in range(256)]


def encode_write(ops: list[Op]) -> bytes:
    """Return the body of a WRITE record holding ``ops``. Key values must be
    normalised (see :func:`dynafile.keys.normalize_key`). O(total size)."""
    parts: list[bytes] = [_U32.pack(len(ops))]
    append = parts.append
    pack_u32 = _U32.pack
    pack_key = _KEYHDR.pack
    absent = pack_u32(_ABSENT)
    flag_bytes = _FLAG_BYTES
    spaces: dict = {}
    text_keys: dict = {}  # a batch repeats partition keys: encode each pk once
    for op in ops:
        space = spaces.get(op.space)
        if space is None:
            raw = op.space.encode("utf-8")
            space = spaces[op.space] = bytes((len(raw),)) + raw
        append(space)
        pk, sk = op.pk, op.sk
        if pk.__class__ is str:
            encoded = text_keys.get(pk)
            if encoded is None:
                raw = pk.encode("utf-8", "surrogatepass")
                encoded = text_keys[pk] = pack_key(b"S", len(raw)) + raw
            append(encoded)
        else:
            _encode_key(parts, pk)
        if sk.__class__ is str:
            raw = sk.encode("utf-8", "surrogatepass")
            append(pack_key(b"S", len(raw)))
            append(raw)
        else:
            _encode_key(parts, sk)
        append(flag_bytes[op.flags])
        new, old = op.new, op.old
        if new is None:
            append(absent)
        else:
            append(pack_u32(len(new)))
            append(new)
        if old is None:
            append(absent)
        else:
            append(pack_u32(len(old)))
            append(old)
    return b"".join(parts)


def encode_record(ops: list[Op], time_ms: int) -> bytes:
    """The body of a ``WRITE_AT`` record: its time, then the operations."""
    return _MS.pack(time_ms) + encode_write(ops)


def decode_record(rtype: int, body: bytes, wrap: Callable[[bytes], bytes] = bytes
                  ) -> tuple[int | None, list[Op]]:
    """``(milliseconds since the epoch or None, ops)`` of a ``WRITE`` or
    ``WRITE_AT`` record's body; each op's new image is passed through
    ``wrap`` (the engine marks bytes read from a file as unvetted).

    Raises:
        ValueError: the body is malformed.
    """
    if rtype == WRITE_AT:
        if len(body) < _MS.size:
            raise ValueError("truncated record time")
        return _MS.unpack_from(body)[0], decode_write(body[_MS.size:], wrap)
    return None, decode_write(body, wrap)


def decode_write(body: bytes, wrap: Callable[[bytes], bytes] = bytes) -> list[Op]:
    """Return the operations of a WRITE record body (new images through
    ``wrap``, see :func:`decode_record`).

    Raises:
        ValueError: the body is malformed (the caller reports the file and offset).
    """
    try:
        (count,) = _U32.unpack_from(body, 0)
        pos = 4
        ops: list[Op] = []
        for _ in range(count):
            size = body[pos]
            space = body[pos + 1 : pos + 1 + size].decode("utf-8")
            pos += 1 + size
            pk, pos = _decode_key(body, pos)
            sk, pos = _decode_key(body, pos)
            flags = body[pos]
            pos += 1
            new, pos = _decode_blob(body, pos)
            old, pos = _decode_blob(body, pos)
            ops.append(Op(pk, sk, None if new is None else wrap(new), old, flags, space))
    except (struct.error, IndexError, UnicodeDecodeError) as exc:
        raise ValueError(str(exc)) from exc
    if pos != len(body):
        raise ValueError("trailing bytes after operations")
    return ops


class LogReader:
    """Reads a table's log forward from a position, across segments.

    The one reader of the log: the engine catches up with it, ``db.stream()``
    follows it and ``check()`` verifies with it. :meth:`read` returns the
    complete records written since the last call, each checked: its
    checksum, its lsn one above the previous one, a known record type, and a
    ``ROTATE`` record last in its segment, after which reading goes on in
    the segment it names.

    Attributes:
        segment: the first lsn of the segment being read.
        path: that segment's file.
        fd: its open descriptor (opened for appending when ``writable``, so
            the engine appends through the reader's position).
        offset: the byte offset after the last record returned.
        lsn: the lsn of the last record returned.
        tail: after a :meth:`read` that stopped at bytes which are not a
            valid record at the very end of the last segment, their offset:
            a torn tail a crash left, or a write still in progress. ``None``
            when the read ended exactly at the end of the data.
        gone: a ``ROTATE`` record named a segment that no longer exists (a
            checkpoint removed it after its records were folded into
            partition files).

    Raises:
        FileNotFoundError: the starting segment does not exist.
        CorruptFileError: the segment is shorter than ``offset``.
    """

    def __init__(self, layout: Layout, segment: int, offset: int, lsn: int, *,
                 writable: bool = False, chunk: int | None = None) -> None:
        self.layout = layout
        self.writable = writable
        self.chunk = chunk
        self.fd = -1
        self.tail: int | None = None
        self.gone = False
        self.error: CorruptFileError | None = None
        self._ends_checked = False
        self._open(segment)
        size = os.fstat(self.fd).st_size if offset else 0
        if size < offset:
            self.close()
            raise CorruptFileError(self.path, size,
                                   f"log segment is shorter than the checkpointed offset {offset}")
        self.offset = offset
        self.lsn = lsn

    def _open(self, segment: int) -> None:
        path = self.layout.segment_path(segment)
        fd = os.open(path, (os.O_RDWR | os.O_APPEND) if self.writable else os.O_RDONLY)
        if self.fd >= 0:
            os.close(self.fd)
        self.fd, self.segment, self.path, self.offset = fd, segment, path, 0

    def size(self) -> int:
        """The current segment's size in bytes (one ``fstat``)."""
        return os.fstat(self.fd).st_size

    def read(self, strict: bool = True) -> list[Frame]:
        """Return the complete records after the position and move past them.

        Reads to the end of the log (at most one chunk per call when the
        reader has a ``chunk`` size). Sets :attr:`tail` and :attr:`gone`.
        O(bytes read).

        Args:
            strict: raise on corruption; ``False`` (for ``check()``) returns
                the records before it instead and sets :attr:`error`.

        Raises:
            CorruptFileError: an invalid record followed by valid ones, an
                invalid record in a segment that is not the last, a gap in
                the lsns, an unknown record type, a record after a
                ``ROTATE``, or a segment cut below the position.
        """
        out: list[Frame] = []
        self.tail = None
        self.error = None
        try:
            self._read(out)
        except CorruptFileError as exc:
            if strict:
                raise
            self.error = exc
        return out

    def _read(self, out: list[Frame]) -> None:
        while True:
            size = os.fstat(self.fd).st_size
            if size < self.offset:
                raise CorruptFileError(self.path, size, "the log was cut below a reader's "
                                       "position (a write failed after it became visible)")
            if size == self.offset:
                if not self._ends_checked and self._cut_short(size):
                    continue  # the segment grew meanwhile: a rotation, read on
                return
            want = size - self.offset
            n = want if self.chunk is None else min(want, self.chunk)
            buf = os.pread(self.fd, n, self.offset)
            frames, stop, stop_at = parse_frames(buf, self.offset, self.segment)
            if not frames and stop == "short" and n < want:
                n = want  # one record larger than a chunk
                buf = os.pread(self.fd, n, self.offset)
                frames, stop, stop_at = parse_frames(buf, self.offset, self.segment)
            rotated = False
            for frame in frames:
                if frame.lsn != self.lsn + 1:
                    raise CorruptFileError(self.path, frame.start,
                                           f"log sequence jumps from {self.lsn} to {frame.lsn}")
                if frame.rtype not in (WRITE, WRITE_AT, ROTATE):
                    raise CorruptFileError(self.path, frame.start,
                                           f"unknown record type {frame.rtype}")
                self.lsn = frame.lsn
                self.offset = frame.end
                out.append(frame)
                if frame.rtype == ROTATE:
                    if frame.end < size:
                        raise CorruptFileError(self.path, frame.end, "record after a ROTATE record")
                    try:
                        self._open(frame.lsn + 1)
                    except FileNotFoundError:
                        self.gone = True
                        return
                    rotated = True
                    break
            if rotated:
                continue
            if stop is None or (stop == "short" and n < want):
                if self.chunk is not None:
                    return  # bounded: the caller asks again
                continue
            self._stopped(stop_at, size)
            return

    def _cut_short(self, size: int) -> bool:
        """The first time a read ends exactly at the end of a segment that has
        no ``ROTATE`` record: refuse when a later segment holds records (this
        one lost its last records). Returns ``True`` when the segment grew
        since ``size`` was taken (a writer rotating right then): read again.

        Raises:
            CorruptFileError: records were lost at the end of this segment.
        """
        self._ends_checked = True
        if not self.later_segments_hold_data():
            return False
        if os.fstat(self.fd).st_size != size:
            self._ends_checked = False
            return True
        raise CorruptFileError(self.path, size, "the segment ends without a ROTATE record but "
                               "later segments hold records: the records between were lost")

    def _stopped(self, stop_at: int, size: int) -> None:
        """Judge bytes at ``stop_at`` that are not a valid record."""
        rest = os.pread(self.fd, size - stop_at, stop_at)
        found = find_valid_frame(rest, self.lsn)
        if found == UNDECIDED:
            raise CorruptFileError(self.path, stop_at, "invalid log record followed by too many "
                                   "bytes that claim to be records to tell a torn tail; not "
                                   "cutting them")
        if found is not None:
            raise CorruptFileError(self.path, stop_at, "invalid log record followed by valid ones")
        if self.later_segments_hold_data():
            raise CorruptFileError(self.path, stop_at,
                                   "invalid log record in a segment that is not the last")
        self.tail = stop_at

    def later_segments(self) -> list[int]:
        """The first lsns of the segments after the current one."""
        return [first for first in self.layout.segments() if first > self.segment]

    def later_segments_hold_data(self) -> bool:
        """Whether a segment after the current one holds any bytes (else they
        are empty leftovers of a rotation a crash interrupted)."""
        for first in self.later_segments():
            try:
                if os.path.getsize(self.layout.segment_path(first)):
                    return True
            except FileNotFoundError:
                continue
        return False

    def still_holds(self, frame: Frame) -> bool:
        """Whether the log still holds ``frame``, read from it earlier, where
        it was: the same header (length, checksum, lsn) at its offset, so no
        writer cut it off and appended another record there since. One
        ``pread`` of the header, whatever the record's size; ``False`` when
        its segment is gone."""
        expected = HEADER.pack(frame.end - frame.start - HEADER.size, frame.crc, frame.lsn)
        if frame.segment == self.segment:
            fd = self.fd
        else:  # the reader went on past a ROTATE since
            try:
                fd = os.open(self.layout.segment_path(frame.segment), os.O_RDONLY)
            except FileNotFoundError:
                return False
        try:
            return os.pread(fd, HEADER.size, frame.start) == expected
        finally:
            if fd != self.fd:
                os.close(fd)

    def advance(self, end: int, lsn: int) -> None:
        """Move past a record the owner appended itself (ending at ``end``)."""
        self.offset, self.lsn = end, lsn

    def enter(self, segment: int) -> None:
        """Go on at the start of ``segment`` (after the owner's own ``ROTATE``).

        Raises:
            FileNotFoundError: the segment does not exist.
        """
        self._open(segment)

    def close(self) -> None:
        """Close the segment file; idempotent."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
