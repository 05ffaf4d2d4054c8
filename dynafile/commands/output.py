"""How commands print: items as typed JSON lines, DynamoDB JSON lines or
tables; progress bars with rates and ETA on stderr; summaries."""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import click

from ..transfer.values import ValueFormatError, dumps_typed, item_to_dynamodb
from .common import CommandError

OUTPUTS = ("json", "dynamodb", "table")
_TABLE_ROWS = 500  # rows per printed table: a long scan prints several, in bounded memory


def output_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "-o", "--output", type=click.Choice(OUTPUTS), default=None,
        help="json: typed JSON lines; dynamodb: DynamoDB JSON ({\"Item\": ...} lines); "
             "table: a table for people. Default: table on a terminal, else json.")(f)


def progress_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--progress/--no-progress", "progress", default=None,
        help="progress bar on stderr (default: when stderr is a terminal)")(f)


def choose_output(output: str | None) -> str:
    if output is not None:
        return output
    return "table" if sys.stdout.isatty() else "json"


def console(stderr: bool = False) -> Any:
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    width = None if stream.isatty() else int(os.environ.get("COLUMNS", "120") or 120)
    return Console(file=stream, width=width, soft_wrap=False, highlight=False)


def typed_line(item: Any) -> str:
    try:
        return dumps_typed(item)
    except ValueFormatError as error:
        raise CommandError(f"a value JSON cannot hold exactly: {error}") from None


def dynamodb_line(item: Mapping[str, Any]) -> str:
    try:
        return json.dumps({"Item": item_to_dynamodb(item)}, ensure_ascii=False)
    except ValueFormatError as error:
        raise CommandError(f"a value DynamoDB JSON cannot hold: {error}") from None


def cell(value: Any) -> str:
    """A value in a table cell: strings as they are, others as typed JSON."""
    if isinstance(value, str):
        return value
    try:
        return dumps_typed(value)
    except ValueFormatError:
        return repr(value)


class ItemPrinter:
    """Prints items in the chosen output; tables in chunks of rows."""

    def __init__(self, output: str | None, keys: Iterable[str] = ()) -> None:
        self.output = choose_output(output)
        self.keys = [k for k in keys if k]
        self.rows: list[Mapping[str, Any]] = []
        self.count = 0

    def item(self, item: Mapping[str, Any]) -> None:
        self.count += 1
        if self.output == "json":
            click.echo(typed_line(item))
        elif self.output == "dynamodb":
            click.echo(dynamodb_line(item))
        else:
            self.rows.append(item)
            if len(self.rows) >= _TABLE_ROWS:
                self.flush()

    def flush(self) -> None:
        if self.output != "table" or not self.rows:
            return
        from rich.table import Table
        from rich.text import Text

        # key columns first, when the rows have them (a projection may leave them out)
        columns = [k for k in self.keys if any(k in row for row in self.rows)]
        for row in self.rows:
            for name in row:
                if name not in columns:
                    columns.append(name)
        table = Table(show_lines=False, header_style="bold")
        for name in columns:
            table.add_column(name, style="cyan" if name in self.keys else None,
                             overflow="fold")
        for row in self.rows:
            table.add_row(*(Text(cell(row[c])) if c in row else Text("") for c in columns))
        console().print(table)
        self.rows = []

    def done(self, what: str = "items") -> None:
        self.flush()
        if self.output == "table":
            noun = what[:-1] if self.count == 1 and what.endswith("s") else what
            console(stderr=True).print(f"[dim]{self.count} {noun}[/dim]")


def print_document(data: Any, output: str | None) -> None:
    """One JSON document (json / dynamodb outputs) or, for people, the same
    as indented JSON with colours."""
    chosen = choose_output(output)
    text = json.dumps(data, indent=2, ensure_ascii=False, default=str)
    if chosen == "table" and sys.stdout.isatty():
        from rich.syntax import Syntax

        console().print(Syntax(text, "json", theme="ansi_dark", background_color="default"))
    else:
        click.echo(text)


def summary(data: Mapping[str, Any], line: str, output: str | None) -> None:
    """A command's result: a JSON object for programs, a line for people."""
    if choose_output(output) == "table":
        from rich.markup import escape

        console().print(escape(line))
    else:
        click.echo(json.dumps(data, ensure_ascii=False, default=str))


def show_progress(flag: bool | None) -> bool:
    return sys.stderr.isatty() if flag is None else flag


class _Rate:
    """A progress column: items (or bytes) per second."""

    def __init__(self, unit: str) -> None:
        from rich.progress import ProgressColumn

        class Column(ProgressColumn):
            def render(self, task: Any) -> Any:
                from rich.text import Text

                speed = task.finished_speed or task.speed
                if speed is None:
                    return Text("-", style="progress.data.speed")
                if unit == "B":
                    return Text(f"{speed / 1e6:,.1f} MB/s", style="progress.data.speed")
                return Text(f"{speed:,.0f} {unit}/s", style="progress.data.speed")

        self.column = Column()


class Bars:
    """A rich progress display on stderr that transfer functions report to
    (see :class:`dynafile.transfer.Reporter`); nothing when disabled."""

    def __init__(self, enabled: bool, unit: str = "items") -> None:
        self.enabled = enabled
        self.unit = unit
        self.progress: Any = None
        self.task: Any = None
        self.lock = threading.Lock()
        if enabled:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                SpinnerColumn,
                TaskProgressColumn,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            columns: list[Any] = [SpinnerColumn(), TextColumn("{task.description}"),
                                  BarColumn(), TaskProgressColumn()]
            if unit != "B":
                columns.append(MofNCompleteColumn())
            columns += [_Rate(unit).column, TimeElapsedColumn(),
                        TextColumn("ETA"), TimeRemainingColumn()]
            self.progress = Progress(*columns, console=console(stderr=True), transient=False,
                                     refresh_per_second=8, speed_estimate_period=10.0)

    def __enter__(self) -> Bars:
        if self.progress is not None:
            self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()

    # the Reporter protocol
    def begin(self, what: str, total: int | None) -> None:
        if self.progress is not None:
            with self.lock:
                self.task = self.progress.add_task(what, total=total)

    def advance(self, items: int) -> None:
        if self.progress is not None and self.task is not None:
            task = self.task
            total = self.progress.tasks[task].total
            done = self.progress.tasks[task].completed + items
            if total is not None and done > total:  # an estimate that was low
                self.progress.update(task, total=done)
            self.progress.advance(task, items)

    def set(self, completed: float, total: float | None = None) -> None:
        if self.progress is not None and self.task is not None:
            if total is not None:
                self.progress.update(self.task, total=max(total, completed))
            self.progress.update(self.task, completed=completed)

    def end(self) -> None:
        if self.progress is not None and self.task is not None:
            task = self.progress.tasks[self.task]
            speed = task.finished_speed or task.speed
            if task.total != task.completed:
                # a new total makes rich forget its samples: keep the rate shown
                self.progress.update(self.task, total=task.completed)
                task.finished_speed = speed
            self.task = None


def bytes_read() -> int | None:
    """Bytes this process has read through ``read(2)`` so far (Linux's
    ``/proc/self/io``), or ``None`` where that is not known."""
    try:
        with open("/proc/self/io", encoding="ascii") as f:
            for line in f:
                if line.startswith("rchar:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def run_with_read_progress(work: Callable[[], Any], bars: Bars, what: str,
                           total_bytes: int) -> Any:
    """Run ``work`` in a thread and show its progress as the bytes this
    process reads against ``total_bytes`` (the files it is to read)."""
    if bars.progress is None:
        return work()
    start = bytes_read()
    if start is None:
        return run_with_progress(work, bars, what, None, lambda: None)

    def done() -> float | None:
        now = bytes_read()
        return None if now is None else min(now - start, total_bytes)

    return run_with_progress(work, bars, what, total_bytes, done)


def run_with_progress(work: Callable[[], Any], bars: Bars, what: str, total: float | None,
                      done: Callable[[], float | None]) -> Any:
    """Run ``work`` in a thread; every 0.1 s show ``done()`` (how much of
    ``total`` is done; ``None``: not known now) on the bar."""
    if bars.progress is None:
        return work()
    bars.begin(what, total)  # type: ignore[arg-type]
    result: list[Any] = []
    failure: list[BaseException] = []

    def target() -> None:
        try:
            result.append(work())
        except BaseException as error:  # noqa: BLE001 - raised again below
            failure.append(error)

    thread = threading.Thread(target=target, daemon=True, name="dynafile-work")
    thread.start()
    while thread.is_alive():
        thread.join(0.1)
        now = done()
        if now is not None:
            bars.set(now)
    bars.end()
    if failure:
        raise failure[0]
    return result[0]


def directory_bytes(path: str) -> int:
    total = 0
    for dirpath, _, names in os.walk(path):
        for name in names:
            try:
                total += os.path.getsize(os.path.join(dirpath, name))
            except OSError:
                pass
    return total


def rate_line(verb: str, items: int, seconds: float, where: str = "") -> str:
    rate = items / seconds if seconds > 0 else float(items)
    tail = f" {where}" if where else ""
    return f"{verb} {items:,} items in {seconds:.1f} s ({rate:,.0f} items/s){tail}"


def elapsed(since: float) -> float:
    return time.monotonic() - since
