"""One request's expressions, as DynamoDB takes them.

Every form the file backend accepts is checked by dynafile's own expression
code first (:mod:`dynafile.expressions`: the same grammar, messages and
placeholder rules), then sent in the form DynamoDB runs:

* a DynamoDB expression string is sent as written, with exactly the
  ``names`` / ``values`` placeholders it uses (DynamoDB refuses a request
  that carries placeholders no sent expression uses; dynafile refuses ones
  no expression of the request uses, as the file backend does);
* a ``Key`` / ``Attr`` builder condition, a ``sk=`` / ``starts_with=``
  sort-key condition and the plain update form (``set=``, ``remove=``,
  ``add=``, ``delete=``) are rendered as expression text with placeholders
  of their own (``#dfc0``, ``:dfc0``...);
* a callable or a filtration string cannot run in DynamoDB: as a query or
  scan filter it runs here, on each item DynamoDB returns (see
  :mod:`dynafile.remote.reads` for what that costs); as a write condition
  it is refused.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Callable

from ..errors import ValidationError
from ..expressions import (
    Condition,
    ExpressionSyntaxError,
    KeyCondition,
    Used,
    check_placeholders,
    compile_update,
    to_predicate,
)
from ..expressions.conditions import Renderer, ValueOperand
from ..expressions.parser import parse
from ..expressions.paths import Path, parse_plain_path
from .values import check_value, item_to_wire

__all__ = ["Request"]

Item = dict[str, Any]


class _Placeholders(Renderer):
    """A renderer whose placeholders cannot be mistaken for a user's."""

    def __init__(self, prefix: str) -> None:
        super().__init__(f"df{prefix}")


class Request:
    """The expressions of one request and the placeholders they use.

    Args:
        names / values: the caller's ``names`` / ``values`` placeholders,
            shared by every expression of the request.
    """

    def __init__(self, names: Mapping[str, str] | None = None,
                 values: Mapping[str, Any] | None = None) -> None:
        self.user_names = names
        self.user_values = values
        self.used = Used()
        self.names: dict[str, str] = {}
        self.values: dict[str, Any] = {}

    # ------------------------------------------------------------ plumbing

    def _merge(self, names: Mapping[str, str], values: Mapping[str, Any]) -> None:
        for key, name in names.items():
            if self.names.setdefault(key, name) != name:
                raise ValidationError(f"the placeholder {key} names two attributes",
                                      attribute="names")
        for key, value in values.items():
            self.values[key] = check_value(value, key)

    def _user(self, kind: str, text: str, what: str) -> str:
        """Check a user's expression string (DynamoDB's grammar) and take
        the placeholders it uses. Raises ExpressionSyntaxError when the
        text is not in the grammar."""
        used = Used()
        parse(kind, text, what, self.user_names, self.user_values, used)
        self.used.names |= used.names
        self.used.values |= used.values
        names = self.user_names or {}
        values = self.user_values or {}
        self._merge({k: names[k] for k in used.names}, {k: values[k] for k in used.values})
        return text

    def _render(self, cond: Condition, prefix: str) -> str:
        renderer = _Placeholders(prefix)
        text = cond.render(renderer)
        self._merge(renderer.names, renderer.values)
        return text

    def finish(self, request: dict[str, Any]) -> dict[str, Any]:
        """Check that the caller's placeholders were all used (as the file
        backend does) and add the ones to send to ``request``."""
        check_placeholders(self.user_names, self.user_values, self.used)
        if self.names:
            request["ExpressionAttributeNames"] = dict(self.names)
        if self.values:
            request["ExpressionAttributeValues"] = item_to_wire(self.values)
        return request

    # --------------------------------------------------------- expressions

    def condition(self, spec: Any, what: str = "ConditionExpression") -> str:
        """A write's condition, as DynamoDB text.

        Raises:
            ValidationError: a bad expression, or a callable or filtration
                string (it cannot run inside DynamoDB, where the condition
                must be checked atomically with the write).
        """
        if isinstance(spec, Condition):
            return self._render(spec, "c")
        if isinstance(spec, str):
            try:
                return self._user("condition", spec, what)
            except ExpressionSyntaxError:
                # the file backend's answer for neither grammar, else refuse filtration
                to_predicate(spec, self.user_names, self.user_values, used=Used(), what=what)
        elif not callable(spec):
            to_predicate(spec, self.user_names, self.user_values, used=Used(), what=what)
        raise ValidationError(
            "a write condition on DynamoDB must be an Attr/Key condition or a DynamoDB "
            "expression string: DynamoDB checks it atomically with the write, and a callable "
            "or a filtration string cannot run there", attribute=what)

    def filter(self, spec: Any) -> tuple[str | None, Callable[[Item], bool] | None]:
        """A query or scan filter: ``(FilterExpression, None)`` to run in
        DynamoDB, or ``(None, predicate)`` to run here (callables and
        filtration strings).

        Raises:
            ValidationError: a string in neither grammar, or a bad expression.
        """
        what = "FilterExpression"
        if isinstance(spec, Condition):
            return self._render(spec, "f"), None
        if isinstance(spec, str):
            try:
                return self._user("condition", spec, what), None
            except ExpressionSyntaxError:
                return None, to_predicate(spec, self.user_names, self.user_values,
                                          used=self.used, what=what)
        return None, to_predicate(spec, self.user_names, self.user_values, used=self.used,
                                  what=what)

    def key_condition(self, pk_name: str, pk: Any, sk: KeyCondition | None) -> str:
        """The KeyConditionExpression of a partition key value and an
        optional sort-key condition."""
        cond: Condition = KeyCondition(pk_name, "eq", (pk,))
        if sk is not None:
            cond = cond & sk
        return self._render(cond, "k")

    def user_key_condition(self, spec: Any) -> None:
        """Note the placeholders a caller's key condition string uses (it is
        re-rendered from its parsed parts: see :meth:`key_condition`)."""
        if isinstance(spec, str):
            used = Used()
            parse("condition", spec, "KeyConditionExpression", self.user_names,
                  self.user_values, used)
            self.used.names |= used.names
            self.used.values |= used.values

    def projection(self, spec: None | str | Sequence[str],
                   extra: Iterable[str] = ()) -> str | None:
        """A ProjectionExpression (``None``: whole items); ``extra`` top-level
        attributes are added (keys a batch read needs to match its answers).

        Raises:
            ValidationError: a bad projection.
        """
        if spec is None:
            return None
        more = [a for a in extra]
        if isinstance(spec, str):
            text = self._user("projection", spec, "ProjectionExpression")
            if more:
                renderer = _Placeholders("x")
                text = ", ".join([text, *(renderer.path((a,)) for a in more)])
                self._merge(renderer.names, {})
            return text
        if not isinstance(spec, (list, tuple)) or not spec:
            raise ValidationError("must be a list of paths or an expression string",
                                  attribute="ProjectionExpression")
        renderer = _Placeholders("p")
        parts: list[str] = []
        names = self.user_names or {}
        seen: set[Path] = set()
        for entry in spec:
            if isinstance(entry, str) and entry.startswith("#") and entry in names:
                self.used.names.add(entry)
                path: Path = (names[entry],)
            else:
                path = parse_plain_path(entry, attribute="ProjectionExpression")
            seen.add(path)
            parts.append(renderer.path(path))
        for name in more:
            if (name,) not in seen:
                parts.append(renderer.path((name,)))
        self._merge(renderer.names, {})
        return ", ".join(parts)

    def update(self, update: str | None, *, key_names: Iterable[str],
               set: Mapping[str, Any] | None = None, remove: Iterable[str] | None = None,
               add: Mapping[str, Any] | None = None,
               delete: Mapping[str, Any] | None = None) -> tuple[str, Any]:
        """The UpdateExpression of an update (expression or plain form; ``""``
        for none) and its compiled plan (dynafile's, for images computed here).

        Raises:
            ValidationError: a bad expression, both forms, or an update of a
                key attribute (the file backend's messages).
        """
        used = Used()
        plan = compile_update(update, self.user_names, self.user_values, used=used, set=set,
                              remove=remove, add=add, delete=delete)
        for name in key_names:
            if name in plan.top_level_attributes:
                raise ValidationError(
                    f"Cannot update attribute {name}. This attribute is part of the key",
                    attribute=name)
        if update is not None:
            return self._user("update", update, "UpdateExpression"), plan
        renderer = _Placeholders("u")
        clauses: dict[str, list[str]] = {}
        for clause, path, operand, _ in plan.actions:
            target = renderer.path(path)
            if clause == "SET":
                value = operand.constant if isinstance(operand, ValueOperand) else operand
                clauses.setdefault(clause, []).append(f"{target} = {renderer.value(value)}")
            elif clause == "REMOVE":
                clauses.setdefault(clause, []).append(target)
            else:
                clauses.setdefault(clause, []).append(f"{target} {renderer.value(operand)}")
        if not clauses:
            return "", plan  # no UpdateExpression: DynamoDB creates the key-only item
        self._merge(renderer.names, renderer.values)
        return " ".join(f"{c} {', '.join(parts)}" for c, parts in clauses.items()), plan
