"""Reads of many items: ``query``, ``count`` and ``scan``, on the table or an index.

:class:`QueryMixin` is part of :class:`~dynafile.table.Dynafile`; the range
arithmetic on sort keys (``_Bounds``, ``_range``) lives here too.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import (
    Any,
    Callable,
)

from .errors import ValidationError
from .expressions import KeyCondition, Used, check_placeholders, parse_key_condition, to_predicate
from .keys import check_key_value, normalize_key
from .pages import Page
from .storage.partition import keep_checked
from .ttl import is_expired

__all__ = ["QueryMixin"]

Item = dict
FilterSpec = Any
_UNSET: Any = object()



class QueryMixin:
    """``query``, ``count`` and ``scan`` (mixed into :class:`Dynafile`)."""

    def query(
        self,
        pk: Any = _UNSET,
        _filter: FilterSpec = None,
        *,
        sk: KeyCondition | None = None,
        starts_with: Any = None,
        scan_index_forward: bool = True,
        filter: FilterSpec = None,
        key_condition: Any = None,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
        projection: None | str | Sequence[str] = None,
        limit: int | None = None,
        exclusive_start_key: Mapping[str, Any] | None = None,
        index: str | None = None,
    ) -> Page:
        """Return the items of one partition (item collection), in sort-key order.

        Args:
            pk: the partition key value.
            sk: a sort-key condition, e.g. ``Key("SK").begins_with("order#")``
                (``eq lt lte gt gte between begins_with``).
            starts_with: the original dynafile's start position, inclusive in
                the walk direction: forward, sort keys ``>= starts_with``;
                reverse, sort keys ``<= starts_with``.
            scan_index_forward: ``False`` walks in descending order.
            filter / _filter: applied after the key condition: a callable, a
                builder condition, a DynamoDB string (with ``names`` /
                ``values``) or a filtration string.
            key_condition: instead of ``pk``/``sk``, a whole key condition
                (DynamoDB string or ``Key(...) & Key(...)``).
            projection: attributes to return.
            limit: the most items to *evaluate* (before the filter), like
                DynamoDB's ``Limit``.
            exclusive_start_key: a page's ``last_evaluated_key``, to go on.
            index: query a secondary index: ``pk`` is then the index's
                partition key value and ``sk`` a condition on its sort key;
                items come in index sort-key order, as the index projects them.

        Returns:
            A :class:`~dynafile.pages.Page`: iterate it for items, or read
            ``.items`` and ``.last_evaluated_key``.

        Raises:
            ValidationError: bad key, condition, filter, projection or limit.
        """
        self._check_open()
        used = Used()
        ix = self._index(index) if index is not None else None
        pk_name = ix_pk = self.pk_attribute if ix is None or ix.kind == "l" else ix.pk_attribute
        sk_name = self.sk_attribute if ix is None else ix.sk_attribute
        if key_condition is not None:
            if pk is not _UNSET or sk is not None:
                raise ValidationError("give either key_condition or pk/sk, not both",
                                      attribute="key_condition")
            pk, sk = parse_key_condition(key_condition, names, values, pk_name=pk_name,
                                         sk_name=sk_name, used=used)
        elif pk is _UNSET:
            raise ValidationError("query needs a partition key value", attribute="pk")
        predicate = self._filter_of(_filter, filter, names, values, used)
        project = self._projection(projection, names, used)
        check_placeholders(names, values, used)
        check_key_value(ix_pk, pk, self._schema.key_types.get(ix_pk))
        npk = normalize_key(pk)
        bounds = self._sk_bounds(sk, starts_with, scan_index_forward, sk_name)
        limit = _check_limit(limit)
        start_sk = None
        if exclusive_start_key is not None:
            if ix is None:
                _, _, spk, start_sk = self._key_only(exclusive_start_key)
            else:
                spk, start_sk = self._indexes.start_entry(ix, dict(exclusive_start_key))
            if spk != npk:
                raise ValidationError("exclusive_start_key belongs to another partition",
                                      attribute="exclusive_start_key")
        engine = self._engine
        space = "" if ix is None else ix.space
        with engine.lock.thread_lock:
            engine.refresh()
            part = engine.partition(engine.digest(npk), npk, space)
            pairs = _range(part.items, bounds, not scan_index_forward, start_sk, limit,
                           tuple_mode=ix is not None)
        page = Page(iter(()))
        make_key = None if ix is None else (lambda p, e, ix=ix: self._indexes.lek(ix, p, e))
        page._source = self._evaluate(page, pairs, predicate, project, limit, npk, make_key)
        return page

    def _index(self, name: Any) -> Any:
        """Return the live index ``name`` (refreshing the schema once if unknown)."""
        if not isinstance(name, str):
            raise ValidationError("must be an index name", attribute="index")
        index = self._indexes.indexes.get(name)
        if index is None:
            with self._engine.lock.thread_lock:
                self._refresh_schema()
            index = self._indexes.indexes.get(name)
        if index is None:
            raise ValidationError(f"the table has no index named {name!r}", attribute="index")
        if index.kind == "g" and self._schema.extra["gsis"][name].get("state") != "ACTIVE":
            raise ValidationError(f"index {name!r} is still being created (backfilling)",
                                  attribute="index")
        return index

    def count(self, pk: Any = _UNSET, _filter: FilterSpec = None, **kwargs: Any) -> int:
        """Return how many items :meth:`query` would return (DynamoDB's
        ``Select=COUNT``). Takes the same arguments except ``projection``."""
        return self.query(pk, _filter, **kwargs).count

    def scan(
        self,
        _filter: FilterSpec = None,
        *,
        filter: FilterSpec = None,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
        projection: None | str | Sequence[str] = None,
        limit: int | None = None,
        exclusive_start_key: Mapping[str, Any] | None = None,
        segment: int | None = None,
        total_segments: int | None = None,
        index: str | None = None,
    ) -> Page:
        """Return every item of the table (partition by partition, each in
        sort-key order), optionally filtered.

        ``segment`` / ``total_segments`` split the table for a parallel scan:
        the segments together cover every item exactly once. ``index`` scans
        a secondary index instead. Other arguments as in :meth:`query`.
        Iteration is lazy when there is no ``limit``.

        Raises:
            ValidationError: bad filter, projection, limit or segment.
        """
        self._check_open()
        ix = self._index(index) if index is not None else None
        used = Used()
        predicate = self._filter_of(_filter, filter, names, values, used)
        project = self._projection(projection, names, used)
        check_placeholders(names, values, used)
        limit = _check_limit(limit)
        if (segment is None) != (total_segments is None):
            raise ValidationError("segment and total_segments go together", attribute="segment")
        if total_segments is not None:
            if not isinstance(total_segments, int) or isinstance(total_segments, bool) or not (
                    1 <= total_segments <= 1_000_000):
                raise ValidationError("must be an int from 1 to 1000000",
                                      attribute="total_segments")
            if not isinstance(segment, int) or isinstance(segment, bool) or not (
                    0 <= segment < total_segments):
                raise ValidationError("must be an int from 0 to total_segments - 1",
                                      attribute="segment")
        start: tuple[str, Any] | None = None
        if exclusive_start_key is not None:
            if ix is None:
                _, _, spk, ssk = self._key_only(exclusive_start_key)
            else:
                spk, ssk = self._indexes.start_entry(ix, dict(exclusive_start_key))
            start = (self._engine.digest(spk), ssk)
        page = Page(iter(()))
        space = "" if ix is None else ix.space
        pairs = self._scan_pairs(start, segment, total_segments, space)
        make_key = None if ix is None else (lambda p, e, ix=ix: self._indexes.lek(ix, p, e))
        page._source = self._evaluate(page, pairs, predicate, project, limit, None, make_key)
        return page

    def _scan_pairs(self, start: tuple[str, Any] | None, segment: int | None,
                    total: int | None, space: str = "") -> Iterator[tuple[Any, Any, bytes, Any]]:
        engine = self._engine
        with engine.lock.thread_lock:
            engine.refresh()
            digests = engine.digests("" if space.startswith("l:") else space)
        for digest in digests:
            if total is not None and int(digest[:8], 16) % total != segment:
                continue
            if start is not None and digest < start[0]:
                continue
            with engine.lock.thread_lock:
                part = engine.partition(digest, None, space)
                items = part.items
                if start is not None and digest == start[0]:
                    keys = list(items.irange(minimum=start[1], inclusive=(False, True)))
                    pairs = [(k, items[k]) for k in keys]
                else:
                    pairs = list(items.items())
                pk = part.pk
            for sk, data in pairs:
                yield pk, sk, data, items

    def _filter_of(self, positional: FilterSpec, keyword: FilterSpec, names: Any, values: Any,
                   used: Any) -> Callable[[Item], bool] | None:
        if positional is not None and keyword is not None:
            raise ValidationError("give the filter once (filter= or _filter=)", attribute="filter")
        spec = keyword if keyword is not None else positional
        if spec is None:
            return None
        return to_predicate(spec, names, values, used=used)

    def _sk_bounds(self, sk: Any, starts_with: Any, forward: bool,
                   sk_name: str | None) -> _Bounds:
        bounds = _Bounds()
        if sk is not None:
            if sk_name is None:
                raise ValidationError("the table (or index) has no sort key", attribute="sk")
            if not isinstance(sk, KeyCondition):
                raise ValidationError("sk must be a Key(...) condition, e.g. "
                                      "Key('SK').begins_with('a')", attribute="sk")
            if sk.name != sk_name:
                raise ValidationError(f"condition is on {sk.name!r}, not the sort key "
                                      f"{sk_name!r}", attribute="sk")
            expected = self._schema.key_types.get(sk_name)
            for value in sk.values:
                check_key_value(sk_name, value, expected)
            values = [normalize_key(v) for v in sk.values]
            if sk.op == "begins_with" and not isinstance(values[0], (str, bytes)):
                raise ValidationError("begins_with needs a string or bytes prefix", attribute="sk")
            bounds.apply(sk.op, values)
        if starts_with is not None:
            if sk_name is None:
                raise ValidationError("the table has no sort key", attribute="starts_with")
            check_key_value(sk_name, starts_with, self._schema.key_types.get(sk_name))
            bounds.apply("gte" if forward else "lte", [normalize_key(starts_with)])
        return bounds

    def _evaluate(
        self,
        page: Page,
        pairs: Iterable[tuple[Any, Any, bytes, Any]],
        predicate: Callable[[Item], bool] | None,
        project: Callable[[Item], Item] | None,
        limit: int | None,
        pk: Any,
        make_key: Callable[[Any, Any], Item] | None = None,
    ) -> Iterator[Item]:
        """Yield the items of ``pairs`` that pass TTL and the filter, projected;
        set ``page._scanned`` and, when ``limit`` stops the walk early,
        ``page._lek``."""
        loads = self._load_held
        ttl = self.ttl_attribute
        now = self._clock() if ttl is not None else 0.0
        evaluated = 0
        last: tuple[Any, Any] | None = None
        for item_pk, sk, data, items in pairs:
            if limit is not None and evaluated >= limit:
                if last is not None:
                    page._lek = (make_key or self._key_dict)(*last)
                return
            evaluated += 1
            page._scanned = evaluated
            last = (pk if item_pk is None else item_pk, sk)
            item = loads(data)
            if data.__class__ is not bytes:
                keep_checked(items, sk, data)
            if ttl is not None and is_expired(item, ttl, now):
                continue
            if predicate is not None and not predicate(item):
                continue
            yield project(item) if project is not None else item

    def _key_dict(self, pk: Any, sk: Any) -> Item:
        key = {self.pk_attribute: pk}
        if self.sk_attribute is not None:
            key[self.sk_attribute] = sk
        return key


class _Bounds:
    """A sort-key range: lower/upper bound with inclusivity, plus a prefix."""

    __slots__ = ("empty", "hi", "hi_inc", "lo", "lo_inc", "prefix")

    def __init__(self) -> None:
        self.lo: Any = None
        self.lo_inc = True
        self.hi: Any = None
        self.hi_inc = True
        self.prefix: Any = None
        self.empty = False

    def _lower(self, value: Any, inclusive: bool) -> None:
        if self.lo is None or value > self.lo or (value == self.lo and not inclusive):
            self.lo, self.lo_inc = value, inclusive

    def _upper(self, value: Any, inclusive: bool) -> None:
        if self.hi is None or value < self.hi or (value == self.hi and not inclusive):
            self.hi, self.hi_inc = value, inclusive

    def apply(self, op: str, values: list[Any]) -> None:
        try:
            if op == "eq":
                self._lower(values[0], True)
                self._upper(values[0], True)
            elif op == "lt":
                self._upper(values[0], False)
            elif op == "lte":
                self._upper(values[0], True)
            elif op == "gt":
                self._lower(values[0], False)
            elif op == "gte":
                self._lower(values[0], True)
            elif op == "between":
                if values[0] > values[1]:
                    raise ValidationError("BETWEEN bounds are in the wrong order "
                                          "(the lower bound is greater)", attribute="sk")
                self._lower(values[0], True)
                self._upper(values[1], True)
            elif op == "begins_with":
                self._lower(values[0], True)
                upper = _prefix_successor(values[0])
                if upper is not None:
                    self._upper(upper, False)  # [prefix, successor) holds only prefixed keys
                else:
                    self.prefix = values[0]  # no successor: check each key
            else:
                raise ValidationError(f"unsupported sort key condition {op!r}", attribute="sk")
        except TypeError:
            raise ValidationError("sort key condition values of different types",
                                  attribute="sk") from None


class _Extreme:
    """Compares above (``top``) or below every other value: closes tuple ranges."""

    __slots__ = ("top",)

    def __init__(self, top: bool) -> None:
        self.top = top

    def __lt__(self, other: Any) -> bool:
        return not self.top and other is not self

    def __gt__(self, other: Any) -> bool:
        return self.top and other is not self

    def __le__(self, other: Any) -> bool:
        return not self.top or other is self

    def __ge__(self, other: Any) -> bool:
        return self.top or other is self


_TOP = _Extreme(True)
_BOTTOM = _Extreme(False)


def _range(items: Any, b: _Bounds, reverse: bool, start: Any, limit: int | None,
           tuple_mode: bool = False) -> list[tuple[Any, Any, bytes, Any]]:
    """Return ``(None, sk, bytes, items)`` for the keys of ``items`` within ``b``,
    walking from after ``start``, at most ``limit + 1`` of them.

    In ``tuple_mode`` (indexes) keys are tuples whose first element is the
    sort key the bounds speak of."""
    lo, lo_inc, hi, hi_inc = b.lo, b.lo_inc, b.hi, b.hi_inc
    if tuple_mode:
        if lo is not None:
            lo, lo_inc = (lo, _BOTTOM if lo_inc else _TOP), True
        if hi is not None:
            hi, hi_inc = (hi, _TOP if hi_inc else _BOTTOM), True
    if start is not None:
        if reverse:
            if hi is None or start < hi or (start == hi and hi_inc):
                hi, hi_inc = start, False
        elif lo is None or start > lo or (start == lo and lo_inc):
            lo, lo_inc = start, False
    try:
        if lo is not None and hi is not None and (lo > hi or (lo == hi and not (lo_inc and hi_inc))):
            return []
        keys = items.irange(lo, hi, inclusive=(lo_inc, hi_inc), reverse=reverse)
    except TypeError:
        return []  # a bound of another type than the stored keys matches nothing
    prefix = b.prefix
    out: list[tuple[Any, Any, bytes, Any]] = []
    cap = None if limit is None else limit + 1
    for k in keys:
        head = k[0] if tuple_mode else k
        if prefix is not None and not (type(head) is type(prefix) and head.startswith(prefix)):
            continue
        out.append((None, k, items[k], items))
        if cap is not None and len(out) >= cap:
            break
    return out


def _prefix_successor(prefix: Any) -> Any:
    """Return the smallest value greater than every string starting with
    ``prefix`` (``None`` when there is none)."""
    if isinstance(prefix, str):
        chars = prefix
        while chars and ord(chars[-1]) == 0x10FFFF:
            chars = chars[:-1]
        return chars[:-1] + chr(ord(chars[-1]) + 1) if chars else None
    raw = bytes(prefix).rstrip(b"\xff")
    return raw[:-1] + bytes((raw[-1] + 1,)) if raw else None


def _check_limit(limit: Any) -> int | None:
    if limit is None:
        return None
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
        raise ValidationError("must be a positive int", attribute="limit")
    return limit

