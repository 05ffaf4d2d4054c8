"""PartiQL as DynamoDB supports it: the parser.

A small parser of DynamoDB's four statements (no SQL engine: each becomes
the DynamoDB request it means, see :mod:`.statements`)::

    SELECT * | path, ... FROM "table"["index"] [WHERE condition] [ORDER BY path [ASC|DESC]]
    INSERT INTO "table" VALUE {'pk': 'a', 'n': 1}
    UPDATE "table" SET path = value [, ...] [REMOVE path [, ...]] WHERE key = ... [AND ...]
           [RETURNING ALL OLD * | ALL NEW * | MODIFIED OLD * | MODIFIED NEW *]
    DELETE FROM "table" WHERE key = ... [AND ...] [RETURNING ALL OLD *]

Values are literals (``'text'``, numbers, ``TRUE``, ``NULL``, ``{...}``
maps, ``[...]`` lists, ``<<...>>`` sets) or ``?`` parameters. Conditions
have ``= <> != < <= > >=``, ``BETWEEN``, ``IN [...]``, ``IS [NOT] MISSING``,
``IS [NOT] NULL``, ``AND``/``OR``/``NOT``, ``begins_with``, ``contains``,
``attribute_type`` and ``size``; an UPDATE's values may use ``+``/``-``,
``list_append``, ``if_not_exists``, ``set_add`` and ``set_delete``.

:func:`parse` returns a :class:`Statement`; paths are tuples of names and
list indexes, values ``("value", python)`` or ``("param", n)``, conditions
tuples tagged by their kind (``("compare", "=", left, right)``...).
"""

from __future__ import annotations

import re
from typing import Any

from .errors import Validation
from .values import decode_number, decode_value, encode_value

__all__ = ["MALFORMED", "Param", "Statement", "parse", "resolve"]

#: The start of DynamoDB's PartiQL syntax error message.
MALFORMED = "Statement wasn't well formed, can't be processed: "
_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<string>'(?:[^']|'')*')
  | (?P<quoted>"(?:[^"]|"")*")
  | (?P<number>\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)
  | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op><<|>>|<=|>=|<>|!=|[=<>()\[\]{},.:*?+\-])
""", re.VERBOSE)
_COMPARE = {"=": "=", "<>": "<>", "!=": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
_FUNCTIONS = {"begins_with": 2, "contains": 2, "attribute_type": 2}


class _Token:
    __slots__ = ("kind", "position", "text")

    def __init__(self, kind: str, text: str, position: int) -> None:
        self.kind, self.text, self.position = kind, text, position

    @property
    def upper(self) -> str:
        return self.text.upper() if self.kind == "word" else self.text


def _tokens(text: str) -> list[_Token]:
    out, position = [], 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise Validation(f"{MALFORMED}Unexpected character: {text[position]!r} at "
                             f"position {position}")
        kind = match.lastgroup or ""
        if kind != "space":
            out.append(_Token(kind, match.group(), position))
        position = match.end()
    out.append(_Token("end", "", len(text)))
    return out


# ------------------------------------------------------------------- AST
# Paths are tuples of str (names) and int (list indexes); values are
# ("value", python) or ("param", n); conditions are tuples tagged by kind.


class Param:
    """A ``?`` inside a map or list literal: the ``index``-th parameter."""

    __slots__ = ("index",)

    def __init__(self, index: int) -> None:
        self.index = index


def resolve(value: Any, params: list[Any]) -> Any:
    """``value`` with every :class:`Param` inside it replaced by its parameter."""
    if isinstance(value, Param):
        return params[value.index]
    if isinstance(value, dict):
        return {k: resolve(v, params) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, params) for v in value]
    return value


class Statement:
    """A parsed statement.

    Attributes:
        kind: ``"SELECT"``, ``"INSERT"``, ``"UPDATE"`` or ``"DELETE"``.
        table / index: the target.
        projection: paths selected (``None`` for ``*``).
        where: the condition tree, or ``None``.
        item: the INSERT's value.
        sets / removes: an UPDATE's assignments and removals.
        order: ``(path, ascending)`` of ORDER BY, or ``None``.
        returning: the RETURNING clause as DynamoDB's ReturnValues.
        params: how many ``?`` the statement holds.
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.table = ""
        self.index: str | None = None
        self.projection: list[tuple[Any, ...]] | None = None
        self.where: Any = None
        self.item: Any = None
        self.sets: list[tuple[tuple[Any, ...], Any]] = []
        self.removes: list[tuple[Any, ...]] = []
        self.order: tuple[tuple[Any, ...], bool] | None = None
        self.returning = "NONE"
        self.params = 0


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.at = 0
        self.params = 0

    # -- tokens
    def peek(self, offset: int = 0) -> _Token:
        return self.tokens[min(self.at + offset, len(self.tokens) - 1)]

    def take(self) -> _Token:
        token = self.peek()
        self.at += 1
        return token

    def fail(self, expected: str) -> Validation:
        token = self.peek()
        shown = token.text or "<EOF>"
        return Validation(f"{MALFORMED}Expected {expected} but found {shown!r} at position "
                          f"{token.position}")

    def word(self, *words: str) -> bool:
        if self.peek().upper in words and self.peek().kind == "word":
            self.at += 1
            return True
        return False

    def expect_word(self, word: str) -> None:
        if not self.word(word):
            raise self.fail(word)

    def op(self, text: str) -> bool:
        if self.peek().kind == "op" and self.peek().text == text:
            self.at += 1
            return True
        return False

    def expect_op(self, text: str) -> None:
        if not self.op(text):
            raise self.fail(repr(text))

    # -- names and paths
    def name(self) -> str:
        token = self.peek()
        if token.kind == "quoted":
            self.at += 1
            return token.text[1:-1].replace('""', '"')
        if token.kind == "word":
            self.at += 1
            return token.text
        raise self.fail("a name")

    def path(self) -> tuple[Any, ...]:
        parts: list[Any] = [self.name()]
        while True:
            if self.op("."):
                parts.append(self.name())
            elif self.peek().kind == "op" and self.peek().text == "[":
                self.at += 1
                token = self.take()
                if token.kind != "number" or not token.text.isdigit():
                    raise self.fail("a list index")
                parts.append(int(token.text))
                self.expect_op("]")
            else:
                return tuple(parts)

    # -- values
    def value(self) -> Any:
        token = self.peek()
        if token.kind == "op" and token.text == "?":
            self.at += 1
            self.params += 1
            return ("param", self.params - 1)
        return ("value", self.literal())

    def literal(self) -> Any:
        token = self.take()
        if token.kind == "string":
            return token.text[1:-1].replace("''", "'")
        if token.kind == "number":
            return decode_number(token.text)
        if token.kind == "op" and token.text == "-" and self.peek().kind == "number":
            return decode_number("-" + self.take().text)
        if token.kind == "word" and token.upper in ("TRUE", "FALSE"):
            return token.upper == "TRUE"
        if token.kind == "word" and token.upper == "NULL":
            return None
        if token.kind == "op" and token.text == "{":
            out: dict[str, Any] = {}
            if not self.op("}"):
                while True:
                    key = self.take()
                    if key.kind not in ("string", "quoted"):
                        self.at -= 1
                        raise self.fail("a string map key")
                    self.expect_op(":")
                    out[key.text[1:-1]] = self._nested()
                    if self.op("}"):
                        break
                    self.expect_op(",")
            return out
        if token.kind == "op" and token.text == "[":
            return self._sequence("]")
        if token.kind == "op" and token.text == "<<":
            elements = self._sequence(">>")
            if any(isinstance(e, Param) for e in elements):
                raise Validation(f"{MALFORMED}parameters are not supported inside a set")
            return decode_value(_set_value(elements))
        self.at -= 1
        raise self.fail("a value")

    def _nested(self) -> Any:
        if self.peek().kind == "op" and self.peek().text == "?":
            self.at += 1
            self.params += 1
            return Param(self.params - 1)
        return self.literal()

    def _sequence(self, close: str) -> list[Any]:
        out: list[Any] = []
        if self.op(close):
            return out
        while True:
            out.append(self._nested())
            if self.op(close):
                return out
            self.expect_op(",")

    # -- conditions
    def condition(self) -> Any:
        left = self.conjunction()
        while self.word("OR"):
            left = ("or", left, self.conjunction())
        return left

    def conjunction(self) -> Any:
        left = self.negation()
        while self.word("AND"):
            left = ("and", left, self.negation())
        return left

    def negation(self) -> Any:
        if self.word("NOT"):
            return ("not", self.negation())
        return self.predicate()

    def operand(self) -> Any:
        token = self.peek()
        if token.kind == "word" and token.text.lower() == "size" and self.peek(1).text == "(":
            self.at += 2
            path = self.path()
            self.expect_op(")")
            return ("size", path)
        if token.kind in ("word", "quoted") and token.upper not in ("TRUE", "FALSE", "NULL"):
            return ("path", self.path())
        return self.value()

    def predicate(self) -> Any:
        token = self.peek()
        if token.kind == "op" and token.text == "(":
            self.at += 1
            inner = self.condition()
            self.expect_op(")")
            return inner
        if (token.kind == "word" and token.text.lower() in _FUNCTIONS
                and self.peek(1).text == "("):
            name = token.text.lower()
            self.at += 2
            path = self.path()
            self.expect_op(",")
            argument = self.value()
            self.expect_op(")")
            return ("call", name, path, argument)
        left = self.operand()
        if self.word("BETWEEN"):
            low = self.operand()
            self.expect_word("AND")
            return ("between", left, low, self.operand())
        if self.word("IN"):
            close = "]" if self.op("[") else ")" if self.op("(") else None
            if close is None:
                raise self.fail("'[' after IN")
            values = [self.operand()]
            while self.op(","):
                values.append(self.operand())
            self.expect_op(close)
            return ("in", left, values)
        if self.word("IS"):
            negated = self.word("NOT")
            if self.word("MISSING"):
                return ("missing", left, negated)
            if self.word("NULL"):
                return ("null", left, negated)
            raise self.fail("MISSING or NULL")
        token = self.peek()
        if token.kind == "op" and token.text in _COMPARE:
            self.at += 1
            return ("compare", _COMPARE[token.text], left, self.operand())
        raise self.fail("a comparison")

    # -- statements
    def statement(self) -> Statement:
        if self.word("SELECT"):
            out = self.select()
        elif self.word("INSERT"):
            out = Statement("INSERT")
            self.expect_word("INTO")
            out.table = self.name()
            self.expect_word("VALUE")
            out.item = self.value()
        elif self.word("UPDATE"):
            out = self.update()
        elif self.word("DELETE"):
            out = Statement("DELETE")
            self.expect_word("FROM")
            out.table = self.name()
            self.expect_word("WHERE")
            out.where = self.condition()
            self.returning(out, ("ALL OLD",))
        else:
            raise self.fail("SELECT, INSERT, UPDATE or DELETE")
        if self.peek().kind != "end":
            raise self.fail("the end of the statement")
        out.params = self.params
        return out

    def select(self) -> Statement:
        out = Statement("SELECT")
        if not self.op("*"):
            out.projection = [self.path()]
            while self.op(","):
                out.projection.append(self.path())
        self.expect_word("FROM")
        out.table = self.name()
        if self.op("."):
            out.index = self.name()
        if self.word("WHERE"):
            out.where = self.condition()
        if self.word("ORDER"):
            self.expect_word("BY")
            path = self.path()
            descending = self.word("DESC")
            if not descending:
                self.word("ASC")
            out.order = (path, not descending)
        return out

    def update(self) -> Statement:
        out = Statement("UPDATE")
        out.table = self.name()
        while True:
            if self.word("SET"):
                while True:
                    path = self.path()
                    self.expect_op("=")
                    out.sets.append((path, self.update_value()))
                    if not self.op(","):
                        break
            elif self.word("REMOVE"):
                out.removes.append(self.path())
                while self.op(","):
                    out.removes.append(self.path())
            else:
                break
        if not out.sets and not out.removes:
            raise self.fail("SET or REMOVE")
        self.expect_word("WHERE")
        out.where = self.condition()
        self.returning(out, ("ALL OLD", "ALL NEW", "MODIFIED OLD", "MODIFIED NEW"))
        return out

    def update_value(self) -> Any:
        token = self.peek()
        if (token.kind == "word" and token.text.lower() in (
                "list_append", "set_add", "set_delete", "if_not_exists")
                and self.peek(1).text == "("):
            name = token.text.lower()
            self.at += 2
            first = self.operand()
            self.expect_op(",")
            second = self.operand()
            self.expect_op(")")
            return ("fn", name, first, second)
        left = self.operand()
        if self.peek().kind == "op" and self.peek().text in "+-" and self.peek().text:
            sign = self.take().text
            return ("arith", sign, left, self.operand())
        return left

    def returning(self, out: Statement, allowed: tuple[str, ...]) -> None:
        if not self.word("RETURNING"):
            return
        first = self.take().upper
        second = self.take().upper
        self.expect_op("*")
        choice = f"{first} {second}"
        if choice not in allowed:
            raise Validation(f"{MALFORMED}RETURNING {choice} * is not supported here")
        out.returning = {"ALL OLD": "ALL_OLD", "ALL NEW": "ALL_NEW",
                         "MODIFIED OLD": "UPDATED_OLD", "MODIFIED NEW": "UPDATED_NEW"}[choice]


def _set_value(elements: list[Any]) -> dict[str, Any]:
    if not elements:
        raise Validation("One or more parameter values were invalid: An string set  may not be "
                         "empty")
    encoded = [encode_value(e) for e in elements]
    kinds = {next(iter(e)) for e in encoded}
    if kinds == {"S"}:
        return {"SS": [e["S"] for e in encoded]}
    if kinds == {"N"}:
        return {"NS": [e["N"] for e in encoded]}
    if kinds == {"B"}:
        return {"BS": [e["B"] for e in encoded]}
    raise Validation(f"{MALFORMED}a set holds strings, numbers or binary of one type")


def parse(text: str) -> Statement:
    """Parse one PartiQL statement.

    Raises:
        Validation: "Statement wasn't well formed, can't be processed: ...".
    """
    return _Parser(text).statement()
