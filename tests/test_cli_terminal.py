"""The ``dynafile`` command in a real terminal (tmux, 120 x 40): readable
tables from ``scan``/``query``/``get``/``describe``, JSON when the output
is a pipe, and progress bars with a count, a rate and an ETA on long
import, export and copy (on stderr, which is the terminal).

Each test drives its own tmux server (a socket under the test's temporary
directory) and reads the screen with ``capture-pane``. Skipped when tmux is
missing (``.ci/run`` installs it).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from decimal import Decimal

import pytest

from dynafile import GSI, Database

pytest.importorskip("click", reason="the CLI needs the cli extra (click)")
pytest.importorskip("rich", reason="the CLI needs the cli extra (rich)")
pytestmark = pytest.mark.skipif(shutil.which("tmux") is None,
                                reason="tmux is not installed (.ci/run installs it): these "
                                       "tests need a real terminal")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WIDTH, HEIGHT = 120, 40


class Terminal:
    """A shell in a tmux window of WIDTH x HEIGHT."""

    def __init__(self, directory) -> None:
        self.socket = str(directory / "tmux.sock")
        self.count = 0
        env = dict(os.environ, PS1="$ ", TERM="xterm-256color",
                   PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
        env.pop("TMUX", None)
        env.pop("COLUMNS", None)
        env.pop("LINES", None)
        self.tmux("new-session", "-d", "-x", str(WIDTH), "-y", str(HEIGHT), "-s", "cli",
                  "bash --norc --noprofile", env=env)

    def tmux(self, *args: str, env=None) -> str:
        done = subprocess.run(["tmux", "-S", self.socket, *args], capture_output=True,
                              text=True, env=env, timeout=30)
        assert done.returncode == 0, done.stderr
        return done.stdout

    def screen(self) -> str:
        """What the window shows now (long lines joined), without trailing blanks."""
        text = self.tmux("capture-pane", "-p", "-J", "-t", "cli")
        return "\n".join(line.rstrip() for line in text.splitlines()).strip("\n")

    def run(self, command: str, timeout: float = 120) -> tuple[int, str, list[str]]:
        """Clear the screen, type ``command``, wait for it to end; return its
        exit status, the final screen, and every screen seen while it ran."""
        self.count += 1
        marker = f"__done{self.count}__"
        self.tmux("send-keys", "-t", "cli", f"clear; {command}; echo {marker}$?", "Enter")
        found = re.compile(rf"^{marker}(\d+)$", re.MULTILINE)
        frames: list[str] = []
        deadline = time.monotonic() + timeout  # a safety net, not an assertion on time
        while time.monotonic() < deadline:
            shown = self.screen()
            if not frames or frames[-1] != shown:
                frames.append(shown)
            end = found.search(shown)
            if end:
                # `clear` ran first: the screen holds the command's output only
                return int(end.group(1)), shown[:end.start()], frames
            time.sleep(0.05)
        raise AssertionError(f"{command!r} did not finish; the screen:\n{self.screen()}")

    def close(self) -> None:
        subprocess.run(["tmux", "-S", self.socket, "kill-server"], capture_output=True,
                       timeout=30)


@pytest.fixture
def terminal(tmp_path):
    term = Terminal(tmp_path)
    yield term
    term.close()


def dynafile(*args: object) -> str:
    return " ".join([shlex.quote(sys.executable), "-m", "dynafile",
                     *(shlex.quote(str(a)) for a in args)])


@pytest.fixture
def shop(tmp_path):
    path = str(tmp_path / "shop")
    with Database(path, durability="normal") as db:
        orders = db.create_table("orders", pk_attribute="customer", sk_attribute="order",
                                 gsis=[GSI("by_status", "status", "order")])
        orders.put_item(item={"customer": "c1", "order": 1, "status": "open",
                              "total": Decimal("12.50"), "tags": {"gift"}})
        orders.put_item(item={"customer": "c1", "order": 2, "status": "shipped", "total": 30,
                              "note": "leave at the door"})
        orders.put_item(item={"customer": "c2", "order": 1, "status": "open", "total": 99})
    return path


def rows(screen: str) -> list[list[str]]:
    """The cells of a rich table's rows (lines between │ borders)."""
    return [[c.strip() for c in line.strip().strip("│").split("│")]
            for line in screen.splitlines() if line.lstrip().startswith("│")]


def test_scan_and_query_print_tables_on_a_terminal(terminal, shop):
    code, screen, _ = terminal.run(dynafile("scan", shop, "orders"))
    assert code == 0
    assert "┏" in screen and "┗" not in screen.split("┏")[0]  # a table, drawn with boxes
    header = next(line for line in screen.splitlines() if line.lstrip().startswith("┃"))
    assert [c.strip() for c in header.strip().strip("┃").split("┃")] == [
        "customer", "order", "status", "total", "tags", "note"]
    assert sorted(rows(screen)) == sorted([
        ["c1", "1", "open", "12.5", '{"$ss": ["gift"]}', ""],
        ["c1", "2", "shipped", "30", "", "leave at the door"],
        ["c2", "1", "open", "99", "", ""]])
    assert screen.rstrip().endswith("3 items")  # the count, on stderr

    code, screen, _ = terminal.run(dynafile(
        "query", shop, "orders", "--index", "by_status", "-k", "#s = :s",
        "--names", '{"#s": "status"}', "--values", '{":s": "open"}'))
    assert code == 0
    assert rows(screen) == [["c1", "1", "open", "12.5", '{"$ss": ["gift"]}'],
                            ["c2", "1", "open", "99", ""]]
    assert screen.rstrip().endswith("2 items")

    code, screen, _ = terminal.run(dynafile("get", shop, "orders", "--pk", "c1", "--sk", "2"))
    assert code == 0 and rows(screen) == [["c1", "2", "shipped", "30", "leave at the door"]]
    code, screen, _ = terminal.run(dynafile("get", shop, "orders", "--pk", "c9", "--sk", "1"))
    assert code == 1 and screen.strip() == "no such item"


def test_a_pipe_gets_json_and_a_terminal_gets_a_description(terminal, shop):
    code, screen, _ = terminal.run(dynafile("scan", shop, "orders") + " | cat")
    assert code == 0
    lines = [json.loads(line) for line in screen.splitlines() if line.startswith("{")]
    assert len(lines) == 3 and {"customer": "c2", "order": 1, "status": "open",
                                "total": 99} in lines
    code, screen, _ = terminal.run(dynafile("describe", shop, "orders"))
    assert code == 0
    assert re.search(r"partition key\s+customer \(S\)", screen)
    assert re.search(r"sort key\s+order \(N\)", screen)
    assert "by_status" in screen and "GSI" in screen and "ACTIVE" in screen
    code, screen, _ = terminal.run(dynafile("tables", shop))
    assert code == 0 and rows(screen) == [["orders", "customer", "order", "by_status", "3"]]
    code, screen, _ = terminal.run(dynafile("tail", shop, "orders", "--from", "0",
                                            "--no-follow"))
    assert code == 0
    # a line per change: sequence.index, the event, the keys, the image
    changes = re.findall(r"^(\d+\.\d+) +(INSERT|MODIFY|REMOVE) +(\{[^}]*\})", screen,
                         re.MULTILINE)
    assert [(event, json.loads(keys)) for _, event, keys in changes] == [
        ("INSERT", {"customer": "c1", "order": 1}), ("INSERT", {"customer": "c1", "order": 2}),
        ("INSERT", {"customer": "c2", "order": 1})]
    assert "leave at the door" in screen


ITEMS = 5_000


def _bar(screen: str, what: str) -> str:
    line = next((line for line in screen.splitlines() if what in line), None)
    assert line is not None, f"no progress bar for {what!r}:\n{screen}"
    return line


def _check_final_bar(line: str, total: int) -> None:
    # the bar as it stays on the screen: full, the count, a measured rate,
    # elapsed time, and an ETA of nothing left
    assert "100%" in line and f"{total}/{total}" in line, line
    assert re.search(r"\d[\d,]* items/s", line), line
    assert re.search(r"ETA 0:00:00$", line), line


def test_long_import_export_and_copy_show_progress_bars(terminal, tmp_path):
    source = tmp_path / "items.json"
    with open(source, "w") as f:
        f.writelines(json.dumps({"Item": {"id": {"S": f"item{i:05d}"}, "n": {"N": str(i)}}})
                     + "\n" for i in range(ITEMS))
    db = tmp_path / "db"
    code, screen, frames = terminal.run(dynafile("import", source, db, "things", "--pk", "id",
                                                 "--batch", "250"))
    assert code == 0, screen
    _check_final_bar(_bar(screen, "import things"), ITEMS)
    assert re.search(rf"imported {ITEMS:,} items in [\d.]+ s \([\d,]+ items/s\) into things",
                     screen)
    # while it ran, the bar knew the total (the lines of the file): no bar
    # without a percentage was ever drawn
    drawn = [line for frame in frames for line in frame.splitlines() if "import things" in line]
    assert drawn and all("%" in line for line in drawn)

    code, screen, _ = terminal.run(dynafile("export", db, "things", tmp_path / "export"))
    assert code == 0, screen
    _check_final_bar(_bar(screen, "export things"), ITEMS)
    assert f"exported {ITEMS:,} items" in screen

    code, screen, _ = terminal.run(dynafile("copy", db, tmp_path / "copy", "--page-size", "250",
                                            "--progress-file", tmp_path / "progress.json"))
    assert code == 0, screen
    _check_final_bar(_bar(screen, "things"), ITEMS)
    assert f"copied {ITEMS:,} items" in screen

    code, screen, _ = terminal.run(dynafile("import", tmp_path / "export", tmp_path / "back",
                                            "things", "--no-progress"))
    assert code == 0 and "import things" not in screen and f"imported {ITEMS:,}" in screen


def test_index_backfill_and_check_show_progress_bars(terminal, tmp_path):
    path = str(tmp_path / "db")
    collections = 600  # the backfill commits one record per item collection
    with Database(path, durability="normal") as db:
        table = db.create_table("things", pk_attribute="id", sk_attribute="n")
        with table.batch_writer() as writer:
            for i in range(collections * 2):
                writer.put_item(item={"id": f"c{i % collections:04d}", "n": i, "kind": i % 7})
    code, screen, _ = terminal.run(dynafile("create-index", path, "things", "by_kind=kind:N,n:N"))
    assert code == 0, screen
    bar = _bar(screen, "backfill by_kind")
    # the rate of a polled bar needs two samples 0.1 s apart: a fast machine
    # may finish first and show "-"
    assert "100%" in bar and re.search(r"(\d[\d,]* collections/s|-) ", bar), bar
    assert re.search(r"(\d+)/\1 ", bar) and re.search(r"ETA 0:00:00$", bar), bar
    assert screen.rstrip().endswith("created index by_kind of things")

    code, screen, _ = terminal.run(dynafile("info", path))
    assert code == 0, screen
    bar = _bar(screen, "count things")
    assert "100%" in bar and f"{collections * 2}/{collections * 2}" in bar, bar
    assert re.search(rf"items\s+{collections * 2:,}", screen)

    code, screen, _ = terminal.run(dynafile("check", path))
    assert code == 0, screen
    bar = _bar(screen, "check")
    assert "100%" in bar and re.search(r"([\d.]+ MB/s|-) ", bar) and "ETA" in bar, bar
    assert ": OK" in screen


def _answer(terminal, command: str, answer: str, marker: str) -> str:
    """Run ``command``, wait for its question, answer it; the final screen."""
    terminal.tmux("send-keys", "-t", "cli", f"clear; {command}; echo {marker}$?", "Enter")
    deadline = time.monotonic() + 60  # a safety net, not an assertion on time
    while "Delete table orders and all its items? [y/N]:" not in terminal.screen():
        assert time.monotonic() < deadline, terminal.screen()
        time.sleep(0.05)
    terminal.tmux("send-keys", "-t", "cli", answer, "Enter")
    while marker not in terminal.screen().split("[y/N]:")[-1]:
        assert time.monotonic() < deadline, terminal.screen()
        time.sleep(0.05)
    return terminal.screen().split("[y/N]:")[-1]


def test_delete_table_asks_on_a_terminal(terminal, shop):
    command = dynafile("delete-table", shop, "orders")
    screen = _answer(terminal, command, "n", "__no")
    assert "dynafile: table orders was not deleted" in screen and "__no1" in screen
    with Database(shop, read_only=True) as db:
        assert db.tables() == ["orders"]
    code, screen, _ = terminal.run(f"echo y | {command}")  # stdin no terminal: refused
    assert code == 2 and "needs --yes" in screen
    screen = _answer(terminal, command, "y", "__yes")
    assert "deleted table orders" in screen and "__yes0" in screen
    with Database(shop, read_only=True) as db:
        assert db.tables() == []
