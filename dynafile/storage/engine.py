"""The storage engine: one write-ahead log, partitions folded from it.

State of one open table in one process:

* ``_lsn``: the last log record this process has applied;
* ``_overlay``: for every partition changed since the last checkpoint this
  process knows of, the latest ``(lsn, bytes or None)`` per sort key: the
  log's content not yet in partition files;
* ``_cache``: an LRU of materialised partitions (file snapshot + overlay),
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
from collections import OrderedDict, deque
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, Callable

from sortedcontainers import SortedDict

from ..errors import CorruptFileError, DynafileError
from ..keys import partition_digest
from ..serialization import Unvetted
from . import fs
from .locking import TableLock
from .log import (
    FLAG_DROP_SPACE,
    ROTATE,
    WRITE,
    Op,
    decode_write,
    encode_frame,
    encode_write,
    find_valid_frame,
    parse_frames,
    segment_lsn,
    segment_name,
)
from .partition import Partition, decode_partition, encode_partition

__all__ = ["TOKEN_SPACE", "Engine"]

log = logging.getLogger("dynafile")

#: The space holding transaction idempotency tokens (``_txtokens/``).
TOKEN_SPACE = "x:tokens"

_MARKER = "checkpoint.json"
_CHECKPOINTING = "CHECKPOINTING"
_ENTRY_OVERHEAD = 64


class Engine:
    """Log, partitions, cache and locks of one table directory.

    Args:
        root: the table directory (exists, with ``meta.json``).
        durability: ``"full"`` (fsync each commit) or ``"normal"``.
        cache_bytes: memory budget of the partition cache.
        checkpoint_bytes: fold the log into partition files once this much
            has been written since the last checkpoint.
        segment_bytes: start a new log segment past this size.
        retention: seconds a log segment is kept after a checkpoint covered
            it (for stream readers).
        lock_timeout: seconds to wait for the process lock.
        read_only: open for reading only (the directory may be read-only).
        watch: watch ``wal/`` with ``watchdog`` and apply other processes'
            writes (and notice their checkpoints) as soon as they happen, in
            a background thread, instead of at the next read. Reads check
            the log themselves either way: watching only makes them cheaper.
    """

    def __init__(
        self,
        root: str,
        *,
        durability: str = "full",
        cache_bytes: int = 256 << 20,
        checkpoint_bytes: int = 16 << 20,
        segment_bytes: int = 64 << 20,
        retention: float = 24 * 3600.0,
        lock_timeout: float | None = 60.0,
        read_only: bool = False,
        clock: Callable[[], float] | None = None,  # type: ignore[assignment]
        watch: bool = False,
    ) -> None:
        import time

        self.root = root
        self.wal_dir = os.path.join(root, "wal")
        self.part_dir = os.path.join(root, "_partitions")
        self.durability = durability
        self.cache_bytes = cache_bytes
        self.checkpoint_bytes = checkpoint_bytes
        self.segment_bytes = segment_bytes
        self.retention = retention
        self.read_only = read_only
        self._clock = clock or time.time
        self.lock = TableLock(os.path.join(root, "LOCK"), lock_timeout, read_only)
        # Partitions are named by a slot: (space, digest); space "" is the
        # table, "g:<name>" / "l:<name>" its indexes.
        self._cache: OrderedDict[tuple[str, str], Partition] = OrderedDict()
        self._cache_used = 0
        self._overlay: dict[tuple[str, str], dict[Any, tuple[int, bytes | None]]] = {}
        self._overlay_pk: dict[tuple[str, str], Any] = {}
        self._overlay_bytes = 0
        self._digests: dict[Any, str] = {}
        self._lsn = 0
        self._marker_lsn = 0
        self._fd = -1
        self._seg_first = 0
        self._seg_path = ""
        self._offset = 0
        self._events: deque[tuple[int, list[Op]]] = deque()
        import threading

        self._delivery_lock = threading.Lock()
        #: Called as ``on_commit(lsn, ops)`` for each record this engine wrote,
        #: in log order, outside the write lock.
        self.on_commit: Callable[[int, list[Op]], None] | None = None
        #: Called under the exclusive lock after catching up, before a write's
        #: ``prepare`` or a checkpoint (the table refreshes its schema there).
        self.on_lock: Callable[[], None] | None = None
        #: Called as ``derive(ops)`` under the lock; returns the extra
        #: operations (index maintenance) to commit in the same record.
        self.derive: Callable[[list[Op]], list[Op]] | None = None
        #: Called under the lock just before a non-empty record is appended.
        self.before_append: Callable[[], None] | None = None
        #: Spaces whose partitions checkpoints write (the table and live indexes).
        self.live_spaces: set = {""}
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
        self._observer: Any = None
        if watch:
            self._start_watching()

    # ------------------------------------------------------------ watching

    def _start_watching(self) -> None:
        from watchdog.events import FileSystemEventHandler
        from watchdog.observers import Observer

        engine = self

        class _Handler(FileSystemEventHandler):
            def on_any_event(self, event: Any) -> None:
                engine._poke()

        self._observer = Observer()
        self._observer.daemon = True
        self._observer.schedule(_Handler(), self.wal_dir, recursive=False)
        self._observer.start()

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
        except Exception:  # a reader will meet the same problem and report it
            pass
        finally:
            self.lock.thread_lock.release()

    # ------------------------------------------------------------------ open

    def _recover(self) -> None:
        """Open under the exclusive lock: clean up after a crash, then catch up."""
        fs.makedirs(self.wal_dir)
        fs.remove_stale_temp_files(self.root)
        fs.remove_stale_temp_files(self.wal_dir)
        flag = os.path.join(self.root, _CHECKPOINTING)
        if os.path.exists(flag):
            roots = [self.part_dir] + [os.path.join(self.root, n, "_partitions")
                                       for n in os.listdir(self.root) if n.startswith("_gsi-")]
            for directory in roots:
                for name in os.listdir(directory) if os.path.isdir(directory) else ():
                    fs.remove_stale_temp_files(os.path.join(directory, name))
            os.unlink(flag)
        if not self._segments():
            path = os.path.join(self.wal_dir, segment_name(1))
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
            fs.sync_dir(self.wal_dir)
        self._reset()
        self._catch_up(exclusive=True)
        self._remove_stale_segments()

    def _later_segments(self) -> list[str] | None:
        """Paths of the segments numbered after the current one when all are
        empty (left by a writer that died in :meth:`_rotate` after creating the
        next segment, before its ROTATE record was durable); ``None`` when one
        holds data."""
        paths = [os.path.join(self.wal_dir, segment_name(first))
                 for first in self._segments() if first > self._seg_first]
        return None if any(os.path.getsize(p) for p in paths) else paths

    def _remove_stale_segments(self) -> None:
        """Delete empty leftovers of an interrupted rotation. Call caught up,
        under the exclusive lock."""
        stale = self._later_segments() or []
        for path in stale:
            os.unlink(path)
        if stale:
            fs.sync_dir(self.wal_dir)

    def _segments(self) -> list[int]:
        try:
            names = os.listdir(self.wal_dir)
        except FileNotFoundError:
            return []
        return sorted(n for n in map(segment_lsn, names) if n is not None)

    def _read_marker(self) -> tuple[int, int, int]:
        """Return ``(lsn, segment, offset)`` of the last checkpoint, or the log's start."""
        path = os.path.join(self.wal_dir, _MARKER)
        try:
            with open(path, "rb") as f:
                raw = f.read()
        except FileNotFoundError:
            segments = self._segments()
            return 0, (segments[0] if segments else 1), 0
        try:
            data = json.loads(raw)
            lsn, segment, offset = int(data["lsn"]), int(data["segment"]), int(data["offset"])
        except (ValueError, KeyError, TypeError) as exc:
            raise CorruptFileError(path, 0, f"unreadable checkpoint marker: {exc}") from None
        if lsn < 0 or segment < 1 or offset < 0 or segment > lsn + 1:
            raise CorruptFileError(path, 0, f"impossible checkpoint marker {data}")
        return lsn, segment, offset

    def _open_segment(self, first: int, offset: int) -> None:
        path = os.path.join(self.wal_dir, segment_name(first))
        flags = os.O_RDONLY if self.read_only else (os.O_RDWR | os.O_APPEND)
        fd = os.open(path, flags)
        size = os.fstat(fd).st_size if offset else 0
        if size < offset:
            os.close(fd)
            raise CorruptFileError(path, size, f"log segment is shorter than the "
                                   f"checkpointed offset {offset}")
        if self._fd >= 0:
            os.close(self._fd)
        self._fd, self._seg_first, self._seg_path, self._offset = fd, first, path, offset

    def _reset(self) -> None:
        """Forget everything in memory and start again from the checkpoint marker."""
        lsn, segment, offset = self._read_marker()
        if not os.path.exists(os.path.join(self.wal_dir, segment_name(segment))):
            raise CorruptFileError(os.path.join(self.wal_dir, _MARKER), 0,
                                   f"checkpoint marker names log segment {segment}, "
                                   "which does not exist")
        self._cache.clear()
        self._cache_used = 0
        self._overlay.clear()
        self._overlay_pk.clear()
        self._overlay_bytes = 0
        self._lsn = self._marker_lsn = lsn
        self._open_segment(segment, offset)

    # ------------------------------------------------------------ catch-up

    def refresh(self) -> None:
        """Apply what other processes committed since this one last looked.

        Costs one ``fstat`` when nothing changed. Call with the thread lock held.
        """
        if os.fstat(self._fd).st_size != self._offset:
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
            size = os.fstat(self._fd).st_size
            if size == self._offset:
                return
            base = self._offset
            buf = os.pread(self._fd, size - base, base)
            frames, stop, stop_offset = parse_frames(buf, base)
            for frame in frames:
                if frame.lsn != self._lsn + 1:
                    raise CorruptFileError(
                        self._seg_path, frame.start,
                        f"log sequence jumps from {self._lsn} to {frame.lsn}",
                    )
                if frame.rtype == WRITE:
                    try:
                        ops = [op._replace(new=Unvetted(op.new)) if op.new is not None else op
                               for op in decode_write(frame.body)]
                    except ValueError as exc:
                        raise CorruptFileError(self._seg_path, frame.start,
                                               f"malformed record: {exc}") from None
                    self._apply(frame.lsn, ops)
                elif frame.rtype != ROTATE:
                    raise CorruptFileError(self._seg_path, frame.start,
                                           f"unknown record type {frame.rtype}")
                self._lsn = frame.lsn
                self._offset = frame.end
                if frame.rtype == ROTATE:
                    try:
                        self._open_segment(frame.lsn + 1, 0)
                    except FileNotFoundError:
                        # A checkpoint elsewhere removed segments we had not
                        # read: its partition files hold their content.
                        self._reset()
                    break
            else:
                if stop is None:
                    continue
                self._torn_tail(buf[stop_offset - base :], stop_offset, exclusive)
                return

    def _torn_tail(self, rest: bytes, stop_offset: int, exclusive: bool) -> None:
        """Handle bytes at the log's end (``rest``, from ``stop_offset``) that are
        not a valid record: a torn tail is cut off, corruption is reported."""
        if find_valid_frame(rest, self._lsn) is not None:
            raise CorruptFileError(self._seg_path, stop_offset,
                                   "invalid log record followed by valid ones")
        if self._later_segments() is None:
            raise CorruptFileError(self._seg_path, stop_offset,
                                   "invalid log record in a segment that is not the last")
        if exclusive and not self.read_only:
            # A torn ROTATE (power cut mid-rotation) leaves an empty next segment.
            self._remove_stale_segments()
            # Never acknowledged (its writer died mid-append): cut it off.
            os.ftruncate(self._fd, stop_offset)
            if self.durability == "full":
                fs.sync(self._fd, self._seg_path)

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
                self.drop_space(op.space)
                seen.clear()
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

    def drop_space(self, space: str) -> None:
        """Forget every cached and pending partition of ``space`` (an index drop)."""
        for slot in [slot for slot in self._overlay if slot[0] == space]:
            del self._overlay[slot]
            self._overlay_pk.pop(slot, None)
        for slot in [slot for slot in self._cache if slot[0] == space]:
            self._cache_used -= self._cache.pop(slot).nbytes

    # ---------------------------------------------------------- partitions

    def space_dir(self, space: str) -> str:
        """Return the ``_partitions`` directory holding ``space``'s partitions."""
        if space.startswith("g:"):
            return os.path.join(self.root, f"_gsi-{space[2:]}", "_partitions")
        if space == TOKEN_SPACE:
            return os.path.join(self.root, "_txtokens", "_partitions")
        return self.part_dir

    def _partition_path(self, slot: tuple[str, str]) -> str:
        space, digest = slot
        if space.startswith("l:"):
            return os.path.join(self.part_dir, digest, f"lsi-{space[2:]}.pickle")
        return os.path.join(self.space_dir(space), digest, "data.pickle")

    def _materialize(self, slot: tuple[str, str], pk: Any) -> Partition:
        """Build a partition from its file and the overlay, without caching it."""
        path = self._partition_path(slot)
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

    def partition(self, digest: str, pk: Any = None, space: str = "") -> Partition:
        """Return the cached partition ``digest`` of ``space``, loading it when needed.

        ``pk`` may be ``None`` when unknown (scans); the file says. Call with
        the thread lock held and after :meth:`refresh`. O(1) when cached,
        O(n) to load.
        """
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

    def digests(self, space: str = "") -> list[str]:
        """Return the digests of every partition of ``space`` that may hold items, sorted."""
        try:
            names = set(os.listdir(self.space_dir(space)))
        except FileNotFoundError:
            names = set()
        names.update(digest for sp, digest in self._overlay if sp == space)
        return sorted(n for n in names if len(n) == 32)

    # ---------------------------------------------------------------- write

    def write(self, prepare: Callable[[], tuple[list[Op], Any]]) -> Any:
        """Commit one record built by ``prepare`` and return its result.

        ``prepare()`` runs under the exclusive lock, after catching up, and
        returns ``(ops, result)``; it may raise to abort (nothing is written).
        Empty ``ops`` write nothing. The record is appended, flushed (and
        fsynced in ``"full"`` mode), and applied before the lock is released;
        ``on_commit`` then sees it, in log order.
        """
        if self.read_only:
            raise DynafileError("table is open read-only")
        self.lock.acquire_exclusive()
        try:
            self._catch_up(exclusive=True)
            if self.on_lock is not None:
                self.on_lock()
            ops, result = prepare()
            if ops and self.derive is not None:
                ops = ops + self.derive(ops)
            if ops:
                if self.before_append is not None:
                    self.before_append()
                lsn = self._lsn + 1
                if self._offset >= self.segment_bytes:
                    self._rotate(lsn)
                    lsn += 1
                self._append(encode_frame(lsn, WRITE, encode_write(ops)))
                self._apply(lsn, ops)
                self._lsn = lsn
                if self.on_commit is not None:
                    self._events.append((lsn, ops))
                if self._overlay_bytes >= self.checkpoint_bytes:
                    try:
                        self._checkpoint()
                    except OSError as exc:
                        # The write is committed; the checkpoint is retried by
                        # the next write that finds the overlay still full.
                        log.warning("dynafile: checkpoint after a write failed: %s", exc)
        finally:
            self.lock.release_exclusive()
        if self._events:
            self._deliver()
        return result

    @contextmanager
    def maintenance(self) -> Iterator[None]:
        """Hold the exclusive lock, caught up with the log and ``on_lock`` run:
        for schema changes (index creation and drop)."""
        with self.lock.exclusive():
            self._catch_up(exclusive=True)
            if self.on_lock is not None:
                self.on_lock()
            yield

    def _append(self, frame: bytes) -> None:
        start = self._offset
        try:
            fs.append(self._fd, frame, self._seg_path)
            if self.durability == "full":
                fs.sync(self._fd, self._seg_path)
        except BaseException:
            # Nothing was acknowledged: remove whatever part reached the file.
            try:
                os.ftruncate(self._fd, start)
            except OSError:  # pragma: no cover - the next writer cuts the torn tail
                pass
            raise
        self._offset = start + len(frame)

    def _rotate(self, lsn: int) -> None:
        """End the current segment with a ROTATE record (``lsn``) and continue
        in a new segment starting at ``lsn + 1``."""
        path = os.path.join(self.wal_dir, segment_name(lsn + 1))
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
        fs.sync_dir(self.wal_dir)
        self._append(encode_frame(lsn, ROTATE, b""))
        if self.durability != "full":
            fs.sync(self._fd, self._seg_path)
        self._lsn = lsn
        self._open_segment(lsn + 1, 0)

    def _deliver(self) -> None:
        with self._delivery_lock:
            while self._events:
                lsn, ops = self._events.popleft()
                callback = self.on_commit
                if callback is not None:
                    callback(lsn, ops)

    # ----------------------------------------------------------- checkpoint

    def checkpoint(self) -> int:
        """Fold the log into partition files now; return how many were written."""
        if self.read_only:
            return 0
        with self.lock.exclusive():
            self._catch_up(exclusive=True)
            if self.on_lock is not None:
                self.on_lock()
            return self._checkpoint()

    def _checkpoint(self) -> int:
        if not self._overlay:
            return 0
        if self.durability != "full":
            # Partition files and the marker will claim every record up to
            # self._lsn: those records must be on disk before they are.
            fs.sync(self._fd, self._seg_path)
        flag = os.path.join(self.root, _CHECKPOINTING)
        with open(flag, "wb"):
            pass
        written = 0
        for slot in sorted(self._overlay):
            if slot[0] not in self.live_spaces:
                continue  # an index dropped since: its files are gone
            part = self._cache.get(slot)
            if part is None:
                part = self._materialize(slot, self._overlay_pk.get(slot))
            path = self._partition_path(slot)
            if part.items:
                fs.atomic_write_bytes(path, encode_partition(part.pk, part.items, self._lsn))
            else:
                self._remove_partition(path)
            written += 1
        marker = {"lsn": self._lsn, "segment": self._seg_first, "offset": self._offset}
        fs.atomic_write_bytes(os.path.join(self.wal_dir, _MARKER), json.dumps(marker).encode())
        os.unlink(flag)
        self._overlay.clear()
        self._overlay_pk.clear()
        self._overlay_bytes = 0
        self._marker_lsn = self._lsn
        self._drop_old_segments()
        return written

    def _remove_partition(self, path: str) -> None:
        """Remove an emptied partition's file, and its directory once empty."""
        try:
            os.unlink(path)
        except FileNotFoundError:
            return
        directory = os.path.dirname(path)
        try:
            os.rmdir(directory)
        except OSError:  # still holds another index's file
            fs.sync_dir(directory)
            return
        fs.sync_dir(os.path.dirname(directory))

    def _drop_old_segments(self) -> None:
        """Delete segments a checkpoint covers once they are past retention."""
        segments = self._segments()
        now = self._clock()
        for first, following in zip(segments, segments[1:]):
            if following - 1 > self._marker_lsn or first == self._seg_first:
                break
            path = os.path.join(self.wal_dir, segment_name(first))
            try:
                if now - os.stat(path).st_mtime < self.retention:
                    break
                os.unlink(path)
            except FileNotFoundError:
                continue

    # ---------------------------------------------------------------- close

    def _close_files(self) -> None:
        observer = getattr(self, "_observer", None)
        if observer is not None:
            self._observer = None
            observer.stop()
            observer.join(5)
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        self.lock.close()

    def close(self, checkpoint: bool = True) -> None:
        """Checkpoint (so the next open is fast) and release files and locks."""
        if self.closed:
            return
        try:
            if checkpoint and not self.read_only and self._overlay:
                try:
                    self.checkpoint()
                except DynafileError:
                    pass  # the log still holds everything; the next open replays it
        finally:
            self.closed = True
            self._close_files()
            self._cache.clear()
            self._overlay.clear()

    @property
    def lsn(self) -> int:
        """The last log sequence number this process has applied."""
        return self._lsn
