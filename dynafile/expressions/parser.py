"""A recursive-descent parser for DynamoDB's expression strings.

Grammar (keywords case-insensitive, function names as DynamoDB spells them)::

    condition  := or
    or         := and ("OR" and)*
    and        := not ("AND" not)*
    not        := "NOT" not | primary
    primary    := "(" condition ")"
                | function "(" args ")"                 # attribute_exists...
                | operand comparator operand
                | operand "BETWEEN" operand "AND" operand
                | operand "IN" "(" operand ("," operand)* ")"
    operand    := path | ":value" | "size" "(" path ")"
    path       := (name | "#name") ("." (name | "#name") | "[" digits "]")*

    update     := clause+        # each of SET / REMOVE / ADD / DELETE at most once
    set        := "SET" path "=" value ("," path "=" value)*
    value      := term (("+" | "-") term)?
    term       := operand | "if_not_exists" "(" path "," term ")"
                | "list_append" "(" term "," term ")"
    remove     := "REMOVE" path ("," path)*
    add        := "ADD" path ":value" ("," path ":value")*
    delete     := "DELETE" path ":value" ("," path ":value")*

    projection := path ("," path)*

Every error is a :class:`~dynafile.errors.ValidationError` carrying the
0-based character position of the offending token.
"""

from __future__ import annotations

import copy
import re
import threading
from collections import OrderedDict
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from ..errors import ValidationError
from . import conditions as c
from .paths import Path

__all__ = ["Parser", "Used", "parse", "tokenize"]

_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<nameref>\#[A-Za-z0-9_]+)
  | (?P<valueref>:[A-Za-z0-9_]+)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<number>\d+)
  | (?P<op><>|<=|>=|[=<>+\-.,()\[\]])
""", re.VERBOSE)

_KEYWORDS = {"AND", "OR", "NOT", "BETWEEN", "IN", "SET", "REMOVE", "ADD", "DELETE"}
_CONDITION_FUNCTIONS = {"attribute_exists", "attribute_not_exists", "attribute_type",
                        "begins_with", "contains"}
_UPDATE_FUNCTIONS = {"if_not_exists", "list_append"}
_COMPARATORS = {"=", "<>", "<", "<=", ">", ">="}


class Used:
    """The placeholders the expressions of one request have used."""

    __slots__ = ("names", "values")

    def __init__(self) -> None:
        self.names: set[str] = set()
        self.values: set[str] = set()


class Token:
    __slots__ = ("kind", "pos", "text")

    def __init__(self, kind: str, text: str, pos: int) -> None:
        self.kind, self.text, self.pos = kind, text, pos

    @property
    def upper(self) -> str:
        return self.text.upper() if self.kind == "name" else self.text

    def __repr__(self) -> str:
        return f"{self.text!r}@{self.pos}"


def tokenize(text: str, what: str) -> list[Token]:
    """Split ``text`` into tokens, ending with an ``end`` token.

    Raises:
        ValidationError: a character no token starts with.
    """
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise ValidationError(f"Invalid {what}: Syntax error; token: {text[pos]!r}",
                                  attribute=what, position=pos)
        kind = match.lastgroup or ""
        if kind != "space":
            tokens.append(Token(kind, match.group(), pos))
        pos = match.end()
    tokens.append(Token("end", "<EOF>", len(text)))
    return tokens


class Parser:
    """Parses one expression string with its ``names`` / ``values``."""

    def __init__(self, text: Any, what: str, names: Mapping[str, str] | None,
                 values: Mapping[str, Any] | None, used: Used) -> None:
        if not isinstance(text, str):
            raise ValidationError(f"must be a string, got {type(text).__name__}",
                                  attribute=what)
        if not text.strip():
            raise ValidationError(f"Invalid {what}: The expression can not be empty",
                                  attribute=what)
        self.what = what
        self.names = names if names is not None else {}
        self.values = values if values is not None else {}
        self.used = used
        self.tokens = tokenize(text, what)
        self.i = 0

    # ------------------------------------------------------------ helpers

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def peek(self, offset: int = 1) -> Token:
        return self.tokens[min(self.i + offset, len(self.tokens) - 1)]

    def advance(self) -> Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def error(self, reason: str, tok: Token | None = None) -> ValidationError:
        tok = tok or self.tok
        return ValidationError(f"Invalid {self.what}: {reason}", attribute=self.what,
                               position=tok.pos)

    def syntax(self, tok: Token | None = None) -> ValidationError:
        tok = tok or self.tok
        if tok.kind == "end":
            return self.error("Syntax error; unexpected end of expression", tok)
        return self.error(f"Syntax error; token: {tok.text!r}", tok)

    def expect(self, text: str) -> Token:
        if self.tok.upper != text:
            raise self.error(f"Syntax error; expected {text!r}, got {self.tok.text!r}")
        return self.advance()

    def keyword(self, word: str) -> bool:
        if self.tok.kind == "name" and self.tok.upper == word:
            self.advance()
            return True
        return False

    def finish(self) -> None:
        if self.tok.kind != "end":
            raise self.syntax()

    # -------------------------------------------------------------- paths

    def name_element(self) -> str:
        tok = self.tok
        if tok.kind == "nameref":
            self.advance()
            if tok.text not in self.names:
                raise self.error("An expression attribute name used in the document path is "
                                 f"not defined; attribute name: {tok.text}", tok)
            self.used.names.add(tok.text)
            name = self.names[tok.text]
            if not isinstance(name, str) or not name:
                raise self.error(f"names[{tok.text!r}] must be a non-empty string", tok)
            return name
        if tok.kind == "name":
            if tok.upper in _KEYWORDS:
                raise self.error(f"Syntax error; token: {tok.text!r} is a keyword; use a "
                                 "#name placeholder for an attribute of that name", tok)
            self.advance()
            return tok.text
        raise self.syntax(tok)

    def path(self) -> Path:
        elements: list[Any] = [self.name_element()]
        while True:
            if self.tok.text == ".":
                self.advance()
                elements.append(self.name_element())
            elif self.tok.text == "[":
                self.advance()
                tok = self.tok
                if tok.kind != "number":
                    raise self.error("a list index must be a non-negative integer", tok)
                self.advance()
                self.expect("]")
                elements.append(int(tok.text))
            else:
                return tuple(elements)

    def value_ref(self) -> Any:
        tok = self.tok
        if tok.kind != "valueref":
            raise self.syntax(tok)
        self.advance()
        if tok.text not in self.values:
            raise self.error("An expression attribute value used in expression is not "
                             f"defined; attribute value: {tok.text}", tok)
        self.used.values.add(tok.text)
        return self.values[tok.text]

    # --------------------------------------------------------- conditions

    def condition(self) -> c.Condition:
        cond = self.and_()
        while self.keyword("OR"):
            cond = c.Or(cond, self.and_())
        return cond

    def and_(self) -> c.Condition:
        cond = self.not_()
        while self.keyword("AND"):
            cond = c.And(cond, self.not_())
        return cond

    def not_(self) -> c.Condition:
        if self.keyword("NOT"):
            return c.Not(self.not_())
        return self.primary()

    def primary(self) -> c.Condition:
        tok = self.tok
        if tok.text == "(":
            self.advance()
            cond = self.condition()
            self.expect(")")
            return cond
        if tok.kind == "name" and self.peek().text == "(" and tok.text != "size":
            return self.function()
        left = self.operand()
        op = self.tok
        if op.text in _COMPARATORS:
            self.advance()
            return c.Compare(op.text, left, self.operand())
        if self.keyword("BETWEEN"):
            low = self.operand()
            self.expect("AND")
            return c.Between(left, low, self.operand())
        if self.keyword("IN"):
            self.expect("(")
            choices = [self.operand()]
            while self.tok.text == ",":
                self.advance()
                choices.append(self.operand())
            self.expect(")")
            try:
                return c.In(left, choices)
            except ValidationError as exc:
                raise self.error(exc.reason, op) from None
        raise self.syntax(op)

    def operand(self) -> c.Operand:
        tok = self.tok
        if tok.kind == "valueref":
            return c.ValueOperand(self.value_ref())
        if tok.kind == "name" and self.peek().text == "(":
            if tok.text != "size":
                raise self.error(f"Invalid function name; function: {tok.text}"
                                 if tok.text not in _CONDITION_FUNCTIONS | _UPDATE_FUNCTIONS
                                 else f"The function is not allowed here; function: "
                                      f"{tok.text}", tok)
            self.advance()
            self.expect("(")
            path = self.path()
            self.expect(")")
            return c.SizeOperand(path)
        if tok.kind in ("name", "nameref"):
            return c.PathOperand(self.path())
        raise self.syntax(tok)

    def function(self) -> c.Condition:
        tok = self.advance()
        name = tok.text
        if name not in _CONDITION_FUNCTIONS:
            if name in _UPDATE_FUNCTIONS:
                raise self.error(f"The function is not allowed in a condition; function: "
                                 f"{name}", tok)
            raise self.error(f"Invalid function name; function: {name}", tok)
        self.expect("(")
        path = self.path()
        if name in ("attribute_exists", "attribute_not_exists"):
            self.expect(")")
            return c.Exists(path) if name == "attribute_exists" else c.NotExists(path)
        self.expect(",")
        second = self.operand()
        self.expect(")")
        if name == "attribute_type":
            if not isinstance(second, c.ValueOperand):
                raise self.error("attribute_type needs a :value naming the type", tok)
            try:
                return c.AttributeType(path, second)
            except ValidationError as exc:
                raise self.error(exc.reason, tok) from None
        if name == "begins_with":
            return c.BeginsWith(c.PathOperand(path), second)
        return c.Contains(c.PathOperand(path), second)

    def parse_condition(self) -> c.Condition:
        cond = self.condition()
        self.finish()
        return cond

    # ------------------------------------------------------------- update

    def parse_update(self) -> list[tuple[str, Path, Any, int]]:
        """Returns actions ``(clause, path, operand-or-value, position)`` in
        the order SET, REMOVE, ADD, DELETE."""
        clauses: dict[str, list[tuple[str, Path, Any, int]]] = {}
        while self.tok.kind != "end":
            tok = self.tok
            word = tok.upper if tok.kind == "name" else ""
            if word not in ("SET", "REMOVE", "ADD", "DELETE"):
                raise self.syntax(tok)
            if word in clauses:
                raise self.error(f'The "{word}" section can only be used once in an update '
                                 "expression", tok)
            self.advance()
            actions: list[tuple[str, Path, Any, int]] = []
            while True:
                pos = self.tok.pos
                path = self.path()
                if word == "SET":
                    self.expect("=")
                    actions.append((word, path, self.set_value(), pos))
                elif word == "REMOVE":
                    actions.append((word, path, None, pos))
                else:
                    vtok = self.tok
                    value = self.value_ref()
                    actions.append((word, path, value, vtok.pos))
                if self.tok.text != ",":
                    break
                self.advance()
            clauses[word] = actions
        return [a for word in ("SET", "REMOVE", "ADD", "DELETE") for a in clauses.get(word, [])]

    def set_value(self) -> Any:
        from .update import Arith
        left = self.term()
        if self.tok.text in ("+", "-"):
            op = self.advance()
            return Arith(op.text, left, self.term(), op.pos)
        return left

    def term(self) -> Any:
        from .update import IfNotExists, ListAppend
        tok = self.tok
        if tok.kind == "name" and self.peek().text == "(":
            if tok.text == "if_not_exists":
                self.advance()
                self.expect("(")
                path = self.path()
                self.expect(",")
                fallback = self.term()
                self.expect(")")
                return IfNotExists(path, fallback)
            if tok.text == "list_append":
                self.advance()
                self.expect("(")
                first = self.term()
                self.expect(",")
                second = self.term()
                self.expect(")")
                return ListAppend(first, second, tok.pos)
            if tok.text in _CONDITION_FUNCTIONS or tok.text == "size":
                raise self.error(f"The function is not allowed in an update expression; "
                                 f"function: {tok.text}", tok)
            raise self.error(f"Invalid function name; function: {tok.text}", tok)
        if tok.kind == "valueref":
            return c.ValueOperand(self.value_ref())
        if tok.kind in ("name", "nameref"):
            return c.PathOperand(self.path())
        raise self.syntax(tok)

    # --------------------------------------------------------- projection

    def parse_projection(self) -> list[Path]:
        paths = [self.path()]
        while self.tok.text == ",":
            self.advance()
            paths.append(self.path())
        self.finish()
        return paths


# ------------------------------------------------------------------ caching

_CACHE_SIZE = 1024
_cache: OrderedDict[Any, tuple[Any, frozenset, frozenset]] = OrderedDict()
_cache_lock = threading.Lock()


class _Unhashable(Exception):
    pass


def _freeze(value: Any) -> Any:
    """A hashable, type-exact stand-in for a placeholder value (``True`` and
    ``1`` must not share a cache entry)."""
    cls = value.__class__
    if value is None or cls in (str, int, float, bool, bytes, Decimal):
        return (cls.__name__, value)
    if isinstance(value, (list, tuple)):
        return ("L", tuple(_freeze(v) for v in value))
    if isinstance(value, dict):
        return ("M", tuple(sorted((repr(k), _freeze(v)) for k, v in value.items())))
    if isinstance(value, (set, frozenset)):
        return ("S", frozenset(_freeze(v) for v in value))
    raise _Unhashable()


def parse(kind: str, text: Any, what: str, names: Mapping[str, str] | None,
          values: Mapping[str, Any] | None, used: Used) -> Any:
    """Parse ``text`` as a ``"condition"``, ``"update"`` or ``"projection"``,
    reusing the result of an earlier identical request (same text, names and
    values): a repeated expression is parsed once.

    Raises:
        ValidationError: as :class:`Parser` does (errors are not cached).
    """
    key = None
    if isinstance(text, str) and isinstance(names, (Mapping, type(None))) and isinstance(
            values, (Mapping, type(None))):
        try:
            key = (kind, what, text,
                   None if names is None else tuple(sorted((str(k), _freeze(v))
                                                           for k, v in names.items())),
                   None if values is None else tuple(sorted((str(k), _freeze(v))
                                                            for k, v in values.items())))
        except (_Unhashable, TypeError):
            key = None
    if key is not None:
        with _cache_lock:
            hit = _cache.get(key)
            if hit is not None:
                _cache.move_to_end(key)
        if hit is not None:
            result, used_names, used_values = hit
            used.names.update(used_names)
            used.values.update(used_values)
            return result
        # The tree keeps the values it was parsed with: give it its own copy,
        # so a caller mutating theirs later cannot change a cached tree.
        values = copy.deepcopy(values)
    record = Used()
    parser = Parser(text, what, names, values, record)
    if kind == "condition":
        result = parser.parse_condition()
    elif kind == "update":
        result = parser.parse_update()
    else:
        result = parser.parse_projection()
    used.names.update(record.names)
    used.values.update(record.values)
    if key is not None:
        with _cache_lock:
            _cache[key] = (result, frozenset(record.names), frozenset(record.values))
            if len(_cache) > _CACHE_SIZE:
                _cache.popitem(last=False)
    return result
