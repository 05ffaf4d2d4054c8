"""Typed models on dynafile tables (single-table design, PynamoDB-like).

::

    from dynafile import Dynafile
    from dynafile.models import Model, StringField, NumberField

    class Customer(Model):
        class Meta:
            pk = "CUSTOMER#{customer_id}"
            sk = "PROFILE"
        customer_id = StringField()
        name = StringField()
        visits = NumberField(default=0)

    Customer.bind(Dynafile("data/shop"))
    Customer(customer_id="c1", name="Ann").save()
    Customer.get("c1").name           # -> 'Ann'

Models use only the public table API (:class:`Table`: a data directory's
``Dynafile`` or the DynamoDB backend's ``RemoteTable``); see ``docs/models.md``.
"""

from .expressions import Action, Condition, Size
from .fields import (
    BinaryField,
    BinarySetField,
    BooleanField,
    DateTimeField,
    EnumField,
    Field,
    ListField,
    MapField,
    NumberField,
    NumberSetField,
    StringField,
    StringSetField,
    StructField,
    Structure,
)
from .indexes import BoundIndex, GlobalIndex, LocalIndex
from .keys import Template
from .model import Model
from .results import BatchWrite, Results
from .tables import Table
from .transactions import Transaction, TransactWrite, transact_get

__all__ = [
    "Action",
    "BatchWrite",
    "BinaryField",
    "BinarySetField",
    "BooleanField",
    "BoundIndex",
    "Condition",
    "DateTimeField",
    "EnumField",
    "Field",
    "GlobalIndex",
    "ListField",
    "LocalIndex",
    "MapField",
    "Model",
    "NumberField",
    "NumberSetField",
    "Results",
    "Size",
    "StringField",
    "StringSetField",
    "StructField",
    "Structure",
    "Table",
    "Template",
    "TransactWrite",
    "Transaction",
    "transact_get",
]
