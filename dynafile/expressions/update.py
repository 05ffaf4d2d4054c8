"""Update expressions: ``SET``, ``REMOVE``, ``ADD``, ``DELETE`` compiled into a plan.

Every right-hand side reads the item as it was before the update (DynamoDB's
rule); the plan then applies its actions to a copy, so a failing action
leaves nothing half-changed, and the item passed in is never modified.
Numbers are added in DynamoDB's 38-digit precision
(:func:`dynafile.types.add_numbers`); number sets unite and subtract by
decimal value.

Semantics from "Using update expressions in DynamoDB"
(https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Expressions.UpdateExpressions.html).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any, Callable

from ..errors import ValidationError
from ..types import (
    MISSING,
    add_numbers,
    is_number,
    number_key,
    subtract_numbers,
    type_name,
    validate_value,
)
from .conditions import Operand, PathOperand, ValueOperand
from .paths import Path, check_overlaps, get_path, parse_plain_path, path_text
from .projection import projector

__all__ = ["Arith", "IfNotExists", "ListAppend", "UpdatePlan", "build_plan", "set_difference",
           "set_union"]

Item = dict
_WHAT = "UpdateExpression"

# DynamoDB's messages for updates that cannot apply to the item (captured by
# Dynamoid's and moto's tests against DynamoDB).
_BAD_TYPE = "An operand in the update expression has an incorrect data type"
_NO_ATTRIBUTE = "The provided expression refers to an attribute that does not exist in the item"
_BAD_PATH = "The document path provided in the update expression is invalid for update"
# ADD / DELETE operand type names as DynamoDB spells them in its message.
_LONG_TYPE = {"S": "STRING", "N": "NUMBER", "B": "BINARY", "BOOL": "BOOLEAN", "NULL": "NULL",
              "L": "LIST", "M": "MAP", "SS": "STRING_SET", "NS": "NUMBER_SET",
              "BS": "BINARY_SET"}
_SETS = (set, frozenset)


def _error(reason: str, path: Path | None = None, position: int | None = None,
           hint: str | None = None) -> ValidationError:
    return ValidationError(reason, attribute=path_text(path) if path else _WHAT,
                           position=position, hint=hint)


def _types(operation: str, a: Any, b: Any) -> str:
    """A hint naming what met what: ``ADD of a NUMBER to a STRING attribute``."""
    first, second = (_LONG_TYPE.get(type_name(v), "?") for v in (a, b))
    if operation == "ADD":
        return f"ADD of a {second} to a {first} attribute"
    if operation == "DELETE":
        return f"DELETE of a {second} from a {first} attribute"
    return f"{operation} of {first} and {second}"


def _resolve(term: Any, item: Item) -> Any:
    if isinstance(term, Operand):
        value = term.value(item)
    else:
        value = term.resolve(item)
    if value is MISSING:
        raise _error(_NO_ATTRIBUTE, term.path if isinstance(term, PathOperand) else None)
    return value


class Arith:
    """``a + b`` / ``a - b`` on numbers."""

    __slots__ = ("left", "op", "pos", "right")

    def __init__(self, op: str, left: Any, right: Any, pos: int | None = None) -> None:
        self.op, self.left, self.right, self.pos = op, left, right, pos

    def resolve(self, item: Item) -> Any:
        a, b = _resolve(self.left, item), _resolve(self.right, item)
        if not (is_number(a) and is_number(b)):
            raise _error(_BAD_TYPE, position=self.pos, hint=_types(f"'{self.op}'", a, b))
        return subtract_numbers(a, b) if self.op == "-" else add_numbers(a, b)


class IfNotExists:
    """``if_not_exists(path, fallback)``."""

    __slots__ = ("fallback", "path")

    def __init__(self, path: Path, fallback: Any) -> None:
        self.path, self.fallback = path, fallback

    def resolve(self, item: Item) -> Any:
        value = get_path(item, self.path)
        return _resolve(self.fallback, item) if value is MISSING else value


class ListAppend:
    """``list_append(a, b)``: the two lists joined."""

    __slots__ = ("first", "pos", "second")

    def __init__(self, first: Any, second: Any, pos: int | None = None) -> None:
        self.first, self.second, self.pos = first, second, pos

    def resolve(self, item: Item) -> Any:
        a, b = _resolve(self.first, item), _resolve(self.second, item)
        if not (isinstance(a, list) and isinstance(b, list)):
            raise _error(_BAD_TYPE, position=self.pos, hint=_types("list_append", a, b))
        return list(a) + list(b)


def _parent(doc: Item, path: Path) -> Any:
    """The container holding ``path``'s last element.

    Raises:
        ValidationError: a step of the path is missing or of the wrong type
            (DynamoDB's "document path ... is invalid for update").
    """
    parent: Any = doc
    for element in path[:-1]:
        if isinstance(element, int):
            if not isinstance(parent, list) or element >= len(parent):
                raise _error(_BAD_PATH, path)
        elif not isinstance(parent, dict) or element not in parent:
            raise _error(_BAD_PATH, path)
        parent = parent[element]
    last = path[-1]
    if not isinstance(parent, list if isinstance(last, int) else dict):
        raise _error(_BAD_PATH, path)
    return parent


def _set(doc: Item, path: Path, value: Any) -> None:
    parent = _parent(doc, path)
    last = path[-1]
    if isinstance(last, int) and last >= len(parent):
        parent.append(value)  # past the end appends
    else:
        parent[last] = value


def _set_keys(values: Iterable[Any]) -> dict[Any, Any]:
    return {number_key(v) if is_number(v) else v: v for v in values}


def set_union(current: Any, addition: Any) -> set[Any]:
    """``ADD`` of two sets of one type: the elements of both, duplicates by
    DynamoDB equality dropped (``{0.1} | {Decimal("0.1")}`` has one element;
    the current set's element is kept). O(n + m)."""
    keys = _set_keys(current)
    for key, value in _set_keys(addition).items():
        keys.setdefault(key, value)
    return set(keys.values())


def set_difference(current: Any, removal: Any) -> set[Any]:
    """``DELETE`` from a set: the elements of ``current`` not in ``removal``
    under DynamoDB equality. O(n + m)."""
    gone = _set_keys(removal)
    return {v for k, v in _set_keys(current).items() if k not in gone}


def _same_set_kind(a: Any, b: Any) -> bool:
    if not (isinstance(a, _SETS) and isinstance(b, _SETS)):
        return False
    return not a or not b or type_name(a) == type_name(b)


def _set_order(actions: list[tuple[str, Path, Any]]) -> list[tuple[str, Path, Any]]:
    """SET actions with list-index targets last, in ascending index order per
    list, so several ``SET l[i]`` past the end append in index order."""
    indexed = [a for a in actions if isinstance(a[1][-1], int)]
    if len(indexed) < 2:
        return actions
    others = [a for a in actions if not isinstance(a[1][-1], int)]
    return others + sorted(indexed, key=lambda a: (path_text(a[1][:-1]), a[1][-1]))


class UpdatePlan:
    """A compiled update.

    Attributes:
        actions: ``(clause, path, operand, position)`` in the order applied.
        paths: the document paths the update changes.
        top_level_attributes: the top-level attribute names it changes.
    """

    def __init__(self, actions: list[tuple[str, Path, Any, int | None]]) -> None:
        self.actions = actions
        self.paths: list[Path] = [a[1] for a in actions]
        check_overlaps(self.paths, attribute=_WHAT)
        self.top_level_attributes: frozenset[str] = frozenset(p[0] for p in self.paths)
        for clause, _path, value, pos in actions:
            if clause not in ("ADD", "DELETE") or value is MISSING:
                continue
            kind = type_name(value)
            allowed = ("N", "SS", "NS", "BS") if clause == "ADD" else ("SS", "NS", "BS")
            if kind not in allowed:
                raise ValidationError(
                    f"Invalid UpdateExpression: Incorrect operand type for operator or "
                    f"function; operator: {clause}, operand type: {_LONG_TYPE.get(kind, kind)}, "
                    f"typeSet: ALLOWED_FOR_{clause}_OPERAND", attribute=_WHAT, position=pos)
        self._project_updated: Callable[[Item], Item] = projector(self.paths)

    def apply(self, old: Item | None) -> Item | None:
        """The item after the update; ``old`` is never modified.

        ``old`` is ``None`` for a missing item: the update then creates one
        (the caller adds its key attributes), unless it writes nothing, as an
        update that only ``REMOVE``\\ s (or ``DELETE``\\ s from sets) does: then
        the result is ``None`` and no item should be created (DynamoDB
        creates none either).

        Raises:
            ValidationError: DynamoDB's message for an operand of the wrong
                type, a reference to a missing attribute, a path whose parent
                is missing or not a map / list, or a number out of range;
                ``attribute`` names the path.

        Cost: O(size of the item) (it is copied once).
        """
        base = old if old is not None else {}
        resolved = [
            (clause, path, _resolve(value, base) if clause == "SET" else value)
            for clause, path, value, _ in self.actions
        ]
        sets = _set_order([a for a in resolved if a[0] == "SET"])
        new = copy.deepcopy(base)
        removals: list[tuple[list, int]] = []
        for clause, path, value in sets + [a for a in resolved if a[0] != "SET"]:
            if clause == "SET":
                _set(new, path, copy.deepcopy(value))
            elif clause == "REMOVE":
                parent = _parent(new, path)
                if isinstance(path[-1], int):
                    removals.append((parent, path[-1]))
                else:
                    parent.pop(path[-1], None)
            elif clause == "ADD":
                self._add(new, path, value)
            else:  # DELETE
                parent = _parent(new, path)
                current = get_path(parent, path[-1:])
                if current is MISSING:
                    continue
                if not _same_set_kind(current, value):
                    raise _error(_BAD_TYPE, path, hint=_types("DELETE", current, value))
                rest = set_difference(current, value)
                if rest:
                    parent[path[-1]] = rest
                elif isinstance(path[-1], int):
                    removals.append((parent, path[-1]))
                else:
                    del parent[path[-1]]
        for parent, index in sorted(removals, key=lambda r: -r[1]):
            if index < len(parent):
                del parent[index]
        if old is None and not new:
            return None
        return new

    @staticmethod
    def _add(new: Item, path: Path, value: Any) -> None:
        current = get_path(new, path)
        if current is MISSING:
            _set(new, path, copy.deepcopy(value))
        elif is_number(current) and is_number(value):
            try:
                _set(new, path, add_numbers(current, value))
            except ValidationError as error:
                raise _error(error.reason, path) from None
        elif _same_set_kind(current, value):
            _set(new, path, set_union(current, value))
        else:
            raise _error(_BAD_TYPE, path, hint=_types("ADD", current, value))

    def updated_view(self, item: Item | None, base: Item | None = None) -> Item:
        """The part of ``item`` the update's paths name, as ``ReturnValues``
        ``UPDATED_OLD`` / ``UPDATED_NEW`` return it: ``SET a.b = :v`` gives
        ``{"a": {"b": ...}}``; list elements come back as a shorter list.

        Call ``updated_view(old)`` for ``UPDATED_OLD`` and
        ``updated_view(new, base=old)`` for ``UPDATED_NEW``: with ``base``,
        an element that ``SET l[9]`` appended is found where it landed.
        Returns ``{}`` when none of the paths is in ``item``.

        Cost: O(size of the named parts).
        """
        if item is None:
            return {}
        if base is None:
            return self._project_updated(item)
        paths = list(self.paths)
        appended: dict[str, list[int]] = {}
        for i, (clause, path, _, _) in enumerate(self.actions):
            if clause == "SET" and isinstance(path[-1], int):
                target = get_path(base, path[:-1])
                if isinstance(target, list) and path[-1] >= len(target):
                    appended.setdefault(path_text(path[:-1]), []).append(i)
        if not appended:
            return self._project_updated(item)
        for indices in appended.values():
            length = len(get_path(base, self.paths[indices[0]][:-1]))
            for rank, i in enumerate(sorted(indices, key=lambda i: self.paths[i][-1])):
                paths[i] = self.paths[i][:-1] + (length + rank,)
        return projector(paths)(item)


def _mapping(value: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ValidationError(f"must be a dict of path -> value, got {type(value).__name__}",
                              attribute=what)
    return value


def build_plan(
    parsed: list[tuple[str, Path, Any, int]] | None,
    set_: Mapping[str, Any] | None,
    remove: Iterable[str] | None,
    add: Mapping[str, Any] | None,
    delete: Mapping[str, Any] | None,
) -> UpdatePlan:
    """A plan from a parsed expression or from the plain Python form (whose
    values are checked as item values are, see
    :func:`dynafile.types.validate_value`).

    Raises:
        ValidationError: overlapping paths, a value of no DynamoDB type, an
            ``ADD`` / ``DELETE`` operand of the wrong type.
    """
    actions: list[tuple[str, Path, Any, int | None]] = list(parsed or [])
    if set_ is not None:
        for name, value in _mapping(set_, "set").items():
            actions.append(("SET", parse_plain_path(name, attribute="set"),
                            ValueOperand(validate_value(value, path=name)), None))
    if remove is not None:
        if isinstance(remove, (str, bytes)) or not isinstance(remove, Iterable):
            raise ValidationError("must be a list of paths", attribute="remove")
        for name in remove:
            actions.append(("REMOVE", parse_plain_path(name, attribute="remove"), None, None))
    if add is not None:
        for name, value in _mapping(add, "add").items():
            actions.append(("ADD", parse_plain_path(name, attribute="add"),
                            validate_value(value, path=name), None))
    if delete is not None:
        for name, value in _mapping(delete, "delete").items():
            actions.append(("DELETE", parse_plain_path(name, attribute="delete"),
                            validate_value(value, path=name), None))
    order = {"SET": 0, "REMOVE": 1, "ADD": 2, "DELETE": 3}
    actions.sort(key=lambda a: order[a[0]])
    return UpdatePlan(actions)
