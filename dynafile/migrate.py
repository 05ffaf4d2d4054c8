"""Upgrading a directory of format 1 (one table, dynafile 0.2) to format 2
(a database of tables with range partitions).

Format 1 kept each item collection in its own directory
(``_partitions/<digest>/data.pickle``, ``lsi-<name>.pickle`` beside it,
``_gsi-<name>/...``, ``_txtokens/...``), its log in ``wal/`` and its schema in
``meta.json``. :func:`migrate` folds those files and the log after their
checkpoint into the format 2 layout (see :mod:`dynafile.storage.layout`): a
database holding one table named after the directory (or ``default``). The
log is carried over record by record, under the same sequence numbers with
its spaces renamed, so change streams and named consumers go on where they
were.

Crash safety: nothing of format 1 is changed until format 2 is complete.
The new files are written in a staging directory, moved into place, and
the new ``meta.json`` replaces the old one last, atomically: that rename is
the moment the directory changes format. A kill before it leaves format 1
(the next attempt removes the staging leftovers and starts again); a kill
after it leaves format 2 (the next open removes format 1's files).
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from typing import Any

from sortedcontainers import SortedDict  # type: ignore[import-untyped]

from .errors import CorruptFileError
from .names import default_table_name
from .schema import Catalog, Schema
from .serialization import PickleSerializer, Unvetted
from .storage import fs
from .storage.layout import TOKENS, Layout, part_name, table_space
from .storage.locking import TableLock
from .storage.log import (
    FLAG_DROP_SPACE,
    WRITE,
    WRITES,
    Frame,
    LogReader,
    decode_record,
    encode_frame,
    encode_write,
)
from .storage.manifest import MIN_BOUND, Manifest, Span, cut
from .storage.partition import encode_part

__all__ = ["cleanup_v1", "has_leftovers", "migrate", "needs_migration"]

_STAGING = ".migrate-v2"
_V1_DIRS = ("wal", "_partitions", "_txtokens")
_V1_FILES = ("CHECKPOINTING",)
_V1_MAGIC = b"DYNP"
_V1_HEAD = struct.Struct("<4sIQ")
_loader = PickleSerializer()
_PARTITION_BYTES = 1 << 20

# state: v1 space -> digest -> [pk, {sk: bytes}, file lsn]
State = dict[str, dict[str, list[Any]]]


def needs_migration(root: str) -> bool:
    """Whether ``root`` holds a format 1 table (its ``meta.json`` says so)."""
    try:
        data = json.loads(fs.read_file(os.path.join(root, "meta.json")))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and data.get("format_version") == 1


def migrate(root: str, *, lock_timeout: float | None = 60.0) -> bool:
    """Upgrade the format 1 table in ``root`` to format 2, under its lock;
    return ``False`` when there was nothing to do. Safe to run again after
    a crash at any point.

    Raises:
        CorruptFileError: a file of the table fails its checks (nothing is
            changed; ``dynafile check`` tells more).
        LockTimeoutError: another process holds the table.
    """
    lock = TableLock(os.path.join(root, "LOCK"), lock_timeout)
    try:
        with lock.exclusive():
            if not needs_migration(root):
                cleanup_v1(root)
                return False
            layout = Layout(root)
            if not os.path.isdir(os.path.join(root, "wal")):
                raise CorruptFileError(os.path.join(root, "meta.json"), 0, "meta.json says "
                                       "format 1, but the directory has no format 1 log "
                                       "(wal/): not migrated, nothing changed")
            for leftover in (os.path.join(root, _STAGING), layout.data, layout.wal):
                fs.remove_tree(leftover)  # an attempt a crash interrupted
            meta = json.loads(fs.read_file(os.path.join(root, "meta.json")))
            state, last, frames = _read_v1(root)
            _stage(root, meta, state, last, frames)
            staging = Layout(os.path.join(root, _STAGING))
            fs.rename(staging.data, layout.data)
            fs.rename(staging.wal, layout.wal)
            fs.rename(staging.meta, layout.meta)  # the moment the format changes
            cleanup_v1(root)
            return True
    finally:
        lock.close()


def has_leftovers(root: str) -> bool:
    """Whether ``root`` holds what a migration a crash interrupted after its
    last step left (format 1's files, the staging directory). A few ``stat``s."""
    return any(os.path.exists(os.path.join(root, name)) for name in (*_V1_DIRS, _STAGING))


def cleanup_v1(root: str) -> None:
    """Remove what format 1 and an interrupted migration leave once
    ``meta.json`` is format 2. Call under the lock."""
    if needs_migration(root):
        return
    for name in (*_V1_DIRS, _STAGING):
        path = os.path.join(root, name)
        if os.path.isdir(path):
            fs.remove_tree(path)
    for name in os.listdir(root):
        path = os.path.join(root, name)
        if name.startswith("_gsi-") and os.path.isdir(path):
            fs.remove_tree(path)
        elif name in _V1_FILES:
            fs.remove(path)


# ---------------------------------------------------------------- reading v1


def _decode_v1(data: bytes, path: str) -> tuple[Any, dict[Any, bytes], int]:
    """``(pk, items, lsn)`` of a format 1 partition file."""
    if len(data) < _V1_HEAD.size:
        raise CorruptFileError(path, len(data), "file shorter than its header")
    magic, crc, length = _V1_HEAD.unpack_from(data, 0)
    body = data[_V1_HEAD.size:]
    if magic != _V1_MAGIC or len(body) != length or zlib.crc32(body) != crc:
        raise CorruptFileError(path, 0, "not an intact format 1 partition file")
    try:
        fmt, lsn, pk, keys, values = _loader.loads(body)
    except CorruptFileError as exc:
        raise type(exc)(path, _V1_HEAD.size, exc.reason) from None
    except Exception as exc:  # noqa: BLE001 - any decoding failure is corruption
        raise CorruptFileError(path, _V1_HEAD.size, f"cannot decode: {exc}") from None
    if fmt != 1 or not isinstance(lsn, int) or len(keys) != len(values):
        raise CorruptFileError(path, _V1_HEAD.size, "not a format 1 partition snapshot")
    return pk, dict(zip(keys, map(Unvetted, values))), lsn


def _read_v1(root: str) -> tuple[State, int, list[Frame]]:
    """The state of every format 1 space (files plus the log after the
    checkpoint), the last lsn of its log, and every record the log holds."""
    from .keys import partition_digest

    state: State = {}
    files = [(os.path.join(root, "_partitions"), "", "data.pickle")]
    for name in sorted(os.listdir(root)):
        if name.startswith("_gsi-"):
            files.append((os.path.join(root, name, "_partitions"), f"g:{name[5:]}",
                          "data.pickle"))
    files.append((os.path.join(root, "_txtokens", "_partitions"), "x:tokens", "data.pickle"))
    for directory, space, filename in files:
        for digest in sorted(os.listdir(directory)) if os.path.isdir(directory) else ():
            pdir = os.path.join(directory, digest)
            for name in sorted(os.listdir(pdir)) if os.path.isdir(pdir) else ():
                if name == filename or (space == "" and name.startswith("lsi-")
                                        and name.endswith(".pickle")):
                    path = os.path.join(pdir, name)
                    pk, items, lsn = _decode_v1(fs.read_file(path), path)
                    which = space if name == filename else f"l:{name[4:-7]}"
                    state.setdefault(which, {})[digest] = [pk, items, lsn]
    v1 = Layout(root)
    v1.wal = os.path.join(root, "wal")
    segments = v1.segments()
    try:
        marker = json.loads(fs.read_file(os.path.join(v1.wal, "checkpoint.json")))
        lsn = int(marker["lsn"])  # the log is read from its start: its position is not needed
    except FileNotFoundError:
        lsn = (segments[0] if segments else 1) - 1
    except (ValueError, KeyError, TypeError) as exc:
        raise CorruptFileError(os.path.join(v1.wal, "checkpoint.json"), 0,
                               f"unreadable checkpoint marker: {exc}") from None
    if not segments:
        return state, lsn, []
    reader = LogReader(v1, segments[0], 0, segments[0] - 1)
    try:
        frames = reader.read()
        if reader.gone:
            raise CorruptFileError(reader.path, reader.offset, "a log segment is missing")
    finally:
        reader.close()
    last = reader.lsn
    if last < lsn:
        raise CorruptFileError(reader.path, reader.offset, f"the log ends at lsn {last}, "
                               f"before its checkpoint (lsn {lsn})")
    for frame in frames:
        if frame.rtype not in WRITES or frame.lsn <= lsn:
            continue
        try:
            _, ops = decode_record(frame.rtype, frame.body)
        except ValueError as exc:
            raise CorruptFileError(v1.segment_path(frame.segment), frame.start,
                                   f"malformed record: {exc}") from None
        for op in ops:
            if op.flags & FLAG_DROP_SPACE:
                state.pop(op.space, None)
                continue
            digest = partition_digest(op.pk)
            entry = state.setdefault(op.space, {}).setdefault(digest, [op.pk, {}, 0])
            if frame.lsn <= entry[2]:
                continue  # the partition file holds it already
            if op.new is None:
                entry[1].pop(op.sk, None)
            else:
                entry[1][op.sk] = Unvetted(op.new)
    return state, last, frames


# ---------------------------------------------------------------- writing v2


def _stage(root: str, meta: dict[str, Any], state: State, last: int,
           frames: list[Frame]) -> None:
    """Write the format 2 database of a format 1 table into the staging directory."""
    staging = Layout(os.path.join(root, _STAGING))
    fs.makedirs(staging.data)
    fs.makedirs(staging.wal)
    lsis = {name: dict(d) for name, d in (meta.get("lsis") or {}).items()}
    gsis = {name: dict(d) for name, d in (meta.get("gsis") or {}).items()}
    try:
        schema = Schema(meta["pk_attribute"], meta["sk_attribute"],
                        meta.get("serializer", "pickle"), meta.get("key_types") or {},
                        meta.get("ttl_attribute"), meta.get("stream_view_type"), gsis, lsis,
                        meta.get("ttl_mode", "hide"), name=default_table_name(root))
    except (KeyError, TypeError) as exc:
        raise CorruptFileError(os.path.join(root, "meta.json"), 0,
                               f"meta.json lacks {exc}") from None
    catalog = Catalog()
    catalog.add(schema)
    spaces = {"": table_space(schema.table_id), "x:tokens": TOKENS}
    spaces.update({f"l:{n}": schema.index_space(d) for n, d in schema.lsis.items()})
    spaces.update({f"g:{n}": schema.index_space(d) for n, d in schema.gsis.items()})
    segment, offset = _copy_log(staging, frames, spaces, last)
    manifest = Manifest(last, segment, offset)
    _carry_tokens(state)
    for old, new in sorted(spaces.items()):
        collections = state.get(old, {})
        parts = [(digest, pk, SortedDict(items)) for digest, (pk, items, _) in
                 sorted(collections.items()) if items]
        spans = []
        for piece in cut(MIN_BOUND, parts, _PARTITION_BYTES):
            name = part_name(manifest.next_file)
            manifest.next_file += 1
            fs.atomic_write_bytes(staging.partition_path(new, name),
                                  encode_part(last, piece.parts))
            spans.append(Span(piece.start, name, last, piece.size, piece.item_count))
        manifest.set_spans(new, spans)
    fs.atomic_write_bytes(staging.manifest, manifest.encode())
    catalog.write(staging.meta)


def _carry_tokens(state: State) -> None:
    """Give each format 1 transaction token its entry in the token space's
    ``"expiry"`` collection (see :mod:`dynafile.transactions`), so that it
    expires like a token recorded in format 2."""
    from .keys import partition_digest
    from .transactions import EXPIRY_PK, TOKEN_PK, expiry_entries  # a migration's own cost

    collections = state.get("x:tokens", {})
    for _digest, (pk, items, lsn) in list(collections.items()):
        if pk == TOKEN_PK and items:
            entries = expiry_entries(items)
            if entries:
                collections[partition_digest(EXPIRY_PK)] = [EXPIRY_PK, entries, lsn]


def _copy_log(staging: Layout, frames: list[Frame], spaces: dict[str, str],
              last: int) -> tuple[int, int]:
    """Write the format 1 log's records into the staging log, segment for
    segment, with the spaces renamed (operations on a space that no longer
    exists, a dropped index's, are left out); return the position after the
    last record."""
    by_segment: dict[int, list[bytes]] = {}
    for frame in frames:
        body = frame.body
        if frame.rtype in WRITES:
            _, ops = decode_record(frame.rtype, frame.body)
            body = encode_write([op._replace(space=spaces[op.space]) for op in ops
                                 if op.space in spaces])
        by_segment.setdefault(frame.segment, []).append(
            encode_frame(frame.lsn, WRITE if frame.rtype in WRITES else frame.rtype, body))
    if not by_segment or frames[-1].rtype not in WRITES and frames[-1].lsn == last:
        by_segment.setdefault(last + 1, [])  # the segment a ROTATE named (or a first one)
    for first, chunks in by_segment.items():
        fs.atomic_write_bytes(staging.segment_path(first), b"".join(chunks))
    final = max(by_segment)
    return final, sum(map(len, by_segment[final]))

