"""Opening the native API on a DynamoDB endpoint: ``Database(url)``,
``Database(client=...)``, ``Dynafile(url, table=...)``; options that belong
to a data directory; errors translated from botocore's."""

from __future__ import annotations

import pytest

from dynafile import (
    Database,
    Dynafile,
    SchemaMismatchError,
    TableExistsError,
    TransactionCanceledError,
    ValidationError,
)
from dynafile.remote import RemoteDatabase, RemoteTable, parse_url
from dynafile.remote.errors import EndpointError, RemoteError, ThrottledError, translate


def test_same_names_on_every_backend(backend, table):
    """The public methods of a table and a database exist on every backend."""
    for method in ("put_item", "get_item", "delete_item", "update_item", "query", "scan",
                   "count", "batch_get", "batch_writer", "transact_write", "transact_get",
                   "transaction", "add_stream_listener", "remove_stream_listener", "stream",
                   "consumer_position", "reset_consumer", "create_gsi", "drop_gsi",
                   "update_time_to_live", "update_table", "sweep_expired", "describe",
                   "checkpoint", "close"):
        assert callable(getattr(table, method)), method
    for method in ("create_table", "table", "tables", "describe_table", "delete_table",
                   "tag_table", "untag_table", "transact_write", "transact_get", "transaction",
                   "stream", "consumer_position", "reset_consumer", "checkpoint", "close"):
        assert callable(getattr(backend.db, method)), method
    assert table.pk_attribute == "PK" and table.sk_attribute == "SK"
    assert table.name in backend.db.tables()


def test_create_existing_table(backend, table):
    with pytest.raises(TableExistsError):
        backend.db.create_table(table.name, pk_attribute="PK")


def test_tags(backend, table):
    db = backend.db
    db.tag_table(table.name, {"team": "shop", "env": "test"})
    assert db.describe_table(table.name)["tags"] == {"team": "shop", "env": "test"}
    db.untag_table(table.name, ["env"])
    assert db.describe_table(table.name)["tags"] == {"team": "shop"}


def test_url_spelling(backend):
    backend.only_remote("a data directory is opened by its path")
    url = f"dynamodb://us-east-1?endpoint={backend.url}"
    with Database(url) as db:  # no credentials here: a local endpoint gets a placeholder key
        assert isinstance(db, RemoteDatabase)
        name = backend.unique()
        db.create_table(name, pk_attribute="id")
        assert name in db.tables()
    with Dynafile(url, table=name) as table:
        assert isinstance(table, RemoteTable)
        table.put_item(item={"id": "a"})
        assert table.get_item(key={"id": "a"}) == {"id": "a"}
    with pytest.raises(SchemaMismatchError):
        Dynafile(url, table=name, pk_attribute="other")


def test_dynafile_creates_its_table(backend):
    backend.only_remote("the file backend's Dynafile(path) is tested in tests/test_table.py")
    name = backend.unique()
    with Dynafile(client=backend.client, table=name, pk_attribute="PK",
                  sk_attribute="SK") as table:
        table.put_item(item={"PK": "a", "SK": "b"})
        assert table.describe()["stream_view_type"] == "NEW_AND_OLD_IMAGES"
    with Dynafile(client=backend.client, table=name) as again:  # properties are the table's
        assert again.sk_attribute == "SK"
        assert again.get_item(key={"PK": "a", "SK": "b"}) is not None
    with pytest.raises(ValidationError, match="data directory"):
        Dynafile(client=backend.client, table=name, durability="normal")


def test_file_only_options_are_refused(backend):
    backend.only_remote("they are the file backend's own options")
    with pytest.raises(ValidationError, match="data directory"):
        Database(client=backend.client, durability="normal")
    with pytest.raises(ValidationError, match="serializer"):
        backend.create(serializer="json")
    with pytest.raises(ValidationError, match="properties"):
        backend.create(properties={"a": 1})


def test_check_is_a_data_directory_thing(backend, table):
    backend.only_remote("the file backend checks its files")
    with pytest.raises(ValidationError):
        table.check()
    assert table.checkpoint() == 0


def test_parse_url():
    assert parse_url("dynamodb://eu-west-1") == {"region": "eu-west-1", "endpoint": None,
                                                 "profile": None, "positions": None}
    parsed = parse_url("dynamodb://us-east-1?endpoint=http://127.0.0.1:8000&profile=dev"
                       "&positions=/var/lib/app")
    assert parsed["endpoint"] == "http://127.0.0.1:8000" and parsed["profile"] == "dev"
    assert parse_url("dynamodb://")["region"] is None
    for bad in ("dynamodb://us-east-1?nope=1", "dynamodb://us-east-1/path", "http://x"):
        with pytest.raises(ValidationError):
            parse_url(bad)


def _client_error(code, message="m", **extra):
    from botocore.exceptions import ClientError

    return ClientError({"Error": {"Code": code, "Message": message},
                        "ResponseMetadata": {"HTTPStatusCode": 400}, **extra}, "Op")


def test_translate_errors():
    error = translate(_client_error("TransactionCanceledException", "x [None, Conditional]",
                                    CancellationReasons=[
                                        {"Code": "None"},
                                        {"Code": "ConditionalCheckFailed", "Message": "no",
                                         "Item": {"a": {"N": "1"}}}]))
    assert isinstance(error, TransactionCanceledError)
    assert [r.code for r in error.reasons] == [None, "ConditionalCheckFailed"]
    assert error.reasons[1].item == {"a": 1}
    from_message = translate(_client_error("TransactionCanceledException",
                                           "Transaction cancelled [None, TransactionConflict]"))
    assert [r.code for r in from_message.reasons] == [None, "TransactionConflict"]
    assert isinstance(translate(_client_error("ThrottlingException")), ThrottledError)
    other = translate(_client_error("SomethingNew", "what"))
    assert isinstance(other, RemoteError) and other.code == "SomethingNew"
    from botocore.exceptions import EndpointConnectionError

    assert isinstance(translate(EndpointConnectionError(endpoint_url="http://x")),
                      EndpointError)
