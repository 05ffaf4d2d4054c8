"""Query and scan results: an iterator of items that is also a page.

``for item in db.query(pk)`` works as in the original dynafile; the same
object answers ``.items``, ``.last_evaluated_key``, ``.count`` and
``.scanned_count`` like a DynamoDB response page.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

__all__ = ["Page", "Progress"]


class Progress:
    """What the evaluation behind a :class:`Page` reports as it goes: how many
    items it evaluated and, when a limit stopped it early, the last key."""

    __slots__ = ("last_key", "scanned")

    def __init__(self) -> None:
        self.scanned = 0
        self.last_key: dict[str, Any] | None = None


class Page:
    """The result of :meth:`Dynafile.query` or :meth:`Dynafile.scan`.

    Iterating yields the matching items (fresh dicts) in order; it is lazy
    for scans without a ``limit``. Reading any attribute below evaluates the
    whole result first.

    Attributes:
        items: the matching items, as a list.
        last_evaluated_key: the key to pass as ``exclusive_start_key`` to get
            the next page, or ``None`` when there is nothing more.
        count: how many items matched (after the filter).
        scanned_count: how many items were evaluated (before the filter).
    """

    def __init__(self, source: Iterator[Any], progress: Progress | None = None) -> None:
        # ``source`` yields items and reports through ``progress``.
        self._source: Iterator[Any] | None = source
        self._items: list[dict[str, Any]] = []
        self._progress = progress or Progress()

    def _pull(self) -> Iterator[dict[str, Any]]:
        items = self._items
        index = 0
        while True:
            while index < len(items):
                yield items[index]
                index += 1
            source = self._source
            if source is None:
                return
            for item in source:
                items.append(item)
                # Another iterator of this page may have pulled items meanwhile.
                while index < len(items):
                    yield items[index]
                    index += 1
            self._source = None

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return self._pull()

    def _complete(self) -> None:
        for _ in self._pull():
            pass

    @property
    def items(self) -> list[dict[str, Any]]:
        self._complete()
        return self._items

    @property
    def last_evaluated_key(self) -> dict[str, Any] | None:
        self._complete()
        return self._progress.last_key

    @property
    def count(self) -> int:
        self._complete()
        return len(self._items)

    @property
    def scanned_count(self) -> int:
        self._complete()
        return self._progress.scanned

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self.items[index]

    def __repr__(self) -> str:
        if self._source is not None:
            return "<Page (not yet evaluated)>"
        return (f"<Page count={len(self._items)} "
                f"last_evaluated_key={self._progress.last_key!r}>")
