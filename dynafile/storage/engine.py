"""The storage engine: one write-ahead log, partitions folded from it.

State of one open table in one process:

* the log position (a :class:`~dynafile.storage.log.LogReader`): the last
  record this process has applied;
* the overlay: for every partition changed since the last checkpoint this
  process knows of, the latest ``(lsn, bytes or None)`` per sort key: the
  log's content not yet in partition files;
* the cache: an LRU of materialised partitions (file snapshot + overlay),
  bounded by ``cache_bytes``.

Writers hold the exclusive lock, catch up with the log, append one record
and apply it. Readers compare the log's size with their position (one
``fstat``) and, when it grew, read the new records under a shared lock, so
every read sees every write that returned before it began, in any process.
A checkpoint writes every dirty partition atomically, then
``wal/checkpoint.json``; recovery is just catching up from that marker.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, Callable, NamedTuple, TypeVar

from sortedcontainers import SortedDict  # type: ignore[import-untyped]

from ..errors import ClosedError, CorruptFileError, DynafileError, ValidationError
from ..keys import partition_digest
from ..serialization import Unvetted
from . import fs
from .layout import SCHEMA, TABLE, Layout
from .locking import TableLock
from .log import (
    FLAG_DROP_SPACE,
    MAX_PAYLOAD,
    ROTATE,
    WRITE,
    LogReader,
    Op,
    decode_write,
    encode_frame,
    encode_write,
)
from .partition import Partition, decode_partition, encode_partition
from .watch import watcher

__all__ = ["Engine", "LogPosition"]

log = logging.getLogger("dynafile")

R = TypeVar("R")
Slot = tuple[str, str]
_ENTRY_OVERHEAD = 64


class LogPosition(NamedTuple):
    """Where a process is in the log: the last record applied and the byte
    position after it."""

    lsn: int
    segment: int
    offset: int


class Engine:
    """Log, partitions, cache and locks of one table directory.

    Args:
        layout: the table directory's paths (the directory exists).
        durability: ``"full"`` (fsync each commit) or ``"normal"``.
        cache_bytes: memory budget of the partition cache.
        checkpoint_bytes: fold the log into partition files once this much
            has been written since the last checkpoint.
        segment_bytes: start a new log segment past this size.
        retention: seconds a log segment is kept after a checkpoint covered
            it (for stream readers); with ``0`` a checkpoint also starts a
            new segment, so the whole log it covers is deleted.
        lock_timeout: seconds to wait for the process lock.
        read_only: open for reading only (the directory may be read-only).
        clock: the time source of retention.
        watch: apply other processes' writes (and notice their checkpoints)
            as soon as file notifications report them, in a background
            thread, instead of at the next read. Reads check the log
            themselves either way: watching only makes them cheaper.
    """

    def __init__(
        self,
        layout: Layout,
        *,
        durability: str = "full",
        cache_bytes: int = 256 << 20,
        checkpoint_bytes: int = 16 << 20,
        segment_bytes: int = 64 << 20,
        retention: float = 24 * 3600.0,
        lock_timeout: float | None = 60.0,
        read_only: bool = False,
        clock: Callable[[], float] | None = None,
        watch: bool = False,
    ) -> None:
        self.layout = layout
        self.durability = durability
        self.cache_bytes = cache_bytes
        self.checkpoint_bytes = checkpoint_bytes
        self.segment_bytes = segment_bytes
        self.retention = retention
        self.read_only = read_only
        self._clock = clock or time.time
        self.lock = TableLock(layout.lock, lock_timeout, read_only)
        # Partitions are named by a slot: (space, digest).
        self._cache: OrderedDict[Slot, Partition] = OrderedDict()
        self._cache_used = 0
        self._overlay: dict[Slot, dict[Any, tuple[int, bytes | None]]] = {}
        self._overlay_pk: dict[Slot, Any] = {}
        self._overlay_bytes = 0
        self._digests: dict[Any, str] = {}
        self._lsn = 0
        self._marker_lsn = 0
        self._log: LogReader | None = None
        self._observer: Callable[[int, list[Op]], None] | None = None
        self._live_spaces: set[str] = {TABLE}
        self._watching = False
        #: How many schema-change marks this process has applied (see
        #: :data:`~dynafile.storage.layout.SCHEMA`).
        self.schema_marks = 0
        self.closed = False
        try:
            if read_only:
                with self.lock.shared():
                    self._reset()
            else:
                with self.lock.exclusive():
                    self._recover()
        except BaseException:
            self._close_files()
            raise
        if watch:
            self._watching = watcher.add(layout.wal, self._poke)

    # ------------------------------------------------------------ settings

    def observe(self, callback: Callable[[int, list[Op]], None] | None) -> None:
        """Call ``callback(lsn, ops)`` for each record this engine commits,
        under the write lock, right after it is applied (so calls come in
        commit order). It must be quick and must not raise."""
        self._observer = callback

    def set_live_spaces(self, spaces: Iterable[str]) -> None:
        """Set the spaces whose partitions checkpoints write (the table, the
        token space and the live indexes); others are forgotten."""
        self._live_spaces = set(spaces)

    # ------------------------------------------------------------ watching

    def _poke(self) -> None:
        """Catch up now if no thread of ours is busy with the table (watch thread)."""
        if self.closed or not self.lock.thread_lock.acquire(blocking=False):
            return
        try:
            if not self.closed:
                self.refresh()
                if self._overlay_bytes and self._read_marker()[0] > self._marker_lsn:
                    with self.lock.shared():
                        self._prune_overlay()
        except Exception:  # noqa: BLE001, S110 - a reader meets the same problem and reports it
            pass
        finally:
            self.lock.thread_lock.release()

    # ------------------------------------------------------------------ open

    def _recover(self) -> None:
        """Open under the exclusive lock: clean up after a crash, then catch up."""
        layout = self.layout
        fs.makedirs(layout.wal)
        fs.remove_stale_temp_files(layout.root)
        fs.remove_stale_temp_files(layout.wal)
        if os.path.exists(layout.checkpointing):
            for directory in layout.partition_roots():
                for name in os.listdir(directory) if os.path.isdir(directory) else ():
                    fs.remove_stale_temp_files(os.path.join(directory, name))
            fs.remove(layout.checkpointing)
        if not layout.segments():
            fs.create_empty(layout.segment_path(1))
        self._reset()
        self._catch_up(exclusive=True)
        self._remove_stale_segments()

    def _reader(self) -> LogReader:
        if self._log is None:
            raise ClosedError("the table is closed")
        return self._log

    def _remove_stale_segments(self) -> None:
        """Delete the empty segments after the current one that a rotation
        interrupted by a crash left (created, but never named by a durable
        ROTATE record). Call caught up, under the exclusive lock."""
        reader = self._reader()
        if reader.later_segments_hold_data():
            return
        stale = reader.later_segments()
        for first in stale:
            fs.remove(self.layout.segment_path(first))
        if stale:
            fs.sync_dir(self.layout.wal)

    def _read_marker(self) -> tuple[int, int, int]:
        """Return ``(lsn, segment, offset)`` of the last checkpoint, or the log's start."""
        path = self.layout.marker
        try:
            raw = fs.read_file(path)
        except FileNotFoundError:
            segments = self.layout.segments()
            first = segments[0] if segments else 1
            return first - 1, first, 0
        try:
            data = json.loads(raw)
            lsn, segment, offset = int(data["lsn"]), int(data["segment"]), int(data["offset"])
        except (ValueError, KeyError, TypeError) as exc:
            raise CorruptFileError(path, 0, f"unreadable checkpoint marker: {exc}") from None
        if lsn < 0 or segment < 1 or offset < 0 or segment > lsn + 1:
            raise CorruptFileError(path, 0, f"impossible checkpoint marker {data}")
        return lsn, segment, offset

    def _reset(self) -> None:
        """Forget everything in memory and start again from the checkpoint marker."""
        lsn, segment, offset = self._read_marker()
        try:
            reader = LogReader(self.layout, segment, offset, lsn, writable=not self.read_only)
        except FileNotFoundError:
            raise CorruptFileError(self.layout.marker, 0, f"checkpoint marker names log "
                                   f"segment {segment}, which does not exist") from None
        if self._log is not None:
            self._log.close()
        self._log = reader
        self._cache.clear()
        self._cache_used = 0
        self._overlay.clear()
        self._overlay_pk.clear()
        self._overlay_bytes = 0
        self._lsn = self._marker_lsn = lsn

    # ------------------------------------------------------------ catch-up

    def refresh(self) -> None:
        """Apply what other processes committed since this one last looked.

        Costs one ``fstat`` when nothing changed. Call with the thread lock held.

        Raises:
            ClosedError: the engine is closed.
            CorruptFileError: the log fails its checks.
        """
        reader = self._reader()
        if reader.size() != reader.offset:
            with self.lock.shared():
                self._catch_up(exclusive=False)
                if self._overlay_bytes >= self.checkpoint_bytes:
                    self._prune_overlay()

    def _prune_overlay(self) -> None:
        """Drop overlay entries that another process's checkpoint has put in
        partition files, so a process that only reads stays within bounds."""
        marker = self._read_marker()[0]
        if marker <= self._marker_lsn:
            return
        self._marker_lsn = marker
        kept = 0
        for slot in list(self._overlay):
            entries = self._overlay[slot]
            fresh = {sk: e for sk, e in entries.items() if e[0] > marker}
            if fresh:
                self._overlay[slot] = fresh
                kept += sum(_ENTRY_OVERHEAD + len(e[1] or b"") for e in fresh.values())
            else:
                del self._overlay[slot]
                self._overlay_pk.pop(slot, None)
        self._overlay_bytes = kept

    def _catch_up(self, exclusive: bool) -> None:
        while True:
            reader = self._reader()
            for frame in reader.read():
                if frame.rtype == WRITE:
                    try:
                        ops = [op._replace(new=Unvetted(op.new)) if op.new is not None else op
                               for op in decode_write(frame.body)]
                    except ValueError as exc:
                        raise CorruptFileError(self.layout.segment_path(frame.segment),
                                               frame.start, f"malformed record: {exc}") from None
                    self._apply(frame.lsn, ops)
                self._lsn = frame.lsn
            if reader.gone:
                # A checkpoint elsewhere removed segments we had not read: its
                # partition files hold their content.
                self._reset()
                continue
            if reader.tail is not None and exclusive and not self.read_only:
                # Never acknowledged (its writer died mid-append): cut it off,
                # with the empty segment a torn ROTATE leaves.
                self._remove_stale_segments()
                fs.truncate(reader.fd, reader.tail, reader.path)
                if self.durability == "full":
                    fs.sync(reader.fd, reader.path)
                reader.tail = None
            return

    # --------------------------------------------------------------- apply

    def digest(self, pk: Any) -> str:
        """Return the directory digest of a (normalised) partition key, memoised."""
        d = self._digests.get(pk)
        if d is None:
            if len(self._digests) > 100_000:
                self._digests.clear()
            d = self._digests[pk] = partition_digest(pk)
        return d

    def _apply(self, lsn: int, ops: Iterable[Op]) -> None:
        overlay = self._overlay
        cache = self._cache
        digest = self.digest
        added = 0
        # A batch touches few partitions many times: look each up once.
        seen: dict[tuple[str, Any], tuple[dict[Any, Any], Partition | None]] = {}
        for op in ops:
            if op.flags & FLAG_DROP_SPACE:
                self._drop_space(op.space)
                seen.clear()
                continue
            if op.space == SCHEMA:
                self.schema_marks += 1
                continue
            where = (op.space, op.pk)
            found = seen.get(where)
            if found is None:
                slot = (op.space, digest(op.pk))
                entries = overlay.get(slot)
                if entries is None:
                    entries = overlay[slot] = {}
                    self._overlay_pk[slot] = op.pk
                part = cache.get(slot)
                if part is not None and lsn <= part.lsn:
                    part = None  # already holds this record
                if part is not None and part.pk is None:
                    part.pk = op.pk  # loaded empty by a scan that did not know its key
                found = seen[where] = (entries, part)
            entries, part = found
            new = op.new
            entries[op.sk] = (lsn, new)
            added += _ENTRY_OVERHEAD + (len(new) if new is not None else 0)
            if part is not None:
                before = part.nbytes
                if new is None:
                    part.delete(op.sk)
                else:
                    part.put(op.sk, new)
                self._cache_used += part.nbytes - before
        for _, part in seen.values():
            if part is not None:
                part.lsn = lsn
        self._overlay_bytes += added

    def _drop_space(self, space: str) -> None:
        """Forget every cached and pending partition of ``space`` (an index drop)."""
        for slot in [slot for slot in self._overlay if slot[0] == space]:
            del self._overlay[slot]
            self._overlay_pk.pop(slot, None)
        for slot in [slot for slot in self._cache if slot[0] == space]:
            self._cache_used -= self._cache.pop(slot).nbytes

    # ---------------------------------------------------------- partitions

    def _materialize(self, slot: Slot, pk: Any) -> Partition:
        """Build a partition from its file and the overlay, without caching it."""
        path = self.layout.partition_path(*slot)
        try:
            data = fs.read_file(path)
        except FileNotFoundError:
            file_pk, items, file_lsn = pk, SortedDict(), 0
        else:
            file_pk, items, file_lsn = decode_partition(data, path)
        for sk, (lsn, new) in self._overlay.get(slot, {}).items():
            if lsn > file_lsn:
                if new is None:
                    items.pop(sk, None)
                else:
                    items[sk] = new
        return Partition(file_pk if pk is None else pk, items, max(file_lsn, self._lsn))

    def partition(self, digest: str, pk: Any = None, space: str = TABLE) -> Partition:
        """Return the cached partition ``digest`` of ``space``, loading it when needed.

        ``pk`` may be ``None`` when unknown (scans); the file says. Call with
        the thread lock held and after :meth:`refresh`. O(1) when cached,
        O(n) to load.

        Raises:
            ClosedError: the engine is closed.
            CorruptFileError: the partition file fails its checks.
        """
        if self.closed:
            raise ClosedError("the table is closed")
        slot = (space, digest)
        part = self._cache.get(slot)
        if part is not None:
            self._cache.move_to_end(slot)
            return part
        part = self._materialize(slot, pk if pk is not None else self._overlay_pk.get(slot))
        self._cache[slot] = part
        self._cache_used += part.nbytes
        while self._cache_used > self.cache_bytes and len(self._cache) > 1:
            _, evicted = self._cache.popitem(last=False)
            self._cache_used -= evicted.nbytes
        return part

    def digests(self, space: str = TABLE) -> list[str]:
        """Return the digests of every partition of ``space`` that may hold
        items, sorted. One ``listdir`` plus the overlay."""
        names = set(self.layout.digests(space))
        names.update(digest for sp, digest in self._overlay if sp == space)
        return sorted(names)

    # ---------------------------------------------------------------- write

    def write(self, prepare: Callable[[], tuple[list[Op], R]]) -> R:
        """Commit one record built by ``prepare`` and return its result.

        ``prepare()`` runs under the exclusive lock, after catching up, and
        returns ``(ops, result)``; it may raise to abort (nothing is written).
        Empty ``ops`` write nothing. The record is appended, flushed (and
        fsynced in ``"full"`` mode), and applied before the lock is released.

        Raises:
            DynafileError: the table is read-only.
            ValidationError: the record would be larger than a log record may be.
            LockTimeoutError: another process held the lock too long.
            OSError: the append failed (nothing was written).
        """
        if self.read_only:
            raise DynafileError("table is open read-only")
        self.lock.acquire_exclusive()
        try:
            self._catch_up(exclusive=True)
            ops, result = prepare()
            if ops:
                self._commit(ops)
        finally:
            self.lock.release_exclusive()
        return result

    def _commit(self, ops: list[Op]) -> None:
        body = encode_write(ops)
        if len(body) >= MAX_PAYLOAD:
            raise ValidationError(f"one write of {len(body)} bytes is larger than a log record "
                                  f"may be ({MAX_PAYLOAD} bytes); split it (a batch writer's "
                                  "flush_amount)", attribute="write")
        reader = self._reader()
        lsn = self._lsn + 1
        if reader.offset >= self.segment_bytes:
            self._rotate(lsn)
            lsn += 1
        self._append(encode_frame(lsn, WRITE, body), lsn)
        self._apply(lsn, ops)
        self._lsn = lsn
        if self._observer is not None:
            self._observer(lsn, ops)
        if self._overlay_bytes >= self.checkpoint_bytes:
            try:
                self._checkpoint()
            except OSError as exc:
                # The write is committed; the checkpoint is retried by the
                # next write that finds the overlay still full.
                log.warning("dynafile: checkpoint after a write failed: %s", exc)

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold the exclusive lock, caught up with the log: for schema changes."""
        with self.lock.exclusive():
            self._catch_up(exclusive=True)
            yield

    def _append(self, frame: bytes, lsn: int) -> None:
        reader = self._reader()
        start = reader.offset
        try:
            fs.append(reader.fd, frame, reader.path)
            if self.durability == "full":
                fs.sync(reader.fd, reader.path)
        except BaseException:
            # Nothing was acknowledged: remove whatever part reached the file.
            try:
                fs.truncate(reader.fd, start, reader.path)
            except OSError:  # pragma: no cover - the next writer cuts the torn tail
                pass
            raise
        reader.advance(start + len(frame), lsn)

    def _rotate(self, lsn: int) -> None:
        """End the current segment with a ROTATE record (``lsn``) and continue
        in a new segment starting at ``lsn + 1``."""
        reader = self._reader()
        fs.create_empty(self.layout.segment_path(lsn + 1))
        self._append(encode_frame(lsn, ROTATE, b""), lsn)
        if self.durability != "full":
            fs.sync(reader.fd, reader.path)
        self._lsn = lsn
        reader.enter(lsn + 1)

    # ----------------------------------------------------------- checkpoint

    def checkpoint(self) -> int:
        """Fold the log into partition files now; return how many were written."""
        if self.read_only:
            return 0
        with self.exclusive():
            return self._checkpoint()

    def _checkpoint(self) -> int:
        reader = self._reader()
        free_log = self.retention <= 0 and reader.offset > 0
        if not self._overlay and not free_log:
            return 0
        if self.durability != "full":
            # Partition files and the marker will claim every record up to
            # self._lsn: those records must be on disk before they are.
            fs.sync(reader.fd, reader.path)
        layout = self.layout
        fs.create_empty(layout.checkpointing, durable=False)
        written = 0
        for slot in sorted(self._overlay):
            if slot[0] not in self._live_spaces:
                continue  # an index dropped since: its files are gone
            part = self._cache.get(slot)
            if part is None:
                part = self._materialize(slot, self._overlay_pk.get(slot))
            path = layout.partition_path(*slot)
            if part.items:
                fs.atomic_write_bytes(path, encode_partition(part.pk, part.items, self._lsn))
            else:
                self._remove_partition(path)
            written += 1
        if free_log:
            # Nothing needs the covered log: start a segment the marker can
            # point at, so every earlier one can go now.
            self._rotate(self._lsn + 1)
        marker = {"lsn": self._lsn, "segment": reader.segment, "offset": reader.offset}
        fs.atomic_write_bytes(layout.marker, json.dumps(marker).encode())
        fs.remove(layout.checkpointing)
        self._overlay.clear()
        self._overlay_pk.clear()
        self._overlay_bytes = 0
        self._marker_lsn = self._lsn
        self._drop_old_segments()
        return written

    def _remove_partition(self, path: str) -> None:
        """Remove an emptied partition's file, and its directory once empty."""
        if not fs.remove(path):
            return
        directory = os.path.dirname(path)
        if not fs.remove_dir(directory):  # still holds another index's file
            fs.sync_dir(directory)

    def _drop_old_segments(self) -> None:
        """Delete segments a checkpoint covers once they are past retention."""
        segments = self.layout.segments()
        now = self._clock()
        current = self._reader().segment
        for first, following in zip(segments, segments[1:]):
            if following - 1 > self._marker_lsn or first == current:
                break
            path = self.layout.segment_path(first)
            try:
                if now - os.stat(path).st_mtime < self.retention:
                    break
            except FileNotFoundError:
                continue
            fs.remove(path)

    # ---------------------------------------------------------------- state

    @property
    def lsn(self) -> int:
        """The last log sequence number this process has applied."""
        return self._lsn

    @property
    def dirty(self) -> bool:
        """Whether this process holds log content a checkpoint would fold in."""
        return bool(self._overlay)

    def position(self) -> LogPosition:
        """Where this process is in the log (call with the thread lock held)."""
        reader = self._reader()
        return LogPosition(self._lsn, reader.segment, reader.offset)

    # ---------------------------------------------------------------- close

    def _close_files(self) -> None:
        if self._watching:
            self._watching = False
            watcher.remove(self.layout.wal, self._poke)
        if self._log is not None:
            self._log.close()
            self._log = None
        self.lock.close()

    def abandon(self) -> None:
        """Release files and locks without a checkpoint, leaving the log for
        the next open to replay: what a process that dies leaves behind."""
        if not self.closed:
            self.closed = True
            self._close_files()
            self._cache.clear()
            self._overlay.clear()

    def close(self, checkpoint: bool = True) -> None:
        """Checkpoint (so the next open is fast) and release files and locks.

        ``checkpoint`` is ``False`` when the caller checkpointed already.
        Idempotent; a failed checkpoint is not an error (the log still holds
        everything and the next open replays it).
        """
        if self.closed:
            return
        try:
            if checkpoint and not self.read_only and self._overlay:
                try:
                    self.checkpoint()
                except DynafileError:
                    pass  # the log still holds everything; the next open replays it
        finally:
            self.abandon()
