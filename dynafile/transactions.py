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

Idempotency tokens are kept in the same log record as the writes they
protect (space ``x:tokens``, checkpointed under ``_txtokens/``), so a token
is remembered exactly when its transaction committed.
"""

from __future__ import annotations

import functools
import hashlib
import json
import threading
from collections.abc import Mapping, Sequence
from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    TypeVar,
)

from typing_extensions import Self

from .errors import (
    CancellationReason,
    ConditionalCheckFailedError,
    TransactionCanceledError,
    TransactionConflictError,
    ValidationError,
)
from .expressions import Used, check_placeholders, to_predicate
from .storage.engine import TOKEN_SPACE
from .storage.log import Op

if TYPE_CHECKING:  # pragma: no cover
    from .table import Dynafile

__all__ = ["TOKEN_LIFETIME", "Transaction", "transact_get", "transact_write"]

Item = dict
F = TypeVar("F", bound=Callable[..., Any])

#: Seconds an idempotency token is remembered (DynamoDB: 10 minutes).
TOKEN_LIFETIME = 600.0

_TOKEN_PK = "tokens"
_KINDS = {
    "put": "put", "Put": "put",
    "update": "update", "Update": "update",
    "delete": "delete", "Delete": "delete",
    "condition_check": "condition_check", "ConditionCheck": "condition_check",
}
_ALLOWED = {
    "put": {"item", "condition", "names", "values", "return_values_on_condition_check_failure"},
    "update": {"key", "update", "set", "remove", "add", "delete", "condition", "names", "values",
               "return_values_on_condition_check_failure"},
    "delete": {"key", "condition", "names", "values", "return_values_on_condition_check_failure"},
    "condition_check": {"key", "condition", "names", "values",
                        "return_values_on_condition_check_failure"},
}


class _Action:
    """One validated action of a transact_write request."""

    __slots__ = ("data", "kind", "npk", "nsk", "pk", "plan", "predicate", "sk", "want_item")

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.data: bytes | None = None
        self.plan: Any = None
        self.predicate: Any = None
        self.want_item = False


def _check_max(value: Any, attribute: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValidationError("must be a positive int", attribute=attribute)
    return value


def _compile_action(table: Dynafile, index: int, entry: Any) -> _Action:
    where = f"actions[{index}]"
    if not isinstance(entry, Mapping) or len(entry) != 1:
        raise ValidationError("each action must be a dict with one key: put, update, delete or "
                              "condition_check", attribute=where)
    (name, body), = entry.items()
    kind = _KINDS.get(name)
    if kind is None:
        raise ValidationError(f"unknown action {name!r}; use put, update, delete or "
                              "condition_check", attribute=where)
    if not isinstance(body, Mapping):
        raise ValidationError(f"the {kind} action's arguments must be a dict", attribute=where)
    unknown = set(body) - _ALLOWED[kind]
    if unknown:
        raise ValidationError(f"unknown arguments for {kind}: {sorted(unknown)}", attribute=where)
    action = _Action(kind)
    names, values = body.get("names"), body.get("values")
    used = Used()
    if kind == "put":
        if "item" not in body:
            raise ValidationError("a put needs item=", attribute=where)
        action.pk, action.sk, action.npk, action.nsk = table._key_of(body["item"], "item")
        action.data = table._dump(body["item"])
    else:
        if "key" not in body:
            raise ValidationError(f"a {kind} needs key=", attribute=where)
        action.pk, action.sk, action.npk, action.nsk = table._key_only(body["key"])
    if kind == "update":
        action.plan = table._update_plan(body.get("update"), names, values, used,
                                         set=body.get("set"), remove=body.get("remove"),
                                         add=body.get("add"), delete=body.get("delete"))
    condition = body.get("condition")
    if kind == "condition_check" and condition is None:
        raise ValidationError("a condition_check needs condition=", attribute=where)
    if condition is not None:
        action.predicate = to_predicate(condition, names, values, used=used)
    check_placeholders(names, values, used)
    mode = body.get("return_values_on_condition_check_failure", "NONE")
    if mode not in ("NONE", "ALL_OLD"):
        raise ValidationError("return_values_on_condition_check_failure must be NONE or ALL_OLD",
                              attribute=where)
    action.want_item = mode == "ALL_OLD"
    return action


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


def transact_write(table: Dynafile, actions: Sequence[Mapping[str, Any]], *,
                   token: str | None = None, max_actions: int = 100) -> None:
    """Commit put / update / delete / condition-check actions all or nothing.

    Each action is a dict with one key, ``"put"``, ``"update"``, ``"delete"``
    or ``"condition_check"`` (boto3's ``Put`` ... ``ConditionCheck`` also
    work), whose value holds the arguments of the matching table method:
    ``item`` or ``key``, ``condition``, ``names``, ``values``, ``update`` (or
    ``set`` / ``remove`` / ``add`` / ``delete``) and
    ``return_values_on_condition_check_failure``.

    Args:
        table: the table.
        actions: up to ``max_actions`` actions, each on a different item.
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
    compiled = [_compile_action(table, i, entry) for i, entry in enumerate(entries)]
    seen = set()
    for action in compiled:
        slot = (action.npk, action.nsk)
        if slot in seen:
            raise ValidationError("Transaction request cannot include multiple operations on "
                                  "one item", attribute="actions")
        seen.add(slot)
    fingerprint = _fingerprint(entries) if token is not None else ""
    engine = table._engine

    def prepare() -> tuple[list[Op], None]:
        now = table._clock()
        token_part = None
        if token is not None:
            token_part = engine.partition(engine.digest(_TOKEN_PK), _TOKEN_PK, TOKEN_SPACE)
            held = token_part.items.get(token)
            if held is not None:
                record = json.loads(bytes(held))
                if now - record["time"] < TOKEN_LIFETIME:
                    if record["request"] != fingerprint:
                        raise ValidationError(
                            "IdempotentParameterMismatch: the token was used for a different "
                            "request within the last 10 minutes", attribute="token")
                    return [], None
        ops: list[Op] = []
        reasons: list[CancellationReason] = []
        failed = False
        for action in compiled:
            digest = engine.digest(action.npk)
            current = engine.partition(digest, action.npk).items.get(action.nsk)
            old = table._visible(current)
            visible = current if old is not None else None
            if action.predicate is not None and not action.predicate(old if old is not None
                                                                      else {}):
                reasons.append(CancellationReason(
                    "ConditionalCheckFailed", "The conditional request failed",
                    old if action.want_item else None))
                failed = True
                continue
            try:
                if action.kind == "put":
                    table._fix_key_types(*table._key_pairs(action.pk, action.sk))
                    if visible != action.data:
                        ops.append(Op(action.npk, action.nsk, action.data, visible))
                elif action.kind == "update":
                    table._fix_key_types(*table._key_pairs(action.pk, action.sk))
                    _, data = table._updated(action.plan, old, action.pk, action.sk)
                    if visible != data:
                        ops.append(Op(action.npk, action.nsk, data, visible))
                elif action.kind == "delete" and current is not None:
                    ops.append(Op(action.npk, action.nsk, None, visible))
            except ValidationError as exc:
                reasons.append(CancellationReason("ValidationError", str(exc)))
                failed = True
                continue
            reasons.append(CancellationReason(None))
        if failed:
            raise TransactionCanceledError(reasons)
        if token_part is not None:
            record = json.dumps({"request": fingerprint, "time": now}).encode()
            ops.append(Op(_TOKEN_PK, token, record, None, 0, TOKEN_SPACE))
            for old_token, held in list(token_part.items.items()):
                if old_token != token and now - json.loads(bytes(held))["time"] >= TOKEN_LIFETIME:
                    ops.append(Op(_TOKEN_PK, old_token, None, None, 0, TOKEN_SPACE))
        return ops, None

    engine.write(prepare)


def transact_get(table: Dynafile, keys: Sequence[Mapping[str, Any]], *,
                 projection: Any = None, names: Mapping[str, str] | None = None,
                 max_items: int = 100) -> list[Item | None]:
    """Read up to ``max_items`` items as one consistent snapshot.

    Returns the items in the order of ``keys``, ``None`` for each missing
    (or expired) one. No write of any process is half-seen: every write is
    one log record and the reads happen between two records.

    Raises:
        ValidationError: a bad key, the same key twice, or too many keys.
    """
    max_items = _check_max(max_items, "max_items")
    if isinstance(keys, (Mapping, str, bytes)) or not hasattr(keys, "__iter__"):
        raise ValidationError("keys must be a list of key dicts", attribute="keys")
    keys = list(keys)
    if len(keys) > max_items:
        raise ValidationError(f"at most {max_items} keys, got {len(keys)}", attribute="keys")
    slots = [table._key_only(key)[2:] for key in keys]
    if len(set(slots)) != len(slots):
        raise ValidationError("Transaction request cannot include multiple operations on one "
                              "item", attribute="keys")
    return table.batch_get(keys, projection=projection, names=names)


class Transaction:
    """An optimistic, serializable transaction (``with db.transaction() as tx:``).

    Inside the block, ``tx.get_item`` / ``tx.batch_get`` read the table as
    one consistent snapshot plus the transaction's own writes, and
    ``tx.put_item`` / ``tx.update_item`` / ``tx.delete_item`` /
    ``tx.condition_check`` buffer changes. Leaving the block commits them as
    one log record if nothing the transaction read has changed since, in
    any process; otherwise it raises
    :class:`~dynafile.errors.TransactionConflictError` and writes nothing.
    An exception in the block discards everything.

    Used as a decorator, ``@db.transaction(retries=5)`` runs the function as
    ``fn(tx, *args, **kwargs)`` and re-runs it on conflict, up to
    ``retries`` more times.

    Raises:
        ValidationError: a transaction opened inside another one of the
            same table in the same thread, or used after it ended.
    """

    def __init__(self, table: Dynafile, *, retries: int = 0) -> None:
        if not isinstance(retries, int) or isinstance(retries, bool) or retries < 0:
            raise ValidationError("must be an int >= 0", attribute="retries")
        self._table = table
        self.retries = retries
        self._reads: dict[tuple[Any, Any], bytes | None] = {}
        # (npk, nsk) -> (pk, sk, item bytes or None for a delete), in first-write order
        self._writes: dict[tuple[Any, Any], tuple[Any, Any, bytes | None]] = {}
        self._state = "new"
        self._seen_lsn = -1

    # ----------------------------------------------------------- lifecycle

    def __enter__(self) -> Self:
        open_here = _open_tables()
        if id(self._table) in open_here:
            raise ValidationError("transactions do not nest: this thread already has an open "
                                  "transaction on this table; use that one", attribute="transaction")
        if self._state != "new":
            raise ValidationError("a transaction can be entered only once; open a new one",
                                  attribute="transaction")
        open_here.add(id(self._table))
        self._state = "open"
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        _open_tables().discard(id(self._table))
        if exc_type is not None:
            self._state = "rolled back"
            return
        try:
            self._commit()
        finally:
            self._state = "done"

    def __call__(self, fn: F) -> F:
        table, retries = self._table, self.retries

        @functools.wraps(fn)
        def run(*args: Any, **kwargs: Any) -> Any:
            attempt = 0
            while True:
                try:
                    with Transaction(table) as tx:
                        result = fn(tx, *args, **kwargs)
                    return result
                except TransactionConflictError:
                    attempt += 1
                    if attempt > retries:
                        raise
        return run  # type: ignore[return-value]

    def _check_state(self) -> None:
        if self._state != "open":
            raise ValidationError(f"the transaction is {self._state}; use it inside its "
                                  "with block", attribute="transaction")

    # --------------------------------------------------------------- reads

    def _stored(self, npk: Any, nsk: Any) -> bytes | None:
        """Current stored bytes (under the thread lock), validating the snapshot."""
        table = self._table
        engine = table._engine
        with engine.lock.thread_lock:
            engine.refresh()
            if engine._lsn != self._seen_lsn:
                for (rpk, rsk), seen in self._reads.items():
                    now = engine.partition(engine.digest(rpk), rpk).items.get(rsk)
                    if now != seen:
                        raise TransactionConflictError(
                            "an item this transaction read was changed by another writer")
                self._seen_lsn = engine._lsn
            data = engine.partition(engine.digest(npk), npk).items.get(nsk)
        slot = (npk, nsk)
        if slot not in self._reads:
            self._reads[slot] = None if data is None else bytes(data)
        return data

    def _view(self, npk: Any, nsk: Any) -> Item | None:
        slot = (npk, nsk)
        if slot in self._writes:
            data = self._writes[slot][2]  # bytes this process wrote: a fresh copy each load
            return None if data is None else self._table._load_held(data)
        return self._table._visible(self._stored(npk, nsk))

    def get_item(self, *, key: Mapping[str, Any], projection: Any = None,
                 names: Mapping[str, str] | None = None) -> Item | None:
        """The item as this transaction sees it (its own writes included), or ``None``.

        Raises:
            ValidationError: a bad key or projection.
            TransactionConflictError: an item read earlier has changed since.
        """
        self._check_state()
        _, _, npk, nsk = self._table._key_only(key)
        project = self._table._projection(projection, names)
        item = self._view(npk, nsk)
        return item if item is None or project is None else project(item)

    def batch_get(self, keys: Sequence[Mapping[str, Any]]) -> list[Item | None]:
        """:meth:`get_item` for each key, in order."""
        return [self.get_item(key=key) for key in keys]

    # -------------------------------------------------------------- writes

    def _buffer(self, pk: Any, sk: Any, npk: Any, nsk: Any, data: bytes | None) -> None:
        self._writes[(npk, nsk)] = (pk, sk, data)

    def _check(self, npk: Any, nsk: Any, condition: Any, names: Any, values: Any,
               used: Any) -> Item | None:
        current = self._view(npk, nsk)
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
                 values: Mapping[str, Any] | None = None) -> None:
        """Buffer a put; with a condition, it is checked now against this
        transaction's view (and the item counts as read).

        Raises:
            ValidationError / ItemTooLargeError: a bad item.
            ConditionalCheckFailedError: the condition does not hold.
        """
        self._check_state()
        table = self._table
        pk, sk, npk, nsk = table._key_of(item, "item")
        data = table._dump(item)  # validates serializability and size now
        if condition is not None or names is not None or values is not None:
            self._check(npk, nsk, condition, names, values, Used())
        self._buffer(pk, sk, npk, nsk, data)

    def delete_item(self, *, key: Mapping[str, Any], condition: Any = None,
                    names: Mapping[str, str] | None = None,
                    values: Mapping[str, Any] | None = None) -> None:
        """Buffer a delete (missing items are fine).

        Raises:
            ValidationError: a bad key or condition.
            ConditionalCheckFailedError: the condition does not hold.
        """
        self._check_state()
        pk, sk, npk, nsk = self._table._key_only(key)
        if condition is not None or names is not None or values is not None:
            self._check(npk, nsk, condition, names, values, Used())
        self._buffer(pk, sk, npk, nsk, None)

    def update_item(self, *, key: Mapping[str, Any], update: str | None = None,
                    names: Mapping[str, str] | None = None,
                    values: Mapping[str, Any] | None = None, condition: Any = None,
                    set: Mapping[str, Any] | None = None,
                    remove: Sequence[str] | None = None,
                    add: Mapping[str, Any] | None = None,
                    delete: Mapping[str, Any] | None = None) -> Item:
        """Apply an update to this transaction's view of the item (reading it)
        and buffer the result; returns the item as it will be written.

        Raises:
            ValidationError: a bad key, expression, or operand type.
            ConditionalCheckFailedError: the condition does not hold.
        """
        self._check_state()
        table = self._table
        pk, sk, npk, nsk = table._key_only(key)
        used = Used()
        plan = table._update_plan(update, names, values, used, set=set, remove=remove, add=add,
                                  delete=delete)
        current = self._check(npk, nsk, condition, names, values, used)
        new, data = table._updated(plan, current, pk, sk)
        self._buffer(pk, sk, npk, nsk, data)
        return new

    def condition_check(self, *, key: Mapping[str, Any], condition: Any,
                        names: Mapping[str, str] | None = None,
                        values: Mapping[str, Any] | None = None) -> None:
        """Check a condition on an item now; the item counts as read, so the
        commit fails if it changes before then.

        Raises:
            ConditionalCheckFailedError: the condition does not hold.
        """
        self._check_state()
        _, _, npk, nsk = self._table._key_only(key)
        self._check(npk, nsk, condition, names, values, Used())

    # -------------------------------------------------------------- commit

    def _commit(self) -> None:
        if not self._writes:
            return  # a read-only transaction saw one consistent snapshot
        table = self._table
        engine = table._engine

        def prepare() -> tuple[list[Op], None]:
            for (rpk, rsk), seen in self._reads.items():
                now = engine.partition(engine.digest(rpk), rpk).items.get(rsk)
                if now != seen:
                    raise TransactionConflictError(
                        "an item this transaction read was changed by another writer; "
                        "nothing was written")
            ops: list[Op] = []
            for (npk, nsk), (pk, sk, data) in self._writes.items():
                if data is not None:
                    table._fix_key_types(*table._key_pairs(pk, sk))
                current = engine.partition(engine.digest(npk), npk).items.get(nsk)
                visible = current if table._visible(current) is not None else None
                if data is None and current is None:
                    continue
                if data is not None and visible == data:
                    continue
                ops.append(Op(npk, nsk, data, visible))
            return ops, None

        engine.write(prepare)


_threads = threading.local()


def _open_tables() -> set:
    """The ids of the tables this thread has a transaction open on."""
    tables = getattr(_threads, "tables", None)
    if tables is None:
        tables = _threads.tables = set()
    return tables
