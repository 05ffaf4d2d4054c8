"""`dynafile serve`: DynamoDB's HTTP API over a data directory, as boto3
users see it (client, resource, streams), with SigV4 checks, the request
log, a clean shutdown, and the directory shared with Python programs."""

from __future__ import annotations

import http.client
import json
import signal
import socket
import subprocess
import sys
import time

import pytest
from botocore.exceptions import ClientError

from dynafile import Database

from .conftest import ACCESS_KEY, SECRET_KEY, boto_client, make_table


def error_name(excinfo: pytest.ExceptionInfo[ClientError]) -> str:
    return excinfo.value.response["Error"]["Code"]


def test_boto3_client_over_http(server):
    ddb = boto_client(server.url)
    make_table(ddb)
    assert ddb.list_tables()["TableNames"] == ["orders"]
    ddb.put_item(TableName="orders", Item={"pk": {"S": "c1"}, "sk": {"S": "o1"},
                                           "price": {"N": "12.50"}})
    ddb.batch_write_item(RequestItems={"orders": [
        {"PutRequest": {"Item": {"pk": {"S": "c1"}, "sk": {"S": f"o{i}"}, "price": {"N": str(i)}}}}
        for i in range(2, 7)]})
    item = ddb.get_item(TableName="orders", Key={"pk": {"S": "c1"}, "sk": {"S": "o1"}})["Item"]
    assert item["price"] == {"N": "12.5"}  # DynamoDB keeps numbers normalised
    page = ddb.query(TableName="orders", KeyConditionExpression="pk = :p AND sk > :s",
                     ExpressionAttributeValues={":p": {"S": "c1"}, ":s": {"S": "o3"}})
    assert [i["sk"]["S"] for i in page["Items"]] == ["o4", "o5", "o6"]
    updated = ddb.update_item(TableName="orders", Key={"pk": {"S": "c1"}, "sk": {"S": "o1"}},
                              UpdateExpression="ADD price :d",
                              ExpressionAttributeValues={":d": {"N": "1"}},
                              ReturnValues="UPDATED_NEW")
    assert updated["Attributes"]["price"] == {"N": "13.5"}
    with pytest.raises(ClientError) as failed:
        ddb.put_item(TableName="orders", Item={"pk": {"S": "c1"}, "sk": {"S": "o1"}},
                     ConditionExpression="attribute_not_exists(pk)")
    assert error_name(failed) == "ConditionalCheckFailedException"
    with pytest.raises(ddb.exceptions.ResourceNotFoundException):
        ddb.get_item(TableName="missing", Key={"pk": {"S": "x"}})
    scanned = ddb.get_paginator("scan").paginate(TableName="orders", PaginationConfig={
        "PageSize": 2})
    assert sum(len(p["Items"]) for p in scanned) == 6


def test_boto3_resource_over_http(server):
    import boto3
    from boto3.dynamodb.conditions import Attr, Key

    dynamodb = boto3.resource("dynamodb", endpoint_url=server.url, region_name="us-east-1",
                              aws_access_key_id="x", aws_secret_access_key="y")
    table = dynamodb.create_table(
        TableName="people", KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST")
    table.wait_until_exists()
    with table.batch_writer() as batch:
        for i in range(30):
            batch.put_item(Item={"id": f"p{i}", "age": i, "tags": {"a", "b"}})
    assert table.get_item(Key={"id": "p3"})["Item"] == {"id": "p3", "age": 3, "tags": {"a", "b"}}
    old = table.scan(FilterExpression=Attr("age").gte(25))["Items"]
    assert sorted(i["id"] for i in old) == [f"p{i}" for i in range(25, 30)]
    assert table.query(KeyConditionExpression=Key("id").eq("p7"))["Count"] == 1
    table.delete_item(Key={"id": "p3"})
    assert "Item" not in table.get_item(Key={"id": "p3"})


def test_streams_over_http(server):
    ddb = boto_client(server.url)
    ddb.create_table(TableName="events", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                     BillingMode="PAY_PER_REQUEST",
                     StreamSpecification={"StreamEnabled": True,
                                          "StreamViewType": "NEW_AND_OLD_IMAGES"})
    ddb.put_item(TableName="events", Item={"pk": {"S": "a"}})
    streams = boto_client(server.url, service="dynamodbstreams")
    arn = streams.list_streams(TableName="events")["Streams"][0]["StreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard,
                                          ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    records = streams.get_records(ShardIterator=iterator)["Records"]
    assert [r["eventName"] for r in records] == ["INSERT"]
    assert records[0]["dynamodb"]["NewImage"] == {"pk": {"S": "a"}}


def request(url: str, method: str = "POST", body: bytes = b"{}",
            headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.request(method, "/", body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def test_health_check_and_methods(server):
    status, _, body = request(server.url, "GET", b"")
    assert status == 200 and body.startswith(b"healthy: dynamodb.us-east-1.amazonaws.com")
    status, _, body = request(server.url, "PUT")
    assert status == 405
    assert json.loads(body)["__type"] == "com.amazon.coral.service#UnknownOperationException"
    status, _, body = request(server.url, "POST", b"{}",
                              {"X-Amz-Target": "DynamoDB_20120810.Nope"})
    assert status == 400
    assert json.loads(body) == {"__type": "com.amazon.coral.service#UnknownOperationException"}


def test_request_log_names_operation_table_status_duration(server):
    ddb = boto_client(server.url)
    make_table(ddb)
    ddb.put_item(TableName="orders", Item={"pk": {"S": "a"}, "sk": {"S": "b"}})
    with pytest.raises(ClientError):
        ddb.get_item(TableName="nothing", Key={"pk": {"S": "a"}})
    deadline = time.monotonic() + 5
    while "GetItem nothing" not in server.text() and time.monotonic() < deadline:
        time.sleep(0.05)
    lines = server.text().splitlines()
    put = next(line for line in lines if " PutItem " in line)
    assert " PutItem orders 200 " in put and put.endswith("ms")
    assert any(" GetItem nothing 400 " in line for line in lines)


def test_quiet_logs_no_requests(serve):
    server = serve("--quiet")
    boto_client(server.url).list_tables()
    assert "ListTables" not in server.text(0.3)


@pytest.fixture
def signed(serve):
    return serve("--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY)


def test_sigv4_accepts_the_configured_key(signed):
    ddb = boto_client(signed.url)
    make_table(ddb)
    assert ddb.list_tables()["TableNames"] == ["orders"]
    assert "SigV4 checked" in signed.text()


def test_sigv4_refuses_a_wrong_secret_or_key(signed):
    with pytest.raises(ClientError) as failed:
        boto_client(signed.url, secret="not-the-secret").list_tables()
    assert error_name(failed) == "InvalidSignatureException"
    with pytest.raises(ClientError) as failed:
        boto_client(signed.url, key="AKIDSOMEONEELSE").list_tables()
    assert error_name(failed) == "UnrecognizedClientException"


def test_sigv4_refuses_unsigned_and_tampered_requests(signed):
    status, _, body = request(signed.url, headers={"X-Amz-Target": "DynamoDB_20120810.ListTables"})
    assert status == 400
    assert json.loads(body)["__type"].endswith("#MissingAuthenticationTokenException")
    # a request signed for one body and sent with another
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    signed_request = AWSRequest(method="POST", url=signed.url + "/", data=b'{"Limit": 1}',
                                headers={"X-Amz-Target": "DynamoDB_20120810.ListTables",
                                         "Content-Type": "application/x-amz-json-1.0"})
    SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "dynamodb", "us-east-1").add_auth(
        signed_request)
    headers = dict(signed_request.headers.items())
    status, _, body = request(signed.url, body=b'{"Limit": 1}', headers=headers)
    assert status == 200, body
    status, _, body = request(signed.url, body=b'{"Limit": 2}', headers=headers)
    assert status == 400
    assert json.loads(body)["__type"].endswith("#InvalidSignatureException")
    headers["Authorization"] = "AWS4-HMAC-SHA256 nonsense"
    status, _, body = request(signed.url, body=b'{"Limit": 1}', headers=headers)
    assert json.loads(body)["__type"].endswith("#IncompleteSignatureException")


def test_sigv4_credentials_from_the_environment(serve):
    server = serve(env={"DYNAFILE_ACCESS_KEY_ID": ACCESS_KEY,
                        "DYNAFILE_SECRET_ACCESS_KEY": SECRET_KEY})
    boto_client(server.url).list_tables()
    with pytest.raises(ClientError) as failed:
        boto_client(server.url, secret="wrong").list_tables()
    assert error_name(failed) == "InvalidSignatureException"


def test_sigterm_finishes_the_request_in_flight_and_closes(server):
    ddb = boto_client(server.url)
    make_table(ddb)
    body = json.dumps({"TableName": "orders",
                       "Item": {"pk": {"S": "late"}, "sk": {"S": "x"}}}).encode()
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    head = (f"POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: DynamoDB_20120810.PutItem\r\n"
            f"Content-Type: application/x-amz-json-1.0\r\nContent-Length: {len(body)}\r\n\r\n")
    sock.sendall(head.encode() + body[:10])
    time.sleep(0.3)
    assert server.proc is not None
    server.proc.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    assert server.proc.poll() is None  # waits for the request in flight
    sock.sendall(body[10:])
    answer = sock.recv(65536)
    sock.close()
    assert answer.startswith(b"HTTP/1.1 200"), answer
    assert server.proc.wait(20) == 0
    assert "database closed" in server.text(0.2)
    with Database(server.path) as db:
        assert db.table("orders").get_item(key={"pk": "late", "sk": "x"}) is not None


def test_sigint_stops_cleanly(server):
    boto_client(server.url).list_tables()
    assert server.stop(signal.SIGINT) == 0
    assert "stopped on SIGINT, database closed" in server.text(0.2)


def test_directory_shared_with_python_programs(server):
    ddb = boto_client(server.url)
    make_table(ddb)
    ddb.put_item(TableName="orders", Item={"pk": {"S": "from-http"}, "sk": {"S": "1"}})
    with Database(server.path) as db:  # another process's view of the same files
        table = db.table("orders")
        assert table.get_item(key={"pk": "from-http", "sk": "1"}) == {"pk": "from-http",
                                                                      "sk": "1"}
        table.put_item(item={"pk": "from-python", "sk": "1", "n": 5})
    item = ddb.get_item(TableName="orders", Key={"pk": {"S": "from-python"}, "sk": {"S": "1"}})
    assert item["Item"]["n"] == {"N": "5"}


def test_two_servers_share_one_directory(serve, tmp_path):
    first, second = serve(), serve(path=tmp_path / "db")
    make_table(boto_client(first.url))
    boto_client(first.url).put_item(TableName="orders",
                                    Item={"pk": {"S": "a"}, "sk": {"S": "1"}})
    got = boto_client(second.url).get_item(TableName="orders",
                                           Key={"pk": {"S": "a"}, "sk": {"S": "1"}})
    assert got["Item"]["pk"] == {"S": "a"}


def test_cli_wiring_and_usage(tmp_path):
    done = subprocess.run([sys.executable, "-m", "dynafile.cli", "serve", "--help"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "--access-key" in done.stdout
    done = subprocess.run([sys.executable, "-m", "dynafile.dynamodb", str(tmp_path),
                           "--access-key", "only-half"], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 2 and "--secret-key" in done.stderr


def test_port_in_use_is_an_error(server, tmp_path):
    done = subprocess.run([sys.executable, "-m", "dynafile.dynamodb", str(tmp_path / "other"),
                           "--port", str(server.port)], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 2 and "cannot listen" in done.stderr


def test_missing_extra_names_it(tmp_path):
    code = ("import sys; sys.modules['uvicorn'] = None\n"
            "from dynafile.dynamodb.server import main\n"
            f"sys.exit(main([{str(tmp_path)!r}]))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 2
    assert "pip install 'dynafile[server]'" in done.stderr
