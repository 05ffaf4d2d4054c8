"""The expression members of a request, decoded and checked: what every item
operation passes to the native API as ``names`` / ``values``.

``ExpressionAttributeNames`` and ``ExpressionAttributeValues`` are checked
as DynamoDB checks them (not empty; values decoded by :mod:`.values`);
legacy parameters (:mod:`.legacy`) add their generated placeholders to the
same mappings. The native API then checks that every placeholder is used.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .errors import Validation
from .legacy import Placeholders
from .values import decode_item

__all__ = ["Expressions"]


class Expressions:
    """``names`` / ``values`` of one request, plus generated legacy placeholders.

    Raises (at construction):
        Validation: an empty ``ExpressionAttributeNames`` /
            ``ExpressionAttributeValues``, or a value DynamoDB refuses.
    """

    def __init__(self, data: Mapping[str, Any]) -> None:
        names = data.get("ExpressionAttributeNames")
        values = data.get("ExpressionAttributeValues")
        if names is not None and not names:
            raise Validation("ExpressionAttributeNames must not be empty")
        if values is not None and not values:
            raise Validation("ExpressionAttributeValues must not be empty")
        self.given_names = names is not None
        self.given_values = values is not None
        self.names: dict[str, str] = dict(names or {})
        self.values: dict[str, Any] = decode_item(values) if values else {}
        self.legacy = Placeholders()

    def native(self) -> dict[str, Any]:
        """``names=`` and ``values=`` for the native API: always mappings, so
        a string is always read as DynamoDB's grammar (never as a filtration
        filter)."""
        names = {**self.names, **self.legacy.names}
        values = {**self.values, **self.legacy.values}
        return {"names": names, "values": values}
