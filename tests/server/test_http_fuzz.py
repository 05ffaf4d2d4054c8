"""Malformed HTTP against `dynafile serve`: every request gets DynamoDB's
error shape or a cleanly closed connection, and the server keeps serving
(bad request lines and headers, wrong methods, truncated and oversized
bodies, slow clients, random bytes)."""

from __future__ import annotations

import json
import socket
import threading
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .conftest import boto_client

TARGET = "DynamoDB_20120810.ListTables"
GOOD_BODY = b"{}"


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory):
    """One server for the module, with short timeouts for slow clients."""
    from .conftest import Server

    server = Server(tmp_path_factory.mktemp("fuzz") / "db", "--durability", "normal",
                    "--body-timeout", "1", "--keep-alive", "1").start()
    yield server
    server.stop()


def exchange(server, data: bytes, *, wait: float = 5.0, close_write: bool = False) -> bytes:
    """Send raw bytes, read until the server closes (it closes idle connections
    after 1 s) or `wait` passes."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=wait)
    try:
        sock.sendall(data)
        if close_write:
            sock.shutdown(socket.SHUT_WR)
        chunks = []
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except (TimeoutError, ConnectionResetError):
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        sock.close()


def read_all(sock: socket.socket, wait: float = 5.0) -> bytes:
    chunks = []
    sock.settimeout(wait)
    while True:
        try:
            chunk = sock.recv(65536)
        except (TimeoutError, ConnectionResetError):
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def request_bytes(body: bytes = GOOD_BODY, target: str = TARGET, method: str = "POST",
                  extra: str = "", length: int | None = None) -> bytes:
    size = len(body) if length is None else length
    head = (f"{method} / HTTP/1.1\r\nHost: localhost\r\nX-Amz-Target: {target}\r\n"
            f"Content-Type: application/x-amz-json-1.0\r\nContent-Length: {size}\r\n"
            f"Connection: close\r\n{extra}\r\n")
    return head.encode("latin-1") + body


def status_and_body(answer: bytes) -> tuple[int, bytes]:
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


def assert_dynamodb_error(answer: bytes, status: int, name: str) -> None:
    got, body = status_and_body(answer)
    assert got == status, answer
    assert json.loads(body)["__type"].endswith("#" + name), body


def assert_serving(server) -> None:
    assert boto_client(server.url).list_tables()["TableNames"] == []


def test_a_good_raw_request_is_answered(fuzzed):
    status, body = status_and_body(exchange(fuzzed, request_bytes()))
    assert status == 200 and json.loads(body) == {"TableNames": []}


@pytest.mark.parametrize("data", [
    b"\x00\x01\x02 not http at all\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost localhost no colon\r\n\r\n",
    b"POST / HTTP/9.9\r\nHost: x\r\n\r\n",
    b"POST / HTTP/1.1\r\nContent-Length: twelve\r\n\r\n{}",
    b"POST / HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 5\r\n\r\n{}",
    b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
    b"GET /" + b"a" * 100_000 + b" HTTP/1.1\r\n\r\n",
    b"POST / HTTP/1.1\r\n" + b"X-Big: " + b"b" * 200_000 + b"\r\n\r\n",
])
def test_malformed_http_gets_an_answer_or_a_close(fuzzed, data):
    answer = exchange(fuzzed, data)
    if answer:
        status, _ = status_and_body(answer)
        assert 400 <= status < 500, answer[:200]
    assert_serving(fuzzed)


def test_wrong_methods_get_dynamodb_error_shape(fuzzed):
    for method in ("PUT", "DELETE", "PATCH", "OPTIONS"):
        assert_dynamodb_error(exchange(fuzzed, request_bytes(method=method)), 405,
                              "UnknownOperationException")
    assert_serving(fuzzed)


def test_missing_target_and_bad_json(fuzzed):
    answer = exchange(fuzzed, request_bytes(target=""))
    assert_dynamodb_error(answer, 400, "UnknownOperationException")
    answer = exchange(fuzzed, request_bytes(body=b'{"TableName": '))
    assert_dynamodb_error(answer, 400, "SerializationException")


def test_huge_content_length_is_refused_before_reading(fuzzed):
    start = time.monotonic()
    answer = exchange(fuzzed, request_bytes(body=b"{", length=10**12), close_write=False)
    assert_dynamodb_error(answer, 413, "RequestEntityTooLarge")
    assert b"connection: close" in answer.lower()
    assert time.monotonic() - start < 3
    answer = exchange(fuzzed, request_bytes(body=b"", length=20 * 1024 * 1024,
                                            extra="Expect: 100-continue\r\n"), close_write=False)
    assert_dynamodb_error(answer, 413, "RequestEntityTooLarge")
    assert_serving(fuzzed)


def test_chunked_body_growing_past_the_limit_is_refused(fuzzed):
    chunk = b"a" * (1024 * 1024)
    frame = b"%x\r\n" % len(chunk) + chunk + b"\r\n"
    head = (f"POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: {TARGET}\r\n"
            "Transfer-Encoding: chunked\r\n\r\n").encode()
    sock = socket.create_connection(("127.0.0.1", fuzzed.port), timeout=10)
    try:
        sock.sendall(head)
        try:
            for _ in range(20):
                sock.sendall(frame)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed while we were still sending
        answer = read_all(sock)
    finally:
        sock.close()
    assert_dynamodb_error(answer, 413, "RequestEntityTooLarge")
    assert_serving(fuzzed)


def test_truncated_body_then_hang_up(fuzzed):
    for _ in range(5):
        sock = socket.create_connection(("127.0.0.1", fuzzed.port), timeout=5)
        sock.sendall(request_bytes(body=b'{"Lim', length=500))
        sock.close()
    assert_serving(fuzzed)


def test_slow_body_gets_request_timeout(fuzzed):
    sock = socket.create_connection(("127.0.0.1", fuzzed.port), timeout=10)
    try:
        sock.sendall(request_bytes(body=b"{", length=2))
        start = time.monotonic()
        answer = read_all(sock)
        assert time.monotonic() - start < 5
    finally:
        sock.close()
    assert_dynamodb_error(answer, 408, "RequestTimeoutException")


def test_slow_headers_are_closed(fuzzed):
    sock = socket.create_connection(("127.0.0.1", fuzzed.port), timeout=10)
    try:
        start = time.monotonic()
        closed = False
        for byte in b"POST / HTTP/1.1\r\nHost: slowloris\r\nX-A: " + b"a" * 40:
            try:
                sock.sendall(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            time.sleep(0.1)
        if not closed:
            sock.settimeout(5)
            closed = sock.recv(100) == b""
    finally:
        sock.close()
    assert closed and time.monotonic() - start < 6


def test_slow_and_idle_clients_do_not_stall_others(fuzzed):
    idle = [socket.create_connection(("127.0.0.1", fuzzed.port)) for _ in range(50)]
    stop = threading.Event()

    def trickle(sock: socket.socket) -> None:
        try:
            sock.sendall(request_bytes(body=b"", length=100))
            while not stop.wait(0.05):
                sock.sendall(b" ")
        except OSError:
            pass

    slow = [socket.create_connection(("127.0.0.1", fuzzed.port)) for _ in range(20)]
    threads = [threading.Thread(target=trickle, args=(s,)) for s in slow]
    for t in threads:
        t.start()
    try:
        client = boto_client(fuzzed.url)
        start = time.monotonic()
        for _ in range(20):
            client.list_tables()
        assert time.monotonic() - start < 5
    finally:
        stop.set()
        for t in threads:
            t.join()
        for s in idle + slow:
            s.close()
    assert_serving(fuzzed)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_random_mutations_of_a_request(fuzzed, data):
    good = bytearray(request_bytes(body=b'{"Limit": 5}'))
    for _ in range(data.draw(st.integers(1, 6))):
        kind = data.draw(st.sampled_from(["flip", "cut", "insert"]))
        at = data.draw(st.integers(0, max(0, len(good) - 1)))
        if kind == "flip" and good:
            good[at] = data.draw(st.integers(0, 255))
        elif kind == "cut":
            del good[at:at + data.draw(st.integers(1, 20))]
        else:
            good[at:at] = data.draw(st.binary(min_size=1, max_size=20))
    answer = exchange(fuzzed, bytes(good), wait=3)
    if answer.startswith(b"HTTP/1.1 ") and b"\r\n\r\n" in answer:
        status, body = status_and_body(answer)
        assert status < 500, answer[:300]
        if status >= 400 and b"application/x-amz-json-1.0" in answer.partition(b"\r\n\r\n")[0]:
            assert "__type" in json.loads(body)
    assert boto_client(fuzzed.url).list_tables()["TableNames"] == []
