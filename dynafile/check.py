"""Verify every file of a table: :func:`check` (an open table) and
:func:`check_path` (a directory, without opening it).

What is verified:

* ``meta.json``: readable, of a known format, key types and index
  definitions well formed;
* every log segment: each frame's checksum, sequence numbers rising by one
  inside and across segments, record bodies well formed, ``ROTATE`` records
  only at the end of a segment; a torn tail (an unacknowledged write a crash
  left at the end of the last segment) is a warning, not a problem;
* ``wal/checkpoint.json``: well formed, pointing at an existing segment, at a
  record boundary whose record has the marker's sequence number, and not
  beyond the log's end;
* every partition file (table, global and local index, transaction
  tokens): magic, length and checksum, a decodable snapshot, sort keys strictly increasing, its
  partition key hashing to its directory name, an lsn not beyond the log;
* every item of the table as the files plus the log describe it (the state
  any process would see): loadable through the serializer (the allowlist),
  a dict whose key attributes match the place it is stored at, of the key
  types ``meta.json`` fixed;
* every active secondary index: the entries it holds are exactly the ones
  recomputed from the table's items with :class:`dynafile.indexes.IndexSet`
  (same keys, same projected values);
* for :func:`check`, that the open table's in-memory view of every partition
  equals the files and the log.

Nothing is written. The table's shared lock is held while the files are
read, so writers (in any process) wait and the files are seen in one state.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from .errors import CorruptFileError, DynafileError, SchemaMismatchError
from .indexes import IndexSet, index_from_json
from .keys import check_key_value, key_type, normalize_key, partition_digest
from .schema import KeyTypes, Schema
from .serialization import Serializer, get_serializer
from .storage import fs
from .storage.layout import SCHEMA, TABLE, TOKENS, Layout, segment_lsn
from .storage.locking import TableLock
from .storage.log import FLAG_DROP_SPACE, WRITE, LogReader, Op, decode_write
from .storage.partition import decode_partition, partition_keys

if TYPE_CHECKING:  # pragma: no cover
    from .core import TableCore

__all__ = ["CheckReport", "check", "check_path"]

#: Per kind of repeated problem (one index's missing entries, say), how many
#: are listed before the rest are summed up in one line.
_PER_KIND = 20

Slot = tuple[str, str]


class CheckReport:
    """The result of :func:`check` / :func:`check_path`.

    Attributes:
        path: the table directory.
        problems: one sentence per thing that is wrong, each naming the file
            (relative to ``path``) and the byte offset where one applies,
            e.g. ``"wal/00000000000000000001.log at offset 120: checksum
            mismatch"``. Empty when the table is sound.
        warnings: things that are not wrong but worth knowing (a torn tail
            a crash left, an interrupted checkpoint, files of a dropped
            index, a backfill still to finish).
        stats: counts: ``items``, ``partitions``, ``partition_files``,
            ``segments``, ``records``, ``log_bytes``, ``lsn``,
            ``checkpoint_lsn``, ``replayed_records`` (records after the
            checkpoint), ``index_entries`` (``{index name: entries}``).
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.problems: list[str] = []
        self.warnings: list[str] = []
        self.stats: dict[str, Any] = {
            "items": 0,
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
            (f"  {s['items']} items in {s['partitions']} partitions "
            f"({s['partition_files']} partition files)"),
            (f"  log: {s['segments']} segment(s), {s['records']} records, {s['log_bytes']} bytes, "
            f"lsn {s['lsn']}, checkpoint at lsn {s['checkpoint_lsn']} "
            f"({s['replayed_records']} records after it)"),
        ]
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
    """Verify every file of an open table, and this process's view of it.

    Holds the table's shared lock (and its thread lock) while reading, so
    writers of this and other processes wait. Reads only; never repairs.

    Returns:
        a :class:`CheckReport`; ``report.ok`` is ``False`` when anything is
        wrong, and ``report.problems`` says what and where.

    Raises:
        ClosedError: the table is closed.
        LockTimeoutError: another process held the write lock past the
            table's ``lock_timeout``.
    """
    core.check_open()
    with core.engine.lock.shared():
        checker = _Checker(core.layout, core.serializer)
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
    """Verify every file of the table in directory ``path`` without opening it.

    Works on tables that cannot be opened (a corrupt log, say), and on
    read-only directories. Takes a shared lock on ``LOCK`` when that file
    exists, so no writer changes the files meanwhile.

    Args:
        path: the table directory.
        serializer: the serializer to load items with; by default the one
            ``meta.json`` names (pickle with the standard allowlist, or
            JSON). Pass ``PickleSerializer(trusted=[...])`` for tables that
            store trusted classes.
        lock_timeout: seconds to wait for a writer to finish.

    Returns:
        a :class:`CheckReport`.

    Raises:
        FileNotFoundError: ``path`` is not a directory.
        LockTimeoutError: a writer held the lock past ``lock_timeout``.
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
        checker = _Checker(layout, serializer)
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


class _Frame:
    __slots__ = ("body", "end", "lsn", "path", "rtype", "start")

    def __init__(self, lsn: int, rtype: int, body: bytes, start: int, end: int, path: str):
        self.lsn = lsn
        self.rtype = rtype
        self.body = body
        self.start = start
        self.end = end
        self.path = path


class _Entry:
    """One key of a partition in the computed state: its bytes and where they came from."""

    __slots__ = ("data", "origin")

    def __init__(self, data: bytes, origin: str) -> None:
        self.data = data
        self.origin = origin


class _Checker:
    def __init__(self, layout: Layout, serializer: Serializer | None) -> None:
        self.layout = layout
        self.root = root = layout.root
        self.report = CheckReport(root)
        self.serializer = serializer
        self.schema: Schema | None = None
        self.indexes: dict[str, Any] = {}  # space -> index definition (live ones)
        self.creating: set = set()  # spaces of GSIs still backfilling
        self.marker: tuple[int, int, int] | None = None
        self.frames: list[_Frame] = []
        self.boundaries: dict[tuple[int, int], int] = {}  # (segment, offset) -> lsn before it
        self.segments: list[int] = []
        self.last_lsn = 0
        self.files: dict[Slot, tuple[Any, dict[Any, _Entry], int, str]] = {}
        self.state: dict[Slot, dict[Any, _Entry]] = {}
        self.state_pk: dict[Slot, Any] = {}
        self.drops: dict[str, int] = {}
        self._counts: dict[str, int] = {}

    # ------------------------------------------------------------ reporting

    def rel(self, path: str) -> str:
        if not os.path.isabs(path):
            return path  # already relative to the table (or an origin string)
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
        self.read_marker()
        self.read_log()
        self.check_marker()
        self.read_partitions()
        self.build_state()
        self.check_items()
        self.check_indexes()

    # ----------------------------------------------------------------- meta

    def read_meta(self) -> None:
        path = self.layout.meta
        try:
            schema = Schema.read(path)
        except (CorruptFileError, SchemaMismatchError) as exc:
            text = getattr(exc, "reason", None) or str(exc)
            self.problem(path, text[len(path) + 2:] if text.startswith(f"{path}: ") else text)
            return
        except Exception as exc:  # noqa: BLE001 - a malformed but parseable meta.json
            self.problem(path, f"malformed: {type(exc).__name__}: {exc}")
            return
        if schema is None:
            self.problem(path, "missing: the directory holds no dynafile table")
            return
        self.schema = schema
        for name, code in schema.key_types.items():
            if code not in (None, "S", "N", "B"):
                self.problem(path, f"key type of {name!r} is {code!r}, not S, N, B or null")
        if self.serializer is None:
            try:
                self.serializer = get_serializer(schema.serializer)
            except DynafileError:
                self.warn(path, f"serializer {schema.serializer!r} is not built in: items are "
                                "not decoded (pass serializer=)")
        elif self.serializer.name != schema.serializer:
            self.problem(path, f"table was written with serializer {schema.serializer!r}, "
                               f"checked with {self.serializer.name!r}")
        for section in ("gsis", "lsis"):
            for name, data in getattr(schema, section).items():
                try:
                    index = index_from_json(section, name, data)
                except KeyError as exc:
                    self.problem(path, f"index {name!r} lacks {exc}")
                    continue
                except Exception as exc:  # noqa: BLE001 - reported, whatever it is
                    self.problem(path, f"index {name!r} is malformed: {exc}")
                    continue
                self.indexes[index.space] = index
                if data.get("state", "ACTIVE") != "ACTIVE":
                    self.creating.add(index.space)
                    self.warn(path, f"global index {name!r} is still being created "
                                    f"(state {data.get('state')!r}); the next writable open "
                                    "resumes the backfill")

    # ---------------------------------------------------------------- marker

    def read_marker(self) -> None:
        path = self.layout.marker
        try:
            raw = fs.read_file(path)
        except FileNotFoundError:
            return
        except OSError as exc:
            self.problem(path, f"unreadable: {exc}")
            return
        try:
            data = json.loads(raw)
            lsn, segment, offset = data["lsn"], data["segment"], data["offset"]
            if not all(type(v) is int for v in (lsn, segment, offset)):
                raise TypeError("lsn, segment and offset must be integers")
            if lsn < 0 or segment < 1 or offset < 0:
                raise ValueError("negative or zero value")
        except (ValueError, KeyError, TypeError) as exc:
            self.problem(path, f"unreadable checkpoint marker: {exc}", 0)
            return
        self.marker = (lsn, segment, offset)
        self.report.stats["checkpoint_lsn"] = lsn

    # ------------------------------------------------------------------- log

    def read_log(self) -> None:
        layout = self.layout
        wal = layout.wal
        try:
            names = sorted(os.listdir(wal))
        except FileNotFoundError:
            self.problem(wal, "missing: the table has no log directory")
            return
        for name in names:
            if segment_lsn(name) is not None or name == os.path.basename(layout.marker):
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
            path = layout.segment_path(frame.segment)
            self.boundaries[(frame.segment, frame.end)] = frame.lsn
            self.frames.append(_Frame(frame.lsn, frame.rtype, frame.body, frame.start, frame.end,
                                      path))
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

    def check_marker(self) -> None:
        path = self.layout.marker
        if os.path.exists(self.layout.checkpointing):
            self.warn(self.layout.checkpointing, "a checkpoint was interrupted (the next "
                                                 "writable open cleans up after it)")
        if not self.segments:
            return
        if self.marker is None:
            if not os.path.exists(path) and self.segments[0] != 1:
                self.problem(self.layout.wal,
                             f"no checkpoint marker, and the log starts at lsn "
                             f"{self.segments[0]}: records before it are lost")
            return
        lsn, segment, offset = self.marker
        if segment not in self.segments:
            self.problem(path, f"names segment {segment}, which does not exist", 0)
            return
        if lsn > self.last_lsn:
            self.problem(path, f"checkpoint lsn {lsn} is beyond the log's last record "
                               f"{self.last_lsn}", 0)
        before = self.boundaries.get((segment, offset))
        if before is None:
            self.problem(path, f"offset {offset} is not a record boundary of segment "
                               f"{segment:020d}.log", 0)
        elif before != lsn:
            self.problem(path, f"the record ending at offset {offset} of segment "
                               f"{segment:020d}.log has lsn {before}, the marker says {lsn}", 0)

    # ------------------------------------------------------------ partitions

    def read_partitions(self) -> None:
        live = set(self.indexes) | {TABLE, TOKENS}
        for found in self.layout.walk():
            if found.space is None or found.digest is None:
                name = os.path.basename(found.path)
                note = ("temporary file left by a crash" if name.startswith(fs.TEMP_PREFIX)
                        else found.note)
                self.warn(found.path, note)
            elif found.space not in live:
                self.warn(found.path, "file of an index meta.json does not list (a dropped "
                                      "index, or a crash during a drop)")
            else:
                self.read_partition(found.path, found.space, found.digest)

    def read_partition(self, path: str, space: str, digest: str) -> None:
        self.report.stats["partition_files"] += 1
        try:
            data = fs.read_file(path)
        except OSError as exc:
            self.problem(path, f"unreadable: {exc}")
            return
        try:
            pk, items, lsn = decode_partition(data, path)
        except CorruptFileError as exc:
            self.problem(path, exc.reason, exc.offset)
            return
        except Exception as exc:  # noqa: BLE001 - decode_partition must not raise these; report anyway
            self.problem(path, f"cannot decode: {type(exc).__name__}: {exc}", 0)
            return
        # The stored order of the sort keys (decode_partition re-sorts them).
        keys, header = partition_keys(data)
        for a, b in zip(keys, keys[1:]):
            try:
                ordered = a < b
            except TypeError:
                ordered = False
            if not ordered:
                self.problem(path, f"sort keys out of order or repeated: {a!r} then {b!r}",
                             header)
                break
        if not isinstance(lsn, int) or lsn < 0:
            self.problem(path, f"snapshot lsn is {lsn!r}", header)
            return
        if lsn > self.last_lsn:
            self.problem(path, f"snapshot claims lsn {lsn}, beyond the log's last record "
                               f"{self.last_lsn}", header)
        if self.marker is not None and lsn > self.marker[0]:
            self.warn(path, f"written by a checkpoint that did not finish (lsn {lsn} > "
                            f"checkpoint {self.marker[0]}): correct, the log says the rest")
        if key_type(pk) is None:
            self.problem(path, f"partition key {pk!r} is not a key value", header)
        else:
            try:
                if partition_digest(pk) != digest:
                    self.problem(path, f"partition key {pk!r} does not belong in directory "
                                       f"{digest} (its digest is {partition_digest(pk)})",
                                 header)
            except Exception as exc:  # noqa: BLE001 - reported as a problem
                self.problem(path, f"partition key {pk!r} cannot be hashed: {exc}", header)
        rel = self.rel(path)
        self.files[(space, digest)] = (pk, {k: _Entry(v, rel) for k, v in items.items()}, lsn,
                                       path)

    # ------------------------------------------------------------- the state

    def build_state(self) -> None:
        """Fold the files and the log after the checkpoint into the state any
        process sees, as the engine does."""
        start = self.marker[0] if self.marker is not None else 0
        overlay: dict[Slot, dict[Any, tuple[int, bytes | None, str]]] = {}
        overlay_pk: dict[Slot, Any] = {}
        replayed = 0
        for frame in self.frames:
            if frame.lsn <= start or frame.rtype != WRITE:
                if frame.rtype == WRITE:
                    self._decode(frame)  # well-formedness of older records
                continue
            ops = self._decode(frame)
            if ops is None:
                continue
            replayed += 1
            origin = f"{self.rel(frame.path)} at offset {frame.start}"
            for op in ops:
                if op.space == SCHEMA:
                    continue  # a schema-change mark: no data
                if op.flags & FLAG_DROP_SPACE:
                    for slot in [s for s in overlay if s[0] == op.space]:
                        del overlay[slot]
                        overlay_pk.pop(slot, None)
                    self.drops[op.space] = frame.lsn
                    continue
                try:
                    slot = (op.space, partition_digest(op.pk))
                except Exception:  # noqa: BLE001 - reported
                    self.problem(frame.path, f"operation with partition key {op.pk!r}",
                                 frame.start)
                    continue
                entries = overlay.get(slot)
                if entries is None:
                    entries = overlay[slot] = {}
                    overlay_pk[slot] = op.pk
                entries[op.sk] = (frame.lsn, op.new, origin)
        self.report.stats["replayed_records"] = replayed
        for slot, (pk, items, lsn, path) in self.files.items():
            dropped = self.drops.get(slot[0])
            if dropped is not None and lsn < dropped:
                self.problem(path, f"file predates the drop of its index at lsn {dropped} "
                                   f"(file lsn {lsn}): stale entries would be read")
        for slot in set(self.files) | set(overlay):
            if slot in self.files:
                pk, items, file_lsn, _ = self.files[slot]
                items = dict(items)
            else:
                pk, items, file_lsn = overlay_pk[slot], {}, 0
            for sk, (lsn, new, origin) in overlay.get(slot, {}).items():
                if lsn > file_lsn:
                    if new is None:
                        items.pop(sk, None)
                    else:
                        items[sk] = _Entry(new, origin)
            if items:
                self.state[slot] = items
                self.state_pk[slot] = pk

    def _decode(self, frame: _Frame) -> list[Op] | None:
        try:
            return decode_write(frame.body)
        except ValueError as exc:
            self.problem(frame.path, f"malformed record (lsn {frame.lsn}): {exc}", frame.start)
        except Exception as exc:  # noqa: BLE001 - reported as a problem
            self.problem(frame.path, f"malformed record (lsn {frame.lsn}): "
                                     f"{type(exc).__name__}: {exc}", frame.start)
        return None

    # ------------------------------------------------------------ the items

    def _load(self, entry: _Entry) -> Any:
        assert self.serializer is not None
        try:
            return self.serializer.loads(entry.data)
        except CorruptFileError as exc:  # UnsafeDataError
            self.problem(entry.origin, f"item data refused: {exc.reason}", kind="unsafe data")
        except Exception as exc:  # noqa: BLE001 - reported as a problem
            self.problem(entry.origin, f"item data cannot be decoded: {type(exc).__name__}: "
                                       f"{exc}", kind="undecodable item")
        return _BAD

    def table_items(self) -> Iterator[tuple[Slot, Any, Any, _Entry, Any]]:
        for slot in sorted(self.state):
            if slot[0] != TABLE:
                continue
            pk = self.state_pk[slot]
            for sk, entry in self.state[slot].items():
                yield slot, pk, sk, entry, self._load(entry) if self.serializer else _BAD

    def check_items(self) -> None:
        schema = self.schema
        stats = self.report.stats
        partitions = 0
        for slot in self.state:
            if slot[0] == TABLE:
                partitions += 1
        stats["partitions"] = partitions
        if schema is None:
            stats["items"] = sum(len(v) for s, v in self.state.items() if s[0] == TABLE)
            return
        pk_attr, sk_attr = schema.pk_attribute, schema.sk_attribute
        types = schema.key_types
        count = 0
        self._items: list[tuple[Any, Any, _Entry, Any]] = []
        for slot, pk, sk, entry, item in self.table_items():
            count += 1
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
                                        f"{sk_attr!r} to {types.get(sk_attr)!r}",
                                 kind="key type")
            if item is _BAD:
                continue
            if not isinstance(item, dict):
                self.problem(where, f"item under ({pk!r}, {sk!r}) is a "
                                    f"{type(item).__name__}, not a dict", kind="item shape")
                continue
            if not _same_key(item.get(pk_attr, _BAD), pk) or (
                    sk_attr is not None and not _same_key(item.get(sk_attr, _BAD), sk)):
                self.problem(where, f"item stored under ({pk!r}, {sk!r}) has key "
                                    f"({item.get(pk_attr)!r}, "
                                    f"{item.get(sk_attr) if sk_attr else None!r})",
                             kind="item key")
                continue
            self._items.append((pk, sk, entry, item))
        stats["items"] = count
        for slot, entries in self.state.items():
            if slot[0] != TOKENS:
                continue
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
        schema = self.schema
        stats = self.report.stats["index_entries"]
        for slot, items in self.state.items():
            index = self.indexes.get(slot[0])
            if index is not None:
                stats[index.name] = stats.get(index.name, 0) + len(items)
        for index in self.indexes.values():
            stats.setdefault(index.name, 0)
        if schema is None or self.serializer is None or not self.indexes:
            return
        live = [ix for space, ix in self.indexes.items() if space not in self.creating]
        if not live:
            return
        types = KeyTypes(dict(schema.key_types))
        serializer = self.serializer
        index_set = IndexSet(schema.pk_attribute, schema.sk_attribute, live, serializer.dumps)
        expected: dict[Slot, dict[Any, tuple[bytes, Any, str]]] = {}
        expected_pk: dict[Slot, Any] = {}
        for pk, sk, entry, item in getattr(self, "_items", []):
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
                expected.setdefault(slot, {})[entry_key] = (data, item, entry.origin)
                expected_pk[slot] = ipk
        for index in live:
            space = index.space
            slots = {s for s in expected if s[0] == space} | {s for s in self.state
                                                             if s[0] == space}
            kind = f"index {index.name}"
            for slot in sorted(slots):
                want = expected.get(slot, {})
                have = self.state.get(slot, {})
                if have and slot in expected_pk and not _same_key(self.state_pk.get(slot),
                                                                  expected_pk[slot]):
                    self.problem(self.layout.relative_partition_path(*slot), f"index partition key "
                                                   f"{self.state_pk.get(slot)!r}, expected "
                                                   f"{expected_pk[slot]!r}", kind=kind)
                for key in want.keys() - have.keys():
                    self.problem(self.layout.relative_partition_path(*slot), f"index {index.name!r} lacks the entry "
                                                   f"{key!r} of the item at {want[key][2]}",
                                 kind=kind)
                for key in have.keys() - want.keys():
                    self.problem(have[key].origin, f"index {index.name!r} holds entry {key!r} "
                                                   "that no table item implies", kind=kind)
                for key in want.keys() & have.keys():
                    data, _, origin = want[key]
                    got = have[key].data
                    if bytes(got) == bytes(data):
                        continue
                    entry = self._load(have[key])  # reports refused / undecodable data
                    if entry is _BAD:
                        continue
                    try:
                        same = entry == serializer.loads(data)
                    except Exception:  # noqa: BLE001 - reported as a problem
                        same = False
                    if not same:
                        self.problem(have[key].origin, f"index {index.name!r} entry {key!r} "
                                                       f"differs from the item at {origin}",
                                     kind=kind)

    # --------------------------------------------------- the open table's view

    def compare_engine(self, core: TableCore) -> None:
        """Compare the open table's partitions (cache + overlay) with the files."""
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
        spaces = {TABLE, TOKENS} | set(self.indexes)
        for space in sorted(spaces):
            try:
                digests = set(engine.digests(space))
            except OSError as exc:
                self.problem(self.root, f"cannot list partitions of {space or 'the table'}: "
                                        f"{exc}")
                continue
            digests |= {s[1] for s in self.state if s[0] == space}
            for digest in sorted(digests):
                slot = (space, digest)
                try:
                    part = engine.partition(digest, None, space)
                except DynafileError as exc:
                    self.problem(getattr(exc, "path", self.root),
                                 f"this process cannot load the partition: {exc}",
                                 kind="in-memory view")
                    continue
                want = self.state.get(slot, {})
                have = part.items
                if len(have) == len(want) and all(
                        k in want and bytes(v) == bytes(want[k].data) for k, v in have.items()):
                    continue
                missing = [k for k in want if k not in have]
                extra = [k for k in have if k not in want]
                differ = [k for k in have if k in want and bytes(have[k]) != bytes(want[k].data)]
                self.problem(self.layout.relative_partition_path(*slot),
                             f"this process's view of the partition differs from the files and "
                             f"the log: missing {missing[:5]!r}, extra {extra[:5]!r}, "
                             f"different {differ[:5]!r}", kind="in-memory view")


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
