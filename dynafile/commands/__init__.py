"""The ``dynafile`` command's subcommands, on click (parsing, help, shell
completion) and rich (tables, progress bars). :func:`dynafile.cli.main`
runs them; docs/cli.md describes every command."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

import click

from ..errors import DynafileError
from ..transfer import TransferError
from .admin import check, checkpoint, completion, info, migrate, serve
from .common import EXIT_CANNOT, CommandError
from .items import delete, get, put, query, scan, tail, update
from .tables import create_index, create_table, delete_index, delete_table, describe, tables
from .transfer import copy, export, import_

__all__ = ["cli", "run"]

_ORDER = ["tables", "create-table", "describe", "delete-table", "create-index", "delete-index",
          "get", "put", "delete", "update", "query", "scan", "tail", "export", "import", "copy",
          "check", "info", "checkpoint", "migrate", "serve", "completion"]


class _Group(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for name in _ORDER if name in self.commands]


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"],
                                           "max_content_width": 100})
@click.version_option(package_name="dynafile", prog_name="dynafile")
def cli() -> None:
    """dynafile: file-backed tables with DynamoDB's data model, from the shell.

    DB is a database directory. Items print as typed JSON lines (-o json),
    DynamoDB JSON (-o dynamodb) or tables (-o table; the default on a
    terminal). Exit codes: 0 done, 1 the answer is no (no such item,
    problems found, a condition failed), 2 the command could not run.
    """


for command in (tables, create_table, describe, delete_table, create_index, delete_index, get,
                put, delete, update, query, scan, tail, export, copy, check, info, checkpoint,
                migrate, serve, completion):
    cli.add_command(command)
cli.add_command(import_, "import")


def _fail(message: str, code: int = EXIT_CANNOT) -> int:
    click.echo(f"dynafile: {message}", err=True)
    return code


def run(argv: Sequence[str]) -> int:
    """Run the command line ``argv``; return the exit status."""
    try:
        result = cli.main(args=list(argv), prog_name="dynafile", standalone_mode=False)
    except CommandError as error:
        return _fail(error.message, error.code)
    except TransferError as error:
        return _fail(str(error))
    except DynafileError as error:
        return _fail(f"{type(error).__name__}: {error}")
    except click.exceptions.Exit as error:
        return int(error.exit_code)
    except click.ClickException as error:
        error.show()
        return EXIT_CANNOT if isinstance(error, click.UsageError) else int(error.exit_code)
    except (click.exceptions.Abort, KeyboardInterrupt):
        click.echo("dynafile: interrupted", err=True)
        return 130
    except BrokenPipeError:  # `dynafile scan ... | head`
        try:
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - lives until exit
        except OSError:  # pragma: no cover
            pass
        return 0
    except OSError as error:
        return _fail(str(error))
    except Exception as error:
        if type(error).__module__.startswith(("botocore", "boto3")):
            return _fail(f"{type(error).__name__}: {error}")
        raise
    return result if isinstance(result, int) else 0
