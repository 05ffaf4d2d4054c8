"""Database commands: check, info, checkpoint, migrate, serve, completion."""

from __future__ import annotations

import json
import os
from typing import Any

import click

from ..storage.fs import read_file as fs_read
from ..storage.layout import Layout
from .common import EXIT_NO, CommandError, Opened, catalog_of, pick_schema, serializer_for
from .items import db_argument, table_argument, table_of, trust_option
from .output import (
    Bars,
    choose_output,
    console,
    directory_bytes,
    output_option,
    progress_option,
    run_with_read_progress,
    show_progress,
    summary,
)


@click.command()
@db_argument
@click.option("--table", metavar="NAME", help="the table --trust applies to")
@trust_option
@progress_option
@click.option("-o", "--output", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="the report as text, or as a JSON object")
def check(db: str, table: str | None, trust: tuple[str, ...], progress: bool | None,
          output: str) -> int:
    """Verify every file of a database, without opening it: exit 0 clean,
    1 problems found, 2 cannot check. Works on databases that cannot open.

    \b
    dynafile check data/app
    """
    from ..check import check_path

    path = os.path.abspath(db)
    if not os.path.isdir(path):
        raise CommandError(f"{path}: no such directory")
    if not os.path.exists(Layout(path).meta):
        raise CommandError(f"{path}: not a dynafile database (no meta.json)")
    serializer = None
    if trust:
        schema = pick_schema(path, catalog_of(path), table)
        serializer = serializer_for(schema, trust)
    with Bars(show_progress(progress), unit="B") as bars:
        report = run_with_read_progress(lambda: check_path(path, serializer=serializer), bars,
                                        "check", max(directory_bytes(path), 1))
    if output == "json":
        click.echo(json.dumps({"path": report.path, "ok": report.ok,
                               "problems": report.problems, "warnings": report.warnings,
                               "stats": report.stats}, default=str))
    else:
        click.echo(str(report))
    return 0 if report.ok else EXIT_NO


@click.command()
@db_argument
@table_argument
@trust_option
@progress_option
@output_option
def info(db: str, table_arg: str | None, table_opt: str | None, trust: tuple[str, ...],
         progress: bool | None, output: str | None) -> int:
    """Print a table's catalog entry and counts (counted by reading every
    item: a progress bar follows a large table).

    \b
    dynafile info data/shop shop
    """
    with Opened(db, table_of(table_arg, table_opt), trust=trust) as opened:
        handle = opened.table
        assert handle is not None
        path = opened.path
        meta = json.loads(fs_read(Layout(path).meta))
        described = opened.db.describe_table(handle.name)
        items = 0
        collections = set()
        with Bars(show_progress(progress)) as bars:
            bars.begin(f"count {handle.name}", described["item_count"] or None)
            for item in handle.scan():
                items += 1
                collections.add(repr(item.get(handle.pk_attribute)))
                if items % 1000 == 0:
                    bars.advance(1000)
            bars.advance(items % 1000)
            bars.end()
        indexes = {}
        for name, index in sorted(described["indexes"].items()):
            entry: dict[str, Any] = {"kind": index["kind"], "state": index["state"]}
            if index["state"] == "ACTIVE":
                entry["entries"] = sum(1 for _ in handle.scan(index=name))
            indexes[name] = entry
        layout = Layout(path)
        segments = layout.segments()
        counts = {
            "items": items,
            "partitions": len(collections),
            "indexes": indexes,
            "segments": len(segments),
            "log_bytes": sum(os.path.getsize(layout.segment_path(n)) for n in segments),
            "lsn": handle.sequence,
        }
    if choose_output(output) == "table":
        from rich.markup import escape
        from rich.table import Table

        console().print(f"[bold]{escape(handle.name)}[/bold] in {escape(path)}")
        view = Table(show_header=False, box=None)
        view.add_column(style="bold")
        view.add_column(justify="right")
        view.add_row("items", f"{items:,}")
        view.add_row("item collections", f"{len(collections):,}")
        for name, entry in indexes.items():
            view.add_row(f"index {name} ({entry['kind']}, {entry['state']})",
                         f"{entry.get('entries', 0):,} entries")
        view.add_row("log segments", f"{counts['segments']} ({counts['log_bytes']:,} bytes)")
        view.add_row("sequence", str(counts["lsn"]))
        console().print(view)
    else:
        click.echo(json.dumps({"path": path, "meta": meta, "counts": counts}, indent=2,
                              default=str, ensure_ascii=False))
    return 0


@click.command()
@db_argument
@output_option
def checkpoint(db: str, output: str | None) -> int:
    """Fold the log into partition files now (what a writer does every
    16 MiB of log, and on close).

    \b
    dynafile checkpoint data/app
    """
    with Opened(db, None, write=True, need_table=False) as opened:
        written = opened.db.checkpoint()
        sequence = opened.db.sequence
    summary({"path": opened.path, "partition_files_written": written, "sequence": sequence},
            f"checkpoint of {opened.path}: {written} partition files written, "
            f"up to sequence {sequence}", output)
    return 0


@click.command()
@click.argument("db", metavar="DB", type=click.Path(file_okay=False))
def migrate(db: str) -> int:
    """Move a dynafile 0.2 table directory to this release's format (what
    opening it writable does).

    \b
    dynafile migrate data/old
    """
    from ..migrate import migrate as run_migrate
    from ..migrate import needs_migration

    path = os.path.abspath(db)
    if not os.path.isdir(path):
        raise CommandError(f"{path}: no such directory")
    if not needs_migration(path):
        click.echo(f"{path}: nothing to migrate")
        return 0
    run_migrate(path)
    click.echo(f"{path}: migrated to this release's format")
    return 0


@click.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True,
                                 "help_option_names": []})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def serve(args: tuple[str, ...]) -> int:
    """Serve DynamoDB's HTTP API over a data directory (dynafile serve --help)."""
    from ..dynamodb.server import main as serve_main

    return serve_main(list(args))


@click.command()
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell: str) -> int:
    """Print the shell completion script (commands, options, table names).

    \b
    eval "$(dynafile completion bash)"     # in ~/.bashrc
    dynafile completion fish > ~/.config/fish/completions/dynafile.fish
    """
    from click.shell_completion import get_completion_class

    root = click.get_current_context().find_root().command  # the dynafile group
    cls = get_completion_class(shell)
    assert cls is not None
    click.echo(cls(root, {}, "dynafile", "_DYNAFILE_COMPLETE").source())
    return 0
