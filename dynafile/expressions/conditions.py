"""The expression tree: operands, conditions, and the ``Key`` / ``Attr`` builders.

Every way of writing a condition (builder, DynamoDB string) ends as a tree
of these nodes. A condition is evaluated against an item with
``cond.evaluate(item)`` (or by calling it); :meth:`Condition.compile` gives
a faster closure for hot loops (scans, filters). Values compare by
DynamoDB's rules (:mod:`dynafile.types`): one number type, no order across
types.

:meth:`Condition.to_expression` writes a condition back as a DynamoDB
expression string with ``#name`` / ``:value`` placeholders for every name
and value, so a builder's condition never meets DynamoDB's reserved-word
rule.
"""

from __future__ import annotations

import operator
from collections.abc import Iterator, Sequence
from decimal import Decimal
from typing import Any, Callable, ClassVar

from ..errors import ValidationError
from ..types import MISSING, TYPE_NAMES, compare, element_of, equal, size_of, type_name
from .paths import Path, get_path, parse_plain_path, path_text

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
    "Renderer",
    "SizeOperand",
    "ValueOperand",
]

Item = dict


class Renderer:
    """Collects the ``#name`` / ``:value`` placeholders of a rendered expression.

    Attributes:
        names: placeholder -> attribute name (ExpressionAttributeNames).
        values: placeholder -> value (ExpressionAttributeValues).
    """

    def __init__(self, prefix: str = "") -> None:
        self.names: dict[str, str] = {}
        self.values: dict[str, Any] = {}
        self._placeholders: dict[str, str] = {}
        self._prefix = prefix

    def name(self, name: str) -> str:
        """The placeholder of an attribute name (one per distinct name)."""
        placeholder = self._placeholders.get(name)
        if placeholder is None:
            placeholder = f"#{self._prefix}n{len(self._placeholders)}"
            self._placeholders[name] = placeholder
            self.names[placeholder] = name
        return placeholder

    def value(self, value: Any) -> str:
        """A new placeholder holding ``value``."""
        placeholder = f":{self._prefix}v{len(self.values)}"
        self.values[placeholder] = value
        return placeholder

    def path(self, path: Path) -> str:
        """A document path with every name a placeholder: ``#n0.#n1[2]``."""
        text = ""
        for element in path:
            if isinstance(element, int):
                text += f"[{element}]"
            else:
                text += ("." if text else "") + self.name(element)
        return text


# ------------------------------------------------------------------ operands


class Operand:
    """Something that yields a value from an item (or ``MISSING``)."""

    def value(self, item: Item) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def compile(self) -> Callable[[Item], Any]:
        return self.value

    def render(self, renderer: Renderer) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def paths(self) -> Iterator[Path]:
        """The document paths this operand reads."""
        return iter(())


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

    def render(self, renderer: Renderer) -> str:
        return renderer.path(self.path)

    def paths(self) -> Iterator[Path]:
        yield self.path

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

    def render(self, renderer: Renderer) -> str:
        return renderer.value(self.constant)

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

    def render(self, renderer: Renderer) -> str:
        return f"size({renderer.path(self.path)})"

    def paths(self) -> Iterator[Path]:
        yield self.path

    def __repr__(self) -> str:
        return f"size({path_text(self.path)})"


# ---------------------------------------------------------------- conditions


class Condition:
    """A boolean expression over one item; combine with ``&``, ``|``, ``~``."""

    #: Binding strength when written as text: OR 1, AND 2, NOT 3, others 4.
    PRECEDENCE: ClassVar[int] = 4

    def evaluate(self, item: Item) -> bool:  # pragma: no cover - abstract
        raise NotImplementedError

    def compile(self) -> Callable[[Item], bool]:
        """A closure equivalent to :meth:`evaluate`, faster in loops."""
        return self.evaluate

    def children(self) -> Sequence[Condition | Operand]:
        """The operands and sub-conditions, for walking the tree."""
        return ()

    def paths(self) -> Iterator[Path]:
        """Every document path the condition reads. O(size of the tree)."""
        for child in self.children():
            yield from child.paths()

    def _text(self, renderer: Renderer) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def render(self, renderer: Renderer, context: int = 0) -> str:
        """The condition as DynamoDB text, its names and values placeholders
        collected in ``renderer``; parenthesised only where precedence
        needs it (never redundantly)."""
        text = self._text(renderer)
        return f"({text})" if self.PRECEDENCE < context else text

    def to_expression(self, prefix: str = "") -> tuple[str, dict[str, str], dict[str, Any]]:
        """``(expression, names, values)``: the condition as a DynamoDB
        expression string with its ExpressionAttributeNames and Values.
        Every attribute name is a ``#placeholder`` (``prefix`` keeps them
        apart from another expression's). Parsing it gives an equivalent
        condition. O(size of the tree)."""
        renderer = Renderer(prefix)
        return self.render(renderer), renderer.names, renderer.values

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


# compare() gives -1 / 0 / 1; each operator is a test of that sign.
_SIGN: dict[str, Callable[[int], bool]] = {
    "<": lambda r: r < 0,
    "<=": lambda r: r <= 0,
    ">": lambda r: r > 0,
    ">=": lambda r: r >= 0,
}
_PYTHON_OP: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
}
# Classes whose Python order is DynamoDB's when both sides have the class.
_NATIVE_ORDER = (str, int, Decimal, bytes)


def ordered(op: str, a: Any, b: Any) -> bool:
    """``a op b`` for op one of ``< <= > >=``, false across types. O(1)."""
    r = compare(a, b)
    return r is not None and _SIGN[op](r)


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
        return ordered(self.op, a, b)

    def compile(self) -> Callable[[Item], bool]:
        left, right, op = self.left, self.right, self.op
        if (isinstance(left, PathOperand) and len(left.path) == 1
                and isinstance(right, ValueOperand)):
            name, constant = left.path[0], right.constant
            cls = constant.__class__
            # The hot cases: a top-level attribute against a constant, where
            # Python's operator is DynamoDB's when the classes match.
            if op in ("=", "<>") and cls is str:
                if op == "=":
                    return lambda item: item.get(name) == constant
                return lambda item: item.get(name) != constant
            if op not in ("=", "<>") and cls in _NATIVE_ORDER:
                python_op, sign = _PYTHON_OP[op], _SIGN[op]

                def fast(item: Item) -> bool:
                    value = item.get(name, MISSING)
                    if value.__class__ is cls:
                        return python_op(value, constant)
                    r = compare(value, constant)
                    return r is not None and sign(r)
                return fast
        get_a, get_b = left.compile(), right.compile()
        if op == "=":
            return lambda item: equal(get_a(item), get_b(item))
        if op == "<>":
            return lambda item: not equal(get_a(item), get_b(item))
        sign = _SIGN[op]

        def general(item: Item) -> bool:
            r = compare(get_a(item), get_b(item))
            return r is not None and sign(r)
        return general

    def children(self) -> Sequence[Condition | Operand]:
        return (self.left, self.right)

    def _text(self, renderer: Renderer) -> str:
        return f"{self.left.render(renderer)} {self.op} {self.right.render(renderer)}"

    def __repr__(self) -> str:
        return f"{self.left!r} {self.op} {self.right!r}"


class Between(Condition):
    """``operand BETWEEN low AND high`` (inclusive)."""

    __slots__ = ("high", "low", "operand")

    def __init__(self, operand: Operand, low: Operand, high: Operand) -> None:
        self.operand, self.low, self.high = operand, low, high

    def evaluate(self, item: Item) -> bool:
        x = self.operand.value(item)
        lo = compare(self.low.value(item), x)
        if lo is None or lo > 0:
            return False
        hi = compare(x, self.high.value(item))
        return hi is not None and hi <= 0

    def children(self) -> Sequence[Condition | Operand]:
        return (self.operand, self.low, self.high)

    def _text(self, renderer: Renderer) -> str:
        return (f"{self.operand.render(renderer)} BETWEEN {self.low.render(renderer)} AND "
                f"{self.high.render(renderer)}")

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

    def children(self) -> Sequence[Condition | Operand]:
        return (self.operand, *self.choices)

    def _text(self, renderer: Renderer) -> str:
        choices = ", ".join(c.render(renderer) for c in self.choices)
        return f"{self.operand.render(renderer)} IN ({choices})"


class Exists(Condition):
    """``attribute_exists(path)``."""

    __slots__ = ("path",)

    def __init__(self, path: Path) -> None:
        self.path = path

    def evaluate(self, item: Item) -> bool:
        return get_path(item, self.path) is not MISSING

    def paths(self) -> Iterator[Path]:
        yield self.path

    def _text(self, renderer: Renderer) -> str:
        return f"attribute_exists({renderer.path(self.path)})"


class NotExists(Condition):
    """``attribute_not_exists(path)``."""

    __slots__ = ("path",)

    def __init__(self, path: Path) -> None:
        self.path = path

    def evaluate(self, item: Item) -> bool:
        return get_path(item, self.path) is MISSING

    def paths(self) -> Iterator[Path]:
        yield self.path

    def _text(self, renderer: Renderer) -> str:
        return f"attribute_not_exists({renderer.path(self.path)})"


class AttributeType(Condition):
    """``attribute_type(path, :t)`` with t one of S SS N NS B BS BOOL NULL L M."""

    __slots__ = ("path", "type_operand")

    def __init__(self, path: Path, type_operand: Operand) -> None:
        if isinstance(type_operand, ValueOperand):
            check_type_name(type_operand.constant)
        self.path, self.type_operand = path, type_operand

    def evaluate(self, item: Item) -> bool:
        value = get_path(item, self.path)
        return value is not MISSING and type_name(value) == self.type_operand.value(item)

    def paths(self) -> Iterator[Path]:
        yield self.path
        yield from self.type_operand.paths()

    def _text(self, renderer: Renderer) -> str:
        return (f"attribute_type({renderer.path(self.path)}, "
                f"{self.type_operand.render(renderer)})")


def type_name_error(name: Any) -> str | None:
    """DynamoDB's message for an ``attribute_type`` type that is not one of
    S SS N NS B BS BOOL NULL L M, or ``None``."""
    if name in TYPE_NAMES:
        return None
    return (f"Invalid attribute type name found; type: {name}, valid types: "
            f"{{{','.join(TYPE_NAMES)}}}")


def check_type_name(name: Any) -> None:
    """Raise when ``name`` is not a type ``attribute_type`` knows.

    Raises:
        ValidationError: DynamoDB's "Invalid attribute type name found..."
    """
    reason = type_name_error(name)
    if reason is not None:
        raise ValidationError(reason, attribute="attribute_type")


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

    def children(self) -> Sequence[Condition | Operand]:
        return (self.operand, self.prefix)

    def _text(self, renderer: Renderer) -> str:
        return f"begins_with({self.operand.render(renderer)}, {self.prefix.render(renderer)})"


class Contains(Condition):
    """``contains(path, operand)``: a substring of a string, or an element of
    a set or list (numbers by decimal value: ``0.1`` is in ``{Decimal("0.1")}``)."""

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
        return element_of(element, value)

    def children(self) -> Sequence[Condition | Operand]:
        return (self.operand, self.element)

    def _text(self, renderer: Renderer) -> str:
        return f"contains({self.operand.render(renderer)}, {self.element.render(renderer)})"


class And(Condition):
    """Both conditions hold."""

    __slots__ = ("left", "right")
    PRECEDENCE = 2

    def __init__(self, left: Condition, right: Condition) -> None:
        self.left, self.right = left, right

    def evaluate(self, item: Item) -> bool:
        return self.left.evaluate(item) and self.right.evaluate(item)

    def compile(self) -> Callable[[Item], bool]:
        a, b = self.left.compile(), self.right.compile()
        return lambda item: a(item) and b(item)

    def children(self) -> Sequence[Condition | Operand]:
        return (self.left, self.right)

    def _text(self, renderer: Renderer) -> str:
        return f"{self.left.render(renderer, 2)} AND {self.right.render(renderer, 2)}"


class Or(Condition):
    """Either condition holds."""

    __slots__ = ("left", "right")
    PRECEDENCE = 1

    def __init__(self, left: Condition, right: Condition) -> None:
        self.left, self.right = left, right

    def evaluate(self, item: Item) -> bool:
        return self.left.evaluate(item) or self.right.evaluate(item)

    def compile(self) -> Callable[[Item], bool]:
        a, b = self.left.compile(), self.right.compile()
        return lambda item: a(item) or b(item)

    def children(self) -> Sequence[Condition | Operand]:
        return (self.left, self.right)

    def _text(self, renderer: Renderer) -> str:
        return f"{self.left.render(renderer, 1)} OR {self.right.render(renderer, 1)}"


class Not(Condition):
    """The condition does not hold."""

    __slots__ = ("inner",)
    PRECEDENCE = 3

    def __init__(self, inner: Condition) -> None:
        self.inner = inner

    def evaluate(self, item: Item) -> bool:
        return not self.inner.evaluate(item)

    def compile(self) -> Callable[[Item], bool]:
        inner = self.inner.compile()
        return lambda item: not inner(item)

    def children(self) -> Sequence[Condition | Operand]:
        return (self.inner,)

    def _text(self, renderer: Renderer) -> str:
        return f"NOT {self.inner.render(renderer, 3)}"


class KeyCondition(Condition):
    """A condition on one key attribute, as ``query`` takes for the sort key.

    Attributes:
        name: the key attribute's name.
        op: ``eq lt lte gt gte between begins_with``.
        values: the operand values (two for ``between``).
    """

    __slots__ = ("_condition", "name", "op", "values")

    _SYMBOLS: ClassVar[dict[str, str]] = {"eq": "=", "lt": "<", "lte": "<=", "gt": ">", "gte": ">="}

    def __init__(self, name: str, op: str, values: tuple[Any, ...]) -> None:
        self.name, self.op, self.values = name, op, tuple(values)
        self._condition: Condition | None = None

    def _as_condition(self) -> Condition:
        """The same test as a general condition (built once)."""
        if self._condition is None:
            path = PathOperand((self.name,))
            if self.op == "between":
                cond: Condition = Between(path, ValueOperand(self.values[0]),
                                          ValueOperand(self.values[1]))
            elif self.op == "begins_with":
                cond = BeginsWith(path, ValueOperand(self.values[0]))
            else:
                cond = Compare(self._SYMBOLS[self.op], path, ValueOperand(self.values[0]))
            self._condition = cond
        return self._condition

    def evaluate(self, item: Item) -> bool:
        return self._as_condition().evaluate(item)

    def compile(self) -> Callable[[Item], bool]:
        return self._as_condition().compile()

    def paths(self) -> Iterator[Path]:
        yield (self.name,)

    def _text(self, renderer: Renderer) -> str:
        return self._as_condition()._text(renderer)

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
