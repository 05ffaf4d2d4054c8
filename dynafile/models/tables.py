"""What models need of a table: the :class:`Table` protocol.

A model is bound to any object with these methods and attributes, with the
arguments and meaning of :class:`~dynafile.table.Dynafile`'s. Two classes
have them: :class:`~dynafile.table.Dynafile` (a data directory) and
:class:`~dynafile.remote.RemoteTable` (a DynamoDB endpoint). Models call
nothing else, so this list is the whole contract (``docs/models.md``, "the
table calls a model makes").
"""

from __future__ import annotations

from typing import Any, Protocol

from ..errors import ValidationError

__all__ = ["TABLE_METHODS", "Table", "check_table"]

#: The methods and attributes a model uses, by name.
TABLE_METHODS = (
    "put_item", "get_item", "delete_item", "update_item", "query", "scan",
    "batch_writer", "batch_get", "transact_write", "transact_get", "transaction",
    "create_gsi", "update_time_to_live", "describe", "indexes", "pk_attribute",
    "sk_attribute", "ttl_attribute",
)


class Table(Protocol):
    """A table models can be bound to (``Dynafile`` or ``RemoteTable``).

    The signatures are those of :class:`~dynafile.table.Dynafile`; they are
    left open here because the two backends add options of their own.
    """

    @property
    def pk_attribute(self) -> str:
        """As :attr:`~dynafile.table.Dynafile.pk_attribute`."""

    @property
    def sk_attribute(self) -> str | None:
        """As :attr:`~dynafile.table.Dynafile.sk_attribute`."""

    @property
    def ttl_attribute(self) -> str | None:
        """As :attr:`~dynafile.table.Dynafile.ttl_attribute`."""

    @property
    def indexes(self) -> Any:
        """As :attr:`~dynafile.table.Dynafile.indexes`."""

    def put_item(self, *args: Any, **kwargs: Any) -> Any:
        """As :meth:`~dynafile.table.Dynafile.put_item`."""

    def get_item(self, *args: Any, **kwargs: Any) -> Any:
        """As :meth:`~dynafile.table.Dynafile.get_item`."""

    def delete_item(self, *args: Any, **kwargs: Any) -> Any:
        """As :meth:`~dynafile.table.Dynafile.delete_item`."""

    def update_item(self, *args: Any, **kwargs: Any) -> Any:
        """As :meth:`~dynafile.table.Dynafile.update_item`."""

    def query(self, *args: Any, **kwargs: Any) -> Any:
        """As :meth:`~dynafile.table.Dynafile.query`."""

    def scan(self, *args: Any, **kwargs: Any) -> Any:
        """As :meth:`~dynafile.table.Dynafile.scan`."""

    def batch_writer(self, *args: Any, **kwargs: Any) -> Any:
        """As :meth:`~dynafile.table.Dynafile.batch_writer`."""

    def batch_get(self, *args: Any, **kwargs: Any) -> Any:
        """As :meth:`~dynafile.table.Dynafile.batch_get`."""

    def transact_write(self, *args: Any, **kwargs: Any) -> Any:
        """As :meth:`~dynafile.table.Dynafile.transact_write`."""

    def transact_get(self, *args: Any, **kwargs: Any) -> Any:
        """As :meth:`~dynafile.table.Dynafile.transact_get`."""

    def transaction(self, *args: Any, **kwargs: Any) -> Any:
        """As :meth:`~dynafile.table.Dynafile.transaction`."""

    def create_gsi(self, *args: Any, **kwargs: Any) -> Any:
        """As :meth:`~dynafile.table.Dynafile.create_gsi`."""

    def update_time_to_live(self, *args: Any, **kwargs: Any) -> Any:
        """As :meth:`~dynafile.table.Dynafile.update_time_to_live`."""

    def describe(self) -> dict[str, Any]:
        """As :meth:`~dynafile.table.Dynafile.describe`."""


def check_table(table: Any) -> Table:
    """Return ``table`` if it has every member of :data:`TABLE_METHODS`.

    Looks at the class, not the instance, so no property is evaluated (on
    the DynamoDB backend some are requests). Cost: O(1).

    Raises:
        ValidationError: something is missing (naming what).
    """
    missing = [name for name in TABLE_METHODS if not hasattr(type(table), name)]
    if missing:
        raise ValidationError("bind takes an open table (a Dynafile, or a RemoteTable of the "
                              f"DynamoDB backend); {type(table).__name__} lacks "
                              + ", ".join(missing), attribute="table")
    return table  # type: ignore[no-any-return]
