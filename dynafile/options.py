"""Opening a database directory: the options :class:`~dynafile.table.Dynafile`
and :class:`~dynafile.database.Database` share, checked before anything is
touched, and the upgrade of an older format on open.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterable, Sequence
from typing import Any, Callable

from .core import DatabaseCore
from .errors import UnsupportedFormatError, ValidationError
from .migrate import has_leftovers, migrate, needs_migration
from .storage import fs

__all__ = [
    "attribute_name",
    "check_indexes",
    "choice",
    "database_options",
    "flag",
    "open_database",
    "positive_int",
    "seconds",
]


def positive_int(value: Any, attribute: str, minimum: int = 1) -> int:
    """``value`` when it is an int of at least ``minimum`` (not a bool).

    Raises:
        ValidationError: otherwise.
    """
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValidationError("must be a positive int" if minimum == 1
                              else f"must be an int >= {minimum}", attribute=attribute)
    return value


def seconds(value: Any, attribute: str, *, optional: bool, positive: bool) -> float | None:
    """``value`` as a float number of seconds (``None`` when ``optional``).

    Raises:
        ValidationError: not a finite number >= 0 (> 0 when ``positive``).
    """
    if value is None and optional:
        return None
    if (not isinstance(value, (int, float)) or isinstance(value, bool) or math.isnan(value)
            or value < 0 or (positive and value == 0)):
        kind = "a positive" if positive else "a"
        raise ValidationError(f"must be {kind} number of seconds"
                              + (" >= 0" if not positive else "")
                              + (" or None" if optional else ""), attribute=attribute)
    return float(value)


def flag(value: Any, attribute: str) -> bool:
    """``value`` when it is a bool.

    Raises:
        ValidationError: otherwise.
    """
    if not isinstance(value, bool):
        raise ValidationError("must be True or False", attribute=attribute)
    return value


def attribute_name(value: Any, attribute: str, optional: bool) -> str | None:
    """``value`` when it is a non-empty string (or ``None`` when ``optional``).

    Raises:
        ValidationError: otherwise.
    """
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value:
        raise ValidationError("must be a non-empty string" + (" or None" if optional else ""),
                              attribute=attribute)
    return value


def check_indexes(indexes: Any, cls: type, attribute: str) -> list[Any]:
    """``indexes`` as a list of ``cls`` objects with distinct names.

    Raises:
        ValidationError: otherwise.
    """
    if isinstance(indexes, (str, bytes)) or not isinstance(indexes, Iterable):
        raise ValidationError(f"must be a list of {cls.__name__} objects", attribute=attribute)
    out = list(indexes)
    if not all(isinstance(index, cls) for index in out):
        raise ValidationError(f"must be a list of {cls.__name__} objects", attribute=attribute)
    if len({index.name for index in out}) != len(out):
        raise ValidationError("index names must be unique", attribute=attribute)
    return out


def choice(value: Any, choices: Sequence[str], attribute: str) -> str:
    """``value`` when it is one of ``choices``.

    Raises:
        ValidationError: otherwise.
    """
    if value not in choices:
        raise ValidationError(f"must be one of {', '.join(choices)}, got {value!r}",
                              attribute=attribute)
    return value  # type: ignore[no-any-return]


def database_options(*, durability: str = "full", max_item_size: int = 400 * 1024,
                     cache_bytes: int = 256 << 20, lock_timeout: float | None = 60.0,
                     checkpoint_bytes: int = 16 << 20, clock: Callable[[], float] | None = None,
                     watch: bool = False, retention: float = 24 * 3600.0,
                     segment_bytes: int = 64 << 20,
                     partition_bytes: int = 1 << 20) -> dict[str, Any]:
    """Check the options of an open database and return them for
    :func:`open_database` (see :class:`~dynafile.table.Dynafile` for each).

    Raises:
        ValidationError: an option is invalid.
    """
    if durability not in ("full", "normal"):
        raise ValidationError("must be 'full' or 'normal'", attribute="durability")
    positive_int(max_item_size, "max_item_size")
    positive_int(cache_bytes, "cache_bytes", 0)
    positive_int(checkpoint_bytes, "checkpoint_bytes")
    positive_int(segment_bytes, "segment_bytes", 4096)
    positive_int(partition_bytes, "partition_bytes", 256)
    seconds(lock_timeout, "lock_timeout", optional=True, positive=False)
    seconds(retention, "retention", optional=False, positive=False)
    flag(watch, "watch")
    if clock is not None and not callable(clock):
        raise ValidationError("must be a function returning epoch seconds", attribute="clock")
    return {"durability": durability, "max_item_size": max_item_size,
            "cache_bytes": cache_bytes, "lock_timeout": lock_timeout,
            "checkpoint_bytes": checkpoint_bytes, "clock": clock or time.time, "watch": watch,
            "retention": float(retention), "segment_bytes": segment_bytes,
            "partition_bytes": partition_bytes}


def open_database(path: Any, *, read_only: bool, options: dict[str, Any]) -> DatabaseCore:
    """Open (creating it when missing and writable) the database directory
    ``path``; a directory of an older format is upgraded first.

    Raises:
        ValidationError: ``path`` is not a path, or a read-only open of a
            directory that does not exist.
        UnsupportedFormatError: an older format opened read-only (run
            ``dynafile migrate PATH``), or an unknown one.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise ValidationError("must be a directory path", attribute="path")
    flag(read_only, "read_only")
    root = os.path.abspath(os.fspath(path) or ".")
    if not read_only:
        if not os.path.isdir(root):
            fs.makedirs(root)
        read_only = not os.access(root, os.W_OK)
    elif not os.path.isdir(root):
        raise ValidationError(f"{root} does not exist", attribute="path")
    if needs_migration(root):
        if read_only:
            raise UnsupportedFormatError(
                f"{root} holds a table of dynafile's format 1; open it writable once, or run "
                f"`dynafile migrate {root}`, to upgrade it to format 2", version=1)
        migrate(root, lock_timeout=options.get("lock_timeout", 60.0))
    elif not read_only and has_leftovers(root):
        migrate(root, lock_timeout=options.get("lock_timeout", 60.0))  # finishes the cleanup
    return DatabaseCore(root, read_only=read_only, **options)
