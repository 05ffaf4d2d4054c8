"""Transactions: all-or-nothing writes across items, and optimistic transactions.

Two forms:

* :func:`transact_write` / :func:`transact_get`: DynamoDB's
  TransactWriteItems / TransactGetItems. Every action's condition is checked
  and every change written under the table's write lock, as **one log
  record**: after a crash either all of it is there or none.
* :class:`Transaction` (``with db.transaction() as tx:``): reads record the
  stored bytes they saw, writes are buffered (and visible to the
  transaction's own reads), and the commit checks under the write lock that
  nothing read has changed in any process before writing one record.
  Optimistic and serializable.

Both describe their writes with :mod:`dynafile.writes` and commit them
through the one write step. Idempotency tokens are kept in the same log
record as the writes they protect, so a token is remembered exactly when
its transaction committed. The token space (``x``) holds two item
collections, each entry's value the token's record, the JSON
``{"request": <fingerprint>, "time": <epoch seconds>}``:

* ``"tokens"``: sort key the token (looked up directly);
* ``"expiry"``: sort key :func:`expiry_key` of the record's time and the
  token (``"<microseconds, 20 digits> <token>"``), so the oldest come
  first: a transaction with a token forgets at most
  :data:`EXPIRE_PER_TRANSACTION` expired ones, the oldest, by reading the
  head of this collection. Each ``"tokens"`` entry has exactly one
  ``"expiry"`` entry with the same record.

So the token work of a transaction is O(log n) in the live tokens.
"""

from __future__ import annotations

import functools
import hashlib
import json
import threading
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Callable, TypeVar, cast

from .errors import (
    ConditionalCheckFailedError,
    TransactionConflictError,
    ValidationError,
)
from .expressions import Used, check_placeholders, to_predicate
from .query import projection_of
from .statedicts import StateDict, same_key
from .storage.layout import TOKENS
from .storage.log import Op
from .types import equal, item_size
from .writes import (
    ConditionCheck,
    Delete,
    ItemKey,
    Put,
    Unchanged,
    Update,
    Write,
    prepare_records,
)

if TYPE_CHECKING:  # pragma: no cover
    from .core import DatabaseCore, TableCore

__all__ = ["EXPIRE_PER_TRANSACTION", "EXPIRY_PK", "TOKEN_LIFETIME", "TOKEN_PK", "StateDict",
           "Transaction", "expiry_entries", "expiry_key", "transact_get", "transact_write"]

Item = dict
F = TypeVar("F", bound=Callable[..., Any])

#: Seconds an idempotency token is remembered (DynamoDB: 10 minutes).
TOKEN_LIFETIME = 600.0
#: The largest total size of the items a transaction puts (DynamoDB's 4 MB).
MAX_TRANSACTION_BYTES = 4 * 1024 * 1024

#: The item collections of the token space: tokens by token, and by time.
TOKEN_PK = "tokens"
EXPIRY_PK = "expiry"
#: The most expired tokens one transaction forgets (each adds one token, so
#: the backlog only shrinks).
EXPIRE_PER_TRANSACTION = 8
_KINDS = {
    "put": "put", "Put": "put",
    "update": "update", "Update": "update",
    "delete": "delete", "Delete": "delete",
    "condition_check": "condition_check", "ConditionCheck": "condition_check",
}
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


def _check_max(value: Any, attribute: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValidationError("must be a positive int", attribute=attribute)
    return value


def _table_of(database: DatabaseCore, default: TableCore | None, name: Any,
              where: str) -> TableCore:
    """The table an action names (``table=``), or the default one.

    Raises:
        ValidationError: no table named and no default.
        TableNotFoundError: no such table.
    """
    if name is None:
        if default is None:
            raise ValidationError("each action must name its table (table=...)",
                                  attribute=where)
        return default
    table = database.table(name)
    table.check_open()
    return table


def _compile_action(database: DatabaseCore, default: TableCore | None, index: int,
                    entry: Any) -> tuple[TableCore, Write]:
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
    core = _table_of(database, default, body.get("table"), where)
    names, values = body.get("names"), body.get("values")
    used = Used()
    plan = None
    if kind == "put":
        if "item" not in body:
            raise ValidationError("a put needs item=", attribute=where)
        key = core.item_key(body["item"])
        stored, data = core.prepare_item(body["item"])
    else:
        if "key" not in body:
            raise ValidationError(f"a {kind} needs key=", attribute=where)
        key = core.key(body["key"])
    if kind == "update":
        plan = core.update_plan(body.get("update"), names, values, used, set=body.get("set"),
                                remove=body.get("remove"), add=body.get("add"),
                                delete=body.get("delete"))
    condition = body.get("condition")
    if kind == "condition_check" and condition is None:
        raise ValidationError("a condition_check needs condition=", attribute=where)
    predicate = None if condition is None else to_predicate(condition, names, values, used=used)
    check_placeholders(names, values, used)
    mode = body.get("return_values_on_condition_check_failure", "NONE")
    if mode not in ("NONE", "ALL_OLD"):
        raise ValidationError("return_values_on_condition_check_failure must be NONE or ALL_OLD",
                              attribute=where)
    want_item = mode == "ALL_OLD"
    if kind == "put":
        return core, Put(key, data, stored, predicate, want_item)
    if kind == "update":
        return core, Update(key, plan, predicate, want_item)
    if kind == "delete":
        return core, Delete(key, predicate, want_item)
    return core, ConditionCheck(key, predicate, want_item)


def _canonical(value: Any, depth: int = 0) -> Any:
    """A process-independent description of a request, for token fingerprints."""
    if depth > 50:
        return "..."
    if value is None or isinstance(value, (bool, int, float, str, bytes)):
        return [type(value).__name__, value if not isinstance(value, bytes) else value.hex()]
    if isinstance(value, Mapping):
        return ["map", sorted(([repr(k), _canonical(v, depth + 1)] for k, v in value.items()),
                              key=repr)]
    if isinstance(value, (list, tuple)):
        return ["list", [_canonical(v, depth + 1) for v in value]]
    if isinstance(value, (set, frozenset)):
        return ["set", sorted((_canonical(v, depth + 1) for v in value), key=repr)]
    code = getattr(value, "__code__", None)
    if code is not None:  # a function: the same code is the same request
        return ["fn", getattr(value, "__qualname__", ""), code.co_code.hex()]
    state: dict[str, Any] = {}
    for cls in type(value).__mro__:
        for slot in getattr(cls, "__slots__", ()):
            if hasattr(value, slot):
                state[slot] = getattr(value, slot)
    state.update(getattr(value, "__dict__", {}))
    if state:
        return [type(value).__qualname__, _canonical(state, depth + 1)]
    return [type(value).__qualname__, repr(value)]


def _fingerprint(actions: Sequence[Any]) -> str:
    text = json.dumps(_canonical(list(actions)), default=repr, sort_keys=True)
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


def expiry_key(time: float, token: str) -> str:
    """The ``"expiry"`` sort key of a token recorded at ``time``: ordered by
    time (microseconds, 20 digits; a time before the epoch counts as 0)."""
    return f"{max(0, int(time * 1_000_000)):020d} {token}"


def _token_record(held: bytes | None) -> tuple[str, float] | None:
    """``(request fingerprint, time)`` of a stored token record, or ``None``
    for none (or one that is not a record: as good as none)."""
    if held is None:
        return None
    try:
        record = json.loads(bytes(held))
        request, time = record["request"], record["time"]
    except (ValueError, TypeError, KeyError):
        return None
    if not isinstance(request, str) or isinstance(time, bool) or not isinstance(
            time, (int, float)):
        return None
    return request, float(time)


def expiry_entries(tokens: Mapping[str, bytes]) -> dict[str, bytes]:
    """The ``"expiry"`` entries of the ``"tokens"`` entries ``tokens``
    (for tokens recorded without one: format 1, or before this layout)."""
    out = {}
    for token, held in tokens.items():
        record = _token_record(held)
        if record is not None:
            out[expiry_key(record[1], token)] = bytes(held)
    return out


def _token_ops(engine: Any, tokens: Any, token: str, fingerprint: str, now: float
               ) -> list[Op]:
    """The operations recording ``token`` at ``now`` (replacing an expired
    record of it) and forgetting up to :data:`EXPIRE_PER_TRANSACTION`
    expired tokens, the oldest. O(log n) in the live tokens."""
    expiry = engine.collection(engine.digest(EXPIRY_PK), EXPIRY_PK, TOKENS).items
    record = json.dumps({"request": fingerprint, "time": now}).encode()
    held = tokens.get(token)
    ops = [Op(TOKEN_PK, token, record, held, 0, TOKENS)]
    new_key = expiry_key(now, token)
    touched = {new_key}
    previous = _token_record(held)
    if previous is not None:  # an expired record of this token: its entry goes
        old_key = expiry_key(previous[1], token)
        if old_key != new_key and old_key in expiry:
            ops.append(Op(EXPIRY_PK, old_key, None, expiry[old_key], 0, TOKENS))
            touched.add(old_key)
    ops.append(Op(EXPIRY_PK, new_key, record, expiry.get(new_key), 0, TOKENS))
    if len(tokens) > len(expiry):  # tokens recorded without an "expiry" entry
        ops.extend(_backfill(tokens, expiry, token))
        return ops
    forgotten = 0
    for key in expiry.islice(0, EXPIRE_PER_TRANSACTION + len(touched)):
        if key in touched:
            continue
        if forgotten == EXPIRE_PER_TRANSACTION:
            break
        entry = _token_record(expiry[key])
        if entry is not None and now - entry[1] < TOKEN_LIFETIME:
            break  # the oldest left is live: so are the rest
        forgotten += 1
        ops.append(Op(EXPIRY_PK, key, None, expiry[key], 0, TOKENS))
        old_token = key[21:]
        if old_token != token and old_token in tokens:
            current = _token_record(tokens[old_token])
            if current is None or now - current[1] >= TOKEN_LIFETIME:
                ops.append(Op(TOKEN_PK, old_token, None, tokens[old_token], 0, TOKENS))
    return ops


def _backfill(tokens: Any, expiry: Any, token: str) -> list[Op]:
    """``"expiry"`` entries for the tokens lacking one (recorded before the
    token space had them), so that they expire too. O(n), once."""
    have = {key[21:] for key in expiry}
    missing = {t: data for t, data in tokens.items() if t not in have and t != token}
    return [Op(EXPIRY_PK, key, data, None, 0, TOKENS)
            for key, data in expiry_entries(missing).items()]


def transact_write(database: DatabaseCore, actions: Sequence[Mapping[str, Any]], *,
                   default: TableCore | None = None, token: str | None = None,
                   max_actions: int = 100) -> None:
    """Commit put / update / delete / condition-check actions all or nothing.

    Each action is a dict with one key, ``"put"``, ``"update"``, ``"delete"``
    or ``"condition_check"`` (boto3's ``Put`` ... ``ConditionCheck`` also
    work), whose value holds the arguments of the matching table method:
    ``item`` or ``key``, ``condition``, ``names``, ``values``, ``update`` (or
    ``set`` / ``remove`` / ``add`` / ``delete``) and
    ``return_values_on_condition_check_failure``; and ``table``, the name of
    the table the action writes to (optional when ``default`` is given).
    The actions may write to several tables of the database: they are still
    one log record.

    Args:
        database: the database.
        actions: up to ``max_actions`` actions, each on a different item.
        default: the table of actions that name none.
        token: an idempotency token (ClientRequestToken): repeating the same
            request with the same token within 10 minutes writes nothing and
            returns as the first call did.
        max_actions: the most actions allowed (DynamoDB's limit, 100, by default).

    Raises:
        ValidationError: a malformed action, two actions on one item, too
            many actions, or a token reused for a different request
            (nothing is written).
        TransactionCanceledError: a condition failed or an action could not
            be applied; ``reasons`` holds one
            :class:`~dynafile.errors.CancellationReason` per action, in
            order (``code`` ``None``, ``"ConditionalCheckFailed"`` or
            ``"ValidationError"``). Nothing is written.

    Cost: one log record (one fsync in ``"full"`` mode) for the whole request.
    """
    max_actions = _check_max(max_actions, "max_actions")
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
    writes = [_compile_action(database, default, i, entry) for i, entry in enumerate(entries)]
    total = sum(item_size(w.item) for _, w in writes if isinstance(w, Put) and w.item is not None)
    if total > MAX_TRANSACTION_BYTES:
        raise ValidationError("The aggregate size of the items in the transaction cannot exceed "
                              "4 MB", attribute="actions")
    if len({(t.table_id, w.key.npk, w.key.nsk) for t, w in writes}) != len(writes):
        raise ValidationError("Transaction request cannot include multiple operations on "
                              "one item", attribute="actions")
    fingerprint = _fingerprint(entries) if token is not None else ""

    def build() -> tuple[list[Op], None]:
        for table, _ in writes:
            table.check_open()  # deleted meanwhile?
        now = database.clock()
        tokens = None
        if token is not None:
            engine = database.engine
            tokens = engine.collection(engine.digest(TOKEN_PK), TOKEN_PK, TOKENS).items
            record = _token_record(tokens.get(token))
            if record is not None and now - record[1] < TOKEN_LIFETIME:
                if record[0] != fingerprint:
                    raise ValidationError(
                        "IdempotentParameterMismatch: the token was used for a different "
                        "request within the last 10 minutes", attribute="token")
                return [], None
        ops = prepare_records(writes, now=now, atomic=True).ops
        if tokens is not None and token is not None:
            ops.extend(_token_ops(database.engine, tokens, token, fingerprint, now))
        return ops, None

    database.write(build)


def transact_get(database: DatabaseCore, keys: Sequence[tuple[TableCore, Mapping[str, Any]]],
                 *, projection: Any = None, names: Mapping[str, str] | None = None,
                 max_items: int = 100) -> list[Item | None]:
    """Read up to ``max_items`` items, of one or several tables, as one
    consistent snapshot.

    Returns the items in the order of ``keys`` (``(table, key)`` pairs),
    ``None`` for each missing (or expired) one. No write of any process is
    half-seen: every write is one log record and the reads happen between
    two records.

    Raises:
        ValidationError: a bad key, the same key twice, or too many keys.
    """
    max_items = _check_max(max_items, "max_items")
    if isinstance(keys, (Mapping, str, bytes)) or not hasattr(keys, "__iter__"):
        raise ValidationError("keys must be a list of key dicts", attribute="keys")
    keys = list(keys)
    if len(keys) > max_items:
        raise ValidationError(f"at most {max_items} keys, got {len(keys)}", attribute="keys")
    slots = [(table, table.key(key)) for table, key in keys]
    if len({(t.table_id, k.npk, k.nsk) for t, k in slots}) != len(slots):
        raise ValidationError("Transaction request cannot include multiple operations on one "
                              "item", attribute="keys")
    project = projection_of(projection, names)
    with database.reading():
        found = [(table, table.stored(key.npk, key.nsk)) for table, key in slots]
    now = database.clock()
    items = [table.visible(data, now, (key.npk, key.nsk))
             for (table, data), (_, key) in zip(found, slots)]
    if project is not None:
        items = [None if item is None else project(item) for item in items]
    return items


class Transaction:
    """An optimistic, serializable transaction (``with db.transaction() as tx:``).

    Inside the block, ``tx.get_item`` / ``tx.batch_get`` read the database as
    one consistent snapshot plus the transaction's own writes, and
    ``tx.put_item`` / ``tx.update_item`` / ``tx.delete_item`` /
    ``tx.condition_check`` buffer changes. Every method takes ``table=``, the
    name of the table it reads or writes (optional on a table's transaction:
    its own). Leaving the block commits the changes as one log record if
    nothing the transaction read has changed since, in any process;
    otherwise it raises :class:`~dynafile.errors.TransactionConflictError`
    and writes nothing. An exception in the block discards everything.

    Items read through ``tx.get_item`` / ``tx.batch_get`` (without a
    projection) are :class:`StateDict` objects: editing one (``item["n"] =
    1``, ``del item["tmp"]``, ``item.update(...)``, or anything nested in
    it) becomes a write of the item, under the same optimistic check as
    the read. Reading the same item again returns the same object.

    Used as a decorator, ``@db.transaction(retries=5)`` runs the function as
    ``fn(tx, *args, **kwargs)`` and re-runs it on conflict, up to
    ``retries`` more times.

    Raises:
        ValidationError: a transaction opened inside another one of the
            same database in the same thread, or used after it ended.
    """

    def __init__(self, database: DatabaseCore, default: TableCore | None = None, *,
                 retries: int = 0) -> None:
        if not isinstance(retries, int) or isinstance(retries, bool) or retries < 0:
            raise ValidationError("must be an int >= 0", attribute="retries")
        self._database = database
        self._default = default
        self.retries = retries
        # (table id, npk, nsk) -> (table, key, stored bytes seen), in first-read order
        self._reads: dict[tuple[int, Any, Any], tuple[TableCore, ItemKey, bytes | None]] = {}
        # (table id, npk, nsk) -> (table, key, item bytes or None for a delete)
        self._writes: dict[tuple[int, Any, Any], tuple[TableCore, ItemKey, bytes | None]] = {}
        # (table id, npk, nsk) -> (table, key, state dict handed out, the bytes its
        # content was loaded from or last written as): edits show as a difference
        self._states: dict[tuple[int, Any, Any], tuple[TableCore, ItemKey, StateDict, bytes]] = {}
        self._state = "new"
        self._seen_lsn = -1

    # ----------------------------------------------------------- lifecycle

    def __enter__(self) -> Transaction:
        open_here = _open_tables()
        if id(self._database) in open_here:
            raise ValidationError("transactions do not nest: this thread already has an open "
                                  "transaction on this table; use that one", attribute="transaction")
        if self._state != "new":
            raise ValidationError("a transaction can be entered only once; open a new one",
                                  attribute="transaction")
        open_here.add(id(self._database))
        self._state = "open"
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        _open_tables().discard(id(self._database))
        if exc_type is not None:
            self._state = "rolled back"
            self._detach_states()
            return
        try:
            self._commit()
        finally:
            self._state = "done"
            self._detach_states()

    def __call__(self, fn: F) -> F:
        database, default, retries = self._database, self._default, self.retries

        @functools.wraps(fn)
        def run(*args: Any, **kwargs: Any) -> Any:
            attempt = 0
            while True:
                try:
                    with Transaction(database, default) as tx:
                        result = fn(tx, *args, **kwargs)
                    return result
                except TransactionConflictError:
                    attempt += 1
                    if attempt > retries:
                        raise
        return run  # type: ignore[return-value]

    def _is_open(self) -> bool:
        return self._state == "open"

    def _check_state(self) -> None:
        if self._state != "open":
            raise ValidationError(f"the transaction is {self._state}; use it inside its "
                                  "with block", attribute="transaction")

    def _table(self, name: str | None) -> TableCore:
        self._check_state()
        return _table_of(self._database, self._default, name, "table")

    # --------------------------------------------------------------- reads

    def _stored(self, table: TableCore, key: ItemKey) -> bytes | None:
        """Current stored bytes, validating the snapshot (conflict if any item
        read earlier has changed since)."""
        with self._database.reading() as engine:
            if engine.lsn != self._seen_lsn:
                for seen_table, seen_key, seen in self._reads.values():
                    if seen_table.stored(seen_key.npk, seen_key.nsk) != seen:
                        raise TransactionConflictError(
                            "an item this transaction read was changed by another writer")
                self._seen_lsn = engine.lsn
            data = table.stored(key.npk, key.nsk)
        slot = (table.table_id, key.npk, key.nsk)
        if slot not in self._reads:
            self._reads[slot] = (table, key, None if data is None else bytes(data))
        return data

    def _view_data(self, table: TableCore, key: ItemKey) -> tuple[bytes | None, Item | None]:
        """The bytes of the item as this transaction sees it, and the item
        (``None`` when absent or expired). Edits of a state dict of it are
        written first."""
        slot = (table.table_id, key.npk, key.nsk)
        if slot in self._states:
            self._flush(slot)
        if slot in self._writes:
            data = self._writes[slot][2]  # bytes this process wrote: a fresh copy each load
            return data, None if data is None else table.load(data)
        data = self._stored(table, key)
        return data, table.visible(data, None, (key.npk, key.nsk))

    def _view(self, table: TableCore, key: ItemKey) -> Item | None:
        return self._view_data(table, key)[1]

    def get_item(self, *, key: Mapping[str, Any], projection: Any = None,
                 names: Mapping[str, str] | None = None, table: str | None = None) -> Item | None:
        """The item as this transaction sees it (its own writes included), or ``None``.

        Without ``projection``, the item is a :class:`StateDict`: edit it and
        the edit is written at commit (reading the same item again returns
        the same object). A projected item is a plain dict (writing it back
        would drop the attributes it leaves out).

        Raises:
            ValidationError: a bad key or projection.
            TransactionConflictError: an item read earlier has changed since.
        """
        core = self._table(table)
        item_key = core.key(key)
        project = projection_of(projection, names)
        if project is not None:
            item = self._view(core, item_key)
            return None if item is None else project(item)
        return self._state_dict(core, item_key)

    def batch_get(self, keys: Sequence[Mapping[str, Any]], *,
                  table: str | None = None) -> list[Item | None]:
        """:meth:`get_item` for each key, in order (state dicts)."""
        return [self.get_item(key=key, table=table) for key in keys]

    # ---------------------------------------------------------- state dicts

    def _state_dict(self, table: TableCore, key: ItemKey) -> StateDict | None:
        """The state dict of an item (the one handed out before, brought up
        to date), or ``None`` when the transaction sees no item."""
        slot = (table.table_id, key.npk, key.nsk)
        data, item = self._view_data(table, key)
        known = self._states.get(slot)
        if data is None or item is None:
            if known is not None:
                self._forget(slot)
            return None
        if known is not None:
            state, base = known[2], known[3]
            if base is not data and base != data:  # written meanwhile: show it
                dict.clear(state)
                dict.update(state, item)
                self._states[slot] = (table, key, state, bytes(data))
            return state
        state = StateDict.tracking(item, table.key_item(key), self._is_open)
        self._states[slot] = (table, key, state, bytes(data))
        return state

    def _flush(self, slot: tuple[int, Any, Any]) -> None:
        """Buffer a write of a state dict that differs from what it was
        loaded as (or last written as).

        Raises:
            ValidationError: its key attributes changed, or the item is
                not one the table accepts (``ItemTooLargeError`` too).
        """
        table, key, state, base = self._states[slot]
        content = dict(state)
        if equal(content, table.load(base)):
            return
        for name, value in table.key_item(key).items():
            if name not in content or not same_key(content[name], value):
                raise ValidationError(
                    f"Cannot update attribute {name}. This attribute is part of the key "
                    f"(a state dict of item {_key_text(table, key)} changed it)",
                    attribute=name)
        data = table.prepare_item(content)[1]
        self._writes[slot] = (table, key, data)
        self._states[slot] = (table, key, state, data)

    def _after_write(self, slot: tuple[int, Any, Any]) -> None:
        """Bring a state dict of an item this transaction just wrote up to
        date (a delete detaches it)."""
        known = self._states.get(slot)
        if known is None:
            return
        table, key, state, _ = known
        data = self._writes[slot][2]
        if data is None:
            self._forget(slot)
            return
        dict.clear(state)
        dict.update(state, table.load(data))
        self._states[slot] = (table, key, state, data)

    def _forget(self, slot: tuple[int, Any, Any]) -> None:
        self._states.pop(slot)[2].detach()

    def _detach_states(self) -> None:
        for entry in self._states.values():
            entry[2].detach()
        self._states.clear()

    # -------------------------------------------------------------- writes

    def _check(self, table: TableCore, key: ItemKey, condition: Any, names: Any, values: Any,
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

    def put_item(self, *, item: Mapping[str, Any], condition: Any = None,
                 names: Mapping[str, str] | None = None,
                 values: Mapping[str, Any] | None = None, table: str | None = None) -> None:
        """Buffer a put; with a condition, it is checked now against this
        transaction's view (and the item counts as read).

        Raises:
            ValidationError / ItemTooLargeError: a bad item.
            ConditionalCheckFailedError: the condition does not hold.
        """
        core = self._table(table)
        key = core.item_key(item)
        data = core.prepare_item(item)[1]  # validates types and size now
        slot = (core.table_id, key.npk, key.nsk)
        if condition is not None or names is not None or values is not None:
            self._check(core, key, condition, names, values, Used())
        elif slot in self._states:
            self._flush(slot)
        self._writes[slot] = (core, key, data)
        self._after_write(slot)

    def delete_item(self, *, key: Mapping[str, Any], condition: Any = None,
                    names: Mapping[str, str] | None = None,
                    values: Mapping[str, Any] | None = None, table: str | None = None) -> None:
        """Buffer a delete (missing items are fine).

        Raises:
            ValidationError: a bad key or condition.
            ConditionalCheckFailedError: the condition does not hold.
        """
        core = self._table(table)
        item_key = core.key(key)
        slot = (core.table_id, item_key.npk, item_key.nsk)
        if condition is not None or names is not None or values is not None:
            self._check(core, item_key, condition, names, values, Used())
        elif slot in self._states:
            self._flush(slot)
        self._writes[slot] = (core, item_key, None)
        self._after_write(slot)

    def update_item(self, *, key: Mapping[str, Any], update: str | None = None,
                    names: Mapping[str, str] | None = None,
                    values: Mapping[str, Any] | None = None, condition: Any = None,
                    set: Mapping[str, Any] | None = None,
                    remove: Sequence[str] | None = None,
                    add: Mapping[str, Any] | None = None,
                    delete: Mapping[str, Any] | None = None,
                    table: str | None = None) -> Item | None:
        """Apply an update to this transaction's view of the item (reading it)
        and buffer the result; returns the item as it will be written
        (``None`` for an update of a missing item that writes nothing).

        Raises:
            ValidationError: a bad key, expression, or operand type.
            ConditionalCheckFailedError: the condition does not hold.
        """
        core = self._table(table)
        item_key = core.key(key)
        used = Used()
        plan = core.update_plan(update, names, values, used, set=set, remove=remove, add=add,
                                delete=delete)
        current = self._check(core, item_key, condition, names, values, used)
        image = Update(item_key, plan).new_image(current, core)
        if image is None:  # nothing to write (an update of a missing item that only removes)
            return current
        new, data = cast(tuple[Item, bytes], image)
        slot = (core.table_id, item_key.npk, item_key.nsk)
        self._writes[slot] = (core, item_key, data)
        self._after_write(slot)
        return new

    def condition_check(self, *, key: Mapping[str, Any], condition: Any,
                        names: Mapping[str, str] | None = None,
                        values: Mapping[str, Any] | None = None,
                        table: str | None = None) -> None:
        """Check a condition on an item now; the item counts as read, so the
        commit fails if it changes before then.

        Raises:
            ConditionalCheckFailedError: the condition does not hold.
        """
        core = self._table(table)
        self._check(core, core.key(key), condition, names, values, Used())

    # -------------------------------------------------------------- commit

    def _commit(self) -> None:
        for slot in list(self._states):
            self._flush(slot)  # edits of state dicts become writes
        if not self._writes:
            return  # a read-only transaction saw one consistent snapshot
        writes: list[tuple[TableCore, Write]] = [
            (table, Unchanged(key, seen)) for table, key, seen in self._reads.values()]
        for table, key, data in self._writes.values():
            writes.append((table, Delete(key) if data is None else Put(key, data)))
        database = self._database
        now = database.clock()
        database.write(lambda: prepare_records(writes, now=now))


def _key_text(table: TableCore, key: ItemKey) -> str:
    return repr(key.pk) if table.sk_attribute is None else repr((key.pk, key.sk))


_threads = threading.local()


def _open_tables() -> set[int]:
    """The ids of the databases this thread has a transaction open on."""
    tables = getattr(_threads, "tables", None)
    if tables is None:
        tables = _threads.tables = set()
    return tables  # type: ignore[no-any-return]
