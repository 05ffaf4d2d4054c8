"""The DynamoDB Streams API: ListStreams, DescribeStream, GetShardIterator
(all four types), GetRecords with DynamoDB's record shape.

DynamoDB's documentation for what these tests assert:
https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_Operations_Amazon_DynamoDB_Streams.html
https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Streams.html
"""

import pytest
from botocore.exceptions import ClientError

from .conftest import make_table


def k(pk, sk="x"):
    return {"pk": {"S": pk}, "sk": {"S": sk}}


@pytest.fixture
def setup(ddb, streams):
    make_table(ddb, stream="NEW_AND_OLD_IMAGES")
    make_table(ddb, "quiet")
    arn = ddb.describe_table(TableName="orders")["Table"]["LatestStreamArn"]
    return ddb, streams, arn


def iterator(streams, arn, kind="TRIM_HORIZON", **kw):
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    return streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType=kind,
                                      **kw)["ShardIterator"]


def test_list_and_describe(setup):
    _ddb, streams, arn = setup
    listed = streams.list_streams()["Streams"]
    assert [(s["TableName"], s["StreamArn"]) for s in listed] == [("orders", arn)]
    assert streams.list_streams(TableName="quiet")["Streams"] == []
    description = streams.describe_stream(StreamArn=arn)["StreamDescription"]
    assert description["StreamStatus"] == "ENABLED"
    assert description["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    assert description["TableName"] == "orders"
    assert len(description["Shards"]) == 1
    with pytest.raises(ClientError) as info:
        streams.describe_stream(StreamArn=arn + "x")
    assert info.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_records(setup):
    ddb, streams, arn = setup
    ddb.put_item(TableName="orders", Item={**k("a"), "n": {"N": "1"}})
    ddb.put_item(TableName="orders", Item={**k("a"), "n": {"N": "2"}})
    ddb.delete_item(TableName="orders", Key=k("a"))
    got = streams.get_records(ShardIterator=iterator(streams, arn))
    records = got["Records"]
    assert [r["eventName"] for r in records] == ["INSERT", "MODIFY", "REMOVE"]
    first = records[0]
    assert first["eventSource"] == "aws:dynamodb"
    assert first["eventVersion"] == "1.1"
    assert first["awsRegion"] == "us-east-1"
    body = first["dynamodb"]
    assert body["Keys"] == k("a")
    assert body["NewImage"] == {**k("a"), "n": {"N": "1"}}
    assert "OldImage" not in body
    assert body["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    assert body["SizeBytes"] > 0
    assert records[1]["dynamodb"]["OldImage"] == {**k("a"), "n": {"N": "1"}}
    numbers = [r["dynamodb"]["SequenceNumber"] for r in records]
    assert numbers == sorted(numbers) and len(set(numbers)) == 3
    # the next iterator continues after the last record
    ddb.put_item(TableName="orders", Item=k("b"))
    more = streams.get_records(ShardIterator=got["NextShardIterator"])["Records"]
    assert [r["dynamodb"]["Keys"] for r in more] == [k("b")]


def test_iterator_types(setup):
    ddb, streams, arn = setup
    for name in "abcd":
        ddb.put_item(TableName="orders", Item=k(name))
    records = streams.get_records(ShardIterator=iterator(streams, arn))["Records"]
    second = records[1]["dynamodb"]["SequenceNumber"]
    at = streams.get_records(ShardIterator=iterator(
        streams, arn, "AT_SEQUENCE_NUMBER", SequenceNumber=second))["Records"]
    assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in at] == ["b", "c", "d"]
    after = streams.get_records(ShardIterator=iterator(
        streams, arn, "AFTER_SEQUENCE_NUMBER", SequenceNumber=second), Limit=1)["Records"]
    assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in after] == ["c"]
    latest = iterator(streams, arn, "LATEST")
    assert streams.get_records(ShardIterator=latest)["Records"] == []
    ddb.put_item(TableName="orders", Item=k("e"))
    assert [r["dynamodb"]["Keys"]["pk"]["S"]
            for r in streams.get_records(ShardIterator=latest)["Records"]] == ["e"]


def test_batches_and_transactions_are_one_record_each_change(setup):
    ddb, streams, arn = setup
    ddb.batch_write_item(RequestItems={"orders": [{"PutRequest": {"Item": k(str(i))}}
                                                  for i in range(3)]})
    records = streams.get_records(ShardIterator=iterator(streams, arn))["Records"]
    assert len(records) == 3
    assert len({r["dynamodb"]["SequenceNumber"][:20] for r in records}) == 1  # one log record


def test_keys_only_view(ddb, streams):
    make_table(ddb, stream="KEYS_ONLY")
    arn = ddb.describe_table(TableName="orders")["Table"]["LatestStreamArn"]
    ddb.put_item(TableName="orders", Item={**k("a"), "n": {"N": "1"}})
    (record,) = streams.get_records(ShardIterator=iterator(streams, arn))["Records"]
    assert set(record["dynamodb"]) == {"ApproximateCreationDateTime", "Keys", "SequenceNumber",
                                       "SizeBytes", "StreamViewType"}


def test_stream_starts_when_enabled(ddb, streams):
    make_table(ddb)
    ddb.put_item(TableName="orders", Item=k("before"))
    ddb.update_table(TableName="orders", StreamSpecification={"StreamEnabled": True,
                                                              "StreamViewType": "NEW_IMAGE"})
    ddb.put_item(TableName="orders", Item=k("after"))
    arn = ddb.describe_table(TableName="orders")["Table"]["LatestStreamArn"]
    records = streams.get_records(ShardIterator=iterator(streams, arn))["Records"]
    assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in records] == ["after"]


def test_ttl_deletes_carry_the_service_identity(handler, ddb, streams):
    make_table(ddb, stream="NEW_AND_OLD_IMAGES")
    ddb.update_time_to_live(TableName="orders", TimeToLiveSpecification={
        "Enabled": True, "AttributeName": "expires"})
    ddb.put_item(TableName="orders", Item={**k("old"), "expires": {"N": "1"}})
    handler.database.table("orders").sweep_expired()
    arn = ddb.describe_table(TableName="orders")["Table"]["LatestStreamArn"]
    records = streams.get_records(ShardIterator=iterator(streams, arn))["Records"]
    assert records[-1]["eventName"] == "REMOVE"
    assert records[-1]["userIdentity"] == {"Type": "Service",
                                           "PrincipalId": "dynamodb.amazonaws.com"}


def test_bad_iterator(streams):
    with pytest.raises(ClientError) as info:
        streams.get_records(ShardIterator="garbage")
    assert info.value.response["Error"] == {"Code": "ValidationException",
                                            "Message": "Invalid ShardIterator"}
