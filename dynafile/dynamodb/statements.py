"""PartiQL as DynamoDB runs it: ExecuteStatement, BatchExecuteStatement and
ExecuteTransaction.

Each parsed statement (:mod:`.partiql`) becomes the DynamoDB request it
means and runs through the same operations as every other request: a
SELECT whose WHERE has an equality on the partition key is a Query (the
rest of the WHERE its filter, ``ORDER BY`` its direction), any other SELECT
a Scan; an UPDATE or DELETE must name the whole key and is an UpdateItem
(of an item that must exist) or DeleteItem, the rest of its WHERE a
ConditionExpression; an INSERT is a PutItem of an item that must not exist
(``DuplicateItemException`` otherwise). ``?`` parameters become expression
values, never text.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from ..errors import DynafileError
from . import items, reads, transactions
from .context import Context, TableInfo
from .errors import ConditionalCheckFailed, DuplicateItem, DynamoDBError, Validation, from_dynafile
from .partiql import MALFORMED, Statement, parse, resolve
from .values import decode_value, encode_value

__all__ = ["batch_execute_statement", "execute_statement", "execute_transaction"]




class _Render:
    """Turns statement parts into DynamoDB expression strings and a request's
    ExpressionAttributeNames / Values (wire form)."""

    def __init__(self, params: list[Any]) -> None:
        self.params = params
        self.names: dict[str, str] = {}
        self.values: dict[str, Any] = {}

    def path(self, path: tuple[Any, ...]) -> str:
        out = ""
        for part in path:
            if isinstance(part, int):
                out += f"[{part}]"
                continue
            key = next((k for k, v in self.names.items() if v == part), None)
            if key is None:
                key = f"#p{len(self.names)}"
                self.names[key] = part
            out += ("." if out else "") + key
        return out

    def python(self, value: Any) -> Any:
        if value[0] == "param":
            return self.params[value[1]]
        return resolve(value[1], self.params)

    def value(self, value: Any) -> str:
        key = f":p{len(self.values)}"
        self.values[key] = encode_value(self.python(value))
        return key

    def operand(self, node: Any) -> str:
        if node[0] == "path":
            return self.path(node[1])
        if node[0] == "size":
            return f"size({self.path(node[1])})"
        return self.value(node)

    def condition(self, node: Any) -> str:
        kind = node[0]
        if kind in ("and", "or"):
            return f"({self.condition(node[1])}) {kind.upper()} ({self.condition(node[2])})"
        if kind == "not":
            return f"NOT ({self.condition(node[1])})"
        if kind == "compare":
            return f"{self.operand(node[2])} {node[1]} {self.operand(node[3])}"
        if kind == "between":
            return (f"{self.operand(node[1])} BETWEEN {self.operand(node[2])} AND "
                    f"{self.operand(node[3])}")
        if kind == "in":
            return f"{self.operand(node[1])} IN ({', '.join(self.operand(v) for v in node[2])})"
        if kind == "missing":
            word = "attribute_exists" if node[2] else "attribute_not_exists"
            return f"{word}({self.operand(node[1])})"
        if kind == "null":
            test = f"attribute_type({self.operand(node[1])}, {self.value(('value', 'NULL'))})"
            return f"NOT {test}" if node[2] else test
        # call
        return f"{node[1]}({self.path(node[2])}, {self.operand(node[3])})"

    def update_value(self, node: Any) -> str:
        if node[0] == "arith":
            return f"{self.operand(node[2])} {node[1]} {self.operand(node[3])}"
        if node[0] == "fn":
            name = node[1]
            if name in ("list_append", "if_not_exists"):
                return f"{name}({self.operand(node[2])}, {self.operand(node[3])})"
            raise Validation(f"{MALFORMED}{name} is only supported as the whole value of SET")
        return self.operand(node)

    def wire(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.names:
            out["ExpressionAttributeNames"] = dict(self.names)
        if self.values:
            out["ExpressionAttributeValues"] = dict(self.values)
        return out


def _conjuncts(node: Any) -> list[Any]:
    if node is not None and node[0] == "and":
        return _conjuncts(node[1]) + _conjuncts(node[2])
    return [] if node is None else [node]


def _equality(node: Any, name: str) -> Any:
    """The value node of ``name = value`` (either way round), or ``None``."""
    if node[0] != "compare" or node[1] != "=":
        return None
    left, right = node[2], node[3]
    for a, b in ((left, right), (right, left)):
        if a[0] == "path" and a[1] == (name,) and b[0] in ("value", "param"):
            return b
    return None


def _and(parts: list[Any]) -> Any:
    node = None
    for part in parts:
        node = part if node is None else ("and", node, part)
    return node


def _split_key(statement: Statement, info: TableInfo) -> tuple[dict[str, Any], Any]:
    """The key an UPDATE or DELETE names, and the rest of its WHERE."""
    key, rest = {}, []
    for part in _conjuncts(statement.where):
        matched = False
        for name in info.key_names:
            value = _equality(part, name)
            if value is not None and name not in key:
                key[name] = value
                matched = True
                break
        if not matched:
            rest.append(part)
    if len(key) != len(info.key_names):
        raise Validation("Where clause does not contain a mandatory equality on all key "
                         "attributes")
    return key, _and(rest)


def _params(data: dict[str, Any], statement: Statement) -> list[Any]:
    given = data.get("Parameters") or []
    if len(given) != statement.params:
        raise Validation("Number of parameters in request and statement don't match.")
    return [decode_value(p) for p in given]


def _token(key: dict[str, Any] | None) -> str | None:
    if key is None:
        return None
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode("ascii")


def _start(token: str | None) -> dict[str, Any] | None:
    if token is None:
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode("ascii")))
        if not isinstance(data, dict):
            raise ValueError("not a key")  # noqa: TRY004 - reported as invalid
    except (ValueError, binascii.Error, UnicodeError):
        raise Validation("Invalid NextToken") from None
    return data


# -------------------------------------------------------------- requests


def _request(ctx: Context, statement: Statement, params: list[Any],
             data: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The DynamoDB operation and request a statement means."""
    info = ctx.info(statement.table)
    render = _Render(params)
    table: dict[str, Any] = {"TableName": statement.table}
    if statement.kind == "INSERT":
        item = render.python(statement.item)
        if not isinstance(item, dict):
            raise Validation(f"{MALFORMED}INSERT takes a map value")
        put = {**table, "Item": {k: encode_value(v) for k, v in item.items()},
               "ConditionExpression": f"attribute_not_exists({render.path((info.pk,))})"}
        return "PutItem", {**put, **render.wire()}
    if statement.kind in ("UPDATE", "DELETE"):
        key_nodes, rest = _split_key(statement, info)
        request: dict[str, Any] = {**table, "Key": {k: encode_value(render.python(v))
                                    for k, v in key_nodes.items()}}
        condition = render.condition(rest) if rest is not None else None
        if statement.kind == "UPDATE":
            exists = f"attribute_exists({render.path((info.pk,))})"
            condition = exists if condition is None else f"{exists} AND ({condition})"
            clauses = []
            sets = [f"{render.path(p)} = {render.update_value(v)}" for p, v in statement.sets
                    if not (v[0] == "fn" and v[1] in ("set_add", "set_delete"))]
            adds = [f"{render.path(p)} {render.operand(v[3])}" for p, v in statement.sets
                    if v[0] == "fn" and v[1] == "set_add"]
            deletes = [f"{render.path(p)} {render.operand(v[3])}" for p, v in statement.sets
                       if v[0] == "fn" and v[1] == "set_delete"]
            for word, parts in (("SET", sets), ("ADD", adds), ("DELETE", deletes),
                                ("REMOVE", [render.path(p) for p in statement.removes])):
                if parts:
                    clauses.append(f"{word} {', '.join(parts)}")
            request["UpdateExpression"] = " ".join(clauses)
        if condition is not None:
            request["ConditionExpression"] = condition
        if statement.returning != "NONE":
            request["ReturnValues"] = statement.returning
        if data.get("ReturnValuesOnConditionCheckFailure"):
            request["ReturnValuesOnConditionCheckFailure"] = data[
                "ReturnValuesOnConditionCheckFailure"]
        operation = "UpdateItem" if statement.kind == "UPDATE" else "DeleteItem"
        return operation, {**request, **render.wire()}
    # SELECT: a Query when the WHERE fixes the partition key, else a Scan.
    request = dict(table)
    if statement.index is not None:
        request["IndexName"] = statement.index
    index = info.index(statement.index) if statement.index is not None else None
    pk = index.pk if index is not None else info.pk
    parts = _conjuncts(statement.where)
    key_part = next((p for p in parts if _equality(p, pk) is not None), None)
    if statement.projection is not None:
        request["ProjectionExpression"] = ", ".join(render.path(p) for p in statement.projection)
    if key_part is not None:
        value = _equality(key_part, pk)
        request["KeyConditionExpression"] = f"{render.path((pk,))} = {render.value(value)}"
        rest = _and([p for p in parts if p is not key_part])
        operation = "Query"
        if statement.order is not None:
            request["ScanIndexForward"] = statement.order[1]
    else:
        if statement.order is not None:
            raise Validation("Must have WHERE clause in the statement when using ORDER BY "
                             "clause.")
        rest = statement.where
        operation = "Scan"
    if rest is not None:
        request["FilterExpression"] = render.condition(rest)
    if data.get("Limit") is not None:
        request["Limit"] = data["Limit"]
    if data.get("ConsistentRead"):
        request["ConsistentRead"] = True
    start = _start(data.get("NextToken"))
    if start is not None:
        request["ExclusiveStartKey"] = start
    return operation, {**request, **render.wire()}


def _run(ctx: Context, operation: str, request: dict[str, Any]) -> dict[str, Any]:
    try:
        if operation == "PutItem":
            try:
                return items.put_item(ctx, request)
            except ConditionalCheckFailed:
                raise DuplicateItem("Duplicate primary key exists in table") from None
        if operation == "UpdateItem":
            return items.update_item(ctx, request)
        if operation == "DeleteItem":
            return items.delete_item(ctx, request)
        return reads.run(ctx, operation, request, key_filters=True)
    except DynafileError as error:
        raise from_dynafile(error) from None


def execute_statement(ctx: Context, data: dict[str, Any]) -> dict[str, Any]:
    """ExecuteStatement: one PartiQL statement.

    Returns ``Items`` (and ``NextToken`` while a SELECT has more) for a
    SELECT, the RETURNING values' item for an UPDATE or DELETE.

    Raises:
        DynamoDBError: Validation (syntax, parameters, a WHERE without the
            whole key), ResourceNotFound, ConditionalCheckFailed,
            DuplicateItem.
    """
    statement = parse(data["Statement"])
    params = _params(data, statement)
    operation, request = _request(ctx, statement, params, data)
    if data.get("ReturnConsumedCapacity"):
        request["ReturnConsumedCapacity"] = data["ReturnConsumedCapacity"]
    result = _run(ctx, operation, request)
    response: dict[str, Any] = {"Items": result.get("Items", [])}
    if "Attributes" in result:
        response["Items"] = [result["Attributes"]]
    if "LastEvaluatedKey" in result:
        response["NextToken"] = _token(result["LastEvaluatedKey"])
        response["LastEvaluatedKey"] = result["LastEvaluatedKey"]
    if "ConsumedCapacity" in result:
        response["ConsumedCapacity"] = result["ConsumedCapacity"]
    return response


def _error_entry(error: DynamoDBError) -> dict[str, Any]:
    code = error.name.removesuffix("Exception")
    if code == "ConditionalCheckFailed":
        code = "ConditionalCheckFailed"
    return {"Code": code, "Message": error.message or ""}


def batch_execute_statement(ctx: Context, data: dict[str, Any]) -> dict[str, Any]:
    """BatchExecuteStatement: up to 25 statements, each a read by whole key or
    a write; each answers on its own (``Error`` for those that fail).

    Raises:
        DynamoDBError: Validation for a batch mixing reads and writes.
    """
    entries = data["Statements"]
    parsed = [parse(entry["Statement"]) for entry in entries]
    kinds = {"read" if s.kind == "SELECT" else "write" for s in parsed}
    if len(kinds) > 1:
        raise Validation("Unsupported operation: Batch operations must be either all reads or "
                         "all writes")
    responses: list[dict[str, Any]] = []
    for entry, statement in zip(entries, parsed):
        try:
            params = _params(entry, statement)
            if statement.kind == "SELECT":
                info = ctx.info(statement.table)
                key_nodes, rest = _split_key(statement, info)
                if rest is not None or statement.index is not None:
                    raise Validation("Where clause does not contain a mandatory equality on "
                                     "all key attributes")
                render = _Render(params)
                request: dict[str, Any] = {
                    "TableName": statement.table,
                    "Key": {k: encode_value(render.python(v)) for k, v in key_nodes.items()}}
                if statement.projection is not None:
                    request["ProjectionExpression"] = ", ".join(
                        render.path(p) for p in statement.projection)
                    request.update(render.wire())
                result = items.get_item(ctx, request)
                answer: dict[str, Any] = {"TableName": statement.table}
                if "Item" in result:
                    answer["Item"] = result["Item"]
                responses.append(answer)
            else:
                operation, request = _request(ctx, statement, params, entry)
                result = _run(ctx, operation, request)
                responses.append({"TableName": statement.table})
        except DynamoDBError as error:
            answer = {"Error": _error_entry(error)}
            if error.name == "ConditionalCheckFailedException" and "Item" in error.extra:
                answer["Error"]["Item"] = error.extra["Item"]
            responses.append(answer)
    return {"Responses": responses}


def execute_transaction(ctx: Context, data: dict[str, Any]) -> dict[str, Any]:
    """ExecuteTransaction: up to 100 statements, all reads (each by whole key)
    or all writes, as one transaction.

    Raises:
        DynamoDBError: Validation, ResourceNotFound, TransactionCanceled.
    """
    entries = data["TransactStatements"]
    parsed = [parse(entry["Statement"]) for entry in entries]
    kinds = {"read" if s.kind == "SELECT" else "write" for s in parsed}
    if len(kinds) > 1:
        raise Validation("Unsupported operation: A transaction must be either all reads or all "
                         "writes")
    if kinds == {"read"}:
        gets = []
        for entry, statement in zip(entries, parsed):
            params = _params(entry, statement)
            info = ctx.info(statement.table)
            key_nodes, rest = _split_key(statement, info)
            if rest is not None:
                raise Validation("Where clause does not contain a mandatory equality on all key "
                                 "attributes")
            render = _Render(params)
            get: dict[str, Any] = {
                "TableName": statement.table,
                "Key": {k: encode_value(render.python(v)) for k, v in key_nodes.items()}}
            if statement.projection is not None:
                get["ProjectionExpression"] = ", ".join(render.path(p)
                                                        for p in statement.projection)
                get.update(render.wire())
            gets.append({"Get": get})
        result = transactions.transact_get_items(ctx, {"TransactItems": gets})
        return {"Responses": result["Responses"]}
    actions = []
    for entry, statement in zip(entries, parsed):
        params = _params(entry, statement)
        operation, request = _request(ctx, statement, params, entry)
        request.pop("ReturnValues", None)
        kind = {"PutItem": "Put", "UpdateItem": "Update", "DeleteItem": "Delete"}[operation]
        actions.append({kind: request})
    request = {"TransactItems": actions}
    if data.get("ClientRequestToken"):
        request["ClientRequestToken"] = data["ClientRequestToken"]
    transactions.transact_write_items(ctx, request)
    return {}
