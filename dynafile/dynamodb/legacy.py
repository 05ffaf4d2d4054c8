"""DynamoDB's legacy parameters, translated to expressions.

``Expected``, ``KeyConditions``, ``QueryFilter``, ``ScanFilter`` (each with
``ConditionalOperator``), ``AttributesToGet`` and ``AttributeUpdates``
predate expressions; DynamoDB still takes them. Each becomes the expression
string it means, with generated ``#lN`` / ``:lN`` placeholders, and goes
through the same native API as a request written with expressions.

A request may not mix the two forms (DynamoDB's "Can not use both expression
and non-expression parameters in the same request").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..types import type_name
from .errors import Validation

__all__ = ["Placeholders", "check_forms", "conditions", "expected", "projection", "updates"]

_INVALID = "One or more parameter values were invalid: "
_ARITY = {"EQ": 1, "NE": 1, "LE": 1, "LT": 1, "GE": 1, "GT": 1, "CONTAINS": 1,
          "NOT_CONTAINS": 1, "BEGINS_WITH": 1, "NOT_NULL": 0, "NULL": 0, "BETWEEN": 2}
_COMPARE = {"EQ": "=", "NE": "<>", "LE": "<=", "LT": "<", "GE": ">=", "GT": ">"}
_ORDERED = {"LE", "LT", "GE", "GT", "BETWEEN"}


class Placeholders:
    """Generated ``#lN`` names and ``:lN`` values for one request."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}
        self.values: dict[str, Any] = {}

    def name(self, attribute: str) -> str:
        """A placeholder for attribute name ``attribute`` (one per name)."""
        for key, value in self.names.items():
            if value == attribute:
                return key
        key = f"#l{len(self.names)}"
        self.names[key] = attribute
        return key

    def path(self, attribute: str) -> str:
        """A placeholder path for a top-level attribute (legacy names are never paths)."""
        return self.name(attribute)

    def value(self, value: Any) -> str:
        """A placeholder for ``value``."""
        key = f":l{len(self.values)}"
        self.values[key] = value
        return key


def check_forms(data: Mapping[str, Any], legacy: Sequence[str],
                expressions: Sequence[str]) -> bool:
    """Return whether ``data`` uses legacy parameters.

    Raises:
        Validation: both forms at once, or ExpressionAttributeNames/Values
            without an expression.
    """
    old = [name for name in legacy if name in data]
    new = [name for name in expressions if name in data]
    if old and new:
        raise Validation("Can not use both expression and non-expression parameters in the same "
                         f"request: Non-expression parameters: {{{', '.join(old)}}} "
                         f"Expression parameters: {{{', '.join(new)}}}")
    if not new:
        if "ExpressionAttributeNames" in data:
            raise Validation("ExpressionAttributeNames can only be specified when using "
                             "expressions")
        if "ExpressionAttributeValues" in data:
            raise Validation("ExpressionAttributeValues can only be specified when using "
                             "expressions")
    return bool(old)


def _operand_type_check(operator: str, values: list[Any]) -> None:
    for value in values:
        kind = type_name(value)
        allowed = ("S", "N", "B") if operator in _ORDERED or operator in (
            "CONTAINS", "NOT_CONTAINS") else ("S", "B") if operator == "BEGINS_WITH" else None
        if allowed is not None and kind not in allowed:
            raise Validation(f"{_INVALID}ComparisonOperator {operator} is not valid for {kind} "
                             "AttributeValue type")


def _comparison(attribute: str, operator: str, values: list[Any], ph: Placeholders) -> str:
    count = len(values)
    expected_count = _ARITY.get(operator)
    if (operator == "IN" and count == 0) or (expected_count is not None
                                             and count != expected_count):
        raise Validation(f"{_INVALID}Invalid number of argument(s) for the {operator} "
                         "ComparisonOperator")
    _operand_type_check(operator, values)
    path = ph.path(attribute)
    if operator in _COMPARE:
        return f"{path} {_COMPARE[operator]} {ph.value(values[0])}"
    if operator == "NOT_NULL":
        return f"attribute_exists({path})"
    if operator == "NULL":
        return f"attribute_not_exists({path})"
    if operator == "CONTAINS":
        return f"contains({path}, {ph.value(values[0])})"
    if operator == "NOT_CONTAINS":
        return f"(attribute_exists({path}) AND NOT contains({path}, {ph.value(values[0])}))"
    if operator == "BEGINS_WITH":
        return f"begins_with({path}, {ph.value(values[0])})"
    if operator == "BETWEEN":
        return f"{path} BETWEEN {ph.value(values[0])} AND {ph.value(values[1])}"
    # IN
    return f"{path} IN ({', '.join(ph.value(v) for v in values)})"


def _join(parts: list[str], operator: str | None) -> str:
    if len(parts) == 1:
        return parts[0]
    glue = " OR " if operator == "OR" else " AND "
    return glue.join(f"({part})" for part in parts)


def expected(spec: Mapping[str, Mapping[str, Any]], operator: str | None,
             ph: Placeholders) -> str | None:
    """The ConditionExpression an ``Expected`` map (values decoded) means.

    Raises:
        Validation: DynamoDB's messages for contradictory or incomplete entries.
    """
    parts = []
    for attribute, entry in spec.items():
        has_value = "Value" in entry
        if "ComparisonOperator" in entry:
            if "Exists" in entry:
                raise Validation(f"{_INVALID}Exists and ComparisonOperator cannot be used "
                                 f"together for Attribute: {attribute}")
            if "AttributeValueList" in entry and has_value:
                raise Validation(f"{_INVALID}Value and AttributeValueList cannot be used "
                                 f"together for Attribute: {attribute}")
            values = list(entry.get("AttributeValueList") or
                          ([entry["Value"]] if has_value else []))
            parts.append(_comparison(attribute, entry["ComparisonOperator"], values, ph))
            continue
        if "AttributeValueList" in entry:
            raise Validation(f"{_INVALID}AttributeValueList can only be used with a "
                             f"ComparisonOperator for Attribute: {attribute}")
        exists = entry.get("Exists")
        if exists is None or exists:
            if not has_value:
                shown = "null" if exists is None else "true"
                raise Validation(f"{_INVALID}Value must be provided when Exists is {shown} "
                                 f"for Attribute: {attribute}")
            parts.append(f"{ph.path(attribute)} = {ph.value(entry['Value'])}")
        else:
            if has_value:
                raise Validation(f"{_INVALID}Value cannot be used when Exists is false for "
                                 f"Attribute: {attribute}")
            parts.append(f"attribute_not_exists({ph.path(attribute)})")
    return _join(parts, operator) if parts else None


def conditions(spec: Mapping[str, Mapping[str, Any]], operator: str | None,
               ph: Placeholders) -> str | None:
    """The expression a ``KeyConditions`` / ``QueryFilter`` / ``ScanFilter``
    map (values decoded) means."""
    parts = [_comparison(attribute, entry["ComparisonOperator"],
                         list(entry.get("AttributeValueList") or []), ph)
             for attribute, entry in spec.items()]
    return _join(parts, operator) if parts else None


def projection(attributes: Sequence[str], ph: Placeholders) -> str:
    """The ProjectionExpression of ``AttributesToGet``."""
    seen = []
    for attribute in attributes:
        if attribute in seen:
            raise Validation(f"{_INVALID}Duplicate value in attribute name: {attribute}")
        seen.append(attribute)
    return ", ".join(ph.path(a) for a in seen)


def updates(spec: Mapping[str, Mapping[str, Any]], keys: Sequence[str],
            ph: Placeholders) -> str | None:
    """The UpdateExpression of ``AttributeUpdates`` (values decoded).

    PUT sets, DELETE without a value removes, DELETE with a set removes its
    elements, ADD adds to a number or a set, or appends to a list.

    Raises:
        Validation: an update of a key attribute, or a value a DELETE or ADD
            cannot take, with DynamoDB's messages.
    """
    sets, removes, adds, deletes = [], [], [], []
    for attribute, entry in spec.items():
        if attribute in keys:
            raise Validation(f"{_INVALID}Cannot update attribute {attribute}. This attribute "
                             "is part of the key")
        action = entry.get("Action", "PUT")
        has_value = "Value" in entry
        path = ph.path(attribute)
        if action == "PUT":
            if not has_value:
                raise Validation(f"{_INVALID}Only DELETE action is allowed when no attribute "
                                 f"value is specified: {attribute}")
            sets.append(f"{path} = {ph.value(entry['Value'])}")
        elif action == "DELETE":
            if not has_value:
                removes.append(path)
                continue
            if type_name(entry["Value"]) not in ("SS", "NS", "BS"):
                raise Validation(f"{_INVALID}DELETE action with value is not supported for "
                                 f"the type {type_name(entry['Value'])}")
            deletes.append(f"{path} {ph.value(entry['Value'])}")
        else:  # ADD
            if not has_value:
                raise Validation(f"{_INVALID}Only DELETE action is allowed when no attribute "
                                 f"value is specified: {attribute}")
            kind = type_name(entry["Value"])
            if kind == "L":
                empty = ph.value([])
                sets.append(f"{path} = list_append(if_not_exists({path}, {empty}), "
                            f"{ph.value(entry['Value'])})")
            elif kind in ("N", "SS", "NS", "BS"):
                adds.append(f"{path} {ph.value(entry['Value'])}")
            else:
                raise Validation(f"{_INVALID}ADD action is not supported for the type {kind}")
    clauses = []
    for word, items in (("SET", sets), ("REMOVE", removes), ("ADD", adds),
                        ("DELETE", deletes)):
        if items:
            clauses.append(f"{word} {', '.join(items)}")
    return " ".join(clauses) if clauses else None
