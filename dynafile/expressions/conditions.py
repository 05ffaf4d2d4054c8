"""The expression tree: operands, conditions, and the ``Key`` / ``Attr`` builders.

Every way of writing a condition (builder, DynamoDB string) ends as a tree
of these nodes. A condition is evaluated against an item with
``cond.evaluate(item)`` (or by calling it); :meth:`Condition.compile` gives
a faster closure for hot loops (scans, filters).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Callable, ClassVar

from ..errors import ValidationError
from .paths import Path, get_path, parse_plain_path, path_text
from .values import MISSING, TYPE_NAMES, equal, ordered, size_of, type_name

__all__ = [
    "And",
    "Attr",
    "AttributeType",
    "BeginsWith",
    "Between",
    "Compare",
    "Condition",
    "Contains",
    "Exists",
    "In",
    "Key",
    "KeyCondition",
    "Not",
    "NotExists",
    "Operand",
    "Or",
    "PathOperand",
    "SizeOperand",
    "ValueOperand",
]

Item = dict


# ------------------------------------------------------------------ operands


class Operand:
    """Something that yields a value from an item (or ``MISSING``)."""

    def value(self, item: Item) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def compile(self) -> Callable[[Item], Any]:
        return self.value


class _Comparable:
    """Builder methods that compare an operand with a constant."""

    def _operand(self) -> Operand:  # pragma: no cover - abstract
        raise NotImplementedError

    def eq(self, value: Any) -> Condition:
        """Equal to ``value`` (same type and value)."""
        return Compare("=", self._operand(), _const(value))

    def ne(self, value: Any) -> Condition:
        """Not equal to ``value`` (true when the attribute is missing)."""
        return Compare("<>", self._operand(), _const(value))

    def lt(self, value: Any) -> Condition:
        """Less than ``value`` (numbers, strings or binary of the same type)."""
        return Compare("<", self._operand(), _const(value))

    def lte(self, value: Any) -> Condition:
        """Less than or equal to ``value``."""
        return Compare("<=", self._operand(), _const(value))

    def gt(self, value: Any) -> Condition:
        """Greater than ``value``."""
        return Compare(">", self._operand(), _const(value))

    def gte(self, value: Any) -> Condition:
        """Greater than or equal to ``value``."""
        return Compare(">=", self._operand(), _const(value))

    def between(self, low: Any, high: Any) -> Condition:
        """``low <= attribute <= high``."""
        return Between(self._operand(), _const(low), _const(high))

    def is_in(self, values: Sequence[Any]) -> Condition:
        """Equal to one of ``values`` (at most 100)."""
        if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
            raise ValidationError("is_in needs a list of values", attribute="is_in")
        return In(self._operand(), [_const(v) for v in values])


def _const(value: Any) -> Operand:
    if isinstance(value, Operand):
        return value
    if isinstance(value, (Attr, Condition)):
        raise ValidationError("compare with a value, not with another condition or Attr")
    return ValueOperand(value)


class PathOperand(Operand):
    """The value at a document path."""

    __slots__ = ("path",)

    def __init__(self, path: Path) -> None:
        self.path = path

    def value(self, item: Item) -> Any:
        return get_path(item, self.path)

    def compile(self) -> Callable[[Item], Any]:
        if len(self.path) == 1:
            name = self.path[0]
            return lambda item: item.get(name, MISSING)
        path = self.path
        return lambda item: get_path(item, path)

    def __repr__(self) -> str:
        return path_text(self.path)


class ValueOperand(Operand):
    """A constant (a ``:placeholder`` value or a builder argument)."""

    __slots__ = ("constant",)

    def __init__(self, constant: Any) -> None:
        self.constant = constant

    def value(self, item: Item) -> Any:
        return self.constant

    def compile(self) -> Callable[[Item], Any]:
        constant = self.constant
        return lambda item: constant

    def __repr__(self) -> str:
        return repr(self.constant)


class SizeOperand(Operand, _Comparable):
    """``size(path)``: comparable like an attribute (``Attr("tags").size().gt(2)``)."""

    __slots__ = ("path",)

    def __init__(self, path: Path) -> None:
        self.path = path

    def _operand(self) -> Operand:
        return self

    def value(self, item: Item) -> Any:
        return size_of(get_path(item, self.path))

    def __repr__(self) -> str:
        return f"size({path_text(self.path)})"


# ---------------------------------------------------------------- conditions


class Condition:
    """A boolean expression over one item; combine with ``&``, ``|``, ``~``."""

    def evaluate(self, item: Item) -> bool:  # pragma: no cover - abstract
        raise NotImplementedError

    def compile(self) -> Callable[[Item], bool]:
        """A closure equivalent to :meth:`evaluate`, faster in loops."""
        return self.evaluate

    def __call__(self, item: Item) -> bool:
        return self.evaluate(item)

    def __and__(self, other: Condition) -> Condition:
        return And(self, _condition(other))

    def __or__(self, other: Condition) -> Condition:
        return Or(self, _condition(other))

    def __invert__(self) -> Condition:
        return Not(self)


def _condition(value: Any) -> Condition:
    if not isinstance(value, Condition):
        raise ValidationError(f"cannot combine a condition with {type(value).__name__}")
    return value


_ORDER = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


class Compare(Condition):
    """``left op right`` with op one of ``= <> < <= > >=``."""

    __slots__ = ("left", "op", "right")

    def __init__(self, op: str, left: Operand, right: Operand) -> None:
        self.op = op
        self.left = left
        self.right = right

    def evaluate(self, item: Item) -> bool:
        a = self.left.value(item)
        b = self.right.value(item)
        if self.op == "=":
            return equal(a, b)
        if self.op == "<>":
            return not equal(a, b)
        return ordered(a, b) and _ORDER[self.op](a, b)

    def compile(self) -> Callable[[Item], bool]:
        left, right = self.left, self.right
        # The hot case: a top-level attribute against a str constant, where
        # Python's == is exactly DynamoDB's.
        if (self.op in ("=", "<>") and isinstance(left, PathOperand) and len(left.path) == 1
                and isinstance(right, ValueOperand) and right.constant.__class__ is str):
            name, constant = left.path[0], right.constant
            if self.op == "=":
                return lambda item: item.get(name) == constant
            return lambda item: item.get(name) != constant
        get_a, get_b = left.compile(), right.compile()
        if self.op == "=":
            return lambda item: equal(get_a(item), get_b(item))
        if self.op == "<>":
            return lambda item: not equal(get_a(item), get_b(item))
        order = _ORDER[self.op]

        def compare(item: Item) -> bool:
            a, b = get_a(item), get_b(item)
            return ordered(a, b) and order(a, b)
        return compare

    def __repr__(self) -> str:
        return f"{self.left!r} {self.op} {self.right!r}"


class Between(Condition):
    """``operand BETWEEN low AND high`` (inclusive)."""

    __slots__ = ("high", "low", "operand")

    def __init__(self, operand: Operand, low: Operand, high: Operand) -> None:
        self.operand, self.low, self.high = operand, low, high

    def evaluate(self, item: Item) -> bool:
        x, lo, hi = self.operand.value(item), self.low.value(item), self.high.value(item)
        return ordered(x, lo) and ordered(x, hi) and lo <= x <= hi

    def __repr__(self) -> str:
        return f"{self.operand!r} BETWEEN {self.low!r} AND {self.high!r}"


class In(Condition):
    """``operand IN (a, b, ...)``."""

    __slots__ = ("choices", "operand")

    def __init__(self, operand: Operand, choices: list[Operand]) -> None:
        if not choices:
            raise ValidationError("IN needs at least one value")
        if len(choices) > 100:
            raise ValidationError(f"IN takes at most 100 values, got {len(choices)}")
        self.operand, self.choices = operand, choices

    def evaluate(self, item: Item) -> bool:
        x = self.operand.value(item)
        return any(equal(x, c.value(item)) for c in self.choices)


class Exists(Condition):
    """``attribute_exists(path)``."""

    __slots__ = ("path",)

    def __init__(self, path: Path) -> None:
        self.path = path

    def evaluate(self, item: Item) -> bool:
        return get_path(item, self.path) is not MISSING


class NotExists(Condition):
    """``attribute_not_exists(path)``."""

    __slots__ = ("path",)

    def __init__(self, path: Path) -> None:
        self.path = path

    def evaluate(self, item: Item) -> bool:
        return get_path(item, self.path) is MISSING


class AttributeType(Condition):
    """``attribute_type(path, :t)`` with t one of S SS N NS B BS BOOL NULL L M."""

    __slots__ = ("path", "type_operand")

    def __init__(self, path: Path, type_operand: Operand) -> None:
        if isinstance(type_operand, ValueOperand):
            _check_type_name(type_operand.constant)
        self.path, self.type_operand = path, type_operand

    def evaluate(self, item: Item) -> bool:
        value = get_path(item, self.path)
        return value is not MISSING and type_name(value) == self.type_operand.value(item)


def _check_type_name(name: Any) -> None:
    if name not in TYPE_NAMES:
        raise ValidationError(f"Invalid attribute type name found in type: {name!r}, valid "
                              f"types: {', '.join(TYPE_NAMES)}", attribute="attribute_type")


class BeginsWith(Condition):
    """``begins_with(path, prefix)`` for strings and binary."""

    __slots__ = ("operand", "prefix")

    def __init__(self, operand: Operand, prefix: Operand) -> None:
        self.operand, self.prefix = operand, prefix

    def evaluate(self, item: Item) -> bool:
        value, prefix = self.operand.value(item), self.prefix.value(item)
        if isinstance(value, str) and isinstance(prefix, str):
            return value.startswith(prefix)
        if isinstance(value, (bytes, bytearray)) and isinstance(prefix, (bytes, bytearray)):
            return bytes(value).startswith(bytes(prefix))
        return False


class Contains(Condition):
    """``contains(path, operand)``: a substring of a string, or an element of
    a set or list."""

    __slots__ = ("element", "operand")

    def __init__(self, operand: Operand, element: Operand) -> None:
        self.operand, self.element = operand, element

    def evaluate(self, item: Item) -> bool:
        value, element = self.operand.value(item), self.element.value(item)
        if value is MISSING or element is MISSING:
            return False
        if isinstance(value, str):
            return isinstance(element, str) and element in value
        if isinstance(value, (bytes, bytearray)):
            return isinstance(element, (bytes, bytearray)) and bytes(element) in value
        if isinstance(value, (set, frozenset)):
            try:
                return element in value and any(equal(element, v) for v in value
                                                if v == element)
            except TypeError:  # unhashable element
                return False
        if isinstance(value, (list, tuple)):
            return any(equal(element, v) for v in value)
        return False


class And(Condition):
    """Both conditions hold."""

    __slots__ = ("left", "right")

    def __init__(self, left: Condition, right: Condition) -> None:
        self.left, self.right = left, right

    def evaluate(self, item: Item) -> bool:
        return self.left.evaluate(item) and self.right.evaluate(item)

    def compile(self) -> Callable[[Item], bool]:
        a, b = self.left.compile(), self.right.compile()
        return lambda item: a(item) and b(item)


class Or(Condition):
    """Either condition holds."""

    __slots__ = ("left", "right")

    def __init__(self, left: Condition, right: Condition) -> None:
        self.left, self.right = left, right

    def evaluate(self, item: Item) -> bool:
        return self.left.evaluate(item) or self.right.evaluate(item)

    def compile(self) -> Callable[[Item], bool]:
        a, b = self.left.compile(), self.right.compile()
        return lambda item: a(item) or b(item)


class Not(Condition):
    """The condition does not hold."""

    __slots__ = ("inner",)

    def __init__(self, inner: Condition) -> None:
        self.inner = inner

    def evaluate(self, item: Item) -> bool:
        return not self.inner.evaluate(item)

    def compile(self) -> Callable[[Item], bool]:
        inner = self.inner.compile()
        return lambda item: not inner(item)


class KeyCondition(Condition):
    """A condition on one key attribute, as ``query`` takes for the sort key.

    Attributes:
        name: the key attribute's name.
        op: ``eq lt lte gt gte between begins_with``.
        values: the operand values (two for ``between``).
    """

    __slots__ = ("name", "op", "values")

    _SYMBOLS: ClassVar[dict[str, str]] = {"eq": "=", "lt": "<", "lte": "<=", "gt": ">", "gte": ">="}

    def __init__(self, name: str, op: str, values: tuple[Any, ...]) -> None:
        self.name, self.op, self.values = name, op, tuple(values)

    def evaluate(self, item: Item) -> bool:
        value = item.get(self.name, MISSING)
        if self.op == "between":
            lo, hi = self.values
            return ordered(value, lo) and ordered(value, hi) and lo <= value <= hi
        if self.op == "begins_with":
            return BeginsWith(PathOperand((self.name,)),
                              ValueOperand(self.values[0])).evaluate(item)
        symbol = self._SYMBOLS[self.op]
        if symbol == "=":
            return equal(value, self.values[0])
        return ordered(value, self.values[0]) and _ORDER[symbol](value, self.values[0])

    def __repr__(self) -> str:
        return f"Key({self.name!r}).{self.op}{self.values!r}"


# ------------------------------------------------------------------ builders


class Attr(_Comparable):
    """Build a condition on an attribute, with boto3's method names.

    ``Attr("a.b[2]")`` names a nested path. Combine conditions with ``&``,
    ``|`` and ``~``::

        Attr("status").eq("open") & Attr("tags").contains("vip")
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.path = parse_plain_path(name, attribute="Attr")

    def _operand(self) -> Operand:
        return PathOperand(self.path)

    def begins_with(self, prefix: Any) -> Condition:
        """A string or binary attribute starting with ``prefix``."""
        return BeginsWith(self._operand(), ValueOperand(prefix))

    def contains(self, value: Any) -> Condition:
        """A string containing ``value``, or a set or list holding it."""
        return Contains(self._operand(), ValueOperand(value))

    def exists(self) -> Condition:
        """The attribute is present (``attribute_exists``)."""
        return Exists(self.path)

    def not_exists(self) -> Condition:
        """The attribute is absent (``attribute_not_exists``)."""
        return NotExists(self.path)

    def attribute_type(self, type_name: str) -> Condition:
        """The attribute has this DynamoDB type (``S N B BOOL NULL L M SS NS BS``)."""
        return AttributeType(self.path, ValueOperand(type_name))

    def size(self) -> SizeOperand:
        """The attribute's size, to compare: ``Attr("tags").size().gt(2)``."""
        return SizeOperand(self.path)

    def __repr__(self) -> str:
        return f"Attr({self.name!r})"


class Key:
    """Build a key condition, with boto3's method names.

    ``Key("SK").begins_with("order#")`` is what ``query(..., sk=...)``
    takes; ``Key("PK").eq(v) & Key("SK").gt(x)`` is a whole key condition.
    """

    def __init__(self, name: str) -> None:
        if not isinstance(name, str) or not name:
            raise ValidationError("a key attribute name must be a non-empty string",
                                  attribute="Key")
        self.name = name

    def eq(self, value: Any) -> KeyCondition:
        """Equal to ``value``."""
        return KeyCondition(self.name, "eq", (value,))

    def lt(self, value: Any) -> KeyCondition:
        """Less than ``value``."""
        return KeyCondition(self.name, "lt", (value,))

    def lte(self, value: Any) -> KeyCondition:
        """Less than or equal to ``value``."""
        return KeyCondition(self.name, "lte", (value,))

    def gt(self, value: Any) -> KeyCondition:
        """Greater than ``value``."""
        return KeyCondition(self.name, "gt", (value,))

    def gte(self, value: Any) -> KeyCondition:
        """Greater than or equal to ``value``."""
        return KeyCondition(self.name, "gte", (value,))

    def between(self, low: Any, high: Any) -> KeyCondition:
        """``low <= key <= high``."""
        return KeyCondition(self.name, "between", (low, high))

    def begins_with(self, prefix: Any) -> KeyCondition:
        """A string or binary key starting with ``prefix``."""
        return KeyCondition(self.name, "begins_with", (prefix,))

    def __repr__(self) -> str:
        return f"Key({self.name!r})"
