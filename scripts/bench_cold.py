"""W6's new process: import the store's library before anything else.

Run by ``scripts/bench.py`` as ``python bench_cold.py STORE SPEC_JSON``. The
import is timed first, while the process holds only what interpreter startup
loaded (``sys``, ``time`` and ``os`` are built in or already loaded), so a
module the library shares with the bench's own (``json``, ``typing``,
``pickle``, ``threading``) counts against the library, as in a user's
program; then ``bench_workloads.w_cold`` opens the store and gets one item.
"""
import sys
import time

started = time.perf_counter()
MODULES = {"dynafile": "dynafile", "dynafile-0.1.3": "dynafile", "sqlite3": "sqlite3",
           "lmdb": "lmdb", "diskcache": "diskcache", "sqlitedict": "sqlitedict",
           "tinydb": "tinydb", "shelve": "shelve", "pylimit": "pickle"}
__import__(MODULES[sys.argv[1]])
imported = time.perf_counter()

import json  # after the timed import, on purpose
import os

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_workloads

spec = json.loads(sys.argv[2])
spec["import_ms"] = (imported - started) * 1e3
spec["module"] = getattr(sys.modules[MODULES[sys.argv[1]]], "__file__", None)
print(json.dumps(bench_workloads.w_cold(spec)), flush=True)
