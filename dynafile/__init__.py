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

from .changes import ConsumerBusyError, StreamRecord, StreamTrimmedError
from .errors import *
from .errors import __all__ as _errors_all
from .expressions import Attr, Key
from .indexes import GSI, LSI
from .pages import Page
from .serialization import JSONSerializer, PickleSerializer, Serializer
from .streams import Event
from .table import Dynafile

__all__ = [
    "Dynafile",
    "Key",
    "Attr",
    "Event",
    "StreamRecord",
    "StreamTrimmedError",
    "ConsumerBusyError",
    "GSI",
    "LSI",
    "Page",
    "Serializer",
    "PickleSerializer",
    "JSONSerializer",
    *_errors_all,
]
__version__ = "0.2.0"
