"""``dynafile copy``: tables from a data directory to a DynamoDB endpoint and
back (or directory to directory, endpoint to endpoint), with their
definitions, resumable after an interruption.

A copy reads each source table in pages (a DynamoDB source in parallel
``Scan`` segments, a directory in one ordered scan), writes each page to
the destination (BatchWriteItem in 25s from a pool of threads, or one
batch record of the destination database), and only then records, in the
**progress file**, where the next page starts. A copy killed at any moment
and started again with the same source, destination and progress file
reads the progress file and goes on from there: pages written before the
kill but not recorded are written again, which changes nothing (a put of
the same item), so the result equals an uninterrupted copy. The progress
file is removed when the copy is complete.
"""

from __future__ import annotations

import hashlib
import json
import os
import queue
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..database import Database
from ..errors import DynafileError
from .common import NO_REPORT, Reporter, TransferError, write_atomically
from .definition import create_in_database, definition_from_database
from .dynamo import DynamoTables, is_endpoint, parse_endpoint
from .values import ValueFormatError, item_from_dynamodb, item_to_dynamodb

__all__ = ["CopyResult", "copy", "default_progress_path", "open_store"]

PROGRESS_FORMAT = "dynafile-copy-progress/1"


class Store(Protocol):
    """One side of a copy."""

    name: str
    default_segments: int

    def tables(self) -> list[str]: ...
    def exists(self, table: str) -> bool: ...
    def definition(self, table: str) -> dict[str, Any]: ...
    def create(self, table: str, definition: Mapping[str, Any]) -> None: ...
    def approximate_count(self, table: str) -> int | None: ...
    def pages(self, table: str, segment: int, total: int, start: Mapping[str, Any] | None,
              ) -> Iterator[tuple[list[dict[str, Any]], dict[str, Any] | None]]: ...
    def write(self, table: str, items: Sequence[Mapping[str, Any]]) -> None: ...
    def close(self) -> None: ...


class DirectoryStore:
    """A data directory: read through one ordered scan, written in batch records."""

    default_segments = 1

    def __init__(self, path: str, *, read_only: bool, page: int = 1000,
                 ttl_mode: str | None = None) -> None:
        self.path = os.path.abspath(path)
        self.name = self.path
        if read_only and not os.path.exists(os.path.join(self.path, "meta.json")):
            raise TransferError(f"{path}: not a dynafile database (no meta.json)")
        self.db = Database(self.path, read_only=read_only)
        self.page = page
        self.ttl_mode = ttl_mode

    def tables(self) -> list[str]:
        return self.db.tables()

    def exists(self, table: str) -> bool:
        return table in self.db.tables()

    def definition(self, table: str) -> dict[str, Any]:
        return definition_from_database(self.db, table)

    def create(self, table: str, definition: Mapping[str, Any]) -> None:
        create_in_database(self.db, table, definition, ttl_mode=self.ttl_mode)

    def approximate_count(self, table: str) -> int | None:
        return self.db.describe_table(table).get("item_count") or None

    def pages(self, table: str, segment: int, total: int, start: Mapping[str, Any] | None,
              ) -> Iterator[tuple[list[dict[str, Any]], dict[str, Any] | None]]:
        handle = self.db.table(table)
        key = item_from_dynamodb(start) if start is not None else None
        while True:
            kwargs: dict[str, Any] = {"limit": self.page, "exclusive_start_key": key}
            if total > 1:
                kwargs.update(segment=segment, total_segments=total)
            page = handle.scan(**kwargs)
            items = list(page)
            key = page.last_evaluated_key
            yield items, (item_to_dynamodb(key) if key is not None else None)
            if key is None:
                return

    def write(self, table: str, items: Sequence[Mapping[str, Any]]) -> None:
        handle = self.db.table(table)
        with handle.batch_writer() as writer:
            for item in items:
                writer.put_item(item=item)

    def close(self) -> None:
        self.db.close()


class EndpointStore:
    """A DynamoDB endpoint: read in parallel Scan segments, written with
    BatchWriteItem from a pool of ``workers`` threads."""

    def __init__(self, text: str, *, workers: int = 8, segments: int = 4,
                 page: int = 1000) -> None:
        self.endpoint = parse_endpoint(text)
        self.name = str(self.endpoint)
        self.dynamo = DynamoTables(self.endpoint, connections=max(workers, segments) + 4)
        self.pool = ThreadPoolExecutor(workers, thread_name_prefix="dynafile-copy")
        self.default_segments = segments
        self.page = page

    def tables(self) -> list[str]:
        return self.dynamo.tables()

    def exists(self, table: str) -> bool:
        return self.dynamo.exists(table)

    def definition(self, table: str) -> dict[str, Any]:
        return self.dynamo.definition(table)

    def create(self, table: str, definition: Mapping[str, Any]) -> None:
        self.dynamo.create(table, definition)

    def approximate_count(self, table: str) -> int | None:
        return self.dynamo.approximate_count(table)

    def pages(self, table: str, segment: int, total: int, start: Mapping[str, Any] | None,
              ) -> Iterator[tuple[list[dict[str, Any]], dict[str, Any] | None]]:
        return self.dynamo.scan_pages(table, segment, total, start, limit=self.page)

    def write(self, table: str, items: Sequence[Mapping[str, Any]]) -> None:
        chunks = [items[i:i + 25] for i in range(0, len(items), 25)]
        for future in [self.pool.submit(self.dynamo.write, table, c) for c in chunks]:
            future.result()

    def close(self) -> None:
        self.pool.shutdown(wait=True)


def open_store(location: str, *, role: str, workers: int = 8, segments: int = 4,
               ttl_mode: str | None = None, page: int = 1000) -> DirectoryStore | EndpointStore:
    """Open a copy's source (``role="source"``) or destination."""
    if is_endpoint(location):
        return EndpointStore(location, workers=workers, segments=segments, page=page)
    return DirectoryStore(location, read_only=role == "source", ttl_mode=ttl_mode, page=page)


def default_progress_path(source: str, destination: str, tables: Sequence[str] | None) -> str:
    """Where a copy keeps its progress unless told: a file named by what is
    copied, under ``$XDG_CACHE_HOME/dynafile`` (``~/.cache/dynafile``)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    what = json.dumps([source, destination, sorted(tables or [])])
    digest = hashlib.sha256(what.encode("utf-8")).hexdigest()[:16]
    return os.path.join(base, "dynafile", f"copy-{digest}.json")


class _Progress:
    """The progress file: where each segment of each table goes on from."""

    def __init__(self, path: str, source: str, destination: str, restart: bool) -> None:
        self.path = path
        self.lock = threading.Lock()
        self.resumed = False
        state = None
        if os.path.exists(path) and not restart:
            try:
                with open(path, encoding="utf-8") as f:
                    state = json.load(f)
            except (OSError, ValueError) as error:
                raise TransferError(f"{path}: unreadable progress file ({error}); start "
                                    "again with --restart") from None
            if state.get("format") != PROGRESS_FORMAT:
                raise TransferError(f"{path}: not a copy progress file")
            if (state.get("source"), state.get("destination")) != (source, destination):
                raise TransferError(
                    f"{path}: records a copy from {state.get('source')} to "
                    f"{state.get('destination')}, not this one: use another --progress file, "
                    "or --restart")
            self.resumed = True
        self.state: dict[str, Any] = state or {"format": PROGRESS_FORMAT, "source": source,
                                               "destination": destination, "tables": {}}
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)

    def table(self, name: str) -> dict[str, Any] | None:
        return self.state["tables"].get(name)  # type: ignore[no-any-return]

    def start_table(self, name: str, destination: str, segments: int) -> dict[str, Any]:
        with self.lock:
            entry = self.state["tables"].get(name)
            if entry is None:
                entry = {"destination": destination, "segments": segments, "created": False,
                         "done": False,
                         "positions": {str(s): {"start": None, "done": False, "items": 0}
                                       for s in range(segments)}}
                self.state["tables"][name] = entry
                self._save()
            return entry  # type: ignore[no-any-return]

    def update(self, name: str, **changes: Any) -> None:
        with self.lock:
            self.state["tables"][name].update(changes)
            self._save()

    def advance(self, name: str, segment: int, start: Mapping[str, Any] | None,
                items: int) -> None:
        with self.lock:
            position = self.state["tables"][name]["positions"][str(segment)]
            position["start"] = start
            position["done"] = start is None
            position["items"] += items
            self._save()

    def _save(self) -> None:
        write_atomically(self.path, self.state)

    def remove(self) -> None:
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass


@dataclass
class CopyResult:
    """What a copy did."""

    tables: dict[str, int] = field(default_factory=dict)   # source table -> items copied
    seconds: float = 0.0
    resumed: bool = False
    progress_path: str = ""

    @property
    def items(self) -> int:
        return sum(self.tables.values())


def _copy_segment(source: Store, destination: Store, table: str, target: str, segment: int,
                  total: int, start: Mapping[str, Any] | None, progress: _Progress,
                  reporter: Reporter, failed: threading.Event) -> None:
    """Read a segment's pages in a thread of their own (one page ahead), write
    each, record each."""
    pages: queue.Queue[Any] = queue.Queue(maxsize=2)
    done = object()

    def read() -> None:
        try:
            for page in source.pages(table, segment, total, start):
                while not failed.is_set():
                    try:
                        pages.put(page, timeout=0.2)
                        break
                    except queue.Full:
                        continue
                if failed.is_set():
                    return
            pages.put(done)
        except BaseException as error:  # noqa: BLE001 - handed to the writer
            pages.put(error)

    reader = threading.Thread(target=read, daemon=True, name=f"dynafile-read-{segment}")
    reader.start()
    try:
        while True:
            page = pages.get()
            if page is done:
                return
            if isinstance(page, BaseException):
                raise page
            items, following = page
            if items:
                destination.write(target, items)
            progress.advance(table, segment, following, len(items))
            reporter.advance(len(items))
            if following is None:
                return
            if failed.is_set():
                return
    except BaseException:
        failed.set()
        raise
    finally:
        reader.join(timeout=1.0)


def copy(source_location: str, destination_location: str, *,
         tables: Sequence[str] | None = None, rename: str | None = None,
         progress_path: str | None = None, restart: bool = False, existing: bool = False,
         segments: int | None = None, workers: int = 8, ttl_mode: str | None = None,
         page: int = 1000, reporter: Reporter = NO_REPORT) -> CopyResult:
    """Copy tables (all of the source's, or ``tables``) from a data directory
    or DynamoDB endpoint to another, definitions first.

    Args:
        rename: the destination table's name (copying one table).
        progress_path: the progress file (default: see
            :func:`default_progress_path`).
        restart: ignore a progress file from an earlier run.
        existing: copy into destination tables that exist (else an existing
            table is an error, unless the progress file says this copy
            created it).
        segments: parallel Scan segments of a DynamoDB source (4).
        workers: threads writing to a DynamoDB destination (8).
        ttl_mode: the ``ttl_mode`` of tables created in a directory
            (default: the source's, else ``"hide"``).
        page: items per page read (and per progress record).

    Raises:
        TransferError: a missing source table, an existing destination
            table, a progress file of another copy, a value DynamoDB JSON
            cannot hold, items the endpoint keeps refusing.
    """
    started = time.time()
    source = open_store(source_location, role="source", segments=segments or 4,
                        workers=workers, page=page)
    try:
        destination = open_store(destination_location, role="destination", workers=workers,
                                 segments=segments or 4, ttl_mode=ttl_mode, page=page)
    except BaseException:
        source.close()
        raise
    try:
        names = list(tables) if tables else source.tables()
        if rename is not None and (not tables or len(names) != 1):
            raise TransferError("--to-table renames one table: name it with --table")
        path = progress_path or default_progress_path(source.name, destination.name, tables)
        progress = _Progress(path, source.name, destination.name, restart)
        result = CopyResult(resumed=progress.resumed, progress_path=path)
        for name in names:
            if not source.exists(name):
                raise TransferError(f"{source.name}: no table {name}")
        for name in names:
            target = rename or name
            result.tables[name] = _copy_table(source, destination, name, target, progress,
                                              existing, segments, reporter)
        progress.remove()
        result.seconds = time.time() - started
        return result
    finally:
        try:
            destination.close()
        finally:
            source.close()


def _copy_table(source: Store, destination: Store, name: str, target: str,
                progress: _Progress, existing: bool, segments: int | None,
                reporter: Reporter) -> int:
    entry = progress.table(name)
    if entry is not None and entry["destination"] != target:
        raise TransferError(f"{progress.path}: table {name} was being copied to "
                            f"{entry['destination']}, not {target}: use --restart")
    if entry is None:
        total = segments or source.default_segments
        if destination.exists(target) and not existing:
            raise TransferError(f"{destination.name}: table {target} exists (copy into it with "
                                "--existing)")
        entry = progress.start_table(name, target, total)
    if entry.get("done"):
        return sum(p["items"] for p in entry["positions"].values())
    if not entry["created"]:
        if not destination.exists(target):
            destination.create(target, source.definition(name))
        progress.update(name, created=True)
    total = int(entry["segments"])
    already = sum(p["items"] for p in entry["positions"].values())
    count = source.approximate_count(name)
    reporter.begin(f"copy {name}", max(count, already) if count else None)
    reporter.advance(already)
    failed = threading.Event()
    try:
        open_segments = [(int(s), p["start"]) for s, p in entry["positions"].items()
                         if not p["done"]]
        if len(open_segments) == 1:
            segment, start = open_segments[0]
            _copy_segment(source, destination, name, target, segment, total, start, progress,
                          reporter, failed)
        elif open_segments:
            with ThreadPoolExecutor(len(open_segments),
                                    thread_name_prefix="dynafile-segment") as pool:
                futures = [pool.submit(_copy_segment, source, destination, name, target,
                                       segment, total, start, progress, reporter, failed)
                           for segment, start in open_segments]
                errors = []
                for future in futures:
                    try:
                        future.result()
                    except BaseException as error:  # noqa: BLE001 - the first is raised
                        errors.append(error)
                if errors:
                    raise errors[0]
    except ValueFormatError as error:
        raise TransferError(f"table {name}: {error}") from None
    except DynafileError as error:
        raise TransferError(f"table {name}: {type(error).__name__}: {error}") from None
    finally:
        reporter.end()
    progress.update(name, done=True)
    entry = progress.table(name) or entry
    return sum(p["items"] for p in entry["positions"].values())
