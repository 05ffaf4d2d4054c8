"""Secondary indexes declared on models: :class:`GlobalIndex`, :class:`LocalIndex`.

An index attribute on a model class says which table index the model's
items appear in and how their index keys are made from fields (templates,
as for the table key). ``Customer.by_email.query("a@b.c")`` then queries
it and returns model instances.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from .. import GSI, LSI
from ..errors import ValidationError
from .expressions import Condition
from .keys import Template

if TYPE_CHECKING:  # pragma: no cover
    from .model import Model, Results

__all__ = ["GlobalIndex", "LocalIndex", "ModelIndex"]

M = TypeVar("M", bound="Model")


class ModelIndex:
    """What both index kinds share; use :class:`GlobalIndex` or :class:`LocalIndex`."""

    kind = "index"

    def __init__(self, name: str, pk: str | None, sk: str | None, *,
                 pk_attribute: str | None, sk_attribute: str | None,
                 projection: str, include: Sequence[str] | None) -> None:
        if not isinstance(name, str) or not name:
            raise ValidationError("an index name is a non-empty string", attribute="name")
        self.name = name
        self.pk_text = pk
        self.sk_text = sk
        self.given_pk_attribute = pk_attribute
        self.given_sk_attribute = sk_attribute
        self.projection = projection
        self.include = list(include or [])
        self.owner: type | None = None
        self.attr_name = ""
        self.pk: Template | None = None
        self.sk: Template | None = None
        self.pk_attribute: str | None = None
        self.sk_attribute: str | None = None

    def __set_name__(self, owner: type, name: str) -> None:
        self.attr_name = name

    def prepare(self, owner: type, fields: dict[str, Any]) -> None:
        """Parse the templates against ``owner``'s fields (at class creation)."""
        self.owner = owner
        where = f"{owner.__name__}.{self.attr_name or self.name}"
        self.pk = None if self.pk_text is None else Template(self.pk_text, fields, where)
        self.sk = None if self.sk_text is None else Template(self.sk_text, fields, where)
        self.pk_attribute = self._attribute(self.pk, self.given_pk_attribute, fields, where, "pk")
        self.sk_attribute = self._attribute(self.sk, self.given_sk_attribute, fields, where, "sk")

    @staticmethod
    def _attribute(template: Template | None, given: str | None, fields: dict[str, Any],
                   where: str, which: str) -> str | None:
        if template is None:
            return given
        if given is not None:
            return given
        if template.single is not None:
            return fields[template.single].attribute  # type: ignore[no-any-return]
        raise ValidationError(f"the {which} template {template.text!r} makes a new value: name "
                              f"the attribute that holds it ({which}_attribute=...)",
                              attribute=where)

    def computed(self) -> list[tuple[str, Template]]:
        """``(attribute, template)`` of the index keys that are not a field's
        own attribute: the model writes them on every save."""
        assert self.owner is not None
        fields = self.owner.model_fields  # type: ignore[attr-defined]
        out = []
        for attribute, template in ((self.pk_attribute, self.pk), (self.sk_attribute, self.sk)):
            if template is None or attribute is None:
                continue
            if template.single is not None and fields[template.single].attribute == attribute:
                continue
            out.append((attribute, template))
        return out

    def definition(self, type_attribute: str | None) -> GSI | LSI:  # pragma: no cover
        raise NotImplementedError

    def _projection(self, type_attribute: str | None) -> tuple[str, list[str] | None]:
        """A projection that keeps the type attribute, so results can be
        told apart (KEYS_ONLY becomes INCLUDE of the type attribute)."""
        if self.projection == "ALL" or type_attribute is None:
            return self.projection, self.include or None
        include = [*self.include, type_attribute] if type_attribute not in self.include \
            else list(self.include)
        return "INCLUDE", include

    def __get__(self, instance: Any, owner: type[M]) -> BoundIndex[M]:
        return BoundIndex(self, owner)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


class GlobalIndex(ModelIndex):
    """A global secondary index of the model's table.

    Args:
        name: the table's index name (several models may share one index, as
            single-table designs do, each with its own templates).
        pk: the index partition key template (``"{email}"``, ``"EMAIL#{email}"``).
        sk: the index sort key template, or ``None``.
        pk_attribute / sk_attribute: the attribute holding the index key;
            needed when the template is more than one field (the model
            computes and writes it on save); by default the field's own.
        projection: ``"ALL"``, ``"KEYS_ONLY"`` or ``"INCLUDE"`` (with
            ``include``). With a type attribute, KEYS_ONLY and INCLUDE also
            project it, so results come back as the right model.

    An item whose template fields are missing has no index key and is not
    in the index (a sparse index).
    """

    kind = "GSI"

    def __init__(self, name: str, pk: str, sk: str | None = None, *,
                 pk_attribute: str | None = None, sk_attribute: str | None = None,
                 projection: str = "ALL", include: Sequence[str] | None = None) -> None:
        super().__init__(name, pk, sk, pk_attribute=pk_attribute, sk_attribute=sk_attribute,
                         projection=projection, include=include)

    def definition(self, type_attribute: str | None) -> GSI:
        """The table index this declaration needs."""
        projection, include = self._projection(type_attribute)
        return GSI(self.name, self.pk_attribute, self.sk_attribute,  # type: ignore[arg-type]
                   projection, include)


class LocalIndex(ModelIndex):
    """A local secondary index: the table's partition key, another sort key.

    Args:
        name: the table's index name (LSIs are fixed when the table is created).
        sk: the sort key template.
        sk_attribute, projection, include: as for :class:`GlobalIndex`.
    """

    kind = "LSI"

    def __init__(self, name: str, sk: str, *, sk_attribute: str | None = None,
                 projection: str = "ALL", include: Sequence[str] | None = None) -> None:
        super().__init__(name, None, sk, pk_attribute=None, sk_attribute=sk_attribute,
                         projection=projection, include=include)

    def definition(self, type_attribute: str | None) -> LSI:
        """The table index this declaration needs."""
        projection, include = self._projection(type_attribute)
        return LSI(self.name, self.sk_attribute, projection, include)  # type: ignore[arg-type]


class BoundIndex(Generic[M]):
    """An index as seen from one model class: ``Customer.by_email``."""

    def __init__(self, index: ModelIndex, model: type[M]) -> None:
        self.index = index
        self.model = model

    @property
    def name(self) -> str:
        """The table's index name."""
        return self.index.name

    def query(self, *pk_values: Any, sk: Condition | None = None,
              filter: Condition | None = None, limit: int | None = None,
              scan_index_forward: bool = True,
              exclusive_start_key: dict[str, Any] | None = None,
              **pk_fields: Any) -> Results[M]:
        """Query the index: the items whose index partition key the values
        of the index ``pk`` template's fields make (positional, in template
        order, or by name), as instances of this model (and its subclasses).

        ``sk`` is a condition on the last field of the index ``sk``
        template; other arguments as for :meth:`Model.query`. A local index
        takes the table's ``pk`` template fields.

        Raises:
            ValidationError: a missing or unknown key field, a bad condition.

        Cost: O(log n + k) for k items evaluated.
        """
        return self.model.query(*pk_values, sk=sk, filter=filter, limit=limit,
                                scan_index_forward=scan_index_forward,
                                exclusive_start_key=exclusive_start_key, index=self.index.name,
                                **pk_fields)

    def count(self, *pk_values: Any, sk: Condition | None = None,
              filter: Condition | None = None, **pk_fields: Any) -> int:
        """How many items :meth:`query` returns. Cost: as the query."""
        return self.query(*pk_values, sk=sk, filter=filter, **pk_fields).count

    def scan(self, filter: Condition | None = None, *, limit: int | None = None,
             exclusive_start_key: dict[str, Any] | None = None) -> Results[M]:
        """Every item of this model in the index. Cost: O(index size)."""
        return self.model.scan(filter, limit=limit, exclusive_start_key=exclusive_start_key,
                               index=self.index.name)

    def __repr__(self) -> str:
        return f"<{self.index.kind} {self.index.name!r} of {self.model.__name__}>"
