"""Which fine-tuning recipe helps from a person's judgements? (issue #13, ablation)

Takes an index whose ``feedback.jsonl`` the learning-loop simulation wrote (tests/bench/learning_loop.py
keeps none, so copy one aside while it runs, or let a session write it), trains the index's model
on every judged query with each plan given, and scores test nDCG@10 dense on the corpus's BEIR test
qrels by ranking all stored chunks with each (epoch, WiSE-FT alpha) asked for, beside the model in
use (``--base``). No held-out guard here: this measures what a recipe could give, not what the loop
would choose.

    python tests/bench/learn_recipe.py --home /work/learnhome --index exp100 \\
        --data /work/learnhome/bench-data/scifact --base \\
        --plans '[{"epochs":3,"lr":3e-5,"batch_size":16,"negatives":3,"evals":[[3,1.0]]}]'

A plan with ``"also": "mnrl"`` trains its loss and mnrl together (sentence-transformers' multi-dataset
training, batches drawn from each dataset in proportion): the judged results as labelled pairs and
the (query, relevant) pairs against the batch's other documents and the judged bad ones.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from docsearch import Settings  # noqa: E402
from docsearch.eval.beir import read_qrels, read_queries  # noqa: E402
from docsearch.eval.metrics import score  # noqa: E402
from docsearch.learn.evidence import gather  # noqa: E402
from docsearch.learn.feedback import TrainingSet  # noqa: E402
from docsearch.learn.fit import FitPlan, Net  # noqa: E402
from docsearch.model import ModelDir  # noqa: E402
from docsearch.searcher import Searcher  # noqa: E402


def dense_ndcg(net: Net, texts_q: list[str], qids: list[str], docs: list[str], texts: list[str],
               qrels: dict[str, dict[str, int]]) -> float:
    """Test nDCG@10 of ``net``'s model as it stands: every chunk ranked, each document at its best chunk."""
    sims = net.encode(texts_q, "query") @ net.encode(texts, "document").T
    run = {}
    for i, q in enumerate(qids):
        best: dict[str, float] = {}
        for j in np.argsort(-sims[i])[:300]:
            best.setdefault(docs[j], float(sims[i, j]))
        run[q] = best
    return score(run, qrels)["ndcg@10"]


def fit_with(net: Net, data, train_q: list[str], plan: FitPlan, also: str) -> list[dict]:
    """Net.fit, with a second loss on its own dataset beside the plan's."""
    from datasets import Dataset, DatasetDict
    from transformers import PrinterCallback, TrainerCallback

    from docsearch.train.config import IN_BATCH_LOSSES, TrainConfig
    from docsearch.train.examples import negatives_per_query, training_columns
    from docsearch.train.hooks import CardlessTrainer
    from docsearch.train.objectives import make_loss

    net.reset()
    negatives = negatives_per_query(data, train_q, {})
    sets, loss = {}, {}
    for name in (plan.loss, also):
        per_row = plan.negatives if name in IN_BATCH_LOSSES else 1
        sets[name] = Dataset.from_dict(training_columns(name, data, train_q, negatives, per_row, plan.seed))
        loss[name] = make_loss(TrainConfig(data=Path("."), out=Path("."), loss=name, batch_size=plan.batch_size), net.st)
    snapshots: list[dict] = []

    class Snapshots(TrainerCallback):
        def on_epoch_end(self, args, state, control, **kw):
            snapshots.append(net.snapshot())

    with tempfile.TemporaryDirectory() as work:
        args = net._arguments(replace(plan, loss=also), work)  # NO_DUPLICATES batches, which mnrl needs
        trainer = CardlessTrainer(model=net.st, args=args, train_dataset=DatasetDict(sets), loss=loss,
                                  callbacks=[Snapshots()])
        trainer.remove_callback(PrinterCallback)
        trainer.train()
    return snapshots


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--home", type=Path, required=True)
    ap.add_argument("--index", required=True)
    ap.add_argument("--data", type=Path, required=True, help="BEIR folder with queries.jsonl and qrels/test.tsv")
    ap.add_argument("--plans", required=True, help="JSON list of FitPlan fields, each with evals: [[epoch, alpha], ...]")
    ap.add_argument("--base", action="store_true", help="score the model in use too")
    args = ap.parse_args()
    with Searcher.open(Settings(home=args.home, index=args.index)) as searcher:
        evidence = gather(searcher, seed=1)
        chunks = [(p["doc"], p["text"]) for page in searcher.index.store.payloads(("doc", "text")) for _, p in page]
    qrels = read_qrels(args.data / "qrels" / "test.tsv")
    queries = read_queries(args.data / "queries.jsonl", set(qrels))
    qids = sorted(queries)
    data, train_q = TrainingSet(evidence.judgements, evidence.filler_texts()).fold([])
    print(f"{sum(len(v) for v in data.positives.values())} (query, relevant) pairs from {len(train_q)} judged queries",
          flush=True)
    net = Net(ModelDir.resolve(evidence.model))
    docs, texts = [d for d, _ in chunks], [t for _, t in chunks]

    def test(state: dict) -> float:
        net.use(state)
        return dense_ndcg(net, [queries[q] for q in qids], qids, docs, texts, qrels)

    if args.base:
        print(f"model in use: test nDCG@10 dense {test(net.base):.4f}", flush=True)
    for plan in json.loads(args.plans):
        evals, also = plan.pop("evals"), plan.pop("also", None)
        t0 = time.perf_counter()
        snapshots = (fit_with(net, data, train_q, FitPlan(**plan), also) if also
                     else net.fit(data, train_q, FitPlan(**plan)))
        print(f"plan {plan}{' + ' + also if also else ''}: trained in {time.perf_counter() - t0:.0f} s", flush=True)
        for epoch, alpha in evals:
            print(f"  epoch {epoch}, alpha {alpha}: test nDCG@10 dense {test(net.mix(snapshots[epoch - 1], alpha)):.4f}",
                  flush=True)


if __name__ == "__main__":
    main()
