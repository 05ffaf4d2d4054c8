"""Where a table's files live: the one module that knows the directory layout.

::

    <root>/
      meta.json                                   the schema (dynafile/schema.py)
      LOCK                                        the table lock (storage/locking.py)
      CHECKPOINTING                               present while a checkpoint runs
      wal/<first lsn, 20 digits>.log              log segments
      wal/checkpoint.json                         the last checkpoint's position
      _partitions/<digest>/data.pickle            a partition of the table
      _partitions/<digest>/lsi-<name>.pickle      that partition in a local index
      _gsi-<name>/_partitions/<digest>/data.pickle   a partition of a global index
      _txtokens/_partitions/<digest>/data.pickle  transaction idempotency tokens
      streams/<consumer>.json, .lock              a named stream consumer's position

Inside the log and the engine, partitions belong to *spaces*: :data:`TABLE`
(the table's items), an index's space (:func:`gsi_space`, :func:`lsi_space`)
and :data:`TOKENS`. Space names are written into log records, so they are
part of the file format. Only this module turns a space into a path.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import NamedTuple

__all__ = [
    "SCHEMA",
    "TABLE",
    "TOKENS",
    "Layout",
    "PartitionFile",
    "gsi_space",
    "lsi_space",
    "segment_lsn",
    "segment_name",
]

#: The space of the table's own items.
TABLE = ""
#: The space holding transaction idempotency tokens.
TOKENS = "x:tokens"
#: The space of schema-change marks: an operation there holds no data; it
#: tells every process that reads it to reload ``meta.json``.
SCHEMA = "m:schema"

_GSI = "g:"
_LSI = "l:"
_GSI_DIR = "_gsi-"
_LSI_FILE = "lsi-"
_PARTITIONS = "_partitions"
_DATA = "data.pickle"
_SUFFIX = ".pickle"
_TOKENS_DIR = "_txtokens"
_DIGEST_LEN = 32


def gsi_space(name: str) -> str:
    """The space of global secondary index ``name``."""
    return _GSI + name


def lsi_space(name: str) -> str:
    """The space of local secondary index ``name``."""
    return _LSI + name


def segment_name(first_lsn: int) -> str:
    """Return the file name of the segment whose first record is ``first_lsn``."""
    return f"{first_lsn:020d}.log"


def segment_lsn(name: str) -> int | None:
    """Return the first lsn encoded in a segment file name, or ``None``."""
    if len(name) == 24 and name.endswith(".log") and name[:20].isdigit():
        return int(name[:20])
    return None


class PartitionFile(NamedTuple):
    """A file found under a table's partition directories (see :meth:`Layout.walk`).

    ``space`` and ``digest`` are ``None`` for a file that is not a partition
    file; ``note`` then says what it is.
    """

    path: str
    space: str | None
    digest: str | None
    note: str = ""


class Layout:
    """The paths of one table directory.

    Attributes:
        root: the table directory.
        meta: ``meta.json``.
        lock: the ``LOCK`` file.
        wal: the log directory.
        marker: the checkpoint marker ``wal/checkpoint.json``.
        checkpointing: the flag file present while a checkpoint runs.
        consumers: the directory of stream consumers' positions.
    """

    def __init__(self, root: str) -> None:
        self.root = root
        self.meta = os.path.join(root, "meta.json")
        self.lock = os.path.join(root, "LOCK")
        self.wal = os.path.join(root, "wal")
        self.marker = os.path.join(self.wal, "checkpoint.json")
        self.checkpointing = os.path.join(root, "CHECKPOINTING")
        self.consumers = os.path.join(root, "streams")
        self._table_dir = os.path.join(root, _PARTITIONS)

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
        """The directory whose subdirectories (one per digest) hold ``space``'s
        partitions. A local index lives beside its table partitions."""
        if space.startswith(_GSI):
            return os.path.join(self.root, _GSI_DIR + space[len(_GSI):], _PARTITIONS)
        if space == TOKENS:
            return os.path.join(self.root, _TOKENS_DIR, _PARTITIONS)
        return self._table_dir

    def partition_path(self, space: str, digest: str) -> str:
        """The file of partition ``digest`` of ``space``."""
        if space.startswith(_LSI):
            return os.path.join(self._table_dir, digest, f"{_LSI_FILE}{space[len(_LSI):]}{_SUFFIX}")
        return os.path.join(self.space_dir(space), digest, _DATA)

    def digests(self, space: str) -> list[str]:
        """The digests of ``space``'s partition directories on disk (unsorted)."""
        try:
            names = os.listdir(self.space_dir(space))
        except FileNotFoundError:
            return []
        return [n for n in names if len(n) == _DIGEST_LEN]

    def index_dir(self, space: str) -> str | None:
        """The directory to delete with a dropped index (``None``: its files
        are removed one by one with their partitions, as for local indexes)."""
        if space.startswith(_GSI):
            return os.path.dirname(self.space_dir(space))
        return None

    def partition_roots(self) -> list[str]:
        """Every directory that holds partition directories."""
        roots = [self._table_dir, self.space_dir(TOKENS)]
        try:
            names = os.listdir(self.root)
        except FileNotFoundError:
            return roots
        roots += [os.path.join(self.root, n, _PARTITIONS) for n in sorted(names)
                  if n.startswith(_GSI_DIR)]
        return roots

    def walk(self) -> Iterator[PartitionFile]:
        """Every file under the partition directories and every unexpected
        entry of the table directory, for :mod:`dynafile.check`. Reads only."""
        known = {"meta.json", "LOCK", "wal", _PARTITIONS, "CHECKPOINTING", "streams", _TOKENS_DIR}
        try:
            names = sorted(os.listdir(self.root))
        except FileNotFoundError:
            return
        for name in names:
            full = os.path.join(self.root, name)
            if name.startswith(_GSI_DIR):
                yield from self._walk_space(gsi_space(name[len(_GSI_DIR):]))
            elif name not in known:
                yield PartitionFile(full, None, None, "unexpected file")
        yield from self._walk_space(TABLE)
        yield from self._walk_space(TOKENS)

    def _walk_space(self, space: str) -> Iterator[PartitionFile]:
        directory = self.space_dir(space)
        try:
            digests = sorted(os.listdir(directory))
        except FileNotFoundError:
            return
        for digest in digests:
            pdir = os.path.join(directory, digest)
            if len(digest) != _DIGEST_LEN or not all(c in "0123456789abcdef" for c in digest) \
                    or not os.path.isdir(pdir):
                yield PartitionFile(pdir, None, None, "unexpected file (not a partition directory)")
                continue
            names = sorted(os.listdir(pdir))
            if not names:
                yield PartitionFile(pdir, None, None, "empty partition directory")
            for name in names:
                path = os.path.join(pdir, name)
                if name == _DATA:
                    yield PartitionFile(path, space, digest)
                elif space == TABLE and name.startswith(_LSI_FILE) and name.endswith(_SUFFIX):
                    yield PartitionFile(path, lsi_space(name[len(_LSI_FILE):-len(_SUFFIX)]),
                                        digest)
                else:
                    yield PartitionFile(path, None, None, "unexpected file")

    def relative_partition_path(self, space: str, digest: str) -> str:
        """:meth:`partition_path` relative to the table directory (for reports)."""
        return os.path.relpath(self.partition_path(space, digest), self.root)

    # ------------------------------------------------------------ consumers

    def consumer_paths(self, name: str) -> tuple[str, str]:
        """The position file and lock file of stream consumer ``name`` (a
        validated name: it becomes a file name)."""
        return (os.path.join(self.consumers, f"{name}.json"),
                os.path.join(self.consumers, f"{name}.lock"))
