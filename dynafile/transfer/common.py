"""What export, import and copy share: their error, progress reports, and
files written atomically."""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any, Protocol

__all__ = ["NO_REPORT", "Reporter", "TransferError", "write_atomically"]


class TransferError(Exception):
    """An export, import or copy that cannot go on; the message says why and
    where (a file and line, a table, an endpoint)."""


class Reporter(Protocol):
    """Receives the progress of a long transfer (the CLI draws bars from it)."""

    def begin(self, what: str, total: int | None) -> None:
        """A stage starts: ``total`` items expected (``None``: unknown)."""

    def advance(self, items: int) -> None:
        """``items`` more items are done."""

    def end(self) -> None:
        """The stage is over."""


class _NoReport:
    def begin(self, what: str, total: int | None) -> None:
        pass

    def advance(self, items: int) -> None:
        pass

    def end(self) -> None:
        pass


#: A reporter that ignores everything.
NO_REPORT: Reporter = _NoReport()


def write_atomically(path: str, data: bytes | str | Any, *, sync: bool = True) -> None:
    """Replace ``path`` with ``data`` (bytes, text, or an object written as
    JSON) so that readers see the old file or the new one, never a part.
    With ``sync`` the data is on disk before the rename, and the rename
    before the return."""
    if not isinstance(data, (bytes, str)):
        data = json.dumps(data, indent=1, ensure_ascii=False, sort_keys=True) + "\n"
    raw = data.encode("utf-8") if isinstance(data, str) else data
    directory = os.path.dirname(os.path.abspath(path))
    fd, temp = tempfile.mkstemp(prefix=".tmp-", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
            if sync:
                f.flush()
                os.fsync(f.fileno())
        os.replace(temp, path)
    except BaseException:
        try:
            os.unlink(temp)
        except OSError:
            pass
        raise
    if sync and hasattr(os, "O_DIRECTORY"):
        dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
