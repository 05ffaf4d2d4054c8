"""The :class:`Model` base class: typed items on a table, by the public table API.

A model class declares fields, how its key is made (``Meta.pk`` / ``Meta.sk``
templates or ``partition_key=True`` fields), its type name (several models
share a table, told apart by a type attribute), a default lifetime (TTL) and
its indexes. It is bound to a table (``Model.bind(table)`` or ``Meta.table``)
and then saves, reads, queries, updates and deletes instances.

Every operation is one call of the table's public methods (``put_item``,
``get_item``, ``delete_item``, ``update_item``, ``query``, ``scan``,
``batch_writer``, ``batch_get``, ``transact_write``, ``transact_get``,
``transaction``), with conditions, filters and updates as DynamoDB
expression strings, so a model works on any table with that API.
"""

# Classmethods return the caller's class through a TypeVar (typing.Self needs
# Python 3.11 or typing_extensions, which the core does not depend on).
# ruff: noqa: PYI019

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any, Callable, ClassVar, TypeVar

from ..errors import ItemNotFoundError, ModelTypeError, SchemaMismatchError, ValidationError
from . import queries
from .expressions import (
    Action,
    Condition,
    Renderer,
    ValueOperand,
    render_update,
)
from .fields import FieldHolder
from .indexes import LocalIndex, ModelIndex
from .keys import Template
from .results import BatchWrite, Results
from .tables import Table, check_table

__all__ = ["Model"]

M = TypeVar("M", bound="Model")
_UTC = dt.timezone.utc
_OPTIONS = ("table", "pk", "sk", "type_attribute", "ttl", "ttl_attribute", "pk_attribute",
            "sk_attribute")


class _Binding:
    """A model's table, the attribute names it uses there, and the clock."""

    def __init__(self, table: Table, clock: Callable[[], float]) -> None:
        self.table = table
        self.clock = clock
        self.pk_attribute = table.pk_attribute
        self.sk_attribute = table.sk_attribute
        self.ttl_attribute = table.ttl_attribute


def _seconds(value: Any, where: str) -> float:
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        return float(value)
    raise ValidationError(f"a lifetime is seconds or a timedelta, got {value!r}", attribute=where)


class Model(FieldHolder):
    """Base class of models. Subclass it, declare fields and a ``Meta``::

        class Order(Model):
            class Meta:
                pk = "CUSTOMER#{customer_id}"
                sk = "ORDER#{order_id}"
                ttl = timedelta(days=90)
            customer_id = StringField()
            order_id = StringField()
            total = NumberField(default=0)
            status = EnumField(Status, default=Status.OPEN)
            by_status = GlobalIndex("GSI1", pk="{status}", sk="{created}")

        Order.bind(db)
        Order(customer_id="c1", order_id="o1", total=5).save()
        Order.get("c1", "o1").total      # -> 5

    ``Meta`` options (inherited by subclasses unless said otherwise):

    * ``pk`` / ``sk``: key templates (see :mod:`dynafile.models.keys`);
      ``partition_key=True`` / ``sort_key=True`` on a field say the same.
    * ``type_name``: the value of the type attribute for this class (its
      class name by default; not inherited). ``abstract = True`` (not
      inherited) declares a class that is never saved itself: a base whose
      queries return its subclasses.
    * ``type_attribute``: the attribute telling models apart (``"_type"``);
      ``None`` when this model owns the table alone.
    * ``ttl``: a lifetime (seconds, a ``timedelta``, or a function of the
      instance returning one, a ``datetime`` or ``None``): each save sets the
      table's TTL attribute to now + lifetime.
    * ``ttl_attribute``: the TTL attribute :meth:`bind` sets on a table that
      has none (``"expires"``).
    * ``table``: the table, instead of calling :meth:`bind`.

    ``Model.DoesNotExist`` (an :class:`~dynafile.errors.ItemNotFoundError`)
    is raised by :meth:`get` and :meth:`refresh` for a missing item.

    Read-only class attributes (the ``model_`` prefix keeps them apart from
    field names): ``model_fields`` (fields by name), ``model_meta`` (the
    resolved ``Meta`` options), ``model_pk`` / ``model_sk`` (the key
    templates), ``model_type_name``, ``model_indexes`` (declared indexes by
    name) and ``model_registry`` (type name -> class, for the whole family).
    """

    DoesNotExist: ClassVar[type[ItemNotFoundError]] = ItemNotFoundError
    model_meta: ClassVar[dict[str, Any]] = {}
    model_pk: ClassVar[Template | None] = None
    model_sk: ClassVar[Template | None] = None
    model_type_name: ClassVar[str | None] = None
    model_indexes: ClassVar[dict[str, ModelIndex]] = {}
    model_registry: ClassVar[dict[str, type[Model]]] = {}
    _binding: ClassVar[_Binding | None] = None
    _ready_for: ClassVar[_Binding | None] = None

    # ------------------------------------------------------------ declaring

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name in cls.model_fields:
            if hasattr(Model, name) or name in ("DoesNotExist", "Meta"):
                raise ValidationError(f"{cls.__name__}: a field cannot be named {name!r} (it is "
                                      "a Model method); name it otherwise and keep the stored "
                                      f"name with attribute={name!r}", attribute=name)
        options: dict[str, Any] = {"type_attribute": "_type", "ttl_attribute": "expires"}
        for klass in reversed(cls.__mro__):
            meta = vars(klass).get("Meta")
            if meta is not None and klass is not Model:
                options.update({k: v for k, v in vars(meta).items() if k in _OPTIONS})
        own = vars(cls).get("Meta")
        abstract = bool(getattr(own, "abstract", False)) if own is not None else False
        options["abstract"] = abstract
        cls.model_meta = options
        for key, flag in (("pk", "partition_key"), ("sk", "sort_key")):
            flagged = [name for name, f in cls.model_fields.items() if getattr(f, flag)]
            if len(flagged) > 1:
                raise ValidationError(f"{cls.__name__}: more than one field has {flag}=True",
                                      attribute=flagged[1])
            if flagged and key in options and own is not None and key in vars(own):
                raise ValidationError(f"{cls.__name__}: give Meta.{key} or {flag}=True, not both",
                                      attribute=flagged[0])
            if flagged:
                options[key] = "{" + flagged[0] + "}"
        cls.model_pk = Template(options["pk"], cls.model_fields, f"{cls.__name__}.Meta.pk") \
            if options.get("pk") is not None else None
        cls.model_sk = Template(options["sk"], cls.model_fields, f"{cls.__name__}.Meta.sk") \
            if options.get("sk") is not None else None
        indexes: dict[str, ModelIndex] = {}
        for klass in reversed(cls.__mro__):
            for value in vars(klass).values():
                if isinstance(value, ModelIndex):
                    indexes[value.name] = value
        for index in indexes.values():
            index.prepare(cls, cls.model_fields)
        cls.model_indexes = indexes
        type_attribute = options["type_attribute"]
        if type_attribute is not None and any(f.attribute == type_attribute
                                              for f in cls.model_fields.values()):
            raise ValidationError(f"{cls.__name__}: a field is stored as the type attribute "
                                  f"{type_attribute!r}", attribute="Meta.type_attribute")
        if "model_registry" not in vars(cls) and not any("model_registry" in vars(b)
                                                    for b in cls.__mro__[1:] if b is not Model):
            cls.model_registry = {}  # the root of a family of models
        cls.model_type_name = None
        if not abstract:
            type_name = getattr(own, "type_name", None) if own is not None else None
            type_name = cls.__name__ if type_name is None else type_name
            if not isinstance(type_name, str) or not type_name:
                raise ValidationError(f"{cls.__name__}: Meta.type_name must be a non-empty str",
                                      attribute="Meta.type_name")
            held = cls.model_registry.get(type_name)
            if held is not None and held.__qualname__ != cls.__qualname__:
                raise ValidationError(f"{cls.__name__}: type name {type_name!r} is taken by "
                                      f"{held.__name__}", attribute="Meta.type_name")
            cls.model_registry[type_name] = cls
            cls.model_type_name = type_name
        parent = next((b for b in cls.__mro__[1:] if issubclass(b, Model)), Model)
        cls.DoesNotExist = type("DoesNotExist", (parent.DoesNotExist,),  # type: ignore[assignment]
                                {"__qualname__": f"{cls.__qualname__}.DoesNotExist",
                                 "__module__": cls.__module__})
        table = options.get("table")
        if table is not None and "table" in vars(own or object):
            cls._binding = _Binding(table, time.time)

    def __init__(self, **values: Any) -> None:
        if type(self).model_meta.get("abstract"):
            raise ValidationError(f"{type(self).__name__} is abstract: create one of its "
                                  "subclasses", attribute="Meta.abstract")
        self._expires: dt.datetime | None = None
        self._expires_set = False
        super().__init__(**values)

    # -------------------------------------------------------------- binding

    @classmethod
    def bind(cls, table: Table, *, create_indexes: bool = True,
             clock: Callable[[], float] | None = None) -> None:
        """Use ``table`` for this model and its subclasses.

        Checks the table against the model family's declarations now (and
        each subclass's on its first use): its global indexes are created
        when missing (``create_indexes``; :meth:`Dynafile.create_gsi`), its
        local indexes must exist, and a model with ``Meta.ttl`` on a table
        without a TTL attribute sets ``Meta.ttl_attribute`` as the table's
        (:meth:`Dynafile.update_time_to_live`).

        Args:
            table: an open :class:`~dynafile.Dynafile` (alone or from a
                :class:`~dynafile.Database`), or a table of the DynamoDB
                backend (:class:`~dynafile.remote.RemoteTable`): any
                :class:`~dynafile.models.tables.Table`.
            create_indexes: create missing global indexes (else raise).
            clock: epoch seconds for lifetimes (pass the table's test clock).

        Raises:
            SchemaMismatchError: an index exists with another definition, a
                local index or a TTL attribute is missing or differs, a field
                is stored under a key attribute without being that key, a key
                attribute has another type on the table (DynamoDB declares
                them; a data directory fixes them at the first write).
            ValidationError: ``table`` is not a table.
        """
        binding = _Binding(check_table(table), clock or time.time)
        declared = table.describe().get("key_types") or {}
        for attribute, kind in cls._key_types(binding.pk_attribute, binding.sk_attribute,
                                              None).items():
            held = declared.get(attribute)
            if held is not None and held != kind:
                raise SchemaMismatchError(
                    f"{cls.__name__}: the table's key attribute {attribute!r} is of type "
                    f"{held}, the models store {kind} in it (create the table with "
                    f"{cls.__name__}.table_options(key_types=True))")
        cls._binding = binding
        cls._ready_for = None
        cls._prepare(binding, create_indexes)
        for sub in cls._family():
            if sub is not cls and sub._binding_of() is binding:
                sub._prepare(binding, create_indexes)

    @classmethod
    def _family(cls) -> list[type[Model]]:
        """This class and every subclass defined so far."""
        out: list[type[Model]] = [cls]
        for sub in cls.__subclasses__():
            out.extend(sub._family())
        return out

    @classmethod
    def _binding_of(cls) -> _Binding | None:
        for klass in cls.__mro__:
            binding = vars(klass).get("_binding")
            if binding is not None:
                return binding  # type: ignore[no-any-return]
        return None

    @classmethod
    def model_binding(cls) -> _Binding:
        binding = cls._binding_of()
        if binding is None:
            raise ValidationError(f"{cls.__name__} has no table: call {cls.__name__}.bind(table) "
                                  "or set Meta.table", attribute="Meta.table")
        ready: object = vars(cls).get("_ready_for")
        if ready is not binding:
            cls._prepare(binding, True)
        return binding

    @classmethod
    def _prepare(cls, binding: _Binding, create_indexes: bool) -> None:
        """Check (and complete) the table for this class's declarations, once."""
        table = binding.table
        type_attribute = cls.model_meta["type_attribute"]
        existing = table.indexes
        for index in cls.model_indexes.values():
            wanted = index.definition(type_attribute)
            held = existing.get(index.name)
            if held is None:
                if isinstance(index, LocalIndex) or not create_indexes:
                    raise SchemaMismatchError(
                        f"{cls.__name__} needs the {index.kind} {index.name!r}, which the table "
                        "does not have" + (" (local indexes are made with the table: see "
                                           f"{cls.__name__}.table_options())"
                                           if isinstance(index, LocalIndex) else ""))
                attributes = [wanted.pk_attribute or "", wanted.sk_attribute or ""]
                types = {a: t for a, t in cls._key_types(binding.pk_attribute,
                                                         binding.sk_attribute,
                                                         attributes).items() if t != "S"}
                if types:  # DynamoDB declares them; a data directory needs no declaration
                    table.create_gsi(wanted, key_types=types)
                else:
                    table.create_gsi(wanted)
            elif held != wanted:
                raise SchemaMismatchError(f"{cls.__name__}: index {index.name!r} is "
                                          f"{held.definition()} on the table, the model "
                                          f"declares {wanted.definition()}")
        if cls.model_meta.get("ttl") is not None and binding.ttl_attribute is None:
            table.update_time_to_live(cls.model_meta["ttl_attribute"])
            binding.ttl_attribute = table.ttl_attribute
        for name, field in cls.model_fields.items():
            for attribute, template in ((binding.pk_attribute, cls.model_pk),
                                        (binding.sk_attribute, cls.model_sk)):
                if field.attribute == attribute and (template is None or template.single != name):
                    raise SchemaMismatchError(f"{cls.__name__}.{name} is stored as the table's "
                                              f"key attribute {attribute!r} but is not that key")
        if cls.model_sk is not None and binding.sk_attribute is None:
            raise SchemaMismatchError(f"{cls.__name__} has a sort key template but the table "
                                      "has no sort key")
        cls._ready_for = binding

    @classmethod
    def key_types(cls, attributes: Iterable[str] | None = None) -> dict[str, str]:
        """The DynamoDB types (``"S"``, ``"N"``, ``"B"``) of the key
        attributes of the table and its indexes, as this model and its
        subclasses fill them: a template of exactly one field has that
        field's type, any other template makes text.

        DynamoDB declares key types when a table or index is created
        (``key_types=`` of ``create_table`` / ``create_gsi`` on the DynamoDB
        backend); a data directory fixes them at the first write.

        Args:
            attributes: only these attributes (default: every key attribute).

        Raises:
            SchemaMismatchError: two models of the family fill one key
                attribute with different types.

        Cost: O(models x indexes).
        """
        meta = cls.model_meta
        sk_attribute = meta.get("sk_attribute") or "SK"
        return cls._key_types(meta.get("pk_attribute") or "PK", sk_attribute, attributes)

    @classmethod
    def _key_types(cls, pk_attribute: str, sk_attribute: str | None,
                   attributes: Iterable[str] | None) -> dict[str, str]:
        """:meth:`key_types` for a table whose key attributes are these."""
        wanted = None if attributes is None else set(attributes)
        found: dict[str, tuple[str, str]] = {}
        for model in cls._family():
            pairs = [(pk_attribute, model.model_pk), (sk_attribute or "", model.model_sk)]
            for index in model.model_indexes.values():
                pairs += [(index.pk_attribute or "", index.pk),
                          (index.sk_attribute or "", index.sk)]
            for attribute, template in pairs:
                if template is None or not attribute or (wanted is not None
                                                         and attribute not in wanted):
                    continue
                kind = "S"
                if template.single is not None:
                    kind = model.model_fields[template.single].dynamo_type
                held = found.get(attribute)
                if held is not None and held[0] != kind:
                    raise SchemaMismatchError(
                        f"key attribute {attribute!r} is {held[0]} in {held[1]} but {kind} in "
                        f"{model.__name__}: a key attribute has one type")
                found[attribute] = (kind, model.__name__)
        return {attribute: kind for attribute, (kind, _) in found.items()}

    @classmethod
    def table_options(cls, *, key_types: bool = False) -> dict[str, Any]:
        """Keyword arguments that create a table for this model and its
        subclasses: ``Dynafile(path, **Order.table_options())`` or
        ``db.create_table("shop", **Order.table_options(key_types=True))``.

        Args:
            key_types: also return ``key_types`` (:meth:`key_types`), which
                ``create_table`` takes on both backends and which DynamoDB
                needs for keys that are not text (``Dynafile(path)`` of a
                data directory does not take it).

        Returns:
            ``pk_attribute``, ``sk_attribute``, ``ttl_attribute``, ``gsis``
            and ``lsis`` as the declarations need them (and ``key_types``).
        """
        family = cls._family()
        pk_attribute = cls.model_meta.get("pk_attribute") or "PK"
        sk_attribute = cls.model_meta.get("sk_attribute")
        if sk_attribute is None and any(m.model_sk is not None for m in family):
            sk_attribute = "SK"
        gsis: dict[str, Any] = {}
        lsis: dict[str, Any] = {}
        for model in family:
            for index in model.model_indexes.values():
                target = lsis if isinstance(index, LocalIndex) else gsis
                target[index.name] = index.definition(model.model_meta["type_attribute"])
        ttl = any(m.model_meta.get("ttl") is not None for m in family)
        options = {"pk_attribute": pk_attribute, "sk_attribute": sk_attribute,
                   "ttl_attribute": cls.model_meta["ttl_attribute"] if ttl else None,
                   "gsis": list(gsis.values()), "lsis": list(lsis.values())}
        if key_types:
            options["key_types"] = cls.key_types()
        return options

    @classmethod
    def table(cls) -> Table:
        """The table this model is bound to.

        Raises:
            ValidationError: it is bound to none.
        """
        return cls.model_binding().table

    # ------------------------------------------------------------ conversion

    def to_item(self) -> dict[str, Any]:
        """Return the item this instance is stored as: its fields' attributes,
        the table key, the type attribute, computed index keys and the TTL.

        Raises:
            ValidationError: a required field is missing or a value does not
                fit its field (naming the field); the model is abstract.
        """
        cls = type(self)
        binding = cls.model_binding()
        item = self._dump_fields()
        type_attribute = cls.model_meta["type_attribute"]
        if type_attribute is not None:
            item[type_attribute] = cls.model_type_name
        item.update(self._key(binding))
        for index in cls.model_indexes.values():
            for attribute, template in index.computed():
                value = template.render(self._values, missing_ok=True)
                if value is not None:
                    item[attribute] = value
        expires = self._expiry(binding)
        if expires is not None and binding.ttl_attribute is not None:
            item[binding.ttl_attribute] = expires
        return item

    def _expiry(self, binding: _Binding) -> int | None:
        lifetime = type(self).model_meta.get("ttl")
        if self._expires_set or lifetime is None:
            when = self._expires
        else:
            if callable(lifetime):
                lifetime = lifetime(self)
            if lifetime is None or isinstance(lifetime, dt.datetime):
                when = lifetime
            else:
                seconds = _seconds(lifetime, f"{type(self).__name__}.Meta.ttl")
                return int(binding.clock() + seconds)
        if when is None:
            return None
        if when.tzinfo is None:
            raise ValidationError("expires_at needs a timezone-aware datetime",
                                  attribute="expires_at")
        return int(when.timestamp())

    @property
    def expires_at(self) -> dt.datetime | None:
        """When the item expires (its TTL attribute as a UTC datetime), or
        ``None``. Set it (a datetime, a timedelta from now, or ``None``) to
        override the model's lifetime at the next save."""
        return self._expires

    @expires_at.setter
    def expires_at(self, value: dt.datetime | dt.timedelta | None) -> None:
        if isinstance(value, dt.timedelta):
            clock = type(self).model_binding().clock
            value = dt.datetime.fromtimestamp(clock(), _UTC) + value
        if value is not None and (not isinstance(value, dt.datetime) or value.tzinfo is None):
            raise ValidationError("expires_at takes a timezone-aware datetime, a timedelta or "
                                  "None", attribute="expires_at")
        self._expires = value
        self._expires_set = True

    @classmethod
    def from_item(cls: type[M], item: Mapping[str, Any]) -> M:
        """Return the instance a stored item holds, as the model class its
        type attribute names (this class or a subclass).

        Raises:
            ModelTypeError: the item belongs to no subclass of this model.
            ValidationError: a stored value does not fit its field.
        """
        target = cls._class_of(item)
        instance = target.__new__(target)
        instance._values = {}
        instance._expires = None
        instance._expires_set = False
        instance._load_fields(item)
        binding = target._binding_of()
        ttl_attribute = binding.ttl_attribute if binding is not None else None
        stored = item.get(ttl_attribute) if ttl_attribute is not None else None
        if isinstance(stored, (int, float, Decimal)) and not isinstance(stored, bool) and stored:
            instance._expires = dt.datetime.fromtimestamp(float(stored), _UTC)
        return instance

    @classmethod
    def _class_of(cls: type[M], item: Mapping[str, Any]) -> type[M]:
        type_attribute = cls.model_meta["type_attribute"]
        if type_attribute is None:
            return cls
        name = item.get(type_attribute)
        target = cls.model_registry.get(name) if isinstance(name, str) else None
        if target is None or not issubclass(target, cls):
            known = "" if target is None else f" ({target.__name__})"
            raise ModelTypeError(f"the item's {type_attribute!r} is {name!r}{known}, not "
                                 f"{cls.__name__} or one of its subclasses", type_name=name)
        return target

    @classmethod
    def model_type_names(cls) -> list[str]:
        return [m.model_type_name for m in cls._family() if m.model_type_name is not None]

    # ------------------------------------------------------------------ keys

    def _key(self, binding: _Binding | None = None) -> dict[str, Any]:
        cls = type(self)
        binding = binding or cls.model_binding()
        if cls.model_pk is None:
            raise ValidationError(f"{cls.__name__} has no key: set Meta.pk or a field with "
                                  "partition_key=True", attribute="Meta.pk")
        key = {binding.pk_attribute: cls.model_pk.render(self._values)}
        if binding.sk_attribute is not None:
            if cls.model_sk is None:
                raise ValidationError(f"{cls.__name__} has no sort key template but the table "
                                      "has a sort key", attribute="Meta.sk")
            key[binding.sk_attribute] = cls.model_sk.render(self._values)
        return key

    def item_key(self) -> dict[str, Any]:
        """The table key of this instance (``{"PK": ..., "SK": ...}``).

        Raises:
            ValidationError: a field of the key is missing.
        """
        return self._key()

    @classmethod
    def model_key_fields(cls, templates: Sequence[Template | None]) -> list[str]:
        names: list[str] = []
        for template in templates:
            if template is not None:
                names.extend(n for n in template.fields if n not in names)
        return names

    @classmethod
    def model_key_values(cls, names: list[str], args: Sequence[Any],
                      kwargs: Mapping[str, Any]) -> dict[str, Any]:
        """Key field values given positionally (in template order) or by name."""
        if len(args) > len(names):
            raise ValidationError(f"{cls.__name__}: {len(args)} key values given, the key "
                                  f"has {len(names)} fields ({', '.join(names) or 'none'})",
                                  attribute="key")
        values = dict(zip(names, args))
        for name, value in kwargs.items():
            if name not in names:
                raise ValidationError(f"{cls.__name__}: {name!r} is not a field of this key "
                                      f"({', '.join(names) or 'no fields'})", attribute=name)
            if name in values:
                raise ValidationError(f"{cls.__name__}: {name!r} given twice", attribute=name)
            values[name] = value
        for name in names:
            if values.get(name) is None:
                raise cls.model_fields[name].error("is needed for the key")
        return {name: cls.model_fields[name].check(value) for name, value in values.items()}

    @classmethod
    def key_for(cls, *args: Any, **fields: Any) -> dict[str, Any]:
        """The table key of the item with these key field values (positional
        in template order: ``Order.key_for("c1", "o1")``, or by name).

        Raises:
            ValidationError: a key field missing, unknown or of the wrong type.
        """
        binding = cls.model_binding()
        if cls.model_pk is None:
            raise ValidationError(f"{cls.__name__} has no key template", attribute="Meta.pk")
        templates = [cls.model_pk, cls.model_sk if binding.sk_attribute is not None else None]
        values = cls.model_key_values(cls.model_key_fields(templates), args, fields)
        key = {binding.pk_attribute: cls.model_pk.render(values)}
        if binding.sk_attribute is not None:
            if cls.model_sk is None:
                raise ValidationError(f"{cls.__name__} has no sort key template",
                                      attribute="Meta.sk")
            key[binding.sk_attribute] = cls.model_sk.render(values)
        return key

    @classmethod
    def key_of(cls, spec: Any) -> dict[str, Any]:
        """The table key of a key given as an instance, a tuple of key field
        values, a dict of them, or one value.

        Raises:
            ValidationError: as :meth:`key_for`.
        """
        if isinstance(spec, Model):
            return spec.item_key()
        if isinstance(spec, tuple):
            return cls.key_for(*spec)
        if isinstance(spec, Mapping):
            return cls.key_for(**spec)
        return cls.key_for(spec)

    # ---------------------------------------------------------------- writes

    def save(self, condition: Condition | None = None, *, overwrite: bool = True) -> None:
        """Write this instance (create or replace the item).

        Args:
            condition: a condition the stored item must meet
                (``Order.status == Status.OPEN``); a missing item is checked as empty.
            overwrite: ``False`` writes only when no item has this key
                (``ConditionalCheckFailedError`` otherwise).

        Raises:
            ValidationError: a field is missing or invalid (nothing written).
            ConditionalCheckFailedError: the condition did not hold.

        Cost: one ``put_item``.
        """
        type(self).table().put_item(**self.put_request(condition, overwrite=overwrite))

    def put_request(self, condition: Condition | None = None, *,
                    overwrite: bool = True) -> dict[str, Any]:
        """The arguments of the table's ``put_item`` that :meth:`save` makes:
        ``item``, ``condition``, ``names``, ``values`` (also the body of a
        ``{"put": ...}`` action of :meth:`Dynafile.transact_write`).

        Raises:
            ValidationError: a field is missing or invalid.
        """
        binding = type(self).model_binding()
        item = self.to_item()
        r = Renderer()
        text = self._write_condition(binding, condition, overwrite, r)
        return {"item": item, "condition": text, **r.arguments()}

    def _write_condition(self, binding: _Binding, condition: Condition | None,
                         overwrite: bool, r: Renderer) -> str | None:
        parts = []
        if not overwrite:
            parts.append(f"attribute_not_exists({r.name(binding.pk_attribute)})")
        if condition is not None:
            if not isinstance(condition, Condition):
                raise ValidationError("condition must be a model condition "
                                      "(Order.total > 5)", attribute="condition")
            parts.append(f"({condition.render(r)})")
        return " AND ".join(parts) or None

    @classmethod
    def create(cls: type[M], **values: Any) -> M:
        """Make an instance and save it only if no item has its key.

        Raises:
            ValidationError: a field is missing or invalid.
            ConditionalCheckFailedError: an item with that key exists.
        """
        instance = cls(**values)
        instance.save(overwrite=False)
        return instance

    def delete(self, condition: Condition | None = None) -> None:
        """Delete this instance's item (a missing item is no error).

        Raises:
            ConditionalCheckFailedError: the condition did not hold.

        Cost: one ``delete_item``.
        """
        type(self).table().delete_item(**self.delete_request(condition))

    def delete_request(self, condition: Condition | None = None) -> dict[str, Any]:
        """The arguments of ``delete_item`` that :meth:`delete` makes (``key``,
        ``condition``, ``names``, ``values``)."""
        binding = type(self).model_binding()
        r = Renderer()
        text = self._write_condition(binding, condition, True, r)
        return {"key": self._key(binding), "condition": text, **r.arguments()}

    @classmethod
    def check_request(cls, *key: Any, condition: Condition, **fields: Any) -> dict[str, Any]:
        """The body of a ``{"condition_check": ...}`` transaction action: the
        item with this key must meet ``condition``."""
        if not isinstance(condition, Condition):
            raise ValidationError("condition must be a model condition", attribute="condition")
        r = Renderer()
        text = condition.render(r)
        return {"key": cls.key_for(*key, **fields), "condition": text, **r.arguments()}

    def update(self: M, actions: Sequence[Action], condition: Condition | None = None) -> M:
        """Change attributes of the stored item in place and reload this
        instance from the result.

        ``actions`` are built with fields: ``Order.total.set(Order.total + 5)``,
        ``Order.views.add(1)``, ``Order.note.remove()``,
        ``Order.tags.delete({"old"})``, ``Order.lines.append([line])``. An
        action on a field that is part of an index template also rewrites
        that index attribute (from this instance's other fields). The item
        must exist (unlike DynamoDB's UpdateItem, which would create a
        partial item without the model's type); a model's lifetime is
        renewed.

        Raises:
            ValidationError: an action on a key field, a value that does
                not fit its field (nothing written).
            ConditionalCheckFailedError: the item is missing or the
                condition did not hold.

        Returns:
            this instance, as stored after the update.

        Cost: one ``update_item``.
        """
        request = self.update_request(actions, condition)
        new = type(self).table().update_item(**request, return_values="ALL_NEW")
        if new is not None:
            self.refresh_from(new)
        return self

    def update_request(self, actions: Sequence[Action],
                       condition: Condition | None = None) -> dict[str, Any]:
        """The arguments of ``update_item`` that :meth:`update` makes (``key``,
        ``update``, ``condition``, ``names``, ``values``).

        Raises:
            ValidationError: as :meth:`update`.
        """
        binding = type(self).model_binding()
        r = Renderer()
        update, condition_text = self._update_request(binding, actions, condition, r)
        return {"key": self._key(binding), "update": update, "condition": condition_text,
                **r.arguments()}

    def refresh_from(self, item: Mapping[str, Any]) -> None:
        """Replace this instance's values with those of a stored ``item``
        (of this model).

        Raises:
            ModelTypeError: the item belongs to another model.
        """
        fresh = type(self).from_item(item)
        self._values = fresh._values
        self._expires, self._expires_set = fresh._expires, False

    def _update_request(self, binding: _Binding, actions: Sequence[Action],
                        condition: Condition | None, r: Renderer) -> tuple[str, str]:
        """The update expression and condition of :meth:`update`."""
        cls = type(self)
        if isinstance(actions, Action):
            actions = [actions]
        actions = list(actions)
        if not actions:
            raise ValidationError("an update needs at least one action", attribute="actions")
        by_attribute = {f.attribute: (n, f) for n, f in cls.model_fields.items()}
        key_fields = set(cls.model_key_fields([cls.model_pk, cls.model_sk]))
        overlay = dict(self._values)
        touched: dict[str, str] = {}
        for action in actions:
            if not isinstance(action, Action):
                raise ValidationError(f"expected an update action (Order.total.set(5)), got "
                                      f"{type(action).__name__}", attribute="actions")
            top = by_attribute.get(action.path[0])  # type: ignore[arg-type]
            if top is None:
                raise ValidationError(f"{cls.__name__} has no field stored as "
                                      f"{action.path[0]!r}", attribute="actions")
            name, field = top
            if name in key_fields:
                raise field.error("is part of the key: save a new item and delete the old one "
                                  "instead of updating it")
            touched[name] = action.kind
            if len(action.path) == 1 and action.kind == "SET" and \
                    isinstance(action.operand, ValueOperand):
                overlay[name] = field.load(action.operand.value)
            elif len(action.path) == 1 and action.kind == "REMOVE":
                overlay[name] = None
            else:
                overlay[name] = _UNKNOWN
        extra: list[str] = []
        removes: list[str] = []  # index attributes whose fields are gone
        for index in cls.model_indexes.values():
            for attribute, template in index.computed():
                used = [n for n in template.fields if n in touched]
                if not used:
                    continue
                if any(overlay[n] is _UNKNOWN for n in used):
                    raise cls.model_fields[used[0]].error(
                        f"feeds the index attribute {attribute!r}: update it with set(value) "
                        "or remove(), or save the instance")
                value = template.render(overlay, missing_ok=True)
                if value is None:
                    removes.append(r.name(attribute))
                else:
                    extra.append(f"{r.name(attribute)} = {r.value(value)}")
        expires = self._expiry(binding) if cls.model_meta.get("ttl") is not None else None
        if expires is not None and binding.ttl_attribute is not None:
            extra.append(f"{r.name(binding.ttl_attribute)} = {r.value(expires)}")
        text = render_update(actions, r, extra_set=extra, extra_remove=removes)
        condition_text = self._write_condition(binding, condition, True, r)
        exists = f"attribute_exists({r.name(binding.pk_attribute)})"
        return text, exists if condition_text is None else f"{exists} AND {condition_text}"

    def refresh(self) -> None:
        """Reload this instance from its stored item.

        Raises:
            DoesNotExist: the item is gone (or expired).
            ModelTypeError: the item now belongs to another model.
        """
        cls = type(self)
        binding = cls.model_binding()
        item = binding.table.get_item(key=self._key(binding))
        if item is None:
            raise cls.DoesNotExist(f"{cls.__name__} {self._key(binding)} does not exist")
        self.refresh_from(item)

    # ----------------------------------------------------------------- reads

    @classmethod
    def get(cls: type[M], *key: Any, **fields: Any) -> M:
        """Return the instance with this key: ``Order.get("c1", "o1")`` (key
        fields in template order) or ``Order.get(customer_id="c1", order_id="o1")``.

        Raises:
            DoesNotExist: no such item (or it expired).
            ModelTypeError: the item belongs to another model.
            ValidationError: a key field missing, unknown or of the wrong type.

        Cost: one ``get_item``.
        """
        instance = cls.get_or_none(*key, **fields)
        if instance is None:
            raise cls.DoesNotExist(f"{cls.__name__} {cls.key_for(*key, **fields)} does not "
                                   "exist")
        return instance

    @classmethod
    def get_or_none(cls: type[M], *key: Any, **fields: Any) -> M | None:
        """:meth:`get`, returning ``None`` for a missing item."""
        item = cls.model_binding().table.get_item(key=cls.key_for(*key, **fields))
        return None if item is None else cls.from_item(item)

    @classmethod
    def get_many(cls: type[M], keys: Iterable[Any]) -> list[M | None]:
        """Return the instances with these keys, in order, ``None`` for each
        missing one (stockpyle's ``batch_get``). A key is a tuple of key
        field values, a dict of them, one value, or an instance.

        Raises:
            ValidationError: a bad key (nothing is read).
            ModelTypeError: an item belongs to another model.

        Cost: one ``batch_get``.
        """
        table = cls.model_binding().table
        found = table.batch_get([cls.key_of(k) for k in keys])
        return [None if item is None else cls.from_item(item) for item in found]

    @classmethod
    def query(cls: type[M], *pk: Any, sk: Condition | None = None,
              filter: Condition | None = None, limit: int | None = None,
              scan_index_forward: bool = True,
              exclusive_start_key: dict[str, Any] | None = None, index: str | None = None,
              **pk_fields: Any) -> Results[M]:
        """Return the items of one item collection that are this model (or
        a subclass), in sort-key order, as instances of their own class.

        Args:
            pk: the values of the ``pk`` template's fields (or by name).
            sk: a condition on the last field of the ``sk`` template
                (``Order.order_id >= "o5"``, ``.between()``,
                ``.begins_with()``); without one, the items whose sort key
                starts with the template's constant prefix.
            filter: a condition applied after the key condition.
            limit: the most items to evaluate (DynamoDB's ``Limit``, before
                the filter and the type check).
            scan_index_forward: ``False`` for descending order.
            exclusive_start_key: a page's ``last_evaluated_key``.
            index: the name of an index the model declares: ``pk`` and
                ``sk`` then follow the index's templates (the same as
                ``Order.by_status.query(...)``).

        Raises:
            ValidationError: a key field missing or unknown, a bad condition,
                an index the model does not declare.

        Cost: one ``query``; O(log n + k) for k items evaluated.
        """
        return queries.query(cls, pk, pk_fields, sk=sk, filter=filter, limit=limit,
                          scan_index_forward=scan_index_forward,
                          exclusive_start_key=exclusive_start_key, index=cls._index(index))

    @classmethod
    def _index(cls, name: str | None) -> ModelIndex | None:
        if name is None:
            return None
        index = cls.model_indexes.get(name)
        if index is None:
            raise ValidationError(f"{cls.__name__} declares no index {name!r}",
                                  attribute="index")
        return index

    @classmethod
    def count(cls, *pk: Any, sk: Condition | None = None, filter: Condition | None = None,
              index: str | None = None, **pk_fields: Any) -> int:
        """How many items :meth:`query` returns. Cost: as the query."""
        return cls.query(*pk, sk=sk, filter=filter, index=index, **pk_fields).count

    @classmethod
    def scan(cls: type[M], filter: Condition | None = None, *, limit: int | None = None,
             exclusive_start_key: dict[str, Any] | None = None, segment: int | None = None,
             total_segments: int | None = None, index: str | None = None) -> Results[M]:
        """Every item of this model (and its subclasses) in the table (or
        in the declared index ``index``).

        Raises:
            ValidationError: a bad filter, limit, segment or index.

        Cost: one ``scan``: O(table size).
        """
        return queries.scan(cls, filter, limit=limit, exclusive_start_key=exclusive_start_key,
                         segment=segment, total_segments=total_segments,
                         index=cls._index(index))

    # --------------------------------------------------------------- batches

    @classmethod
    def _table_of(cls, instances: Sequence[Model]) -> Table:
        tables = {id(type(i).model_binding().table): type(i).model_binding().table for i in instances}
        if len(tables) > 1:
            raise ValidationError("these instances belong to models of different tables",
                                  attribute="instances")
        return next(iter(tables.values())) if tables else cls.model_binding().table

    @classmethod
    def save_many(cls, instances: Iterable[Model]) -> None:
        """Save every instance (of any models on the same table) as one
        batch (cacheorm's ``insert_many``, stockpyle's ``batch_put``): all or
        nothing on a data directory; on DynamoDB, BatchWriteItem requests of
        25, so a failure part-way leaves earlier requests written. Every
        instance is validated before anything is written.

        Raises:
            ValidationError: an instance is invalid (nothing written).

        Cost: one ``batch_writer`` block: one log record (a data
        directory), ceil(n / 25) requests (DynamoDB).
        """
        instances = list(instances)
        for instance in instances:
            if not isinstance(instance, Model):
                raise ValidationError(f"expected model instances, got {type(instance).__name__}",
                                      attribute="instances")
        items = [instance.to_item() for instance in instances]
        table = cls._table_of(instances)
        with table.batch_writer() as writer:
            for item in items:
                writer.put_item(item=item)

    @classmethod
    def delete_many(cls, instances_or_keys: Iterable[Any]) -> None:
        """Delete items given as instances or keys of this model, as one
        batch (missing items are no error): all or nothing on a data
        directory, requests of 25 on DynamoDB (see :meth:`save_many`).

        Raises:
            ValidationError: a bad key (nothing deleted).

        Cost: one ``batch_writer`` block.
        """
        specs = list(instances_or_keys)
        instances = [s for s in specs if isinstance(s, Model)]
        keys = [cls.key_of(s) for s in specs]
        table = cls._table_of(instances) if instances else cls.model_binding().table
        with table.batch_writer() as writer:
            for key in keys:
                writer.delete_item(key=key)

    @classmethod
    def transaction(cls, *, retries: int = 0) -> Any:
        """An optimistic transaction on this model's table
        (:class:`~dynafile.models.Transaction`): ``with Order.transaction() as tx:``
        or ``@Order.transaction(retries=5)``."""
        from .transactions import Transaction

        return Transaction(cls.table(), retries=retries)

    @classmethod
    def batch_write(cls) -> BatchWrite:
        """A context manager buffering ``save(instance)`` and
        ``delete(instance_or_key)``; a block that finishes writes them all
        as one record, one that raises writes nothing."""
        return BatchWrite(cls)


_UNKNOWN: Any = object()
