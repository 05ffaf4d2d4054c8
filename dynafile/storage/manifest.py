"""The manifest: which partition file holds which range of each space's keys,
and where the log stood when those files were written.

A space's keys are ordered by ``(partition key digest, sort key)``. Its
partitions split that order into consecutive ranges, each held by one file,
as DynamoDB's partitions split the partition-key hash space: partition ``i``
holds the keys from its start :data:`Bound` up to the next partition's
start. Small item collections share a partition; one large collection is
split by sort key across several. A space with no partition holds nothing
on disk (all of it is still in the log).

``data/MANIFEST`` is replaced atomically by every checkpoint, after the
partition files it names were written (always under new names: a file a
manifest names is never changed), so a crash leaves the old manifest and
its files, or the new ones::

    b"DYM2" | u32 crc32(body) | u64 len(body) | body

with ``body`` a pickle (loaded through the allowlist) of ``(format, lsn,
segment, offset, next_file, {space: [(start, file, lsn, size, count), ...]})``.
"""

from __future__ import annotations

import bisect
import pickle
import struct
import zlib
from typing import Any, NamedTuple

from sortedcontainers import SortedDict  # type: ignore[import-untyped]

from ..errors import CorruptFileError
from ..serialization import PickleSerializer
from .partition import Part

__all__ = ["MIN_BOUND", "Bound", "Manifest", "Piece", "Span", "bound_of", "collection_start",
           "cut"]

#: A position in a space's key order: ``(digest, 0, None)`` is the start of
#: the item collection ``digest``; ``(digest, 1, sk)`` its sort key ``sk``.
Bound = tuple[str, int, Any]
#: Before every key.
MIN_BOUND: Bound = ("", 0, None)

_MAGIC = b"DYM2"
_HEAD = struct.Struct("<4sIQ")
_FORMAT = 2
_loader = PickleSerializer()


def collection_start(digest: str) -> Bound:
    """The bound before every key of collection ``digest``."""
    return (digest, 0, None)


def bound_of(digest: str, sk: Any) -> Bound:
    """The bound of key ``sk`` in collection ``digest``."""
    return (digest, 1, sk)


class Span(NamedTuple):
    """One partition of a space: where its range starts, its file, and what
    that file holds (the log record it is up to date with, its item bytes
    and item count)."""

    start: Bound
    file: str
    lsn: int
    size: int
    item_count: int


class Piece(NamedTuple):
    """Part of a partition about to be written: where its range starts, the
    collections (or parts of one) it holds, their item bytes and count."""

    start: Bound
    parts: list[tuple[str, Any, Any]]
    size: int
    item_count: int


def cut(start: Bound, parts: list[tuple[str, Any, Any]], limit: int) -> list[Piece]:
    """Cut a partition's collections ``(digest, pk, SortedDict or Part)`` (in
    digest order) into pieces: one when they hold at most ``limit`` item bytes, else
    pieces of about half of ``limit`` each; one collection larger than that
    is cut by sort key. The first piece starts at ``start``. O(items)."""
    total = sum(_size(items) for _, _, items in parts)
    count = sum(len(items) for _, _, items in parts)
    if total <= limit:
        return [Piece(start, parts, total, count)] if parts else []
    target = max(1, limit // 2)
    pieces: list[Piece] = []
    current: list[tuple[str, Any, Any]] = []
    size = count = 0
    piece_start = start

    def flush(next_start: Bound) -> None:
        nonlocal current, size, count, piece_start
        if current:
            pieces.append(Piece(piece_start, current, size, count))
            piece_start = next_start
        current, size, count = [], 0, 0

    for digest, pk, items in parts:
        nbytes = _size(items)
        if nbytes <= target:
            if size + nbytes > target:
                flush(collection_start(digest))
            current.append((digest, pk, items))
            size += nbytes
            count += len(items)
            continue
        flush(collection_start(digest))  # a large collection: cut it by sort key
        chunk = SortedDict()
        for sk, data in (items.items if isinstance(items, Part) else items).items():
            if size + len(data) > target and chunk:
                current.append((digest, pk, chunk))
                flush(bound_of(digest, sk))
                chunk = SortedDict()
            chunk[sk] = data
            size += len(data)
            count += 1
        current.append((digest, pk, chunk))
    flush(MIN_BOUND)
    return pieces


def _size(items: Any) -> int:
    """The item bytes of a ``SortedDict`` or a partition file's :class:`Part`."""
    return items.nbytes if isinstance(items, Part) else sum(map(len, dict.values(items)))


class Manifest:
    """The partitions of every space and the log position they reflect.

    Attributes:
        lsn / segment / offset: the last log record the partition files
            hold, and the position after it (where recovery starts reading).
        next_file: the number the next partition file is named after.
        spaces: space -> its partitions, in key order.
    """

    def __init__(self, lsn: int = 0, segment: int = 1, offset: int = 0, next_file: int = 1,
                 spaces: dict[str, list[Span]] | None = None) -> None:
        self.lsn = lsn
        self.segment = segment
        self.offset = offset
        self.next_file = next_file
        self.spaces: dict[str, list[Span]] = spaces or {}
        self._starts: dict[str, list[Bound]] = {}
        self._item_bytes: int | None = None

    def copy(self) -> Manifest:
        """An independent copy (the span lists are copied)."""
        return Manifest(self.lsn, self.segment, self.offset, self.next_file,
                        {space: list(spans) for space, spans in self.spaces.items()})

    # ------------------------------------------------------------- lookups

    def _starts_of(self, space: str) -> list[Bound]:
        starts = self._starts.get(space)
        if starts is None:
            starts = self._starts[space] = [span.start for span in self.spaces.get(space, ())]
        return starts

    def covering(self, space: str, digest: str) -> list[Span]:
        """The partitions that hold keys of collection ``digest`` (one, or
        several when the collection is split by sort key). O(log n)."""
        spans = self.spaces.get(space)
        if not spans:
            return []
        starts = self._starts_of(space)
        first = max(0, bisect.bisect_right(starts, collection_start(digest)) - 1)
        last = bisect.bisect_left(starts, (digest, 2, None))  # past every (digest, 1, sk)
        return spans[first:max(last, first + 1)]

    def span_index(self, space: str, bound: Bound) -> int:
        """The index of the partition whose range holds ``bound`` (-1 when the
        space has none). O(log n)."""
        return bisect.bisect_right(self._starts_of(space), bound) - 1

    def set_spans(self, space: str, spans: list[Span]) -> None:
        """Replace ``space``'s partitions (none: the space holds nothing on disk)."""
        if spans:
            self.spaces[space] = spans
        else:
            self.spaces.pop(space, None)
        self._starts.pop(space, None)
        self._item_bytes = None

    @property
    def item_bytes(self) -> int:
        """The item bytes every partition file holds, in all. Computed once."""
        if self._item_bytes is None:
            self._item_bytes = sum(span.size for spans in self.spaces.values() for span in spans)
        return self._item_bytes

    def files(self) -> set[tuple[str, str]]:
        """Every ``(space, file)`` the manifest names."""
        return {(space, span.file) for space, spans in self.spaces.items() for span in spans}

    # ------------------------------------------------------------ encoding

    def encode(self) -> bytes:
        """The ``data/MANIFEST`` bytes. O(partitions)."""
        spaces = {space: [tuple(span) for span in spans] for space, spans in self.spaces.items()}
        body = pickle.dumps((_FORMAT, self.lsn, self.segment, self.offset, self.next_file,
                             spaces), 5)
        return _HEAD.pack(_MAGIC, zlib.crc32(body), len(body)) + body

    @classmethod
    def decode(cls, data: bytes, path: str) -> Manifest:
        """Read a manifest from its file's bytes.

        Raises:
            CorruptFileError: bad magic, length, checksum or shape.
        """
        if len(data) < _HEAD.size:
            raise CorruptFileError(path, len(data), "file shorter than its header")
        magic, crc, length = _HEAD.unpack_from(data, 0)
        body = data[_HEAD.size:]
        if magic != _MAGIC:
            raise CorruptFileError(path, 0, "not a dynafile manifest (bad magic)")
        if len(body) != length:
            raise CorruptFileError(path, _HEAD.size + min(len(body), length),
                                   f"body is {len(body)} bytes, header says {length}")
        if zlib.crc32(body) != crc:
            raise CorruptFileError(path, _HEAD.size, "checksum mismatch")
        try:
            fmt, lsn, segment, offset, next_file, raw = _loader.loads(body)
            spaces = {space: [Span(*entry) for entry in entries] for space, entries in raw.items()}
        except CorruptFileError as exc:
            raise type(exc)(path, _HEAD.size, exc.reason) from None
        except Exception as exc:  # noqa: BLE001 - any decoding failure is corruption
            raise CorruptFileError(path, _HEAD.size, f"cannot decode manifest: {exc}") from None
        problem = _shape_problem(fmt, lsn, segment, offset, next_file, spaces)
        if problem:
            raise CorruptFileError(path, _HEAD.size, problem)
        return cls(lsn, segment, offset, next_file, spaces)


def _shape_problem(fmt: Any, lsn: Any, segment: Any, offset: Any, next_file: Any,
                   spaces: dict[str, list[Span]]) -> str:
    if fmt != _FORMAT:
        return f"unknown manifest format {fmt!r}"
    if not all(type(v) is int for v in (lsn, segment, offset, next_file)):
        return "lsn, segment, offset and next_file must be integers"
    if lsn < 0 or segment < 1 or offset < 0 or segment > lsn + 1 or next_file < 1:
        return f"impossible position lsn {lsn}, segment {segment}, offset {offset}"
    for space, spans in spaces.items():
        if not isinstance(space, str) or not space.isalnum():
            return f"bad space name {space!r}"
        if not spans or spans[0].start != MIN_BOUND:
            return f"space {space} does not start at the first key"
        for span in spans:
            if (not isinstance(span.file, str) or not span.file.endswith(".part")
                    or not span.file[:-5].isdigit() or type(span.lsn) is not int
                    or span.lsn > lsn or type(span.size) is not int
                    or type(span.item_count) is not int):
                return f"space {space} has a malformed partition entry {span!r}"
        try:
            ordered = all(a.start < b.start for a, b in zip(spans, spans[1:]))
        except TypeError:
            ordered = False
        if not ordered:
            return f"partitions of space {space} are out of order"
        if any(int(span.file[:-5]) >= next_file for span in spans):
            return f"space {space} names a file numbered at or above next_file {next_file}"
    return ""
