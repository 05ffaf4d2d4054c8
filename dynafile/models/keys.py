"""Key templates: how a model's fields become the table's key values.

``Meta.pk = "CUSTOMER#{customer_id}"`` and ``Meta.sk = "ORDER#{order_id}"``
are templates in ``str.format`` syntax whose names are field names. A
template that is exactly one field (``"{order_no}"``) gives that field's
stored value with its own type (a number stays a number, so a numeric sort
key sorts numerically); any other template gives text, each field written
as it is stored (a datetime as its ISO text) or with its format spec
(``"{n:08d}"``, ``"{day:%Y-%m-%d}"``). A template without fields is a
constant (``"PROFILE"``).
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from typing import Any

from ..errors import ValidationError
from .fields import Field

__all__ = ["Template"]


class Template:
    """A parsed key template.

    Attributes:
        text: the template as written.
        fields: the field names it uses, in order of appearance.
        single: the field name when the template is exactly ``"{field}"``.
        prefix: the literal text before the first field (the whole text of
            a constant template): every value it makes starts with it.
    """

    def __init__(self, text: str, fields: Mapping[str, Field], where: str) -> None:
        if not isinstance(text, str):
            raise ValidationError(f"a key template is a str, got {text!r}", attribute=where)
        self.text = text
        self.where = where
        parts: list[tuple[str, str | None, str]] = []
        try:
            parsed = list(string.Formatter().parse(text))
        except ValueError as exc:
            raise ValidationError(f"bad key template {text!r}: {exc}", attribute=where) from None
        for literal, name, spec, conversion in parsed:
            if name is not None:
                if conversion:
                    raise ValidationError(f"key template {text!r}: conversions (!r, !s) are "
                                          "not supported", attribute=where)
                if name not in fields:
                    raise ValidationError(f"key template {text!r} names {name!r}, which is not "
                                          "a field", attribute=where)
                if not fields[name].key_ok:
                    raise ValidationError(f"key template {text!r}: {type(fields[name]).__name__} "
                                          f"{name!r} cannot be part of a key", attribute=where)
            parts.append((literal, name, spec or ""))
        self._parts = parts
        self._fields = fields
        self.fields = [name for _, name, _ in parts if name is not None]
        named = [(lit, name, spec) for lit, name, spec in parts if name is not None]
        self.single = (named[0][1] if len(parts) == 1 and len(named) == 1 and not parts[0][0]
                       and not parts[0][2] else None)
        self.prefix = ""
        for literal, name, _ in parts:
            self.prefix += literal
            if name is not None:
                break
        if self.single is None and any(fields[n].dynamo_type == "B" for n in self.fields):
            raise ValidationError(f"key template {text!r}: a binary field can only be a key "
                                  "on its own ('{field}')", attribute=where)

    @property
    def constant(self) -> bool:
        """A template without fields."""
        return not self.fields

    def render(self, values: Mapping[str, Any], *, missing_ok: bool = False) -> Any:
        """The key value for these field values (Python values, checked).

        Returns ``None`` when a field is ``None`` and ``missing_ok`` (a sparse
        index attribute).

        Raises:
            ValidationError: a field the template needs is ``None`` (naming
                the field and the template).
        """
        for needed in self.fields:
            if values.get(needed) is None:
                if missing_ok:
                    return None
                raise self._fields[needed].error(f"is required for the key {self.text!r}")
        if self.single is not None:
            field = self._fields[self.single]
            return field.to_stored(values[self.single])
        out = []
        for literal, part, spec in self._parts:
            out.append(literal)
            if part is not None:
                out.append(self._fields[part].key_text(values[part], spec))
        return "".join(out)

    def value_for(self, name: str, value: Any) -> Any:
        """The key value with field ``name`` set to ``value`` and the text
        after it cut: what a sort-key condition on that field compares with.

        Raises:
            ValidationError: ``name`` is not the template's last field, or a
                field before it is needed.
        """
        if not self.fields or self.fields[-1] != name:
            raise ValidationError(f"a sort-key condition needs the last field of {self.text!r}, "
                                  f"not {name!r}", attribute=self.where)
        field = self._fields[name]
        checked = field.check(value)
        if self.single is not None:
            return field.to_stored(checked)
        if len(self.fields) > 1:
            raise ValidationError(f"a sort-key condition on {self.text!r} needs the other "
                                  "fields of the template; use a template with one field",
                                  attribute=self.where)
        spec = next(p[2] for p in self._parts if p[1] == name)
        return self.prefix + field.key_text(checked, spec)

    def __repr__(self) -> str:
        return f"Template({self.text!r})"
