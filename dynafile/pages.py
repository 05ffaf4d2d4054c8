"""Query and scan results: an iterator of items that is also a page.

``for item in db.query(pk)`` works as in the original dynafile: iterating
yields every matching item, fetching the following pages itself, as boto3's
paginators do. The same object answers ``.items``, ``.last_evaluated_key``,
``.count`` and ``.scanned_count`` for its first page, like a DynamoDB
response: a page stops after ``limit`` evaluated items or once the items it
read reach 1 MB, and then carries a ``last_evaluated_key``.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import islice
from typing import Any, Callable

__all__ = ["Page", "Progress"]


#: The most item bytes one page reads (DynamoDB's 1 MB).
PAGE_BYTES = 1 << 20


class Progress:
    """What the evaluation behind a :class:`Page` reports as it goes: how many
    items it evaluated and, when it stopped early, the last key and whether
    the page size (not the caller's limit) stopped it."""

    __slots__ = ("full", "last_key", "position", "scanned")

    def __init__(self) -> None:
        self.scanned = 0
        self.last_key: dict[str, Any] | None = None
        self.position: tuple[Any, Any] | None = None  # the last (pk, sk) as stored
        self.full = False


class Page:
    """The result of :meth:`Dynafile.query` or :meth:`Dynafile.scan`.

    Iterating yields every matching item (fresh dicts) in order, this page's
    and, when the 1 MB page size cut it, the following pages' (up to the
    caller's ``limit`` of evaluated items, when one was given). Iteration is
    lazy. Reading any attribute below evaluates this page first.

    Attributes:
        items: this page's matching items, as a list.
        last_evaluated_key: the key to pass as ``exclusive_start_key`` to get
            the next page, or ``None`` when there is nothing more.
        count: how many items of this page matched (after the filter).
        scanned_count: how many items this page evaluated (before the filter).
    """

    def __init__(self, source: Iterator[Any], progress: Progress | None = None,
                 following: Callable[[dict[str, Any], int], Page] | None = None) -> None:
        # ``source`` yields items and reports through ``progress``;
        # ``following(last_key, evaluated)`` returns the next page.
        self._source: Iterator[Any] | None = source
        self._items: list[dict[str, Any]] = []
        self._progress = progress or Progress()
        self._following = following

    def _pull(self) -> Iterator[dict[str, Any]]:
        items = self._items
        index = 0
        while True:
            if self._source is None:  # evaluated (by len(), say): the list is final
                yield from islice(items, index, None)
                return
            while index < len(items):
                yield items[index]
                index += 1
            source = self._source
            if source is None:
                continue
            for item in source:
                items.append(item)
                # Another iterator of this page may have pulled items meanwhile.
                while index < len(items):
                    yield items[index]
                    index += 1
            self._source = None

    def __iter__(self) -> Iterator[dict[str, Any]]:
        if self._source is None and self._last():
            return iter(self._items)  # evaluated (len(), list()), and nothing follows
        return self._pages()

    def _pages(self) -> Iterator[dict[str, Any]]:
        page: Page | None = self
        while page is not None:
            yield from page._pull()
            page = page._next()

    def _last(self) -> bool:
        """Whether no page follows this one (once it is evaluated)."""
        progress = self._progress
        return not progress.full or progress.last_key is None or self._following is None

    def _next(self) -> Page | None:
        """The page after this one, when the page size (not a limit) ended it."""
        if self._last():
            return None
        progress = self._progress
        assert self._following is not None and progress.last_key is not None
        return self._following(progress.last_key, progress.scanned)

    def _complete(self) -> None:
        source = self._source
        if source is not None:
            # An iterator of this page that pulled some items meanwhile goes
            # on with the items appended here.
            self._items.extend(source)
            self._source = None

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
