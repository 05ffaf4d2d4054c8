"""DynamoDB's API over a dynafile database: the protocol handler, the
DynamoDB Streams API, and boto3 in-process.

* :class:`Handler` answers DynamoDB API requests (``X-Amz-Target`` and a JSON
  body in, DynamoDB's JSON response or error out) over a
  :class:`~dynafile.Database` directory: the HTTP server and the in-process
  transport both call :meth:`Handler.handle`.
* :func:`client`, :func:`resource` and :func:`patched` point unchanged boto3
  code at a directory, with no socket (needs ``pip install dynafile[boto3]``).
* ``dynafile serve PATH`` (:mod:`.server`, also ``python -m dynafile.dynamodb``)
  serves the handler over HTTP on uvicorn (needs ``pip install dynafile[server]``);
  :mod:`.asgi` is its ASGI app and :mod:`.signing` its SigV4 checks.

Example::

    >>> import tempfile
    >>> from dynafile.dynamodb import Handler
    >>> with Handler(tempfile.mkdtemp()) as handler:
    ...     handler.call("ListTables", {})
    {'TableNames': []}

See ``docs/server.md`` for what is supported and every deliberate
difference from DynamoDB.
"""

from .boto import client, handler_for, patched, resource
from .errors import DynamoDBError
from .handler import DYNAMODB_PREFIX, MAX_REQUEST_BYTES, STREAMS_PREFIX, Handler, Response

__all__ = [
    "DYNAMODB_PREFIX",
    "MAX_REQUEST_BYTES",
    "STREAMS_PREFIX",
    "DynamoDBError",
    "Handler",
    "Response",
    "client",
    "handler_for",
    "patched",
    "resource",
]
