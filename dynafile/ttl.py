"""Time to live: which items count as expired.

An item expires when its TTL attribute holds a number of epoch seconds in
the past. A missing, falsy or non-numeric value (bool included) never
expires, as DynamoDB ignores TTL values that are not numbers.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

__all__ = ["is_expired"]


def is_expired(item: Mapping[str, Any], ttl_attribute: str | None, now: float) -> bool:
    """Return ``True`` when ``item`` is expired at time ``now`` (epoch seconds). O(1)."""
    if ttl_attribute is None:
        return False
    value = item.get(ttl_attribute)
    if not value or isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        return False
    try:
        return value < now
    except TypeError:  # pragma: no cover - exotic numeric types
        return False
