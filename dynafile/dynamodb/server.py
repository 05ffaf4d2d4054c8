"""``dynafile serve PATH``: DynamoDB's HTTP API over a data directory.

::

    dynafile serve data/db                       # http://127.0.0.1:8000
    dynafile serve data/db --host 0.0.0.0 --port 8001
    dynafile serve data/db --access-key AKID --secret-key SECRET   # check SigV4
    python -m dynafile.dynamodb data/db          # the same

The server is uvicorn (``pip install dynafile[server]``) running the ASGI
app of :mod:`.asgi` over one :class:`~dynafile.dynamodb.Handler`. It prints
``dynafile serve: listening on http://HOST:PORT`` once it accepts
connections (``--port 0`` picks a free port and names it there), logs one
line per request to stderr, and on SIGINT or SIGTERM stops accepting,
finishes the requests in flight (up to ``--graceful-timeout`` seconds),
closes the database and exits 0.

The directory stays a dynafile database: Python programs (and other
servers) may open it at the same time, as with any dynafile directory.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import socket
import sys
from collections.abc import Sequence
from types import FrameType
from typing import Any

from ..errors import DynafileError
from .asgi import App
from .handler import Handler
from .signing import SignatureCheck

__all__ = ["ACCESS_KEY_ENV", "SECRET_KEY_ENV", "main", "parser"]

#: Environment variables that configure SigV4 checks when the options are not given.
ACCESS_KEY_ENV = "DYNAFILE_ACCESS_KEY_ID"
SECRET_KEY_ENV = "DYNAFILE_SECRET_ACCESS_KEY"

EXIT_OK = 0
EXIT_USAGE = 2

log = logging.getLogger("dynafile.serve")


def parser() -> argparse.ArgumentParser:
    """The ``dynafile serve`` argument parser."""
    p = argparse.ArgumentParser(
        prog="dynafile serve",
        description="Serve DynamoDB's HTTP API (and DynamoDB Streams') over a dynafile "
                    "data directory.")
    p.add_argument("path", metavar="PATH", help="the data directory (created when missing)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    p.add_argument("--port", type=int, default=8000,
                   help="port to listen on (8000; 0 picks a free one)")
    p.add_argument("--region", default="us-east-1", help="the region ARNs name (us-east-1)")
    p.add_argument("--access-key", default=os.environ.get(ACCESS_KEY_ENV),
                   help=f"check SigV4 signatures against this access key id "
                        f"(or ${ACCESS_KEY_ENV}); with --secret-key")
    p.add_argument("--secret-key", default=os.environ.get(SECRET_KEY_ENV),
                   help=f"the secret access key signatures are checked with "
                        f"(or ${SECRET_KEY_ENV})")
    p.add_argument("--durability", choices=("full", "normal"), default="full",
                   help="full: fsync before a write is acknowledged (default); normal: "
                        "an acknowledged write survives the server being killed, not "
                        "a power loss")
    p.add_argument("--threads", type=_positive_int, default=8,
                   help="requests handled at once (8)")
    p.add_argument("--body-timeout", type=_positive_float, default=30.0,
                   help="seconds a client may take to send a request (30)")
    p.add_argument("--keep-alive", type=_positive_float, default=5.0,
                   help="seconds an idle connection stays open (5)")
    p.add_argument("--graceful-timeout", type=_positive_float, default=30.0,
                   help="seconds to finish requests in flight on SIGINT/SIGTERM (30)")
    p.add_argument("--quiet", action="store_true", help="no request log")
    return p


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {value}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be above 0: {value}")
    return value


def _listen(host: str, port: int) -> socket.socket:
    """A listening socket for ``host:port`` (IPv4 or IPv6 by the address)."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(1024)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def _protocol(header_timeout: float) -> type[asyncio.Protocol]:
    """uvicorn's httptools protocol with a deadline for a request's headers.

    uvicorn times out idle keep-alive connections, not a client that opens
    a connection and then sends its headers a byte at a time: this one
    closes a connection whose request line and headers are not complete
    within ``header_timeout`` seconds of it opening or of the request's
    first byte.
    """
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    class Protocol(HttpToolsProtocol):
        header_deadline: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._arm()

        def on_headers_complete(self) -> None:
            self._disarm()
            super().on_headers_complete()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _arm(self) -> None:
            self._disarm()
            self.header_deadline = self.loop.call_later(header_timeout, self._expire)

        def _disarm(self) -> None:
            if self.header_deadline is not None:
                self.header_deadline.cancel()
                self.header_deadline = None

        def _expire(self) -> None:
            self.header_deadline = None
            if not self.transport.is_closing():
                self.transport.close()

    return Protocol


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``dynafile serve`` with ``argv`` (default: ``sys.argv[1:]``).

    Returns the exit status: 0 after a clean shutdown (SIGINT or SIGTERM),
    2 for wrong arguments, a missing extra, a port in use or a directory
    that cannot be opened. Blocks while serving.
    """
    args_list = list(sys.argv[1:] if argv is None else argv)
    try:
        args = parser().parse_args(args_list)
    except SystemExit as exc:  # usage errors and --help
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    try:
        import uvicorn
    except ImportError:
        print("dynafile serve: needs the server extra: pip install 'dynafile[server]'",
              file=sys.stderr)
        return EXIT_USAGE
    if bool(args.access_key) != bool(args.secret_key):
        print("dynafile serve: --access-key and --secret-key go together", file=sys.stderr)
        return EXIT_USAGE
    _configure_logging(quiet=args.quiet)
    signature = SignatureCheck(args.access_key, args.secret_key) if args.access_key else None
    try:
        sock = _listen(args.host, args.port)
    except OSError as error:
        print(f"dynafile serve: cannot listen on {args.host}:{args.port}: {error}",
              file=sys.stderr)
        return EXIT_USAGE
    try:
        handler = Handler(args.path, region=args.region, durability=args.durability)
    except (DynafileError, OSError) as error:
        sock.close()
        print(f"dynafile serve: cannot open {args.path}: {error}", file=sys.stderr)
        return EXIT_USAGE
    app = App(handler, signature=signature, threads=args.threads,
              body_timeout=args.body_timeout)
    config = uvicorn.Config(
        app, lifespan="off", ws="none", access_log=False, log_level="warning", server_header=False,
        proxy_headers=False,
        http=_protocol(args.body_timeout), timeout_keep_alive=int(max(1, args.keep_alive)),
        timeout_graceful_shutdown=int(max(1, args.graceful_timeout)), log_config=None)
    server = uvicorn.Server(config)
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    stopped: list[int] = []
    previous = {sig: signal.signal(sig, _record(stopped)) for sig in (signal.SIGINT,
                                                                       signal.SIGTERM)}
    try:
        print(f"dynafile serve: listening on http://{shown}:{port} ({handler.database.path}"
              f"{', SigV4 checked' if signature else ''})", file=sys.stderr, flush=True)
        server.run(sockets=[sock])
    finally:
        app.close()
        handler.close()
        sock.close()
        for sig, old in previous.items():
            signal.signal(sig, old)
    log.info("dynafile serve: stopped%s, database closed",
             f" on {signal.Signals(stopped[0]).name}" if stopped else "")
    return EXIT_OK


def _record(stopped: list[int]) -> Any:
    """A signal handler that only notes the signal: uvicorn's own handlers do
    the shutdown, then hand the signal on to this one so ``main`` can close
    the database and return instead of dying."""
    def note(signum: int, frame: FrameType | None) -> None:
        stopped.append(signum)
    return note


def _configure_logging(*, quiet: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    for name in ("dynafile.serve", "dynafile.dynamodb"):
        logger = logging.getLogger(name)
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    logging.getLogger("dynafile.serve.access").setLevel(logging.WARNING if quiet
                                                        else logging.INFO)
