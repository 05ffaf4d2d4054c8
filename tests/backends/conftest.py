"""One test suite, three backends.

Every test that takes the ``backend`` fixture runs three times:

* ``file``: a data directory (``Database(tmp_path)``);
* ``serve``: the DynamoDB backend (``Database(client=...)``) pointed at
  ``dynafile serve`` (``python -m dynafile.dynamodb PATH --port 0``), one
  server for the session;
* ``moto``: the DynamoDB backend pointed at moto's server mode
  (``python -m moto.server -p 0``), an independent implementation of
  DynamoDB's API, one server for the session.

The servers are started on first use and stopped at the end of the
session. A backend whose server cannot start (its package missing) skips
with the reason. Tests that cannot apply to a backend call
``backend.skip(reason)`` / ``backend.only(...)``, which say why.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

BACKENDS = ("file", "serve", "moto")
REGION = "us-east-1"
_counter = itertools.count()


class ServerProcess:
    """A server child process whose stderr announces its URL."""

    def __init__(self, name: str, command: list[str], pattern: str) -> None:
        self.name = name
        self.command = command
        self.pattern = re.compile(pattern)
        self.url = ""
        self.log: list[str] = []
        self.proc: subprocess.Popen[str] | None = None

    def start(self, timeout: float = 60.0) -> ServerProcess:
        self.proc = subprocess.Popen(self.command, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        ready = threading.Event()
        out = self.proc.stdout
        assert out is not None

        def read() -> None:
            for line in out:
                if len(self.log) < 200:
                    self.log.append(line)
                found = self.pattern.search(line)
                if found and not self.url:
                    self.url = found.group(1)
                    ready.set()
            ready.set()

        threading.Thread(target=read, daemon=True).start()
        if not ready.wait(timeout) or not self.url:
            self.stop()
            raise RuntimeError(f"{self.name} did not start:\n" + "".join(self.log))
        return self

    def stop(self) -> None:
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _client(url: str) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client("dynamodb", endpoint_url=url, region_name=REGION,
                        aws_access_key_id="AKIDTEST", aws_secret_access_key="secret",
                        config=Config(retries={"mode": "standard", "max_attempts": 3}))


_servers: dict[str, Any] = {}


def _server(name: str, tmp_factory: Any) -> tuple[ServerProcess, Any]:
    """The session's server ``name`` and a client of it (started once);
    skips the test, with the reason, when it cannot run here."""
    found = _servers.get(name)
    if isinstance(found, str):
        pytest.skip(found)
    if found is not None:
        return found  # type: ignore[no-any-return]
    try:
        import boto3  # noqa: F401
    except ImportError:
        _servers[name] = "the DynamoDB backend needs boto3 (pip install 'dynafile[boto3]')"
        pytest.skip(_servers[name])
    if name == "serve":
        try:
            import uvicorn  # noqa: F401
        except ImportError:
            _servers[name] = "dynafile serve needs the server extra (uvicorn)"
            pytest.skip(_servers[name])
        path = tmp_factory.mktemp("serve") / "db"
        process = ServerProcess("dynafile serve", [
            sys.executable, "-m", "dynafile.dynamodb", str(path), "--port", "0",
            "--durability", "normal", "--quiet"], r"listening on (http://\S+)")
    else:
        try:
            import flask  # noqa: F401
            import moto.server  # noqa: F401
        except ImportError as exc:
            _servers[name] = f"moto's server mode needs moto[server] ({exc})"
            pytest.skip(_servers[name])
        process = ServerProcess("moto server", [
            sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", "0"],
            r"Running on (http://\S+)")
    process.start()
    _servers[name] = (process, _client(process.url))
    return _servers[name]  # type: ignore[no-any-return]


@pytest.fixture(scope="session", autouse=True)
def _stop_servers() -> Iterator[None]:
    yield
    for found in list(_servers.values()):
        if isinstance(found, tuple):
            found[0].stop()
    _servers.clear()


class Backend:
    """What a test needs of one backend.

    Attributes:
        name: ``"file"``, ``"serve"`` or ``"moto"``.
        remote: the DynamoDB backend (``serve`` and ``moto``).
        url: the endpoint (remote backends).
        client: the boto3 client of the endpoint (remote backends).
        path: the data directory (file backend).
    """

    def __init__(self, name: str, tmp_path: Path, server: Any = None) -> None:
        self.name = name
        self.remote = name != "file"
        self.tmp_path = tmp_path
        self.path = str(tmp_path / "db")
        self.url = server[0].url if server else ""
        self.client = server[1] if server else None
        self._databases: list[Any] = []
        self._created: list[str] = []

    def database(self, **options: Any) -> Any:
        """A new ``Database`` of this backend (closed at the end of the test)."""
        from dynafile import Database

        if self.remote:
            db = Database(client=self.client, **options)
        else:
            db = Database(self.path, durability="normal", **options)
        self._databases.append(db)
        return db

    @property
    def db(self) -> Any:
        """The test's database (the first one made)."""
        return self._databases[0] if self._databases else self.database()

    def unique(self, stem: str = "t") -> str:
        """A table name no other test uses."""
        name = f"{stem}{next(_counter)}_{uuid.uuid4().hex[:8]}"
        self._created.append(name)
        return name

    def create(self, name: str | None = None, **kwargs: Any) -> Any:
        """Create a table (a unique name unless given) in the test's database."""
        kwargs.setdefault("pk_attribute", "PK")
        kwargs.setdefault("sk_attribute", "SK")
        if name is None:
            name = self.unique()
        else:
            self._created.append(name)
        return self.db.create_table(name, **kwargs)

    def skip(self, reason: str) -> None:
        """Skip this test on this backend, saying why."""
        pytest.skip(f"{self.name}: {reason}")

    def only_file(self, reason: str) -> None:
        if self.remote:
            self.skip(reason)

    def only_remote(self, reason: str) -> None:
        if not self.remote:
            self.skip(reason)

    def cleanup(self) -> None:
        for db in self._databases:
            with contextlib.suppress(Exception):
                db.close()
        if self.remote and self.client is not None:
            for name in self._created:
                with contextlib.suppress(Exception):  # most were never created
                    self.client.delete_table(TableName=name)


@pytest.fixture(params=BACKENDS)
def backend(request: Any, tmp_path: Path, tmp_path_factory: Any) -> Iterator[Backend]:
    name = request.param
    server = None if name == "file" else _server(name, tmp_path_factory)
    found = Backend(name, tmp_path, server)
    yield found
    found.cleanup()


@pytest.fixture
def table(backend: Backend) -> Any:
    """A fresh table with keys ``PK`` / ``SK`` (strings)."""
    return backend.create()
