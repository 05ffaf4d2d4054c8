"""Model queries and scans: key conditions from templates, sort-key
conditions on fields, the type filter that keeps other models' items out,
and results as instances of their own class."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Callable, TypeVar

from ..errors import ValidationError
from .expressions import Between, Call, Compare, Condition, Renderer, ValueOperand
from .indexes import LocalIndex, ModelIndex
from .keys import Template
from .results import Results

if TYPE_CHECKING:  # pragma: no cover
    from .model import Model

__all__ = ["query", "scan"]

M = TypeVar("M", bound="Model")
_KEY_OPS = {"=", "<", "<=", ">", ">="}


def _filter(model: type[Model], filter: Condition | None, r: Renderer) -> str | None:
    parts = []
    type_attribute = model.model_meta["type_attribute"]
    if type_attribute is not None:
        names = model.model_type_names()
        if not names:
            raise ValidationError(f"{model.__name__} is abstract and has no subclasses to "
                                  "read", attribute="Meta.abstract")
        placeholder = r.name(type_attribute)
        if len(names) == 1:
            parts.append(f"{placeholder} = {r.value(names[0])}")
        else:
            parts.append(f"{placeholder} IN ({', '.join(r.value(n) for n in names)})")
    if filter is not None:
        if not isinstance(filter, Condition):
            raise ValidationError("filter must be a model condition (Order.total > 5)",
                                  attribute="filter")
        parts.append(f"({filter.render(r)})")
    return " AND ".join(parts) or None


def query(model: type[M], pk_values: Sequence[Any], pk_fields: Mapping[str, Any], *,
           sk: Condition | None, filter: Condition | None, limit: int | None,
           scan_index_forward: bool, exclusive_start_key: dict[str, Any] | None,
           index: ModelIndex | None) -> Results[M]:
    binding = model.model_binding()
    pk_template: Template | None
    pk_attribute: str | None
    if index is None or isinstance(index, LocalIndex):
        pk_template, pk_attribute = model.model_pk, binding.pk_attribute
    else:
        pk_template, pk_attribute = index.pk, index.pk_attribute
    if index is None:
        sk_template, sk_attribute = model.model_sk, binding.sk_attribute
    else:
        sk_template, sk_attribute = index.sk, index.sk_attribute
    if pk_template is None or pk_attribute is None:
        raise ValidationError(f"{model.__name__} has no partition key template to query by",
                              attribute="Meta.pk")
    values = model.model_key_values(pk_template.fields, pk_values, pk_fields)
    r = Renderer()
    key = f"{r.name(pk_attribute)} = {r.value(pk_template.render(values))}"
    if sk_attribute is not None:
        sk_text = _sort_condition(model, sk, sk_template, sk_attribute, r)
        if sk_text:
            key = f"{key} AND {sk_text}"
    elif sk is not None:
        raise ValidationError("the table has no sort key to put a condition on",
                              attribute="sk")
    filter_text = _filter(model, filter, r)
    page = binding.table.query(key_condition=key, filter=filter_text, limit=limit,
                               scan_index_forward=scan_index_forward,
                               exclusive_start_key=exclusive_start_key,
                               index=None if index is None else index.name, **r.arguments())
    return Results(page, model.from_item)


def _sort_condition(model: type[Model], sk: Condition | None, template: Template | None,
                    attribute: str, r: Renderer) -> str | None:
    """The sort-key part of a key condition, from a condition on a field."""
    if sk is None and (template is None or not (template.constant or template.prefix)):
        return None
    name = r.name(attribute)
    if sk is None:
        assert template is not None
        if template.constant:
            return f"{name} = {r.value(template.text)}"
        if template.prefix:
            return f"begins_with({name}, {r.value(template.prefix)})"
        return None
    if template is None:
        raise ValidationError(f"{model.__name__} has no sort key template for a sort-key "
                              "condition", attribute="sk")
    value_of = _condition_field(model, sk, template)
    if isinstance(sk, Compare):
        return f"{name} {sk.op} {r.value(value_of(sk.right))}"
    if isinstance(sk, Between):
        return (f"{name} BETWEEN {r.value(value_of(sk.low))} AND "
                f"{r.value(value_of(sk.high))}")
    assert isinstance(sk, Call)
    prefix = sk.args[1].value  # type: ignore[attr-defined]
    if template.single is None:
        prefix = template.prefix + prefix
    return f"begins_with({name}, {r.value(prefix)})"


def _condition_field(model: type[Model], sk: Condition,
                     template: Template) -> Callable[[Any], Any]:
    operand = None
    if isinstance(sk, Compare) and sk.op in _KEY_OPS:
        operand = sk.left
    elif isinstance(sk, Between):
        operand = sk.operand
    elif isinstance(sk, Call) and sk.function == "begins_with":
        operand = sk.args[0]
    field = None
    if operand is not None:
        path = getattr(operand, "path", ())
        field = next((f for f in model.model_fields.values() if (f.attribute,) == tuple(path)),
                     None)
    if field is None or not template.fields or field.name != template.fields[-1]:
        raise ValidationError(f"sk takes one condition (= < <= > >= between begins_with) "
                              f"on the last field of the sort key template "
                              f"{template.text!r}", attribute="sk")

    def value_of(operand: Any) -> Any:
        if not isinstance(operand, ValueOperand):
            raise ValidationError("a sort-key condition compares with values, not "
                                  "attributes", attribute="sk")
        return template.value_for(field.name, field.load(operand.value))
    return value_of


def scan(model: type[M], filter: Condition | None, *, limit: int | None,
          exclusive_start_key: dict[str, Any] | None, segment: int | None,
          total_segments: int | None, index: ModelIndex | None) -> Results[M]:
    binding = model.model_binding()
    r = Renderer()
    filter_text = _filter(model, filter, r)
    page = binding.table.scan(filter=filter_text, limit=limit,
                              exclusive_start_key=exclusive_start_key, segment=segment,
                              total_segments=total_segments,
                              index=None if index is None else index.name, **r.arguments())
    return Results(page, model.from_item)
