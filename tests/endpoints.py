"""DynamoDB endpoints for the export/import/copy tests: moto's server mode
(an independent implementation of DynamoDB's API) and `dynafile serve`,
each a process of its own on a free loopback port, always stopped."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

_LISTENING = re.compile(r"listening on (http://\S+)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class EndpointProcess:
    """A server process; ``url`` is where it answers."""

    def __init__(self, command: list[str], url: str | None = None) -> None:
        self.command = command
        self.url = url or ""
        self.log: list[str] = []
        self.proc: subprocess.Popen[str] | None = None

    def start(self, timeout: float = 60.0) -> EndpointProcess:
        env = {**os.environ, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}
        self.proc = subprocess.Popen(self.command, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, env=env)
        ready = threading.Event()
        stream = self.proc.stdout
        assert stream is not None

        def read() -> None:
            for line in stream:
                self.log.append(line)
                found = _LISTENING.search(line)
                if found and not self.url:
                    self.url = found.group(1)
                    ready.set()
            ready.set()

        threading.Thread(target=read, daemon=True).start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            if self.url and self._answers():
                return self
            ready.wait(0.1)
        self.stop()
        raise RuntimeError(f"{self.command[:4]} did not start:\n" + "".join(self.log))

    def _answers(self) -> bool:
        host, port = self.url.rsplit("/", 1)[-1].rsplit(":", 1)
        try:
            with socket.create_connection((host, int(port)), timeout=1):
                return True
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    @property
    def endpoint(self) -> str:
        """The endpoint as ``dynafile copy`` takes it."""
        return f"dynamodb://us-east-1?endpoint={self.url}"


def moto_server() -> EndpointProcess:
    port = free_port()
    return EndpointProcess([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p",
                            str(port)], url=f"http://127.0.0.1:{port}").start()


def dynafile_server(path: Path) -> EndpointProcess:
    return EndpointProcess([sys.executable, "-m", "dynafile.dynamodb", str(path), "--port",
                            "0", "--durability", "normal", "--quiet"]).start()


def boto_client(url: str) -> Any:
    import boto3

    return boto3.client("dynamodb", endpoint_url=url, region_name="us-east-1",
                        aws_access_key_id="test", aws_secret_access_key="test")


#: Items holding every DynamoDB type: sets, binary, 38-digit numbers, empty
#: strings and binary in non-key attributes, nested maps and lists.
def rich_items(n: int = 300) -> list[dict[str, Any]]:
    items = []
    for i in range(n):
        item: dict[str, Any] = {
            "pk": f"user#{i % 37:03d}", "sk": i, "name": f"name {i} ✓", "empty": "",
            "blob": bytes([i % 256, 0, 255]), "empty_blob": b"",
            "n38": Decimal(f"-12345678901234567890123456789012345{i % 100:02d}.8"[i % 2:]),
            "tiny": Decimal("1E-130"), "huge": Decimal("9.9999999999999999999999999999999999999E+125"),
            "neg": -i, "float": i / 4, "flag": i % 2 == 0, "nothing": None,
            "tags": {"a", "b", f"t{i}"}, "nums": {1, Decimal("2.5"), Decimal(i) + 100},
            "blobs": {b"\x00", b"\x01" * (i % 5 + 1)},
            "doc": {"list": [1, "two", [3, {"four": {b"\x04"}}], None, True],
                    "map": {"deep": {"deeper": {"n": Decimal("-0.000001")}}}, "e": ""},
        }
        if i % 3:
            item["status"] = ["open", "shipped"][i % 2]
            item["total"] = Decimal(i) / 8
        if i % 5 == 0:
            item["expires"] = 4_000_000_000 + i   # far future: TTL set, nothing expired
        items.append(item)
    return items
