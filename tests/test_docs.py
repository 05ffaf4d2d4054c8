"""The README's examples run as written (in a fresh directory)."""

import os
import re

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _blocks(name):
    with open(os.path.join(ROOT, name), encoding="utf-8") as f:
        return re.findall(r"```python\n(.*?)```", f.read(), re.DOTALL)


@pytest.mark.parametrize("index", range(len(_blocks("README.md"))))
def test_readme_python_blocks_run(tmp_path, monkeypatch, capsys, index):
    monkeypatch.chdir(tmp_path)
    code = compile(_blocks("README.md")[index], f"README.md block {index}", "exec")
    exec(code, {})  # noqa: S102 - our own documentation
    assert capsys.readouterr().out  # each block prints what it shows
