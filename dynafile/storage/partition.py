"""Item collections in memory, and the partition files that hold many of them.

In memory, an item collection (all items of one partition key in one space)
is a :class:`Collection`: a ``SortedDict`` mapping each (normalised) sort key
to the item's serialized bytes. Handing out an item means deserializing
fresh bytes, so no caller ever shares a mutable object with the store.

On disk, a *partition* holds the collections of a range of the key space
(see :mod:`dynafile.storage.manifest`), as DynamoDB's partitions hold a
range of partition-key hashes: a small item collection costs bytes, not a
file of its own. A partition file (format 3, what checkpoints write) is::

    b"DYP3" | u8 flags | u32 crc32(index) | u32 len(index) | index | block...
    index = u64 lsn | u32 blocks | u32 collections
            | per block: u64 offset | u32 stored length | u32 crc32(stored) | u32 first
            | per collection: u64 digest prefix (its first 64 bits)

A block is (zlib-compressed when ``flags & 1``)::

    u32 len(keys) | keys | u32 length of each item | the items' bytes

where ``keys`` is a pickle, loaded through the allowlisting unpickler, of
``[(digest, pk, [sort keys...]), ...]`` (a collection of several keys, all
strings, as ``(the keys joined, their lengths as u32)``: the allowlist's
walk of the pickle then crosses them in a few steps), and the items follow
in the same order: collections ``first`` up to the next block's ``first``, whole, of
about :data:`BLOCK_BYTES` together. (Item bytes stay out of the pickle, so
the allowlist's checks cost the keys, not the items: an item is checked when
first loaded.) Collections are in digest order and each
one's sort keys ascending; ``lsn`` is the last log record the file contains.
The blocks follow the index back to back up to the end of the file. So a
read of one collection reads the index (once per file: files never change)
and one block, and checks both checksums; a scan or a checkpoint decodes
every block. The checksums let a flipped bit be reported instead of
unpickled.

Format 2 files (``b"DYP2" | u8 flags | u32 crc32(stored body) | u64
len(stored body) | stored body``, the body a pickle of ``(2, lsn, [(digest,
pk, keys, values), ...])``), written before format 3, are read whole.
"""

from __future__ import annotations

import bisect
import operator
import pickle
import struct
import sys
import zlib
from array import array
from collections.abc import Callable, Iterable
from itertools import accumulate, islice, repeat
from typing import Any

from sortedcontainers import SortedDict, SortedList  # type: ignore[import-untyped]

from ..errors import CorruptFileError
from ..serialization import PickleSerializer, Unvetted

__all__ = [
    "BLOCK_BYTES",
    "MAGIC",
    "Collection",
    "FileIndex",
    "Part",
    "decode_block",
    "decode_index",
    "decode_part",
    "encode_part",
    "keep_checked",
    "short_digest",
    "sorted_dict",
]

MAGIC = b"DYP3"
MAGIC_V2 = b"DYP2"
_HEAD = struct.Struct("<4sBIQ")  # format 2
_HEAD3 = struct.Struct("<4sBII")
_INDEX_HEAD = struct.Struct("<QII")
_BLOCK = struct.Struct("<QIII")
_U32 = struct.Struct("<I")
_FORMAT = 2
_ZLIB = 1
#: The item bytes (and keys) a block of a format 3 file holds, about: a read
#: of one collection decodes one block, so small blocks keep point reads
#: cheap; a collection larger than this is a block of its own.
BLOCK_BYTES = 4096
#: What a first read of a file takes in (the header and, mostly, its index).
INDEX_READ = 1 << 16
_ITEM_OVERHEAD = 96  # rough bytes per entry beyond the item bytes, for cache accounting
_loader = PickleSerializer()
_BYTES_ONLY = {bytes}
_BIG_ENDIAN = sys.byteorder == "big"


class Collection:
    """An item collection in memory.

    Attributes:
        pk: the partition key value.
        items: ``SortedDict`` of sort key -> item bytes.
        lsn: the last log record reflected in ``items``.
        nbytes: approximate memory use, for the cache budget.
    """

    __slots__ = ("items", "lsn", "nbytes", "pk")

    def __init__(self, pk: Any, items: SortedDict, lsn: int) -> None:
        self.pk = pk
        self.items = items
        self.lsn = lsn
        self.nbytes = sum(map(len, dict.values(items))) + _ITEM_OVERHEAD * len(items)

    def put(self, sk: Any, data: bytes) -> None:
        """Store ``data`` under ``sk``. O(log n)."""
        old = self.items.get(sk)
        if old is None:
            self.nbytes += len(data) + _ITEM_OVERHEAD
        else:
            self.nbytes += len(data) - len(old)
        self.items[sk] = data

    def delete(self, sk: Any) -> None:
        """Remove ``sk`` if present. O(log n)."""
        old = self.items.pop(sk, None)
        if old is not None:
            self.nbytes -= len(old) + _ITEM_OVERHEAD


def keep_checked(items: SortedDict, sk: Any, data: bytes) -> None:
    """Replace ``Unvetted`` bytes the allowlist has just loaded by plain bytes,
    so later reads of ``sk`` take the fast path. Only when ``items`` still
    holds that very object; a dict store of an existing key, which keeps the
    sorted key list as it is and needs no lock."""
    if items.get(sk) is data:
        dict.__setitem__(items, sk, bytes(data))


class Part:
    """The piece of one item collection that a partition file holds: its sort
    keys and item bytes as the file lists them (treat both as read-only: a
    decoded file may be shared). :attr:`items` builds a ``SortedDict`` of
    :class:`~dynafile.serialization.Unvetted` bytes when asked: a checkpoint
    that rewrites a file without changing a collection, or a read that wants
    one collection of the file, pays nothing for the others."""

    __slots__ = ("_wrap", "digest", "keys", "pk", "values")

    def __init__(self, digest: str, pk: Any, keys: list[Any], values: list[bytes],
                 wrap: Callable[[bytes], Any] | None = bytes) -> None:
        self.digest = digest
        self.pk = pk
        self.keys = keys
        self.values = values
        self._wrap = wrap

    @property
    def items(self) -> SortedDict:
        """A new ``SortedDict`` of sort key -> item bytes, the caller's to
        change. O(n)."""
        if self._wrap is None:  # wrapped already
            return sorted_dict(self.keys, self.values)
        return sorted_dict(self.keys, list(map(self._wrap, self.values)))

    @property
    def nbytes(self) -> int:
        """The item bytes it holds."""
        return sum(map(len, self.values))

    def __len__(self) -> int:
        return len(self.keys)


def short_digest(digest: str) -> int:
    """A collection digest's first 64 bits (what a format 3 index lists)."""
    return int(digest[:16], 16)


def encode_part(lsn: int, parts: Iterable[tuple[str, Any, SortedDict | Part]], *,
                compress: bool = True) -> bytes:
    """Return the file bytes (format 3) of a partition holding ``parts``
    (``(digest, pk, items)``, in digest order; ``items`` a ``SortedDict`` or
    a :class:`Part` read from another file) as of log record ``lsn``. O(size)."""
    blocks: list[list[tuple[str, Any, list[Any], list[bytes]]]] = []
    block: list[tuple[str, Any, list[Any], list[bytes]]] = []
    size = 0
    prefixes = array("Q")
    for digest, pk, items in parts:
        if isinstance(items, Part):
            keys, values = items.keys, items.values
        else:
            keys, values = list(items.keys()), list(items.values())
        values = [v if v.__class__ is bytes else bytes(v) for v in values]
        weight = sum(map(len, values)) + 16 * len(keys) + 64
        if block and size + weight > BLOCK_BYTES:
            blocks.append(block)
            block, size = [], 0
        block.append((digest, pk, keys, values))
        size += weight
        prefixes.append(short_digest(digest))
    if block:
        blocks.append(block)
    stored = []
    for entries in blocks:
        keys_of = pickle.dumps([(digest, pk, _pack_keys(keys)) for digest, pk, keys, _ in entries],
                               5)
        values = [v for entry in entries for v in entry[3]]
        lengths = array("I", map(len, values))
        if _BIG_ENDIAN:
            lengths.byteswap()
        body = b"".join([_U32.pack(len(keys_of)), keys_of, lengths.tobytes(), *values])
        stored.append(zlib.compress(body, 1) if compress else body)
    index_size = _INDEX_HEAD.size + _BLOCK.size * len(blocks) + 8 * len(prefixes)
    offset = _HEAD3.size + index_size
    table = [_INDEX_HEAD.pack(lsn, len(blocks), len(prefixes))]
    first = 0
    for entries, body in zip(blocks, stored):
        table.append(_BLOCK.pack(offset, len(body), zlib.crc32(body), first))
        offset += len(body)
        first += len(entries)
    if _BIG_ENDIAN:
        prefixes.byteswap()
    table.append(prefixes.tobytes())
    index = b"".join(table)
    flags = _ZLIB if compress else 0
    return b"".join([_HEAD3.pack(MAGIC, flags, zlib.crc32(index), len(index)), index, *stored])


class FileIndex:
    """The index of a format 3 partition file (see the module's docstring).

    Attributes:
        lsn: the last log record the file holds.
        flags: the file's flags (``1``: blocks are zlib-compressed).
        blocks: per block ``(offset, stored length, crc32, first collection)``.
        prefixes: the digest prefix of each collection, in file order.
    """

    __slots__ = ("_firsts", "blocks", "flags", "lsn", "prefixes")

    def __init__(self, lsn: int, flags: int, blocks: list[tuple[int, int, int, int]],
                 prefixes: array[int]) -> None:
        self.lsn = lsn
        self.flags = flags
        self.blocks = blocks
        self.prefixes = prefixes
        self._firsts = [b[3] for b in blocks]

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, FileIndex) and (self.lsn, self.flags, self.blocks,
                                                  self.prefixes)
                == (other.lsn, other.flags, other.blocks, other.prefixes))

    __hash__ = None  # type: ignore[assignment]

    def blocks_of(self, digest: str) -> range:
        """The blocks that may hold collection ``digest`` (none when no
        collection of the file has its prefix; rarely more than one). O(log n)."""
        short = int(digest[:16], 16)
        prefixes = self.prefixes
        lo = bisect.bisect_left(prefixes, short)
        if lo == len(prefixes) or prefixes[lo] != short:
            return range(0)
        hi = bisect.bisect_right(prefixes, short, lo)
        firsts = self._firsts
        return range(bisect.bisect_right(firsts, lo) - 1, bisect.bisect_right(firsts, hi - 1))

    def holds(self, digest: str) -> bool:
        """Whether a collection of the file has ``digest``'s prefix."""
        short = int(digest[:16], 16)
        i = bisect.bisect_left(self.prefixes, short)
        return i < len(self.prefixes) and self.prefixes[i] == short


def decode_index(head: bytes, size: int, path: str) -> FileIndex | int | None:
    """Check and decode the index of a format 3 partition file of ``size``
    bytes from ``head``, its first bytes: the index, or the number of bytes
    to read first when ``head`` is too short to hold it, or ``None`` for a
    format 2 file (decode it whole with :func:`decode_part`).

    Raises:
        CorruptFileError: bad magic, flags, length, checksum, or an index
            that does not describe the file.
    """
    if head[:4] == MAGIC_V2:
        return None
    if len(head) < _HEAD3.size:
        raise CorruptFileError(path, len(head), "file shorter than its header")
    magic, flags, crc, length = _HEAD3.unpack_from(head, 0)
    if magic != MAGIC:
        raise CorruptFileError(path, 0, "not a dynafile partition file (bad magic)")
    if flags & ~_ZLIB:
        raise CorruptFileError(path, 4, f"unknown flags {flags}")
    end = _HEAD3.size + length
    if end > size:
        raise CorruptFileError(path, size, f"index of {length} bytes, the file ends first")
    if len(head) < end:
        return end
    index = head[_HEAD3.size:end]
    if zlib.crc32(index) != crc:
        raise CorruptFileError(path, _HEAD3.size, "index checksum mismatch")
    if length < _INDEX_HEAD.size:
        raise CorruptFileError(path, _HEAD3.size, "index shorter than its header")
    lsn, nblocks, ncollections = _INDEX_HEAD.unpack_from(index, 0)
    if length != _INDEX_HEAD.size + _BLOCK.size * nblocks + 8 * ncollections:
        raise CorruptFileError(path, _HEAD3.size, "index length does not match its counts")
    blocks = list(_BLOCK.iter_unpack(index[_INDEX_HEAD.size:length - 8 * ncollections]))
    prefixes = array("Q")
    prefixes.frombytes(index[length - 8 * ncollections:])
    if _BIG_ENDIAN:
        prefixes.byteswap()
    offset = end
    first = 0  # the least first collection the next block may have
    for number, (block_offset, stored, _, block_first) in enumerate(blocks):
        if block_offset != offset or stored == 0:
            raise CorruptFileError(path, _HEAD3.size, "blocks not back to back")
        if block_first < first or (number == 0 and block_first != 0):
            raise CorruptFileError(path, _HEAD3.size, "blocks list collections out of order")
        offset += stored
        first = block_first + 1  # each block holds at least one collection
    if offset != size:
        raise CorruptFileError(path, _HEAD3.size, f"blocks end at {offset} of {size} bytes")
    if first > ncollections or (not blocks and ncollections):
        raise CorruptFileError(path, _HEAD3.size, "blocks list more collections than the "
                               "index")
    if any(a > b for a, b in zip(prefixes, prefixes[1:])):
        raise CorruptFileError(path, _HEAD3.size, "collections out of order")
    return FileIndex(lsn, flags, blocks, prefixes)


def decode_block(index: FileIndex, number: int, stored: bytes, path: str,
                 digest: str | None = None) -> list[Part]:
    """Check and decode block ``number`` of a format 3 file from its stored
    bytes: its collections, or with ``digest`` only that collection's (a
    list of one, or empty), the others left undecoded. Item bytes come back
    as :class:`~dynafile.serialization.Unvetted` bytes of ``path``.

    Raises:
        CorruptFileError: short read, bad checksum or compression, or a body
            that is not the block the index describes (``UnsafeDataError``
            when it names a class outside the allowlist).
    """
    offset, length, crc, first = index.blocks[number]
    following = (index.blocks[number + 1][3] if number + 1 < len(index.blocks)
                 else len(index.prefixes))
    if len(stored) != length:
        raise CorruptFileError(path, offset + len(stored), "block cut short")
    if zlib.crc32(stored) != crc:
        raise CorruptFileError(path, offset, "block checksum mismatch")
    try:
        body = zlib.decompress(stored) if index.flags & _ZLIB else stored
    except zlib.error as exc:
        raise CorruptFileError(path, offset, f"cannot decode partition: {exc}") from None
    size = len(body)
    end = 4 + (_U32.unpack_from(body)[0] if size >= 4 else size)
    if end > size:
        raise CorruptFileError(path, offset, "block shorter than its keys")
    raw = _load_body(body[4:end], 0, path, offset)
    if raw.__class__ is not list or len(raw) != following - first:
        raise CorruptFileError(path, offset, "block does not hold the collections its index "
                               "lists")
    counts = []
    for k, entry in enumerate(raw):
        if entry.__class__ is not tuple or len(entry) != 3:
            raise CorruptFileError(path, offset, "a collection is not (digest, pk, keys)")
        keys = entry[2]
        if keys.__class__ is list:
            counts.append(len(keys))
        elif (keys.__class__ is tuple and len(keys) == 2 and keys[1].__class__ is bytes
                and not len(keys[1]) % 4):
            counts.append(len(keys[1]) // 4)  # packed: unpacked only when wanted
        else:
            raise CorruptFileError(path, offset, "a collection's keys are malformed")
    start = end + 4 * sum(counts)
    lengths = array("I")
    lengths.frombytes(body[end:start])
    if _BIG_ENDIAN:
        lengths.byteswap()
    if start > size or sum(lengths) != size - start:
        raise CorruptFileError(path, offset, "block item lengths do not match its size")
    unvetted = Unvetted.at(path)
    prefixes = index.prefixes
    entries = []
    position = 0
    for k, entry in enumerate(raw):
        count = counts[k]
        try:
            listed = entry[0].__class__ is str and short_digest(entry[0]) == prefixes[first + k]
        except ValueError:
            listed = False
        if not listed:
            raise CorruptFileError(path, offset, f"collection {entry[0]!r} is not the one "
                                   "the index lists")
        if digest is None or entry[0] == digest:
            bounds = list(accumulate(lengths[position:position + count],
                                     initial=start + sum(lengths[:position])))
            values = [unvetted(body[a:b]) for a, b in zip(bounds, bounds[1:])]
            keys = entry[2]
            if keys.__class__ is not list:
                keys = _unpack_keys(keys, path, offset)
            entries.append((entry[0], entry[1], keys, values))
        position += count
    return _parts(entries, path, offset, wrapped=True)


def _pack_keys(keys: list[Any]) -> list[Any] | tuple[str, bytes]:
    """Sort keys as a block stores them: string keys as one string and their
    lengths (a pickle of a few objects, which the allowlist's walk crosses in
    a few steps, however many keys), other keys as a list."""
    if len(keys) < 2 or not all(k.__class__ is str for k in keys):
        return keys
    lengths = array("I", map(len, keys))
    if _BIG_ENDIAN:
        lengths.byteswap()
    return "".join(keys), lengths.tobytes()


def _unpack_keys(packed: Any, path: str, offset: int) -> list[str]:
    """The string keys :func:`_pack_keys` packed."""
    if (packed.__class__ is not tuple or len(packed) != 2 or packed[0].__class__ is not str
            or packed[1].__class__ is not bytes or len(packed[1]) % 4):
        raise CorruptFileError(path, offset, "a collection's keys are malformed")
    text, raw = packed
    lengths = array("I")
    lengths.frombytes(raw)
    if _BIG_ENDIAN:
        lengths.byteswap()
    if sum(lengths) != len(text):
        raise CorruptFileError(path, offset, "a collection's key lengths do not match")
    bounds = list(accumulate(lengths, initial=0))
    return [text[a:b] for a, b in zip(bounds, bounds[1:])]


def _load_body(body: bytes, flags: int, path: str, offset: int) -> Any:
    try:
        if flags & _ZLIB:
            body = zlib.decompress(body)
        return _loader.loads(body)
    except CorruptFileError as exc:
        raise type(exc)(path, offset, exc.reason) from None
    except Exception as exc:  # noqa: BLE001 - any decoding failure is corruption
        raise CorruptFileError(path, offset, f"cannot decode partition: {exc}") from None


def decode_part(data: bytes, path: str) -> tuple[int, list[Part]]:
    """Return ``(lsn, parts)`` from a partition file's bytes (format 3 or 2).

    Item bytes come back as :class:`~dynafile.serialization.Unvetted` bytes
    of ``path`` (``Unvetted.at(path)``): they are checked through the
    allowlist when first loaded, not here, and a refusal names the file.

    Raises:
        CorruptFileError: bad magic, length, checksum or compression, or a
            body that is not a partition (``UnsafeDataError`` when it names a
            class outside the allowlist).
    """
    if data[:4] != MAGIC_V2:
        index = decode_index(data, len(data), path)
        assert isinstance(index, FileIndex)  # the whole file is at hand
        parts = []
        for number, (offset, length, _, _) in enumerate(index.blocks):
            parts.extend(decode_block(index, number, data[offset:offset + length], path))
        _check_order(parts, path, _HEAD3.size)
        return index.lsn, parts
    if len(data) < _HEAD.size:
        raise CorruptFileError(path, len(data), "file shorter than its header")
    _, flags, crc, length = _HEAD.unpack_from(data, 0)
    body = data[_HEAD.size:]
    if len(body) != length:
        raise CorruptFileError(path, _HEAD.size + min(len(body), length),
                               f"body is {len(body)} bytes, header says {length}")
    if zlib.crc32(body) != crc:
        raise CorruptFileError(path, _HEAD.size, "checksum mismatch")
    if flags & ~_ZLIB:
        raise CorruptFileError(path, 4, f"unknown flags {flags}")
    loaded = _load_body(body, flags, path, _HEAD.size)
    if loaded.__class__ is not tuple or len(loaded) != 3:
        raise CorruptFileError(path, _HEAD.size, "not a partition (format, lsn, [parts])")
    fmt, lsn, raw = loaded
    if fmt != _FORMAT or not isinstance(lsn, int) or raw.__class__ is not list:
        raise CorruptFileError(path, _HEAD.size, "not a partition (format, lsn, [parts])")
    parts = _parts(raw, path, _HEAD.size)
    _check_order(parts, path, _HEAD.size)
    return lsn, parts


def _parts(raw: list[Any], path: str, offset: int, wrapped: bool = False) -> list[Part]:
    """Check the ``(digest, pk, keys, values)`` entries of a body: shapes, and
    sort keys strictly ascending. ``wrapped``: the values are ``Unvetted``
    bytes already (format 3), else ``bytes`` to wrap."""
    parts = []
    unvetted: Callable[[bytes], Any] | None = None if wrapped else Unvetted.at(path)
    for entry in raw:
        if entry.__class__ is not tuple or len(entry) != 4:
            raise CorruptFileError(path, offset, "a collection is not (digest, pk, keys, "
                                   "values)")
        digest, pk, keys, values = entry
        if (digest.__class__ is not str or keys.__class__ is not list
                or values.__class__ is not list or len(keys) != len(values)
                or not (wrapped or set(map(type, values)) <= _BYTES_ONLY)):
            raise CorruptFileError(path, offset, f"collection {digest!r} is malformed")
        try:
            short_digest(digest)
            ordered = all(map(operator.lt, keys, islice(keys, 1, None)))
        except (TypeError, ValueError) as exc:  # not something dynafile wrote
            raise CorruptFileError(path, offset, f"bad sort keys or digest: {exc}") from None
        if not ordered:
            raise CorruptFileError(path, offset, f"sort keys of collection {digest} out "
                                   "of order or repeated")
        parts.append(Part(digest, pk, keys, values, unvetted))
    return parts


def _check_order(parts: list[Part], path: str, offset: int) -> None:
    """Collections in strictly ascending digest order."""
    for a, b in zip(parts, parts[1:]):
        if b.digest <= a.digest:
            raise CorruptFileError(path, offset, "collections out of order")


def _sorted_dict_recipe() -> tuple[dict[str, Any], list[str], list[str], dict[str, Any]] | None:
    """How ``SortedDict()`` sets up an instance: its plain attributes, its
    attributes that are methods of its inner ``SortedList`` (their names and
    the methods' names), and the list's own attributes; ``None`` when it does anything else (a
    sortedcontainers release that works differently: build them the slow way)."""
    template = SortedDict()
    inner = template._list
    if type(inner) is not SortedList or template.__class__ is not SortedDict:
        return None  # pragma: no cover - another sortedcontainers
    plain: dict[str, Any] = {}
    bound: list[tuple[str, str]] = []
    for name, value in template.__dict__.items():
        if getattr(value, "__self__", None) is inner:
            bound.append((name, value.__func__.__name__))
        elif value is inner:
            continue
        elif value is None:
            plain[name] = value
        else:
            return None  # pragma: no cover - another sortedcontainers
    if set(inner.__dict__) != {"_len", "_load", "_lists", "_maxes", "_index", "_offset"}:
        return None  # pragma: no cover - another sortedcontainers
    return (plain, [name for name, _ in bound], [method for _, method in bound],
            {"_load": inner._load, "_offset": 0})


_RECIPE = _sorted_dict_recipe()


def sorted_dict(keys: list[Any], values: list[Any]) -> SortedDict:
    """A SortedDict of ``keys`` (strictly ascending, as a file holds them) and
    ``values``, built by slicing instead of sorting (5x faster), and without
    ``SortedDict.__init__``'s general path (2x faster again for a small
    collection). O(n)."""
    if _RECIPE is None:  # pragma: no cover - another sortedcontainers
        out = SortedDict()
        inner = out._list
    else:
        plain, names, methods, inner_plain = _RECIPE
        out = dict.__new__(SortedDict)
        inner = object.__new__(SortedList)
        inner.__dict__.update(inner_plain)
        attrs = out.__dict__
        attrs.update(zip(names, map(getattr, repeat(inner), methods)))
        attrs.update(plain)
        attrs["_list"] = inner
    dict.update(out, zip(keys, values))
    load = inner._load  # sortedcontainers' documented-in-source internals
    inner._lists = [keys[i:i + load] for i in range(0, len(keys), load)]
    inner._maxes = [chunk[-1] for chunk in inner._lists]
    inner._index = []
    inner._len = len(keys)
    return out
