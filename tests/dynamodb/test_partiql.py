"""PartiQL: ExecuteStatement, BatchExecuteStatement, ExecuteTransaction.

DynamoDB's documentation for what these tests assert:
https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ql-reference.html
https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_ExecuteStatement.html
https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_BatchExecuteStatement.html
https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_ExecuteTransaction.html
"""

import pytest
from botocore.exceptions import ClientError

from dynafile.dynamodb.errors import Validation
from dynafile.dynamodb.partiql import parse

from .conftest import make_table


@pytest.fixture
def tbl(ddb):
    make_table(ddb, "tbl", sort_type="N")
    for i in range(5):
        ddb.execute_statement(
            Statement="INSERT INTO \"tbl\" VALUE {'pk': 'a', 'sk': ?, 'tags': <<'x', 'y'>>, "
                      "'m': {'k': [1, 'two']}}", Parameters=[{"N": str(i)}])
    return ddb


def run(ddb, statement, params=None, **kw):
    if params is not None:
        kw["Parameters"] = params
    return ddb.execute_statement(Statement=statement, **kw)


def fails(ddb, statement, **kw):
    with pytest.raises(ClientError) as info:
        run(ddb, statement, **kw)
    error = info.value.response["Error"]
    return error["Code"], error["Message"]


def test_select_query_and_order(tbl):
    items = run(tbl, "SELECT pk, sk FROM tbl WHERE pk = 'a' AND sk >= 3 ORDER BY sk DESC")["Items"]
    assert items == [{"pk": {"S": "a"}, "sk": {"N": "4"}}, {"pk": {"S": "a"}, "sk": {"N": "3"}}]
    item = run(tbl, 'SELECT m.k[1] FROM "tbl" WHERE "pk" = ? AND sk = ?',
               [{"S": "a"}, {"N": "0"}])["Items"]
    assert item == [{"m": {"M": {"k": {"L": [{"S": "two"}]}}}}]


def test_select_scan_with_paging(tbl):
    first = run(tbl, "SELECT * FROM tbl WHERE contains(tags, 'x') AND sk IN [1, 2, 3]", Limit=2)
    assert len(first["Items"]) <= 2
    rest = run(tbl, "SELECT * FROM tbl WHERE contains(tags, 'x') AND sk IN [1, 2, 3]",
               NextToken=first["NextToken"])
    assert sorted(int(i["sk"]["N"]) for i in first["Items"] + rest["Items"]) == [1, 2, 3]


def test_update_and_delete(tbl):
    new = run(tbl, "UPDATE tbl SET n = 5 SET tags = set_add(tags, <<'z'>>) REMOVE m "
                   "WHERE pk = 'a' AND sk = 1 RETURNING ALL NEW *")["Items"]
    assert new == [{"pk": {"S": "a"}, "sk": {"N": "1"}, "tags": {"SS": ["x", "y", "z"]},
                    "n": {"N": "5"}}]
    run(tbl, "UPDATE tbl SET n = n + 1 WHERE pk = 'a' AND sk = 1 AND n = 5")
    assert run(tbl, "SELECT n FROM tbl WHERE pk = 'a' AND sk = 1")["Items"] == [{"n": {"N": "6"}}]
    old = run(tbl, "DELETE FROM tbl WHERE pk = 'a' AND sk = 2 RETURNING ALL OLD *")["Items"]
    assert old[0]["sk"] == {"N": "2"}
    assert fails(tbl, "UPDATE tbl SET n = 1 WHERE pk = 'a' AND sk = 99")[0] == (
        "ConditionalCheckFailedException")


def test_errors(tbl):
    assert fails(tbl, "INSERT INTO tbl VALUE {'pk': 'a', 'sk': 1}") == (
        "DuplicateItemException", "Duplicate primary key exists in table")
    assert fails(tbl, "UPDATE tbl SET n = 1 WHERE pk = 'a'") == (
        "ValidationException", ("Where clause does not contain a mandatory equality on all key "
                               "attributes"))
    assert fails(tbl, "SELECT * FROM tbl WHERE pk = ?") == (
        "ValidationException", "Number of parameters in request and statement don't match.")
    code, message = fails(tbl, "SELEC * FROM tbl")
    assert code == "ValidationException"
    assert message.startswith("Statement wasn't well formed, can't be processed: ")
    assert fails(tbl, "SELECT * FROM nope")[0] == "ResourceNotFoundException"


def test_batch_execute(tbl):
    responses = tbl.batch_execute_statement(Statements=[
        {"Statement": "SELECT sk FROM tbl WHERE pk = 'a' AND sk = 1"},
        {"Statement": "SELECT sk FROM tbl WHERE pk = 'a' AND sk = 42"},
        {"Statement": "SELECT * FROM missing WHERE pk = 'a' AND sk = 1"},
    ])["Responses"]
    assert responses[0] == {"TableName": "tbl", "Item": {"sk": {"N": "1"}}}
    assert responses[1] == {"TableName": "tbl"}
    assert responses[2]["Error"]["Code"] == "ResourceNotFound"
    writes = tbl.batch_execute_statement(Statements=[
        {"Statement": "INSERT INTO tbl VALUE {'pk': 'b', 'sk': 1}"},
        {"Statement": "INSERT INTO tbl VALUE {'pk': 'a', 'sk': 1}"},
    ])["Responses"]
    assert writes[0] == {"TableName": "tbl"}
    assert writes[1]["Error"]["Code"] == "DuplicateItem"


def test_execute_transaction(tbl):
    tbl.execute_transaction(TransactStatements=[
        {"Statement": "UPDATE tbl SET q = 1 WHERE pk = 'a' AND sk = 3"},
        {"Statement": "DELETE FROM tbl WHERE pk = 'a' AND sk = 4"}])
    got = tbl.execute_transaction(TransactStatements=[
        {"Statement": "SELECT q FROM tbl WHERE pk = 'a' AND sk = 3"},
        {"Statement": "SELECT * FROM tbl WHERE pk = 'a' AND sk = 4"}])["Responses"]
    assert got == [{"Item": {"q": {"N": "1"}}}, {}]
    with pytest.raises(tbl.exceptions.TransactionCanceledException):
        tbl.execute_transaction(TransactStatements=[
            {"Statement": "UPDATE tbl SET q = 2 WHERE pk = 'a' AND sk = 3"},
            {"Statement": "INSERT INTO tbl VALUE {'pk': 'a', 'sk': 0}"}])
    assert run(tbl, "SELECT q FROM tbl WHERE pk = 'a' AND sk = 3")["Items"] == [{"q": {"N": "1"}}]


@pytest.mark.parametrize("text", [
    "SELECT * FROM t WHERE a = 1 AND (b <> 'x' OR NOT c IS MISSING)",
    "SELECT a.b[0], \"odd name\" FROM \"t\".\"idx\" WHERE a BETWEEN 1 AND 5",
    "UPDATE t SET a = list_append(a, [1]), b = if_not_exists(b, 0) REMOVE c WHERE k = ?",
    "DELETE FROM t WHERE k = ? RETURNING ALL OLD *",
    "INSERT INTO t VALUE {'k': ?, 'm': {'n': [TRUE, NULL, -1.5e3]}}",
])
def test_parser_accepts(text):
    parse(text)


@pytest.mark.parametrize("text", ["SELECT", "SELECT * FROM", "SELECT * FROM t WHERE",
                                  "UPDATE t WHERE k = 1", "INSERT INTO t VALUES {'a': 1}",
                                  "DELETE FROM t", "SELECT * FROM t extra", "SELECT * FROM t #"])
def test_parser_refuses(text):
    with pytest.raises(Validation, match="^Statement wasn't well formed"):
        parse(text)
