"""The write step: one function turns every kind of write into log operations.

Every write path (``put_item``, ``update_item``, ``delete_item``, the batch
writer, ``transact_write``, ``db.transaction()``, the TTL sweep) describes
its writes as :class:`Write` objects and hands them to
:func:`prepare_record`, which runs under the table's write lock. It owns,
once, the rules every write follows:

* an expired item counts as absent: conditions see ``{}``, return values and
  change events have no old image (an :class:`Expire` is the exception: the
  expired item is what it deletes);
* conditions are checked against the item as readers see it;
* the key attributes' types are checked, and fixed on first use, when a
  write stores an item;
* a write that changes nothing writes nothing; "nothing" is judged by
  DynamoDB's value equality, not by serialized bytes (``1`` and
  ``Decimal(1)`` are the same number, key order does not matter);
* each log operation carries the bytes it actually replaced (expired or
  not), with :data:`~dynafile.storage.log.FLAG_OLD_HIDDEN` when readers saw
  no item; index upkeep therefore always removes the right entries;
* index entries are derived from the replaced and the new images.

A new kind of write is a new :class:`Write` subclass; it then works alone,
in batches and in transactions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Callable, NamedTuple, Optional, Protocol

from .errors import (
    CancellationReason,
    ConditionalCheckFailedError,
    TransactionCanceledError,
    TransactionConflictError,
    ValidationError,
)
from .indexes import Change
from .storage.log import FLAG_EXPIRED, FLAG_OLD_HIDDEN, Op
from .types import equal

__all__ = [
    "ConditionCheck",
    "Delete",
    "Expire",
    "ItemKey",
    "Outcome",
    "Put",
    "Record",
    "Store",
    "Unchanged",
    "Update",
    "Write",
    "prepare_record",
    "prepare_records",
]

Item = dict[str, Any]
Predicate = Callable[[Item], bool]
#: An item after a write and its bytes.
Image = tuple[Optional[Item], Optional[bytes]]


class ItemKey(NamedTuple):
    """An item's key: the values as given, and normalised as stored (a table
    without a sort key stores every item under the sort key ``""``)."""

    pk: Any
    sk: Any
    npk: Any
    nsk: Any


class Store(Protocol):
    """What the write step needs from the table (the table core provides it)."""

    def items_of(self, npk: Any) -> Mapping[Any, bytes]:
        """The stored bytes by sort key of the partition ``npk`` (the lock is held)."""

    def load(self, data: bytes) -> Item:
        """Deserialize stored bytes into a fresh item."""

    def dump(self, item: Item) -> bytes:
        """Serialize an item, checking names and size."""

    def is_expired(self, item: Item, now: float) -> bool:
        """Whether ``item`` has expired at ``now``."""

    def fix_key_types(self, key: ItemKey) -> None:
        """Check the key's values against the types fixed for the key
        attributes; fix them on first use."""

    def key_item(self, key: ItemKey) -> Item:
        """The key attributes of ``key`` as an item fragment."""

    @property
    def indexed(self) -> bool:
        """Whether the table has secondary indexes to keep current."""

    @property
    def hides_expired(self) -> bool:
        """Whether expired items count as absent (the table's TTL mode)."""

    @property
    def space(self) -> str:
        """The space of the table's items."""

    def index_ops(self, changes: Sequence[Change]) -> list[Op]:
        """The index operations ``changes`` cause."""


class Write:
    """One write of one item, described; :func:`prepare_record` carries it out.

    Attributes:
        key: the item's key.
        condition: a predicate the item (``{}`` when absent) must meet.
        return_old_on_failure: put the item on the error when the condition fails.
    """

    __slots__ = ("condition", "key", "return_old_on_failure")
    #: Flags the log operation carries.
    flags = 0
    #: Whether an expired item counts as absent for this write.
    hides_expired = True

    def __init__(self, key: ItemKey, condition: Predicate | None = None,
                 return_old_on_failure: bool = False) -> None:
        self.key = key
        self.condition = condition
        self.return_old_on_failure = return_old_on_failure

    def check_stored(self, current: bytes | None) -> None:
        """Look at the stored bytes before anything else (see :class:`Unchanged`)."""

    def applies(self, item: Item | None, store: Store, now: float) -> bool:
        """Whether the write goes ahead at all (``False``: skipped, no error)."""
        return True

    def new_image(self, old: Item | None, store: Store) -> Image | None:
        """The item after the write and its bytes: ``(None, None)`` deletes;
        ``None`` changes nothing (a condition check). The item may be
        ``None`` beside its bytes when the write only kept those.

        Raises:
            ValidationError: the write cannot apply to ``old``.
        """
        raise NotImplementedError


class Put(Write):
    """Create or replace an item. ``item`` may be ``None`` when only its
    bytes are kept (a buffered batch): it is then decoded when needed."""

    __slots__ = ("data", "item")

    def __init__(self, key: ItemKey, data: bytes, item: Item | None = None,
                 condition: Predicate | None = None, return_old_on_failure: bool = False) -> None:
        super().__init__(key, condition, return_old_on_failure)
        self.data = data
        self.item = item

    def new_image(self, old: Item | None, store: Store) -> Image | None:
        return self.item, self.data


class Delete(Write):
    """Delete an item (a missing item is no error and writes nothing)."""

    __slots__ = ()

    def new_image(self, old: Item | None, store: Store) -> Image | None:
        return None, None


class Update(Write):
    """Apply an update plan (:func:`dynafile.expressions.compile_update`) to
    the item, or to nothing when it is absent."""

    __slots__ = ("plan",)

    def __init__(self, key: ItemKey, plan: Any, condition: Predicate | None = None,
                 return_old_on_failure: bool = False) -> None:
        super().__init__(key, condition, return_old_on_failure)
        self.plan = plan

    def new_image(self, old: Item | None, store: Store) -> Image | None:
        new = self.plan.apply(old)
        if new is None:
            return None  # an update of a missing item that writes nothing creates nothing
        new.update(store.key_item(self.key))
        return new, store.dump(new)


class ConditionCheck(Write):
    """Check a condition on an item without changing it (transactions)."""

    __slots__ = ()

    def new_image(self, old: Item | None, store: Store) -> Image | None:
        return None


class Expire(Write):
    """Delete an item because it expired at ``now`` (the TTL sweep); skipped
    when the item was rewritten since and is no longer expired."""

    __slots__ = ()
    flags = FLAG_EXPIRED
    hides_expired = False

    def applies(self, item: Item | None, store: Store, now: float) -> bool:
        return item is not None and store.is_expired(item, now)

    def new_image(self, old: Item | None, store: Store) -> Image | None:
        return None, None


class Unchanged(Write):
    """An optimistic transaction's read: the stored bytes must still be ``seen``.

    Raises :class:`~dynafile.errors.TransactionConflictError` otherwise.
    """

    __slots__ = ("seen",)

    def __init__(self, key: ItemKey, seen: bytes | None) -> None:
        super().__init__(key)
        self.seen = seen

    def check_stored(self, current: bytes | None) -> None:
        if current != self.seen:
            raise TransactionConflictError(
                "an item this transaction read was changed by another writer; nothing was "
                "written")

    def new_image(self, old: Item | None, store: Store) -> Image | None:
        return None


class Outcome(NamedTuple):
    """What one write saw and left: the item before (``None`` when absent or
    expired) and after (``None`` when deleted or absent; also for a put of
    bytes alone, such as a batch's, that nothing needed decoded)."""

    old: Item | None
    new: Item | None


class Record(NamedTuple):
    """The log operations of one record and each write's :class:`Outcome`."""

    ops: list[Op]
    outcomes: list[Outcome]


def prepare_record(store: Store, writes: Sequence[Write], *, now: float,
                   atomic: bool = False, outcomes: bool = True) -> Record:
    """:func:`prepare_records` for writes that all go to one table."""
    return prepare_records([(store, write) for write in writes], now=now, atomic=atomic,
                           outcomes=outcomes)


def prepare_records(writes: Sequence[tuple[Store, Write]], *, now: float,
                    atomic: bool = False, outcomes: bool = True) -> Record:
    """Turn ``writes`` (each with the table it goes to) into one record's
    operations. Call under the write lock.

    Later writes to a key see the earlier writes of the same record (a
    batch's last write wins).

    Args:
        writes: ``(table, write)`` pairs, in order; a transaction may name
            several tables.
        now: the time TTL is judged at.
        atomic: a transaction: check every write, then raise one
            :class:`~dynafile.errors.TransactionCanceledError` with a reason
            per write if any failed. Otherwise the first failure raises.
        outcomes: report each write's :class:`Outcome` (a batch needs none:
            the record's outcome list is then empty).

    Raises:
        ConditionalCheckFailedError: (not ``atomic``) a condition failed.
        ValidationError / ItemTooLargeError: (not ``atomic``) a write cannot apply.
        TransactionCanceledError: (``atomic``) a condition failed or a write
            could not apply.
        TransactionConflictError: an :class:`Unchanged` read was changed.

    Cost: O(writes) lookups; images are decoded only for the writes and
    index upkeep that need them.
    """
    ops: list[Op] = []
    seen: list[Outcome] = []
    make_op = Op._make
    changes: dict[int, tuple[Store, list[Change]]] = {}
    reasons: list[CancellationReason] = []
    failed = False
    pending: dict[tuple[int, Any, Any], bytes | None] = {}
    partitions: dict[tuple[int, Any], Mapping[Any, bytes]] = {}  # few collections, many writes
    typed: set[tuple[int, type, type]] = set()  # key types depend on the values' classes only
    facts: dict[int, tuple[str, bool]] = {}  # per table: its space, whether it has indexes
    for store, write in writes:
        table = id(store)
        fact = facts.get(table)
        if fact is None:
            fact = facts[table] = (store.space, store.indexed)
        space, indexed = fact
        key = write.key
        slot = (table, key.npk, key.nsk)
        if slot in pending:
            current = pending[slot]
        else:
            items = partitions.get((table, key.npk))
            if items is None:
                items = partitions[(table, key.npk)] = store.items_of(key.npk)
            current = items.get(key.nsk)
        if current is None and write.__class__ is Put and write.condition is None:
            # A new item, unconditionally (a load): the rules below reduce to this.
            classes = (table, key.pk.__class__, key.sk.__class__)
            if classes not in typed:
                store.fix_key_types(key)
                typed.add(classes)
            put: Put = write  # type: ignore[assignment]
            made = put.item
            if indexed:
                made = store.load(put.data) if made is None else made
                changes.setdefault(table, (store, []))[1].append(
                    Change(key.npk, key.nsk, None, made, put.data))
            if outcomes:
                seen.append(Outcome(None, made))
            if atomic:
                reasons.append(CancellationReason(None))
            ops.append(make_op((key.npk, key.nsk, put.data, None, 0, space)))
            pending[slot] = put.data
            continue
        write.check_stored(current)
        actual = None if current is None else store.load(current)
        hidden = (actual is not None and store.hides_expired and write.hides_expired
                  and store.is_expired(actual, now))
        old = None if hidden else actual
        if not write.applies(actual, store, now):
            if outcomes:
                seen.append(Outcome(old, old))
            if atomic:
                reasons.append(CancellationReason(None))
            continue
        try:
            if write.condition is not None and not write.condition(old if old is not None
                                                                   else {}):
                item = old if write.return_old_on_failure else None
                if not atomic:
                    raise ConditionalCheckFailedError(item=item)
                reasons.append(CancellationReason("ConditionalCheckFailed",
                                                  "The conditional request failed", item))
                failed = True
                continue
            image = write.new_image(old, store)
            if image is not None and image[1] is not None:
                classes = (table, key.pk.__class__, key.sk.__class__)
                if classes not in typed:
                    store.fix_key_types(key)
                    typed.add(classes)
        except ValidationError as exc:
            if not atomic:
                raise
            reasons.append(CancellationReason("ValidationError", str(exc)))
            failed = True
            continue
        if atomic:
            reasons.append(CancellationReason(None))
        if image is None:
            if outcomes:
                seen.append(Outcome(old, old))
            continue
        new, data = image
        if data is None:
            if outcomes:
                seen.append(Outcome(old, None))
            if current is None:
                continue  # deleting nothing
        else:
            if current is not None and current == data and not hidden:
                if outcomes:
                    seen.append(Outcome(old, old))
                continue  # the same bytes: nothing to write
            if new is None and (indexed or old is not None):
                new = store.load(data)
            if outcomes:
                seen.append(Outcome(old, new))
            if old is not None and equal(old, new):
                continue  # the same item by value: nothing to write
        ops.append(make_op((key.npk, key.nsk, data, current,
                            write.flags | (FLAG_OLD_HIDDEN if hidden else 0), space)))
        if indexed:
            changes.setdefault(table, (store, []))[1].append(
                Change(key.npk, key.nsk, actual, new, data))
        pending[slot] = data
    if failed:
        raise TransactionCanceledError(reasons)
    for store, table_changes in changes.values():
        ops.extend(store.index_ops(table_changes))
    return Record(ops, seen)
