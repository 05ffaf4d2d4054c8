"""The storage engine: one write-ahead log, partitions folded from it.

State of one open database in one process:

* the log position (a :class:`~dynafile.storage.log.LogReader`): the last
  record this process has applied;
* the manifest (:mod:`dynafile.storage.manifest`): which partition file holds
  which range of each space's keys, as of the last checkpoint this process
  knows of;
* the overlay: for every item collection changed since that checkpoint, the
  latest ``(lsn, bytes or None)`` per sort key: the log's content not yet in
  partition files;
* the cache: an LRU of materialised item collections (file + overlay),
  bounded by ``cache_bytes``.

Writers hold the exclusive lock, catch up with the log, append one record
and apply it. Readers compare the log's size with their position (one
``fstat``) and, when it grew, read the new records under a shared lock, so
every read sees every write that returned before it began, in any process.
A checkpoint writes each changed partition to a new file (splitting it when
it grew too large), then replaces the manifest, then removes the files no
manifest names any more; recovery is catching up from the manifest's
position. Writers do not wait for a checkpoint: it holds the write lock only
to take a snapshot of the overlay and, afterwards, to install the new
manifest; the files are written in between, by one process at a time (the
``CHECKPOINT`` lock).
"""

from __future__ import annotations

import bisect
import os
import time
from array import array
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, Callable, NamedTuple, TypeVar

from sortedcontainers import SortedDict  # type: ignore[import-untyped]

from ..errors import (
    ClosedError,
    CorruptFileError,
    DynafileError,
    ForkedProcessError,
    ValidationError,
)
from ..keys import partition_digest
from ..serialization import Unvetted
from . import fs
from .layout import SCHEMA, Layout, part_name
from .locking import TableLock, TaskLock, process_generation
from .log import (
    FLAG_DROP_SPACE,
    MAX_PAYLOAD,
    ROTATE,
    WRITE_AT,
    WRITES,
    Frame,
    LogReader,
    Op,
    decode_record,
    encode_frame,
    encode_record,
)
from .manifest import MIN_BOUND, Bound, Manifest, Span, bound_of, collection_start, cut
from .partition import (
    INDEX_READ,
    Collection,
    FileIndex,
    Part,
    decode_block,
    decode_index,
    decode_part,
    encode_part,
)
from .watch import watcher

__all__ = ["Engine", "LogPosition"]


R = TypeVar("R")
Slot = tuple[str, str]
_ENTRY_OVERHEAD = 64
_RETRIES = 5
_DECODED_FILES = 4  # partition files kept decoded (each at most ~partition_bytes)


class LogPosition(NamedTuple):
    """Where a process is in the log: the last record applied and the byte
    position after it."""

    lsn: int
    segment: int
    offset: int


class _Plan(NamedTuple):
    """What one checkpoint writes: the manifest it starts from, the one it
    builds (its lsn and log position already set), the overlay's entries up
    to that lsn per space and digest, their partition keys, and the spaces
    it drops."""

    old: Manifest
    manifest: Manifest
    changes: dict[str, dict[str, dict[Any, tuple[int, bytes | None]]]]
    pks: dict[tuple[str, str], Any]
    dropped: list[str]


class Engine:
    """Log, partitions, cache and locks of one database directory.

    Args:
        layout: the database directory's paths (the directory exists).
        durability: ``"full"`` (fsync each commit) or ``"normal"``.
        cache_bytes: memory budget of the item collection cache.
        checkpoint_bytes: fold the log into partition files once this much
            (or an eighth of the item bytes in partition files, when that is
            more: a checkpoint rewrites the partitions the log changed, so a
            threshold that grows with the data keeps loading a large
            database from rewriting all of it over and over)
            has been written since the last checkpoint.
        segment_bytes: start a new log segment past this size.
        partition_bytes: split a partition file that holds more item bytes
            than this (into pieces of about half).
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
        partition_bytes: int = 1 << 20,
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
        self.partition_bytes = partition_bytes
        self.retention = retention
        self.read_only = read_only
        self._clock = clock or time.time
        self.lock = TableLock(layout.lock, lock_timeout, read_only)
        self._checkpointing: TaskLock | None = None
        self._generation = process_generation()
        self._cache: OrderedDict[Slot, Collection] = OrderedDict()
        self._cache_used = 0
        self._overlay: dict[Slot, dict[Any, tuple[int, bytes | None]]] = {}
        self._overlay_pk: dict[Slot, Any] = {}
        self._overlay_bytes = 0
        self._digests: dict[Any, str] = {}
        #: (space, partition file) -> the sorted 64-bit prefixes of the
        #: collections it holds, for files read before (see _not_in_file).
        self._held: dict[tuple[str, str], array[int]] = {}
        #: The partition files decoded last (see _read_span).
        self._files: OrderedDict[tuple[str, str], tuple[int, list[Part]]] = OrderedDict()
        #: (space, partition file) -> its index (format 3; ``None``: a format
        #: 2 file, read whole), for files read before (see _read_part).
        self._indexes: dict[tuple[str, str], FileIndex | None] = {}
        self._lsn = 0
        self._manifest = Manifest()
        self._manifest_sig: Any = None
        self._log: LogReader | None = None
        #: The last record :meth:`read_ahead` applied without the process
        #: lock, until a locked catch-up has checked the log still holds it.
        self._ahead: Frame | None = None
        self._observer: Callable[[int, list[Op], int], None] | None = None
        #: space -> lsn of the latest drop record this process applied that
        #: the manifest may not reflect yet (see :meth:`_drop_space`).
        self._drops: dict[str, int] = {}
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

    def observe(self, callback: Callable[[int, list[Op], int], None] | None) -> None:
        """Call ``callback(lsn, ops, time_ms)`` for each record this engine commits,
        under the write lock, right after it is applied (so calls come in
        commit order). It must be quick and must not raise."""
        self._observer = callback

    # ------------------------------------------------------------ watching

    def _poke(self) -> None:
        """Catch up now if no thread of ours is busy with the table (watch thread)."""
        if self.closed or not self.lock.thread_lock.acquire(blocking=False):
            return
        try:
            if not self.closed:
                self.refresh()
                if self._overlay_bytes:
                    with self.lock.shared():
                        self._prune_overlay()
        except Exception:  # noqa: BLE001, S110 - a reader meets the same problem and reports it
            pass
        finally:
            self.lock.thread_lock.release()

    # ------------------------------------------------------------------ open

    def _recover(self) -> None:
        """Open under the exclusive lock: clean up after a crash, then catch up.

        Partition files are cleaned up only when no process is checkpointing
        (it writes them outside the write lock): else the next open does it.
        """
        layout = self.layout
        fs.makedirs(layout.wal)
        fs.makedirs(layout.data)
        fs.remove_stale_temp_files(layout.root)
        fs.remove_stale_temp_files(layout.wal)
        if not layout.segments():
            fs.create_empty(layout.segment_path(1))
        self._reset()
        with self._checkpoint_lock().hold(wait=False) as alone:
            if alone:
                fs.remove_stale_temp_files(layout.data)
                self._remove_orphans()
        self._catch_up(exclusive=True)
        self._remove_stale_segments()

    def _checkpoint_lock(self) -> TaskLock:
        if self._checkpointing is None:
            self._checkpointing = TaskLock(self.layout.checkpoint_lock)
        return self._checkpointing

    def _remove_orphans(self) -> None:
        """Delete partition files no manifest names: written by a checkpoint a
        crash interrupted before its manifest, or left by one that was
        interrupted before it removed the files it replaced."""
        named = self._manifest.files()
        for found in self.layout.walk():
            if found.space is None:
                if os.path.basename(found.path).startswith(fs.TEMP_PREFIX):
                    fs.remove(found.path)
                continue
            if (found.space, found.name) not in named:
                fs.remove(found.path)
        for space in self.layout.space_dirs():
            if space not in self._manifest.spaces:
                fs.remove_dir(self.layout.space_dir(space))  # emptied above

    def _reader(self) -> LogReader:
        if self._log is None:
            raise ClosedError("the table is closed")
        if self._generation != process_generation():
            raise ForkedProcessError(
                f"{self.layout.root} was opened in the parent of this forked process: its "
                "files and locks are the parent's. Open it again in this process (a "
                "multiprocessing.Pool initializer, or the 'spawn' start method)")
        return self._log

    @property
    def forked(self) -> bool:
        """Whether this engine was opened before a ``fork()`` of this process."""
        return self._generation != process_generation()

    def check_usable(self) -> None:
        """Raise unless this process may use the engine.

        Raises:
            ClosedError: it was closed.
            ForkedProcessError: it was opened before a ``fork()`` of this process.
        """
        self._reader()

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

    def _stat_manifest(self) -> Any:
        return fs.signature(self.layout.manifest)

    def _read_manifest(self) -> Manifest:
        """The manifest on disk, or the log's start when there is none."""
        path = self.layout.manifest
        try:
            raw = fs.read_file(path)
        except FileNotFoundError:
            segments = self.layout.segments()
            first = segments[0] if segments else 1
            if first != 1:
                raise CorruptFileError(path, 0, f"missing, and the log starts at lsn {first}: "
                                       "the records before it are lost") from None
            return Manifest(first - 1, first, 0)
        return Manifest.decode(raw, path)

    def _reload_manifest(self) -> bool:
        """Read the manifest again when another process replaced it (one
        ``stat``); return whether it changed."""
        sig = self._stat_manifest()
        if sig == self._manifest_sig:
            return False
        self._manifest = self._read_manifest()
        self._manifest_sig = sig
        self._forget_files()
        return True

    def _forget_files(self) -> None:
        """Forget what is known of files the manifest no longer names."""
        if self._held or self._files or self._indexes:
            named = self._manifest.files()
            for key in [k for k in self._held if k not in named]:
                del self._held[key]
            for key in [k for k in self._files if k not in named]:
                del self._files[key]
            for key in [k for k in self._indexes if k not in named]:
                del self._indexes[key]

    def _reset(self) -> None:
        """Forget everything in memory and start again from the manifest."""
        self._manifest_sig = self._stat_manifest()
        manifest = self._read_manifest()
        try:
            reader = LogReader(self.layout, manifest.segment, manifest.offset, manifest.lsn,
                               writable=not self.read_only)
        except FileNotFoundError:
            raise CorruptFileError(self.layout.manifest, 0, f"the manifest names log "
                                   f"segment {manifest.segment}, which does not exist") from None
        if self._log is not None:
            self._log.close()
        self._log = reader
        self._manifest = manifest
        self._forget_files()
        self._cache.clear()
        self._cache_used = 0
        self._overlay.clear()
        self._overlay_pk.clear()
        self._overlay_bytes = 0
        self._drops.clear()
        self._lsn = manifest.lsn

    # ------------------------------------------------------------ catch-up

    def refresh(self) -> None:
        """Apply what other processes committed since this one last looked.

        Costs one ``fstat`` when nothing changed. Call with the thread lock held.

        Raises:
            ClosedError: the engine is closed.
            CorruptFileError: the log fails its checks.
        """
        reader = self._reader()
        if reader.size() != reader.offset or self._ahead is not None:
            with self.lock.shared():
                self._catch_up(exclusive=False)
                if self._overlay_bytes >= self.checkpoint_bytes:
                    self._prune_overlay()

    def _prune_overlay(self) -> None:
        """Drop overlay entries that another process's checkpoint has put in
        partition files, so a process that only reads stays within bounds."""
        self._reload_manifest()
        marker = self._manifest.lsn
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
        if self._ahead is not None:
            ahead, self._ahead = self._ahead, None
            reader = self._reader()
            if reader.gone or not reader.still_holds(ahead):
                # Read without the lock, then taken back by its writer (its
                # fsync failed) or folded by a checkpoint: start again from
                # the files.
                self._reset()
        while True:
            reader = self._reader()
            self._apply_frames(reader.read())
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

    def _apply_frames(self, frames: list[Frame]) -> None:
        """Apply records read from the log, in order.

        Raises:
            CorruptFileError: a record's operations do not decode.
        """
        unvetted: type[Unvetted] = Unvetted
        segment = -1
        for frame in frames:
            if frame.rtype in WRITES:
                if frame.segment != segment:
                    segment = frame.segment
                    unvetted = Unvetted.at(self.layout.segment_path(segment))
                try:
                    ops = decode_record(frame.rtype, frame.body, unvetted)[1]
                except ValueError as exc:
                    raise CorruptFileError(self.layout.segment_path(frame.segment),
                                           frame.start, f"malformed record: {exc}") from None
                self._apply(frame.lsn, ops)
            self._lsn = frame.lsn

    def read_ahead(self) -> bool:
        """Apply what other processes appended, without the process lock:
        what a writer does while it waits for the lock, so that once it holds
        the lock only the last few records remain to replay.

        Safe without the lock:

        - a record is read only once complete (one being appended reads as a
          tail, left for later), and a rotation is followed as readers
          always do;
        - a record its writer takes back (an fsync that failed truncates
          the log) is caught by the next catch-up under a lock, which checks
          that the log still holds the last record read here, and else
          starts again from the files;
        - nothing read here is used or seen before this process next holds
          the lock (the write waiting for it, or a read, whose
          :meth:`refresh` takes the lock when records read ahead are still
          unchecked). A ``"full"`` writer holds the lock until its record is
          fsynced, so what is seen is as durable as before.

        Invalid bytes are left for the locked catch-up to judge and report.

        Returns whether it applied a record (the caller then tries the lock
        again at once). Call with the thread lock held. O(bytes read).
        """
        reader = self._reader()
        if reader.gone or reader.size() == reader.offset:
            return False
        try:
            frames = reader.read(strict=False)
        except OSError:
            return False
        if not frames:
            return False
        self._ahead = frames[-1]
        self._apply_frames(frames)
        return True

    # --------------------------------------------------------------- apply

    def digest(self, pk: Any) -> str:
        """Return the digest of a (normalised) partition key, memoised."""
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
        # A batch touches few collections many times: look each up once.
        seen: dict[tuple[str, Any], tuple[dict[Any, Any], Collection | None]] = {}
        for op in ops:
            if op.flags & FLAG_DROP_SPACE:
                self._drop_space(op.space, lsn)
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

    def _drop_space(self, space: str, lsn: int) -> None:
        """Forget every cached and pending collection of ``space`` (a dropped
        table or index, or an index whose backfill starts again).

        Its partition files stay named by the manifest until the next
        checkpoint removes them; until then reads skip them (see
        :meth:`_spans`). Every process applies every drop after the manifest it
        started from, so whichever checkpoints next knows of it."""
        self._drops[space] = lsn
        for slot in [slot for slot in self._overlay if slot[0] == space]:
            del self._overlay[slot]
            self._overlay_pk.pop(slot, None)
        for slot in [slot for slot in self._cache if slot[0] == space]:
            self._cache_used -= self._cache.pop(slot).nbytes

    # ---------------------------------------------------------- partitions

    def _read_span(self, space: str, span: Span) -> tuple[int, list[Part]]:
        """Decode the partition file of ``span`` (the last few decoded stay at
        hand: reading one collection of a file and then its neighbours, as
        scans and loads do, decodes the file once; a collection's
        ``SortedDict`` is built only for the collections asked for).

        Raises:
            FileNotFoundError: a checkpoint elsewhere replaced it (the caller
                reloads the manifest and tries again).
            CorruptFileError: the file fails its checks.
        """
        key = (space, span.file)
        decoded = self._files.get(key)
        if decoded is not None:
            self._files.move_to_end(key)
            return decoded
        path = self.layout.partition_path(space, span.file)
        decoded = decode_part(fs.read_file(path), path)
        if key not in self._held:
            self._held[key] = array("Q", sorted({_short(p.digest) for p in decoded[1]}))
        self._files[key] = decoded
        if len(self._files) > _DECODED_FILES:
            self._files.popitem(last=False)
        return decoded

    def _index_of(self, space: str, span: Span) -> FileIndex | None:
        """The index of partition file ``span`` (``None`` for a format 2
        file), read once: files never change.

        Raises:
            FileNotFoundError / CorruptFileError: as :meth:`_read_span`.
        """
        key = (space, span.file)
        try:
            return self._indexes[key]
        except KeyError:
            pass
        path = self.layout.partition_path(space, span.file)
        head, size = fs.read_head(path, INDEX_READ)
        index = decode_index(head, size, path)
        if isinstance(index, int):  # a large index: read it all
            head, size = fs.read_head(path, index)
            index = decode_index(head, size, path)
        assert not isinstance(index, int)
        self._indexes[key] = index
        return index

    def _read_part(self, space: str, span: Span, digest: str) -> tuple[int, Part | None]:
        """The file lsn of partition file ``span`` and its part of collection
        ``digest`` (``None`` when it holds none). Reads the file's index (once)
        and the one block holding the collection; a format 2 file, or one
        decoded already, is read whole (:meth:`_read_span`).

        Raises:
            FileNotFoundError / CorruptFileError: as :meth:`_read_span`.
        """
        key = (space, span.file)
        decoded = self._files.get(key)
        index = None if decoded is not None else self._index_of(space, span)
        if index is None:
            file_lsn, parts = self._read_span(space, span)
            return file_lsn, _find(parts, digest)
        path = self.layout.partition_path(space, span.file)
        for number in index.blocks_of(digest):
            offset, length = index.blocks[number][:2]
            found = decode_block(index, number, fs.read_range(path, offset, length), path,
                                 digest)
            if found:
                return index.lsn, found[0]
        return index.lsn, None

    def _not_in_file(self, space: str, span: Span, digest: str) -> bool:
        """Whether partition file ``span`` is known not to hold collection
        ``digest`` (it was read before): a new partition key then costs no
        file read. A 64-bit digest prefix per collection, kept per file
        (files never change); a prefix collision only costs a read."""
        index = self._indexes.get((space, span.file))
        if index is not None:
            return not index.holds(digest)
        held = self._held.get((space, span.file))
        if held is None:
            return False
        short = _short(digest)
        i = bisect.bisect_left(held, short)
        return i == len(held) or held[i] != short

    def _materialize(self, space: str, digest: str, pk: Any) -> Collection:
        """Build a collection from its partition file(s) and the overlay, and
        cache the other complete collections of a file it had to read."""
        for attempt in range(_RETRIES):
            self._reload_manifest()
            try:
                return self._build(space, digest, pk)
            except FileNotFoundError as exc:
                if attempt == _RETRIES - 1:
                    raise _missing(exc) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _dropped(self, space: str) -> bool:
        """Whether ``space`` was dropped after the manifest's files were written."""
        return self._drops.get(space, -1) > self._manifest.lsn

    def _build(self, space: str, digest: str, pk: Any) -> Collection:
        spans = [] if self._dropped(space) else self._manifest.covering(space, digest)
        if not spans:
            return self._finish(space, digest, pk, SortedDict(), [])
        if len(spans) == 1:
            if self._not_in_file(space, spans[0], digest):
                return self._finish(space, digest, pk, SortedDict(), [(None, spans[0].lsn)])
            file_lsn, part = self._read_part(space, spans[0], digest)
            if part is None:
                return self._finish(space, digest, pk, SortedDict(), [(None, file_lsn)])
            return self._finish(space, digest, part.pk if pk is None else pk, part.items,
                                [(None, file_lsn)])
        # A collection split by sort key across partitions.
        items = SortedDict()
        ranges: list[tuple[Any, int]] = []
        for span in spans:
            file_lsn, part = self._read_part(space, span, digest)
            if part is not None:
                items.update(part.items)
                if pk is None:
                    pk = part.pk
            ranges.append((span.start, file_lsn))
        return self._finish(space, digest, pk, items, ranges)

    def _finish(self, space: str, digest: str, pk: Any, items: SortedDict,
                ranges: list[tuple[Any, int]]) -> Collection:
        """Apply the overlay to a collection's file content. ``ranges`` holds
        ``(start bound or None, file lsn)`` of each file part, in order."""
        slot = (space, digest)
        entries = self._overlay.get(slot)
        if entries:
            for sk, (lsn, new) in entries.items():
                if lsn > _file_lsn(ranges, digest, sk):
                    if new is None:
                        items.pop(sk, None)
                    else:
                        items[sk] = new
        if pk is None:
            pk = self._overlay_pk.get(slot)
        return Collection(pk, items, self._lsn)

    def _insert(self, slot: Slot, part: Collection) -> None:
        self._cache[slot] = part
        self._cache_used += part.nbytes
        while self._cache_used > self.cache_bytes and len(self._cache) > 1:
            _, evicted = self._cache.popitem(last=False)
            self._cache_used -= evicted.nbytes

    def collection(self, digest: str, pk: Any = None, space: str = "") -> Collection:
        """Return the cached item collection ``digest`` of ``space``, loading it
        when needed.

        ``pk`` may be ``None`` when unknown (scans); the file says. Call with
        the thread lock held and after :meth:`refresh`. O(1) when cached,
        O(partition file) to load.

        Raises:
            ClosedError: the engine is closed.
            CorruptFileError: a partition file fails its checks.
        """
        if self.closed:
            raise ClosedError("the table is closed")
        slot = (space, digest)
        part = self._cache.get(slot)
        if part is not None:
            self._cache.move_to_end(slot)
            return part
        part = self._materialize(space, digest, pk if pk is not None else
                                 self._overlay_pk.get(slot))
        cached = self._cache.get(slot)  # a neighbour load may have cached it meanwhile
        if cached is not None:
            return cached
        self._insert(slot, part)
        return part

    def scan(self, space: str, after: str | None = None) -> Iterator[tuple[str, Collection]]:
        """Yield ``(digest, collection)`` for every item collection of ``space``
        with a digest above ``after``, in digest order, one partition file at
        a time. Takes the thread lock (and catches up) for each partition,
        not between them: collections are current when yielded. O(space).

        Raises:
            ClosedError / CorruptFileError: as :meth:`collection`.
        """
        cursor = after  # every digest up to here was yielded
        position: Bound = MIN_BOUND if after is None else (after, 2, None)
        while True:
            with self.lock.thread_lock:
                self.refresh()
                for attempt in range(_RETRIES):
                    self._reload_manifest()
                    try:
                        batch, end = self._next_batch(space, cursor, position)
                        break
                    except FileNotFoundError as exc:  # a checkpoint elsewhere replaced it
                        if attempt == _RETRIES - 1:
                            raise _missing(exc) from None
            yield from batch
            if batch:
                cursor = batch[-1][0]
            if end is None:
                return
            position = end

    def _next_batch(self, space: str, cursor: str | None, position: Bound
                    ) -> tuple[list[tuple[str, Collection]], Bound | None]:
        """The collections of the partition holding ``position`` whose digests
        are above ``cursor``, and the start of the next partition (``None``
        after the last). Lock held."""
        spans = [] if self._dropped(space) else self._manifest.spaces.get(space, [])
        overlay = [d for d in self.overlay_slots(space) if cursor is None or d > cursor]
        if not spans:
            return [(d, self.collection(d, None, space)) for d in overlay], None
        index = max(0, self._manifest.span_index(space, position))
        end = spans[index + 1].start if index + 1 < len(spans) else None
        _, parts = self._read_span(space, spans[index])
        digests = {p.digest for p in parts}
        digests.update(d for d in overlay if end is None or collection_start(d) < end)
        chosen = sorted(d for d in digests if cursor is None or d > cursor)
        return [(d, self.collection(d, None, space)) for d in chosen], end

    # ---------------------------------------------------------------- write

    def write(self, prepare: Callable[[], tuple[list[Op], R]],
              before_append: Callable[[], None] | None = None) -> R:
        """Commit one record built by ``prepare`` and return its result.

        ``prepare()`` runs under the exclusive lock, after catching up, and
        returns ``(ops, result)``; it may raise to abort (nothing is written).
        Empty ``ops`` write nothing. Once the record is encoded and known to
        fit in a frame, ``before_append()`` runs (it may raise to abort too);
        then the record is appended, flushed (and fsynced in ``"full"``
        mode), and applied before the lock is released.

        Raises:
            DynafileError: the table is read-only.
            ValidationError: the record would be larger than a log record may be.
            LockTimeoutError: another process held the lock too long.
            OSError: the append failed (nothing was written).
        """
        if self.read_only:
            raise DynafileError("table is open read-only")
        self._reader()  # closed, or a forked child's: before any lock
        self.lock.acquire_exclusive(while_waiting=self.read_ahead)
        try:
            self._catch_up(exclusive=True)
            ops, result = prepare()
            if ops:
                self._commit(ops, before_append)
        finally:
            self.lock.release_exclusive()
        if self._overlay_bytes >= self._threshold() and not self.lock.held_by_this_thread():
            try:
                self._checkpoint(wait=False)  # another process checkpointing does it for us
            except OSError as exc:
                # The write is committed; the checkpoint is retried by the
                # next write that finds the overlay still full.
                import logging  # here: importing it costs a new process milliseconds

                logging.getLogger("dynafile").warning(
                    "dynafile: checkpoint after a write failed: %s", exc)
        return result

    def _commit(self, ops: list[Op], before_append: Callable[[], None] | None) -> None:
        time_ms = int(time.time() * 1000)
        body = encode_record(ops, time_ms)
        if len(body) >= MAX_PAYLOAD:
            raise ValidationError(f"one write of {len(body)} bytes is larger than a log record "
                                  f"may be ({MAX_PAYLOAD} bytes); split it (a batch writer's "
                                  "flush_amount)", attribute="write")
        if before_append is not None:
            before_append()
        reader = self._reader()
        lsn = self._lsn + 1
        if reader.offset >= self.segment_bytes:
            self._rotate(lsn)
            lsn += 1
        self._append(encode_frame(lsn, WRITE_AT, body), lsn)
        self._apply(lsn, ops)
        self._lsn = lsn
        if self._observer is not None:
            self._observer(lsn, ops, time_ms)

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
        """Fold the log into partition files now (waiting for a checkpoint
        another process is running); return how many files were written.

        Holds the write lock only briefly (see :meth:`_checkpoint`).

        Raises:
            ForkedProcessError: the engine was opened before a ``fork()``.
        """
        if self.read_only:
            return 0
        self._reader()
        return self._checkpoint(wait=True)

    def _threshold(self) -> int:
        """The overlay size that calls for a checkpoint."""
        return max(self.checkpoint_bytes, self._manifest.item_bytes // 8)

    def _checkpoint(self, wait: bool) -> int:
        """Checkpoint in three steps: under the write lock, freeze what to
        write (the overlay's entries up to the last record, the manifest);
        without it, write the new partition files; under it again, install
        the new manifest and forget the overlay entries it covers. One
        process at a time (the ``CHECKPOINT`` lock; with ``wait`` false,
        return 0 at once when another holds it). Never called with the
        write lock held: writers of every process go on meanwhile."""
        with self._checkpoint_lock().hold(wait) as mine:
            if not mine:
                return 0
            with self.exclusive():
                plan = self._freeze()
            if plan is None:
                return 0
            written = self._write_partitions(plan)
            with self.exclusive():
                removed = self._install(plan)
            for space, name in removed:
                fs.remove(self.layout.partition_path(space, name))
            for space in plan.dropped:
                if space not in plan.manifest.spaces:
                    fs.remove_dir(self.layout.space_dir(space))
            return written

    def _freeze(self) -> _Plan | None:
        """What a checkpoint writes, as of now (exclusive lock held, caught up):
        ``None`` when there is nothing to do."""
        reader = self._reader()
        self._reload_manifest()
        self._prune_overlay()  # what another process's checkpoint holds already
        old = self._manifest
        free_log = self.retention <= 0 and reader.offset > 0
        dropped = [s for s in old.spaces if self._dropped(s)]
        if not self._overlay and not free_log and not dropped:
            return None
        # The partition files and the manifest will claim every record up to
        # here: those records must be on disk first, whoever wrote them (a
        # writer in "normal" mode, or one killed before its fsync).
        fs.sync(reader.fd, reader.path)
        if free_log:
            # Nothing needs the covered log: start a segment the manifest can
            # point at, so every earlier one can go.
            self._rotate(self._lsn + 1)
        manifest = old.copy()
        for space in dropped:
            manifest.set_spans(space, [])
        manifest.lsn, manifest.segment, manifest.offset = self._lsn, reader.segment, reader.offset
        changes: dict[str, dict[str, dict[Any, tuple[int, bytes | None]]]] = {}
        for (space, digest), entries in self._overlay.items():
            changes.setdefault(space, {})[digest] = dict(entries)
        return _Plan(old, manifest, changes, dict(self._overlay_pk), dropped)

    def _write_partitions(self, plan: _Plan) -> int:
        """Write the plan's partition files into its manifest (no lock held:
        the files are new, and only this checkpoint names them)."""
        written = 0
        for space, digests in sorted(plan.changes.items()):
            written += self._checkpoint_space(plan, space, digests)
        return written

    def _install(self, plan: _Plan) -> list[tuple[str, str]]:
        """Make the plan's manifest the current one (exclusive lock held) and
        forget what it covers; return the files it no longer names."""
        if self._stat_manifest() != self._manifest_sig:  # pragma: no cover - CHECKPOINT lock
            raise CorruptFileError(self.layout.manifest, 0, "replaced during a checkpoint")
        fs.atomic_write_bytes(self.layout.manifest, plan.manifest.encode())
        self._manifest = plan.manifest
        self._manifest_sig = self._stat_manifest()
        self._forget_files()
        self._prune_overlay()
        covered = plan.manifest.lsn
        for space in [s for s, lsn in self._drops.items() if lsn <= covered]:
            del self._drops[space]
        self._drop_old_segments()
        return sorted(plan.old.files() - plan.manifest.files())

    def _checkpoint_space(self, plan: _Plan, space: str,
                          changes_of: dict[str, dict[Any, tuple[int, bytes | None]]]) -> int:
        """Rewrite the partitions of ``space`` that the plan's changes fall in,
        into the plan's manifest; return how many files were written."""
        manifest = plan.manifest
        spans = manifest.spaces.get(space, [])
        groups: dict[int, dict[str, dict[Any, tuple[int, bytes | None]]]] = {}
        for digest, entries in changes_of.items():
            if len(manifest.covering(space, digest)) <= 1:
                index = manifest.span_index(space, collection_start(digest)) if spans else -1
                groups.setdefault(index, {})[digest] = entries
                continue
            for sk, entry in entries.items():  # a collection split by sort key
                index = manifest.span_index(space, bound_of(digest, sk))
                groups.setdefault(index, {}).setdefault(digest, {})[sk] = entry
        replaced: dict[int, list[Span]] = {}
        written = 0
        for index, changes in sorted(groups.items()):
            if index >= 0:
                span = spans[index]
                file_lsn, parts = self._read_span(space, span)
                start = span.start
            else:
                file_lsn, parts, start = 0, [], MIN_BOUND
            contents: dict[str, tuple[Any, Any]] = {p.digest: (p.pk, p) for p in parts}
            for digest, entries in changes.items():
                pk, found = contents.get(digest, (None, None))
                if pk is None:
                    pk = plan.pks.get((space, digest))
                if found is None:
                    # A collection new to this file: its items in key order,
                    # without building a SortedDict to insert them one by one.
                    live = {sk: data for sk, (lsn, data) in entries.items()
                            if data is not None and file_lsn < lsn <= manifest.lsn}
                    keys = sorted(live)
                    contents[digest] = (pk, Part(digest, pk, keys, [live[sk] for sk in keys],
                                                 None))
                    continue
                items = found.items
                for sk, (lsn, data) in entries.items():
                    if file_lsn < lsn <= manifest.lsn:
                        if data is None:
                            items.pop(sk, None)
                        else:
                            items[sk] = data
                contents[digest] = (pk, items)
            pieces = cut(start, [(d, pk, items) for d, (pk, items) in sorted(contents.items())
                                 if items], self.partition_bytes)
            out = []
            for piece in pieces:
                name = part_name(manifest.next_file)
                manifest.next_file += 1
                fs.atomic_write_bytes(self.layout.partition_path(space, name),
                                      encode_part(manifest.lsn, piece.parts))
                out.append(Span(piece.start, name, manifest.lsn, piece.size, piece.item_count))
                written += 1
            replaced[index] = out
        result = list(replaced.get(-1, []))
        for index, span in enumerate(spans):
            result.extend(replaced.get(index, [span]))
        if result:
            result[0] = result[0]._replace(start=MIN_BOUND)
        manifest.set_spans(space, result)
        return written

    def _drop_old_segments(self) -> None:
        """Delete segments a checkpoint covers once they are past retention."""
        segments = self.layout.segments()
        now = self._clock()
        current = self._reader().segment
        for first, following in zip(segments, segments[1:]):
            if following - 1 > self._manifest.lsn or first == current:
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

    @property
    def manifest(self) -> Manifest:
        """The manifest as this process last read it (treat as read-only)."""
        return self._manifest

    def position(self) -> LogPosition:
        """Where this process is in the log (call with the thread lock held)."""
        reader = self._reader()
        return LogPosition(self._lsn, reader.segment, reader.offset)

    def spaces(self) -> set[str]:
        """Every space holding data, in partition files or the log since."""
        found = {space for space in self._manifest.spaces if not self._dropped(space)}
        found.update(space for space, _ in self._overlay)
        return found

    def overlay_slots(self, space: str) -> list[str]:
        """The digests of ``space`` with changes not yet in partition files."""
        return sorted(d for sp, d in self._overlay if sp == space)

    # ---------------------------------------------------------------- close

    def _close_files(self) -> None:
        if self._watching:
            self._watching = False
            watcher.remove(self.layout.wal, self._poke)
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._checkpointing is not None:
            self._checkpointing.close()
            self._checkpointing = None
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
        if self.forked:  # the parent's files: drop this process's copies only
            checkpoint = False
        try:
            if checkpoint and not self.read_only and self._overlay:
                try:
                    self.checkpoint()
                except DynafileError:
                    pass  # the log still holds everything; the next open replays it
        finally:
            self.abandon()


def _short(digest: str) -> int:
    """A collection digest's first 64 bits."""
    return int(digest[:16], 16)


def _missing(exc: FileNotFoundError) -> CorruptFileError:
    """A partition file the manifest names is missing, even after reloading it."""
    return CorruptFileError(str(exc.filename), 0, "named by the manifest but missing")


def _find(parts: list[Part], digest: str) -> Part | None:
    """The part of ``digest`` in a decoded partition (parts are in digest order)."""
    lo, hi = 0, len(parts)
    while lo < hi:
        mid = (lo + hi) // 2
        if parts[mid].digest < digest:
            lo = mid + 1
        else:
            hi = mid
    if lo < len(parts) and parts[lo].digest == digest:
        return parts[lo]
    return None


def _file_lsn(ranges: list[tuple[Any, int]], digest: str, sk: Any) -> int:
    """The lsn of the file part holding ``sk`` (``ranges`` as for
    :meth:`Engine._finish`); 0 when no file holds the collection."""
    if not ranges:
        return 0
    if len(ranges) == 1:
        return ranges[0][1]
    key = bound_of(digest, sk)
    lsn = ranges[0][1]
    for start, file_lsn in ranges:
        if start is not None and start <= key:
            lsn = file_lsn
    return lsn



