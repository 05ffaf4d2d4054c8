"""A recursive-descent parser for DynamoDB's expression strings, checking them
as DynamoDB does.

Grammar (keywords case-insensitive, function names as DynamoDB spells them),
from "Condition and filter expressions, operators, and functions"
(https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Expressions.OperatorsAndFunctions.html)
and "Using update expressions"
(https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Expressions.UpdateExpressions.html)::

    condition  := or
    or         := and ("OR" and)*
    and        := not ("AND" not)*
    not        := "NOT" not | primary
    primary    := "(" condition ")"
                | function "(" operand ("," operand)* ")"   # attribute_exists...
                | operand comparator operand
                | operand "BETWEEN" operand "AND" operand
                | operand "IN" "(" operand ("," operand)* ")"
    operand    := path | ":value" | "size" "(" path ")" | "(" operand ")"
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

Checks run in DynamoDB's order: the size limit (4 KB), then syntax (an
:class:`ExpressionSyntaxError`, ``Syntax error; token: "=", near: "n = 1"``),
then, on an expression that parsed, redundant parentheses, function names,
function use, reserved words, undefined ``#names`` / ``:values``, operand
counts, operand types, distinct operands, and ``BETWEEN`` bounds (dynalite's
tests, run against DynamoDB, record this order). Every error is a
:class:`~dynafile.errors.ValidationError` whose ``reason`` is DynamoDB's
message and whose ``position`` is the 0-based offset of the offending token.
"""

from __future__ import annotations

import base64
import copy
import re
import threading
from collections import OrderedDict
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from ..errors import ValidationError
from ..types import MISSING, compare, number_text, size_of, type_name, validate_value
from . import conditions as c
from .paths import Path
from .reserved import RESERVED_WORDS

__all__ = ["MAX_EXPRESSION_BYTES", "ExpressionSyntaxError", "Parser", "Used", "describe", "parse",
           "tokenize"]

#: The longest expression string DynamoDB takes, in UTF-8 bytes, before
#: placeholders are substituted ("Expression parameters" in
#: https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html).
MAX_EXPRESSION_BYTES = 4096

_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<nameref>\#[A-Za-z0-9_]+)
  | (?P<valueref>:[A-Za-z0-9_]+)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<number>\d+)
  | (?P<literal>'[^']*'?|"[^"]*"?)
  | (?P<op><>|<=|>=|[=<>+\-.,()\[\]])
  | (?P<bad>.)
""", re.VERBOSE | re.DOTALL)

_CLAUSES = ("SET", "REMOVE", "ADD", "DELETE")
_CONDITION_FUNCTIONS = {"attribute_exists": 1, "attribute_not_exists": 1, "attribute_type": 2,
                        "begins_with": 2, "contains": 2, "size": 1}
_UPDATE_FUNCTIONS = {"if_not_exists": 2, "list_append": 2}
_COMPARATORS = {"=", "<>", "<", "<=", ">", ">="}
_ORDERED = ("N", "S", "B")

# The order DynamoDB reports semantic errors in (lowest first).
_PARENS, _FUNCTION_NAME, _FUNCTION_USE, _RESERVED, _NAME, _VALUE = 1, 2, 3, 4, 5, 6
_OPERAND_COUNT, _OPERAND_TYPE, _DOCUMENT_PATH, _DISTINCT, _BETWEEN, _OTHER = 7, 8, 9, 10, 11, 12

_PLACEHOLDER_HINT = ('values in an expression are :placeholders: write "n = :n" with '
                     'values={":n": 1}')


class ExpressionSyntaxError(ValidationError):
    """An expression string is not in DynamoDB's grammar
    (``Invalid ConditionExpression: Syntax error; token: "1", near: "= 1"``)."""


class Used:
    """The placeholders the expressions of one request have used."""

    __slots__ = ("names", "values")

    def __init__(self) -> None:
        self.names: set[str] = set()
        self.values: set[str] = set()


class Token:
    __slots__ = ("end", "kind", "pos", "text")

    def __init__(self, kind: str, text: str, pos: int) -> None:
        self.kind, self.text, self.pos, self.end = kind, text, pos, pos + len(text)

    @property
    def upper(self) -> str:
        return self.text.upper() if self.kind == "name" else self.text

    def __repr__(self) -> str:
        return f"{self.text!r}@{self.pos}"


def tokenize(text: str) -> list[Token]:
    """Split ``text`` into tokens, ending with an ``end`` token. Characters no
    token starts with become ``bad`` tokens, which the parser reports as a
    syntax error where it meets them. O(len(text))."""
    tokens: list[Token] = []
    for match in _TOKEN.finditer(text):
        kind = match.lastgroup or "bad"
        if kind != "space":
            tokens.append(Token(kind, match.group(), match.start()))
    tokens.append(Token("end", "<EOF>", len(text)))
    return tokens


class _Call:
    """A parsed function call, before it is known how it is used."""

    __slots__ = ("args", "name", "tok")

    def __init__(self, tok: Token, args: list[Any]) -> None:
        self.tok, self.name, self.args = tok, tok.text, args


def describe(value: Any) -> str:
    """A scalar as DynamoDB prints it in messages: ``AttributeValue: {N:5}``,
    ``{S:a}``, ``{B:YQ==}`` (base64)."""
    kind = type_name(value)
    if kind == "N":
        text = number_text(value)
    elif kind == "B":
        text = base64.b64encode(bytes(value)).decode("ascii")
    else:
        text = str(value)
    return f"AttributeValue: {{{kind}:{text}}}"


def _path_list(path: Path) -> str:
    """A path as DynamoDB prints it in messages: ``[ab, bc, [1], a]``."""
    return "[" + ", ".join(f"[{e}]" if isinstance(e, int) else e for e in path) + "]"


class Parser:
    """Parses one expression string with its ``names`` / ``values``.

    Use :func:`parse`, which caches; a Parser is for one call.
    """

    def __init__(self, text: Any, what: str, names: Mapping[str, str] | None,
                 values: Mapping[str, Any] | None, used: Used) -> None:
        if not isinstance(text, str):
            raise ValidationError(f"must be a string, got {type(text).__name__}",
                                  attribute=what)
        if not text.strip():
            raise ValidationError(f"Invalid {what}: The expression can not be empty;",
                                  attribute=what)
        size = len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))
        if size > MAX_EXPRESSION_BYTES:
            raise ValidationError(
                f"Invalid {what}: Expression size has exceeded the maximum allowed size",
                attribute=what, hint=f"{size} bytes, over DynamoDB's {MAX_EXPRESSION_BYTES}")
        self.text = text
        self.what = what
        self.names = names if names is not None else {}
        self.values = values if values is not None else {}
        self.used = used
        self.tokens = tokenize(text)
        self.i = 0
        self.deferred: dict[int, ValidationError] = {}
        self.wrapped: dict[int, Any] = {}  # id -> node: nodes a "(...)" produced
        self.failed: dict[tuple[str, int], ExpressionSyntaxError] = {}

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

    def error(self, reason: str, tok: Token | None = None, hint: str | None = None
              ) -> ValidationError:
        tok = tok or self.tok
        return ValidationError(f"Invalid {self.what}: {reason}", attribute=self.what,
                               position=tok.pos, hint=hint)

    def defer(self, rank: int, reason: str, tok: Token, hint: str | None = None) -> None:
        """Record a semantic error; the first of the lowest rank is raised once
        the whole expression has parsed."""
        if rank not in self.deferred:
            self.deferred[rank] = self.error(reason, tok, hint)

    def syntax(self, tok: Token | None = None) -> ExpressionSyntaxError:
        """DynamoDB's syntax error: the token and the text from the token
        before it to the token after it."""
        tok = tok or self.tok
        index = self.tokens.index(tok)
        start = self.tokens[index - 1].pos if index else tok.pos
        after = self.tokens[index + 1] if index + 1 < len(self.tokens) else tok
        end = after.end if after.kind != "end" else tok.end
        near = self.text[start:end].rstrip()
        hint = None
        if tok.kind in ("number", "literal"):
            hint = _PLACEHOLDER_HINT
        elif tok.kind == "bad" and tok.text in "!=~$/&|":
            hint = 'comparisons are = <> < <= > >=, combined with AND, OR and NOT'
        return ExpressionSyntaxError(
            f'Invalid {self.what}: Syntax error; token: "{tok.text}", near: "{near}"',
            attribute=self.what, position=tok.pos, hint=hint)

    def expect(self, text: str) -> Token:
        if self.tok.upper != text:
            raise self.syntax()
        return self.advance()

    def keyword(self, word: str) -> bool:
        if self.tok.kind == "name" and self.tok.upper == word:
            self.advance()
            return True
        return False

    def finish(self) -> None:
        """Require the end of the text, then raise the first semantic error."""
        if self.tok.kind != "end":
            raise self.syntax()
        if self.deferred:
            raise self.deferred[min(self.deferred)]

    def wrap(self, node: Any, tok: Token) -> Any:
        """Note ``node`` as parenthesised; parentheses around parentheses are
        DynamoDB's "redundant parentheses"."""
        if id(node) in self.wrapped:
            self.defer(_PARENS, "The expression has redundant parentheses;", tok)
        self.wrapped[id(node)] = node
        return node

    # -------------------------------------------------------------- paths

    def name_element(self) -> str:
        tok = self.tok
        if tok.kind == "nameref":
            self.advance()
            if tok.text not in self.names:
                self.defer(_NAME, "An expression attribute name used in the document path is "
                                  f"not defined; attribute name: {tok.text}", tok)
                return tok.text
            self.used.names.add(tok.text)
            name = self.names[tok.text]
            if not isinstance(name, str) or not name:
                raise self.error(f"ExpressionAttributeNames contains invalid value: the name "
                                 f"for key {tok.text} must be a non-empty string", tok)
            return name
        if tok.kind == "name":
            if tok.upper in RESERVED_WORDS:
                self.defer(_RESERVED, "Attribute name is a reserved keyword; reserved keyword: "
                                      f"{tok.text}", tok,
                           hint=f'use a #name placeholder: "#{tok.text}" with '
                                f'names={{"#{tok.text}": "{tok.text}"}}')
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
                    raise self.syntax(tok)
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
            self.defer(_VALUE, "An expression attribute value used in expression is not "
                               f"defined; attribute value: {tok.text}", tok)
            return MISSING
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

    def _attempt(self, kind: str, parse: Any) -> Any:
        """Run ``parse`` from the current token; on a syntax error restore the
        parser and raise it. Failures are remembered per position, so
        alternatives never retry a failed span (no exponential backtracking)."""
        key = (kind, self.i)
        if key in self.failed:
            raise self.failed[key]
        saved = (self.i, dict(self.deferred), dict(self.wrapped))
        try:
            return parse()
        except ExpressionSyntaxError as error:
            self.i, self.deferred, self.wrapped = saved[0], saved[1], saved[2]
            self.failed[key] = error
            raise

    def primary(self) -> c.Condition:
        tok = self.tok
        if tok.text != "(":
            return self.comparison()

        def group() -> c.Condition:
            self.advance()
            inner = self.condition()
            self.expect(")")
            return inner
        try:
            inner = self._attempt("group", group)
        except ExpressionSyntaxError as as_group:
            # Not a parenthesised condition: perhaps "(a) = :v".
            try:
                return self._attempt("comparison", self.comparison)
            except ExpressionSyntaxError as as_operand:
                raise max(as_group, as_operand, key=lambda e: e.position or 0) from None
        return self.wrap(inner, tok)

    def operand(self) -> Any:
        """A path, a value, a function call (a :class:`_Call`), or an operand in
        parentheses."""
        tok = self.tok
        if tok.kind == "valueref":
            return c.ValueOperand(self.value_ref())
        if tok.kind == "name" and self.peek().text == "(":
            return self.call()
        if tok.kind in ("name", "nameref"):
            return c.PathOperand(self.path())
        if tok.text == "(":
            self.advance()
            inner = self.operand()
            self.expect(")")
            return self.wrap(inner, tok)
        raise self.syntax(tok)

    def call(self) -> _Call:
        tok = self.advance()
        self.expect("(")
        args = [self.operand()]
        while self.tok.text == ",":
            self.advance()
            args.append(self.operand())
        self.expect(")")
        if tok.text not in _CONDITION_FUNCTIONS and tok.text not in _UPDATE_FUNCTIONS:
            self.defer(_FUNCTION_NAME, f"Invalid function name; function: {tok.text}", tok)
        return _Call(tok, args)

    def misuse(self, call: _Call) -> c.Operand:
        self.defer(_FUNCTION_USE, "The function is not allowed to be used this way in an "
                                  f"expression; function: {call.name}", call.tok)
        return c.ValueOperand(MISSING)

    def arity(self, call: _Call, expected: int) -> bool:
        if len(call.args) != expected:
            self.defer(_OPERAND_COUNT, "Incorrect number of operands for operator or function; "
                                       f"operator or function: {call.name}, number of operands: "
                                       f"{len(call.args)}", call.tok)
            return False
        return True

    def value_type(self, operand: Any, function: str, allowed: tuple[str, ...],
                   tok: Token) -> None:
        """Defer DynamoDB's operand type error for a value of another type."""
        if isinstance(operand, c.ValueOperand) and operand.constant is not MISSING:
            kind = type_name(operand.constant)
            if kind not in allowed:
                self.defer(_OPERAND_TYPE, "Incorrect operand type for operator or function; "
                                          f"operator or function: {function}, operand type: "
                                          f"{kind}", tok)
        elif isinstance(operand, c.SizeOperand) and "N" not in allowed:
            self.defer(_OPERAND_TYPE, "Incorrect operand type for operator or function; "
                                      f"operator or function: {function}, operand type: N", tok)

    def needs_path(self, operand: Any, function: str, tok: Token) -> Path | None:
        if isinstance(operand, c.PathOperand):
            return operand.path
        self.defer(_DOCUMENT_PATH, "Operator or function requires a document path; operator "
                                   f"or function: {function}", tok)
        return None

    def distinct(self, first: Any, others: list[Any], function: str, tok: Token) -> None:
        if isinstance(first, c.PathOperand) and any(
                isinstance(o, c.PathOperand) and o.path == first.path for o in others):
            self.defer(_DISTINCT, "The first operand must be distinct from the remaining "
                                  f"operands for this operator or function; operator: "
                                  f"{function}, first operand: {_path_list(first.path)}", tok)

    def as_operand(self, node: Any) -> c.Operand:
        """An operand; a function call is ``size(...)`` or a misuse."""
        if not isinstance(node, _Call):
            return node  # type: ignore[no-any-return]
        if node.name != "size":
            if node.name in _CONDITION_FUNCTIONS or node.name in _UPDATE_FUNCTIONS:
                return self.misuse(node)
            return c.ValueOperand(MISSING)  # an unknown function, already reported
        if not self.arity(node, 1):
            return c.ValueOperand(MISSING)
        arg = self.as_operand(node.args[0])
        if isinstance(arg, c.PathOperand):
            return c.SizeOperand(arg.path)
        self.value_type(arg, "size", ("S", "B", "SS", "NS", "BS", "L", "M"), node.tok)
        if isinstance(arg, c.ValueOperand):
            return c.ValueOperand(size_of(arg.constant))
        return c.ValueOperand(MISSING)

    def comparison(self) -> c.Condition:
        start = self.tok
        left = self.operand()
        op = self.tok
        if op.text in _COMPARATORS:
            self.advance()
            a, b = self.as_operand(left), self.as_operand(self.operand())
            if op.text not in ("=", "<>"):
                self.value_type(a, op.text, _ORDERED, op)
                self.value_type(b, op.text, _ORDERED, op)
            self.distinct(a, [b], op.text, start)
            return c.Compare(op.text, a, b)
        if self.keyword("BETWEEN"):
            low = self.operand()
            self.expect("AND")
            high = self.operand()
            x, lo, hi = self.as_operand(left), self.as_operand(low), self.as_operand(high)
            for bound in (x, lo, hi):
                self.value_type(bound, "BETWEEN", _ORDERED, op)
            self.bounds(lo, hi, op)
            return c.Between(x, lo, hi)
        if self.keyword("IN"):
            self.expect("(")
            choices = [self.operand()]
            while self.tok.text == ",":
                self.advance()
                choices.append(self.operand())
            self.expect(")")
            if len(choices) > 100:
                self.defer(_OPERAND_COUNT, "Incorrect number of operands for operator or "
                                           f"function; operator or function: IN, number of "
                                           f"operands: {len(choices) + 1}", op)
                choices = choices[:100]
            return c.In(self.as_operand(left), [self.as_operand(x) for x in choices])
        if isinstance(left, _Call):
            return self.function(left)
        raise self.syntax(op)

    def bounds(self, lo: c.Operand, hi: c.Operand, tok: Token) -> None:
        if not (isinstance(lo, c.ValueOperand) and isinstance(hi, c.ValueOperand)):
            return
        a, b = lo.constant, hi.constant
        if a is MISSING or b is MISSING or type_name(a) not in _ORDERED:
            return
        if type_name(a) != type_name(b):
            self.defer(_BETWEEN, "The BETWEEN operator requires same data type for lower and "
                                 f"upper bounds; lower bound operand: {describe(a)}, upper "
                                 f"bound operand: {describe(b)}", tok)
        elif (compare(a, b) or 0) > 0:
            self.defer(_BETWEEN, "The BETWEEN operator requires upper bound to be greater than "
                                 f"or equal to lower bound; lower bound operand: {describe(a)}, "
                                 f"upper bound operand: {describe(b)}", tok)

    def function(self, call: _Call) -> c.Condition:
        """A function call standing as a condition."""
        name, tok = call.name, call.tok
        dummy: c.Condition = c.Exists(("",))
        if name not in _CONDITION_FUNCTIONS or name == "size":
            if name in _CONDITION_FUNCTIONS or name in _UPDATE_FUNCTIONS:
                self.misuse(call)
            return dummy
        if not self.arity(call, _CONDITION_FUNCTIONS[name]):
            return dummy
        args = [self.as_operand(a) for a in call.args]
        if name in ("attribute_exists", "attribute_not_exists"):
            path = self.needs_path(args[0], name, tok)
            if path is None:
                return dummy
            return c.Exists(path) if name == "attribute_exists" else c.NotExists(path)
        first, second = args
        self.distinct(first, [second], name, tok)
        if name == "attribute_type":
            self.value_type(second, name, ("S",), tok)
            path = self.needs_path(first, name, tok)
            if isinstance(second, c.ValueOperand):
                if type_name(second.constant) != "S":
                    return dummy
                problem = c.type_name_error(second.constant)
                if problem is not None:
                    self.defer(_OTHER, problem, tok)
                    return dummy
            return dummy if path is None else c.AttributeType(path, second)
        if name == "begins_with":
            self.value_type(first, name, ("S", "B"), tok)
            self.value_type(second, name, ("S", "B"), tok)
            return c.BeginsWith(first, second)
        return c.Contains(first, second)

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
            if word not in _CLAUSES:
                error = self.syntax(tok)
                if not clauses and error.hint is None:
                    error.hint = "an update expression is clauses: SET a = :v, REMOVE b, ADD n :one, DELETE s :x"
                raise error
            if word in clauses:
                raise self.error(f'The "{word}" section can only be used once in an update '
                                 "expression;", tok)
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
        self.finish()
        return [a for word in _CLAUSES for a in clauses.get(word, [])]

    def set_value(self) -> Any:
        from .update import Arith
        left = self.term()
        if self.tok.text in ("+", "-"):
            op = self.advance()
            return Arith(op.text, left, self.term(), op.pos)
        return left

    def term(self) -> Any:
        tok = self.tok
        if tok.kind == "name" and self.peek().text == "(":
            return self.update_call(self.call())
        if tok.kind == "valueref":
            return c.ValueOperand(self.value_ref())
        if tok.kind in ("name", "nameref"):
            return c.PathOperand(self.path())
        raise self.syntax(tok)

    def update_call(self, call: _Call) -> Any:
        from .update import IfNotExists, ListAppend
        name, tok = call.name, call.tok
        dummy = c.ValueOperand(MISSING)
        if name not in _UPDATE_FUNCTIONS:
            if name in _CONDITION_FUNCTIONS:
                self.defer(_FUNCTION_USE, "The function is not allowed in an update "
                                          f"expression; function: {name}", tok)
            return dummy
        if not self.arity(call, 2):
            return dummy
        args = [self.update_call(a) if isinstance(a, _Call) else a for a in call.args]
        if name == "if_not_exists":
            path = self.needs_path(args[0], name, tok)
            return dummy if path is None else IfNotExists(path, args[1])
        return ListAppend(args[0], args[1], tok.pos)

    # --------------------------------------------------------- projection

    def parse_projection(self) -> list[Path]:
        paths = [self.path()]
        while self.tok.text == ",":
            self.advance()
            paths.append(self.path())
        self.finish()
        return paths


# ------------------------------------------------------------ placeholders

_PLACEHOLDER = {"#": re.compile(r"#[A-Za-z0-9_]+\Z"), ":": re.compile(r":[A-Za-z0-9_]+\Z")}


def check_placeholder_keys(mapping: Any, prefix: str, what: str) -> None:
    """Check the keys of ``names`` (prefix ``#``) or ``values`` (``:``).

    Raises:
        ValidationError: not a dict, or a key DynamoDB refuses
            (``ExpressionAttributeValues contains invalid key: Syntax error;
            key: "v"``), with a hint for a missing ``:`` / ``#``.
    """
    dynamo = "ExpressionAttributeNames" if prefix == "#" else "ExpressionAttributeValues"
    if not isinstance(mapping, Mapping):
        raise ValidationError(f"must be a dict, got {type(mapping).__name__}", attribute=what)
    pattern = _PLACEHOLDER[prefix]
    for key in mapping:
        if not isinstance(key, str) or not pattern.match(key):
            hint = None
            if isinstance(key, str) and re.match(r"[A-Za-z0-9_]+\Z", key):
                hint = f'placeholders start with "{prefix}": {what}={{"{prefix}{key}": ...}}'
            raise ValidationError(f'{dynamo} contains invalid key: Syntax error; key: "{key}"',
                                  attribute=what, hint=hint)


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


def _checked_values(values: Mapping[str, Any]) -> dict[str, Any]:
    """The placeholder values checked as DynamoDB checks item values, in stored
    form, and copied (a caller mutating theirs later changes nothing)."""
    return {key: copy.deepcopy(validate_value(value, path=key)) for key, value in values.items()}


def parse(kind: str, text: Any, what: str, names: Mapping[str, str] | None,
          values: Mapping[str, Any] | None, used: Used) -> Any:
    """Parse ``text`` as a ``"condition"``, ``"update"`` or ``"projection"``,
    reusing the result of an earlier identical request (same text, names and
    values): a repeated expression is parsed once.

    ``names`` and ``values`` are checked first (placeholder keys, and values
    as DynamoDB checks item values: types, numbers, sets, nesting).

    Raises:
        ExpressionSyntaxError: the text is not in DynamoDB's grammar.
        ValidationError: any other problem, with DynamoDB's message (errors
            are not cached).

    Cost: a dictionary lookup when cached; O(len(text)) otherwise.
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
            hash(key)  # a signalling NaN cannot be hashed
        except (_Unhashable, TypeError, RecursionError):
            key = None  # not cached: validation below says what is wrong
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
    if names is not None:
        check_placeholder_keys(names, "#", "names")
    if values is not None:
        check_placeholder_keys(values, ":", "values")
        values = _checked_values(values)
    record = Used()
    parser = Parser(text, what, names, values, record)
    try:
        if kind == "condition":
            result = parser.parse_condition()
        elif kind == "update":
            result = parser.parse_update()
        else:
            result = parser.parse_projection()
    except RecursionError:
        raise ValidationError(f"Invalid {what}: The expression is nested too deeply",
                              attribute=what) from None
    used.names.update(record.names)
    used.values.update(record.values)
    if key is not None:
        with _cache_lock:
            _cache[key] = (result, frozenset(record.names), frozenset(record.values))
            if len(_cache) > _CACHE_SIZE:
                _cache.popitem(last=False)
    return result
