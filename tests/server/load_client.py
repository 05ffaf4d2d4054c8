"""A load client for `dynafile serve`: mixed writes and reads through boto3
for a bounded time, retrying through server restarts, and a record of every
write the server acknowledged.

Run by tests/server/test_load.py in threads (`run`) and as a process
(`python load_client.py URL NAME SECONDS OUT.json [--retry]`).
"""

from __future__ import annotations

import json
import random
import sys
import time
from typing import Any

TABLE = "load"


class Acked:
    """What the server acknowledged: items by (pk, sk), and counter increments."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.items: dict[tuple[str, str], int] = {}
        self.increments = 0
        self.reads = 0
        self.retries = 0

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "items": [[pk, sk, v] for (pk, sk), v in self.items.items()],
                "increments": self.increments, "reads": self.reads, "retries": self.retries}


def client(url: str) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client("dynamodb", endpoint_url=url, region_name="us-east-1",
                        aws_access_key_id="x", aws_secret_access_key="y",
                        config=Config(retries={"max_attempts": 1, "mode": "standard"},
                                      connect_timeout=2, read_timeout=10))


def run(url: str, name: str, seconds: float, *, retry: bool = False, seed: int = 0) -> Acked:
    """Mix writes and reads against `url` for `seconds`; return what was acknowledged.

    Reads check the client's own acknowledged writes (read-your-writes). With
    `retry`, a request that fails on the connection is sent again until it
    is answered (puts and batches are idempotent; an increment may then
    count twice, so the counter is checked as at least the acknowledged
    increments).
    """
    from botocore.exceptions import (
        ConnectionClosedError,
        EndpointConnectionError,
        ReadTimeoutError,
    )

    lost = (EndpointConnectionError, ConnectionClosedError, ReadTimeoutError)
    ddb = client(url)
    rng = random.Random(f"{name}-{seed}")
    acked = Acked(name)
    deadline = time.monotonic() + seconds

    def call(operation: str, **kwargs: Any) -> Any:
        give_up = time.monotonic() + 60
        while True:
            try:
                return getattr(ddb, operation)(**kwargs)
            except lost:
                if not retry or time.monotonic() > give_up:
                    raise
                acked.retries += 1
                time.sleep(0.05)

    seq = 0
    while time.monotonic() < deadline:
        seq += 1
        roll = rng.random()
        pk = f"{name}-{rng.randrange(8)}"
        if roll < 0.5:
            call("put_item", TableName=TABLE,
                 Item={"pk": {"S": pk}, "sk": {"S": f"{seq:08d}"}, "v": {"N": str(seq)},
                       "pad": {"S": "x" * rng.randrange(10, 400)}})
            acked.items[(pk, f"{seq:08d}")] = seq
        elif roll < 0.6:
            batch = [(f"{name}-b", f"{seq:08d}-{i}") for i in range(5)]
            call("batch_write_item", RequestItems={TABLE: [
                {"PutRequest": {"Item": {"pk": {"S": p}, "sk": {"S": s}, "v": {"N": str(seq)}}}}
                for p, s in batch]})
            for key in batch:
                acked.items[key] = seq
        elif roll < 0.7:
            call("update_item", TableName=TABLE,
                 Key={"pk": {"S": f"{name}-counter"}, "sk": {"S": "n"}},
                 UpdateExpression="ADD n :one", ExpressionAttributeValues={":one": {"N": "1"}})
            acked.increments += 1
        elif roll < 0.9 and acked.items:
            (kp, ks), value = rng.choice(list(acked.items.items())[-200:])
            got = call("get_item", TableName=TABLE, Key={"pk": {"S": kp}, "sk": {"S": ks}})
            assert got.get("Item", {}).get("v") == {"N": str(value)}, (kp, ks, got)
            acked.reads += 1
        else:
            page = call("query", TableName=TABLE, KeyConditionExpression="pk = :p",
                        ExpressionAttributeValues={":p": {"S": pk}}, Limit=50)
            assert all(item["pk"] == {"S": pk} for item in page["Items"])
            acked.reads += 1
    return acked


if __name__ == "__main__":
    url, name, seconds, out = sys.argv[1:5]
    result = run(url, name, float(seconds), retry="--retry" in sys.argv[5:])
    with open(out, "w") as f:
        json.dump(result.as_json(), f)
