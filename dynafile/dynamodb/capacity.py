"""DynamoDB's capacity arithmetic, for ``ReturnConsumedCapacity``.

From "Read/write capacity mode" and "Item sizes and formats" in DynamoDB's
developer guide:

* a read costs one unit per 4 KB of the item (rounded up), half as much
  when eventually consistent; reading a missing item still costs one unit;
* Query and Scan add up the sizes of every item they *evaluate* (before the
  filter) and round the total up to 4 KB;
* BatchGetItem rounds each item up on its own;
* a write costs one unit per 1 KB of the larger of the item before and
  after (at least one);
* transactions cost twice as much (every item is read or written twice).

Sizes are :func:`dynafile.types.item_size`, DynamoDB's formula.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from ..types import item_size

__all__ = ["Consumed", "read_units", "size_of", "write_units"]

_READ = 4096
_WRITE = 1024


def size_of(item: Mapping[str, Any] | None) -> int:
    """DynamoDB's size of an item (0 for ``None``)."""
    return 0 if item is None else item_size(item)


def read_units(size: int, consistent: bool, *, transactional: bool = False) -> float:
    """Read units for ``size`` bytes read at once (at least one 4 KB unit)."""
    units = max(1, math.ceil(size / _READ))
    if transactional:
        return float(units * 2)
    return float(units) if consistent else units / 2


def write_units(*sizes: int, transactional: bool = False) -> float:
    """Write units for an item whose images weigh ``sizes`` (the larger counts)."""
    units = max(1, math.ceil(max(sizes, default=0) / _WRITE))
    return float(units * 2 if transactional else units)


class Consumed:
    """Capacity consumed by one request, per table and index.

    ``add(table, units, index=None, kind="GSI")`` accumulates; :meth:`report`
    gives DynamoDB's ``ConsumedCapacity`` list for a mode (``TOTAL``,
    ``INDEXES``) or ``None`` for ``NONE``.
    """

    def __init__(self, mode: str | None, *, read: bool) -> None:
        self.mode = mode or "NONE"
        self.read = read
        self.tables: dict[str, dict[str, Any]] = {}

    @property
    def wanted(self) -> bool:
        """Whether the caller asked for capacity."""
        return self.mode != "NONE"

    def add(self, table: str, units: float, index: str | None = None,
            kind: str = "GSI") -> None:
        """Count ``units`` against ``table`` (or one of its indexes)."""
        entry = self.tables.setdefault(table, {"total": 0.0, "table": 0.0, "GSI": {}, "LSI": {}})
        entry["total"] += units
        if index is None:
            entry["table"] += units
        else:
            entry[kind][index] = entry[kind].get(index, 0.0) + units

    def touch(self, tables: Iterable[str]) -> None:
        """Make sure every table appears (with 0 units) in the report."""
        for name in tables:
            self.tables.setdefault(name, {"total": 0.0, "table": 0.0, "GSI": {}, "LSI": {}})

    def _entry(self, name: str, data: dict[str, Any]) -> dict[str, Any]:
        side = "ReadCapacityUnits" if self.read else "WriteCapacityUnits"
        out: dict[str, Any] = {"TableName": name, "CapacityUnits": data["total"],
                               side: data["total"]}
        if self.mode == "INDEXES":
            out["Table"] = {"CapacityUnits": data["table"], side: data["table"]}
            for kind, member in (("GSI", "GlobalSecondaryIndexes"),
                                 ("LSI", "LocalSecondaryIndexes")):
                if data[kind]:
                    out[member] = {n: {"CapacityUnits": u, side: u}
                                   for n, u in data[kind].items()}
        return out

    def report(self) -> list[dict[str, Any]] | None:
        """DynamoDB's ``ConsumedCapacity`` entries, or ``None`` when not asked for."""
        if not self.wanted:
            return None
        return [self._entry(name, data) for name, data in self.tables.items()]

    def single(self) -> dict[str, Any] | None:
        """The one table's entry (single-table operations), or ``None``."""
        entries = self.report()
        return entries[0] if entries else None
