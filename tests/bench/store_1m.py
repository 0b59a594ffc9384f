"""The embedded store at 1M chunks (synthetic unit vectors), as `docsearch bench` measures sizes.

HNSW is not built here: on a 2-core machine a graph over 1M vectors takes hours, so this measures
the exact int8 scan with rescoring that docsearch uses below its HNSW threshold.

    python tests/bench/store_1m.py [--size 1000000] [--queries 100]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from dataclasses import asdict
from pathlib import Path

from docsearch import bench
from docsearch.cli_bench import _queries
from docsearch.encoders import load_query_encoder


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=100)
    args = parser.parse_args()
    encoder = load_query_encoder("all-MiniLM-L6-v2")
    with tempfile.TemporaryDirectory(prefix="docsearch-1m-") as tmp:
        row = bench.scale(args.size, encoder.dim, lambda q: encoder.encode_queries([q])[0].tolist(),
                          _queries(args.queries), Path(tmp), quantize=True, hnsw_above=10**12)
    print(json.dumps({"machine": asdict(bench.machine()), "scale": asdict(row)}, indent=1))


if __name__ == "__main__":
    main()
