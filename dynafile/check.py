"""Verify every file of a database: :func:`check` (an open database or
table) and :func:`check_path` (a directory, without opening it).

What is verified:

* ``meta.json``: readable, of a known format, every table's key types and
  index definitions well formed;
* every log segment: each frame's checksum, sequence numbers rising by one
  inside and across segments, record bodies well formed, ``ROTATE`` records
  only at the end of a segment; a torn tail (an unacknowledged write a crash
  left at the end of the last segment) is a warning, not a problem;
* ``data/MANIFEST``: well formed, pointing at an existing segment, at a
  record boundary whose record has the manifest's sequence number, and not
  beyond the log's end; every file it names exists;
* every partition file: magic, length and checksum, a decodable body, its
  collections in digest order and inside the key range the manifest gives
  it, sort keys strictly increasing, each partition key hashing to its
  digest, its lsn the manifest's, its item count and bytes the manifest's;
* every item of every table as the files plus the log describe it (the
  state any process would see): loadable through its table's serializer (the
  allowlist), a dict whose key attributes match the place it is stored at,
  of the key types ``meta.json`` fixed;
* every active secondary index: the entries it holds are exactly the ones
  recomputed from its table's items with :class:`dynafile.indexes.IndexSet`
  (same keys, same projected values);
* for :func:`check`, that the open database's in-memory view of every
  collection equals the files and the log.

Nothing is written.

**A snapshot, not a lock.** Under the database's shared lock (and, for
:func:`check`, the open database's thread lock, after catching up with the
log) the check takes only what defines one state of the database:
``meta.json``, the bytes of ``data/MANIFEST``, the size of every log segment,
and the listing of ``log/`` and ``data/``. That takes a moment (no file is
read but ``meta.json`` and the manifest), and the lock is released before
anything else is read, so writers of every process go on meanwhile. What the
check then reads cannot change under it: partition files are written once
under new names and only removed by a later checkpoint (after it replaced
the manifest), and the log is append-only, read here only up to the sizes
of the snapshot. Should a file the snapshot names disappear meanwhile (a
checkpoint replaced the partition file, or a log segment past retention
went), the check starts again from a new snapshot; after
``_ATTEMPTS`` such snapshots it holds the shared lock for the whole check,
as it always did before, and says so in a warning. A problem found in the
last segment of the log while writers were appending to it (a torn tail a
writer is cutting) also starts a new snapshot, so only a problem that the
snapshot really holds is reported.

**Bounded memory.** Nothing holds the whole database. The log is read in
chunks of ``_CHUNK`` bytes, one record decoded at a time (a record holds one
write, batch or transaction: a batch written as one record costs its size);
records before the manifest's position are checked and dropped, the
operations after it (the log tail, bounded by ``checkpoint_bytes`` in normal
use; the whole log when there is no usable manifest) are kept, decoded, with
their bytes. Each space is then walked partition by partition in key order,
as a scan does: one partition file is decoded at a time and merged with the
tail's operations that fall in its key range, and every item is checked as
it is met. Index agreement is decided without holding entries: while
walking a table, each entry its items imply (index partition key, entry key,
projected bytes) is added to an order-independent digest of its index: in
each of 256 buckets (by the first byte of the index partition key's
digest), a count and the sum mod 2**64 of the entries' 64-bit hashes.
Walking the index adds what it holds to a second digest. Equal counts and
sums in every bucket: the index agrees. Only when they differ does a second,
diagnostic pass walk the table and the index again, holding the entries of
the differing buckets only (O(those buckets of the index), at worst
O(index)), to list the entries that differ exactly as before: missing ones,
ones no item implies, ones whose projected value differs (bytes that differ
but load to equal values are not a problem, as before). Memory is therefore
O(one partition file + the largest log record + the log tail + 256 counters
per index), plus the diagnostic pass when an index disagrees.

**This process's view** (:func:`check`): the open database's collections are
compared with the walk space by space (a merge by digest with
``engine.scan``), each step under the thread lock for one partition, and
only while nothing changed since the snapshot: the engine has applied no
record since (its ``lsn`` is the snapshot's) and the last log segment has the
snapshot's size. Once a write (by any process or thread) changes either,
the rest of the comparison is skipped, with a warning saying for how many
item collections it ran. As before, differences are reported only when the
files themselves hold no problem. The comparison loads collections through
the engine, so it fills the open database's cache (up to its
``cache_bytes``) as a scan does.
"""

from __future__ import annotations

import bisect
import contextlib
import json
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Callable, NamedTuple

from .errors import CorruptFileError, DynafileError, UnsafeDataError, UnsupportedFormatError
from .indexes import Index, IndexSet, index_from_json
from .keys import check_key_value, key_type, normalize_key, partition_digest
from .schema import Catalog, KeyTypes, Schema
from .serialization import Serializer, get_serializer
from .storage import fs
from .storage.layout import SCHEMA, TOKENS, Layout, segment_lsn
from .storage.locking import TableLock
from .storage.log import FLAG_DROP_SPACE, ROTATE, WRITES, Frame, LogReader, Op, decode_record
from .storage.manifest import MIN_BOUND, Bound, Manifest, Span, bound_of, collection_start
from .storage.partition import decode_part

if TYPE_CHECKING:  # pragma: no cover
    from .core import DatabaseCore, TableCore
    from .storage.engine import Engine
    from .storage.partition import Part

__all__ = ["CheckReport", "check", "check_database", "check_path"]

#: Per kind of repeated problem (one index's missing entries, say), how many
#: are listed before the rest are summed up in one line.
_PER_KIND = 20
#: Snapshots tried (each started again when a checkpoint replaced a file it
#: needs) before the check holds the shared lock throughout.
_ATTEMPTS = 4
#: Bytes of log read at a time.
_CHUNK = 4 << 20
#: Buckets of an index digest (by the first byte of the index partition key's digest).
_BUCKETS = 256
_BUCKET_OF = {f"{i:02x}": i for i in range(_BUCKETS)}
_MASK = (1 << 64) - 1

Slot = tuple[str, str]


class CheckReport:
    """The result of :func:`check` / :func:`check_path`.

    Attributes:
        path: the database directory.
        problems: one sentence per thing that is wrong, each naming the file
            (relative to ``path``) and the byte offset where one applies,
            e.g. ``"log/00000000000000000001.log at offset 120: checksum
            mismatch"``. Empty when the database is sound.
        warnings: things that are not wrong but worth knowing (a torn tail
            a crash left, files an interrupted checkpoint left, files of a
            dropped table or index, a backfill still to finish).
        stats: counts: ``items`` (of every table), ``tables`` (``{table:
            items}``), ``collections`` (item collections of every table),
            ``partitions`` (partition files the manifest names),
            ``partition_files`` (partition files on disk), ``segments``,
            ``records``, ``log_bytes``, ``lsn``, ``checkpoint_lsn`` (the
            manifest's), ``replayed_records`` (records after it),
            ``index_entries`` (``{index: entries}``, an index named
            ``table.index`` when the database has several tables).
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.problems: list[str] = []
        self.warnings: list[str] = []
        self.stats: dict[str, Any] = {
            "items": 0,
            "tables": {},
            "collections": 0,
            "partitions": 0,
            "partition_files": 0,
            "segments": 0,
            "records": 0,
            "log_bytes": 0,
            "lsn": 0,
            "checkpoint_lsn": 0,
            "replayed_records": 0,
            "index_entries": {},
        }

    @property
    def ok(self) -> bool:
        """``True`` when no problem was found (warnings do not count)."""
        return not self.problems

    def __str__(self) -> str:
        s = self.stats
        head = "OK" if self.ok else f"{len(self.problems)} problem(s)"
        lines = [
            f"dynafile check {self.path}: {head}",
            (f"  {s['items']} items in {len(s['tables'])} table(s), {s['collections']} item "
             f"collections, {s['partitions']} partitions ({s['partition_files']} partition "
             "files)"),
            (f"  log: {s['segments']} segment(s), {s['records']} records, {s['log_bytes']} bytes, "
             f"lsn {s['lsn']}, checkpoint at lsn {s['checkpoint_lsn']} "
             f"({s['replayed_records']} records after it)"),
        ]
        for name, count in sorted(s["tables"].items()):
            lines.append(f"  table {name}: {count} items")
        for name, count in sorted(s["index_entries"].items()):
            lines.append(f"  index {name}: {count} entries")
        if self.warnings:
            lines.append("warnings:")
            lines.extend(f"  - {w}" for w in self.warnings)
        if self.problems:
            lines.append("problems:")
            shown = self.problems[:100]
            lines.extend(f"  - {p}" for p in shown)
            if len(self.problems) > len(shown):
                lines.append(f"  ... and {len(self.problems) - len(shown)} more")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (f"CheckReport({self.path!r}, ok={self.ok}, problems={len(self.problems)}, "
                f"warnings={len(self.warnings)})")


def check(core: TableCore) -> CheckReport:
    """Verify every file of the database an open table belongs to, and this
    process's view of it (see :func:`check_database`)."""
    return check_database(core.database, {core.name: core.serializer})


def check_database(core: DatabaseCore,
                   serializers: dict[str, Serializer] | None = None) -> CheckReport:
    """Verify every file of an open database, and this process's view of it.

    Holds the database's shared lock (and its thread lock) only while it
    takes a snapshot (see the module's docstring), so writers of this and
    other processes go on while it reads. Reads only; never repairs.

    Args:
        core: the open database.
        serializers: table name -> the serializer to load its items with
            (tables not named use the one ``meta.json`` names).

    Returns:
        a :class:`CheckReport`; ``report.ok`` is ``False`` when anything is
        wrong, and ``report.problems`` says what and where.

    Raises:
        ClosedError: the database is closed.
        LockTimeoutError: another process held the write lock past the
            database's ``lock_timeout``.

    Cost: reads every file of the database: O(database) time; memory
    O(one partition file + the log after the manifest), plus the entries of
    an index that disagrees with its table.
    """
    core.check_open()
    engine = core.engine
    return _run(core.layout, engine.lock.shared, None, serializers or {}, engine)


def check_path(
    path: str | os.PathLike[str],
    *,
    serializer: Serializer | None = None,
    lock_timeout: float | None = 60.0,
) -> CheckReport:
    """Verify every file of the database in directory ``path`` without opening it.

    Works on databases that cannot be opened (a corrupt log, say), and on
    read-only directories. Takes a shared lock on ``LOCK`` when that file
    exists, for a moment: to take a snapshot of the files (see the module's
    docstring); writers go on while the check reads.

    Args:
        path: the database directory.
        serializer: the serializer to load items with, for the tables whose
            ``meta.json`` entry names it (the others use the serializer they
            name, when it is built in). Pass ``PickleSerializer(trusted=[...])``
            for tables that store trusted classes.
        lock_timeout: seconds to wait for a writer to finish.

    Returns:
        a :class:`CheckReport`.

    Raises:
        FileNotFoundError: ``path`` is not a directory.
        LockTimeoutError: a writer held the lock past ``lock_timeout``.

    Cost: reads every file of the database: O(database) time; memory
    O(one partition file + the log after the manifest), plus the entries of
    an index that disagrees with its table.
    """
    layout = Layout(os.path.abspath(os.fspath(path)))
    if not os.path.isdir(layout.root):
        raise FileNotFoundError(f"{layout.root} is not a directory")
    lock: TableLock | None = None
    if os.path.exists(layout.lock):
        try:
            lock = TableLock(layout.lock, lock_timeout, read_only=True)
        except OSError:
            lock = None
    try:
        if lock is None:
            report = _run(layout, contextlib.nullcontext, serializer, {}, None)
            report.warnings.insert(0, "LOCK: no usable LOCK file: checked without locking")
            return report
        return _run(layout, lock.shared, serializer, {}, None)
    finally:
        if lock is not None:
            lock.close()


def _run(layout: Layout, locked: Callable[[], contextlib.AbstractContextManager[Any]],
         serializer: Serializer | None, serializers: dict[str, Serializer],
         engine: Engine | None) -> CheckReport:
    """Check from a snapshot taken under ``locked()``; start again when a
    file the snapshot needs disappears; after :data:`_ATTEMPTS`, hold the
    lock throughout."""
    for _ in range(_ATTEMPTS):
        checker = _Checker(layout, serializer, serializers, engine, locked=False)
        try:
            with locked():
                checker.snapshot()
            checker.run()
        except _Vanished:
            continue
        return checker.finish()
    checker = _Checker(layout, serializer, serializers, engine, locked=True)
    with locked():
        checker.snapshot()
        checker.run()
        checker.warn(layout.data, f"checkpoints replaced files {_ATTEMPTS} times while the check "
                                  "read a snapshot: it held the shared lock for the whole check "
                                  "instead (writers waited)")
    return checker.finish()


# ---------------------------------------------------------------------------


class _Vanished(Exception):
    """A file the snapshot needs is gone (a checkpoint replaced it): take a new one."""


class _Tail:
    """The operations after the manifest on one space (the last write of each key)."""

    __slots__ = ("digests", "dropped", "entries", "pks")

    def __init__(self, dropped: bool = False) -> None:
        self.dropped = dropped  # dropped after the manifest: its files do not count
        self.entries: dict[str, dict[Any, tuple[bytes | None, str]]] = {}
        self.pks: dict[str, Any] = {}
        self.digests: list[str] | None = None  # sorted, once the log is read

    def sorted_digests(self) -> list[str]:
        if self.digests is None:
            self.digests = sorted(self.entries)
        return self.digests


class _Piece(NamedTuple):
    """An item collection, or the part of one a partition's key range holds:
    the file's items merged with the log's changes after the manifest."""

    digest: str
    pk: Any
    items: Any  # the file's SortedDict of sort key -> bytes, or None
    origin: str  # the file, for its items
    changes: dict[Any, tuple[bytes | None, str]] | None  # sk -> (bytes or None, origin)
    start: Bound
    end: Bound | None
    n_items: int

    def entries(self) -> Iterator[tuple[Any, bytes, str]]:
        """``(sort key, item bytes, origin)`` of every item, file ones first."""
        changes = self.changes
        if self.items is not None:
            if changes is None:
                origin = self.origin
                for sk, data in self.items.items():
                    yield sk, data, origin
            else:
                for sk, data in self.items.items():
                    if sk not in changes:
                        yield sk, data, self.origin
        if changes is not None:
            for sk, (data, origin) in changes.items():
                if data is not None:
                    yield sk, data, origin


class _Digest:
    """An order-independent digest of a multiset of index entries: per
    bucket, a count and the sum mod 2**64 of each entry's hash."""

    __slots__ = ("counts", "sums")

    def __init__(self) -> None:
        self.counts = [0] * _BUCKETS
        self.sums = [0] * _BUCKETS

    def add(self, digest: str, pk: Any, key: Any, data: bytes) -> None:
        bucket = _BUCKET_OF.get(digest[:2], 0)
        self.counts[bucket] += 1
        try:
            value = hash((digest, type(pk), pk, key, data))
        except TypeError:  # an unhashable partition key in a damaged file
            value = hash((digest, type(pk), repr(pk), key, data))
        self.sums[bucket] = (self.sums[bucket] + value) & _MASK

    def differing(self, other: _Digest) -> set[int]:
        """The buckets where ``other`` holds other entries."""
        return {b for b in range(_BUCKETS)
                if self.counts[b] != other.counts[b] or self.sums[b] != other.sums[b]}


class _Table:
    """What the check knows of one table of ``meta.json``."""

    def __init__(self, schema: Schema, serializer: Serializer | None, label: str) -> None:
        self.schema = schema
        self.serializer = serializer
        self.label = label  # how the report names it in index names ("" alone)
        self.indexes: dict[str, Index] = {}  # space -> live index definition
        self.creating: set[str] = set()  # spaces of GSIs still backfilling
        self.live: list[Index] = []  # the indexes whose entries are checked
        self.index_set: IndexSet | None = None
        self.types = KeyTypes(dict(schema.key_types))

    def index_label(self, index: Index) -> str:
        return f"{self.label}.{index.name}" if self.label else index.name

    def prepare(self) -> None:
        """Fix the indexes whose entries are checked (once meta.json is read)."""
        schema = self.schema
        if self.serializer is None:
            return
        self.live = [ix for space, ix in self.indexes.items() if space not in self.creating]
        if self.live:
            self.index_set = IndexSet(schema.pk_attribute, schema.sk_attribute, self.live,
                                      self.serializer.dumps)


class _Checker:
    def __init__(self, layout: Layout, serializer: Serializer | None,
                 serializers: dict[str, Serializer], engine: Engine | None,
                 locked: bool) -> None:
        self.layout = layout
        self.root = layout.root
        self.report = CheckReport(layout.root)
        self.serializer = serializer
        self.serializers = serializers
        self.engine = engine
        self.locked = locked  # the lock is held throughout: a missing file is a problem
        self.tables: dict[str, _Table] = {}  # table space -> table
        self.by_space: dict[str, tuple[_Table, Index | None]] = {}  # every live space
        self.catalog: Catalog | None = None
        self._counts: dict[str, int] = {}
        # the snapshot
        self.segments: list[int] | None = None  # None: no log directory
        self.sizes: dict[int, int] = {}
        self.manifest_raw: bytes | None = None
        self.manifest_error: str | None = None  # the manifest file could not be read
        self.data_files: list[tuple[str, str | None, str | None, str]] = []
        self.engine_lsn = 0
        self.engine_error: DynafileError | None = None
        # what the log holds
        self.manifest: Manifest | None = None
        self.manifest_problem: CorruptFileError | None = None
        self.start = 0  # records after this lsn are the tail
        self.boundary: int | None = None  # lsn of the record ending at the manifest's offset
        self.last_lsn = 0
        self.tail: dict[str, _Tail] = {}
        self._seg_rel: dict[int, str] = {}
        # the walk
        self.expected: dict[str, _Digest] = {}
        self.actual: dict[str, _Digest] = {}
        self._digests: dict[Any, str] = {}
        self.view: _View | None = None

    # ------------------------------------------------------------ reporting

    def rel(self, path: str) -> str:
        if not os.path.isabs(path):
            return path  # already relative to the database (or an origin string)
        try:
            rel = os.path.relpath(path, self.root)
        except ValueError:  # pragma: no cover - another drive on Windows
            return path
        return path if rel.startswith("..") else rel

    def problem(self, path: str, reason: str, offset: int | None = None,
                kind: str | None = None) -> None:
        if kind is not None:
            count = self._counts.get(kind, 0) + 1
            self._counts[kind] = count
            if count > _PER_KIND:
                return
        where = self.rel(path) if offset is None else f"{self.rel(path)} at offset {offset}"
        self.report.problems.append(f"{where}: {reason}")

    def warn(self, path: str, reason: str) -> None:
        self.report.warnings.append(f"{self.rel(path)}: {reason}")

    def finish(self) -> CheckReport:
        for kind, count in sorted(self._counts.items()):
            if count > _PER_KIND:
                self.report.problems.append(f"... and {count - _PER_KIND} more problems like the "
                                            f"above ({kind})")
        return self.report

    # ------------------------------------------------------------- snapshot

    def snapshot(self) -> None:
        """Under the lock: what defines one state of the database (see the
        module's docstring). Reads no file but meta.json and the manifest."""
        if self.engine is not None:
            try:
                self.engine.refresh()
            except DynafileError as exc:
                self.engine_error = exc
            self.engine_lsn = self.engine.lsn
        self.read_meta()
        self.list_log()
        try:
            self.manifest_raw = fs.read_file(self.layout.manifest)
        except FileNotFoundError:
            self.manifest_raw = None
        except OSError as exc:
            self.manifest_error = f"unreadable: {exc}"
        self.data_files = [(found.path, found.space, found.name, found.note)
                           for found in self.layout.walk()]

    def log_changed(self) -> bool:
        """Whether the log's end moved since the snapshot."""
        if not self.segments:
            return False
        last = self.segments[-1]
        try:
            return os.path.getsize(self.layout.segment_path(last)) != self.sizes[last]
        except OSError:
            return True

    def manifest_changed(self) -> bool:
        """Whether ``data/MANIFEST`` is not the snapshot's any more."""
        try:
            return fs.read_file(self.layout.manifest) != self.manifest_raw
        except OSError:
            return self.manifest_raw is not None

    # ------------------------------------------------------------------ run

    def run(self) -> None:
        self.decode_manifest()
        self.read_log()
        if (self.engine is not None and self.engine_error is None and not self.locked
                and self.engine_lsn != self.last_lsn and self.log_changed()):
            raise _Vanished  # a writer cut a torn tail and appended: look again
        self.check_manifest()
        self.check_data_files()
        self.walk_spaces()
        self.check_indexes()
        self.compare_view()

    # ----------------------------------------------------------------- meta

    def read_meta(self) -> None:
        path = self.layout.meta
        try:
            catalog = Catalog.read(path)
        except UnsupportedFormatError as exc:
            if exc.version == 1:
                self.problem(path, "a dynafile 1 table: open it writable, or run `dynafile "
                                   "migrate`, to move it to this format")
            else:
                self.problem(path, f"format version {exc.version!r} is not one this dynafile "
                                   "reads")
            return
        except CorruptFileError as exc:
            self.problem(path, exc.reason)
            return
        except Exception as exc:  # noqa: BLE001 - a malformed but parseable meta.json
            self.problem(path, f"malformed: {type(exc).__name__}: {exc}")
            return
        if catalog is None:
            self.problem(path, "missing: the directory holds no dynafile database")
            return
        self.catalog = catalog
        several = len(catalog.tables) > 1
        for name, schema in sorted(catalog.tables.items()):
            table = _Table(schema, self._serializer_of(path, schema), name if several else "")
            self.tables[schema.space] = table
            self.by_space[schema.space] = (table, None)
            for code_name, code in schema.key_types.items():
                if code not in (None, "S", "N", "B"):
                    self.problem(path, f"table {name}: key type of {code_name!r} is {code!r}, "
                                       "not S, N, B or null")
            for section in ("gsis", "lsis"):
                for index_name, data in getattr(schema, section).items():
                    try:
                        index = index_from_json(section, index_name, data,
                                                schema.index_space(data))
                    except KeyError as exc:
                        self.problem(path, f"table {name}: index {index_name!r} lacks {exc}")
                        continue
                    except Exception as exc:  # noqa: BLE001 - reported, whatever it is
                        self.problem(path, f"table {name}: index {index_name!r} is malformed: "
                                           f"{exc}")
                        continue
                    table.indexes[index.space] = index
                    self.by_space[index.space] = (table, index)
                    if data.get("state", "ACTIVE") != "ACTIVE":
                        table.creating.add(index.space)
                        self.warn(path, f"table {name}: global index {index_name!r} is still "
                                        f"being created (state {data.get('state')!r}); the "
                                        "next writable open resumes the backfill")
            table.prepare()

    def _serializer_of(self, path: str, schema: Schema) -> Serializer | None:
        given = self.serializers.get(schema.name) or self.serializer
        if given is not None and given.name == schema.serializer:
            return given
        try:
            return get_serializer(schema.serializer)
        except DynafileError:
            self.warn(path, f"table {schema.name}: serializer {schema.serializer!r} is not "
                            "built in or registered: its items are not decoded (pass "
                            "serializer=, or register it)")
            return None

    # ------------------------------------------------------------------- log

    def list_log(self) -> None:
        """Under the lock: the segments and their sizes (the log's end)."""
        layout = self.layout
        wal = layout.wal
        try:
            names = sorted(os.listdir(wal))
        except FileNotFoundError:
            self.problem(wal, "missing: the database has no log directory")
            return
        for name in names:
            if segment_lsn(name) is not None:
                continue
            if name.startswith(fs.TEMP_PREFIX):
                self.warn(os.path.join(wal, name), "temporary file left by a crash (removed at "
                                                   "the next writable open)")
            else:
                self.warn(os.path.join(wal, name), "unexpected file")
        segments = layout.segments()
        self.segments = segments
        self.report.stats["segments"] = len(segments)
        if not segments:
            self.problem(wal, "no log segment")
            return
        for first in segments:
            try:
                self.sizes[first] = os.path.getsize(layout.segment_path(first))
            except OSError as exc:
                self.problem(layout.segment_path(first), f"unreadable: {exc}")
                self.segments = []
                return
        self.report.stats["log_bytes"] = sum(self.sizes.values())

    def decode_manifest(self) -> None:
        """Decode the snapshot's manifest (its problems are reported after the log's)."""
        if self.manifest_raw is None:
            return
        try:
            self.manifest = Manifest.decode(self.manifest_raw, self.layout.manifest)
        except CorruptFileError as exc:
            self.manifest_problem = exc
            return
        self.start = self.manifest.lsn

    def read_log(self) -> None:
        segments = self.segments
        if not segments:
            return
        manifest = self.manifest
        if manifest is not None and manifest.offset == 0 and manifest.segment in self.sizes:
            self.boundary = manifest.segment - 1  # a segment is named by its first lsn
        start: int | None = segments[0]
        while start is not None:
            start = self._read_segments(start)
        self.report.stats["lsn"] = self.last_lsn
        for tail in self.tail.values():
            tail.sorted_digests()

    def _read_segments(self, first: int) -> int | None:
        """Read the log from segment ``first`` as far as it goes (up to the
        snapshot's end); return the segment to go on from after a problem,
        or ``None`` when done."""
        layout = self.layout
        segments, sizes = self.segments or [], self.sizes
        try:
            reader = LogReader(layout, first, 0, first - 1, chunk=_CHUNK)
        except FileNotFoundError as exc:
            if not self.locked:
                raise _Vanished from None
            self.problem(layout.segment_path(first), f"unreadable: {exc}")
            return None
        except (OSError, CorruptFileError) as exc:
            self.problem(layout.segment_path(first), f"unreadable: {exc}")
            return None
        last_segment = segments[-1]
        position = (first, 0, first - 1)  # segment, offset, lsn after the last record taken
        beyond = False  # met a record the snapshot does not hold
        try:
            while True:
                frames = reader.read(strict=False)
                for frame in frames:
                    limit = sizes.get(frame.segment)
                    if limit is None or frame.end > limit:
                        beyond = True
                        break
                    self._take(frame)
                    if frame.rtype == ROTATE and frame.lsn + 1 in sizes:
                        position = (frame.lsn + 1, 0, frame.lsn)
                    else:
                        position = (frame.segment, frame.end, frame.lsn)
                if (beyond or not frames or reader.error is not None or reader.gone
                        or reader.tail is not None):
                    break
                if position[0] == last_segment and position[1] >= sizes[last_segment]:
                    break
        finally:
            reader.close()
        segment, offset, lsn = position
        self.last_lsn = max(self.last_lsn, lsn)
        later = [s for s in segments if s > segment]
        path = layout.segment_path(segment)
        # What the reader met past the snapshot's end (a write in progress,
        # or records appended since) is not the snapshot's.
        error = None if beyond else reader.error
        tail = None if beyond else reader.tail
        end = sizes.get(reader.segment, 0)
        if reader.segment == last_segment:
            if error is not None and error.offset is not None and error.offset >= end and \
                    error.path == layout.segment_path(reader.segment):
                error = None
            if tail is not None and tail >= end:
                tail = None
            if (error is not None or tail is not None) and not self.locked and \
                    self.log_changed():
                raise _Vanished  # a writer may be cutting a torn tail: look again
        if error is not None:
            self.problem(error.path, error.reason, error.offset)
            return later[0] if later else None
        if not beyond and reader.gone:
            if not self.locked and lsn + 1 in sizes:
                raise _Vanished
            self.problem(path, "the segment ends with a ROTATE record but the next segment "
                               f"({lsn + 1:020d}.log) is missing", sizes.get(segment, 0))
            following = [s for s in segments if s > lsn]
            return following[0] if following else None
        if tail is not None and tail < end:
            self.warn(reader.path, f"torn tail of {end - tail} bytes at offset {tail}: a write "
                                   "that was never acknowledged (the next writer cuts it)")
        if later:
            nxt = later[0]
            if len(later) == 1 and not sizes.get(nxt) and nxt == lsn + 2:
                self.warn(layout.segment_path(nxt), "a segment rotation was interrupted: this "
                                                    "segment is empty and the previous one has "
                                                    "no ROTATE record")
                return None
            if not sizes.get(nxt) and nxt <= lsn:
                self.problem(layout.segment_path(nxt), f"empty segment inside the lsn range of "
                                                       f"the previous one (which goes on to lsn "
                                                       f"{lsn}): left by an interrupted "
                                                       "rotation; stream readers would wait in it")
            else:
                self.problem(path, "segment does not end with a ROTATE record but a later "
                                   "segment exists", offset)
            return nxt
        return None

    def _take(self, frame: Frame) -> None:
        """Check one record of the snapshot; keep its operations when it is
        after the manifest."""
        self.report.stats["records"] += 1
        manifest = self.manifest
        if manifest is not None and frame.segment == manifest.segment and \
                frame.end == manifest.offset:
            self.boundary = frame.lsn
        if frame.rtype not in WRITES:
            return
        rel = self._seg_rel.get(frame.segment)
        if rel is None:
            rel = self._seg_rel[frame.segment] = self.rel(
                self.layout.segment_path(frame.segment))
        ops = self._decode(frame, rel)  # older records: checked to be well formed
        if ops is None or frame.lsn <= self.start:
            return
        self.report.stats["replayed_records"] += 1
        origin = f"{rel} at offset {frame.start}"
        tails = self.tail
        for op in ops:
            space = op.space
            if space == SCHEMA:
                continue  # a schema-change mark: no data
            if op.flags & FLAG_DROP_SPACE:
                tails[space] = _Tail(dropped=True)
                continue
            try:
                digest = self._digest(op.pk)
            except Exception:  # noqa: BLE001 - reported
                self.problem(rel, f"operation with partition key {op.pk!r}", frame.start)
                continue
            tail = tails.get(space)
            if tail is None:
                tail = tails[space] = _Tail()
            entries = tail.entries.get(digest)
            if entries is None:
                entries = tail.entries[digest] = {}
                tail.pks[digest] = op.pk
            entries[op.sk] = (op.new, origin)

    def _decode(self, frame: Frame, rel: str) -> list[Op] | None:
        try:
            return decode_record(frame.rtype, frame.body)[1]
        except ValueError as exc:
            self.problem(rel, f"malformed record (lsn {frame.lsn}): {exc}", frame.start)
        except Exception as exc:  # noqa: BLE001 - reported as a problem
            self.problem(rel, f"malformed record (lsn {frame.lsn}): "
                              f"{type(exc).__name__}: {exc}", frame.start)
        return None

    def _digest(self, pk: Any) -> str:
        """``partition_digest(pk)``, memoised (index partition keys repeat)."""
        digest = self._digests.get(pk)
        if digest is None:
            if len(self._digests) > 100_000:
                self._digests.clear()
            digest = self._digests[pk] = partition_digest(pk)
        return digest

    # ------------------------------------------------------------- manifest

    def check_manifest(self) -> None:
        path = self.layout.manifest
        if self.manifest_error is not None:
            self.problem(path, self.manifest_error)
            return
        if self.manifest_raw is None:
            if self.segments and self.segments[0] != 1:
                self.problem(self.layout.wal, f"no manifest, and the log starts at lsn "
                                              f"{self.segments[0]}: records before it are lost")
            return
        if self.manifest_problem is not None:
            exc = self.manifest_problem
            self.problem(path, exc.reason, exc.offset)
            return
        manifest = self.manifest
        assert manifest is not None
        self.report.stats["checkpoint_lsn"] = manifest.lsn
        self.report.stats["partitions"] = sum(len(s) for s in manifest.spaces.values())
        if not self.segments:
            return
        if manifest.segment not in self.sizes:
            self.problem(path, f"names log segment {manifest.segment}, which does not exist", 0)
            return
        if manifest.lsn > self.last_lsn:
            self.problem(path, f"checkpoint lsn {manifest.lsn} is beyond the log's last record "
                               f"{self.last_lsn}", 0)
        before = self.boundary
        if before is None:
            self.problem(path, f"offset {manifest.offset} is not a record boundary of segment "
                               f"{manifest.segment:020d}.log", 0)
        elif before != manifest.lsn:
            self.problem(path, f"the record ending at offset {manifest.offset} of segment "
                               f"{manifest.segment:020d}.log has lsn {before}, the manifest "
                               f"says {manifest.lsn}", 0)

    # ------------------------------------------------------------ partitions

    def check_data_files(self) -> None:
        """The listing of ``data/`` the snapshot took: files no manifest names."""
        named = self.manifest.files() if self.manifest is not None else set()
        for path, space, name, note in self.data_files:
            if space is None or name is None:
                base = os.path.basename(path)
                self.warn(path, "temporary file left by a crash" if base.startswith(fs.TEMP_PREFIX)
                          else note)
                continue
            self.report.stats["partition_files"] += 1
            if (space, name) not in named:
                self.warn(path, "not named by the manifest: left by a checkpoint a crash "
                                "interrupted (removed at the next writable open)")

    def read_partition(self, space: str, span: Span, end: Bound | None, verify: bool
                       ) -> list[Part] | None:
        """Decode the file of ``span`` and (when ``verify``) check it against
        the manifest; ``None`` when it cannot be read (a problem).

        Raises:
            _Vanished: a checkpoint replaced it since the snapshot.
        """
        path = self.layout.partition_path(space, span.file)
        manifest = self.manifest
        assert manifest is not None
        try:
            data = fs.read_file(path)
        except FileNotFoundError:
            if not self.locked and self.manifest_changed():
                raise _Vanished from None
            if verify:
                self.problem(path, "named by the manifest but missing")
            return None
        except OSError as exc:
            if verify:
                self.problem(path, f"unreadable: {exc}")
            return None
        try:
            lsn, parts = decode_part(data, path)
        except CorruptFileError as exc:
            if verify:
                self.problem(path, exc.reason, exc.offset)
            return None
        except Exception as exc:  # noqa: BLE001 - decode_part must not raise these; report anyway
            if verify:
                self.problem(path, f"cannot decode: {type(exc).__name__}: {exc}", 0)
            return None
        del data
        if not verify:
            return parts
        if lsn != span.lsn:
            self.problem(path, f"file lsn {lsn}, the manifest says {span.lsn}", 0)
        if lsn > manifest.lsn:
            self.problem(path, f"file lsn {lsn} is beyond the manifest's {manifest.lsn}", 0)
        count = sum(len(p.items) for p in parts)
        size = sum(len(v) for p in parts for v in dict.values(p.items))
        if (count, size) != (span.item_count, span.size):
            self.problem(path, f"holds {count} items of {size} bytes, the manifest says "
                               f"{span.item_count} of {span.size}", 0)
        for part in parts:
            keys = part.items.keys()
            low = bound_of(part.digest, keys[0]) if keys else collection_start(part.digest)
            high = bound_of(part.digest, keys[-1]) if keys else low
            try:
                inside = span.start <= low and (end is None or high < end)
            except TypeError:
                inside = False
            if not inside:
                self.problem(path, f"collection {part.digest} lies outside the partition's key "
                                   "range", 0)
            if key_type(part.pk) is None:
                self.problem(path, f"partition key {part.pk!r} is not a key value", 0)
                continue
            try:
                digest = partition_digest(part.pk)
            except Exception as exc:  # noqa: BLE001 - reported as a problem
                self.problem(path, f"partition key {part.pk!r} cannot be hashed: {exc}", 0)
                continue
            if digest != part.digest:
                self.problem(path, f"partition key {part.pk!r} does not belong under digest "
                                   f"{part.digest} (its digest is {digest})", 0)
        return parts

    def walk(self, space: str, verify: bool, owned: bool = True) -> Iterator[_Piece]:
        """The item collections of ``space`` in key order, as any process sees
        them (its partition files merged with the log after the manifest),
        one partition file at a time: the non-empty pieces of each partition.
        With ``verify``, check each file (else problems were reported by an
        earlier walk); with ``owned`` false, only check the files."""
        manifest = self.manifest
        spans = manifest.spaces.get(space, []) if manifest is not None else []
        tail = self.tail.get(space) if owned else None
        ignore_files = tail is not None and tail.dropped  # dropped after the manifest
        if not spans:
            if tail is not None:
                yield from self._merge(space, [], "", tail, MIN_BOUND, None)
            return
        ends: list[Bound | None] = [span.start for span in spans[1:]]
        ends.append(None)
        for span, end in zip(spans, ends):
            parts = self.read_partition(space, span, end, verify)
            if not owned:
                continue
            if parts is None or ignore_files:
                parts = []
            origin = self.rel(self.layout.partition_path(space, span.file))
            yield from self._merge(space, parts, origin, tail, span.start, end)

    def _merge(self, space: str, parts: list[Part], origin: str, tail: _Tail | None,
               start: Bound, end: Bound | None) -> Iterator[_Piece]:
        """The pieces of one partition's key range: its file's collections
        merged with the tail's changes in that range, in digest order."""
        changed: list[str] = []
        if tail is not None:
            digests = tail.sorted_digests()
            lo = bisect.bisect_left(digests, start[0])
            hi = len(digests) if end is None else bisect.bisect_right(digests, end[0])
            changed = digests[lo:hi]
        if not changed:
            for part in parts:
                if part.items:
                    yield _Piece(part.digest, part.pk, part.items, origin, None, start, end,
                                 len(part.items))
            return
        assert tail is not None
        by_digest = {part.digest: part for part in parts}
        for digest in sorted(by_digest.keys() | set(changed)):
            found = by_digest.get(digest)
            changes = tail.entries.get(digest)
            if changes is not None:
                changes = _in_range(digest, changes, start, end)
            items = found.items if found is not None else None
            count = len(items) if items is not None else 0
            if changes:
                for sk, (data, _) in changes.items():
                    present = items is not None and sk in items
                    if data is None:
                        count -= present
                    elif not present:
                        count += 1
            else:
                changes = None
            if count > 0:
                pk = found.pk if found is not None else tail.pks[digest]
                yield _Piece(digest, pk, items, origin, changes, start, end, count)

    def walk_spaces(self) -> None:
        """Walk every space once: the files, the items, the tokens, the
        indexes' digests, and (for :func:`check`) this process's view."""
        stats = self.report.stats
        for table in self.tables.values():
            stats["tables"].setdefault(table.schema.name, 0)
            for index in table.indexes.values():
                stats["index_entries"][table.index_label(index)] = 0
            for index in table.live:
                self.expected[index.space] = _Digest()
                self.actual[index.space] = _Digest()
        spaces = set(self.by_space) | {TOKENS} | set(self.tail)
        if self.manifest is not None:
            for space in self.manifest.spaces:
                spaces.add(space)
                if space not in self.by_space and space != TOKENS:
                    self.warn(self.layout.space_dir(space), "files of a table or index "
                                                            "meta.json does not list (dropped: "
                                                            "the next checkpoint removes them)")
        self.view = self._start_view()
        for space in sorted(spaces - {SCHEMA}):
            owner = self.by_space.get(space)
            owned = owner is not None or space == TOKENS
            view = self.view if owned and self.view is not None and self.view.live else None
            if view is not None:
                view.begin(space)
            if space == TOKENS:
                visit: Callable[[_Piece], None] = self._visit_tokens
            elif owner is None:
                visit = _ignore
            elif owner[1] is None:
                visit = self._table_visitor(owner[0])
            else:
                visit = self._index_visitor(owner[0], owner[1])
            for piece in self.walk(space, verify=True, owned=owned):
                visit(piece)
                if view is not None:
                    view.piece(piece)
            if view is not None:
                view.end()
        stats["items"] = sum(stats["tables"].values())

    # ------------------------------------------------------------ the items

    def _load(self, serializer: Serializer, data: bytes, origin: str) -> Any:
        try:
            return serializer.loads(data)
        except UnsafeDataError as exc:
            self.problem(origin, f"item data refused: {exc.reason}", kind="unsafe data")
        except CorruptFileError as exc:  # a serializer's own word for bytes it cannot decode
            self.problem(origin, f"item data cannot be decoded: {exc.reason}",
                         kind="undecodable item")
        except Exception as exc:  # noqa: BLE001 - reported as a problem
            self.problem(origin, f"item data cannot be decoded: {type(exc).__name__}: "
                                 f"{exc}", kind="undecodable item")
        return _BAD

    def _table_visitor(self, table: _Table) -> Callable[[_Piece], None]:
        stats = self.report.stats
        name = table.schema.name
        previous: list[str] = [""]

        def visit(piece: _Piece) -> None:
            if piece.digest != previous[0]:  # a collection split over partitions counts once
                previous[0] = piece.digest
                stats["collections"] += 1
            stats["tables"][name] += piece.n_items
            pk = piece.pk
            for sk, data, origin in piece.entries():
                item = self._check_item(table, pk, sk, data, origin)
                if item is not _BAD and table.index_set is not None:
                    self._expect(table, pk, sk, data, origin, item)

        return visit

    def _check_item(self, table: _Table, pk: Any, sk: Any, data: bytes, where: str) -> Any:
        """Check one item; return it loaded (``_BAD`` when it is not a good item)."""
        schema = table.schema
        pk_attr, sk_attr = schema.pk_attribute, schema.sk_attribute
        types = schema.key_types
        code = key_type(pk)
        if types.get(pk_attr) != code:
            self.problem(where, f"partition key {pk!r} has type {code}, meta.json fixes "
                                f"{pk_attr!r} to {types.get(pk_attr)!r}", kind="key type")
        if sk_attr is None:
            if sk != "":
                self.problem(where, f"sort key {sk!r} in a table without a sort key",
                             kind="key type")
        else:
            code = key_type(sk)
            if types.get(sk_attr) != code:
                self.problem(where, f"sort key {sk!r} has type {code}, meta.json fixes "
                                    f"{sk_attr!r} to {types.get(sk_attr)!r}", kind="key type")
        if table.serializer is None:
            return _BAD
        item = self._load(table.serializer, data, where)
        if item is _BAD:
            return _BAD
        if not isinstance(item, dict):
            self.problem(where, f"item under ({pk!r}, {sk!r}) is a {type(item).__name__}, not "
                                "a dict", kind="item shape")
            return _BAD
        if not _same_key(item.get(pk_attr, _BAD), pk) or (
                sk_attr is not None and not _same_key(item.get(sk_attr, _BAD), sk)):
            self.problem(where, f"item stored under ({pk!r}, {sk!r}) has key "
                                f"({item.get(pk_attr)!r}, "
                                f"{item.get(sk_attr) if sk_attr else None!r})", kind="item key")
            return _BAD
        return item

    def _quiet_item(self, table: _Table, pk: Any, sk: Any, data: bytes) -> Any:
        """The item, as :meth:`_check_item` would return it, reporting nothing."""
        schema = table.schema
        if table.serializer is None:
            return _BAD
        try:
            item = table.serializer.loads(data)
        except Exception:  # noqa: BLE001 - reported by the first walk
            return _BAD
        if not isinstance(item, dict):
            return _BAD
        if not _same_key(item.get(schema.pk_attribute, _BAD), pk) or (
                schema.sk_attribute is not None
                and not _same_key(item.get(schema.sk_attribute, _BAD), sk)):
            return _BAD
        return item

    def _expect(self, table: _Table, pk: Any, sk: Any, data: bytes, origin: str,
                item: Any) -> None:
        """Add the index entries ``item`` implies to its indexes' expected digests."""
        index_set = table.index_set
        assert index_set is not None
        for index in table.live:
            try:
                key = index.entry_key(item, pk, sk, table.types)
            except DynafileError as exc:
                self.problem(origin, f"item ({pk!r}, {sk!r}) cannot be in index "
                                     f"{index.name!r}: {exc}", kind=f"index {index.name}")
                continue
            if key is None:
                continue
            ipk, entry_key = key
            try:
                entry = index_set.project(index, item, data)
            except Exception as exc:  # noqa: BLE001 - reported as a problem
                self.problem(origin, f"cannot project item ({pk!r}, {sk!r}) into "
                                     f"index {index.name!r}: {exc}", kind=f"index {index.name}")
                continue
            self.expected[index.space].add(self._digest(ipk), ipk, entry_key, entry)

    def _visit_tokens(self, piece: _Piece) -> None:
        for token, data, origin in piece.entries():
            try:
                record = json.loads(bytes(data))
                ok = isinstance(record, dict) and "request" in record and "time" in record
            except ValueError:
                ok = False
            if not ok:
                self.problem(origin, f"transaction token {token!r} holds no valid "
                                     "record", kind="token")

    # ------------------------------------------------------------ the indexes

    def _index_visitor(self, table: _Table, index: Index) -> Callable[[_Piece], None]:
        stats = self.report.stats["index_entries"]
        label = table.index_label(index)
        actual = self.actual.get(index.space)

        def visit(piece: _Piece) -> None:
            stats[label] += piece.n_items
            if actual is not None:
                digest, pk = piece.digest, piece.pk
                for sk, data, _ in piece.entries():
                    actual.add(digest, pk, sk, data)

        return visit

    def check_indexes(self) -> None:
        """Compare each live index's digest with the one its table implies;
        list the entries that differ where they do."""
        for table in self.tables.values():
            differing: dict[str, set[int]] = {}
            for index in table.live:
                buckets = self.expected[index.space].differing(self.actual[index.space])
                if buckets:
                    differing[index.space] = buckets
            if differing:
                self._diagnose(table, differing)

    def _diagnose(self, table: _Table, differing: dict[str, set[int]]) -> None:
        """The second pass for the indexes of ``table`` whose digests differ:
        hold the entries of the differing buckets, expected and held, and
        report each difference. O(those entries)."""
        serializer, index_set = table.serializer, table.index_set
        assert serializer is not None and index_set is not None
        types = KeyTypes(dict(table.schema.key_types))  # as the first walk fixed them
        expected: dict[Slot, dict[Any, tuple[bytes, str]]] = {}
        expected_pk: dict[Slot, Any] = {}
        for piece in self.walk(table.schema.space, verify=False):
            pk = piece.pk
            for sk, data, origin in piece.entries():
                item = self._quiet_item(table, pk, sk, data)
                if item is _BAD:
                    continue
                for index in table.live:
                    try:
                        key = index.entry_key(item, pk, sk, types)
                    except DynafileError:
                        continue  # reported by the first walk
                    buckets = differing.get(index.space)
                    if key is None or buckets is None:
                        continue
                    ipk, entry_key = key
                    digest = self._digest(ipk)
                    if _BUCKET_OF.get(digest[:2], 0) not in buckets:
                        continue
                    entry = _project(index_set, index, item, data)
                    if entry is not None:  # else reported by the first walk
                        slot = (index.space, digest)
                        expected.setdefault(slot, {})[entry_key] = (entry, origin)
                        expected_pk[slot] = ipk
        for index in table.live:
            space = index.space
            buckets = differing.get(space)
            if buckets is None:
                continue
            held: dict[Slot, dict[Any, tuple[bytes, str]]] = {}
            held_pk: dict[Slot, Any] = {}
            for piece in self.walk(space, verify=False):
                if _BUCKET_OF.get(piece.digest[:2], 0) not in buckets:
                    continue
                slot = (space, piece.digest)
                held_pk.setdefault(slot, piece.pk)
                entries = held.setdefault(slot, {})
                for sk, data, origin in piece.entries():
                    entries[sk] = (data, origin)
            self._report_index(index, serializer, expected, expected_pk, held, held_pk)

    def _report_index(self, index: Index, serializer: Serializer,
                      expected: dict[Slot, dict[Any, tuple[bytes, str]]],
                      expected_pk: dict[Slot, Any],
                      held: dict[Slot, dict[Any, tuple[bytes, str]]],
                      held_pk: dict[Slot, Any]) -> None:
        space = index.space
        slots = {s for s in expected if s[0] == space} | set(held)
        kind = f"index {index.name}"
        where = self.rel(self.layout.space_dir(space))
        for slot in sorted(slots):
            want = expected.get(slot, {})
            have = held.get(slot, {})
            if have and slot in expected_pk and not _same_key(held_pk.get(slot),
                                                              expected_pk[slot]):
                self.problem(where, f"index partition key {held_pk.get(slot)!r}, "
                                    f"expected {expected_pk[slot]!r}", kind=kind)
            for key in want.keys() - have.keys():
                self.problem(where, f"index {index.name!r} lacks the entry {key!r} of the "
                                    f"item at {want[key][1]}", kind=kind)
            for key in have.keys() - want.keys():
                self.problem(have[key][1], f"index {index.name!r} holds entry {key!r} "
                                           "that no table item implies", kind=kind)
            for key in want.keys() & have.keys():
                data, origin = want[key]
                got, got_origin = have[key]
                if bytes(got) == bytes(data):
                    continue
                entry = self._load(serializer, got, got_origin)  # reports refused data
                if entry is _BAD:
                    continue
                try:
                    same = entry == serializer.loads(data)
                except Exception:  # noqa: BLE001 - reported as a problem
                    same = False
                if not same:
                    self.problem(got_origin, f"index {index.name!r} entry {key!r} "
                                             f"differs from the item at {origin}", kind=kind)

    # ------------------------------------------------ the open database's view

    def _start_view(self) -> _View | None:
        """The comparison with the open database, when it can run: the engine
        caught up with exactly the snapshot, and nothing is wrong so far."""
        engine = self.engine
        if engine is None or self.engine_error is not None or not self.segments:
            return None
        if self.engine_lsn != self.last_lsn or self.report.problems:
            return None
        last = self.segments[-1]
        return _View(self, engine, self.engine_lsn, self.layout.segment_path(last),
                     self.sizes[last])

    def compare_view(self) -> None:
        """Report the comparison with the open database (only when the files
        hold no problem, as a broken file makes the two differ)."""
        engine = self.engine
        if engine is None or self.report.problems:
            return
        if self.engine_error is not None:
            exc = self.engine_error
            self.problem(getattr(exc, "path", "") or self.root,
                         f"this process cannot catch up with the log: {exc}")
            return
        if self.engine_lsn != self.last_lsn:
            self.problem(self.layout.wal,
                         f"this process has applied lsn {self.engine_lsn}, the log ends at "
                         f"{self.last_lsn}")
            return
        view = self.view
        if view is None:
            return
        for path, reason in view.problems:
            self.problem(path, reason, kind="in-memory view")
        if view.more:
            self._counts["in-memory view"] = self._counts.get("in-memory view", 0) + view.more
        if not view.live:
            self.warn(self.layout.wal, f"the database changed during the check (after lsn "
                                       f"{view.lsn}): this process's view was compared with "
                                       f"the files for the first {view.compared} item "
                                       "collections only")


class _View:
    """Compares the open database's collections (``engine.scan``) with the
    walk, by digest, one step (a piece, or a collection only the engine
    has) at a time under the thread lock, while nothing changed since the
    snapshot (see the module's docstring)."""

    def __init__(self, checker: _Checker, engine: Engine, lsn: int, segment: str,
                 size: int) -> None:
        self.checker = checker
        self.engine = engine
        self.lsn = lsn
        self.segment = segment
        self.size = size
        self.live = True  # nothing changed since the snapshot
        self.compared = 0  # item collections compared
        self.problems: list[tuple[str, str]] = []
        self.more = 0  # problems beyond the ones listed
        self.space = ""
        self._it: Iterator[tuple[str, Any]] | None = None
        self._cur: tuple[str, Any] | None = None  # the engine's next collection
        self._ranges: list[tuple[Bound, Bound | None]] = []  # compared parts of it
        self._failed = False
        self._pending: list[Any] | None = None  # [digest, missing, extra, different]

    def _changed(self) -> bool:
        if self.engine.lsn != self.lsn:
            return True
        try:
            return os.path.getsize(self.segment) != self.size
        except OSError:
            return True

    def _step(self, work: Callable[[list[tuple[str, list[Any], list[Any], list[Any]]]], None]
              ) -> None:
        """Run ``work`` under the thread lock; keep what it found only when
        nothing changed before or after it."""
        if not self.live or self._failed:
            return
        found: list[tuple[str, list[Any], list[Any], list[Any]]] = []
        with self.engine.lock.thread_lock:
            if self._changed():
                self.live = False
                return
            work(found)
            if self._changed():
                self.live = False
                return
        for digest, missing, extra, different in found:
            pending = self._pending
            if pending is not None and pending[0] == digest:
                for at, keys in ((1, missing), (2, extra), (3, different)):
                    pending[at].extend(keys[:5 - len(pending[at])])
                continue
            self._flush()
            self.compared += 1
            self._pending = [digest, missing[:5], extra[:5], different[:5]]

    def _flush(self) -> None:
        pending, self._pending = self._pending, None
        if pending is None or not (pending[1] or pending[2] or pending[3]):
            return
        if len(self.problems) >= _PER_KIND:
            self.more += 1
            return
        digest, missing, extra, different = pending
        self.problems.append((
            self.checker.rel(self.checker.layout.space_dir(self.space)),
            (f"this process's view of collection {digest} differs from the files and the log: "
             f"missing {missing!r}, extra {extra!r}, different {different!r}")))

    def _advance(self) -> None:
        assert self._it is not None
        self._ranges = []
        try:
            self._cur = next(self._it, None)
        except DynafileError as exc:
            self._cur = None
            self._failed = True
            if len(self.problems) < _PER_KIND:
                self.problems.append((getattr(exc, "path", "") or self.checker.root,
                                      f"this process cannot load the partition: {exc}"))
            else:
                self.more += 1

    def _leave(self, found: list[Any]) -> None:
        """Done with the engine's current collection: what of it no piece covered."""
        assert self._cur is not None
        digest, collection = self._cur
        items = collection.items
        ranges = self._ranges
        if not ranges:
            if items:
                found.append((digest, [], list(items)[:5], []))
            return
        if sum(len(_engine_range(items, digest, s, e)) for s, e in ranges) < len(items):
            extra = [sk for sk in items
                     if not any(_inside(digest, sk, s, e) for s, e in ranges)]
            found.append((digest, [], extra[:5], []))

    def begin(self, space: str) -> None:
        self.space = space
        self._it = self._cur = None
        self._ranges = []
        self._failed = False
        self._pending = None

    def piece(self, piece: _Piece) -> None:
        def work(found: list[Any]) -> None:
            digest = piece.digest
            if self._it is None:
                self._it = iter(self.engine.scan(self.space))
                self._advance()
            while self._cur is not None and self._cur[0] < digest:
                self._leave(found)
                self._advance()
            if self._failed:
                return
            want = {sk: data for sk, data, _ in piece.entries()}
            have: Any = {}
            if self._cur is not None and self._cur[0] == digest:
                have = _engine_range(self._cur[1].items, digest, piece.start, piece.end)
                self._ranges.append((piece.start, piece.end))
            if len(have) == len(want) and all(k in want and have[k] == want[k] for k in have):
                found.append((digest, [], [], []))
                return
            found.append((digest, [k for k in want if k not in have][:5],
                          [k for k in have if k not in want][:5],
                          [k for k in have if k in want and have[k] != want[k]][:5]))

        self._step(work)

    def end(self) -> None:
        """The collections only the engine has, after the walk's last piece."""
        def work(found: list[Any]) -> None:
            if self._it is None:
                self._it = iter(self.engine.scan(self.space))
                self._advance()
            if self._cur is not None:
                self._leave(found)
                self._advance()

        while self.live and not self._failed and (self._it is None or self._cur is not None):
            self._step(work)
        if self.live:
            self._flush()
        self._it = self._cur = None


def _project(index_set: IndexSet, index: Index, item: Any, data: bytes) -> bytes | None:
    """The entry bytes of ``item`` in ``index``; ``None`` when it cannot be projected."""
    try:
        return index_set.project(index, item, data)
    except Exception:  # noqa: BLE001 - the first walk reports it
        return None


def _ignore(piece: _Piece) -> None:
    """The pieces of a space no table owns: its files are checked, nothing else."""


def _inside(digest: str, sk: Any, start: Bound, end: Bound | None) -> bool:
    bound = bound_of(digest, sk)
    try:
        return start <= bound and (end is None or bound < end)
    except TypeError:
        return False


def _in_range(digest: str, changes: dict[Any, Any], start: Bound, end: Bound | None
              ) -> dict[Any, Any]:
    """The changes to collection ``digest`` that fall in ``[start, end)``."""
    if start[0] != digest and (end is None or end[0] != digest):
        return changes
    first = not (start[0] == digest and start[1] == 1)  # where the collection starts
    out = {}
    for sk, change in changes.items():
        bound = bound_of(digest, sk)
        try:
            inside = start <= bound and (end is None or bound < end)
        except TypeError:
            inside = first
        if inside:
            out[sk] = change
    return out


def _engine_range(items: Any, digest: str, start: Bound, end: Bound | None) -> Any:
    """The items of an engine collection (a SortedDict) in ``[start, end)``."""
    low = start[2] if start[0] == digest and start[1] == 1 else None
    high = end[2] if end is not None and end[0] == digest and end[1] == 1 else None
    if low is None and high is None:
        return items
    try:
        keys = list(items.irange(low, high, inclusive=(True, False)))
    except TypeError:
        return items
    return {k: items[k] for k in keys}


class _Bad:
    def __repr__(self) -> str:
        return "<undecodable>"


_BAD: Any = _Bad()


def _same_key(value: Any, stored: Any) -> bool:
    """Whether an item's key attribute value is the normalised key it is stored under."""
    if value is _BAD or key_type(value) is None:
        return False
    try:
        check_key_value("key", value)
        normal = normalize_key(value)
    except DynafileError:
        return False
    return type(normal) is type(stored) and normal == stored
