"""The ASGI application ``dynafile serve`` runs: DynamoDB's HTTP API over a
:class:`~dynafile.dynamodb.Handler`.

What it adds to the handler is what only HTTP has: the method, the body's
size and pace, the signature, and the request log. Requests are answered
in DynamoDB's shape:

* ``POST /`` with ``X-Amz-Target``: the handler's answer;
* ``GET /``: DynamoDB's health check text (``healthy: dynamodb.<region>.amazonaws.com``);
* any other method: 405, ``UnknownOperationException``;
* a ``Content-Length`` over :data:`~dynafile.dynamodb.MAX_REQUEST_BYTES`,
  or a body that grows past it: 413 before the body is read, then the
  connection closes;
* a body that takes longer than ``body_timeout`` seconds: 408, then the
  connection closes;
* a bad or missing signature when a :class:`~.signing.SignatureCheck` is
  given: DynamoDB's signing errors (400).

The handler runs in a thread pool (``threads`` workers): a slow fsync or a
long scan never holds the event loop, and a slow client costs a
connection, never a worker. Pure ASGI 3: no third-party import here.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, Callable

from .errors import DynamoDBError, MethodNotAllowed, RequestTimeout, RequestTooLarge
from .handler import MAX_REQUEST_BYTES, Handler, Response
from .signing import SignatureCheck

__all__ = ["App", "access_log"]

#: The request log: one INFO line per request (client, operation, table, status, duration).
access_log = logging.getLogger("dynafile.serve.access")

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class _Disconnected(Exception):
    """The client went away before its body was complete."""


class App:
    """DynamoDB's HTTP API as an ASGI 3 application.

    Args:
        handler: the protocol handler to answer with (the app does not close it).
        signature: checks every request's SigV4 signature when given.
        threads: handler threads (requests handled at once).
        body_timeout: seconds a client may take to send its whole body.
        max_body: the largest body accepted (DynamoDB's 16 MB).

    Example:
        >>> import tempfile
        >>> from dynafile.dynamodb import Handler
        >>> app = App(Handler(tempfile.mkdtemp()))
        >>> app.close(); app.handler.close()
    """

    def __init__(self, handler: Handler, *, signature: SignatureCheck | None = None,
                 threads: int = 8, body_timeout: float = 30.0,
                 max_body: int = MAX_REQUEST_BYTES) -> None:
        self.handler = handler
        self.signature = signature
        self.body_timeout = body_timeout
        self.max_body = max_body
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="dynafile-serve")
        self._health = f"healthy: dynamodb.{handler.region}.amazonaws.com ".encode()

    def close(self) -> None:
        """Wait for requests in the handler threads to finish; stop the threads."""
        self._pool.shutdown(wait=True)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer one ASGI connection scope (``http``; ``lifespan`` is acknowledged)."""
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":  # pragma: no cover - the server speaks HTTP only
            return
        started = time.perf_counter()
        info = {"operation": "-", "table": "-"}
        status = await self._answer(scope, receive, send, info)
        if status and access_log.isEnabledFor(logging.INFO):
            client = scope.get("client") or ("-", 0)
            access_log.info("%s %s %s %d %.1fms", client[0], info["operation"], info["table"],
                            status, (time.perf_counter() - started) * 1000)

    async def _answer(self, scope: Scope, receive: Receive, send: Send,
                      info: dict[str, str]) -> int:
        """Answer the request; return its status (0: the client went away)."""
        method = scope["method"]
        headers: dict[str, str] = {}
        for raw_name, raw_value in scope["headers"]:
            name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
            headers[name] = f"{headers[name]},{value}" if name in headers else value
        if method == "GET" and scope["path"] == "/":
            await _send(send, 200, [(b"content-type", b"text/plain")], self._health)
            info["operation"] = "GET /"
            return 200
        if method != "POST":
            info["operation"] = method
            error: DynamoDBError = MethodNotAllowed(f"{method} is not supported; use POST")
            return await self._error(send, error, close=False, extra=[(b"allow", b"GET, POST")])
        length = headers.get("content-length", "")
        if length.isdigit() and int(length) > self.max_body:
            return await self._error(send, RequestTooLarge("Request Entity Too Large"), close=True)
        try:
            body = await asyncio.wait_for(self._body(receive), self.body_timeout)
        except asyncio.TimeoutError:
            error = RequestTimeout(f"The request body was not received within "
                                   f"{self.body_timeout:g} seconds")
            return await self._error(send, error, close=True)
        except _Disconnected:
            return 0
        if body is None:
            return await self._error(send, RequestTooLarge("Request Entity Too Large"), close=True)
        target = headers.get("x-amz-target")
        if self.signature is not None:
            info["operation"] = (target or "-").partition(".")[2] or "-"
            try:
                self.signature.verify(method, scope["path"],
                                      scope.get("query_string", b"").decode("latin-1"),
                                      headers, body)
            except DynamoDBError as refused:
                return await self._error(send, refused, close=False)
        loop = asyncio.get_running_loop()
        response = await loop.run_in_executor(
            self._pool, partial(self.handler.handle, target, body, info=info))
        await _respond(send, response)
        return response.status

    async def _body(self, receive: Receive) -> bytes | None:
        """The whole body, or None when it grows past ``max_body``."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _Disconnected
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def _error(self, send: Send, error: DynamoDBError, *, close: bool,
                     extra: list[tuple[bytes, bytes]] | None = None) -> int:
        response = Handler.error_response(error)
        more = list(extra or [])
        if close:  # the rest of the body is never read: end the connection after the answer
            more.append((b"connection", b"close"))
        await _respond(send, response, more)
        return response.status


async def _respond(send: Send, response: Response,
                   extra: list[tuple[bytes, bytes]] | None = None) -> None:
    headers = [(name.lower().encode("latin-1"), value.encode("latin-1"))
               for name, value in response.headers.items()]
    await _send(send, response.status, headers + (extra or []), response.body)


async def _send(send: Send, status: int, headers: list[tuple[bytes, bytes]],
                body: bytes) -> None:
    if not any(name == b"content-length" for name, _ in headers):
        headers = [*headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
