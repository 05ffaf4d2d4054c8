"""Time to live: which items count as expired, and the sweep that deletes them.

An item expires when its TTL attribute holds a number of epoch seconds in
the past. A missing, falsy or non-numeric value (bool included) never
expires, as DynamoDB ignores TTL values that are not numbers; nor does a
NaN or an infinity (no write stores one: only a crafted file or older data
holds them). Expired items
are invisible to every read and count as absent for every write (see
:mod:`dynafile.writes`); :func:`sweep` deletes them for real.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any, Protocol

from .writes import Expire, ItemKey, Outcome, Write

__all__ = ["Sweepable", "Sweeper", "is_expired", "sweep"]


def is_expired(item: Mapping[str, Any], ttl_attribute: str | None, now: float) -> bool:
    """Return ``True`` when ``item`` is expired at time ``now`` (epoch seconds). O(1)."""
    if ttl_attribute is None:
        return False
    value = item.get(ttl_attribute)
    if not value:
        return False
    cls = value.__class__
    if cls is int:
        return bool(value < now)
    if cls is float:
        if not math.isfinite(value):
            return False
    elif isinstance(value, Decimal):
        if not value.is_finite():  # NaN, sNaN (comparing it raises), +-Infinity
            return False
    elif isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return bool(value < now)
    except (TypeError, ArithmeticError):  # exotic numbers never expire
        return False


class Sweepable(Protocol):
    """What the sweep needs of a table (the table core provides it)."""

    @property
    def ttl_attribute(self) -> str | None:
        """The TTL attribute, or ``None``."""

    @property
    def closed(self) -> bool:
        """Whether the table was closed."""

    def check_open(self) -> None:
        """Raise ClosedError once the table is closed."""

    def now(self) -> float:
        """The table's clock."""

    def each_partition(self) -> Iterator[tuple[Any, list[tuple[Any, bytes]]]]:
        """Every partition's key and ``(sort key, bytes)`` pairs."""

    def load(self, data: bytes) -> dict[str, Any]:
        """A stored item, decoded."""

    def commit(self, writes: Sequence[Write], *, now: float | None = None,
               atomic: bool = False) -> list[Outcome]:
        """Carry out writes as one record."""


def sweep(core: Sweepable, batch_size: int = 1000) -> int:
    """Delete every expired item of ``core``'s table for real; return how many.

    The deletes are ordinary logged writes (:class:`~dynafile.writes.Expire`,
    ``batch_size`` per record), each re-checked under the write lock; their
    change events are REMOVEs marked ``expired``. A table without a TTL
    attribute sweeps nothing. Cost: a full scan, then one record per
    ``batch_size`` expired items.
    """
    core.check_open()
    ttl = core.ttl_attribute
    if ttl is None:
        return 0
    now = core.now()
    expired: list[ItemKey] = []
    for pk, pairs in core.each_partition():
        for sk, data in pairs:
            if is_expired(core.load(data), ttl, now):
                expired.append(ItemKey(pk, sk, pk, sk))
    deleted = 0
    for start in range(0, len(expired), batch_size):
        outcomes = core.commit([Expire(key) for key in expired[start:start + batch_size]],
                               now=now)
        deleted += sum(1 for o in outcomes if o.old is not None and o.new is None)
    return deleted


class Sweeper:
    """A daemon thread that sweeps a table every ``interval`` seconds."""

    def __init__(self, core: Sweepable, interval: float) -> None:
        self._core = core
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="dynafile-ttl-sweeper",
                                        daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            if self._core.closed:
                return
            try:
                sweep(self._core)
            except Exception:  # keep sweeping; report through logging
                import logging  # here: importing it costs a new process milliseconds

                logging.getLogger("dynafile").exception("TTL sweep failed")

    def stop(self) -> None:
        """Stop the thread and wait for a sweep in progress to end."""
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join()
