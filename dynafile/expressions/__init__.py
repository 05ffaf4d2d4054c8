"""Expressions: conditions, key conditions, filters, updates and projections.

Four ways in, one tree out: callables, ``filtration`` strings, the
``Key`` / ``Attr`` builders, and DynamoDB expression strings with
``names`` / ``values`` placeholders (ExpressionAttributeNames / Values),
checked as DynamoDB checks them (see :mod:`.parser`). Values compare by
DynamoDB's rules (:mod:`dynafile.types`).

The table calls the functions below (:func:`to_predicate`,
:func:`parse_key_condition`, :func:`compile_update`,
:func:`compile_projection`, :func:`check_placeholders`,
:func:`check_filter_keys`); users meet :class:`Key`, :class:`Attr` and the
conditions they build.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Callable

from ..errors import ValidationError
from ..types import MISSING
from .conditions import (
    And,
    Attr,
    BeginsWith,
    Between,
    Compare,
    Condition,
    Key,
    KeyCondition,
    PathOperand,
    ValueOperand,
)
from .parser import ExpressionSyntaxError, Used, check_placeholder_keys, parse
from .paths import Path, check_overlaps, parse_plain_path
from .projection import Projection, projector
from .reserved import RESERVED_WORDS
from .update import UpdatePlan, build_plan

__all__ = [
    "MISSING",
    "RESERVED_WORDS",
    "Attr",
    "Condition",
    "ExpressionSyntaxError",
    "Key",
    "KeyCondition",
    "Projection",
    "UpdatePlan",
    "Used",
    "check_filter_keys",
    "check_placeholders",
    "compile_projection",
    "compile_update",
    "parse_key_condition",
    "referenced_attributes",
    "to_predicate",
]

Item = dict


def _used(used: Used | None) -> Used:
    """The request's :class:`Used` record, or a fresh one when not tracked."""
    return Used() if used is None else used


def _filtration(text: str) -> Callable[[Item], bool]:
    import filtration  # type: ignore[import-untyped]  # imported lazily: it pulls in pyparsing

    expression = filtration.Expression.parseString(text, parse_all=True)

    def predicate(item: Item) -> bool:
        try:
            return bool(expression(item))
        except (TypeError, KeyError, AttributeError, ValueError):
            return False  # a missing or mistyped attribute does not match
    return predicate


def to_predicate(spec: Any, names: Mapping[str, str] | None,
                 values: Mapping[str, Any] | None, *, used: Used | None = None,
                 what: str = "ConditionExpression") -> Callable[[Item], bool]:
    """Turn a condition or filter into ``predicate(item) -> bool``.

    ``spec`` is a builder condition (``Attr("a").eq(1)``), a DynamoDB
    condition string using ``names`` / ``values``, a ``filtration`` string
    (``"total > 10"``, ``"SK =~ /^a/"``), or a callable, returned as is.
    ``what`` names the expression in DynamoDB's messages
    (``"ConditionExpression"``, ``"FilterExpression"``).

    A string is DynamoDB's when it parses as DynamoDB's grammar. One that
    does not, and uses no placeholders, is tried as a filtration filter; if
    that fails too, the error is DynamoDB's syntax error (filtration's
    complaint goes in ``hint``).

    Raises:
        ValidationError: the DynamoDB checks of :func:`parse`, a string that
            is neither grammar, or a spec of another type.

    Cost: a cache lookup for a repeated string; see :func:`parse`.
    """
    if isinstance(spec, Condition):
        return spec.compile()
    if isinstance(spec, str):
        record = _used(used)
        try:
            return parse("condition", spec, what, names, values, record).compile()
        except ExpressionSyntaxError as dynamo_error:
            if names is not None or values is not None or ":" in spec or "#" in spec:
                raise
            try:
                return _filtration(spec)
            except Exception as filtration_error:  # noqa: BLE001 - pyparsing's ParseException and kin
                hint = f"it is not a filtration filter either ({filtration_error})"
                if dynamo_error.hint:
                    hint = f"{dynamo_error.hint}; {hint}"
                raise ExpressionSyntaxError(
                    dynamo_error.reason, attribute=dynamo_error.attribute,
                    position=dynamo_error.position, hint=hint) from None
    if callable(spec):
        return spec
    raise ValidationError("a condition must be a callable, an Attr/Key condition or an "
                          f"expression string, got {type(spec).__name__}", attribute=what)


def referenced_attributes(spec: Any, names: Mapping[str, str] | None,
                          values: Mapping[str, Any] | None) -> frozenset[str] | None:
    """The top-level attribute names a condition or filter reads, or ``None``
    when that cannot be known (callables and filtration strings).

    Raises:
        ValidationError: a malformed DynamoDB string (as :func:`to_predicate`).
    """
    cond: Any = spec
    if isinstance(spec, str):
        try:
            cond = parse("condition", spec, "FilterExpression", names, values, Used())
        except ExpressionSyntaxError:
            return None  # a filtration string
    if not isinstance(cond, Condition):
        return None
    return frozenset(str(path[0]) for path in cond.paths() if path)


def check_filter_keys(spec: Any, names: Mapping[str, str] | None,
                      values: Mapping[str, Any] | None, key_attributes: Iterable[str], *,
                      what: str = "FilterExpression") -> None:
    """Reject a query filter that reads a key attribute, as DynamoDB does.

    ``spec`` is the filter as :func:`to_predicate` takes it; builder
    conditions and DynamoDB strings are checked (a repeated string is parsed
    once, shared with :func:`to_predicate`); callables and filtration
    strings cannot be inspected and pass.

    Raises:
        ValidationError: ``"Filter Expression can only contain non-primary
            key attributes: Primary key attribute: PK"``; or the string's
            own parse error.

    Cost: O(size of the filter).
    """
    keys = set(key_attributes)
    cond: Any = spec
    if isinstance(spec, str):
        try:
            cond = parse("condition", spec, what, names, values, Used())
        except ExpressionSyntaxError:
            return  # a filtration string: to_predicate reports it if it is neither
    if not isinstance(cond, Condition):
        return
    for path in cond.paths():
        if path and path[0] in keys:
            raise ValidationError("Filter Expression can only contain non-primary key "
                                  f"attributes: Primary key attribute: {path[0]}",
                                  attribute=path[0])


_KEY_OPS = {"=": "eq", "<": "lt", "<=": "lte", ">": "gt", ">=": "gte"}


def _key_part(cond: Condition, what: str) -> KeyCondition:
    if isinstance(cond, KeyCondition):
        return cond
    if (isinstance(cond, Compare) and cond.op in _KEY_OPS and isinstance(cond.left, PathOperand)
            and len(cond.left.path) == 1 and isinstance(cond.right, ValueOperand)):
        return KeyCondition(cond.left.path[0], _KEY_OPS[cond.op], (cond.right.constant,))
    if (isinstance(cond, Between) and isinstance(cond.operand, PathOperand)
            and len(cond.operand.path) == 1 and isinstance(cond.low, ValueOperand)
            and isinstance(cond.high, ValueOperand)):
        return KeyCondition(cond.operand.path[0], "between",
                            (cond.low.constant, cond.high.constant))
    if (isinstance(cond, BeginsWith) and isinstance(cond.operand, PathOperand)
            and len(cond.operand.path) == 1 and isinstance(cond.prefix, ValueOperand)):
        return KeyCondition(cond.operand.path[0], "begins_with", (cond.prefix.constant,))
    raise ValidationError("Query key condition not supported: a key condition is "
                          "`pk = :v` optionally AND one sort-key condition "
                          "(= < <= > >= BETWEEN begins_with)", attribute=what)


def parse_key_condition(spec: Any, names: Mapping[str, str] | None,
                        values: Mapping[str, Any] | None, *, pk_name: str,
                        sk_name: str | None, used: Used | None = None) -> tuple[Any, KeyCondition | None]:
    """Split a whole key condition into the partition key value and an
    optional sort-key condition.

    ``spec`` is a DynamoDB KeyConditionExpression string or
    ``Key(pk).eq(v) [& Key(sk)...]``.

    Raises:
        ValidationError: anything but ``pk = v`` with at most one sort-key
            condition, a condition on another attribute, or bad syntax.
    """
    what = "KeyConditionExpression"
    if isinstance(spec, str):
        cond = parse("condition", spec, what, names, values, _used(used))
    elif isinstance(spec, Condition):
        cond = spec
    else:
        raise ValidationError("must be a Key(...) condition or an expression string",
                              attribute="key_condition")
    parts = [cond.left, cond.right] if isinstance(cond, And) else [cond]
    if any(isinstance(p, And) for p in parts):
        raise ValidationError("Query key condition not supported: at most two conditions",
                              attribute=what)
    keys = [_key_part(p, what) for p in parts]
    pk_value: Any = MISSING
    sk_cond: KeyCondition | None = None
    for key in keys:
        if key.name == pk_name and key.op == "eq" and pk_value is MISSING:
            pk_value = key.values[0]
        elif sk_name is not None and key.name == sk_name and sk_cond is None:
            sk_cond = key
        else:
            raise ValidationError(f"Query key condition not supported: condition on "
                                  f"{key.name!r} ({key.op})", attribute=what)
    if pk_value is MISSING:
        raise ValidationError(f"Query condition missed key schema element: {pk_name}",
                              attribute=what)
    return pk_value, sk_cond


def compile_update(expression: str | None, names: Mapping[str, str] | None,
                   values: Mapping[str, Any] | None, *,
                   set: Mapping[str, Any] | None = None,
                   remove: Iterable[str] | None = None,
                   add: Mapping[str, Any] | None = None,
                   delete: Mapping[str, Any] | None = None,
                   used: Used | None = None) -> UpdatePlan:
    """Compile an UpdateExpression, or the plain form, into an :class:`UpdatePlan`.

    Raises:
        ValidationError: syntax errors, unknown functions, missing
            placeholders, overlapping paths, operands of the wrong type,
            or both forms at once.
    """
    parsed = None
    if expression is not None:
        if any(x is not None for x in (set, remove, add, delete)):
            raise ValidationError("give an update expression or set/remove/add/delete, "
                                  "not both", attribute="update")
        parsed = parse("update", expression, "UpdateExpression", names, values, _used(used))
    return build_plan(parsed, set, remove, add, delete)


def compile_projection(spec: Any, names: Mapping[str, str] | None, *,
                       used: Used | None = None) -> Projection:
    """Compile a ProjectionExpression string (``"a, b.c, #n[0]"``) or a list
    of paths into ``project(item) -> item``.

    Raises:
        ValidationError: an empty projection, bad syntax, a missing
            placeholder, or two overlapping paths.
    """
    what = "ProjectionExpression"
    record = _used(used)
    if isinstance(spec, str):
        paths: list[Path] = parse("projection", spec, what, names, None, record)
    elif isinstance(spec, (list, tuple)):
        if not spec:
            raise ValidationError("a projection needs at least one attribute", attribute=what)
        paths = []
        for entry in spec:
            if isinstance(entry, str) and entry.startswith("#") and names and entry in names:
                record.names.add(entry)
                paths.append((names[entry],))
            else:
                paths.append(parse_plain_path(entry, attribute=what))
    else:
        raise ValidationError(f"must be a list of paths or an expression string, got "
                              f"{type(spec).__name__}", attribute=what)
    check_overlaps(paths, attribute=what)
    return projector(paths)


def check_placeholders(names: Mapping[str, str] | None, values: Mapping[str, Any] | None,
                       used: Used | None) -> None:
    """Check that every placeholder given was used by the request's expressions.

    Raises:
        ValidationError: a malformed ``names`` / ``values`` mapping
            (``ExpressionAttributeValues contains invalid key: Syntax error;
            key: "v"``), or a placeholder no expression used (as DynamoDB
            does).
    """
    record = used if used is not None else Used()
    for given, seen, prefix, what, dynamo in (
            (names, record.names, "#", "names", "ExpressionAttributeNames"),
            (values, record.values, ":", "values", "ExpressionAttributeValues")):
        if given is None:
            continue
        check_placeholder_keys(given, prefix, what)
        unused = sorted(set(given) - seen)
        if unused:
            raise ValidationError(f"Value provided in {dynamo} unused in expressions: "
                                  f"keys: {{{', '.join(unused)}}}", attribute=what)
