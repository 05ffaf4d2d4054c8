"""The shell sessions of docs/cli.md and docs/scale-out.md run as written.

A ```console block is a session: each ``$ command`` line (continued by a
trailing backslash, or by lines starting with ``> ``) runs in bash, in one temporary directory per document
that holds a copy of ``data/shop.jsonl``, and its output (stdout and stderr)
must be the lines that follow it, where ``...`` stands for any text. The
sessions of a document run in order and share their directory. ```sh
blocks are shown, not run (a server in the foreground, a shell's rc file,
real AWS). ```python blocks of docs/scale-out.md run too.

docs/scale-out.md talks to a DynamoDB endpoint: the test starts moto's
server mode and ``dynafile serve`` itself and puts their addresses where
the document says ``http://localhost:5000`` and ``http://localhost:8000``.
Set ``DYNAFILE_DOCS_SHOW=1`` to print what every command printed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("click", reason="the CLI needs the cli extra (click)")
pytest.importorskip("rich", reason="the CLI needs the cli extra (rich)")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHOW = bool(os.environ.get("DYNAFILE_DOCS_SHOW"))


def read(name: str) -> str:
    with open(os.path.join(ROOT, name), encoding="utf-8") as f:
        return f.read()


def blocks(text: str) -> list[tuple[str, str]]:
    """``(language, body)`` of every fenced block, in order."""
    return re.findall(r"^```(\w*)\n(.*?)^```", text, re.DOTALL | re.MULTILINE)


def session(body: str) -> list[tuple[str, str]]:
    """``(command, expected output)`` pairs of a console block."""
    steps: list[tuple[str, list[str]]] = []
    lines = body.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("$ "):
            command = [line[2:]]
            while i + 1 < len(lines) and (command[-1].endswith("\\")
                                          or lines[i + 1].startswith("> ")):
                i += 1
                follow = lines[i]
                command.append(follow.removeprefix("> "))
            steps.append(("\n".join(command), []))
        elif steps:
            steps[-1][1].append(line)
        i += 1
    return [(command, "\n".join(out).strip("\n")) for command, out in steps]


def matches(expected: str, got: str) -> bool:
    pattern = ".*?".join(re.escape(part) for part in expected.split("..."))
    return re.fullmatch(pattern, got, re.DOTALL) is not None


def clean(output: str) -> str:
    return "\n".join(line.rstrip() for line in output.splitlines()).strip("\n")


def environment(tmp_path) -> dict[str, str]:
    bin_dir = os.path.dirname(sys.executable)
    env = dict(os.environ, PATH=bin_dir + os.pathsep + os.environ.get("PATH", ""),
               COLUMNS="200", PYTHONUNBUFFERED="1", XDG_CACHE_HOME=str(tmp_path / "cache"),
               AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test",
               AWS_DEFAULT_REGION="us-east-1",
               PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    for name in ("TMUX", "LINES", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        env.pop(name, None)
    return env


def run_document(name: str, tmp_path, replace: dict[str, str] | None = None) -> int:
    """Run the console (and, with ``python=True``, python) blocks of
    ``name``; return how many commands ran."""
    replace = replace or {}
    work = tmp_path / "work"
    (work / "data").mkdir(parents=True)
    shutil.copy(os.path.join(ROOT, "data", "shop.jsonl"), work / "data" / "shop.jsonl")
    env = environment(tmp_path)
    ran = 0
    for language, body in blocks(read(name)):
        if language == "console":
            for command, expected in session(body):
                for old, new in replace.items():
                    command = command.replace(old, new)
                done = subprocess.run(["bash", "-c", command], cwd=work, env=env,
                                      stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, text=True, timeout=300)
                got = clean(done.stdout)
                for old, new in replace.items():
                    got = got.replace(new, old)
                if SHOW:
                    print(f"$ {command}\n{got}\n")
                assert matches(expected, got), (
                    f"{name}: `{command}` printed:\n{got}\n--- the document says:\n{expected}")
                ran += 1
        elif language == "python" and name.endswith("scale-out.md"):
            for old, new in replace.items():
                body = body.replace(old, new)
            code = compile(textwrap.dedent(body), f"{name} python block", "exec")
            cwd = os.getcwd()
            os.chdir(work)
            try:
                exec(code, {})  # noqa: S102 - our own documentation
            finally:
                os.chdir(cwd)
            ran += 1
    return ran


def test_cli_md_sessions_run_as_written(tmp_path):
    assert run_document("docs/cli.md", tmp_path) >= 40


def test_cli_md_describes_every_command():
    from dynafile.commands import cli

    text = read("docs/cli.md")
    for name in cli.list_commands(None):  # type: ignore[arg-type]
        assert re.search(rf"^### `?{re.escape(name)}`?", text, re.MULTILINE), name
        assert f"$ dynafile {name}" in text or f"dynafile {name} " in text, name


def test_scale_out_md_sessions_and_python_run_against_moto(tmp_path):
    pytest.importorskip("boto3", reason="copies to DynamoDB use boto3")
    pytest.importorskip("flask", reason="moto's server mode needs moto[server]")
    if shutil.which("aws", path=os.path.dirname(sys.executable) + os.pathsep
                    + os.environ.get("PATH", "")) is None:
        pytest.skip("the AWS CLI (awscli, in the test extra) is not installed")
    from endpoints import moto_server

    moto = moto_server()
    try:
        ran = run_document("docs/scale-out.md", tmp_path,
                           replace={"http://localhost:5000": moto.url})
    finally:
        moto.stop()
    assert ran >= 20


def test_the_readme_links_the_cli_and_scale_out_docs():
    readme = read("README.md")
    assert "(docs/cli.md)" in readme and "(docs/scale-out.md)" in readme
