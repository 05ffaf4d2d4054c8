"""dynafile: an embedded, file-backed database with DynamoDB's data model.

A short tour::

    >>> import tempfile
    >>> from dynafile import Dynafile, Key
    >>> db = Dynafile(tempfile.mkdtemp(), pk_attribute="PK", sk_attribute="SK")
    >>> db.put_item(item={"PK": "user#1", "SK": "order#0001", "total": 42})
    >>> db.put_item(item={"PK": "user#1", "SK": "order#0002", "total": 7})
    >>> [i["total"] for i in db.query("user#1", sk=Key("SK").begins_with("order#"),
    ...                               scan_index_forward=False)]
    [7, 42]
    >>> [i["SK"] for i in db.scan(lambda item: item["total"] > 10)]
    ['order#0001']
    >>> db.close()
"""

from typing import TYPE_CHECKING, Any

from .errors import (
    CancellationReason,
    ClosedError,
    ConditionalCheckFailedError,
    ConsumerBusyError,
    CorruptFileError,
    DynafileError,
    ForkedProcessError,
    ItemNotFoundError,
    ItemTooLargeError,
    LockTimeoutError,
    MissingDependencyError,
    ModelTypeError,
    SchemaMismatchError,
    StreamTrimmedError,
    TableExistsError,
    TableNotFoundError,
    TransactionCanceledError,
    TransactionConflictError,
    UnsafeDataError,
    UnsupportedFormatError,
    ValidationError,
)
from .table import Dynafile

if TYPE_CHECKING:  # pragma: no cover - imported on first use (_LAZY below)
    from .database import Database
    from .expressions import Attr, Key
    from .indexes import GSI, LSI
    from .listeners import Event
    from .pages import Page
    from .records import StreamRecord
    from .serialization import (
        JSONSerializer,
        MsgpackSerializer,
        PickleSerializer,
        Serializer,
        get_serializer,
        register_serializer,
        serializer_names,
    )

#: Public names imported on first use (PEP 562), so that ``import dynafile``
#: and a get on an existing table import only what they need (the
#: expression parser, for one, is loaded by the first expression).
_LAZY = {
    "Database": "database",
    "Attr": "expressions",
    "Key": "expressions",
    "GSI": "indexes",
    "LSI": "indexes",
    "Event": "listeners",
    "Page": "pages",
    "StreamRecord": "records",
    "JSONSerializer": "serialization",
    "MsgpackSerializer": "serialization",
    "PickleSerializer": "serialization",
    "Serializer": "serialization",
    "get_serializer": "serialization",
    "register_serializer": "serialization",
    "serializer_names": "serialization",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'dynafile' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "GSI",
    "LSI",
    "Attr",
    "CancellationReason",
    "ClosedError",
    "ConditionalCheckFailedError",
    "ConsumerBusyError",
    "CorruptFileError",
    "Database",
    "Dynafile",
    "DynafileError",
    "Event",
    "ForkedProcessError",
    "ItemNotFoundError",
    "ItemTooLargeError",
    "JSONSerializer",
    "Key",
    "LockTimeoutError",
    "MissingDependencyError",
    "ModelTypeError",
    "MsgpackSerializer",
    "Page",
    "PickleSerializer",
    "SchemaMismatchError",
    "Serializer",
    "StreamRecord",
    "StreamTrimmedError",
    "TableExistsError",
    "TableNotFoundError",
    "TransactionCanceledError",
    "TransactionConflictError",
    "UnsafeDataError",
    "UnsupportedFormatError",
    "ValidationError",
    "get_serializer",
    "register_serializer",
    "serializer_names",
]
__version__ = "0.2.0"
