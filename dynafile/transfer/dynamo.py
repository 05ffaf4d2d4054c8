"""The DynamoDB side of a copy, through boto3's client: endpoints, tables,
BatchWriteItem in 25s with retries, parallel Scan segments.

An endpoint is written ``dynamodb://REGION`` (AWS itself, with boto3's
usual credentials), ``dynamodb://REGION?endpoint=URL`` (any server that
speaks DynamoDB's API: ``dynafile serve``, DynamoDB Local, moto), or just
the server's ``http://`` / ``https://`` URL (region ``us-east-1``).
``profile=NAME`` picks a profile of the AWS configuration. With an
``endpoint`` and no credentials anywhere, dummy ones are used (local
servers accept any).
"""

from __future__ import annotations

import random
import time
import urllib.parse
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .common import TransferError
from .definition import create_table_request, definition_from_dynamodb
from .values import item_from_dynamodb, item_to_dynamodb

__all__ = ["Endpoint", "is_endpoint", "parse_endpoint"]

#: BatchWriteItem's limit.
BATCH_WRITE = 25


def is_endpoint(text: str) -> bool:
    """Whether ``text`` names a DynamoDB endpoint rather than a directory."""
    return text.startswith(("dynamodb://", "http://", "https://"))


@dataclass
class Endpoint:
    """Where a DynamoDB API answers."""

    region: str
    url: str | None = None
    profile: str | None = None

    def __str__(self) -> str:
        query = {k: v for k, v in (("endpoint", self.url), ("profile", self.profile)) if v}
        tail = "?" + urllib.parse.urlencode(query) if query else ""
        return f"dynamodb://{self.region}{tail}"

    def client(self, *, connections: int = 16) -> Any:
        """A boto3 DynamoDB client for this endpoint (standard retry mode,
        ``connections`` pooled connections)."""
        try:
            import boto3  # type: ignore[import-untyped]
            from botocore.config import Config  # type: ignore[import-untyped]
        except ImportError:
            raise TransferError("copying to or from DynamoDB needs boto3: "
                                "pip install 'dynafile[cli,boto3]'") from None
        session = boto3.Session(profile_name=self.profile, region_name=self.region)
        options: dict[str, Any] = {}
        if self.url is not None and session.get_credentials() is None:
            options.update(aws_access_key_id="dynafile", aws_secret_access_key="dynafile")
        config = Config(retries={"max_attempts": 10, "mode": "standard"},
                        max_pool_connections=connections, connect_timeout=10, read_timeout=60)
        return session.client("dynamodb", endpoint_url=self.url, config=config, **options)


def parse_endpoint(text: str) -> Endpoint:
    """Parse ``dynamodb://REGION?endpoint=URL&profile=NAME`` or an ``http(s)://`` URL.

    Raises:
        TransferError: not an endpoint, or an unknown parameter.
    """
    if text.startswith(("http://", "https://")):
        return Endpoint("us-east-1", text)
    parsed = urllib.parse.urlsplit(text)
    if parsed.scheme != "dynamodb":
        raise TransferError(f"{text}: not a DynamoDB endpoint (dynamodb://REGION"
                            "?endpoint=URL, or http://HOST:PORT)")
    query = urllib.parse.parse_qs(parsed.query, keep_blank_values=True)
    unknown = set(query) - {"endpoint", "profile", "region"}
    if unknown:
        raise TransferError(f"{text}: unknown parameter {', '.join(sorted(unknown))} "
                            "(endpoint, profile)")
    url = query.get("endpoint", [None])[-1]
    region = parsed.netloc or query.get("region", [None])[-1] or ("us-east-1" if url else None)
    if not region:
        raise TransferError(f"{text}: name a region (dynamodb://us-east-1)")
    return Endpoint(region, url or None, query.get("profile", [None])[-1] or None)


def _error_code(error: Exception) -> str:
    response = getattr(error, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


class DynamoTables:
    """Tables and items of one endpoint (thread-safe: boto3 clients are)."""

    def __init__(self, endpoint: Endpoint, *, connections: int = 16) -> None:
        self.endpoint = endpoint
        self.client = endpoint.client(connections=connections)

    # ----------------------------------------------------------- tables

    def tables(self) -> list[str]:
        names: list[str] = []
        for page in self.client.get_paginator("list_tables").paginate():
            names.extend(page.get("TableNames", []))
        return names

    def exists(self, name: str) -> bool:
        try:
            self.client.describe_table(TableName=name)
        except Exception as error:
            if _error_code(error) == "ResourceNotFoundException":
                return False
            raise
        return True

    def definition(self, name: str) -> dict[str, Any]:
        """The table's definition (see :mod:`.definition`)."""
        try:
            table = self.client.describe_table(TableName=name)["Table"]
        except Exception as error:
            if _error_code(error) == "ResourceNotFoundException":
                raise TransferError(f"{self.endpoint}: no table {name}") from None
            raise
        try:
            ttl = self.client.describe_time_to_live(TableName=name).get(
                "TimeToLiveDescription")
        except Exception:  # noqa: BLE001 - an endpoint without TTL support
            ttl = None
        tags: list[dict[str, str]] = []
        try:
            token = None
            while True:
                args = {"ResourceArn": table["TableArn"]}
                if token:
                    args["NextToken"] = token
                answer = self.client.list_tags_of_resource(**args)
                tags.extend(answer.get("Tags", []))
                token = answer.get("NextToken")
                if not token:
                    break
        except Exception:  # noqa: BLE001 - an endpoint without tags
            tags = []
        return definition_from_dynamodb(table, ttl, tags)

    def approximate_count(self, name: str) -> int | None:
        try:
            count = self.client.describe_table(TableName=name)["Table"].get("ItemCount")
        except Exception:  # noqa: BLE001 - a count is only for the progress bar
            return None
        return int(count) if count else None

    def create(self, name: str, definition: Mapping[str, Any], *, wait: float = 600) -> None:
        """Create the table (keys, indexes, stream, tags), wait until it is
        active, and turn on its TTL."""
        self.client.create_table(**create_table_request(definition, name))
        deadline = time.monotonic() + wait
        delay = 0.05
        while True:
            table = self.client.describe_table(TableName=name)["Table"]
            busy = table.get("TableStatus") != "ACTIVE" or any(
                i.get("IndexStatus", "ACTIVE") != "ACTIVE"
                for i in table.get("GlobalSecondaryIndexes") or [])
            if not busy:
                break
            if time.monotonic() > deadline:
                raise TransferError(f"{self.endpoint}: table {name} is not active after "
                                    f"{wait:.0f} s")
            time.sleep(delay)
            delay = min(delay * 2, 5.0)
        ttl = definition.get("TimeToLiveSpecification") or {}
        if ttl.get("Enabled") and ttl.get("AttributeName"):
            self.client.update_time_to_live(
                TableName=name, TimeToLiveSpecification={"Enabled": True,
                                                         "AttributeName": ttl["AttributeName"]})

    # ------------------------------------------------------------ items

    def write(self, name: str, items: Sequence[Mapping[str, Any]], *,
              attempts: int = 12) -> None:
        """Put ``items`` with BatchWriteItem, 25 at a time, retrying
        ``UnprocessedItems`` with exponential backoff and jitter.

        Raises:
            TransferError: items still unprocessed after ``attempts`` tries.
        """
        for start in range(0, len(items), BATCH_WRITE):
            requests = [{"PutRequest": {"Item": item_to_dynamodb(item, binary="bytes")}}
                        for item in items[start:start + BATCH_WRITE]]
            self._write_batch(name, requests, attempts)

    def _write_batch(self, name: str, requests: list[dict[str, Any]], attempts: int) -> None:
        delay = 0.05
        for _ in range(attempts):
            try:
                answer = self.client.batch_write_item(RequestItems={name: requests})
            except Exception as error:
                if _error_code(error) not in ("ProvisionedThroughputExceededException",
                                              "ThrottlingException", "RequestLimitExceeded",
                                              "InternalServerError", "ServiceUnavailable"):
                    raise
            else:
                requests = (answer.get("UnprocessedItems") or {}).get(name) or []
                if not requests:
                    return
            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 5.0)
        raise TransferError(f"{self.endpoint}: table {name}: {len(requests)} items still "
                            f"unprocessed after {attempts} attempts")

    def scan_pages(self, name: str, segment: int, total: int,
                   start: Mapping[str, Any] | None, *, limit: int = 1000,
                   ) -> Iterator[tuple[list[dict[str, Any]], dict[str, Any] | None]]:
        """Pages of segment ``segment`` of ``total`` from ``start`` (an
        ``ExclusiveStartKey`` in DynamoDB JSON, or ``None``): ``(items, the
        key to start the next page from or None at the end)``."""
        while True:
            args: dict[str, Any] = {"TableName": name, "Limit": limit, "ConsistentRead": True}
            if total > 1:
                args.update(Segment=segment, TotalSegments=total)
            if start is not None:
                args["ExclusiveStartKey"] = _to_client_key(start)
            answer = self.client.scan(**args)
            items = [item_from_dynamodb(i) for i in answer.get("Items", [])]
            last = answer.get("LastEvaluatedKey")
            start = _from_client_key(last) if last else None
            yield items, start
            if start is None:
                return


def _to_client_key(key: Mapping[str, Any]) -> dict[str, Any]:
    """A key kept in the progress file (DynamoDB JSON, base64) for boto3."""
    return item_to_dynamodb(item_from_dynamodb(key), binary="bytes")


def _from_client_key(key: Mapping[str, Any]) -> dict[str, Any]:
    return item_to_dynamodb(item_from_dynamodb(key))
