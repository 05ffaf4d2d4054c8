"""Conditions and update actions written with model fields, rendered as
DynamoDB expression strings.

``Order.total > 10``, ``Order.tags.contains("vip")``,
``Order.total.set(Order.total + 5)``: each is a small tree that renders
itself into an expression string with ``#name`` / ``:value`` placeholders
(:class:`Renderer`). Strings with placeholders are what every table method
takes (``condition=``, ``filter=``, ``key_condition=``, ``update=`` with
``names=`` / ``values=``), on a file-backed table and on a DynamoDB
endpoint alike, and placeholders make any attribute name safe (dots,
brackets, reserved words).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Union

from ..errors import ValidationError

__all__ = [
    "Action",
    "Condition",
    "Operand",
    "Renderer",
    "Size",
]

#: A document path: attribute names and list indexes.
Path = tuple[Union[str, int], ...]


class Renderer:
    """Collects placeholders while conditions and actions render themselves.

    One renderer serves one request, so a key condition, a filter and an
    update can share ``names`` and ``values`` without clashing.
    """

    def __init__(self) -> None:
        self.names: dict[str, str] = {}
        self.values: dict[str, Any] = {}
        self._by_name: dict[str, str] = {}

    def name(self, attribute: str) -> str:
        """The ``#n`` placeholder of an attribute name (one per name)."""
        held = self._by_name.get(attribute)
        if held is None:
            held = self._by_name[attribute] = f"#n{len(self._by_name)}"
            self.names[held] = attribute
        return held

    def path(self, path: Path) -> str:
        """``("a", 2, "b")`` -> ``"#n0[2].#n1"``."""
        text = ""
        for part in path:
            if isinstance(part, int):
                text += f"[{part}]"
            else:
                text += ("." if text else "") + self.name(part)
        return text

    def value(self, value: Any) -> str:
        """A fresh ``:v`` placeholder holding ``value``."""
        held = f":v{len(self.values)}"
        self.values[held] = value
        return held

    def arguments(self) -> dict[str, Any]:
        """``names`` / ``values`` keyword arguments for a table method (empty
        mappings are left out, as DynamoDB refuses them)."""
        out: dict[str, Any] = {}
        if self.names:
            out["names"] = dict(self.names)
        if self.values:
            out["values"] = dict(self.values)
        return out


# ------------------------------------------------------------------ operands


class Operand:
    """Something a condition compares or an update assigns: a path, a value,
    ``size(path)``, or arithmetic on them."""

    def render(self, r: Renderer) -> str:  # pragma: no cover - interface
        raise NotImplementedError

    def __add__(self, other: Any) -> Operand:
        return _Arithmetic(self, "+", as_operand(other, self))

    def __radd__(self, other: Any) -> Operand:
        return _Arithmetic(as_operand(other, self), "+", self)

    def __sub__(self, other: Any) -> Operand:
        return _Arithmetic(self, "-", as_operand(other, self))

    def __rsub__(self, other: Any) -> Operand:
        return _Arithmetic(as_operand(other, self), "-", self)

    def convert(self, value: Any) -> Any:
        """The stored form of a plain value compared with or assigned to this
        operand (a field converts through its type; others keep it)."""
        return value


class PathOperand(Operand):
    """An attribute (or nested path) of the item."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def render(self, r: Renderer) -> str:
        return r.path(self.path)


class ValueOperand(Operand):
    """A constant, already in its stored form."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def render(self, r: Renderer) -> str:
        return r.value(self.value)


class _Arithmetic(Operand):
    def __init__(self, left: Operand, op: str, right: Operand) -> None:
        self.left, self.op, self.right = left, op, right

    def render(self, r: Renderer) -> str:
        return f"{self.left.render(r)} {self.op} {self.right.render(r)}"


class _Function(Operand):
    def __init__(self, function: str, *args: Operand) -> None:
        self.function, self.args = function, args

    def render(self, r: Renderer) -> str:
        return f"{self.function}({', '.join(a.render(r) for a in self.args)})"


def as_operand(value: Any, like: Operand | None = None) -> Operand:
    """``value`` as an operand: operands stay; plain values are converted
    by the operand they meet (a field stores them in its own form)."""
    if isinstance(value, Operand):
        return value
    return ValueOperand(like.convert(value) if like is not None else value)


def if_not_exists(path: Operand, value: Any) -> Operand:
    """``if_not_exists(path, value)``: the attribute, or ``value`` when it is missing."""
    return _Function("if_not_exists", path, as_operand(value, path))


def list_append(first: Any, second: Any) -> Operand:
    """``list_append(first, second)``: two lists (paths or values) joined."""
    return _Function("list_append", as_operand(first), as_operand(second))


# --------------------------------------------------------------- conditions


class Condition:
    """A condition on an item; combine with ``&``, ``|`` and ``~``.

    Pass it as ``condition=`` to a write, ``filter=`` to a query or scan.
    Python's ``and`` / ``or`` / ``not`` do not combine conditions: using
    one as a truth value raises ``TypeError``.
    """

    def render(self, r: Renderer) -> str:  # pragma: no cover - interface
        raise NotImplementedError

    def __and__(self, other: Condition) -> Condition:
        return _Join("AND", self, _check_condition(other))

    def __or__(self, other: Condition) -> Condition:
        return _Join("OR", self, _check_condition(other))

    def __invert__(self) -> Condition:
        return _Not(self)

    def __bool__(self) -> bool:
        raise TypeError("combine conditions with & | ~, not and / or / not")

    def expression(self) -> tuple[str, dict[str, Any]]:
        """Return ``(expression, {"names": ..., "values": ...})`` for a table method."""
        r = Renderer()
        text = self.render(r)
        return text, r.arguments()

    def __repr__(self) -> str:
        text, args = self.expression()
        return f"<Condition {text!r} {args}>"


def _check_condition(value: Any) -> Condition:
    if not isinstance(value, Condition):
        raise ValidationError(f"expected a condition, got {type(value).__name__}",
                              attribute="condition")
    return value


class _Join(Condition):
    def __init__(self, op: str, left: Condition, right: Condition) -> None:
        self.op, self.left, self.right = op, left, right

    def render(self, r: Renderer) -> str:
        return f"({self.left.render(r)}) {self.op} ({self.right.render(r)})"


class _Not(Condition):
    def __init__(self, inner: Condition) -> None:
        self.inner = inner

    def render(self, r: Renderer) -> str:
        return f"NOT ({self.inner.render(r)})"


class Compare(Condition):
    """``left op right`` with op one of ``= <> < <= > >=``."""

    def __init__(self, left: Operand, op: str, right: Operand) -> None:
        self.left, self.op, self.right = left, op, right

    def render(self, r: Renderer) -> str:
        return f"{self.left.render(r)} {self.op} {self.right.render(r)}"


class Between(Condition):
    def __init__(self, operand: Operand, low: Operand, high: Operand) -> None:
        self.operand, self.low, self.high = operand, low, high

    def render(self, r: Renderer) -> str:
        return f"{self.operand.render(r)} BETWEEN {self.low.render(r)} AND {self.high.render(r)}"


class In(Condition):
    def __init__(self, operand: Operand, choices: list[Operand]) -> None:
        if not choices:
            raise ValidationError("is_in needs at least one value", attribute="is_in")
        self.operand, self.choices = operand, choices

    def render(self, r: Renderer) -> str:
        return (f"{self.operand.render(r)} IN "
                f"({', '.join(c.render(r) for c in self.choices)})")


class Call(Condition):
    """A condition function: ``begins_with``, ``contains``,
    ``attribute_exists``, ``attribute_not_exists``, ``attribute_type``."""

    def __init__(self, function: str, *args: Operand) -> None:
        self.function, self.args = function, args

    def render(self, r: Renderer) -> str:
        return f"{self.function}({', '.join(a.render(r) for a in self.args)})"


class Comparable(Operand):
    """Comparison operators that build conditions (fields and ``size()``)."""

    def __eq__(self, other: object) -> Condition:  # type: ignore[override]
        return Compare(self, "=", as_operand(other, self))

    def __ne__(self, other: object) -> Condition:  # type: ignore[override]
        return Compare(self, "<>", as_operand(other, self))

    def __lt__(self, other: Any) -> Condition:
        return Compare(self, "<", as_operand(other, self))

    def __le__(self, other: Any) -> Condition:
        return Compare(self, "<=", as_operand(other, self))

    def __gt__(self, other: Any) -> Condition:
        return Compare(self, ">", as_operand(other, self))

    def __ge__(self, other: Any) -> Condition:
        return Compare(self, ">=", as_operand(other, self))

    __hash__ = object.__hash__

    def between(self, low: Any, high: Any) -> Condition:
        """``BETWEEN low AND high`` (both inclusive)."""
        return Between(self, as_operand(low, self), as_operand(high, self))

    def is_in(self, *values: Any) -> Condition:
        """``IN (v1, v2, ...)``."""
        if len(values) == 1 and isinstance(values[0], (list, tuple, set, frozenset)):
            values = tuple(values[0])
        return In(self, [as_operand(v, self) for v in values])


class Size(Comparable):
    """``size(path)``: the length of a string, binary, list, map or set."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def render(self, r: Renderer) -> str:
        return f"size({r.path(self.path)})"


# ------------------------------------------------------------------ updates


class Action:
    """One clause of an update: ``SET``, ``REMOVE``, ``ADD`` or ``DELETE``.

    Built by a field's ``set()``, ``remove()``, ``add()``, ``delete()``,
    ``append()`` and ``prepend()``.
    """

    def __init__(self, kind: str, path: Path, operand: Operand | None, field: Any) -> None:
        self.kind = kind
        self.path = path
        self.operand = operand
        self.field = field

    def render(self, r: Renderer) -> str:
        target = r.path(self.path)
        if self.kind == "REMOVE":
            return target
        assert self.operand is not None
        if self.kind == "SET":
            return f"{target} = {self.operand.render(r)}"
        return f"{target} {self.operand.render(r)}"

    def __repr__(self) -> str:
        r = Renderer()
        return f"<Action {self.kind} {self.render(r)} {r.arguments()}>"


def render_update(actions: Iterable[Action], r: Renderer, *, extra_set: Iterable[str] = (),
                  extra_remove: Iterable[str] = ()) -> str:
    """``SET ... REMOVE ... ADD ... DELETE ...`` for the actions, in that order,
    with already rendered ``extra_set`` (``"#n = :v"``) and ``extra_remove`` parts."""
    clauses: dict[str, list[str]] = {"SET": list(extra_set), "REMOVE": list(extra_remove),
                                     "ADD": [], "DELETE": []}
    for action in actions:
        clauses[action.kind].append(action.render(r))
    return " ".join(f"{kind} {', '.join(parts)}" for kind, parts in clauses.items() if parts)
