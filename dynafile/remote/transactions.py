"""Transactions on DynamoDB: TransactWriteItems / TransactGetItems, and the
optimistic :class:`RemoteTransaction`.

``transact_write`` takes the file backend's actions (``put``, ``update``,
``delete``, ``condition_check``, each with ``table=`` where it is not the
calling table's) and sends them as one TransactWriteItems request, all or
nothing; ``token`` is its ClientRequestToken (10 minutes of idempotency,
as in the file backend). A cancelled transaction raises
:class:`~dynafile.errors.TransactionCanceledError` with one reason per
action, DynamoDB's (``ConditionalCheckFailed``, ``TransactionConflict``,
``ValidationError``..., ``None`` for actions not at fault; ``item`` with
``return_values_on_condition_check_failure="ALL_OLD"``).

**The optimistic transaction** (``with db.transaction() as tx:``) reads
with strongly consistent GetItem requests, buffers its writes (its own
reads see them), and commits them with one TransactWriteItems in which
every item it read carries a condition that the item is still as read:

* by default the whole item: ``attribute_not_exists(pk)`` for an item that
  was missing, else ``a = :a AND b = :b ...`` over every attribute it had
  (so an attribute another writer *added* goes unnoticed, and an item of
  many attributes makes a long expression: DynamoDB takes 4 KB);
* with ``version_attribute="v"``: ``v = :seen`` (``attribute_not_exists``
  for a missing item), and every item the transaction writes gets
  ``v = seen + 1`` (1 for a new item); every writer of those items must
  then bump ``v`` too.

A condition that no longer holds means another writer got there first:
:class:`~dynafile.errors.TransactionConflictError`, nothing written, and a
``@db.transaction(retries=n)`` function runs again. A transaction that only
read checks its reads with one TransactGetItems at the end (so it saw one
consistent state), and conflicts the same way. DynamoDB's limits hold: 100
items read or written in all, 4 MB.

Items read without a projection are
:class:`~dynafile.statedicts.StateDict` objects, as on a data directory:
an edit (``item["n"] += 1``, ``del item["tmp"]``, a nested change) is
found by comparing the dict with a deep copy of what it was read as, and
becomes a put of the whole item, under that item's read condition, at
commit (or before the next ``tx`` call on the item, which then sees it).
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Callable, TypeVar

from ..errors import (
    ConditionalCheckFailedError,
    TransactionCanceledError,
    TransactionConflictError,
    ValidationError,
)
from ..expressions import Condition, Used, check_placeholders, compile_update, to_predicate
from ..expressions.conditions import Compare, Exists, NotExists, PathOperand, ValueOperand
from ..query import projection_of
from ..statedicts import StateDict, same_key
from ..types import add_numbers, equal, is_number, item_size
from .requests import Request
from .values import check_item, item_from_wire, item_to_wire, normalized

if TYPE_CHECKING:  # pragma: no cover
    from .database import RemoteDatabase
    from .table import RemoteTable

__all__ = ["RemoteTransaction", "transact_get", "transact_write"]

Item = dict[str, Any]
F = TypeVar("F", bound=Callable[..., Any])

#: DynamoDB's limits on one transaction.
MAX_ACTIONS = 100
MAX_TRANSACTION_BYTES = 4 * 1024 * 1024
_KINDS = {"put": "put", "Put": "put", "update": "update", "Update": "update",
          "delete": "delete", "Delete": "delete", "condition_check": "condition_check",
          "ConditionCheck": "condition_check"}
_ALLOWED = {
    "put": {"table", "item", "condition", "names", "values",
            "return_values_on_condition_check_failure"},
    "update": {"table", "key", "update", "set", "remove", "add", "delete", "condition", "names",
               "values", "return_values_on_condition_check_failure"},
    "delete": {"table", "key", "condition", "names", "values",
               "return_values_on_condition_check_failure"},
    "condition_check": {"table", "key", "condition", "names", "values",
                        "return_values_on_condition_check_failure"},
}


def _positive(value: Any, attribute: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValidationError("must be a positive int", attribute=attribute)
    return value


def _table(database: RemoteDatabase, default: RemoteTable | None, name: Any,
           where: str) -> RemoteTable:
    if name is None:
        if default is None:
            raise ValidationError("each action must name its table (table=...)",
                                  attribute=where)
        return default
    return database.table(name)


def _action(database: RemoteDatabase, default: RemoteTable | None, index: int,
            entry: Any) -> tuple[RemoteTable, str, Item, Item | None, dict[str, Any]]:
    """``(table, kind, key, item put or None, TransactItems entry)``."""
    where = f"actions[{index}]"
    if not isinstance(entry, Mapping) or len(entry) != 1:
        raise ValidationError("each action must be a dict with one key: put, update, delete or "
                              "condition_check", attribute=where)
    ((name, body),) = entry.items()
    kind = _KINDS.get(name)
    if kind is None:
        raise ValidationError(f"unknown action {name!r}; use put, update, delete or "
                              "condition_check", attribute=where)
    if not isinstance(body, Mapping):
        raise ValidationError(f"the {kind} action's arguments must be a dict", attribute=where)
    unknown = set(body) - _ALLOWED[kind]
    if unknown:
        raise ValidationError(f"unknown arguments for {kind}: {sorted(unknown)}", attribute=where)
    table = _table(database, default, body.get("table"), where)
    req = Request(body.get("names"), body.get("values"))
    spec: dict[str, Any] = {"TableName": table.name}
    item = None
    if kind == "put":
        if "item" not in body:
            raise ValidationError("a put needs item=", attribute=where)
        item = table.prepare_item(body["item"])
        key = table.item_key(item)
        spec["Item"] = item_to_wire(item)
    else:
        if "key" not in body:
            raise ValidationError(f"a {kind} needs key=", attribute=where)
        key = table.key(body["key"])
        spec["Key"] = item_to_wire(key)
    if kind == "update":
        text, _ = req.update(body.get("update"), key_names=list(key), set=body.get("set"),
                             remove=body.get("remove"), add=body.get("add"),
                             delete=body.get("delete"))
        if not text:
            raise ValidationError("a transaction's update needs update= or "
                                  "set/remove/add/delete", attribute=where)
        spec["UpdateExpression"] = text
    condition = body.get("condition")
    if kind == "condition_check" and condition is None:
        raise ValidationError("a condition_check needs condition=", attribute=where)
    if condition is not None:
        spec["ConditionExpression"] = req.condition(condition)
    req.finish(spec)
    mode = body.get("return_values_on_condition_check_failure", "NONE")
    if mode not in ("NONE", "ALL_OLD"):
        raise ValidationError("return_values_on_condition_check_failure must be NONE or ALL_OLD",
                              attribute=where)
    if mode == "ALL_OLD":
        spec["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
    wire = {"put": "Put", "update": "Update", "delete": "Delete",
            "condition_check": "ConditionCheck"}[kind]
    return table, kind, key, item, {wire: spec}


def transact_write(database: RemoteDatabase, actions: Sequence[Mapping[str, Any]], *,
                   default: RemoteTable | None = None, token: str | None = None,
                   max_actions: int = MAX_ACTIONS) -> None:
    """Send the actions as one TransactWriteItems request (see the module).

    Raises:
        ValidationError: a malformed action, two actions on one item, too
            many actions or bytes, a token of the wrong form (nothing sent);
            DynamoDB's own refusals, with its message.
        TransactionCanceledError: DynamoDB cancelled it (reasons per action).
    """
    _positive(max_actions, "max_actions")
    if isinstance(actions, (Mapping, str, bytes)) or not hasattr(actions, "__iter__"):
        raise ValidationError("actions must be a list of action dicts", attribute="actions")
    entries = list(actions)
    if not entries:
        raise ValidationError("a transaction needs at least one action", attribute="actions")
    if len(entries) > max_actions:
        raise ValidationError(f"a transaction takes at most {max_actions} actions, got "
                              f"{len(entries)}", attribute="actions")
    if token is not None and (not isinstance(token, str) or not 1 <= len(token) <= 36):
        raise ValidationError("must be a string of 1 to 36 characters", attribute="token")
    compiled = [_action(database, default, i, entry) for i, entry in enumerate(entries)]
    if sum(item_size(c[3]) for c in compiled if c[3] is not None) > MAX_TRANSACTION_BYTES:
        raise ValidationError("The aggregate size of the items in the transaction cannot exceed "
                              "4 MB", attribute="actions")
    if len({c[0].key_id(c[2]) for c in compiled}) != len(compiled):
        raise ValidationError("Transaction request cannot include multiple operations on "
                              "one item", attribute="actions")
    request: dict[str, Any] = {"TransactItems": [c[4] for c in compiled]}
    if token is not None:
        request["ClientRequestToken"] = token
    database.connection.call("transact_write_items", **request)
    for table, kind, key, item, _ in compiled:
        if table.listening and kind != "condition_check":
            table.deliver([(key, None, normalized(item), kind == "delete")])


def transact_get(database: RemoteDatabase, pairs: Sequence[tuple[RemoteTable, Any]], *,
                 projection: Any = None, names: Mapping[str, str] | None = None,
                 max_items: int = MAX_ACTIONS) -> list[Item | None]:
    """Read ``(table, key)`` pairs as one snapshot (TransactGetItems); the
    items in order, ``None`` for each missing one.

    Raises:
        ValidationError: a bad key, the same key twice, too many keys.
    """
    _positive(max_items, "max_items")
    pairs = list(pairs)
    if len(pairs) > max_items:
        raise ValidationError(f"at most {max_items} keys, got {len(pairs)}", attribute="keys")
    keys = [(table, table.key(key)) for table, key in pairs]
    if len({table.key_id(key) for table, key in keys}) != len(keys):
        raise ValidationError("Transaction request cannot include multiple operations on one "
                              "item", attribute="keys")
    if projection is None:
        projection_of(None, names)  # names without a projection: the file backend's error
    gets = []
    for table, key in keys:
        req = Request(names, None)
        spec: dict[str, Any] = {"TableName": table.name, "Key": item_to_wire(key)}
        text = req.projection(projection)
        if text:
            spec["ProjectionExpression"] = text
        req.finish(spec)
        gets.append({"Get": spec})
    if not gets:
        return []
    answer = database.connection.call("transact_get_items", TransactItems=gets)
    return [item_from_wire(r.get("Item")) for r in answer.get("Responses") or []]


def _unchanged(table: RemoteTable, seen: Item | None, version: str | None) -> Condition:
    """The condition that the item is still as the transaction read it."""
    pk: Condition = Exists((table.pk_attribute,))
    if seen is None:
        return NotExists((table.pk_attribute,))
    if version is not None:
        if version in seen:
            return Compare("=", PathOperand((version,)), ValueOperand(seen[version]))
        return pk & NotExists((version,))
    cond = pk
    for name, value in seen.items():
        cond = cond & Compare("=", PathOperand((name,)), ValueOperand(value))
    return cond


class RemoteTransaction:
    """An optimistic transaction on DynamoDB (see the module): ``with
    db.transaction() as tx:`` or ``@db.transaction(retries=5)``.

    Its methods are the file backend's
    :class:`~dynafile.transactions.Transaction`'s; each takes ``table=``
    (optional on a table's transaction).
    """

    def __init__(self, database: RemoteDatabase, default: RemoteTable | None = None, *,
                 retries: int = 0, version_attribute: str | None = None) -> None:
        if not isinstance(retries, int) or isinstance(retries, bool) or retries < 0:
            raise ValidationError("must be an int >= 0", attribute="retries")
        if version_attribute is not None and (not isinstance(version_attribute, str)
                                              or not version_attribute):
            raise ValidationError("must be a non-empty attribute name or None",
                                  attribute="version_attribute")
        self._database = database
        self._default = default
        self.retries = retries
        self.version_attribute = version_attribute
        self._reads: dict[tuple[Any, ...], tuple[RemoteTable, Item, Item | None]] = {}
        self._writes: dict[tuple[Any, ...], tuple[RemoteTable, Item, Item | None]] = {}
        # identity -> (table, key, state dict handed out, the item it was loaded
        # from or last written as): edits show as a difference
        self._states: dict[tuple[Any, ...], tuple[RemoteTable, Item, StateDict, Item]] = {}
        self._state = "new"

    # ----------------------------------------------------------- lifecycle

    def __enter__(self) -> RemoteTransaction:
        if self._state != "new":
            raise ValidationError("a transaction can be entered only once; open a new one",
                                  attribute="transaction")
        self._state = "open"
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is not None:
            self._state = "rolled back"
            self._detach_states()
            return
        try:
            for ident in list(self._states):
                self._flush(ident)
            self._commit()
        finally:
            self._state = "done"
            self._detach_states()

    def __call__(self, fn: F) -> F:
        database, default = self._database, self._default
        retries, version = self.retries, self.version_attribute

        @functools.wraps(fn)
        def run(*args: Any, **kwargs: Any) -> Any:
            attempt = 0
            while True:
                try:
                    with RemoteTransaction(database, default,
                                           version_attribute=version) as tx:
                        result = fn(tx, *args, **kwargs)
                    return result
                except TransactionConflictError:
                    attempt += 1
                    if attempt > retries:
                        raise
        return run  # type: ignore[return-value]

    def _is_open(self) -> bool:
        return self._state == "open"

    def _table(self, name: str | None) -> RemoteTable:
        if self._state != "open":
            raise ValidationError(f"the transaction is {self._state}; use it inside its "
                                  "with block", attribute="transaction")
        return _table(self._database, self._default, name, "table")

    # --------------------------------------------------------------- reads

    def _view(self, table: RemoteTable, key: Item) -> Item | None:
        ident = table.key_id(key)
        if ident in self._states:
            self._flush(ident)
        if ident in self._writes:
            written = self._writes[ident][2]
            return None if written is None else dict(written)
        if ident not in self._reads:
            item = table.get_item(key=key)
            self._reads[ident] = (table, key, item)
        seen = self._reads[ident][2]
        return None if seen is None else dict(seen)

    def get_item(self, *, key: Mapping[str, Any], projection: Any = None,
                 names: Mapping[str, str] | None = None, table: str | None = None) -> Item | None:
        """The item as this transaction sees it (its own writes included), or ``None``.

        Without ``projection``, the item is a :class:`~dynafile.statedicts.StateDict`:
        edit it and the edit is written at commit, under the same check as
        the read (reading the same item again returns the same object). A
        projected item is a plain dict.

        Raises:
            ValidationError: a bad key or projection.
        """
        remote = self._table(table)
        item_key = remote.key(key)
        project = projection_of(projection, names)
        if project is None:
            return self._state_dict(remote, item_key)
        item = self._view(remote, item_key)
        return item if item is None else project(item)

    def batch_get(self, keys: Sequence[Mapping[str, Any]], *,
                  table: str | None = None) -> list[Item | None]:
        """:meth:`get_item` for each key, in order (state dicts)."""
        return [self.get_item(key=key, table=table) for key in keys]

    # ---------------------------------------------------------- state dicts

    def _state_dict(self, table: RemoteTable, key: Item) -> StateDict | None:
        """The state dict of an item (the one handed out before, brought up
        to date), or ``None`` when the transaction sees no item."""
        ident = table.key_id(key)
        item = self._view(table, key)
        known = self._states.get(ident)
        if item is None:
            if known is not None:
                self._forget(ident)
            return None
        if known is not None:
            state, base = known[2], known[3]
            if not equal(base, item):  # written meanwhile: show it
                dict.clear(state)
                dict.update(state, copy.deepcopy(item))
                self._states[ident] = (table, key, state, copy.deepcopy(item))
            return state
        # deep copies: nested edits must change neither the read (its
        # condition at commit) nor the base the edits are found against
        state = StateDict.tracking(copy.deepcopy(item), key, self._is_open)
        self._states[ident] = (table, key, state, copy.deepcopy(item))
        return state

    def _flush(self, ident: tuple[Any, ...]) -> None:
        """Buffer a write of a state dict that differs from what it was
        loaded (or last written) as.

        Raises:
            ValidationError: its key attributes changed, or the item is
                not one DynamoDB accepts (``ItemTooLargeError`` too).
        """
        table, key, state, base = self._states[ident]
        content = dict(state)
        if equal(content, base):
            return
        for name, value in key.items():
            if name not in content or not same_key(content[name], value):
                raise ValidationError(
                    f"Cannot update attribute {name}. This attribute is part of the key "
                    f"(a state dict of item {key!r} changed it)", attribute=name)
        checked = table.prepare_item(copy.deepcopy(content))
        self._writes[ident] = (table, key, checked)
        self._states[ident] = (table, key, state, copy.deepcopy(checked))

    def _after_write(self, ident: tuple[Any, ...]) -> None:
        """Bring the state dict of an item just written up to date (a delete
        detaches it): an explicit write after edits wins."""
        known = self._states.get(ident)
        if known is None:
            return
        table, key, state, _ = known
        written = self._writes[ident][2]
        if written is None:
            self._forget(ident)
            return
        dict.clear(state)
        dict.update(state, copy.deepcopy(written))
        self._states[ident] = (table, key, state, copy.deepcopy(written))

    def _forget(self, ident: tuple[Any, ...]) -> None:
        self._states.pop(ident)[2].detach()

    def _detach_states(self) -> None:
        for entry in self._states.values():
            entry[2].detach()
        self._states.clear()

    # -------------------------------------------------------------- writes

    def _check(self, table: RemoteTable, key: Item, condition: Any, names: Any, values: Any,
               used: Used) -> Item | None:
        current = self._view(table, key)
        if condition is not None:
            predicate = to_predicate(condition, names, values, used=used)
            check_placeholders(names, values, used)
            if not predicate(current if current is not None else {}):
                raise ConditionalCheckFailedError()
        else:
            check_placeholders(names, values, used)
        return current

    def _write(self, table: RemoteTable, key: Item, item: Item | None) -> None:
        ident = table.key_id(key)
        self._writes[ident] = (table, key, item)
        self._after_write(ident)

    def put_item(self, *, item: Mapping[str, Any], condition: Any = None,
                 names: Mapping[str, str] | None = None,
                 values: Mapping[str, Any] | None = None, table: str | None = None) -> None:
        """Buffer a put; a condition is checked now against this transaction's
        view (the item then counts as read).

        Raises:
            ValidationError / ItemTooLargeError: a bad item.
            ConditionalCheckFailedError: the condition does not hold.
        """
        remote = self._table(table)
        checked = remote.prepare_item(item)
        key = remote.item_key(checked)
        if condition is not None or names is not None or values is not None:
            self._check(remote, key, condition, names, values, Used())
        self._write(remote, key, checked)

    def delete_item(self, *, key: Mapping[str, Any], condition: Any = None,
                    names: Mapping[str, str] | None = None,
                    values: Mapping[str, Any] | None = None, table: str | None = None) -> None:
        """Buffer a delete (missing items are fine).

        Raises:
            ValidationError, ConditionalCheckFailedError.
        """
        remote = self._table(table)
        item_key = remote.key(key)
        if condition is not None or names is not None or values is not None:
            self._check(remote, item_key, condition, names, values, Used())
        self._write(remote, item_key, None)

    def update_item(self, *, key: Mapping[str, Any], update: str | None = None,
                    names: Mapping[str, str] | None = None,
                    values: Mapping[str, Any] | None = None, condition: Any = None,
                    set: Mapping[str, Any] | None = None, remove: Sequence[str] | None = None,
                    add: Mapping[str, Any] | None = None,
                    delete: Mapping[str, Any] | None = None,
                    table: str | None = None) -> Item | None:
        """Apply an update to this transaction's view of the item (reading it)
        and buffer the result; return the item as it will be written.

        Raises:
            ValidationError: a bad key, expression or operand type.
            ConditionalCheckFailedError: the condition does not hold.
        """
        remote = self._table(table)
        item_key = remote.key(key)
        used = Used()
        plan = compile_update(update, names, values, used=used, set=set, remove=remove,
                              add=add, delete=delete)
        for name in item_key:
            if name in plan.top_level_attributes:
                raise ValidationError(
                    f"Cannot update attribute {name}. This attribute is part of the key",
                    attribute=name)
        current = self._check(remote, item_key, condition, names, values, used)
        new = plan.apply(current)
        if new is None:
            return current
        new = remote.prepare_item({**new, **item_key})
        self._write(remote, item_key, new)
        return normalized(new)

    def condition_check(self, *, key: Mapping[str, Any], condition: Any,
                        names: Mapping[str, str] | None = None,
                        values: Mapping[str, Any] | None = None,
                        table: str | None = None) -> None:
        """Check a condition on an item now; the item counts as read.

        Raises:
            ConditionalCheckFailedError: the condition does not hold.
        """
        remote = self._table(table)
        self._check(remote, remote.key(key), condition, names, values, Used())

    # -------------------------------------------------------------- commit

    def _versioned(self, item: Item, seen: Item | None) -> Item:
        version = self.version_attribute
        if version is None:
            return item
        before = (seen or {}).get(version)
        bumped = add_numbers(before, 1) if before is not None and is_number(before) else 1
        return {**item, version: bumped}

    def _commit(self) -> None:
        if not self._writes:
            self._check_reads()
            return
        if len(self._reads.keys() | self._writes.keys()) > MAX_ACTIONS:
            raise ValidationError(f"a transaction on DynamoDB reads and writes at most "
                                  f"{MAX_ACTIONS} items", attribute="transaction")
        version = self.version_attribute
        entries: list[dict[str, Any]] = []
        changes: list[tuple[RemoteTable, Item, Item | None, Item | None]] = []
        for ident, (table, key, seen) in self._reads.items():
            if ident in self._writes:
                continue
            req = Request()
            spec = {"TableName": table.name, "Key": item_to_wire(key),
                    "ConditionExpression": req.condition(_unchanged(table, seen, version))}
            entries.append({"ConditionCheck": req.finish(spec)})
        for ident, (table, key, item) in self._writes.items():
            read = self._reads.get(ident)
            seen = read[2] if read is not None else None
            req = Request()
            spec = {"TableName": table.name}
            if item is None:
                spec["Key"] = item_to_wire(key)
            else:
                item = check_item(self._versioned(item, seen), list(key))
                spec["Item"] = item_to_wire(item)
            if read is not None:
                spec["ConditionExpression"] = req.condition(_unchanged(table, seen, version))
            entries.append({"Delete" if item is None else "Put": req.finish(spec)})
            changes.append((table, key, seen, normalized(item)))
        try:
            self._database.connection.call("transact_write_items", TransactItems=entries)
        except TransactionCanceledError as error:
            codes = {r.code for r in error.reasons}
            if codes & {"ConditionalCheckFailed", "TransactionConflict"}:
                raise TransactionConflictError(
                    "an item this transaction read was changed by another writer") from error
            raise
        for table, key, seen, new in changes:
            if table.listening:
                table.deliver([(key, seen, new, new is None)])

    def _check_reads(self) -> None:
        """A read-only transaction: its reads must still hold, all at once."""
        if len(self._reads) < 2:
            return  # one read is one consistent state
        if len(self._reads) > MAX_ACTIONS:
            raise ValidationError(f"a transaction on DynamoDB reads at most {MAX_ACTIONS} "
                                  "items", attribute="transaction")
        reads = list(self._reads.values())
        now = transact_get(self._database, [(table, key) for table, key, _ in reads])
        for (_, _, seen), current in zip(reads, now):
            if (seen is None) != (current is None) or (
                    seen is not None and not equal(seen, current)):
                raise TransactionConflictError(
                    "an item this transaction read was changed by another writer")
