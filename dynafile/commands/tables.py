"""Table commands: tables, create-table, describe, delete-table,
create-index, delete-index."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from ..errors import TableNotFoundError
from ..indexes import GSI, LSI
from ..schema import TTL_MODES
from ..transfer.definition import (
    DefinitionError,
    create_in_database,
    definition_from_database,
    key_attributes,
)
from .common import (
    EXIT_NO,
    CommandError,
    Opened,
    check_new_table_name,
    complete_table,
    new_database,
    open_database,
)
from .items import db_argument
from .output import (
    Bars,
    choose_output,
    console,
    output_option,
    print_document,
    progress_option,
    run_with_progress,
    show_progress,
    summary,
)

VIEW_TYPES = ("NEW_AND_OLD_IMAGES", "NEW_IMAGE", "OLD_IMAGE", "KEYS_ONLY")


def table_required(f: Any) -> Any:
    return click.argument("table", metavar="TABLE", shell_complete=complete_table)(f)


@click.command()
@db_argument
@output_option
def tables(db: str, output: str | None) -> int:
    """List the tables of a database.

    \b
    dynafile tables data/app
    """
    database = open_database(db, write=False)
    try:
        rows = []
        for name in database.tables():
            described = database.describe_table(name)
            rows.append({"name": name, "pk": described["pk_attribute"],
                         "sk": described["sk_attribute"],
                         "indexes": sorted(described["indexes"]),
                         "item_count": described["item_count"]})
    finally:
        database.close()
    chosen = choose_output(output)
    if chosen == "json":
        for row in rows:
            click.echo(json.dumps(row, ensure_ascii=False))
    elif chosen == "dynamodb":
        click.echo(json.dumps({"TableNames": [r["name"] for r in rows]}))
    else:
        from rich.table import Table
        from rich.text import Text

        table = Table(header_style="bold")
        for column in ("table", "partition key", "sort key", "indexes", "items (approx.)"):
            table.add_column(column, justify="right" if column.startswith("items") else "left")
        for row in rows:
            table.add_row(Text(row["name"], style="cyan"), Text(row["pk"]),
                          Text(row["sk"] or ""), Text(", ".join(row["indexes"])),
                          f"{row['item_count']:,}")
        console().print(table)
    return 0


def _typed_attribute(spec: str, what: str) -> tuple[str, str | None]:
    name, sep, kind = spec.rpartition(":")
    if not sep:
        return spec, None
    kind = kind.upper()
    if not name or kind not in ("S", "N", "B"):
        raise CommandError(f"{what}: {spec!r}: write NAME or NAME:TYPE (TYPE: S, N or B)")
    return name, kind


def _projection(text: str, what: str) -> tuple[str, list[str] | None]:
    if not text or text.upper() == "ALL":
        return "ALL", None
    if text.upper() == "KEYS_ONLY":
        return "KEYS_ONLY", None
    head, _, attributes = text.partition(":")
    if head.upper() == "INCLUDE" and attributes:
        return "INCLUDE", [a for a in attributes.split("+") if a]
    raise CommandError(f"{what}: projection {text!r}: ALL, KEYS_ONLY or INCLUDE:a+b")


def parse_index(spec: str, local: bool) -> tuple[Any, dict[str, str]]:
    """``NAME=PK[:T][,SK[:T]][@PROJECTION]`` (a GSI) or
    ``NAME=SK[:T][@PROJECTION]`` (an LSI): the index and the key types it names."""
    what = "--lsi" if local else "--gsi"
    body, _, projection_text = spec.partition("@")
    name, sep, keys = body.partition("=")
    if not sep or not name or not keys:
        form = "NAME=SK[:TYPE]" if local else "NAME=PK[:TYPE][,SK[:TYPE]]"
        raise CommandError(f"{what}: {spec!r}: write {form}[@ALL|@KEYS_ONLY|@INCLUDE:a+b]")
    parts = keys.split(",")
    types: dict[str, str] = {}
    attributes = []
    for part in parts:
        attribute, kind = _typed_attribute(part, what)
        attributes.append(attribute)
        if kind:
            types[attribute] = kind
    projection, include = _projection(projection_text, what)
    if local:
        if len(attributes) != 1:
            raise CommandError(f"{what}: {spec!r}: a local index has one sort key")
        return LSI(name, attributes[0], projection, include), types
    if len(attributes) > 2:
        raise CommandError(f"{what}: {spec!r}: at most a partition and a sort key")
    sk = attributes[1] if len(attributes) > 1 else None
    return GSI(name, attributes[0], sk, projection, include), types


@click.command("create-table")
@db_argument
@click.argument("table", metavar="TABLE")
@click.option("--pk", metavar="NAME[:TYPE]", help="partition key (TYPE S, N or B: fixed now; "
              "else on first write)")
@click.option("--sk", metavar="NAME[:TYPE]", help="sort key")
@click.option("--gsi", "gsis", multiple=True, metavar="NAME=PK[:T][,SK[:T]][@PROJ]",
              help="a global secondary index (repeatable); PROJ: ALL (default), KEYS_ONLY, "
                   "INCLUDE:a+b")
@click.option("--lsi", "lsis", multiple=True, metavar="NAME=SK[:T][@PROJ]",
              help="a local secondary index (repeatable)")
@click.option("--ttl", "ttl_attribute", metavar="ATTRIBUTE", help="the TTL attribute")
@click.option("--ttl-mode", type=click.Choice(TTL_MODES), default=None,
              help="hide: expired items vanish from reads at once (default); dynamodb: they "
                   "stay until swept")
@click.option("--stream-view-type", type=click.Choice(VIEW_TYPES), default=None,
              help="the images change records carry (NEW_AND_OLD_IMAGES)")
@click.option("--serializer", metavar="NAME", help="pickle (default), json, msgpack, ...")
@click.option("--tag", "tags", multiple=True, metavar="KEY=VALUE", help="a tag (repeatable)")
@click.option("--definition", "definition_file", type=click.File("r"), metavar="FILE",
              help="a definition as `describe -o dynamodb` prints it (options above add to it)")
@output_option
def create_table(db: str, table: str, pk: str | None, sk: str | None, gsis: tuple[str, ...],
                 lsis: tuple[str, ...], ttl_attribute: str | None, ttl_mode: str | None,
                 stream_view_type: str | None, serializer: str | None, tags: tuple[str, ...],
                 definition_file: Any, output: str | None) -> int:
    """Create a table (and the database, when DB does not exist yet).

    \b
    dynafile create-table data/app orders --pk customer --sk order:N \\
        --gsi 'by_status=status,total:N@KEYS_ONLY' --ttl expires
    dynafile describe data/app orders -o dynamodb > orders.json
    dynafile create-table data/copy orders --definition orders.json
    """
    # everything the command line says is checked before the database is
    # opened: a refused create-table leaves no directory behind
    check_new_table_name(table)
    tag_map = {}
    for text in tags:
        k, sep, v = text.partition("=")
        if not sep or not k:
            raise CommandError(f"--tag: {text!r}: write KEY=VALUE")
        tag_map[k] = v
    definition: dict[str, Any] | None = None
    options: dict[str, Any] = {}
    if definition_file is not None:
        if pk or sk or gsis or lsis:
            raise CommandError("--definition names the keys and indexes: leave out "
                               "--pk, --sk, --gsi and --lsi")
        try:
            definition = json.load(definition_file)
        except ValueError as error:
            raise CommandError(f"--definition: not JSON: {error}") from None
        if not isinstance(definition, dict):
            raise CommandError("--definition: must be a JSON object (describe -o dynamodb)")
        try:
            key_attributes(definition)
        except (DefinitionError, KeyError, TypeError) as error:
            raise CommandError(f"--definition: {error}") from None
        if ttl_attribute:
            definition["TimeToLiveSpecification"] = {"Enabled": True,
                                                     "AttributeName": ttl_attribute}
        if stream_view_type:
            definition["StreamSpecification"] = {"StreamEnabled": True,
                                                 "StreamViewType": stream_view_type}
        if tag_map:
            definition["Tags"] = [{"Key": k, "Value": v} for k, v in tag_map.items()]
    else:
        if not pk:
            raise CommandError("name the partition key: --pk NAME[:TYPE] (or --definition)")
        key_types: dict[str, str] = {}
        pk_name, pk_type = _typed_attribute(pk, "--pk")
        sk_name, sk_type = _typed_attribute(sk, "--sk") if sk else (None, None)
        for attribute, kind in ((pk_name, pk_type), (sk_name, sk_type)):
            if attribute and kind:
                key_types[attribute] = kind
        global_indexes, local_indexes = [], []
        for spec in gsis:
            index, types = parse_index(spec, local=False)
            global_indexes.append(index)
            key_types.update(types)
        for spec in lsis:
            index, types = parse_index(spec, local=True)
            local_indexes.append(index)
            key_types.update(types)
        options = {"pk_attribute": pk_name, "sk_attribute": sk_name,
                   "ttl_attribute": ttl_attribute, "gsis": global_indexes,
                   "lsis": local_indexes,
                   "stream_view_type": stream_view_type or "NEW_AND_OLD_IMAGES",
                   "serializer": serializer, "tags": tag_map or None,
                   "ttl_mode": ttl_mode or "hide", "key_types": key_types}
    with new_database(db) as database:
        if definition is not None:
            try:
                create_in_database(database, table, definition, ttl_mode=ttl_mode,
                                   serializer=serializer)
            except (DefinitionError, KeyError, TypeError) as error:
                raise CommandError(f"--definition: {error}") from None
        else:
            database.create_table(table, **options)
        summary({"created": table, "path": database.path},
                f"created table {table} in {database.path}", output)
    return 0


@click.command()
@db_argument
@table_required
@output_option
def describe(db: str, table: str, output: str | None) -> int:
    """Print a table's definition.

    `-o dynamodb` prints it as DynamoDB's CreateTable request (plus TTL and
    dynafile's own settings), which `create-table --definition` reads and
    exports carry as dynafile-table.json.

    \b
    dynafile describe data/app orders
    """
    database = open_database(db, write=False)
    try:
        try:
            described = database.describe_table(table)
        except TableNotFoundError:
            raise CommandError(f"{database.path}: no table named {table!r}") from None
        chosen = choose_output(output)
        if chosen == "dynamodb":
            print_document(definition_from_database(database, table), "json")
        elif chosen == "json":
            print_document(described, "json")
        else:
            _describe_table(described)
    finally:
        database.close()
    return 0


def _describe_table(described: dict[str, Any]) -> None:
    from rich.table import Table
    from rich.text import Text

    types = described["key_types"]

    def typed(attribute: str | None) -> str:
        if attribute is None:
            return ""
        return f"{attribute} ({types.get(attribute) or 'type not fixed yet'})"

    info = Table(show_header=False, box=None)
    info.add_column(style="bold")
    info.add_column()
    rows = [("table", described["name"]), ("partition key", typed(described["pk_attribute"])),
            ("sort key", typed(described["sk_attribute"]) or "none"),
            ("TTL", described["ttl_attribute"] or "off"),
            ("TTL mode", described["ttl_mode"]),
            ("stream view type", described["stream_view_type"]),
            ("serializer", described["serializer"]),
            ("items (approx.)", f"{described['item_count']:,}"),
            ("size (approx.)", f"{described['size_bytes']:,} bytes"),
            ("tags", ", ".join(f"{k}={v}" for k, v in described["tags"].items()) or "none")]
    for label, value in rows:
        info.add_row(label, Text(str(value)))
    console().print(info)
    if described["indexes"]:
        indexes = Table(header_style="bold")
        for column in ("index", "kind", "partition key", "sort key", "projection", "state"):
            indexes.add_column(column)
        for name, index in sorted(described["indexes"].items()):
            pk = index["pk_attribute"] or described["pk_attribute"]
            projection = index["projection"]
            if projection == "INCLUDE":
                projection += ": " + ", ".join(index["include"])
            indexes.add_row(Text(name, style="cyan"), index["kind"], Text(typed(pk)),
                            Text(typed(index["sk_attribute"])), Text(projection),
                            index["state"])
        console().print(indexes)


@click.command("delete-table")
@db_argument
@table_required
@click.option("--yes", is_flag=True, help="do not ask")
@output_option
def delete_table(db: str, table: str, yes: bool, output: str | None) -> int:
    """Delete a table and its items.

    \b
    dynafile delete-table data/app orders --yes
    """
    database = open_database(db, write=True)
    try:
        if table not in database.tables():
            raise CommandError(f"{database.path}: no table named {table!r}")
        if not yes:
            if not sys.stdin.isatty():
                raise CommandError("deleting a table needs --yes when stdin is not a terminal")
            if not click.confirm(f"Delete table {table} and all its items?", err=True):
                raise CommandError(f"table {table} was not deleted", EXIT_NO)
        database.delete_table(table)
        summary({"deleted": table}, f"deleted table {table}", output)
    finally:
        database.close()
    return 0


@click.command("create-index")
@db_argument
@table_required
@click.argument("spec", metavar="NAME=PK[:T][,SK[:T]][@PROJ]")
@progress_option
@output_option
def create_index(db: str, table: str, spec: str, progress: bool | None,
                 output: str | None) -> int:
    """Add a global secondary index and fill it from the table's items
    (a progress bar follows the backfill).

    \b
    dynafile create-index data/shop shop 'by_category=category,price:N'
    """
    index, types = parse_index(spec, local=False)
    with Opened(db, table, write=True) as opened:
        handle: Any = opened.table
        fixed = handle.describe()["key_types"]
        for attribute, kind in types.items():
            if fixed.get(attribute) not in (None, kind):
                raise CommandError(f"{attribute} holds {fixed[attribute]} keys, not {kind}",
                                   EXIT_NO)
        shown = show_progress(progress)
        collections = None
        if shown:
            # the backfill commits one log record per item collection: the
            # bar counts records against the table's collections
            keys = handle.scan(projection="#k", names={"#k": handle.pk_attribute})
            collections = len({repr(item.get(handle.pk_attribute)) for item in keys})
        start = handle.sequence
        with Bars(shown, unit="collections") as bars:
            run_with_progress(lambda: handle.create_gsi(index), bars,
                              f"backfill {index.name}", collections,
                              lambda: handle.sequence - start)
        summary({"created": index.name, "table": table},
                f"created index {index.name} of {table}", output)
    return 0


@click.command("delete-index")
@db_argument
@table_required
@click.argument("name", metavar="NAME")
@output_option
def delete_index(db: str, table: str, name: str, output: str | None) -> int:
    """Remove a global secondary index.

    \b
    dynafile delete-index data/shop shop by_category
    """
    with Opened(db, table, write=True) as opened:
        assert opened.table is not None
        opened.table.drop_gsi(name)
        summary({"deleted": name, "table": table}, f"deleted index {name} of {table}", output)
    return 0
