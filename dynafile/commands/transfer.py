"""export, import and copy (see dynafile.transfer for the formats)."""

from __future__ import annotations

import json
import os
import time
from typing import Any

import click

from ..transfer import TransferError
from ..transfer.copy import copy as run_copy
from ..transfer.dynamo import is_endpoint
from ..transfer.exchange import definition_from_keys, export_table, find_source, import_table
from .common import (
    CommandError,
    check_new_table_name,
    complete_table,
    first_missing,
    new_database,
    open_database,
    remove_if_empty,
)
from .items import db_argument
from .output import Bars, output_option, progress_option, rate_line, show_progress, summary


@click.command()
@db_argument
@click.argument("table", metavar="TABLE", shell_complete=complete_table)
@click.argument("directory", metavar="DIR", type=click.Path(file_okay=False))
@click.option("--items-per-file", type=click.IntRange(min=1), default=250_000,
              show_default=True, help="items per data file")
@click.option("--region", default="us-east-1", show_default=True,
              help="the region named in the manifest's ARNs")
@progress_option
@output_option
def export(db: str, table: str, directory: str, items_per_file: int, region: str,
           progress: bool | None, output: str | None) -> int:
    """Export a table as DynamoDB's export to S3 writes it (DynamoDB JSON,
    gzip, manifests), with the table definition beside the manifests.

    \b
    dynafile export data/shop shop exports/
    aws s3 sync exports/ s3://bucket/prefix/   # the layout DynamoDB's export has
    """
    database = open_database(db, write=False)
    try:
        if table not in database.tables():
            raise CommandError(f"{database.path}: no table named {table!r}")
        with Bars(show_progress(progress)) as bars:
            result = export_table(database, table, directory, items_per_file=items_per_file,
                                  region=region, reporter=bars)
    finally:
        database.close()
    summary({"export_id": result.export_id, "directory": result.directory,
             "items": result.items, "files": result.files, "bytes": result.bytes,
             "seconds": round(result.seconds, 3)},
            rate_line("exported", result.items, result.seconds, f"to {result.directory}"),
            output)
    return 0


@click.command("import")
@click.argument("source", metavar="DIR")
@db_argument
@click.argument("table", metavar="TABLE")
@click.option("--pk", metavar="NAME[:TYPE]", help="partition key, when the source carries no "
              "definition (dynafile-table.json)")
@click.option("--sk", metavar="NAME[:TYPE]", help="sort key (with --pk)")
@click.option("--definition", "definition_file", type=click.File("r"), metavar="FILE",
              help="the table definition (as `describe -o dynamodb` prints it)")
@click.option("--existing", is_flag=True, help="import into a table that exists")
@click.option("--export-id", metavar="ID", help="which export, when DIR holds several")
@click.option("--batch", type=click.IntRange(min=1), default=2000, show_default=True,
              help="items per log record")
@progress_option
@output_option
def import_(source: str, db: str, table: str, pk: str | None, sk: str | None,
            definition_file: Any, existing: bool, export_id: str | None, batch: int,
            progress: bool | None, output: str | None) -> int:
    """Import DynamoDB JSON lines into a table (created when missing): an
    export (its manifests checked), files of {"Item": ...} lines (gzip or
    plain, DynamoDB's import-from-S3 format), or - for stdin.

    \b
    dynafile import exports/ data/copy shop
    dynafile import items.json.gz data/app orders --pk customer --sk order:N
    dynafile scan data/a t -o dynamodb | dynafile import - data/b t --pk id
    """
    definition = None
    if definition_file is not None:
        if pk or sk:
            raise CommandError("give --definition or --pk/--sk, not both")
        try:
            definition = json.load(definition_file)
        except ValueError as error:
            raise CommandError(f"--definition: not JSON: {error}") from None
    elif pk:
        try:
            definition = definition_from_keys(pk, sk)
        except TransferError as error:
            raise CommandError(str(error)) from None
    elif sk:
        raise CommandError("--sk needs --pk")
    check_new_table_name(table)
    found = find_source(source, export_id)
    with new_database(db) as database, Bars(show_progress(progress)) as bars:
        result = import_table(found, database, table, definition=definition,
                              existing=existing, batch=batch, reporter=bars)
    summary({"table": table, "items": result.items, "created": result.created,
             "seconds": round(result.seconds, 3), "source": found.description},
            rate_line("imported", result.items, result.seconds, f"into {table}"), output)
    return 0


@click.command()
@click.argument("source", metavar="SRC")
@click.argument("destination", metavar="DEST")
@click.option("--table", "tables", multiple=True, metavar="NAME",
              help="copy this table (repeatable; default: every table of SRC)")
@click.option("--to-table", metavar="NAME", help="the destination table's name (one --table)")
@click.option("--progress-file", metavar="FILE", type=click.Path(dir_okay=False),
              help="where the copy records what is done (default: under ~/.cache/dynafile)")
@click.option("--restart", is_flag=True, help="ignore the progress of an earlier run")
@click.option("--existing", is_flag=True, help="copy into destination tables that exist")
@click.option("--segments", type=click.IntRange(1, 1_000), metavar="N",
              help="parallel Scan segments of a DynamoDB source (4)")
@click.option("--workers", type=click.IntRange(1, 256), default=8, show_default=True,
              help="threads writing to a DynamoDB destination")
@click.option("--page-size", type=click.IntRange(1, 100_000), default=1000, show_default=True,
              help="items per page read (the progress file is updated after each)")
@click.option("--ttl-mode", type=click.Choice(["hide", "dynamodb"]), default=None,
              help="ttl_mode of tables created in a directory (default: the source's, "
                   "else hide)")
@progress_option
@output_option
def copy(source: str, destination: str, tables: tuple[str, ...], to_table: str | None,
         progress_file: str | None, restart: bool, existing: bool, segments: int | None,
         workers: int, page_size: int, ttl_mode: str | None, progress: bool | None,
         output: str | None) -> int:
    """Copy tables, definitions first, between a data directory and a
    DynamoDB endpoint (either way; or directory to directory). Resumable:
    run the same command again after an interruption.

    \b
    SRC and DEST: a directory, dynamodb://REGION, dynamodb://REGION?endpoint=URL,
    or http://HOST:PORT (any server speaking DynamoDB's API).

    \b
    dynafile copy data/app 'dynamodb://us-east-1?endpoint=http://localhost:8000'
    dynafile copy dynamodb://eu-west-1 data/backup --table orders
    """
    if to_table is not None:
        check_new_table_name(to_table)
    made = None if is_endpoint(destination) else first_missing(os.path.abspath(destination))
    started = time.monotonic()
    try:
        with Bars(show_progress(progress)) as bars:
            result = run_copy(source, destination, tables=list(tables) or None,
                              rename=to_table, progress_path=progress_file, restart=restart,
                              existing=existing, segments=segments, workers=workers,
                              ttl_mode=ttl_mode, page=page_size, reporter=bars)
    except BaseException:
        remove_if_empty(made)  # a copy that made nothing leaves no directory
        raise
    seconds = time.monotonic() - started
    where = f"to {destination}" + (" (resumed)" if result.resumed else "")
    summary({"tables": result.tables, "items": result.items, "seconds": round(seconds, 3),
             "resumed": result.resumed, "source": source, "destination": destination},
            rate_line("copied", result.items, seconds, where), output)
    return 0
