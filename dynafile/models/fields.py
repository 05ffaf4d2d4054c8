"""Typed fields of models and structures.

A field is declared on a :class:`~dynafile.models.Model` or
:class:`Structure` class; it checks what is assigned to it (errors name the
field), converts the Python value to a DynamoDB value when the item is saved
and back when it is read, and, used on the class (``Order.total``), builds
conditions and update actions on its attribute.

====================  =====================================  ==============
field                 Python value                           stored as
====================  =====================================  ==============
``StringField``       ``str``                                S
``NumberField``       ``int``, ``float``, ``Decimal``        N
``BinaryField``       ``bytes``                              B
``BooleanField``      ``bool``                               BOOL
``DateTimeField``     timezone-aware ``datetime``            S (ISO, UTC) or N
``EnumField(E)``      a member of ``E``                      its value (S/N)
``ListField(of)``     ``list``                               L
``MapField(of)``      ``dict`` with ``str`` keys             M
``StructField(S)``    an instance of a ``Structure``         M
``StringSetField``    ``set`` of ``str``                     SS
``NumberSetField``    ``set`` of numbers                     NS
``BinarySetField``    ``set`` of ``bytes``                   BS
====================  =====================================  ==============
"""

from __future__ import annotations

import copy
import datetime as dt
import enum
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any, ClassVar

from ..errors import ValidationError
from ..types import check_number, validate_value
from .expressions import (
    Action,
    Call,
    Comparable,
    Condition,
    Operand,
    PathOperand,
    Size,
    ValueOperand,
    as_operand,
    if_not_exists,
    list_append,
)

__all__ = [
    "BinaryField",
    "BinarySetField",
    "BooleanField",
    "DateTimeField",
    "EnumField",
    "Field",
    "ListField",
    "MapField",
    "NumberField",
    "NumberSetField",
    "StringField",
    "StringSetField",
    "StructField",
    "Structure",
]

MISSING: Any = object()
#: What ``dump`` returns for a value that is stored as no attribute (an empty set).
OMIT: Any = object()
_UTC = dt.timezone.utc
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=_UTC)
_ISO = "%Y-%m-%dT%H:%M:%S.%fZ"


def _kind(value: Any) -> str:
    return f"{type(value).__name__} {value!r}" if len(repr(value)) < 60 else type(value).__name__


class Field(Comparable):
    """Base class of every field.

    Args:
        attribute: the stored attribute name (default: the field's name).
        default: the value of a field not given (a callable is called each
            time; a mutable value is copied each time).
        null: ``True`` lets the field be ``None`` (not stored) when saved;
            otherwise a field without a default must be set before saving.
        partition_key / sort_key: the field's value is the table's
            partition / sort key (PynamoDB's ``hash_key`` / ``range_key``);
            the same as ``Meta.pk = "{field}"``.

    On the class, a field builds conditions (``Order.total > 10``,
    ``Order.name.begins_with("A")``, ``Order.tags.contains("x")``,
    ``Order.note.exists()``) and update actions (``Order.total.set(5)``,
    ``Order.views.add(1)``, ``Order.note.remove()``). Plain values in them
    are converted as the field stores them.
    """

    #: DynamoDB's type code of the stored value.
    dynamo_type: ClassVar[str] = "S"
    #: Whether the field may be (part of) a table or index key.
    key_ok: ClassVar[bool] = False

    def __init__(self, *, attribute: str | None = None, default: Any = MISSING,
                 null: bool = False, partition_key: bool = False,
                 sort_key: bool = False) -> None:
        if attribute is not None and (not isinstance(attribute, str) or not attribute):
            raise ValidationError("must be a non-empty string", attribute="attribute")
        self.name: str = ""
        self.attribute: str = attribute or ""
        self.default = default
        self.null = bool(null)
        self.partition_key = bool(partition_key)
        self.sort_key = bool(sort_key)
        self.owner: type | None = None
        self._path: tuple[Any, ...] | None = None
        self._label: str | None = None

    # ----------------------------------------------------------- declaration

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name
        self.owner = owner
        if not self.attribute:
            self.attribute = name

    @property
    def path(self) -> tuple[Any, ...]:
        """The document path of this field in a stored item."""
        return self._path if self._path is not None else (self.attribute,)

    @property
    def label(self) -> str:
        """``Model.field`` (or ``Model.struct.field``), for error messages."""
        if self._label is not None:
            return self._label
        owner = self.owner.__name__ if self.owner is not None else "?"
        return f"{owner}.{self.name}"

    @property
    def field_path(self) -> str:
        """The field's name, dotted for nested fields (``address.city``):
        the ``attribute`` of the errors it raises."""
        return self.label.split(".", 1)[1] if "." in self.label else self.label

    def _nested(self, field: Field, part: Any, label: str) -> Field:
        """A copy of ``field`` addressing ``part`` below this field."""
        sub = copy.copy(field)
        sub._path = (*self.path, part)
        sub._label = f"{self.label}{label}"
        return sub

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if instance is None:
            return self
        return instance._values.get(self.name)

    def __set__(self, instance: Any, value: Any) -> None:
        instance._values[self.name] = None if value is None else self.check(value)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.label}>"

    @property
    def required(self) -> bool:
        """A field that must hold a value when saved."""
        return not self.null and self.default is MISSING

    def make_default(self) -> Any:
        """The field's default value (``None`` without one)."""
        if self.default is MISSING:
            return None
        if callable(self.default):
            return self.check(self.default())
        return self.check(copy.deepcopy(self.default))

    # ------------------------------------------------------------ conversion

    def error(self, why: str, path: str | None = None) -> ValidationError:
        """A ValidationError naming this field (or ``path`` below its model):
        ``attribute`` is the field path, the message starts ``Model.path:``."""
        where = self.field_path if path is None else path
        owner = self.label.split(".", 1)[0]
        err = ValidationError(f"{owner}.{where}: {why}", attribute=where)
        err.why = why  # type: ignore[attr-defined]
        return err

    def wrap(self, exc: ValidationError) -> ValidationError:
        """Re-raise an error of a field inside this one (a structure's, a raw
        value's) as this field's, with the path of both."""
        why = getattr(exc, "why", exc.reason)
        inner = exc.attribute or ""
        if inner.startswith(self.field_path):
            path = inner
        else:
            path = f"{self.field_path}.{inner}" if inner else self.field_path
        return self.error(why, path)

    def check(self, value: Any) -> Any:
        """Return ``value`` as this field holds it.

        Raises:
            ValidationError: naming the field, when the value does not fit.
        """
        raise NotImplementedError  # pragma: no cover - interface

    def to_stored(self, value: Any) -> Any:
        """Return the DynamoDB value of a checked Python value (or :data:`OMIT`)."""
        return value

    def dump(self, value: Any) -> Any:
        """Check ``value`` and return it as stored."""
        return self.to_stored(self.check(value))

    def load(self, stored: Any) -> Any:
        """Return the Python value of a stored one.

        Raises:
            ValidationError: naming the field, when the stored value has another type.
        """
        return self.check(stored)

    def convert(self, value: Any) -> Any:
        stored = self.dump(value)
        if stored is OMIT:
            raise self.error("an empty set is no value to compare with")
        return stored

    def key_text(self, value: Any, spec: str) -> str:
        """The text of ``value`` inside a key template (``{field:spec}``)."""
        if spec:
            return format(value, spec)
        return str(self.to_stored(value))

    # ------------------------------------------------------------ conditions

    def exists(self) -> Condition:
        """``attribute_exists``: the item has this attribute."""
        return Call("attribute_exists", PathOperand(self.path))

    def does_not_exist(self) -> Condition:
        """``attribute_not_exists``: the item lacks this attribute."""
        return Call("attribute_not_exists", PathOperand(self.path))

    not_exists = does_not_exist

    def is_type(self) -> Condition:
        """``attribute_type``: the attribute holds this field's DynamoDB type."""
        return Call("attribute_type", PathOperand(self.path), ValueOperand(self.dynamo_type))

    def begins_with(self, prefix: Any) -> Condition:
        """``begins_with``: a string (or binary) attribute starting with ``prefix``."""
        if not isinstance(prefix, (str, bytes)):
            raise self.error(f"begins_with takes a str or bytes, got {_kind(prefix)}")
        return Call("begins_with", PathOperand(self.path), ValueOperand(prefix))

    startswith = begins_with

    def contains(self, value: Any) -> Condition:
        """``contains``: a substring of a string, an element of a set or list."""
        return Call("contains", PathOperand(self.path), ValueOperand(self._element(value)))

    def _element(self, value: Any) -> Any:
        return self.convert(value)

    def size(self) -> Size:
        """``size(path)``, to compare: ``Order.lines.size() > 2``."""
        return Size(self.path)

    def render(self, r: Any) -> str:
        return r.path(self.path)  # type: ignore[no-any-return]

    # ---------------------------------------------------------------- updates

    def set(self, value: Any) -> Action:
        """``SET path = value``; ``value`` may be arithmetic on fields
        (``Order.total + 5``) or ``if_missing``."""
        return Action("SET", self.path, as_operand(value, self), self)

    def remove(self) -> Action:
        """``REMOVE path``."""
        return Action("REMOVE", self.path, None, self)

    def add(self, value: Any) -> Action:
        """``ADD path value``: add to a number, or elements to a set."""
        return Action("ADD", self.path, ValueOperand(self.convert(value)), self)

    def delete(self, value: Any) -> Action:
        """``DELETE path value``: remove elements from a set."""
        return Action("DELETE", self.path, ValueOperand(self.convert(value)), self)

    def if_missing(self, value: Any) -> Operand:
        """``if_not_exists(path, value)``: this attribute, or ``value`` when missing."""
        return _IfMissing(self, value)


class _IfMissing(Operand):
    def __init__(self, field: Field, value: Any) -> None:
        self.inner = if_not_exists(PathOperand(field.path), field.convert(value))
        self.field = field

    def render(self, r: Any) -> str:
        return self.inner.render(r)

    def convert(self, value: Any) -> Any:
        return self.field.convert(value)


# ---------------------------------------------------------------- scalars


class StringField(Field):
    """A ``str``. May be (part of) a key."""

    dynamo_type = "S"
    key_ok = True

    def check(self, value: Any) -> Any:
        if not isinstance(value, str):
            raise self.error(f"expected a str, got {_kind(value)}")
        return str.__str__(value)


def _plain_number(value: Any) -> Any:
    """A number as an undeclared field gives it back: a ``Decimal`` holding
    a whole number (as DynamoDB returns every number) becomes an ``int``;
    anything else is returned as it is."""
    if isinstance(value, Decimal) and value.is_finite() and value.as_tuple().exponent >= 0:  # type: ignore[operator]
        return int(value)
    return value


def _plain_values(value: Any) -> Any:
    """``value`` with :func:`_plain_number` applied to every number inside
    (lists, maps and number sets, at any depth)."""
    if isinstance(value, Decimal):
        return _plain_number(value)
    if isinstance(value, list):
        return [_plain_values(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain_values(v) for k, v in value.items()}
    if isinstance(value, (set, frozenset)) and any(isinstance(v, Decimal) for v in value):
        return {_plain_number(v) for v in value}
    return value


_NUMBER_TYPES = (int, float, Decimal)


class NumberField(Field):
    """A number: ``int``, ``float`` or ``Decimal`` (not ``bool``), within
    DynamoDB's limits (38 significant digits).

    Args:
        number_type: ``int``, ``float`` or ``Decimal``: the Python type the
            field holds and gives back on every backend (a value assigned is
            converted to it; an ``int`` field refuses a fraction). ``None``
            (the default): values are kept as given, and read back as
            stored, except that a ``Decimal`` holding a whole number comes
            back as an ``int`` (DynamoDB returns every number as a
            ``Decimal``; declare ``float`` to get floats back from it).
        **options: as for :class:`Field`.
    """

    dynamo_type = "N"
    key_ok = True

    def __init__(self, number_type: type | None = None, **options: Any) -> None:
        if number_type is not None and number_type not in _NUMBER_TYPES:
            raise ValidationError("NumberField's number_type is int, float, Decimal or None",
                                  attribute="number_type")
        super().__init__(**options)
        self.number_type = number_type

    def _number(self, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, _NUMBER_TYPES):
            raise self.error(f"expected a number, got {_kind(value)}")
        try:
            check_number(value)
        except ValidationError as exc:
            raise self.error(exc.reason) from None
        return value

    def check(self, value: Any) -> Any:
        value = self._number(value)
        kind = self.number_type
        if kind is None or type(value) is kind:
            return value
        if kind is int:
            if value != int(value):
                raise self.error(f"expected a whole number (an int field), got {_kind(value)}")
            return int(value)
        if kind is float:
            return float(value)
        return Decimal(str(value)) if isinstance(value, float) else Decimal(value)

    def load(self, stored: Any) -> Any:
        if self.number_type is None:
            return _plain_number(self.check(stored))
        return self.check(stored)

    def convert(self, value: Any) -> Any:
        # A condition may compare with any number (an int field with 2.5).
        return self._number(value)


class BinaryField(Field):
    """``bytes`` (a ``bytearray`` is stored as ``bytes``). May be a key on
    its own (``"{field}"``), not part of a text template."""

    dynamo_type = "B"
    key_ok = True

    def check(self, value: Any) -> Any:
        if not isinstance(value, (bytes, bytearray)):
            raise self.error(f"expected bytes, got {_kind(value)}")
        return bytes(value)

    def key_text(self, value: Any, spec: str) -> str:
        raise self.error("binary values cannot be part of a text key template")


class BooleanField(Field):
    """``True`` or ``False``."""

    dynamo_type = "BOOL"

    def check(self, value: Any) -> Any:
        if not isinstance(value, bool):
            raise self.error(f"expected True or False, got {_kind(value)}")
        return value


class DateTimeField(Field):
    """A timezone-aware ``datetime``, read back in UTC.

    Stored as fixed-width ISO-8601 text in UTC
    (``"2026-03-01T12:00:00.000000Z"``), which sorts in time order (so it
    suits sort keys and ``between``), or with ``epoch=True`` as epoch
    seconds (a number: an ``int``, or a ``Decimal`` with microseconds).
    A naive datetime is refused: its instant is unknown.
    """

    key_ok = True

    def __init__(self, *, epoch: bool = False, **options: Any) -> None:
        super().__init__(**options)
        self.epoch = bool(epoch)
        self.dynamo_type = "N" if epoch else "S"  # type: ignore[misc]

    def check(self, value: Any) -> Any:
        if not isinstance(value, dt.datetime):
            raise self.error(f"expected a datetime, got {_kind(value)}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise self.error("a naive datetime has no known instant: give it a timezone "
                             "(datetime.now(timezone.utc))")
        return value.astimezone(_UTC)

    def to_stored(self, value: Any) -> Any:
        if not self.epoch:
            return value.strftime(_ISO).rjust(27, "0")
        micros = (value - _EPOCH) // dt.timedelta(microseconds=1)
        if micros % 1_000_000 == 0:
            return micros // 1_000_000
        return Decimal(micros).scaleb(-6)

    def load(self, stored: Any) -> Any:
        try:
            if self.epoch:
                if isinstance(stored, bool) or not isinstance(stored, (int, float, Decimal)):
                    raise TypeError(type(stored).__name__)
                return _EPOCH + dt.timedelta(microseconds=int(Decimal(stored).scaleb(6)))
            return dt.datetime.strptime(stored, _ISO).replace(tzinfo=_UTC)
        except (TypeError, ValueError, ArithmeticError, OverflowError) as exc:
            raise self.error(f"stored value {stored!r} is not a datetime this field "
                             f"wrote ({exc})") from None

    def key_text(self, value: Any, spec: str) -> str:
        return format(value, spec) if spec else str(self.to_stored(value))


class EnumField(Field):
    """A member of an ``Enum`` whose values are all ``str`` or all numbers;
    stored as the member's value. Assigning a value (``"open"``) gives its
    member."""

    key_ok = True

    def __init__(self, enum_class: type[enum.Enum], **options: Any) -> None:
        super().__init__(**options)
        if not (isinstance(enum_class, type) and issubclass(enum_class, enum.Enum)):
            raise ValidationError("EnumField takes an Enum class", attribute="enum_class")
        members = list(enum_class)
        if all(isinstance(m.value, str) for m in members):
            self.dynamo_type = "S"  # type: ignore[misc]
        elif all(isinstance(m.value, (int, float, Decimal)) and not isinstance(m.value, bool)
                 for m in members):
            self.dynamo_type = "N"  # type: ignore[misc]
        else:
            raise ValidationError(f"the values of {enum_class.__name__} must be all str or "
                                  "all numbers", attribute="enum_class")
        self.enum_class = enum_class

    def check(self, value: Any) -> Any:
        if isinstance(value, self.enum_class):
            return value
        try:
            return self.enum_class(value)
        except ValueError:
            names = ", ".join(m.name for m in self.enum_class)
            raise self.error(f"expected a member of {self.enum_class.__name__} ({names}), "
                             f"got {_kind(value)}") from None

    def to_stored(self, value: Any) -> Any:
        return value.value

    def load(self, stored: Any) -> Any:
        if isinstance(stored, Decimal):
            # DynamoDB gives numbers back as Decimal, which equals a float
            # member's value only when the float is exact in binary (0.5, not 0.1).
            for member in self.enum_class:
                value = member.value
                if isinstance(value, float) and Decimal(str(value)) == stored:
                    return member
        return self.check(stored)

    def key_text(self, value: Any, spec: str) -> str:
        return format(value.value, spec) if spec else str(value.value)


# ---------------------------------------------------------------- containers


def _element_field(of: Field | None, what: str) -> Field | None:
    if of is None:
        return None
    if not isinstance(of, Field):
        raise ValidationError(f"{what}(of=...) takes a field instance, e.g. StringField()",
                              attribute="of")
    return of


class ListField(Field):
    """A ``list``; with ``of=`` every element is checked by that field
    (``ListField(of=StructField(Line))``), else elements are any DynamoDB
    values. ``Order.lines[0]`` addresses an element in conditions and updates."""

    dynamo_type = "L"

    def __init__(self, of: Field | None = None, **options: Any) -> None:
        super().__init__(**options)
        self.of = _element_field(of, "ListField")

    def __set_name__(self, owner: type, name: str) -> None:
        super().__set_name__(owner, name)
        if self.of is not None:
            self.of.__set_name__(owner, name)

    def _element_at(self, index: int) -> Field:
        base = self.of if self.of is not None else _AnyValue()
        return self._nested(base, index, f"[{index}]")

    def check(self, value: Any) -> Any:
        if not isinstance(value, (list, tuple)):
            raise self.error(f"expected a list, got {_kind(value)}")
        if self.of is None:
            self._validate_raw(value)
            return list(value)
        return [self._element_at(i).check(v) if v is not None else None
                for i, v in enumerate(value)]

    def _validate_raw(self, value: Any) -> None:
        try:
            validate_value(list(value), path=self.field_path)
        except ValidationError as exc:
            raise self.wrap(exc) from None

    def to_stored(self, value: Any) -> Any:
        if self.of is None:
            return list(value)
        return [None if v is None else self._element_at(i).to_stored(v)
                for i, v in enumerate(value)]

    def load(self, stored: Any) -> Any:
        if not isinstance(stored, list):
            raise self.error(f"stored value is not a list: {_kind(stored)}")
        if self.of is None:
            return _plain_values(stored)
        return [None if v is None else self._element_at(i).load(v) for i, v in enumerate(stored)]

    def __getitem__(self, index: int) -> Field:
        if not isinstance(index, int) or isinstance(index, bool) or index < 0:
            raise self.error("a list element is addressed by an index >= 0")
        return self._element_at(index)

    def _element(self, value: Any) -> Any:
        return self._element_at(0).convert(value) if self.of is not None else value

    def append(self, values: Iterable[Any]) -> Action:
        """``SET path = list_append(path, values)``: add elements at the end."""
        new = self.dump(list(values))
        return Action("SET", self.path, list_append(PathOperand(self.path), ValueOperand(new)),
                      self)

    def prepend(self, values: Iterable[Any]) -> Action:
        """``SET path = list_append(values, path)``: add elements at the front."""
        new = self.dump(list(values))
        return Action("SET", self.path, list_append(ValueOperand(new), PathOperand(self.path)),
                      self)


class MapField(Field):
    """A ``dict`` with ``str`` keys; with ``of=`` every value is checked by
    that field, else values are any DynamoDB values. ``Customer.prefs["theme"]``
    addresses one key in conditions and updates."""

    dynamo_type = "M"

    def __init__(self, of: Field | None = None, **options: Any) -> None:
        super().__init__(**options)
        self.of = _element_field(of, "MapField")

    def _value_at(self, key: str) -> Field:
        base = self.of if self.of is not None else _AnyValue()
        return self._nested(base, key, f"[{key!r}]")

    def check(self, value: Any) -> Any:
        if not isinstance(value, Mapping):
            raise self.error(f"expected a dict, got {_kind(value)}")
        for key in value:
            if not isinstance(key, str) or not key:
                raise self.error(f"map keys must be non-empty strings, got {key!r}")
        if self.of is None:
            try:
                validate_value(dict(value), path=self.field_path)
            except ValidationError as exc:
                raise self.wrap(exc) from None
            return dict(value)
        return {k: None if v is None else self._value_at(k).check(v) for k, v in value.items()}

    def to_stored(self, value: Any) -> Any:
        if self.of is None:
            return dict(value)
        return {k: None if v is None else self._value_at(k).to_stored(v)
                for k, v in value.items()}

    def load(self, stored: Any) -> Any:
        if not isinstance(stored, dict):
            raise self.error(f"stored value is not a map: {_kind(stored)}")
        if self.of is None:
            return _plain_values(stored)
        return {k: None if v is None else self._value_at(k).load(v) for k, v in stored.items()}

    def __getitem__(self, key: str) -> Field:
        if not isinstance(key, str) or not key:
            raise self.error("a map value is addressed by a non-empty str key")
        return self._value_at(key)


class _AnyValue(Field):
    """An element of an untyped list or map: any DynamoDB value."""

    dynamo_type = "M"

    def check(self, value: Any) -> Any:
        try:
            validate_value(value, path=self.field_path)
        except ValidationError as exc:
            raise self.wrap(exc) from None
        return value

    def load(self, stored: Any) -> Any:
        return _plain_values(self.check(stored))


class _SetField(Field):
    element_type: ClassVar[type[Field]]
    element_name: ClassVar[str] = "values"

    def __init__(self, **options: Any) -> None:
        options.setdefault("default", set)
        super().__init__(**options)
        self.element = self.make_element()

    def make_element(self) -> Field:
        """The field that checks each element."""
        return self.element_type()

    def check(self, value: Any) -> Any:
        if not isinstance(value, (set, frozenset, list, tuple)):
            raise self.error(f"expected a set of {self.element_name}, got {_kind(value)}")
        out = set()
        for element in value:
            try:
                out.add(self.element.check(element))
            except ValidationError:
                raise self.error(f"a set of {self.element_name} cannot hold "
                                 f"{_kind(element)}") from None
        return out

    def to_stored(self, value: Any) -> Any:
        return set(value) if value else OMIT  # DynamoDB stores no empty sets

    def load(self, stored: Any) -> Any:
        if not isinstance(stored, (set, frozenset)):
            raise self.error(f"stored value is not a set: {_kind(stored)}")
        out = self.check(stored)
        return {self.element.load(v) for v in out}

    def _element(self, value: Any) -> Any:
        try:
            return self.element.check(value)
        except ValidationError:
            raise self.error(f"a set of {self.element_name} cannot hold {_kind(value)}") from None

    def convert(self, value: Any) -> Any:
        if not isinstance(value, (set, frozenset, list, tuple)):
            value = {value}  # add(x) / delete(x) of one element
        stored = self.dump(value)
        if stored is OMIT:
            raise self.error("an empty set is no value to add, delete or compare")
        return stored


class StringSetField(_SetField):
    """A ``set`` of ``str`` (an empty set is stored as no attribute and read as ``set()``)."""

    dynamo_type = "SS"
    element_type = StringField
    element_name = "str"


class NumberSetField(_SetField):
    """A ``set`` of numbers (an empty set is stored as no attribute).

    ``number_type`` is that of :class:`NumberField`: the Python type of
    every element (``int``, ``float``, ``Decimal``; ``None``: as given,
    whole ``Decimal`` numbers read back as ``int``)."""

    dynamo_type = "NS"
    element_type = NumberField
    element_name = "numbers"

    def __init__(self, number_type: type | None = None, **options: Any) -> None:
        self.number_type = number_type
        super().__init__(**options)

    def make_element(self) -> Field:
        return NumberField(self.number_type)


class BinarySetField(_SetField):
    """A ``set`` of ``bytes`` (an empty set is stored as no attribute)."""

    dynamo_type = "BS"
    element_type = BinaryField
    element_name = "bytes"


# ----------------------------------------------------------------- structures


class FieldHolder:
    """Fields, construction, conversion: what models and structures share."""

    #: The fields by name (read-only), base classes' first.
    model_fields: ClassVar[dict[str, Field]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        fields: dict[str, Field] = {}
        for klass in reversed(cls.__mro__):
            for name, value in vars(klass).items():
                if isinstance(value, Field):
                    fields[name] = value
        attributes: dict[str, str] = {}
        for name, field in fields.items():
            other = attributes.get(field.attribute)
            if other is not None and other != name:
                raise ValidationError(f"{cls.__name__}: fields {other!r} and {name!r} are both "
                                      f"stored as attribute {field.attribute!r}",
                                      attribute=name)
            attributes[field.attribute] = name
        cls.model_fields = fields

    def __init__(self, **values: Any) -> None:
        self._values: dict[str, Any] = {}
        cls = type(self)
        for name in values:
            if name not in cls.model_fields:
                raise ValidationError(f"{cls.__name__} has no field {name!r}", attribute=name)
        for name, field in cls.model_fields.items():
            if name in values:
                setattr(self, name, values[name])
            else:
                self._values[name] = field.make_default()

    def _dump_fields(self) -> dict[str, Any]:
        """The stored attributes of the fields (required ones checked)."""
        out: dict[str, Any] = {}
        for name, field in type(self).model_fields.items():
            value = self._values.get(name)
            if value is None:
                if field.required:
                    raise field.error("is required (give it a value, a default, or null=True)")
                continue
            stored = field.dump(value)
            if stored is not OMIT:
                out[field.attribute] = stored
        return out

    def _load_fields(self, stored: Mapping[str, Any]) -> None:
        for name, field in type(self).model_fields.items():
            if field.attribute in stored and stored[field.attribute] is not None:
                self._values[name] = field.load(stored[field.attribute])
            else:
                self._values[name] = field.make_default()

    def to_dict(self) -> dict[str, Any]:
        """The field values by field name (structures as dicts)."""
        def plain(value: Any) -> Any:
            if isinstance(value, FieldHolder):
                return value.to_dict()
            if isinstance(value, list):
                return [plain(v) for v in value]
            if isinstance(value, dict):
                return {k: plain(v) for k, v in value.items()}
            return value
        return {name: plain(self._values.get(name)) for name in type(self).model_fields}

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self._values == other._values  # type: ignore[attr-defined, no-any-return]

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in self._values.items() if v is not None)
        return f"{type(self).__name__}({shown})"


class Structure(FieldHolder):
    """A nested structure (a map with typed fields), declared like a model::

        class Address(Structure):
            street = StringField()
            city = StringField()
            zip = StringField(null=True)

    and used through :class:`StructField` (``address = StructField(Address)``,
    ``lines = ListField(of=StructField(Line))``). Conditions and updates
    reach its fields: ``Customer.address.city == "Oslo"``.
    """


class StructField(Field):
    """A :class:`Structure` instance, stored as a map. A ``dict`` assigned
    to it is turned into the structure (its keys are field names)."""

    dynamo_type = "M"

    def __init__(self, structure: type[Structure], **options: Any) -> None:
        super().__init__(**options)
        if not (isinstance(structure, type) and issubclass(structure, Structure)):
            raise ValidationError("StructField takes a Structure subclass", attribute="structure")
        self.structure = structure

    def check(self, value: Any) -> Any:
        if isinstance(value, self.structure):
            return value
        if isinstance(value, Mapping):
            try:
                return self.structure(**value)
            except ValidationError as exc:
                raise self.wrap(exc) from None
        raise self.error(f"expected a {self.structure.__name__} (or a dict of its fields), "
                         f"got {_kind(value)}")

    def to_stored(self, value: Any) -> Any:
        try:
            return value._dump_fields()
        except ValidationError as exc:
            raise self.wrap(exc) from None

    def load(self, stored: Any) -> Any:
        if not isinstance(stored, dict):
            raise self.error(f"stored value is not a map: {_kind(stored)}")
        instance = self.structure.__new__(self.structure)
        instance._values = {}
        try:
            instance._load_fields(stored)
        except ValidationError as exc:
            raise self.wrap(exc) from None
        return instance

    def __getattr__(self, name: str) -> Field:
        if name.startswith("_"):
            raise AttributeError(name)
        field = self.structure.model_fields.get(name)
        if field is None:
            raise AttributeError(f"{self.structure.__name__} has no field {name!r}")
        return self._nested(field, field.attribute, f".{name}")

