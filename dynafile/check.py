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

Nothing is written. The database's shared lock is held while the files are
read, so writers (in any process) wait and the files are seen in one state.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any, NamedTuple

from .errors import CorruptFileError, DynafileError, UnsupportedFormatError
from .indexes import Index, IndexSet, index_from_json
from .keys import check_key_value, key_type, normalize_key, partition_digest
from .schema import Catalog, KeyTypes, Schema
from .serialization import Serializer, get_serializer
from .storage import fs
from .storage.layout import SCHEMA, TOKENS, Layout, segment_lsn
from .storage.locking import TableLock
from .storage.log import FLAG_DROP_SPACE, WRITES, LogReader, Op, decode_record
from .storage.manifest import Bound, Manifest, bound_of, collection_start
from .storage.partition import decode_part

if TYPE_CHECKING:  # pragma: no cover
    from .core import DatabaseCore, TableCore

__all__ = ["CheckReport", "check", "check_database", "check_path"]

#: Per kind of repeated problem (one index's missing entries, say), how many
#: are listed before the rest are summed up in one line.
_PER_KIND = 20

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

    Holds the database's shared lock (and its thread lock) while reading, so
    writers of this and other processes wait. Reads only; never repairs.

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

    Cost: reads every file of the database: O(database).
    """
    core.check_open()
    with core.engine.lock.thread_lock, core.engine.lock.shared():
        checker = _Checker(core.layout, None, serializers or {})
        checker.run()
        if not checker.report.problems:
            checker.compare_engine(core)
    return checker.finish()


def check_path(
    path: str | os.PathLike[str],
    *,
    serializer: Serializer | None = None,
    lock_timeout: float | None = 60.0,
) -> CheckReport:
    """Verify every file of the database in directory ``path`` without opening it.

    Works on databases that cannot be opened (a corrupt log, say), and on
    read-only directories. Takes a shared lock on ``LOCK`` when that file
    exists, so no writer changes the files meanwhile.

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

    Cost: reads every file of the database: O(database).
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
        checker = _Checker(layout, serializer, {})
        if lock is None:
            checker.warn("LOCK", "no usable LOCK file: checked without locking")
            checker.run()
        else:
            with lock.shared():
                checker.run()
    finally:
        if lock is not None:
            lock.close()
    return checker.finish()


# ---------------------------------------------------------------------------


class _Frame(NamedTuple):
    lsn: int
    rtype: int
    body: bytes
    start: int
    path: str


class _Entry:
    """One key of a collection in the computed state: its bytes and where they came from."""

    __slots__ = ("data", "origin")

    def __init__(self, data: bytes, origin: str) -> None:
        self.data = data
        self.origin = origin


class _Table:
    """What the check knows of one table of ``meta.json``."""

    def __init__(self, schema: Schema, serializer: Serializer | None, label: str) -> None:
        self.schema = schema
        self.serializer = serializer
        self.label = label  # how the report names it in index names ("" alone)
        self.indexes: dict[str, Index] = {}  # space -> live index definition
        self.creating: set[str] = set()  # spaces of GSIs still backfilling
        self.items: list[tuple[Any, Any, _Entry, Any]] = []

    def index_label(self, index: Index) -> str:
        return f"{self.label}.{index.name}" if self.label else index.name


class _Checker:
    def __init__(self, layout: Layout, serializer: Serializer | None,
                 serializers: dict[str, Serializer]) -> None:
        self.layout = layout
        self.root = layout.root
        self.report = CheckReport(layout.root)
        self.serializer = serializer
        self.serializers = serializers
        self.tables: dict[str, _Table] = {}  # table space -> table
        self.by_space: dict[str, tuple[_Table, Index | None]] = {}  # every live space
        self.catalog: Catalog | None = None
        self.manifest: Manifest | None = None
        self.frames: list[_Frame] = []
        self.boundaries: dict[tuple[int, int], int] = {}  # (segment, offset) -> lsn before it
        self.segments: list[int] = []
        self.last_lsn = 0
        self.files: dict[str, list[tuple[Bound, int, list[Any], str]]] = {}
        self.state: dict[Slot, dict[Any, _Entry]] = {}
        self.state_pk: dict[Slot, Any] = {}
        self._counts: dict[str, int] = {}

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

    # ------------------------------------------------------------------ run

    def run(self) -> None:
        self.read_meta()
        self.read_log()
        self.read_manifest()
        self.read_partitions()
        self.build_state()
        self.check_items()
        self.check_indexes()

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

    def _serializer_of(self, path: str, schema: Schema) -> Serializer | None:
        given = self.serializers.get(schema.name) or self.serializer
        if given is not None and given.name == schema.serializer:
            return given
        try:
            return get_serializer(schema.serializer)
        except DynafileError:
            self.warn(path, f"table {schema.name}: serializer {schema.serializer!r} is not "
                            "built in: its items are not decoded (pass serializer=)")
            return None

    # ------------------------------------------------------------------- log

    def read_log(self) -> None:
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
        sizes = {}
        for first in segments:
            try:
                sizes[first] = os.path.getsize(layout.segment_path(first))
            except OSError as exc:
                self.problem(layout.segment_path(first), f"unreadable: {exc}")
                return
        self.report.stats["log_bytes"] = sum(sizes.values())
        for first in segments:
            self.boundaries[(first, 0)] = first - 1  # a segment is named by its first lsn
        start: int | None = segments[0]
        while start is not None:
            start = self._read_segments(start, segments, sizes)
        self.report.stats["lsn"] = self.last_lsn

    def _read_segments(self, first: int, segments: list[int], sizes: dict[int, int]
                       ) -> int | None:
        """Read the log from segment ``first`` as far as it goes; return the
        segment to go on from after a problem, or ``None`` when done."""
        layout = self.layout
        try:
            reader = LogReader(layout, first, 0, first - 1)
        except (OSError, CorruptFileError) as exc:
            self.problem(layout.segment_path(first), f"unreadable: {exc}")
            return None
        try:
            frames = reader.read(strict=False)
        finally:
            reader.close()
        for frame in frames:
            self.boundaries[(frame.segment, frame.end)] = frame.lsn
            self.frames.append(_Frame(frame.lsn, frame.rtype, frame.body, frame.start,
                                      layout.segment_path(frame.segment)))
            self.last_lsn = max(self.last_lsn, frame.lsn)
        self.report.stats["records"] += len(frames)
        if not frames:
            self.last_lsn = max(self.last_lsn, first - 1)
        later = [s for s in segments if s > reader.segment]
        if reader.error is not None:
            error = reader.error
            self.problem(error.path, error.reason, error.offset)
            return later[0] if later else None
        if reader.gone:
            self.problem(reader.path, "the segment ends with a ROTATE record but the next "
                                      f"segment ({reader.lsn + 1:020d}.log) is missing",
                         sizes.get(reader.segment, 0))
            following = [s for s in segments if s > reader.lsn]
            return following[0] if following else None
        if reader.tail is not None:
            size = sizes.get(reader.segment, reader.tail)
            self.warn(reader.path, f"torn tail of {size - reader.tail} bytes at offset "
                                   f"{reader.tail}: a write that was never acknowledged (the next "
                                   "writer cuts it)")
        if later:
            nxt = later[0]
            if len(later) == 1 and not sizes.get(nxt) and nxt == reader.lsn + 2:
                self.warn(layout.segment_path(nxt), "a segment rotation was interrupted: this "
                                                    "segment is empty and the previous one has "
                                                    "no ROTATE record")
                return None
            if not sizes.get(nxt) and nxt <= reader.lsn:
                self.problem(layout.segment_path(nxt), f"empty segment inside the lsn range of "
                                                       f"the previous one (which goes on to lsn "
                                                       f"{reader.lsn}): left by an interrupted "
                                                       "rotation; stream readers would wait in it")
            else:
                self.problem(reader.path, "segment does not end with a ROTATE record but a later "
                                          "segment exists", reader.offset)
            return nxt
        return None

    # ------------------------------------------------------------- manifest

    def read_manifest(self) -> None:
        path = self.layout.manifest
        try:
            raw = fs.read_file(path)
        except FileNotFoundError:
            if self.segments and self.segments[0] != 1:
                self.problem(self.layout.wal, f"no manifest, and the log starts at lsn "
                                              f"{self.segments[0]}: records before it are lost")
            return
        except OSError as exc:
            self.problem(path, f"unreadable: {exc}")
            return
        try:
            manifest = Manifest.decode(raw, path)
        except CorruptFileError as exc:
            self.problem(path, exc.reason, exc.offset)
            return
        self.manifest = manifest
        self.report.stats["checkpoint_lsn"] = manifest.lsn
        self.report.stats["partitions"] = sum(len(s) for s in manifest.spaces.values())
        if not self.segments:
            return
        if manifest.segment not in self.segments:
            self.problem(path, f"names log segment {manifest.segment}, which does not exist", 0)
            return
        if manifest.lsn > self.last_lsn:
            self.problem(path, f"checkpoint lsn {manifest.lsn} is beyond the log's last record "
                               f"{self.last_lsn}", 0)
        before = self.boundaries.get((manifest.segment, manifest.offset))
        if before is None:
            self.problem(path, f"offset {manifest.offset} is not a record boundary of segment "
                               f"{manifest.segment:020d}.log", 0)
        elif before != manifest.lsn:
            self.problem(path, f"the record ending at offset {manifest.offset} of segment "
                               f"{manifest.segment:020d}.log has lsn {before}, the manifest "
                               f"says {manifest.lsn}", 0)

    # ------------------------------------------------------------ partitions

    def read_partitions(self) -> None:
        named = self.manifest.files() if self.manifest is not None else set()
        for found in self.layout.walk():
            if found.space is None or found.name is None:
                name = os.path.basename(found.path)
                note = ("temporary file left by a crash" if name.startswith(fs.TEMP_PREFIX)
                        else found.note)
                self.warn(found.path, note)
                continue
            self.report.stats["partition_files"] += 1
            if (found.space, found.name) not in named:
                self.warn(found.path, "not named by the manifest: left by a checkpoint a crash "
                                      "interrupted (removed at the next writable open)")
        if self.manifest is None:
            return
        for space, spans in sorted(self.manifest.spaces.items()):
            if space not in self.by_space and space != TOKENS:
                self.warn(self.layout.space_dir(space), "files of a table or index meta.json "
                                                        "does not list (dropped: the next "
                                                        "checkpoint removes them)")
            ends: list[Bound | None] = [span.start for span in spans[1:]]
            ends.append(None)
            files = self.files[space] = []
            for span, end in zip(spans, ends):
                parts = self.read_partition(space, span, end)
                if parts is not None:
                    files.append((span.start, span.lsn, parts,
                                  self.rel(self.layout.partition_path(space, span.file))))

    def read_partition(self, space: str, span: Any, end: Bound | None) -> list[Any] | None:
        path = self.layout.partition_path(space, span.file)
        assert self.manifest is not None
        try:
            data = fs.read_file(path)
        except FileNotFoundError:
            self.problem(path, "named by the manifest but missing")
            return None
        except OSError as exc:
            self.problem(path, f"unreadable: {exc}")
            return None
        try:
            lsn, parts = decode_part(data, path)
        except CorruptFileError as exc:
            self.problem(path, exc.reason, exc.offset)
            return None
        except Exception as exc:  # noqa: BLE001 - decode_part must not raise these; report anyway
            self.problem(path, f"cannot decode: {type(exc).__name__}: {exc}", 0)
            return None
        if lsn != span.lsn:
            self.problem(path, f"file lsn {lsn}, the manifest says {span.lsn}", 0)
        if lsn > self.manifest.lsn:
            self.problem(path, f"file lsn {lsn} is beyond the manifest's {self.manifest.lsn}", 0)
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

    # ------------------------------------------------------------- the state

    def build_state(self) -> None:
        """Fold the partition files and the log after the manifest into the
        state any process sees, as the engine does."""
        for space, files in self.files.items():
            for _, _, parts, origin in files:
                for part in parts:
                    slot = (space, part.digest)
                    entries = self.state.setdefault(slot, {})
                    self.state_pk.setdefault(slot, part.pk)
                    for sk, data in part.items.items():
                        entries[sk] = _Entry(data, origin)
        start = self.manifest.lsn if self.manifest is not None else 0
        replayed = 0
        for frame in self.frames:
            if frame.rtype not in WRITES:
                continue
            ops = self._decode(frame)  # older records: checked to be well formed
            if ops is None or frame.lsn <= start:
                continue
            replayed += 1
            origin = f"{self.rel(frame.path)} at offset {frame.start}"
            for op in ops:
                if op.space == SCHEMA:
                    continue  # a schema-change mark: no data
                if op.flags & FLAG_DROP_SPACE:
                    for slot in [s for s in self.state if s[0] == op.space]:
                        del self.state[slot]
                        self.state_pk.pop(slot, None)
                    continue
                try:
                    slot = (op.space, partition_digest(op.pk))
                except Exception:  # noqa: BLE001 - reported
                    self.problem(frame.path, f"operation with partition key {op.pk!r}",
                                 frame.start)
                    continue
                entries = self.state.setdefault(slot, {})
                self.state_pk.setdefault(slot, op.pk)
                if op.new is None:
                    entries.pop(op.sk, None)
                else:
                    entries[op.sk] = _Entry(op.new, origin)
        for slot in [s for s, entries in self.state.items() if not entries]:
            del self.state[slot]
            self.state_pk.pop(slot, None)
        self.report.stats["replayed_records"] = replayed

    def _decode(self, frame: _Frame) -> list[Op] | None:
        try:
            return decode_record(frame.rtype, frame.body)[1]
        except ValueError as exc:
            self.problem(frame.path, f"malformed record (lsn {frame.lsn}): {exc}", frame.start)
        except Exception as exc:  # noqa: BLE001 - reported as a problem
            self.problem(frame.path, f"malformed record (lsn {frame.lsn}): "
                                     f"{type(exc).__name__}: {exc}", frame.start)
        return None

    # ------------------------------------------------------------ the items

    def _load(self, serializer: Serializer, entry: _Entry) -> Any:
        try:
            return serializer.loads(entry.data)
        except CorruptFileError as exc:  # UnsafeDataError
            self.problem(entry.origin, f"item data refused: {exc.reason}", kind="unsafe data")
        except Exception as exc:  # noqa: BLE001 - reported as a problem
            self.problem(entry.origin, f"item data cannot be decoded: {type(exc).__name__}: "
                                       f"{exc}", kind="undecodable item")
        return _BAD

    def check_items(self) -> None:
        stats = self.report.stats
        for slot in sorted(self.state):
            space = slot[0]
            if space == TOKENS:
                self._check_tokens(self.state[slot])
                continue
            table = self.tables.get(space)
            if table is None:
                continue  # an index (checked below), or a dropped space
            stats["collections"] += 1
            pk = self.state_pk[slot]
            for sk, entry in self.state[slot].items():
                self._check_item(table, pk, sk, entry)
        for table in self.tables.values():
            stats["tables"].setdefault(table.schema.name, 0)
        stats["items"] = sum(stats["tables"].values())

    def _check_item(self, table: _Table, pk: Any, sk: Any, entry: _Entry) -> None:
        schema = table.schema
        self.report.stats["tables"][schema.name] = self.report.stats["tables"].get(
            schema.name, 0) + 1
        pk_attr, sk_attr = schema.pk_attribute, schema.sk_attribute
        types = schema.key_types
        where = entry.origin
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
            return
        item = self._load(table.serializer, entry)
        if item is _BAD:
            return
        if not isinstance(item, dict):
            self.problem(where, f"item under ({pk!r}, {sk!r}) is a {type(item).__name__}, not "
                                "a dict", kind="item shape")
            return
        if not _same_key(item.get(pk_attr, _BAD), pk) or (
                sk_attr is not None and not _same_key(item.get(sk_attr, _BAD), sk)):
            self.problem(where, f"item stored under ({pk!r}, {sk!r}) has key "
                                f"({item.get(pk_attr)!r}, "
                                f"{item.get(sk_attr) if sk_attr else None!r})", kind="item key")
            return
        table.items.append((pk, sk, entry, item))

    def _check_tokens(self, entries: dict[Any, _Entry]) -> None:
        for token, entry in entries.items():
            try:
                record = json.loads(bytes(entry.data))
                ok = isinstance(record, dict) and "request" in record and "time" in record
            except ValueError:
                ok = False
            if not ok:
                self.problem(entry.origin, f"transaction token {token!r} holds no valid "
                                           "record", kind="token")

    # ------------------------------------------------------------ the indexes

    def check_indexes(self) -> None:
        stats = self.report.stats["index_entries"]
        for table in self.tables.values():
            for index in table.indexes.values():
                stats[table.index_label(index)] = 0
        for slot, items in self.state.items():
            owner = self.by_space.get(slot[0])
            if owner is not None and owner[1] is not None:
                label = owner[0].index_label(owner[1])
                stats[label] += len(items)
        for table in self.tables.values():
            self._check_table_indexes(table)

    def _check_table_indexes(self, table: _Table) -> None:
        schema, serializer = table.schema, table.serializer
        live = [ix for space, ix in table.indexes.items() if space not in table.creating]
        if serializer is None or not live:
            return
        types = KeyTypes(dict(schema.key_types))
        index_set = IndexSet(schema.pk_attribute, schema.sk_attribute, live, serializer.dumps)
        expected: dict[Slot, dict[Any, tuple[bytes, str]]] = {}
        expected_pk: dict[Slot, Any] = {}
        for pk, sk, entry, item in table.items:
            for index in live:
                try:
                    key = index.entry_key(item, pk, sk, types)
                except DynafileError as exc:
                    self.problem(entry.origin, f"item ({pk!r}, {sk!r}) cannot be in index "
                                               f"{index.name!r}: {exc}", kind=f"index {index.name}")
                    continue
                if key is None:
                    continue
                ipk, entry_key = key
                try:
                    data = index_set.project(index, item, entry.data)
                except Exception as exc:  # noqa: BLE001 - reported as a problem
                    self.problem(entry.origin, f"cannot project item ({pk!r}, {sk!r}) into "
                                               f"index {index.name!r}: {exc}",
                                 kind=f"index {index.name}")
                    continue
                slot = (index.space, partition_digest(ipk))
                expected.setdefault(slot, {})[entry_key] = (data, entry.origin)
                expected_pk[slot] = ipk
        for index in live:
            space = index.space
            slots = {s for s in expected if s[0] == space} | {s for s in self.state
                                                             if s[0] == space}
            kind = f"index {index.name}"
            where = self.rel(self.layout.space_dir(space))
            for slot in sorted(slots):
                want = expected.get(slot, {})
                have = self.state.get(slot, {})
                if have and slot in expected_pk and not _same_key(self.state_pk.get(slot),
                                                                  expected_pk[slot]):
                    self.problem(where, f"index partition key {self.state_pk.get(slot)!r}, "
                                        f"expected {expected_pk[slot]!r}", kind=kind)
                for key in want.keys() - have.keys():
                    self.problem(where, f"index {index.name!r} lacks the entry {key!r} of the "
                                        f"item at {want[key][1]}", kind=kind)
                for key in have.keys() - want.keys():
                    self.problem(have[key].origin, f"index {index.name!r} holds entry {key!r} "
                                                   "that no table item implies", kind=kind)
                for key in want.keys() & have.keys():
                    data, origin = want[key]
                    got = have[key]
                    if bytes(got.data) == bytes(data):
                        continue
                    entry = self._load(serializer, got)  # reports refused / undecodable data
                    if entry is _BAD:
                        continue
                    try:
                        same = entry == serializer.loads(data)
                    except Exception:  # noqa: BLE001 - reported as a problem
                        same = False
                    if not same:
                        self.problem(got.origin, f"index {index.name!r} entry {key!r} "
                                                 f"differs from the item at {origin}", kind=kind)

    # ------------------------------------------------ the open database's view

    def compare_engine(self, core: DatabaseCore) -> None:
        """Compare the open database's collections (cache + overlay) with the files."""
        engine = core.engine
        try:
            engine.refresh()
        except DynafileError as exc:
            self.problem(getattr(exc, "path", "") or self.root,
                         f"this process cannot catch up with the log: {exc}")
            return
        if engine.lsn != self.last_lsn:
            self.problem(self.layout.wal,
                         f"this process has applied lsn {engine.lsn}, the log ends at "
                         f"{self.last_lsn}")
        for space in sorted(set(self.by_space) | {TOKENS}):
            seen: set[str] = set()
            try:
                for digest, collection in engine.scan(space):
                    seen.add(digest)
                    self._compare((space, digest), collection.items)
            except DynafileError as exc:
                self.problem(getattr(exc, "path", self.root),
                             f"this process cannot load the partition: {exc}",
                             kind="in-memory view")
                continue
            for slot in self.state:
                if slot[0] == space and slot[1] not in seen:
                    self._compare(slot, {})

    def _compare(self, slot: Slot, have: Any) -> None:
        want = self.state.get(slot, {})
        if len(have) == len(want) and all(
                k in want and bytes(v) == bytes(want[k].data) for k, v in have.items()):
            return
        missing = [k for k in want if k not in have]
        extra = [k for k in have if k not in want]
        differ = [k for k in have if k in want and bytes(have[k]) != bytes(want[k].data)]
        self.problem(self.rel(self.layout.space_dir(slot[0])),
                     f"this process's view of collection {slot[1]} differs from the files and "
                     f"the log: missing {missing[:5]!r}, extra {extra[:5]!r}, different "
                     f"{differ[:5]!r}", kind="in-memory view")


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
