"""One partition: its items in sort-key order, and its file format.

In memory a partition is a ``SortedDict`` mapping each (normalised) sort key
to the item's serialized bytes: handing out an item means deserializing
fresh bytes, so no caller ever shares a mutable object with the store.

On disk, ``_partitions/<digest>/data.pickle`` holds::

    b"DYNP" | u32 crc32(body) | u64 len(body) | body

where ``body`` is a pickle (loaded through the allowlisting unpickler) of
``(format, lsn, pk, [sort keys...], [item bytes...])``; ``lsn`` is the last
log record the file contains. The checksum lets a flipped bit be reported
instead of unpickled.
"""

from __future__ import annotations

import pickle
import struct
import zlib
from typing import Any

from sortedcontainers import SortedDict  # type: ignore[import-untyped]

from ..errors import CorruptFileError
from ..serialization import PickleSerializer, Unvetted

__all__ = ["MAGIC", "Partition", "decode_partition", "encode_partition", "keep_checked",
           "partition_keys"]

MAGIC = b"DYNP"
_HEAD = struct.Struct("<4sIQ")
_FORMAT = 1
_ITEM_OVERHEAD = 96  # rough bytes per entry beyond the item bytes, for cache accounting
_loader = PickleSerializer()
_BYTES_ONLY = {bytes}


class Partition:
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


def encode_partition(pk: Any, items: SortedDict, lsn: int) -> bytes:
    """Return the file bytes of a partition snapshot. O(n)."""
    values = [v if v.__class__ is bytes else bytes(v) for v in items.values()]
    body = pickle.dumps((_FORMAT, lsn, pk, list(items.keys()), values), 5)
    return _HEAD.pack(MAGIC, zlib.crc32(body), len(body)) + body


def decode_partition(data: bytes, path: str) -> tuple[Any, SortedDict, int]:
    """Return ``(pk, items, lsn)`` from a partition file's bytes.

    Raises:
        CorruptFileError: bad magic, length or checksum, or a body that is not
            a partition snapshot (``UnsafeDataError`` when it names a class
            outside the allowlist).
    """
    if len(data) < _HEAD.size:
        raise CorruptFileError(path, len(data), "file shorter than its header")
    magic, crc, length = _HEAD.unpack_from(data, 0)
    if magic != MAGIC:
        raise CorruptFileError(path, 0, "not a dynafile partition file (bad magic)")
    body = data[_HEAD.size :]
    if len(body) != length:
        raise CorruptFileError(path, _HEAD.size + min(len(body), length),
                               f"body is {len(body)} bytes, header says {length}")
    if zlib.crc32(body) != crc:
        raise CorruptFileError(path, _HEAD.size, "checksum mismatch")
    try:
        fmt, lsn, pk, keys, values = _loader.loads(body)
    except CorruptFileError as exc:
        raise type(exc)(path, _HEAD.size, exc.reason) from None
    except Exception as exc:
        raise CorruptFileError(path, _HEAD.size, f"cannot decode snapshot: {exc}") from exc
    if fmt != _FORMAT:
        raise CorruptFileError(path, _HEAD.size, f"unknown snapshot format {fmt!r}")
    if (keys.__class__ is not list or values.__class__ is not list or len(keys) != len(values)
            or not isinstance(lsn, int) or not set(map(type, values)) <= _BYTES_ONLY):
        raise CorruptFileError(path, _HEAD.size, "snapshot is not (format, lsn, pk, [keys], "
                               "[item bytes]) of matching lengths")
    # Values are checked through the allowlist when first loaded, not here.
    try:
        return pk, _sorted_dict(keys, list(map(Unvetted, values))), lsn
    except TypeError as exc:  # keys of mixed types: not something dynafile wrote
        raise CorruptFileError(path, _HEAD.size, f"bad sort keys: {exc}") from None


def partition_keys(data: bytes) -> tuple[list[Any], int]:
    """Return the sort keys of a partition file's bytes in the order the file
    holds them (:func:`decode_partition` sorts them), and the offset of the
    body; ``([], offset)`` when the body does not decode. For ``check()``."""
    try:
        keys = _loader.loads(data[_HEAD.size:])[3]
    except Exception:  # noqa: BLE001 - decode_partition reports what is wrong
        return [], _HEAD.size
    return (list(keys) if isinstance(keys, list) else []), _HEAD.size


def _sorted_dict(keys: list, values: list) -> SortedDict:
    """A SortedDict of ``keys`` (as the file holds them, sorted) and ``values``.

    A file dynafile wrote holds its keys strictly ascending: then the sorted
    list is built by slicing instead of sorting (5x faster to load). Any other
    order (a hand-made file) takes the general path.
    """
    out = SortedDict()
    dict.update(out, zip(keys, values))
    if len(out) != len(keys) or keys != sorted(keys):  # duplicates, or out of order
        return SortedDict(zip(keys, values))
    inner = out._list  # sortedcontainers' documented-in-source internals
    load = inner._load
    inner._lists = [keys[i:i + load] for i in range(0, len(keys), load)]
    inner._maxes = [chunk[-1] for chunk in inner._lists]
    inner._index = []
    inner._len = len(keys)
    return out
