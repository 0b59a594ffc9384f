"""What choosing the auto fusion costs when an index is built (issue #12: < 10 % of indexing SciFact).

    python tests/bench/auto_cost.py --home HOME --index INDEX [--seconds-indexing S]

Times `docsearch.auto.choose` on an existing index exactly as the indexer calls it at the end of a
run (a sample of 400 stored chunks, 100 pseudo-queries encoded with the indexing encoder, a dense
and a BM25 request each), and prints it beside the index's own build time when given.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from docsearch import Index, Settings, load_encoder
from docsearch.auto import choose, stored_sample


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--home", type=Path, required=True)
    ap.add_argument("--index", required=True)
    ap.add_argument("--seconds-indexing", type=float, default=None, help="the index's build time, for the ratio")
    args = ap.parse_args()
    with Index.open(Settings(home=args.home, index=args.index)) as index:
        encoder = load_encoder(index.model, "cpu")
        encoder.encode_queries(["warm up"])
        t0 = time.perf_counter()
        sample = stored_sample(index.store)
        t1 = time.perf_counter()
        choice = choose(index.store, encoder, index.sparse_encoder(), sample, index.covers_language)
        t2 = time.perf_counter()
    out = {"index": args.index, "sample_s": round(t1 - t0, 3), "choose_s": round(t2 - t1, 3),
           "total_s": round(t2 - t0, 3), "fusion": choice.fusion.label(), "reason": choice.reason}
    if args.seconds_indexing:
        out["share_of_indexing"] = round((t2 - t0) / args.seconds_indexing, 4)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
