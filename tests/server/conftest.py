"""Fixtures for `dynafile serve`: a server process on a free port, always
stopped, and boto3 clients pointed at it over HTTP."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("uvicorn", reason="dynafile serve needs the server extra")

ACCESS_KEY = "AKIDDYNAFILETEST"
SECRET_KEY = "dynafile-test-secret"
REGION = "us-east-1"
_LISTENING = re.compile(r"listening on (http://\S+)")


class Server:
    """One `dynafile serve` process; its stderr is collected in `log`."""

    def __init__(self, path: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.path = path
        self.args = args
        self.env = env
        self.log: list[str] = []
        self.url = ""
        self.proc: subprocess.Popen[str] | None = None

    def start(self, timeout: float = 30.0) -> Server:
        command = [sys.executable, "-m", "dynafile.dynamodb", str(self.path), "--port", "0",
                   *self.args]
        self.log = []
        self.proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True,
                                     env={**os.environ, **(self.env or {})})
        ready = threading.Event()
        stderr = self.proc.stderr
        assert stderr is not None

        def read() -> None:
            for line in stderr:
                self.log.append(line)
                found = _LISTENING.search(line)
                if found and not self.url:
                    self.url = found.group(1)
                    ready.set()
            ready.set()

        self.url = ""
        threading.Thread(target=read, daemon=True).start()
        if not ready.wait(timeout) or not self.url:
            self.kill()
            raise RuntimeError("dynafile serve did not start:\n" + "".join(self.log))
        return self

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        """Send `sig` and wait for the exit status (killed if it hangs)."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def text(self, wait: float = 0.0) -> str:
        time.sleep(wait)
        return "".join(self.log)


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Any]:
    """`serve(*args, path=None)` starts `dynafile serve` on a free port; every
    server started is stopped when the test ends."""
    servers: list[Server] = []

    def start(*args: str, path: Path | None = None, env: dict[str, str] | None = None) -> Server:
        server = Server(path or tmp_path / "db", "--durability", "normal", *args, env=env)
        servers.append(server)
        return server.start()

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def server(serve: Any) -> Server:
    return serve()


def boto_client(url: str, service: str = "dynamodb", **kwargs: Any) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(service, endpoint_url=url, region_name=REGION,
                        aws_access_key_id=kwargs.pop("key", ACCESS_KEY),
                        aws_secret_access_key=kwargs.pop("secret", SECRET_KEY),
                        config=Config(retries={"max_attempts": 1, "mode": "standard"}),
                        **kwargs)


def make_table(client: Any, name: str = "orders") -> None:
    client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                   {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                              {"AttributeName": "sk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST")
