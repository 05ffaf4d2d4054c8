"""Smoke test of the benchmark harnesses: ``scripts/bench.py --quick`` and
``scripts/bench_scale.py --quick``.

Runs every workload against dynafile only (the scale script: dynafile and
sqlite3), with tiny N, in subprocesses of this test's python; checks the
results they write, never the timings.
"""

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "scripts", "bench.py")

ROWS = ["W1-full", "W1-normal", "W2", "W6", "W3", "W4", "W5-callable", "W5-expr",
        "W7-100", "W7-1000", "W7-10000", "W8-2p", "W8-4p", "W9-load", "W9-get", "W9-query",
        "SHOP"]


def test_bench_quick(tmp_path):
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, BENCH, "--quick", "--out", str(out)],
                          capture_output=True, text=True, timeout=120, cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-3000:]
    data = json.loads((out / "results.json").read_text())
    assert data["quick"] is True
    assert data["stores"] == ["dynafile"]
    results = data["results"]["dynafile"]
    tasks = {t["row"]: t for t in data["tasks"] if t["store"] == "dynafile"}
    assert sorted(results) == sorted(ROWS)
    for row in ROWS:
        res = results[row]
        assert "error" not in res and "failed" not in res and "skipped" not in res, (row, res)
        assert res["ops"] > 0 and res["seconds"] > 0, (row, res)
    size = tasks["W2"]["n"]
    assert results["W2"]["ops"] == size
    assert results["W2"]["disk_bytes"] > 0
    # the log is part of W2's directory; a copy checkpointed with retention=0 frees it
    assert results["W2"]["disk_parts"]["log/"] > 0
    assert 0 < results["W2"]["retention0"]["disk_bytes"] < results["W2"]["disk_bytes"]
    assert results["W3"]["found"] == tasks["W3"]["n"]
    # each W4 query matches the partition's sort keys order#0000xxxx (i < 10,000)
    per_partition = [len(range(p, min(size, 10_000), 100)) for p in range(100)]
    assert results["W4"]["matched"] == sum(per_partition[q % 100]
                                           for q in range(tasks["W4"]["n"]))
    open_items = sum(1 for i in range(size) if i % 3)
    assert results["W5-callable"]["matched"] == open_items
    assert results["W5-expr"]["matched"] == open_items
    assert results["W6"]["ok"] is True and results["W6"]["first_get_ms"] > 0
    for row in ("W1-full", "W1-normal", "W7-100", "W7-1000", "W7-10000"):
        assert results[row]["ok"] is True, row
    for row, procs in (("W8-2p", 2), ("W8-4p", 4)):
        assert results[row]["procs"] == procs
        assert results[row]["missing"] == 0
        assert results[row]["ops"] == procs * tasks[row]["n"]
    # W9: the single-table design (collections of 1-20 items)
    w9 = results["W9-load"]
    assert w9["collections"] == tasks["W9-load"]["n"] == tasks["W9-get"]["collections"]
    assert w9["collections"] <= w9["ops"] <= 20 * w9["collections"]
    assert w9["close_seconds"] >= 0 and w9["disk_bytes"] > 0 and "retention0" in w9
    assert results["W9-get"]["found"] == tasks["W9-get"]["n"]
    query = results["W9-query"]
    assert query["matched"] == query["expected"] >= tasks["W9-query"]["n"]
    assert query["ordered"] is True
    # SHOP: the demo's load of data/shop.jsonl, sizes and close
    shop = results["SHOP"]
    assert shop["items"] == shop["ops"] > 1_000 and shop["source_bytes"] > 0
    for part in ("data", "after_close", "retention0"):
        assert shop[part]["disk_bytes"] > 0, part
    assert shop["retention0"]["disk_bytes"] <= shop["after_close"]["disk_bytes"]
    assert shop["load_seconds"] > 0 and shop["close_seconds"] > 0 and shop["index_seconds"] > 0
    report = (out / "benchmarks.md").read_text()
    assert "| W5-callable |" in report and "## Targets" in report
    for text in ("| W9-query |", "| SHOP |", "SHOP: close() < 10% of the load time",
                 "dynafile, retention=0"):
        assert text in report, text
    assert not (out / "benchmarks.png").exists()  # --quick draws no plot


SCALE = os.path.join(ROOT, "scripts", "bench_scale.py")


def test_bench_scale_quick(tmp_path):
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, SCALE, "--quick", "--out", str(out)],
                          capture_output=True, text=True, timeout=120, cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-3000:]
    data = json.loads((out / "results.json").read_text())
    assert data["quick"] is True and data["stores"] == ["dynafile", "sqlite3"]
    assert len(data["sizes"]) >= 2
    for store in data["stores"]:
        for size in data["sizes"]:
            res = data["results"][store][str(size)]
            assert "error" not in res, (store, size, res)
            load = res["load"]
            assert load["items"] == size and load["load_seconds"] > 0, (store, size)
            assert load["close_seconds"] >= 0 and load["disk_bytes"] > 0
            assert ("retention0" in load) == (store == "dynafile")
            assert res["open"]["ok"] is True
            assert res["open"]["open_get_ms"] > 0 and res["open"]["rss_get_mb"] > 0
            assert res["scan"]["scanned"] == size and res["scan"]["rss_scan_mb"] > 0
            assert res["check"]["check_ok"] is True and res["check"]["peak_check_mb"] > 0
            modes = [cp["mode"] for cp in res["checkpoint"]]
            assert modes == (["checkpoint()"] if store == "dynafile" else ["PASSIVE", "TRUNCATE"])
            for cp in res["checkpoint"]:
                assert cp["checkpoint_seconds"] > 0 and cp["backlog"] >= 100
                assert cp["puts"] > 0 and cp["puts_before"] > 0
                assert "during_max_ms" in cp and "during_p99_ms" in cp
    report = (out / "scale.md").read_text()
    for text in ("load (batch writes), items/s", "RSS after the full scan",
                 "writer put latency during the checkpoint, max ms", "### Growth from"):
        assert text in report, text
    assert not (tmp_path / "docs").exists()


def test_bench_transfer_smoke(tmp_path):
    script = os.path.join(os.path.dirname(SCALE), "bench_transfer.py")
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, script, "--items", "300", "--no-shop", "--no-servers",
                           "--out", str(out)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = json.loads((out / "transfer.json").read_text())["results"]["300"]
    assert [r["step"] for r in rows] == ["export", "import", "copy -> dir"]
    assert all(r["items"] == 300 and r["rate"] > 0 for r in rows)
    assert "| 300 | export | 300 |" in (out / "transfer.md").read_text()
