"""boto3 in-process: unchanged boto3 code over a data directory, no socket.

botocore sends every request through its event system; a ``before-send``
handler that returns a response stops the real send (moto works the same
way). The hook here passes the request's ``X-Amz-Target`` and body to the
:class:`~.handler.Handler` and hands its answer back as an
``AWSResponse``, so boto3 still validates and serialises the request,
signs it, checks the CRC32 and parses the response or the error into
``ClientError`` exactly as it would from DynamoDB. Client, resource,
paginators, waiters, ``boto3.dynamodb.conditions`` and the Table
resource's ``batch_writer`` all work as they are.

::

    from dynafile.dynamodb import client, resource
    ddb = client("data/db")                       # a boto3 DynamoDB client
    table = resource("data/db").Table("orders")   # the resource API
    streams = client("data/db", service="dynamodbstreams")

    with patched(boto3.DEFAULT_SESSION or boto3.Session(), "data/db"):
        ...                                       # clients made here use the directory

Needs boto3 (``pip install dynafile[boto3]``).
"""

from __future__ import annotations

import atexit
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Callable

from .handler import DYNAMODB_PREFIX, STREAMS_PREFIX, Handler

__all__ = ["client", "handler_for", "hook", "patched", "resource"]

_handlers: dict[str, Handler] = {}
_guard = threading.Lock()
_SERVICES = ("dynamodb", "dynamodbstreams")


class _Body:
    """A finished response body, as botocore reads one (``raw.stream()``)."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._data

    def read(self, *_: Any, **__: Any) -> bytes:
        data, self._data = self._data, b""
        return data


def handler_for(source: Handler | str | os.PathLike[str], **options: Any) -> Handler:
    """The handler of ``source``: a :class:`Handler` as is, or the one
    shared handler of a directory path in this process (opened on first
    use with ``options``, closed when the interpreter exits)."""
    if isinstance(source, Handler):
        return source
    path = os.path.abspath(os.fspath(source))
    with _guard:
        handler = _handlers.get(path)
        if handler is None:
            handler = Handler(path, **options)
            _handlers[path] = handler
        return handler


@atexit.register
def _close_all() -> None:  # pragma: no cover - runs at interpreter exit
    with _guard:
        for handler in _handlers.values():
            handler.close()
        _handlers.clear()


def hook(handler: Handler) -> Callable[..., Any]:
    """The ``before-send`` event handler that answers DynamoDB and DynamoDB
    Streams requests with ``handler`` (others go on to the network)."""
    from botocore.awsrequest import AWSResponse  # type: ignore[import-untyped]

    def before_send(request: Any, **_: Any) -> Any:
        target = request.headers.get("X-Amz-Target")
        if isinstance(target, bytes):
            target = target.decode("ascii", "replace")
        if not isinstance(target, str) or not target.startswith(
                (DYNAMODB_PREFIX + ".", STREAMS_PREFIX + ".")):
            return None
        body = request.body
        if hasattr(body, "read"):
            body = body.read()
        if isinstance(body, str):
            body = body.encode("utf-8")
        status, headers, payload = handler.handle(target, body)
        return AWSResponse(request.url, status, headers, _Body(payload))

    return before_send


def _session(handler: Handler, kwargs: dict[str, Any]) -> Any:
    import boto3  # type: ignore[import-untyped]

    return boto3.session.Session(
        aws_access_key_id=kwargs.pop("aws_access_key_id", "dynafile"),
        aws_secret_access_key=kwargs.pop("aws_secret_access_key", "dynafile"),
        aws_session_token=kwargs.pop("aws_session_token", None),
        region_name=kwargs.pop("region_name", handler.region))


def client(source: Handler | str | os.PathLike[str], service: str = "dynamodb",
           **boto3_kwargs: Any) -> Any:
    """A boto3 client (``"dynamodb"`` or ``"dynamodbstreams"``) whose
    requests go to ``source`` (a :class:`Handler` or a database directory).

    ``boto3_kwargs`` go to ``Session.client`` (``config=``...); credentials
    and ``region_name`` default to dummies and the handler's region.

    Raises:
        ValueError: ``service`` is not one of the two.
        ImportError: boto3 is not installed (``pip install dynafile[boto3]``).
    """
    if service not in _SERVICES:
        raise ValueError(f"service must be one of {_SERVICES}, got {service!r}")
    handler = handler_for(source)
    made = _session(handler, boto3_kwargs).client(service, **boto3_kwargs)
    made.meta.events.register_first("before-send", hook(handler))
    return made


def resource(source: Handler | str | os.PathLike[str], **boto3_kwargs: Any) -> Any:
    """A boto3 DynamoDB service resource over ``source`` (see :func:`client`)."""
    handler = handler_for(source)
    made = _session(handler, boto3_kwargs).resource("dynamodb", **boto3_kwargs)
    made.meta.client.meta.events.register_first("before-send", hook(handler))
    return made


@contextmanager
def patched(session: Any, source: Handler | str | os.PathLike[str]) -> Iterator[Handler]:
    """Within the block, DynamoDB and DynamoDB Streams clients and resources
    that ``session`` creates go to ``source``.

    ``session`` is a ``boto3.Session`` (or botocore session); it needs
    credentials as usual (any will do). Clients made before the block are
    not affected; those made inside keep the hook after it.

    Yields:
        the :class:`Handler`.
    """
    handler = handler_for(source)
    events = session.events if hasattr(session, "events") else session.get_component(
        "event_emitter")
    send = hook(handler)
    events.register_first("before-send", send)
    try:
        yield handler
    finally:
        events.unregister("before-send", send)
