"""The embedded store at 1M chunks (synthetic unit vectors), as `docsearch bench` measures sizes.

Built as ``docsearch index`` builds a large index: upserts, then int8 quantization and an HNSW graph
for every full segment. ``--no-hnsw`` measures the exact scan used below the HNSW threshold instead.
Random unit vectors are the hard case for a graph (no clusters to exploit), so recall@10 against an
exact scan here is a floor for real embeddings.

    python tests/bench/store_1m.py [--size 1000000] [--queries 100] [--no-hnsw]
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
    parser.add_argument("--no-hnsw", action="store_true")
    args = parser.parse_args()
    encoder = load_query_encoder("all-MiniLM-L6-v2")
    with tempfile.TemporaryDirectory(prefix="docsearch-1m-") as tmp:
        row = bench.scale(args.size, encoder.dim, lambda q: encoder.encode_queries([q])[0].tolist(),
                          _queries(args.queries), Path(tmp), quantize=True,
                          hnsw_above=10**12 if args.no_hnsw else None)
    print(json.dumps({"machine": asdict(bench.machine()), "scale": asdict(row)}, indent=1))


if __name__ == "__main__":
    main()
