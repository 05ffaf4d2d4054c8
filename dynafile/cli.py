"""The ``dynafile`` command: the whole life of a table from the shell.

::

    dynafile tables DB                      list tables
    dynafile create-table DB TABLE --pk NAME[:TYPE] [--sk ...] [--gsi ...] [--ttl ATTR]
    dynafile describe DB TABLE              definition (-o dynamodb: CreateTable's shape)
    dynafile get|put|delete|update DB [TABLE] ...
    dynafile query|scan DB [TABLE] ...      DynamoDB expressions, --names/--values
    dynafile tail DB [TABLE]                follow the stream
    dynafile export DB TABLE DIR            DynamoDB's export to S3 layout
    dynafile import DIR DB TABLE            an export, or import-from-S3 files
    dynafile copy SRC DEST                  directory <-> DynamoDB endpoint, resumable
    dynafile check DB                       verify every file (exit 0 clean, 1 problems)
    dynafile info|checkpoint|migrate DB
    dynafile serve DB [--port P]            DynamoDB's HTTP API (dynafile.dynamodb.server)

``dynafile COMMAND --help`` and docs/cli.md describe each. Items print as
typed JSON lines, DynamoDB JSON or tables, and what is printed reads back
(``put``, ``import``): see :mod:`dynafile.transfer.values`. The commands
need the ``cli`` extra (click and rich): ``pip install 'dynafile[cli]'``;
``serve`` needs only the ``server`` extra.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

__all__ = ["main"]

EXIT_OK = 0
EXIT_PROBLEMS = 1
EXIT_CANNOT_OPEN = 2


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``dynafile`` command with ``argv`` (default: ``sys.argv[1:]``).

    Returns the exit status: 0 success, 1 the answer is no (``check`` found
    problems, ``get`` found no item, a condition failed), 2 the command
    could not run (no such directory, no ``meta.json``, a corrupt file, bad
    arguments). Never raises for those; output goes to stdout, errors to
    stderr.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["serve"]:  # the server parses its own options
        from .dynamodb.server import main as serve

        return serve(args[1:])
    try:
        from .commands import run
    except ImportError as error:
        if getattr(error, "name", None) in ("click", "rich"):
            print(f"dynafile: the command needs {error.name}: pip install 'dynafile[cli]'",
                  file=sys.stderr)
            return EXIT_CANNOT_OPEN
        raise
    return run(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
