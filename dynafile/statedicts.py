"""State dicts: items read through an open transaction, as ``dict`` objects
whose edits become the transaction's writes.

Both backends' transactions hand them out (:class:`dynafile.transactions.Transaction`
on a data directory, :class:`dynafile.remote.RemoteTransaction` on DynamoDB).
A state dict only guards the key attributes while its transaction is open;
the transaction finds edits by comparing the dict with what it was read as.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Callable

from .errors import DynafileError, ValidationError
from .keys import normalize_key

__all__ = ["StateDict", "same_key"]


def same_key(a: Any, b: Any) -> bool:
    """Whether two key values are the same key (``1`` and ``1.0`` are). Cost: O(size)."""
    try:
        return bool(normalize_key(a) == normalize_key(b))
    except DynafileError:
        return False


def _refuse_key(name: str) -> ValidationError:
    return ValidationError(f"Cannot update attribute {name}. This attribute is part of the key",
                           attribute=name)


class StateDict(dict):  # type: ignore[type-arg]
    """An item read through an open transaction (``tx.get_item``,
    ``tx.batch_get``): a ``dict`` whose edits become the transaction's
    writes.

    Any change made while the transaction is open, with dict methods
    (``item["n"] = 1``, ``del item["tmp"]``, ``item.update(...)``,
    ``setdefault``, ``pop``, ``|=``) or inside a nested value
    (``item["tags"].add("x")``, ``item["address"]["city"] = "Oslo"``), is
    found by comparing the item with what it was read as (DynamoDB's value
    equality, so ``1`` -> ``Decimal(1)`` is no change), and written as a put
    of the whole item when the transaction commits, or before any other
    ``tx`` call on the same item, so that call sees it. The commit checks,
    as for every item read, that no other writer changed the item since.

    Changing or removing a key attribute raises
    :class:`~dynafile.errors.ValidationError` at once (DynamoDB's message);
    a change that bypasses the dict methods is refused at commit, and
    nothing is written. After the transaction ends (committed or rolled
    back), the object is an ordinary dict: edits stay in memory only.
    Copies (``dict(item)``, ``item.copy()``, ``copy.deepcopy(item)``,
    pickling) are plain dicts.
    """

    __slots__ = ("_is_open", "_keys")
    _is_open: Callable[[], bool] | None
    _keys: dict[str, Any]

    @classmethod
    def tracking(cls, item: Mapping[str, Any], keys: Mapping[str, Any],
                 is_open: Callable[[], bool]) -> StateDict:
        """A state dict of ``item`` whose key attributes ``keys`` are
        guarded while ``is_open()`` (its transaction is open) says so.
        Made by transactions; the transaction finds edits by comparing."""
        state = cls(item)
        state._is_open = is_open
        state._keys = dict(keys)
        return state

    def detach(self) -> None:
        """Stop guarding: the dict's transaction has ended (or no longer
        sees the item); further edits stay in memory only."""
        self._is_open = None

    def _guarding(self) -> bool:
        is_open = getattr(self, "_is_open", None)
        return is_open is not None and is_open()

    def _check_pairs(self, pairs: Iterable[tuple[Any, Any]]) -> None:
        for name, value in pairs:
            if name in self._keys and not same_key(value, self._keys[name]):
                raise _refuse_key(name)

    def _check_removal(self, name: Any) -> None:
        if name in self._keys:
            raise _refuse_key(name)

    def __setitem__(self, name: Any, value: Any) -> None:
        if self._guarding():
            self._check_pairs([(name, value)])
        super().__setitem__(name, value)

    def __delitem__(self, name: Any) -> None:
        if self._guarding():
            self._check_removal(name)
        super().__delitem__(name)

    def update(self, *args: Any, **kwargs: Any) -> None:
        if self._guarding():
            pairs = list(dict(*args, **kwargs).items())
            self._check_pairs(pairs)
            super().update(pairs)
            return
        super().update(*args, **kwargs)

    def __ior__(self, other: Any) -> StateDict:  # type: ignore[override,misc]
        self.update(other)
        return self

    def setdefault(self, name: Any, default: Any = None) -> Any:
        if self._guarding() and name not in self:
            self._check_pairs([(name, default)])
        return super().setdefault(name, default)

    def pop(self, name: Any, *default: Any) -> Any:
        if self._guarding() and name in self:
            self._check_removal(name)
        return super().pop(name, *default)

    def popitem(self) -> tuple[Any, Any]:
        if self._guarding() and self:
            self._check_removal(next(reversed(self)))
        return super().popitem()

    def clear(self) -> None:
        if self._guarding() and any(name in self for name in self._keys):
            raise ValidationError("clear() would remove the key attributes "
                                  f"{sorted(self._keys)}; delete the item with tx.delete_item",
                                  attribute=next(iter(self._keys)))
        super().clear()

    def copy(self) -> dict:  # type: ignore[type-arg]
        return dict(self)

    def __reduce_ex__(self, protocol: Any) -> Any:  # copies and pickles are plain dicts
        return (dict, (dict(self),))
