"""Item commands: get, put, delete, update, query, scan, tail."""

from __future__ import annotations

import itertools
import json
import threading
from typing import Any

import click

from ..errors import ConditionalCheckFailedError, DynafileError
from ..transfer.values import item_to_dynamodb
from .common import (
    EXIT_CANNOT,
    EXIT_NO,
    CommandError,
    Opened,
    complete_table,
    input_lines,
    key_from_options,
    parse_item_line,
    parse_names,
    parse_values,
)
from .output import ItemPrinter, choose_output, console, dynamodb_line, output_option, typed_line

INPUTS = click.Choice(["json", "dynamodb"])


def db_argument(f: Any) -> Any:
    return click.argument("db", metavar="DB", type=click.Path(file_okay=False))(f)


def table_argument(f: Any) -> Any:
    f = click.argument("table_arg", metavar="[TABLE]", required=False,
                       shell_complete=complete_table)(f)
    return click.option("--table", "table_opt", metavar="NAME", hidden=True,
                        shell_complete=complete_table,
                        help="the table (the same as TABLE)")(f)


def trust_option(f: Any) -> Any:
    return click.option("--trust", multiple=True, metavar="MODULE:NAME",
                        help="a class the pickle allowlist should also load (repeatable)")(f)


def input_option(f: Any) -> Any:
    return click.option(
        "-i", "--input", "input_mode", type=INPUTS, default="json", show_default=True,
        help='how items, keys and --values are written: typed JSON, or DynamoDB JSON '
             '(items as {"Item": {...}}, keys and values as {"name": {"S": "x"}})')(f)


def key_options(f: Any) -> Any:
    f = click.option("--sk", metavar="TEXT", help="sort key value, as text")(f)
    f = click.option("--pk", metavar="TEXT", help="partition key value, as text (converted to "
                     "the key's type: N a number, B UTF-8 bytes or base64:...)")(f)
    return click.option("--key", metavar="JSON",
                        help='the key as JSON: {"pk": "a", "sk": 1}')(f)


def expression_options(f: Any) -> Any:
    f = click.option("--values", metavar="JSON",
                     help='ExpressionAttributeValues: {":v": 1} (typed JSON, or DynamoDB '
                          "JSON with --input dynamodb)")(f)
    return click.option("--names", metavar="JSON",
                        help='ExpressionAttributeNames: {"#s": "status"}')(f)


def table_of(table_arg: str | None, table_opt: str | None) -> str | None:
    if table_arg and table_opt and table_arg != table_opt:
        raise CommandError(f"two tables named: {table_arg} and {table_opt}")
    return table_arg or table_opt


def key_names(opened: Opened) -> list[str]:
    table = opened.table
    assert table is not None
    return [table.pk_attribute, table.sk_attribute or ""]


@click.command()
@db_argument
@table_argument
@key_options
@click.option("--projection", metavar="EXPR", help="ProjectionExpression: attributes to print")
@click.option("--names", metavar="JSON", help='ExpressionAttributeNames: {"#s": "status"}')
@input_option
@output_option
@trust_option
def get(db: str, table_arg: str | None, table_opt: str | None, key: str | None,
        pk: str | None, sk: str | None, projection: str | None, names: str | None,
        input_mode: str, output: str | None, trust: tuple[str, ...]) -> int:
    """Print one item (exit 1 when there is none).

    \b
    dynafile get data/shop shop --key '{"PK": "CUSTOMER#c0001", "SK": "PROFILE"}'
    dynafile get data/shop --pk CUSTOMER#c0001 --sk PROFILE
    """
    with Opened(db, table_of(table_arg, table_opt), trust=trust) as opened:
        assert opened.table is not None
        item = opened.table.get_item(key=key_from_options(opened, key, pk, sk, input_mode),
                                     projection=projection, names=parse_names(names))
        chosen = choose_output(output)
        if item is None:
            if chosen == "json":
                click.echo("null")
            elif chosen == "dynamodb":
                click.echo("{}")
            else:
                console(stderr=True).print("no such item")
            return EXIT_NO
        if chosen == "dynamodb":
            click.echo(dynamodb_line(item))
        else:
            printer = ItemPrinter(chosen, key_names(opened))
            printer.item(item)
            printer.flush()
    return 0


@click.command()
@db_argument
@table_argument
@click.argument("items", nargs=-1, metavar="[ITEM]...")
@click.option("--condition", metavar="EXPR", help="ConditionExpression each put must meet")
@expression_options
@input_option
@output_option
def put(db: str, table_arg: str | None, table_opt: str | None, items: tuple[str, ...],
        condition: str | None, names: str | None, values: str | None, input_mode: str,
        output: str | None) -> int:
    """Put items: each ITEM argument, or one per line of stdin (no ITEM, or -).

    Typed JSON by default (what `scan -o json` prints); DynamoDB JSON
    {"Item": {...}} lines with --input dynamodb (what `scan -o dynamodb`
    and exports hold). Without --condition, stdin lines are written in
    batches of 1,000 (one log record each). Exit 1 when a condition fails.

    \b
    dynafile put data/app orders '{"pk": "o1", "total": 12.5, "tags": {"$ss": ["new"]}}'
    dynafile scan data/a orders -o json | dynafile put data/b orders
    """
    parsed_names = parse_names(names)
    parsed_values = parse_values(values, input_mode)
    count = 0

    def stopped(message: str, code: int = EXIT_CANNOT) -> CommandError:
        # a script reading this must know what is in the table now: batches
        # are all or nothing, so the items put are always the first `count`
        if count == 0:
            return CommandError(f"{message}; nothing was put", code)
        first = "the first item was" if count == 1 else f"the first {count} items were"
        return CommandError(f"{message}; {first} put, none after", code)

    with Opened(db, table_of(table_arg, table_opt), write=True) as opened:
        table = opened.table
        assert table is not None
        lines = input_lines(items)
        if condition is None:
            while True:
                chunk = list(itertools.islice(lines, 1000))
                if not chunk:
                    break
                first = chunk[0][0]
                with table.batch_writer() as writer:
                    for where, text in chunk:
                        try:
                            item = parse_item_line(text, where, input_mode)
                            writer.put_item(item=item)
                        except CommandError as error:
                            raise stopped(error.message) from None
                        except DynafileError as error:
                            raise stopped(f"{where}: {type(error).__name__}: {error}") from None
                    try:
                        writer.flush()
                    except DynafileError as error:
                        raise stopped(f"{first} to {chunk[-1][0]}: {type(error).__name__}: "
                                      f"{error}") from None
                count += len(chunk)
        else:
            for where, text in lines:
                try:
                    item = parse_item_line(text, where, input_mode)
                    table.put_item(item=item, condition=condition, names=parsed_names,
                                   values=parsed_values)
                except CommandError as error:
                    raise stopped(error.message) from None
                except ConditionalCheckFailedError:
                    raise stopped(f"{where}: the condition failed", EXIT_NO) from None
                except DynafileError as error:
                    raise stopped(f"{where}: {type(error).__name__}: {error}") from None
                count += 1
    _report(output, {"put": count}, f"put {count} items")
    return 0


def _report(output: str | None, data: dict[str, Any], line: str) -> None:
    if choose_output(output) == "table":
        console(stderr=True).print(line, markup=False)
    else:
        click.echo(json.dumps(data))


@click.command()
@db_argument
@table_argument
@key_options
@click.option("--condition", metavar="EXPR", help="ConditionExpression the item must meet")
@expression_options
@click.option("--return-old", is_flag=True, help="print the item deleted")
@input_option
@output_option
def delete(db: str, table_arg: str | None, table_opt: str | None, key: str | None,
           pk: str | None, sk: str | None, condition: str | None, names: str | None,
           values: str | None, return_old: bool, input_mode: str, output: str | None) -> int:
    """Delete one item (a missing item is no error; exit 1 when the
    condition fails).

    \b
    dynafile delete data/app orders --key '{"pk": "o1"}' --condition 'attribute_exists(pk)'
    """
    with Opened(db, table_of(table_arg, table_opt), write=True) as opened:
        assert opened.table is not None
        the_key = key_from_options(opened, key, pk, sk, input_mode)
        try:
            old = opened.table.delete_item(
                key=the_key, condition=condition, names=parse_names(names),
                values=parse_values(values, input_mode),
                return_values="ALL_OLD" if return_old else "NONE")
        except ConditionalCheckFailedError:
            raise CommandError("the condition failed: nothing was deleted", EXIT_NO) from None
        if return_old:
            _print_one(opened, old, output)
    return 0


def _print_one(opened: Opened, item: Any, output: str | None) -> None:
    chosen = choose_output(output)
    if item is None:
        click.echo("null" if chosen == "json" else "{}" if chosen == "dynamodb" else "")
        return
    if chosen == "dynamodb":
        click.echo(dynamodb_line(item))
        return
    printer = ItemPrinter(chosen, key_names(opened))
    printer.item(item)
    printer.flush()


@click.command()
@db_argument
@table_argument
@key_options
@click.option("-u", "--update", "update_expression", required=True, metavar="EXPR",
              help="UpdateExpression: SET a = :v, b = b + :one REMOVE c ADD tags :t DELETE s :x")
@click.option("--condition", metavar="EXPR", help="ConditionExpression the item must meet")
@expression_options
@click.option("--return", "return_values", default="ALL_NEW", show_default=True,
              type=click.Choice(["NONE", "ALL_OLD", "UPDATED_OLD", "ALL_NEW", "UPDATED_NEW"]),
              help="what to print")
@input_option
@output_option
def update(db: str, table_arg: str | None, table_opt: str | None, key: str | None,
           pk: str | None, sk: str | None, update_expression: str, condition: str | None,
           names: str | None, values: str | None, return_values: str, input_mode: str,
           output: str | None) -> int:
    """Update one item with an UpdateExpression and print it (exit 1 when
    the condition fails).

    \b
    dynafile update data/app orders --key '{"pk": "o1"}' \\
        --update 'SET visits = if_not_exists(visits, :zero) + :one' \\
        --values '{":zero": 0, ":one": 1}'
    """
    with Opened(db, table_of(table_arg, table_opt), write=True) as opened:
        assert opened.table is not None
        the_key = key_from_options(opened, key, pk, sk, input_mode)
        try:
            result = opened.table.update_item(
                key=the_key, update=update_expression, condition=condition,
                names=parse_names(names), values=parse_values(values, input_mode),
                return_values=return_values)
        except ConditionalCheckFailedError:
            raise CommandError("the condition failed: nothing was updated", EXIT_NO) from None
        if return_values != "NONE":
            _print_one(opened, result, output)
    return 0


def _read_options(f: Any) -> Any:
    f = click.option("--limit", type=click.IntRange(min=1), metavar="N",
                     help="print at most N items")(f)
    f = click.option("--index", metavar="NAME", help="read a secondary index")(f)
    f = click.option("--projection", metavar="EXPR",
                     help="ProjectionExpression: the attributes to print")(f)
    return click.option("--filter", "filter_expression", metavar="EXPR",
                        help="FilterExpression (DynamoDB's syntax)")(f)


@click.command()
@db_argument
@table_argument
@click.option("-k", "--key-condition", required=True, metavar="EXPR",
              help="KeyConditionExpression: pk = :p AND begins_with(sk, :s)")
@_read_options
@click.option("--reverse", is_flag=True, help="descending sort-key order")
@expression_options
@input_option
@output_option
@trust_option
def query(db: str, table_arg: str | None, table_opt: str | None, key_condition: str,
          filter_expression: str | None, projection: str | None, index: str | None,
          limit: int | None, reverse: bool, names: str | None, values: str | None,
          input_mode: str, output: str | None, trust: tuple[str, ...]) -> int:
    """Print the items of one partition, in sort-key order.

    \b
    dynafile query data/shop shop -k 'PK = :c AND begins_with(SK, :o)' \\
        --values '{":c": "CUSTOMER#c0001", ":o": "ORDER#"}' --limit 5
    dynafile query data/shop shop --index by_status -k '#s = :s' \\
        --names '{"#s": "status"}' --values '{":s": "open"}'
    """
    with Opened(db, table_of(table_arg, table_opt), trust=trust) as opened:
        assert opened.table is not None
        page = opened.table.query(key_condition=key_condition, filter=filter_expression,
                                  names=parse_names(names),
                                  values=parse_values(values, input_mode),
                                  projection=projection, index=index,
                                  scan_index_forward=not reverse)
        _print_items(opened, page, limit, output)
    return 0


def _print_items(opened: Opened, items: Any, limit: int | None, output: str | None) -> None:
    printer = ItemPrinter(output, key_names(opened))
    for item in itertools.islice(items, limit):
        printer.item(item)
    printer.done()


@click.command()
@db_argument
@table_argument
@_read_options
@click.option("--segment", type=click.IntRange(min=0), metavar="N",
              help="read segment N of --total-segments")
@click.option("--total-segments", type=click.IntRange(min=1), metavar="N")
@expression_options
@input_option
@output_option
@trust_option
def scan(db: str, table_arg: str | None, table_opt: str | None, filter_expression: str | None,
         projection: str | None, index: str | None, limit: int | None, segment: int | None,
         total_segments: int | None, names: str | None, values: str | None, input_mode: str,
         output: str | None, trust: tuple[str, ...]) -> int:
    """Print every item (of the table, or of an index).

    \b
    dynafile scan data/shop shop --filter 'total > :t' --values '{":t": 100}'
    dynafile scan data/shop shop -o dynamodb > shop.json   # import-from-S3 lines
    """
    with Opened(db, table_of(table_arg, table_opt), trust=trust) as opened:
        assert opened.table is not None
        page = opened.table.scan(filter=filter_expression, names=parse_names(names),
                                 values=parse_values(values, input_mode), projection=projection,
                                 index=index, segment=segment, total_segments=total_segments)
        _print_items(opened, page, limit, output)
    return 0


def _record_json(record: Any) -> str:
    data = {"sequence": record.sequence, "index": record.index, "table": record.table,
            "event": record.event_name, "keys": record.keys, "new": record.new,
            "old": record.old, "time": record.approximate_time}
    if record.expired:
        data["expired"] = True
    return typed_line(data)


def _record_dynamodb(record: Any) -> str:
    images: dict[str, Any] = {"Keys": item_to_dynamodb(record.keys),
                              "SequenceNumber": f"{record.sequence:020d}{record.index:020d}"}
    if record.approximate_time is not None:
        images["ApproximateCreationDateTime"] = record.approximate_time
    if record.new is not None:
        images["NewImage"] = item_to_dynamodb(record.new)
    if record.old is not None:
        images["OldImage"] = item_to_dynamodb(record.old)
    data: dict[str, Any] = {"eventID": f"{record.sequence}-{record.index}",
                            "eventName": record.event_name, "eventSource": "aws:dynamodb",
                            "tableName": record.table, "dynamodb": images}
    if record.expired:
        data["userIdentity"] = record.user_identity
    return json.dumps(data, ensure_ascii=False)


@click.command()
@db_argument
@table_argument
@click.option("--from", "from_sequence", type=click.IntRange(min=0), metavar="SEQUENCE",
              help="start after this sequence number (0: the oldest record kept); "
                   "default: only new changes")
@click.option("--follow/--no-follow", default=True, show_default=True,
              help="wait for new changes at the end of the log")
@click.option("--timeout", type=click.FloatRange(min=0), metavar="SECONDS",
              help="with --follow: stop after this long without a change")
@click.option("--consumer", metavar="NAME",
              help="a named consumer: resume where it stopped, and store its position")
@click.option("--limit", type=click.IntRange(min=1), metavar="N", help="stop after N records")
@output_option
@trust_option
def tail(db: str, table_arg: str | None, table_opt: str | None, from_sequence: int | None,
         follow: bool, timeout: float | None, consumer: str | None, limit: int | None,
         output: str | None, trust: tuple[str, ...]) -> int:
    """Follow a table's stream of changes (Ctrl-C stops).

    \b
    dynafile tail data/app orders                    # new changes, as they commit
    dynafile tail data/app orders --from 0 --no-follow -o dynamodb
    """
    from rich.markup import escape

    chosen = choose_output(output)
    with Opened(db, table_of(table_arg, table_opt), write=consumer is not None,
                trust=trust) as opened:
        assert opened.table is not None
        stream = opened.table.stream(from_sequence=from_sequence, follow=follow,
                                     timeout=timeout, consumer=consumer)

        def show(record: Any) -> None:
            if chosen == "json":
                click.echo(_record_json(record))
            elif chosen == "dynamodb":
                click.echo(_record_dynamodb(record))
            else:
                image = record.new if record.new is not None else record.old
                shown = typed_line(image) if image is not None else typed_line(record.keys)
                colour = {"INSERT": "green", "MODIFY": "yellow", "REMOVE": "red"}.get(
                    record.event_name, "")
                console().print(f"[dim]{record.sequence}.{record.index}[/dim] "
                                f"[{colour}]{record.event_name:<6}[/{colour}] "
                                f"{escape(typed_line(record.keys))}  "
                                f"[dim]{escape(shown)}[/dim]")

        # The stream is read in a worker thread and the main thread only
        # waits: Ctrl-C (KeyboardInterrupt, raised in the main thread) then
        # never lands inside the engine's locks, and closing the stream ends
        # the worker's wait at once.
        failed: list[BaseException] = []

        def pump() -> None:
            try:
                for record in itertools.islice(stream, limit):
                    show(record)
            except BaseException as error:  # noqa: BLE001 - handed to the main thread
                failed.append(error)

        with stream:
            worker = threading.Thread(target=pump, name="dynafile-tail", daemon=True)
            worker.start()
            try:
                while worker.is_alive():
                    worker.join(0.1)
            except KeyboardInterrupt:
                stream.close()
                worker.join(10)
                raise
        if failed:
            raise failed[0]
    return 0
