"""Reads of many items: ``query``, ``count`` and ``scan``, on the table or an index.

The public :class:`~dynafile.table.Dynafile` methods call :func:`query` and
:func:`scan` with the table core; the range arithmetic on sort keys
(:class:`_Bounds`, :func:`_range`) lives here too.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Callable, Optional

from .errors import ValidationError
from .indexes import Index
from .keys import check_key_value, normalize_key
from .pages import PAGE_BYTES, Page, Progress
from .storage.partition import keep_checked
from .ttl import is_expired

if TYPE_CHECKING:  # pragma: no cover
    from .core import TableCore
    from .expressions import KeyCondition, Projection, Used

# The expressions package is imported by the functions that use it, when they
# run: a get without a projection needs none of it (see tests/test_imports.py).

__all__ = ["UNSET", "FilterSpec", "projection_of", "query", "scan"]

Item = dict
FilterSpec = Any
#: ``query``'s "no partition key given" (``None`` is a value a caller may mean).
UNSET: Any = object()
Projector = Optional["Projection"]


def query(
    core: TableCore,
    pk: Any = UNSET,
    positional_filter: FilterSpec = None,
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
    """Return the items of one partition (item collection), in sort-key
    order (see :meth:`dynafile.table.Dynafile.query` for the arguments).

    Raises:
        ValidationError: bad key, condition, filter, projection or limit.
    """
    from .expressions import Used, check_filter_keys, check_placeholders, parse_key_condition

    core.check_open()
    used = Used()
    ix = core.index(index) if index is not None else None
    pk_name = core.pk_attribute if ix is None else ix.partition_attribute(core.pk_attribute)
    sk_name = core.sk_attribute if ix is None else ix.sk_attribute
    if key_condition is not None:
        if pk is not UNSET or sk is not None:
            raise ValidationError("give either key_condition or pk/sk, not both",
                                  attribute="key_condition")
        pk, sk = parse_key_condition(key_condition, names, values, pk_name=pk_name,
                                     sk_name=sk_name, used=used)
    elif pk is UNSET:
        raise ValidationError("query needs a partition key value", attribute="pk")
    spec = _filter_spec(positional_filter, filter)
    if spec is not None:
        keys = [pk_name] if sk_name is None else [pk_name, sk_name]
        check_filter_keys(spec, names, values, keys)
    predicate = _filter_of(spec, names, values, used)
    project = projection_of(projection, names, used)
    check_placeholders(names, values, used)
    types = core.key_types
    check_key_value(pk_name, pk, types.get(pk_name))
    npk = normalize_key(pk)
    bounds = _sk_bounds(core, sk, starts_with, scan_index_forward, sk_name)
    limit = _check_limit(limit)
    start_sk = None
    if exclusive_start_key is not None:
        if ix is None:
            key = core.key(exclusive_start_key)
            spk, start_sk = key.npk, key.nsk
        else:
            spk, start_sk = ix.start_entry(dict(exclusive_start_key), core.pk_attribute,
                                           core.sk_attribute)
        if spk != npk:
            raise ValidationError("exclusive_start_key belongs to another partition",
                                  attribute="exclusive_start_key")
    space = core.space if ix is None else ix.space
    fetch = _fetches(ix, spec, names, values, project, core)

    def page(start: Any, left: int | None) -> Page:
        with core.reading() as engine:
            part = engine.collection(engine.digest(npk), npk, space)
            pairs = _range(part.items, bounds, not scan_index_forward, start, left,
                           tuple_mode=ix is not None)
        progress = Progress()
        source = _evaluate(core, progress, pairs, predicate, project, left, npk, ix, fetch)
        def following(last: Any, n: int) -> Page:
            _, sk = progress.position  # type: ignore[misc]
            return page(sk, _less(left, n))
        return Page(source, progress, following)

    return page(start_sk, limit)


def scan(
    core: TableCore,
    positional_filter: FilterSpec = None,
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
    """Return every item of the table or an index, partition by partition
    (see :meth:`dynafile.table.Dynafile.scan` for the arguments).

    Raises:
        ValidationError: bad filter, projection, limit or segment.
    """
    from .expressions import Used, check_placeholders

    core.check_open()
    ix = core.index(index) if index is not None else None
    used = Used()
    spec = _filter_spec(positional_filter, filter)
    predicate = _filter_of(spec, names, values, used)
    project = projection_of(projection, names, used)
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
            key = core.key(exclusive_start_key)
            spk, ssk = key.npk, key.nsk
        else:
            spk, ssk = ix.start_entry(dict(exclusive_start_key), core.pk_attribute,
                                      core.sk_attribute)
        start = (core.engine.digest(spk), ssk)
    space = core.space if ix is None else ix.space
    fetch = _fetches(ix, spec, names, values, project, core)

    def page(begin: tuple[str, Any] | None, left: int | None) -> Page:
        pairs = _scan_pairs(core, begin, segment, total_segments, space)
        progress = Progress()
        source = _evaluate(core, progress, pairs, predicate, project, left, None, ix, fetch)

        def following(last: Any, n: int) -> Page:
            pk, sk = progress.position  # type: ignore[misc]
            return page((core.engine.digest(pk), sk), _less(left, n))
        return Page(source, progress, following)

    return page(start, limit)


def _less(left: int | None, used: int) -> int | None:
    """What is left of a limit after ``used`` evaluated items."""
    return None if left is None else max(left - used, 1)


def _fetches(index: Index | None, spec: Any, names: Any, values: Any, project: Projector,
             core: TableCore) -> bool:
    """Whether reads of ``index`` must fetch table items: a local index that
    does not project every attribute the filter or projection reads (DynamoDB
    fetches those from the table for local indexes; global ones return what
    they project)."""
    if index is None or index.projection == "ALL" or index.section != "lsis":
        return False
    projected = set(index.key_attributes(core.pk_attribute, core.sk_attribute))
    projected.update(index.include)
    wanted: set[str] = set()
    if spec is not None:
        from .expressions import referenced_attributes

        named = referenced_attributes(spec, names, values)
        if named is None:
            return True  # a callable or filtration string may read anything
        wanted |= named
    if project is not None:
        wanted |= project.attributes
    return not wanted <= projected


def projection_of(projection: Any, names: Any, used: Used | None = None) -> Projector:
    """Compile a projection (a list of paths or a ProjectionExpression),
    or ``None`` for whole items. Without ``used`` the placeholders are
    checked here (nothing else of the request uses them).

    Raises:
        ValidationError: a bad projection, or unused or missing names.
    """
    if projection is None and (names is None or used is not None):
        return None  # the common case (a plain get): nothing to import or check
    from .expressions import Used, check_placeholders, compile_projection

    if projection is None:
        check_placeholders(names, None, None)
        return None
    holder = Used() if used is None else used
    project = compile_projection(projection, names, used=holder)
    if used is None:
        check_placeholders(names, None, holder)
    return project


def _scan_pairs(core: TableCore, start: tuple[str, Any] | None, segment: int | None,
                total: int | None, space: str) -> Iterator[tuple[Any, Any, bytes, Any]]:
    """Every item of ``space`` after ``start`` (``(digest, sort key)``), in
    digest then sort key order, as ``(pk, sk, bytes, items)``; only the
    collections of ``segment`` when the scan is split."""
    def wanted(digest: str) -> bool:
        return total is None or int(digest[:8], 16) % total == segment

    after = None
    if start is not None:
        digest, sk = start
        after = digest
        with core.reading() as engine:
            collection = engine.collection(digest, None, space)
            items = collection.items
            pairs = [(k, items[k]) for k in items.irange(minimum=sk, inclusive=(False, True))]
            pk = collection.pk
        if wanted(digest):
            for k, data in pairs:
                yield pk, k, data, items
    core.check_open()
    engine = core.engine
    for digest, collection in engine.scan(space, after):
        if not wanted(digest):
            continue
        core.check_open()  # a partition's collections come at once: closed meanwhile?
        with engine.lock.thread_lock:
            items = collection.items
            pairs = list(items.items())
            pk = collection.pk
        for k, data in pairs:
            yield pk, k, data, items


def _filter_spec(positional: FilterSpec, keyword: FilterSpec) -> FilterSpec:
    if positional is not None and keyword is not None:
        raise ValidationError("give the filter once (filter= or _filter=)", attribute="filter")
    return keyword if keyword is not None else positional


def _filter_of(spec: FilterSpec, names: Any, values: Any,
               used: Any) -> Callable[[Item], bool] | None:
    if spec is None:
        return None
    from .expressions import to_predicate

    return to_predicate(spec, names, values, used=used, what="FilterExpression")


def _sk_bounds(core: TableCore, sk: Any, starts_with: Any, forward: bool,
               sk_name: str | None) -> _Bounds:
    bounds = _Bounds()
    types = core.key_types
    if sk is not None:
        if sk_name is None:
            raise ValidationError("the table (or index) has no sort key", attribute="sk")
        from .expressions import KeyCondition

        if not isinstance(sk, KeyCondition):
            raise ValidationError("sk must be a Key(...) condition, e.g. "
                                  "Key('SK').begins_with('a')", attribute="sk")
        if sk.name != sk_name:
            raise ValidationError(f"condition is on {sk.name!r}, not the sort key "
                                  f"{sk_name!r}", attribute="sk")
        expected = types.get(sk_name)
        for value in sk.values:
            check_key_value(sk_name, value, expected, sort=True)
        values = [normalize_key(v) for v in sk.values]
        if sk.op == "begins_with" and not isinstance(values[0], (str, bytes)):
            raise ValidationError("begins_with needs a string or bytes prefix", attribute="sk")
        bounds.apply(sk.op, values)
    if starts_with is not None:
        if sk_name is None:
            raise ValidationError("the table has no sort key", attribute="starts_with")
        check_key_value(sk_name, starts_with, types.get(sk_name), sort=True)
        bounds.apply("gte" if forward else "lte", [normalize_key(starts_with)])
    return bounds


def _page_ends(core: TableCore, progress: Progress, index: Index | None,
               last: tuple[Any, Any] | None, full: bool) -> None:
    """Record where a page stopped (after ``last``, when it read anything):
    ``full`` when its bytes, not its limit, ended it."""
    if last is None:
        return
    progress.position = last
    progress.full = full
    progress.last_key = (core.key_dict(*last) if index is None else
                         index.last_key(last[0], last[1], core.pk_attribute, core.sk_attribute))


def _evaluate(
    core: TableCore,
    progress: Progress,
    pairs: Iterable[tuple[Any, Any, bytes, Any]],
    predicate: Callable[[Item], bool] | None,
    project: Projector,
    limit: int | None,
    pk: Any,
    index: Index | None,
    fetch: bool = False,
) -> Iterator[Item]:
    """Yield the items of ``pairs`` that pass TTL and the filter, projected,
    reporting through ``progress``. A page ends after ``limit`` evaluated
    items or once the item bytes read reach :data:`~dynafile.pages.PAGE_BYTES`
    (then ``progress.full``); either way ``progress.last_key`` is set when
    more items follow. With ``fetch``, index entries are replaced by their
    table items before the filter and projection."""
    load = core.load
    ttl = core.ttl_attribute if core.hides_expired else None
    now = core.now() if ttl is not None else 0.0
    # An entry that does not project the item's TTL attribute cannot tell
    # whether its item expired: the table item says.
    ask_table = fetch or (ttl is not None and index is not None and index.projection != "ALL")
    pk_name, sk_name = core.pk_attribute, core.sk_attribute
    evaluated = 0
    read = 0
    last: tuple[Any, Any] | None = None
    if limit is None and ttl is None and not ask_table and predicate is None and project is None:
        # The plain query or scan: the loop below without its per-item tests.
        for item_pk, sk, data, items in pairs:
            if read >= PAGE_BYTES:
                _page_ends(core, progress, index, last, True)
                return
            evaluated += 1
            read += len(data)
            progress.scanned = evaluated
            last = (pk if item_pk is None else item_pk, sk)
            item = load(data)
            if data.__class__ is not bytes:
                keep_checked(items, sk, data)
            yield item
        return
    for item_pk, sk, data, items in pairs:
        limited = limit is not None and evaluated >= limit
        if limited or read >= PAGE_BYTES:
            _page_ends(core, progress, index, last, not limited)
            return
        evaluated += 1
        read += len(data)
        progress.scanned = evaluated
        last = (pk if item_pk is None else item_pk, sk)
        item = load(data)
        if data.__class__ is not bytes:
            keep_checked(items, sk, data)
        if ttl is not None and is_expired(item, ttl, now):
            continue
        if ask_table:
            table_item = core.get(normalize_key(item[pk_name]),
                                  "" if sk_name is None else normalize_key(item[sk_name]))
            if table_item is None:
                continue
            if fetch:
                item = table_item
        if predicate is not None and not predicate(item):
            continue
        yield project(item) if project is not None else item


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

