"""Smoke test of the server benchmark: ``scripts/bench_server.py --quick``
(dynafile serve and boto3 in-process, a fraction of a second per request
kind); checks what it writes, never the timings."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bench_server_quick(tmp_path):
    (tmp_path / "benchmarks.md").write_text("# Benchmarks\n\nearlier text\n")
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "bench_server.py"), "--quick",
                           "--out", str(tmp_path)], capture_output=True, text=True,
                          timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    data = json.loads((tmp_path / "server-results.json").read_text())
    for name in ("dynafile serve", "boto3 in-process"):
        for op in ("PutItem", "GetItem", "Query", "BatchWriteItem"):
            assert data["results"][name][op]["requests"] > 0, (name, op)
    report = (tmp_path / "benchmarks.md").read_text()
    assert report.startswith("# Benchmarks\n\nearlier text\n")
    assert "## DynamoDB API servers" in report and "| dynafile serve |" in report
