"""Models in transactions: DynamoDB's TransactWriteItems / TransactGetItems
(:class:`TransactWrite`, :func:`transact_get`) and optimistic read-modify-write
transactions (:class:`Transaction`), each on the table's own method
(``transact_write``, ``transact_get``, ``transaction()``).

A transaction covers one table (every model in it must be bound to the same
table), as the table's own transactions do.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Callable, TypeVar, cast

from ..errors import ValidationError
from .expressions import Action, Condition
from .tables import Table

if TYPE_CHECKING:  # pragma: no cover
    from .model import Model

__all__ = ["TransactWrite", "Transaction", "transact_get"]

M = TypeVar("M", bound="Model")
F = TypeVar("F", bound=Callable[..., Any])


def _same_table(current: Table | None, model: type[Model]) -> Table:
    table = model.table()
    if current is not None and table is not current:
        raise ValidationError(f"{model.__name__} is bound to another table than the rest of "
                              "the transaction; a transaction covers one table",
                              attribute="transaction")
    return table


class TransactWrite:
    """Writes committed all or nothing, as one ``transact_write`` call::

        with TransactWrite(token="checkout-8812") as tx:
            tx.save(order, condition=Order.order_id.does_not_exist())
            tx.update(stock, [Stock.qty.set(Stock.qty - 1)], condition=Stock.qty >= 1)
            tx.condition_check(Customer, "c1", condition=Customer.active == True)

    Leaving the block commits (an exception in the block discards it).
    Conditions are checked when it commits; instances are not reloaded.

    Args:
        token: an idempotency token: the same request repeated within 10
            minutes writes nothing again.

    Raises (at commit):
        TransactionCanceledError: a condition failed; ``reasons`` holds one
            reason per action, in the order they were added. Nothing written.
        ValidationError: two actions on one item, a bad value (nothing written).
    """

    def __init__(self, *, token: str | None = None) -> None:
        self.token = token
        self._table: Table | None = None
        self._actions: list[dict[str, Any]] = []
        self._done = False

    def _add(self, model: type[Model], kind: str, body: dict[str, Any]) -> None:
        if self._done:
            raise ValidationError("this transaction was committed already",
                                  attribute="transaction")
        self._table = _same_table(self._table, model)
        self._actions.append({kind: body})

    def save(self, instance: Model, condition: Condition | None = None, *,
             overwrite: bool = True) -> None:
        """Add a put of ``instance`` (validated now)."""
        self._add(type(instance), "put", instance.put_request(condition, overwrite=overwrite))

    def update(self, instance: Model, actions: Sequence[Action],
               condition: Condition | None = None) -> None:
        """Add an update of ``instance``'s item (see :meth:`Model.update`)."""
        self._add(type(instance), "update", instance.update_request(actions, condition))

    def delete(self, instance: Model, condition: Condition | None = None) -> None:
        """Add a delete of ``instance``'s item."""
        self._add(type(instance), "delete", instance.delete_request(condition))

    def condition_check(self, model: type[Model], *key: Any, condition: Condition,
                        **fields: Any) -> None:
        """Add a check that the item with this key meets ``condition``."""
        self._add(model, "condition_check", model.check_request(*key, condition=condition,
                                                               **fields))

    @property
    def actions(self) -> list[dict[str, Any]]:
        """The table actions so far (``transact_write``'s argument)."""
        return list(self._actions)

    def commit(self) -> None:
        """Commit the actions (nothing happens for none).

        Cost: one ``transact_write``: one log record.
        """
        if self._done:
            raise ValidationError("this transaction was committed already",
                                  attribute="transaction")
        self._done = True
        if self._actions:
            assert self._table is not None
            self._table.transact_write(self._actions, token=self.token)

    def __enter__(self) -> TransactWrite:
        return self

    def __exit__(self, exc_type: object, *_: object) -> None:
        if exc_type is None:
            self.commit()


def transact_get(requests: Sequence[tuple[type[Model], Any]]) -> list[Model | None]:
    """Read several items as one consistent snapshot (TransactGetItems).

    Args:
        requests: ``(ModelClass, key)`` pairs; a key is a tuple of key field
            values, a dict of them, or one value.

    Returns:
        the instances in request order, ``None`` for each missing one.

    Raises:
        ValidationError: a bad key, two requests for one item, or models of
            different tables.
        ModelTypeError: an item belongs to another model.

    Cost: one ``transact_get``.
    """
    table: Table | None = None
    keys = []
    for model, key in requests:
        table = _same_table(table, model)
        if isinstance(key, tuple):
            keys.append(model.key_for(*key))
        elif isinstance(key, dict):
            keys.append(model.key_for(**key))
        else:
            keys.append(model.key_for(key))
    if table is None:
        return []
    items = table.transact_get(keys)
    return [None if item is None else model.from_item(item)
            for (model, _), item in zip(requests, items)]


class Transaction:
    """An optimistic, serializable read-modify-write transaction with models
    (the table's ``transaction()``)::

        with Account.transaction() as tx:
            account = tx.get(Account, "a1")
            account.balance -= 10
            tx.save(account)

    Reads see one snapshot plus the transaction's own writes; leaving the
    block commits every write as one record if nothing read has changed
    since (else :class:`~dynafile.errors.TransactionConflictError`, nothing
    written). As a decorator, ``@Account.transaction(retries=5)`` runs
    ``fn(tx, ...)`` and re-runs it on conflict.
    """

    def __init__(self, table: Table, *, retries: int = 0) -> None:
        self.table = table
        self.retries = retries
        self._raw: Any = None
        self._context: Any = None

    def _tx(self, model: type[Model]) -> Any:
        if self._raw is None:
            raise ValidationError("use the transaction inside its with block",
                                  attribute="transaction")
        _same_table(self.table, model)
        return self._raw

    def get(self, model: type[M], *key: Any, **fields: Any) -> M:
        """The instance as this transaction sees it.

        Raises:
            DoesNotExist: no such item.
            TransactionConflictError: an item read earlier has changed since.
        """
        instance = self.get_or_none(model, *key, **fields)
        if instance is None:
            raise model.DoesNotExist(f"{model.__name__} {model.key_for(*key, **fields)} does "
                                     "not exist")
        return instance

    def get_or_none(self, model: type[M], *key: Any, **fields: Any) -> M | None:
        """:meth:`get`, returning ``None`` for a missing item."""
        item = self._tx(model).get_item(key=model.key_for(*key, **fields))
        return None if item is None else model.from_item(item)

    def save(self, instance: Model, condition: Condition | None = None, *,
             overwrite: bool = True) -> None:
        """Buffer a save; a condition is checked now against this transaction's view."""
        self._tx(type(instance)).put_item(**instance.put_request(condition, overwrite=overwrite))

    def update(self, instance: Model, actions: Sequence[Action],
               condition: Condition | None = None) -> None:
        """Apply an update to this transaction's view of the item, buffer it,
        and reload ``instance`` from the result."""
        new = self._tx(type(instance)).update_item(**instance.update_request(actions, condition))
        if new is not None:
            instance.refresh_from(new)

    def delete(self, instance: Model, condition: Condition | None = None) -> None:
        """Buffer a delete."""
        self._tx(type(instance)).delete_item(**instance.delete_request(condition))

    def condition_check(self, model: type[Model], *key: Any, condition: Condition,
                        **fields: Any) -> None:
        """Check now that the item meets ``condition`` (it counts as read)."""
        self._tx(model).condition_check(**model.check_request(*key, condition=condition,
                                                              **fields))

    def __enter__(self) -> Transaction:
        self._context = self.table.transaction()
        self._raw = self._context.__enter__()
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        context, self._context = self._context, None
        try:
            context.__exit__(exc_type, exc, tb)
        finally:
            self._raw = None

    def __call__(self, fn: F) -> F:
        table = self.table

        @functools.wraps(fn)
        def body(raw: Any, *args: Any, **kwargs: Any) -> Any:
            view = Transaction(table)
            view._raw = raw
            return fn(view, *args, **kwargs)

        return cast(F, table.transaction(retries=self.retries)(body))
