"""Where a database's files live: the one module that knows the directory layout.

::

    <root>/
      meta.json                      the catalog: tables, their schemas and indexes
      LOCK                           the database lock (storage/locking.py)
      CHECKPOINT                     held by the one process checkpointing
      log/<first lsn, 20 digits>.log log segments
      data/MANIFEST                  the partitions of every space, and the log
                                     position they reflect (storage/manifest.py)
      data/<space>/<n>.part          a partition file (storage/partition.py)
      streams/<consumer>.json, .lock a named stream consumer's position

Inside the log and the engine, partitions belong to *spaces*: a table's items
(:func:`table_space`), one of its indexes (:func:`index_space`), the
transaction tokens (:data:`TOKENS`) or the schema marks (:data:`SCHEMA`).
Space names are made of letters and digits only, from numeric ids, so no
table or index name ever becomes a path; they are written into log records,
so they are part of the file format.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import NamedTuple

__all__ = [
    "SCHEMA",
    "TOKENS",
    "DataFile",
    "Layout",
    "index_space",
    "segment_lsn",
    "segment_name",
    "table_space",
]

#: The space holding transaction idempotency tokens.
TOKENS = "x"
#: The space of schema-change marks: an operation there holds no data; it
#: tells every process that reads it to reload ``meta.json``.
SCHEMA = "m"

_PART = ".part"


def table_space(table_id: int) -> str:
    """The space of table ``table_id``'s items."""
    return f"t{table_id}"


def index_space(table_id: int, index_id: int) -> str:
    """The space of index ``index_id`` of table ``table_id``."""
    return f"t{table_id}i{index_id}"


def segment_name(first_lsn: int) -> str:
    """Return the file name of the segment whose first record is ``first_lsn``."""
    return f"{first_lsn:020d}.log"


def segment_lsn(name: str) -> int | None:
    """Return the first lsn encoded in a segment file name, or ``None``."""
    if len(name) == 24 and name.endswith(".log") and name[:20].isdigit():
        return int(name[:20])
    return None


def part_name(number: int) -> str:
    """The name of partition file number ``number``."""
    return f"{number:012d}{_PART}"


class DataFile(NamedTuple):
    """A file or directory found under ``data/`` (see :meth:`Layout.walk`):
    ``space`` and ``name`` are ``None`` for an entry that is not a partition
    file; ``note`` then says what it is."""

    path: str
    space: str | None
    name: str | None
    note: str = ""


class Layout:
    """The paths of one database directory.

    Attributes:
        root: the database directory.
        meta: ``meta.json`` (the catalog).
        lock: the ``LOCK`` file.
        checkpoint_lock: the ``CHECKPOINT`` lock file (one checkpoint at a time).
        wal: the log directory (``log/``).
        data: the partitions' directory.
        manifest: ``data/MANIFEST``.
        consumers: the directory of stream consumers' positions.
    """

    def __init__(self, root: str) -> None:
        self.root = root
        self.meta = os.path.join(root, "meta.json")
        self.lock = os.path.join(root, "LOCK")
        self.checkpoint_lock = os.path.join(root, "CHECKPOINT")
        self.wal = os.path.join(root, "log")
        self.data = os.path.join(root, "data")
        self.manifest = os.path.join(self.data, "MANIFEST")
        self.consumers = os.path.join(root, "streams")

    # ------------------------------------------------------------------ log

    def segment_path(self, first_lsn: int) -> str:
        """The path of the segment whose first record is ``first_lsn``."""
        return os.path.join(self.wal, segment_name(first_lsn))

    def segments(self) -> list[int]:
        """The first lsns of the log's segments, ascending. One ``listdir``."""
        try:
            names = os.listdir(self.wal)
        except FileNotFoundError:
            return []
        return sorted(n for n in map(segment_lsn, names) if n is not None)

    # ----------------------------------------------------------- partitions

    def space_dir(self, space: str) -> str:
        """The directory of ``space``'s partition files."""
        return os.path.join(self.data, space)

    def partition_path(self, space: str, name: str) -> str:
        """The path of partition file ``name`` of ``space``."""
        return os.path.join(self.data, space, name)

    def space_dirs(self) -> list[str]:
        """The spaces that have a directory under ``data/``. One ``listdir``."""
        try:
            names = os.listdir(self.data)
        except FileNotFoundError:
            return []
        return sorted(n for n in names
                      if n.isalnum() and os.path.isdir(os.path.join(self.data, n)))

    def walk(self) -> Iterator[DataFile]:
        """Every entry under ``data/`` but the manifest. Reads only."""
        try:
            spaces = sorted(os.listdir(self.data))
        except FileNotFoundError:
            return
        for space in spaces:
            directory = os.path.join(self.data, space)
            if space == "MANIFEST":
                continue
            if not space.isalnum() or not os.path.isdir(directory):
                yield DataFile(directory, None, None, "unexpected file")
                continue
            for name in sorted(os.listdir(directory)):
                path = os.path.join(directory, name)
                if name.endswith(_PART) and name[:-len(_PART)].isdigit():
                    yield DataFile(path, space, name)
                else:
                    yield DataFile(path, None, None, "unexpected file")

    # ------------------------------------------------------------ consumers

    def consumer_paths(self, name: str) -> tuple[str, str]:
        """The position file and lock file of stream consumer ``name`` (a
        validated name: it becomes a file name)."""
        return (os.path.join(self.consumers, f"{name}.json"),
                os.path.join(self.consumers, f"{name}.lock"))
