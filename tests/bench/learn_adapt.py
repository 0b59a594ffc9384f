"""Would adapting the model to the index's own documents first make a person's judgements go further?
(issue #13, experiment)

No judgements are needed to pair a document's title with its text: in-batch negatives (MNRL)
then teach the model the corpus's vocabulary and what its documents are about, the way
unsupervised domain adaptation does. This script measures, on an index whose ``feedback.jsonl`` a
session wrote (e.g. by ``tests/bench/learning_loop.py``'s simulated person; copy one aside), test
nDCG@10 dense (every stored chunk ranked, the best chunk per document, as ``learn_recipe.py``) for:

1. the model in use;
2. adapted: one epoch of (title, first chunk) pairs from ``--pairs`` random documents of the index;
3. the judgements alone, with the loop's plan for their size (``docsearch.learn.fit.plan_for``);
4. adapted, then the judgements, with the same plan; and that mixed half-way with the model in use.

No guard here: this measures what the recipes could give, not what the loop would choose.

    python tests/bench/learn_adapt.py --home /work/learnhome --index exp-fb100 \\
        --data /work/learnhome/bench-data/scifact --out tests/bench/results/learn_adapt_scifact_n100.json
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "bench"))

from learn_recipe import dense_ndcg  # noqa: E402

from docsearch import Settings  # noqa: E402
from docsearch.eval.beir import read_qrels, read_queries  # noqa: E402
from docsearch.learn.evidence import gather  # noqa: E402
from docsearch.learn.feedback import TrainingSet  # noqa: E402
from docsearch.learn.fit import Net, plan_for  # noqa: E402
from docsearch.model import ModelDir  # noqa: E402
from docsearch.searcher import Searcher  # noqa: E402


def title_pairs(payloads: list[dict[str, Any]], n: int, seed: int, keep_title: bool = False) -> list[tuple[str, str]]:
    """(title, first chunk) of up to ``n`` random documents whose title is more than their file name.
    A record's first chunk begins with its title: that is cut, unless ``keep_title``, or the pair
    would teach the model to match a string it can see."""
    firsts = [p for p in payloads if p.get("chunk") == 0 and len(str(p.get("title", "")).strip()) >= 10
              and str(p.get("title")) != Path(str(p.get("path", ""))).name]
    random.Random(seed).shuffle(firsts)
    pairs = []
    for p in firsts[:n]:
        title, text = str(p["title"]).strip(), str(p["text"])
        if not keep_title and text.startswith(title):
            text = text[len(title):].strip()
        if text:
            pairs.append((title, text))
    return pairs


def adapt(net: Net, pairs: list[tuple[str, str]], lr: float, seed: int) -> None:
    """One epoch of MNRL on the pairs, with sentence-transformers' trainer, on ``net``'s model in place."""
    from datasets import Dataset
    from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments, losses
    from sentence_transformers.training_args import BatchSamplers

    data = Dataset.from_dict({"anchor": [a for a, _ in pairs], "positive": [b for _, b in pairs]})
    with tempfile.TemporaryDirectory(prefix="docsearch-adapt-") as work:  # the trainer wants a folder; nothing is saved
        args = SentenceTransformerTrainingArguments(
            output_dir=work, num_train_epochs=1, per_device_train_batch_size=32, learning_rate=lr,
            warmup_steps=0.1, use_cpu=net.device == "cpu", batch_sampler=BatchSamplers.NO_DUPLICATES,
            save_strategy="no", report_to="none", disable_tqdm=True, seed=seed)
        SentenceTransformerTrainer(model=net.st, args=args, train_dataset=data,
                                   loss=losses.MultipleNegativesRankingLoss(net.st)).train()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--home", type=Path, required=True)
    ap.add_argument("--index", required=True)
    ap.add_argument("--data", type=Path, required=True, help="BEIR folder with queries.jsonl and qrels/test.tsv")
    ap.add_argument("--pairs", type=int, default=1500)
    ap.add_argument("--lr", type=float, default=3e-5, help="the adaptation's rate")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--keep-title", action="store_true", help="leave the title at the head of the chunk it is paired with")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    with Searcher.open(Settings(home=args.home, index=args.index)) as searcher:
        evidence = gather(searcher, seed=1)
        payloads = [p for page in searcher.index.store.payloads(("doc", "title", "path", "chunk", "text"))
                    for _, p in page]
    qrels = read_qrels(args.data / "qrels" / "test.tsv")
    queries = read_queries(args.data / "queries.jsonl", set(qrels))
    qids = sorted(queries)
    data, train_q = TrainingSet(evidence.judgements, evidence.filler_texts()).fold([])
    plan = plan_for(sum(len(v) for v in data.positives.values()))
    net = Net(ModelDir.resolve(evidence.model))
    origin = net.base
    docs, texts = [str(p["doc"]) for p in payloads], [str(p["text"]) for p in payloads]
    results: dict[str, float] = {}

    def test(name: str, state: Any) -> None:
        net.use(state)
        results[name] = dense_ndcg(net, [queries[q] for q in qids], qids, docs, texts, qrels)
        print(f"{name}: test nDCG@10 dense {results[name]:.4f} ({results[name] - results['in use']:+.4f})"
              if name != "in use" else f"{name}: test nDCG@10 dense {results[name]:.4f}", flush=True)

    test("in use", origin)
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    snapshots = net.fit(data, train_q, plan)
    seconds["judgements"] = time.perf_counter() - t0
    test(f"judgements (epoch {plan.epochs})", snapshots[-1])
    pairs = title_pairs(payloads, args.pairs, args.seed, args.keep_title)
    net.use(origin)
    t0 = time.perf_counter()
    adapt(net, pairs, args.lr, args.seed)
    seconds["adapt"] = time.perf_counter() - t0
    net.base = net.snapshot()  # the judgements now train from the adapted weights
    test(f"adapted ({len(pairs)} title pairs)", net.base)
    snapshots = net.fit(data, train_q, plan)
    net.base = origin
    test(f"adapted, then judgements (epoch {plan.epochs})", snapshots[-1])
    test("... mixed half-way with the model in use", net.mix(snapshots[-1], 0.5))
    if args.out:
        args.out.write_text(json.dumps({"index": args.index, "pairs": len(pairs), "keep_title": args.keep_title,
                                        "plan": plan.to_json(),
                                        "judged_pairs": sum(len(v) for v in data.positives.values()),
                                        "ndcg@10": results, "seconds": seconds}, indent=1) + "\n")


if __name__ == "__main__":
    main()
