"""Benchmark `docsearch train` on SciFact: train qrels only, dev split carved from them.

Each ``--run`` is one training, given as comma-separated TrainConfig overrides on
top of the common flags, e.g.::

    python tests/bench/train_scifact.py --data ../shared/datasets/scifact --epochs 5 \\
        --run loss=mnrl --run loss=mnrl,hard_negatives=5 --run loss=triplet,hard_negatives=5 \\
        --run loss=mnrl,variant=half-twin --seeds 1 2 --json results.json

Prints dev nDCG@10 / MRR@10 / Recall@100 before training and after each epoch,
the best epoch, and times; the summary table gives each run's mean over seeds.
Results are appended to ``--json`` after every run, so a run cut short keeps
what finished. The test qrels are never read (docsearch.train.pairs reads train.tsv
only); nothing here touches them.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import fields
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run from a checkout without installing

from docsearch.train import TrainConfig, TrainReport, train

METRICS = ("ndcg@10", "mrr@10", "recall@100")
_TYPES = {f.name: f.type for f in fields(TrainConfig)}


def parse_run(spec: str) -> dict[str, Any]:
    """'loss=mnrl,hard_negatives=5' -> {'loss': 'mnrl', 'hard_negatives': 5}."""
    overrides: dict[str, Any] = {}
    for item in filter(None, spec.split(",")):
        key, _, raw = item.partition("=")
        key = key.strip().replace("-", "_")
        if key not in _TYPES:
            raise SystemExit(f"unknown setting {key!r} in --run {spec!r}")
        overrides[key] = _convert(raw.strip(), str(_TYPES[key]))
    return overrides


def _convert(raw: str, type_name: str) -> Any:
    if raw.lower() == "none":
        return None
    if "bool" in type_name:
        return raw.lower() in {"1", "true", "yes", "on"}
    if "int" in type_name:
        return int(raw)
    if "float" in type_name:
        return float(raw)
    return raw


def run_name(overrides: dict[str, Any]) -> str:
    return ",".join(f"{k}={v}" for k, v in overrides.items()) or "defaults"


def fmt(metrics: dict[str, float] | Any) -> str:
    return " ".join(f"{m}={metrics.get(m, float('nan')):.4f}" for m in METRICS)


def one_run(args: argparse.Namespace, overrides: dict[str, Any], seed: int, out: Path) -> TrainReport:
    common = {
        "data": args.data,
        "out": out,
        "base": args.base,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "dev_fraction": args.dev_fraction,
        "max_seq_length": args.max_seq_length,
        "seed": seed,
    }
    config = TrainConfig(**{**common, **overrides})
    return train(config)


def print_run(name: str, seed: int, report: TrainReport) -> None:
    print(f"\n== {name} seed={seed} device={report.device} counts={dict(report.counts)}")
    for epoch, metrics in enumerate(report.dev):
        loss = f" loss={report.epoch_loss[epoch - 1]:.4f}" if epoch else ""
        print(f"  epoch {epoch}: {fmt(metrics)}{loss}")
    print(
        f"  best epoch {report.best_epoch}: {fmt(report.dev_best)}  "
        f"seconds={report.seconds:.1f} train_seconds={report.train_seconds:.1f} "
        f"examples/s={report.examples_per_s:.0f} phases={ {k: round(v, 1) for k, v in report.phase_seconds.items()} }",
        flush=True,
    )


def summary(results: list[dict[str, Any]]) -> None:
    print("\n== summary: best-epoch dev metrics, mean over seeds (before training in brackets)")
    names = list(dict.fromkeys(r["run"] for r in results))
    for name in names:
        rows = [r for r in results if r["run"] == name]
        mean = {m: statistics.mean(r["dev_best"][m] for r in rows) for m in METRICS}
        before = statistics.mean(r["dev_before"]["ndcg@10"] for r in rows)
        secs = statistics.mean(r["train_seconds"] for r in rows)
        epochs = [r["best_epoch"] for r in rows]
        print(f"  {name:55s} {fmt(mean)}  [{before:.4f}]  best_epochs={epochs} train_s={secs:.1f} n={len(rows)}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="../shared/datasets/scifact", help="BEIR directory (only qrels/train.tsv is read)")
    parser.add_argument("--base", default="all-MiniLM-L6-v2")
    parser.add_argument("--run", action="append", default=[], help="TrainConfig overrides, e.g. loss=mnrl,hard_negatives=5")
    parser.add_argument("--seeds", type=int, nargs="+", default=[42])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--dev-fraction", type=float, default=0.1)
    parser.add_argument("--max-seq-length", type=int, default=None)
    parser.add_argument("--json", type=Path, default=None, help="write all results here (rewritten after each run)")
    parser.add_argument("--keep", type=Path, default=None, help="keep each trained model under this folder")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    runs = [parse_run(spec) for spec in args.run] or [{}]
    results: list[dict[str, Any]] = []
    scratch = Path(tempfile.mkdtemp(prefix="docsearch-bench-"))
    try:
        for seed in args.seeds:  # all runs of one seed first: a cut-short bench still compares them
            for overrides in runs:
                name = run_name(overrides)
                out = (args.keep or scratch) / f"{name.replace('=', '-').replace(',', '_')}_seed{seed}"
                shutil.rmtree(out, ignore_errors=True)
                started = time.perf_counter()
                report = one_run(args, overrides, seed, out)
                print_run(name, seed, report)
                results.append({"run": name, "seed": seed, "wall_seconds": time.perf_counter() - started, **report.to_dict()})
                if args.json:
                    args.json.write_text(json.dumps(results, indent=1) + "\n")
                if args.keep is None:
                    shutil.rmtree(out, ignore_errors=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        if results:
            summary(results)


if __name__ == "__main__":
    main()
