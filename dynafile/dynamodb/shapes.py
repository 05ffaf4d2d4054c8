"""Request shapes: what each operation's JSON body may hold, checked in
DynamoDB's order.

DynamoDB checks a request in three passes, and so does the handler:

1. **types**: every member has the JSON type its shape says, or the
   request is a ``SerializationException`` ("class java.lang.String can not
   be converted to an Integer", "Start of list found where not expected");
   unknown members are ignored and ``null`` is the same as absent;
2. **constraints**: required members, lengths, ranges, patterns and enums,
   collected (at most ten) into one ``ValidationException``: "2 validation
   errors detected: Value null at 'tableName' failed to satisfy constraint:
   Member must not be null; ...";
3. the operation's own checks (in the operation modules).

The messages follow DynamoDB's as dynalite recorded them against DynamoDB.
:data:`OPERATIONS` maps each operation name to its top-level shape.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from typing import Any

from .errors import SerializationError, Validation

__all__ = ["OPERATIONS", "STREAM_OPERATIONS", "Shape", "check_request"]

TABLE_PATTERN = "[a-zA-Z0-9_.-]+"
_TABLE_RE = re.compile(r"[a-zA-Z0-9_.\-]+\Z")
_MAX_ERRORS = 10


def _java_number(value: Any) -> str:
    if isinstance(value, float) and not value.is_integer():
        return "java.lang.Double"
    if -32768 <= value <= 32767:
        return "java.lang.Short"
    if -2147483648 <= value <= 2147483647:
        return "java.lang.Integer"
    return "java.lang.Long"


def _shown(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, list):
        text = "[" + ", ".join(_shown(v).strip("'") for v in value) + "]"
    elif isinstance(value, dict):
        text = json.dumps(value, separators=(",", ":"))
    else:
        text = str(value)
    return f"'{text}'"


def _lower_first(name: str) -> str:
    return name[:1].lower() + name[1:]


class Shape:
    """One member's shape: its JSON type and its constraints."""

    kind = "any"

    def __init__(self, *, required: bool = False, enum: tuple[str, ...] | None = None,
                 pattern: str | None = None, min_len: int | None = None,
                 max_len: int | None = None, minimum: int | None = None,
                 maximum: int | None = None) -> None:
        self.required = required
        self.enum = enum
        self.pattern = pattern
        self.regex = re.compile(f"(?:{pattern})\\Z") if pattern else None
        self.min_len = min_len
        self.max_len = max_len
        self.minimum = minimum
        self.maximum = maximum

    def typed(self, value: Any) -> Any:
        """Return ``value`` with its type checked (``None`` stays ``None``).

        Raises:
            SerializationError: a member of the wrong JSON type.
        """
        return value

    def constraints(self, value: Any, path: str, errors: list[str]) -> None:
        """Append DynamoDB's constraint violations of ``value`` at ``path``."""
        if value is None:
            if self.required:
                errors.append(f"Value null at '{path}' failed to satisfy constraint: "
                              "Member must not be null")
            return
        checks: list[tuple[bool, str]] = []
        if self.regex is not None:
            checks.append((bool(self.regex.match(value)),
                           f"Member must satisfy regular expression pattern: {self.pattern}"))
        size = len(value) if isinstance(value, (str, list, dict)) else None
        if self.min_len is not None and size is not None:
            checks.append((size >= self.min_len,
                           f"Member must have length greater than or equal to {self.min_len}"))
        if self.max_len is not None and size is not None:
            checks.append((size <= self.max_len,
                           f"Member must have length less than or equal to {self.max_len}"))
        if self.minimum is not None:
            checks.append((value >= self.minimum,
                           f"Member must have value greater than or equal to {self.minimum}"))
        if self.maximum is not None:
            checks.append((value <= self.maximum,
                           f"Member must have value less than or equal to {self.maximum}"))
        if self.enum is not None:
            checks.append((value in self.enum,
                           f"Member must satisfy enum value set: [{', '.join(self.enum)}]"))
        for ok, text in checks:
            if not ok:
                errors.append(f"Value {_shown(value)} at '{path}' failed to satisfy "
                              f"constraint: {text}")
        self.children(value, path, errors)

    def children(self, value: Any, path: str, errors: list[str]) -> None:
        """Check the members inside ``value`` (containers only)."""


def _not_expected(value: Any, what: str) -> SerializationError:
    if isinstance(value, list):
        return SerializationError("Start of list found where not expected")
    if isinstance(value, dict):
        return SerializationError("Start of structure or map found where not expected.")
    if isinstance(value, bool):
        return SerializationError(f"class java.lang.Boolean can not be converted to {what}")
    if isinstance(value, (int, float)):
        return SerializationError(f"class {_java_number(value)} can not be converted to {what}")
    return SerializationError(f"class java.lang.String can not be converted to {what}")


class String(Shape):
    kind = "String"

    def typed(self, value: Any) -> Any:
        if value is None or isinstance(value, str):
            return value
        raise _not_expected(value, "an String")


class Integer(Shape):
    kind = "Integer"

    def __init__(self, *, java: str = "Integer", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.java = java

    def typed(self, value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if isinstance(value, float) and not value.is_integer():
                return int(value // 1)
            return int(value)
        raise _not_expected(value, f"an {self.java}")


class Boolean(Shape):
    kind = "Boolean"

    def typed(self, value: Any) -> Any:
        if value is None or isinstance(value, bool):
            return value
        if isinstance(value, float) and not value.is_integer():
            return abs(value) >= 1
        if isinstance(value, str):
            raise SerializationError(f"'{value.upper()}' can not be converted to an Boolean")
        raise _not_expected(value, "an Boolean")


class Blob(Shape):
    kind = "Blob"

    def typed(self, value: Any) -> Any:
        if value is None:
            return None
        if not isinstance(value, str):
            raise _not_expected(value, "a Blob")
        if len(value) % 4:
            raise SerializationError(
                f"'{value}' can not be converted to a Blob: Base64 encoded length is expected "
                f"a multiple of 4 bytes but found: {len(value)}")
        bad = re.search(r"[^a-zA-Z0-9+/=]|=[^=]", value)
        if bad:
            raise SerializationError(f"'{value}' can not be converted to a Blob: Invalid "
                                     f"Base64 character: '{bad.group(0)[0]}'")
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise SerializationError(f"'{value}' can not be converted to a Blob: Invalid last "
                                     "non-pad Base64 character dectected") from None
        return value


class ListOf(Shape):
    kind = "List"

    def __init__(self, member: Shape, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.member = member

    def typed(self, value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, dict):
            raise SerializationError("Start of structure or map found where not expected.")
        if not isinstance(value, list):
            raise SerializationError("Expected list or null")
        return [self.member.typed(v) for v in value]

    def children(self, value: Any, path: str, errors: list[str]) -> None:
        for index, child in enumerate(value, 1):
            self.member.constraints(child, f"{path}.{index}.member", errors)


class MapOf(Shape):
    kind = "Map"

    def __init__(self, value: Shape, key: Shape | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.value = value
        self.key = key

    def typed(self, value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, list):
            raise SerializationError("Start of list found where not expected")
        if not isinstance(value, dict):
            raise SerializationError("Expected map or null")
        return {k: self.value.typed(v) for k, v in value.items()}

    def children(self, value: Any, path: str, errors: list[str]) -> None:
        for name, child in reversed(list(value.items())):
            if self.key is not None:
                self.key.constraints(name, f"{path}.{name}.key", errors)
            self.value.constraints(child, f"{path}.{name}.member", errors)


class Structure(Shape):
    kind = "Structure"

    def __init__(self, members: Mapping[str, Shape], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.members = dict(members)

    def typed(self, value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, list):
            raise SerializationError("Start of list found where not expected")
        if not isinstance(value, dict):
            raise SerializationError("Expected null")
        out = {}
        for name, shape in self.members.items():
            member = shape.typed(value.get(name))
            if member is not None:
                out[name] = member
        return out

    def children(self, value: Any, path: str, errors: list[str]) -> None:
        prefix = f"{path}." if path else ""
        for name, shape in self.members.items():
            shape.constraints(value.get(name), prefix + _lower_first(name), errors)


class AttributeValue(Shape):
    """An attribute value: a structure of the ten type members, recursively."""

    kind = "AttributeValue"

    def typed(self, value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, list):
            raise SerializationError("Start of list found where not expected")
        if not isinstance(value, dict):
            raise SerializationError("Expected null")
        out: dict[str, Any] = {}
        for name, shape in _AV_MEMBERS.items():
            member = value.get(name)
            if member is None:
                continue
            out[name] = self.typed_list(member) if name == "L" else (
                self.typed_map(member) if name == "M" else shape.typed(member))
        return out

    def typed_list(self, value: Any) -> Any:
        if isinstance(value, dict):
            raise SerializationError("Start of structure or map found where not expected.")
        if not isinstance(value, list):
            raise SerializationError("Expected list or null")
        return [self.typed(v) for v in value]

    def typed_map(self, value: Any) -> Any:
        if isinstance(value, list):
            raise SerializationError("Start of list found where not expected")
        if not isinstance(value, dict):
            raise SerializationError("Expected map or null")
        return {k: self.typed(v) for k, v in value.items()}


_AV_MEMBERS: dict[str, Shape] = {
    "S": String(), "N": String(), "B": Blob(), "SS": ListOf(String()), "NS": ListOf(String()),
    "BS": ListOf(Blob()), "M": Shape(), "L": Shape(), "NULL": Boolean(), "BOOL": Boolean(),
}


def check_request(operation: str, body: Any, shape: Structure) -> dict[str, Any]:
    """Check ``body`` against an operation's shape; return it with unknown
    and ``null`` members dropped (and numbers as ints where the shape says so).

    Raises:
        SerializationError: a member of the wrong JSON type.
        Validation: constraint violations ("N validation errors detected: ...").
    """
    if not isinstance(body, dict):
        raise SerializationError("Start of list found where not expected" if isinstance(
            body, list) else "Expected null")
    data = shape.typed(body)
    errors: list[str] = []
    shape.children(data, "", errors)
    if errors:
        errors = errors[:_MAX_ERRORS]
        count = len(errors)
        raise Validation(f"{count} validation error{'s' if count > 1 else ''} detected: "
                         + "; ".join(errors))
    return data  # type: ignore[no-any-return]


# ------------------------------------------------------------ common members


def _table(required: bool = True) -> String:
    return String(required=required, pattern=TABLE_PATTERN, min_len=3, max_len=255)


_INDEX = String(pattern=TABLE_PATTERN, min_len=3, max_len=255)
_AV = AttributeValue()
_KEY = MapOf(_AV)
_NAMES = MapOf(String())
_VALUES = MapOf(_AV)
_RCC = String(enum=("INDEXES", "TOTAL", "NONE"))
_RICM = String(enum=("SIZE", "NONE"))
_RV = String(enum=("NONE", "ALL_OLD", "UPDATED_OLD", "ALL_NEW", "UPDATED_NEW"))
_RVCCF = String(enum=("ALL_OLD", "NONE"))
_COMPARISON = ("EQ", "NE", "IN", "LE", "LT", "GE", "GT", "BETWEEN", "NOT_NULL", "NULL",
               "CONTAINS", "NOT_CONTAINS", "BEGINS_WITH")
_EXPECTED = MapOf(Structure({
    "Value": _AV, "Exists": Boolean(),
    "ComparisonOperator": String(enum=_COMPARISON),
    "AttributeValueList": ListOf(_AV),
}))
_CONDITIONS = MapOf(Structure({
    "AttributeValueList": ListOf(_AV),
    "ComparisonOperator": String(required=True, enum=_COMPARISON),
}))
_ATTRIBUTES_TO_GET = ListOf(String(), min_len=1)
_CONDITIONAL_OPERATOR = String(enum=("AND", "OR"))
_SELECT = String(enum=("ALL_ATTRIBUTES", "ALL_PROJECTED_ATTRIBUTES", "SPECIFIC_ATTRIBUTES",
                       "COUNT"))
_EXPRESSION = String()
_THROUGHPUT = Structure({
    "ReadCapacityUnits": Integer(java="Long", required=True, minimum=1),
    "WriteCapacityUnits": Integer(java="Long", required=True, minimum=1),
})
_KEY_SCHEMA = ListOf(Structure({
    "AttributeName": String(required=True, min_len=1, max_len=255),
    "KeyType": String(required=True, enum=("HASH", "RANGE")),
}), required=True, min_len=1, max_len=2)
_PROJECTION = Structure({
    "ProjectionType": String(enum=("ALL", "KEYS_ONLY", "INCLUDE")),
    "NonKeyAttributes": ListOf(String(min_len=1, max_len=255), min_len=1, max_len=20),
}, required=True)
_GSI = Structure({
    "IndexName": String(required=True, pattern=TABLE_PATTERN, min_len=3, max_len=255),
    "KeySchema": _KEY_SCHEMA,
    "Projection": _PROJECTION,
    "ProvisionedThroughput": _THROUGHPUT,
    "OnDemandThroughput": Structure({"MaxReadRequestUnits": Integer(java="Long"),
                                     "MaxWriteRequestUnits": Integer(java="Long")}),
})
_LSI = Structure({
    "IndexName": String(required=True, pattern=TABLE_PATTERN, min_len=3, max_len=255),
    "KeySchema": _KEY_SCHEMA,
    "Projection": _PROJECTION,
})
_STREAM_SPEC = Structure({
    "StreamEnabled": Boolean(required=True),
    "StreamViewType": String(enum=("NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES",
                                   "KEYS_ONLY")),
})
_TAGS = ListOf(Structure({
    "Key": String(required=True, min_len=1, max_len=128),
    "Value": String(required=True, min_len=0, max_len=256),
}))
_ARN = String(required=True, min_len=1, max_len=1283)
_PARAMETERS = ListOf(_AV, min_len=1)
_STATEMENT = String(required=True, min_len=1, max_len=8192)

_PUT_FIELDS: dict[str, Shape] = {
    "TableName": _table(), "Item": MapOf(_AV, required=True),
    "ConditionExpression": _EXPRESSION, "ExpressionAttributeNames": _NAMES,
    "ExpressionAttributeValues": _VALUES,
    "ReturnValuesOnConditionCheckFailure": _RVCCF,
}
_KEYED_FIELDS: dict[str, Shape] = {
    "TableName": _table(), "Key": MapOf(_AV, required=True),
    "ConditionExpression": _EXPRESSION, "ExpressionAttributeNames": _NAMES,
    "ExpressionAttributeValues": _VALUES,
    "ReturnValuesOnConditionCheckFailure": _RVCCF,
}

OPERATIONS: dict[str, Structure] = {
    "CreateTable": Structure({
        "AttributeDefinitions": ListOf(Structure({
            "AttributeName": String(required=True, min_len=1, max_len=255),
            "AttributeType": String(required=True, enum=("B", "N", "S")),
        }), required=True),
        "TableName": _table(),
        "KeySchema": _KEY_SCHEMA,
        "LocalSecondaryIndexes": ListOf(_LSI),
        "GlobalSecondaryIndexes": ListOf(_GSI),
        "BillingMode": String(enum=("PROVISIONED", "PAY_PER_REQUEST")),
        "ProvisionedThroughput": _THROUGHPUT,
        "StreamSpecification": _STREAM_SPEC,
        "SSESpecification": Structure({"Enabled": Boolean(), "SSEType": String(),
                                       "KMSMasterKeyId": String()}),
        "Tags": _TAGS,
        "TableClass": String(enum=("STANDARD", "STANDARD_INFREQUENT_ACCESS")),
        "DeletionProtectionEnabled": Boolean(),
        "OnDemandThroughput": Structure({"MaxReadRequestUnits": Integer(java="Long"),
                                         "MaxWriteRequestUnits": Integer(java="Long")}),
    }),
    "DeleteTable": Structure({"TableName": _table()}),
    "DescribeTable": Structure({"TableName": _table()}),
    "ListTables": Structure({
        "ExclusiveStartTableName": _table(required=False),
        "Limit": Integer(minimum=1, maximum=100),
    }),
    "UpdateTable": Structure({
        "AttributeDefinitions": ListOf(Structure({
            "AttributeName": String(required=True, min_len=1, max_len=255),
            "AttributeType": String(required=True, enum=("B", "N", "S")),
        })),
        "TableName": _table(),
        "BillingMode": String(enum=("PROVISIONED", "PAY_PER_REQUEST")),
        "ProvisionedThroughput": _THROUGHPUT,
        "GlobalSecondaryIndexUpdates": ListOf(Structure({
            "Update": Structure({"IndexName": String(required=True, pattern=TABLE_PATTERN,
                                                     min_len=3, max_len=255),
                                 "ProvisionedThroughput": _THROUGHPUT}),
            "Create": _GSI,
            "Delete": Structure({"IndexName": String(required=True, pattern=TABLE_PATTERN,
                                                     min_len=3, max_len=255)}),
        })),
        "StreamSpecification": _STREAM_SPEC,
        "TableClass": String(enum=("STANDARD", "STANDARD_INFREQUENT_ACCESS")),
        "DeletionProtectionEnabled": Boolean(),
        "SSESpecification": Structure({"Enabled": Boolean(), "SSEType": String(),
                                       "KMSMasterKeyId": String()}),
    }),
    "UpdateTimeToLive": Structure({
        "TableName": _table(),
        "TimeToLiveSpecification": Structure({
            "Enabled": Boolean(required=True),
            "AttributeName": String(required=True, min_len=1, max_len=255),
        }, required=True),
    }),
    "DescribeTimeToLive": Structure({"TableName": _table()}),
    "PutItem": Structure({
        **_PUT_FIELDS, "Expected": _EXPECTED, "ConditionalOperator": _CONDITIONAL_OPERATOR,
        "ReturnValues": _RV, "ReturnConsumedCapacity": _RCC,
        "ReturnItemCollectionMetrics": _RICM,
    }),
    "GetItem": Structure({
        "TableName": _table(), "Key": MapOf(_AV, required=True),
        "AttributesToGet": _ATTRIBUTES_TO_GET, "ConsistentRead": Boolean(),
        "ReturnConsumedCapacity": _RCC, "ProjectionExpression": _EXPRESSION,
        "ExpressionAttributeNames": _NAMES,
    }),
    "DeleteItem": Structure({
        **_KEYED_FIELDS, "Expected": _EXPECTED, "ConditionalOperator": _CONDITIONAL_OPERATOR,
        "ReturnValues": _RV, "ReturnConsumedCapacity": _RCC,
        "ReturnItemCollectionMetrics": _RICM,
    }),
    "UpdateItem": Structure({
        **_KEYED_FIELDS, "UpdateExpression": _EXPRESSION,
        "AttributeUpdates": MapOf(Structure({
            "Value": _AV, "Action": String(enum=("ADD", "PUT", "DELETE")),
        })),
        "Expected": _EXPECTED, "ConditionalOperator": _CONDITIONAL_OPERATOR,
        "ReturnValues": _RV, "ReturnConsumedCapacity": _RCC,
        "ReturnItemCollectionMetrics": _RICM,
    }),
    "Query": Structure({
        "TableName": _table(), "IndexName": _INDEX, "Select": _SELECT,
        "AttributesToGet": _ATTRIBUTES_TO_GET, "Limit": Integer(minimum=1),
        "ConsistentRead": Boolean(), "KeyConditions": _CONDITIONS, "QueryFilter": _CONDITIONS,
        "ConditionalOperator": _CONDITIONAL_OPERATOR, "ScanIndexForward": Boolean(),
        "ExclusiveStartKey": _KEY, "ReturnConsumedCapacity": _RCC,
        "ProjectionExpression": _EXPRESSION, "FilterExpression": _EXPRESSION,
        "KeyConditionExpression": _EXPRESSION, "ExpressionAttributeNames": _NAMES,
        "ExpressionAttributeValues": _VALUES,
    }),
    "Scan": Structure({
        "TableName": _table(), "IndexName": _INDEX, "AttributesToGet": _ATTRIBUTES_TO_GET,
        "Limit": Integer(minimum=1), "Select": _SELECT, "ScanFilter": _CONDITIONS,
        "ConditionalOperator": _CONDITIONAL_OPERATOR, "ExclusiveStartKey": _KEY,
        "ReturnConsumedCapacity": _RCC,
        "TotalSegments": Integer(minimum=1, maximum=1000000),
        "Segment": Integer(minimum=0, maximum=999999),
        "ProjectionExpression": _EXPRESSION, "FilterExpression": _EXPRESSION,
        "ExpressionAttributeNames": _NAMES, "ExpressionAttributeValues": _VALUES,
        "ConsistentRead": Boolean(),
    }),
    "BatchGetItem": Structure({
        "RequestItems": MapOf(Structure({
            "Keys": ListOf(_KEY, required=True, min_len=1, max_len=100),
            "AttributesToGet": _ATTRIBUTES_TO_GET, "ConsistentRead": Boolean(),
            "ProjectionExpression": _EXPRESSION, "ExpressionAttributeNames": _NAMES,
        }), key=_table(), required=True, min_len=1, max_len=100),
        "ReturnConsumedCapacity": _RCC,
    }),
    "BatchWriteItem": Structure({
        "RequestItems": MapOf(ListOf(Structure({
            "PutRequest": Structure({"Item": MapOf(_AV, required=True)}),
            "DeleteRequest": Structure({"Key": MapOf(_AV, required=True)}),
        }), min_len=1, max_len=25), key=_table(), required=True, min_len=1, max_len=25),
        "ReturnConsumedCapacity": _RCC, "ReturnItemCollectionMetrics": _RICM,
    }),
    "TransactWriteItems": Structure({
        "TransactItems": ListOf(Structure({
            "ConditionCheck": Structure({**_KEYED_FIELDS,
                                         "ConditionExpression": String(required=True)}),
            "Put": Structure(_PUT_FIELDS),
            "Delete": Structure(_KEYED_FIELDS),
            "Update": Structure({**_KEYED_FIELDS, "UpdateExpression": String(required=True)}),
        }), required=True, min_len=1, max_len=100),
        "ReturnConsumedCapacity": _RCC, "ReturnItemCollectionMetrics": _RICM,
        "ClientRequestToken": String(min_len=1, max_len=36),
    }),
    "TransactGetItems": Structure({
        "TransactItems": ListOf(Structure({
            "Get": Structure({
                "TableName": _table(), "Key": MapOf(_AV, required=True),
                "ProjectionExpression": _EXPRESSION, "ExpressionAttributeNames": _NAMES,
            }, required=True),
        }), required=True, min_len=1, max_len=100),
        "ReturnConsumedCapacity": _RCC,
    }),
    "ExecuteStatement": Structure({
        "Statement": _STATEMENT, "Parameters": _PARAMETERS, "ConsistentRead": Boolean(),
        "NextToken": String(min_len=1, max_len=32768), "ReturnConsumedCapacity": _RCC,
        "Limit": Integer(minimum=1), "ReturnValuesOnConditionCheckFailure": _RVCCF,
    }),
    "BatchExecuteStatement": Structure({
        "Statements": ListOf(Structure({
            "Statement": _STATEMENT, "Parameters": _PARAMETERS, "ConsistentRead": Boolean(),
            "ReturnValuesOnConditionCheckFailure": _RVCCF,
        }), required=True, min_len=1, max_len=25),
        "ReturnConsumedCapacity": _RCC,
    }),
    "ExecuteTransaction": Structure({
        "TransactStatements": ListOf(Structure({
            "Statement": _STATEMENT, "Parameters": _PARAMETERS,
            "ReturnValuesOnConditionCheckFailure": _RVCCF,
        }), required=True, min_len=1, max_len=100),
        "ClientRequestToken": String(min_len=1, max_len=36), "ReturnConsumedCapacity": _RCC,
    }),
    "TagResource": Structure({"ResourceArn": _ARN,
                              "Tags": ListOf(_TAGS.member, required=True)}),
    "UntagResource": Structure({"ResourceArn": _ARN,
                                "TagKeys": ListOf(String(min_len=1, max_len=128),
                                                  required=True)}),
    "ListTagsOfResource": Structure({"ResourceArn": _ARN, "NextToken": String()}),
    "DescribeLimits": Structure({}),
    "DescribeEndpoints": Structure({}),
}

#: The DynamoDB Streams operations' shapes.
STREAM_OPERATIONS: dict[str, Structure] = {
    "ListStreams": Structure({
        "TableName": _table(required=False), "Limit": Integer(minimum=1, maximum=100),
        "ExclusiveStartStreamArn": String(min_len=37, max_len=1024),
    }),
    "DescribeStream": Structure({
        "StreamArn": String(required=True, min_len=37, max_len=1024),
        "Limit": Integer(minimum=1, maximum=100),
        "ExclusiveStartShardId": String(min_len=28, max_len=65),
    }),
    "GetShardIterator": Structure({
        "StreamArn": String(required=True, min_len=37, max_len=1024),
        "ShardId": String(required=True, min_len=28, max_len=65),
        "ShardIteratorType": String(required=True, enum=(
            "TRIM_HORIZON", "LATEST", "AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER")),
        "SequenceNumber": String(min_len=21, max_len=40),
    }),
    "GetRecords": Structure({
        "ShardIterator": String(required=True, min_len=1, max_len=2048),
        "Limit": Integer(minimum=1, maximum=1000),
    }),
}


def table_name_ok(name: Any) -> bool:
    """True when ``name`` follows DynamoDB's table-name rules."""
    return isinstance(name, str) and 3 <= len(name) <= 255 and bool(_TABLE_RE.match(name))
