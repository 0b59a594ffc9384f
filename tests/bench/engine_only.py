"""What `docsearch index` costs around the encoder: SciFact indexed with an encoder that costs nothing,
over a range of engine worker processes (docsearch.eval.ceiling; `docsearch bench --engine` prints the same).

Reading, chunking with the model's tokenizer, BM25 sparse vectors, payloads, upserts into the Edge
shard and the manifest all run as in a real run; only the model's forward pass is replaced by
ready-made unit vectors. The documents/s printed is the ceiling any encoder (a GPU included) can
reach on this machine; ``--profile`` shows where the indexing thread's time goes in one more run.

    python tests/bench/engine_only.py [--corpus ../shared/datasets/scifact/corpus.jsonl] [--engine-workers 0,1,2]
        [--out tests/bench/results/engine_only_workers_cpu.json] [--profile] [--one-thread]

Each setting runs ``--repeat`` times (the best kept: the machine is shared); the ratio is to the
first setting, measured in the same run.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))  # run from a checkout without installing

from docsearch.eval.bench import machine  # noqa: E402
from docsearch.eval.ceiling import FreeEncoder, engine_ceiling  # noqa: E402
from docsearch.indexer import index_paths  # noqa: E402
from docsearch.settings import Settings  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--corpus", default=str(REPO.parent / "shared" / "datasets" / "scifact" / "corpus.jsonl"))
    parser.add_argument("--model", default="all-MiniLM-L6-v2")
    parser.add_argument("--engine-workers", default="0,1,2",
                        help="worker processes per setting, comma-separated (0: all on the indexing thread)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per setting; the best is kept")
    parser.add_argument("--out", type=Path, default=None, help="JSON results")
    parser.add_argument("--profile", action="store_true", help="one more run, profiled, at the last setting")
    parser.add_argument("--one-thread", action="store_true",
                        help="the tokenizer's thread pool off in every process (TOKENIZERS_PARALLELISM=false), so "
                             "a process is one core: how the engine's own work scales over processes")
    args = parser.parse_args()
    if args.one_thread:  # this benchmark's process and the workers it spawns, before anything is tokenized
        os.environ["TOKENIZERS_PARALLELISM"] = "false"
    counts = [int(w) for w in args.engine_workers.split(",")]
    rows = engine_ceiling([args.corpus], args.model, counts, args.repeat)
    for r in rows:
        print(f"engine workers {r.engine_workers} ({r.processes} processes): {r.documents_per_s:.0f} documents/s "
              f"(runs: {list(r.runs_documents_per_s)}), x{r.speedup:.2f} against {rows[0].engine_workers} workers")
    payload = {"machine": asdict(machine()), "corpus": args.corpus, "one_thread": args.one_thread,
               "rows": [asdict(r) for r in rows]}
    if args.out:
        args.out.write_text(json.dumps(payload, indent=1) + "\n")
    print(json.dumps(payload, indent=1))
    if args.profile:
        with tempfile.TemporaryDirectory(prefix="docsearch-engine-") as home:
            settings = Settings(home=Path(home), index="engine", model=args.model, engine_workers=counts[-1])
            profile = cProfile.Profile()
            profile.runcall(index_paths, settings, [args.corpus], encoder=FreeEncoder(args.model))
        pstats.Stats(profile).sort_stats("tottime").print_stats(15)


if __name__ == "__main__":
    main()
