from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow


def test_bench_small_run_prints_every_column() -> None:
    env = {**os.environ, "COLUMNS": "200"}
    cmd = [sys.executable, "-m", "docsearch", "bench", "--docs", "24", "--sizes", "1k", "--queries", "10",
           "--rerun", "20", "--backends", "torch", "--quality-queries", "5"]
    table = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert table.returncode == 0, table.stderr
    for column in ("raw encode chunks/s", "docsearch index chunks/s", "ratio", "reopen s", "p50 ms", "p95 ms",
                   "p99 ms", "recall@10", "RSS MiB", "disk MiB", "unchanged rerun", "torch threads", "× torch-fp32",
                   "cos min", "nDCG@10", "where an index run's time goes", "chunking", "BM25", "upsert"):
        assert column in table.stdout, column
    done = subprocess.run([*cmd, "--json"], capture_output=True, text=True, env=env, timeout=300)
    data = json.loads(done.stdout)
    assert data["throughput"]["chunks"] >= 24 and 0 < data["throughput"]["ratio"]
    (row,) = data["scale"]
    assert row["size"] == 1000 and row["recall_at_10"] == pytest.approx(1.0) and row["reopen_s"] < 5
    assert data["rerun"]["files"] == 20
    assert [r["backend"] for r in data["backends"]] == ["torch-fp32", "torch"]
    assert all(r["cosine_min"] > 0.99 for r in data["backends"])
    # The backend that ran is named (auto resolved to a concrete one), and the stage shares fit the run.
    assert data["backend"] == data["throughput"]["backend"] in ("torch", "openvino")
    shares = dict(data["stages"]["shares"])
    assert shares["chunking"] > 0 and sum(shares.values()) <= 1.0 + 1e-6


def test_bench_with_a_worker_pool_reports_its_throughput() -> None:
    cmd = [sys.executable, "-m", "docsearch", "bench", "--docs", "16", "--sizes", "0", "--rerun", "0",
           "--workers", "2", "--json"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["workers"] == 2 and data["throughput"]["chunks"] >= 16 and data["throughput"]["ratio"] > 0
