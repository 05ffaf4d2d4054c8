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
  where ``space`` names what the operation changes (``""`` the table,
  ``"g:<name>"`` a global index, ``"l:<name>"`` a local index), a blob is
  ``u32 length + bytes`` (``0xFFFFFFFF`` for "absent") and a key is
  ``u8 tag ('S', 'B', 'N', '-' for none) | u16 length | bytes`` or, for
  index sort keys, ``'T' | u16 count | keys...``.
* ``ROTATE``: the last record of a segment; the next segment's name is
  the following lsn.

A frame whose bytes are incomplete, or whose checksum fails with nothing
valid after it, is a torn tail left by a crash: recovery truncates it. A
bad frame followed by valid ones is corruption and is reported.
"""

from __future__ import annotations

import struct
import zlib
from decimal import Decimal
from typing import Any, NamedTuple

__all__ = [
    "HEADER",
    "ROTATE",
    "WRITE",
    "Frame",
    "Op",
    "decode_write",
    "encode_frame",
    "encode_write",
    "find_valid_frame",
    "parse_frames",
    "segment_lsn",
    "segment_name",
]

HEADER = struct.Struct("<IIQ")
_LSN = struct.Struct("<Q")
_U32 = struct.Struct("<I")
_KEYHDR = struct.Struct("<cH")
_ABSENT = 0xFFFFFFFF

WRITE = 1
ROTATE = 2

#: Largest payload a frame may claim; a bigger length field is corruption.
MAX_PAYLOAD = 1 << 30

#: Operation flag: the delete was a TTL expiry.
FLAG_EXPIRED = 1
#: Operation flag: drop every entry of the operation's space (an index drop).
FLAG_DROP_SPACE = 2


class Op(NamedTuple):
    """One item change inside a WRITE record."""

    pk: Any
    sk: Any
    new: bytes | None
    old: bytes | None
    flags: int = 0
    space: str = ""


class Frame(NamedTuple):
    lsn: int
    rtype: int
    body: bytes
    start: int
    end: int


def encode_frame(lsn: int, rtype: int, body: bytes) -> bytes:
    """Return the framed bytes of one record."""
    payload = bytes((rtype,)) + body
    crc = zlib.crc32(payload, zlib.crc32(_LSN.pack(lsn)))
    return HEADER.pack(len(payload), crc, lsn) + payload


def _frame_at(buf: bytes, pos: int) -> tuple[str, Frame | None]:
    """Parse one frame at ``pos``: ``("ok", frame)``, ``("short", None)`` or ``("bad", None)``."""
    if len(buf) - pos < HEADER.size:
        return "short", None
    length, crc, lsn = HEADER.unpack_from(buf, pos)
    if length == 0 or length > MAX_PAYLOAD:
        return "bad", None
    start = pos + HEADER.size
    end = start + length
    if end > len(buf):
        return "short", None
    payload = buf[start:end]
    if zlib.crc32(payload, zlib.crc32(_LSN.pack(lsn))) != crc:
        return "bad", None
    return "ok", Frame(lsn, payload[0], payload[1:], pos, end)


def parse_frames(buf: bytes, base: int = 0) -> tuple[list[Frame], str | None, int]:
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
        status, frame = _frame_at(buf, pos)
        if frame is None:
            return frames, status, base + pos
        frames.append(Frame(frame.lsn, frame.rtype, frame.body, base + frame.start, base + frame.end))
        pos = frame.end
    return frames, None, base + pos


def find_valid_frame(buf: bytes, after_lsn: int) -> int | None:
    """Return the offset in ``buf`` of the first valid frame with an lsn above
    ``after_lsn``, or ``None``. Tells corruption (valid data follows a bad
    frame) from a torn tail (nothing valid follows). O(len(buf))."""
    for pos in range(1, max(0, len(buf) - HEADER.size) + 1):
        _status, frame = _frame_at(buf, pos)
        if frame is not None and frame.lsn > after_lsn:
            return pos
    return None


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


def _decode_key(body: bytes, pos: int) -> tuple[Any, int]:
    tag, length = _KEYHDR.unpack_from(body, pos)
    pos += _KEYHDR.size
    if tag == b"T":
        elements = []
        for _ in range(length):
            element, pos = _decode_key(body, pos)
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
        text = raw.decode("ascii")
        if text.lstrip("-").isdigit():
            return int(text), pos
        return Decimal(text), pos
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


def decode_write(body: bytes) -> list[Op]:
    """Return the operations of a WRITE record body.

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
            ops.append(Op(pk, sk, new, old, flags, space))
    except (struct.error, IndexError, UnicodeDecodeError) as exc:
        raise ValueError(str(exc)) from exc
    if pos != len(body):
        raise ValueError("trailing bytes after operations")
    return ops


def segment_name(first_lsn: int) -> str:
    """Return the file name of the segment whose first record is ``first_lsn``."""
    return f"{first_lsn:020d}.log"


def segment_lsn(name: str) -> int | None:
    """Return the first lsn encoded in a segment file name, or ``None``."""
    if len(name) == 24 and name.endswith(".log") and name[:20].isdigit():
        return int(name[:20])
    return None
