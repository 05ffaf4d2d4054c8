"""Update expressions: ``SET``, ``REMOVE``, ``ADD``, ``DELETE`` compiled into a plan.

Every right-hand side reads the item as it was before the update (DynamoDB's
rule); the plan then applies its actions to a copy, so a failing action
leaves nothing half-changed.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from ..errors import ValidationError
from .conditions import Operand, PathOperand, ValueOperand
from .paths import Path, check_overlaps, get_path, parse_plain_path, path_text
from .values import MISSING, is_number, type_name

__all__ = ["Arith", "IfNotExists", "ListAppend", "UpdatePlan", "build_plan"]

Item = dict
_WHAT = "UpdateExpression"


def _bad_type(reason: str, position: int | None = None) -> ValidationError:
    return ValidationError(f"An operand in the update expression has an incorrect data type; "
                           f"{reason}", attribute=_WHAT, position=position)


def _resolve(term: Any, item: Item) -> Any:
    if isinstance(term, Operand):
        value = term.value(item)
    else:
        value = term.resolve(item)
    if value is MISSING:
        where = f": {path_text(term.path)}" if isinstance(term, PathOperand) else ""
        raise ValidationError("The provided expression refers to an attribute that does not "
                              f"exist in the item{where}", attribute=_WHAT)
    return value


def _number_op(a: Any, b: Any, subtract: bool) -> Any:
    if a.__class__ is int and b.__class__ is int:
        return a - b if subtract else a + b
    if isinstance(a, Decimal) or isinstance(b, Decimal):
        da = a if isinstance(a, Decimal) else Decimal(repr(a))
        db = b if isinstance(b, Decimal) else Decimal(repr(b))
        return da - db if subtract else da + db
    return a - b if subtract else a + b


class Arith:
    """``a + b`` / ``a - b`` on numbers."""

    __slots__ = ("left", "op", "pos", "right")

    def __init__(self, op: str, left: Any, right: Any, pos: int | None = None) -> None:
        self.op, self.left, self.right, self.pos = op, left, right, pos

    def resolve(self, item: Item) -> Any:
        a, b = _resolve(self.left, item), _resolve(self.right, item)
        if not (is_number(a) and is_number(b)):
            raise _bad_type(f"operator: {self.op}, operand types: {type_name(a)}, "
                            f"{type_name(b)}", self.pos)
        return _number_op(a, b, self.op == "-")


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
        if not (isinstance(a, (list, tuple)) and isinstance(b, (list, tuple))):
            raise _bad_type(f"function: list_append, operand types: {type_name(a)}, "
                            f"{type_name(b)}", self.pos)
        return list(a) + list(b)


def _invalid_path(path: Path) -> ValidationError:
    return ValidationError("The document path provided in the update expression is invalid "
                           f"for update: {path_text(path)}", attribute=_WHAT)


def _parent(doc: Item, path: Path) -> Any:
    parent: Any = doc
    for element in path[:-1]:
        if isinstance(element, int):
            if not isinstance(parent, list) or element >= len(parent):
                raise _invalid_path(path)
            parent = parent[element]
        else:
            if not isinstance(parent, dict) or element not in parent:
                raise _invalid_path(path)
            parent = parent[element]
    return parent


def _set(doc: Item, path: Path, value: Any) -> None:
    parent = _parent(doc, path)
    last = path[-1]
    if isinstance(last, int):
        if not isinstance(parent, list):
            raise _invalid_path(path)
        if last < len(parent):
            parent[last] = value
        else:
            parent.append(value)
    else:
        if not isinstance(parent, dict):
            raise _invalid_path(path)
        parent[last] = value


def _same_set_kind(a: Any, b: Any) -> bool:
    if not (isinstance(a, (set, frozenset)) and isinstance(b, (set, frozenset))):
        return False
    return not a or not b or type_name(a) == type_name(b)


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
        for clause, path, value, pos in actions:
            if clause == "ADD" and not (is_number(value) or isinstance(value, (set, frozenset))):
                raise ValidationError(
                    "Incorrect operand type for operator or function; operator: ADD, operand "
                    f"type: {type_name(value)}", attribute=_WHAT, position=pos)
            if clause == "DELETE" and not isinstance(value, (set, frozenset)):
                raise ValidationError(
                    "Incorrect operand type for operator or function; operator: DELETE, "
                    f"operand type: {type_name(value)}", attribute=_WHAT, position=pos)

    def apply(self, old: Item | None) -> Item:
        """The item after the update (``old`` is not changed).

        Raises:
            ValidationError: an operand of the wrong type, a reference to a
                missing attribute, or a path whose parent does not exist.
        """
        base = old if old is not None else {}
        resolved = [
            (clause, path, _resolve(value, base) if clause == "SET" else value)
            for clause, path, value, _ in self.actions
        ]
        new = copy.deepcopy(base)
        removals: list[tuple[list, int]] = []
        for clause, path, value in resolved:
            if clause == "SET":
                _set(new, path, copy.deepcopy(value))
            elif clause == "REMOVE":
                parent = get_path(new, path[:-1]) if len(path) > 1 else new
                last = path[-1]
                if isinstance(last, int):
                    if isinstance(parent, list):
                        removals.append((parent, last))
                elif isinstance(parent, dict):
                    parent.pop(last, None)
            elif clause == "ADD":
                current = get_path(new, path)
                if current is MISSING:
                    _set(new, path, copy.deepcopy(value))
                elif is_number(current) and is_number(value):
                    _set(new, path, _number_op(current, value, False))
                elif _same_set_kind(current, value):
                    _set(new, path, set(current) | set(value))
                else:
                    raise _bad_type(f"operator: ADD, operand types: {type_name(current)}, "
                                    f"{type_name(value)}")
            else:  # DELETE
                current = get_path(new, path)
                if current is MISSING:
                    continue
                if not _same_set_kind(current, value):
                    raise _bad_type(f"operator: DELETE, operand types: {type_name(current)}, "
                                    f"{type_name(value)}")
                rest = set(current) - set(value)
                if rest:
                    _set(new, path, rest)
                else:
                    parent = _parent(new, path)
                    if isinstance(path[-1], int):
                        removals.append((parent, path[-1]))
                    else:
                        parent.pop(path[-1], None)
        for parent, index in sorted(removals, key=lambda r: -r[1]):
            if index < len(parent):
                del parent[index]
        return new


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
    """A plan from a parsed expression or from the plain Python form."""
    actions: list[tuple[str, Path, Any, int | None]] = list(parsed or [])
    if set_ is not None:
        for name, value in _mapping(set_, "set").items():
            actions.append(("SET", parse_plain_path(name, attribute="set"),
                            ValueOperand(value), None))
    if remove is not None:
        if isinstance(remove, (str, bytes)) or not isinstance(remove, Iterable):
            raise ValidationError("must be a list of paths", attribute="remove")
        for name in remove:
            actions.append(("REMOVE", parse_plain_path(name, attribute="remove"), None, None))
    if add is not None:
        for name, value in _mapping(add, "add").items():
            actions.append(("ADD", parse_plain_path(name, attribute="add"), value, None))
    if delete is not None:
        for name, value in _mapping(delete, "delete").items():
            actions.append(("DELETE", parse_plain_path(name, attribute="delete"), value, None))
    order = {"SET": 0, "REMOVE": 1, "ADD": 2, "DELETE": 3}
    actions.sort(key=lambda a: order[a[0]])
    return UpdatePlan(actions)
