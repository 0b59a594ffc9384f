"""The learning loop as a person would use it (issue #13): judge, learn, apply, and does search get better?

For each corpus and each N (with ``--seeds`` repeats) this script

1. copies a base index of the corpus (embedded once with ``--model``, kept in ``--home``);
2. plays the person: for N queries of the corpus's *train* half it opens the interactive session
   (``docsearch.cli.interactive.Session``, the real one), searches, and judges the top 10 with the
   qrels as the oracle (``:good R`` for a relevant result, ``:bad R`` otherwise), so the session
   writes exactly the ``feedback.jsonl`` it writes for a person;
3. runs the loop through the CLI: ``python -m docsearch train --index NAME --apply --json``;
4. evaluates on the *test* half, never judged: ``python -m docsearch eval DATA --index NAME --mode dense
   --mode auto --split test --json``, beside the base index's figures.

Corpora: SciFact (claims from its train qrels are judged; its test qrels score) and Cranfield (only a
test split: its judged queries are split in two halves by query id, one judged, one scored). Each
corpus is laid out as a BEIR folder under ``HOME/bench-data/`` with ``qrels/train.tsv`` (what the person
may judge) and ``qrels/test.tsv`` (what scores).

The table gives, per corpus and N: how many runs the guard accepted, the held-out before/after the
loop measured, test nDCG@10 dense and auto against the base model (mean over seeds, and the change),
and the seconds per phase (session, train, compare, apply, eval) with their share of the run.

    python tests/bench/learning_loop.py --home /work/learnhome --seeds 1 2 3
    python tests/bench/learning_loop.py --home /work/learnhome --corpus cranfield --n 25,50 --seeds 1
    python tests/bench/learning_loop.py --smoke            # minutes: the tiny random model, small slices
    python tests/bench/learning_loop.py --report a.json b.json   # one table from several runs' results

``--smoke`` checks the plumbing only: a tiny random model (tests/tiny.py) on slices of the corpora,
N = 10 and 20, one seed; its figures mean nothing. Every other figure comes from the full corpora and
the real model, which on a 2-core CPU takes hours (each N re-embeds the whole corpus when it wins).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import random
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))  # run from a checkout without installing
sys.path.insert(0, str(REPO / "tests"))

from docsearch.eval.beir import natural_key, read_qrels, read_queries  # noqa: E402

DEFAULT_DATA = REPO.parent / "shared" / "datasets"
DEFAULT_OUT = REPO / "tests" / "bench" / "results" / "learning_loop.json"
CORPORA = ("scifact", "cranfield")
MODES = ("dense", "auto")
PHASES = ("session", "gather", "train", "compare", "apply", "eval")


# --------------------------------------------------------------------------- data


def layout(corpus: str, source: Path, target: Path, limit_docs: int | None, seed: int = 0) -> Path:
    """A BEIR folder whose train qrels are what the person may judge and whose test qrels score."""
    if (target / "qrels" / "test.tsv").is_file():
        return target
    (target / "qrels").mkdir(parents=True, exist_ok=True)
    if corpus == "cranfield" or not (source / "qrels" / "train.tsv").is_file():
        qrels = read_qrels(source / "qrels" / "test.tsv")
        ids = sorted(qrels, key=natural_key)
        train, test = {q: qrels[q] for q in ids[0::2]}, {q: qrels[q] for q in ids[1::2]}  # split by query id
    else:
        train, test = read_qrels(source / "qrels" / "train.tsv"), read_qrels(source / "qrels" / "test.tsv")
    docs = [json.loads(line) for line in (source / "corpus.jsonl").open(encoding="utf-8")]
    if limit_docs:  # a slice: the judged documents of a sample of queries, and others up to the limit
        rng = random.Random(seed)
        train = dict(rng.sample(sorted(train.items()), min(len(train), 40)))
        test = dict(rng.sample(sorted(test.items()), min(len(test), 40)))
        keep = {d for rel in (*train.values(), *test.values()) for d in rel}
        others = [d["_id"] for d in docs if d["_id"] not in keep]
        keep |= set(rng.sample(others, max(0, min(len(others), limit_docs - len(keep)))))
        docs = [d for d in docs if d["_id"] in keep]
        train = {q: {d: r for d, r in rel.items() if d in keep} for q, rel in train.items()}
        test = {q: {d: r for d, r in rel.items() if d in keep} for q, rel in test.items()}
    (target / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs), encoding="utf-8")
    shutil.copy(source / "queries.jsonl", target / "queries.jsonl")
    for name, qrels in (("train", train), ("test", test)):
        rows = [f"{q}\t{d}\t{r}\n" for q, rel in qrels.items() for d, r in rel.items()]
        (target / "qrels" / f"{name}.tsv").write_text("query-id\tcorpus-id\tscore\n" + "".join(rows))
    return target


def judged_queries(data: Path, n: int, seed: int) -> list[tuple[str, str, dict[str, int]]]:
    """N (id, text, qrels) of the train half, a seeded sample."""
    qrels = read_qrels(data / "qrels" / "train.tsv")
    queries = read_queries(data / "queries.jsonl", set(qrels))
    ids = sorted((q for q in qrels if q in queries and any(r > 0 for r in qrels[q].values())), key=natural_key)
    return [(q, queries[q], qrels[q]) for q in random.Random(seed).sample(ids, min(n, len(ids)))]


# --------------------------------------------------------------------------- the person, the CLI


def play_person(settings: Any, queries: list[tuple[str, str, dict[str, int]]]) -> int:
    """Search each query in the real session and judge every result shown; returns the judgements."""
    from rich.console import Console

    from docsearch.cli.interactive import Session, open_searcher

    session = Session(lambda: open_searcher(settings), Console(file=io.StringIO()), settings.index_dir,
                      name=settings.index, k=10)
    judged = 0
    try:
        for _, text, rel in queries:
            session.handle(text)
            for hit in list(session.page):
                session.handle(f":{'good' if rel.get(hit.doc, 0) > 0 else 'bad'} {hit.rank}")
                judged += 1
    finally:
        session.close()
    return judged


def docsearch(*args: str, home: Path, timeout: int = 24 * 3600) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
           "DOCSEARCH_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-m", "docsearch", *args], env=env, capture_output=True, text=True,
                          timeout=timeout)
    if done.returncode != 0:
        raise SystemExit(f"docsearch {' '.join(args)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(done.stdout)


def evaluate(data: Path, index: str, home: Path) -> dict[str, float]:
    """Test nDCG@10 per mode of an index of the corpus."""
    report = docsearch("eval", str(data), "--index", index, *[a for m in MODES for a in ("--mode", m)], "--split",
                       "test", "--json", "--latency-queries", "0", home=home)
    return {row["mode"]: row["ndcg@10"] for row in report["rows"]}


def copy_index(home: Path, base: str, name: str) -> None:
    target = home / name
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(home / base, target, ignore=shutil.ignore_patterns("feedback.jsonl", "learn.jsonl", "history"))
    meta = json.loads((target / "index.json").read_text())
    meta["name"] = name
    (target / "index.json").write_text(json.dumps(meta, indent=2) + "\n")


# --------------------------------------------------------------------------- one run


def one_run(corpus: str, data: Path, home: Path, base: str, n: int, seed: int, train_args: list[str]) -> dict[str, Any]:
    from docsearch import Settings

    name = f"learn-{corpus}-{n}-{seed}"
    copy_index(home, base, name)
    settings = Settings(home=home, index=name)
    t0 = time.perf_counter()
    judged = play_person(settings, judged_queries(data, n, seed))
    session_s = time.perf_counter() - t0
    answer = docsearch("train", "--index", name, "--apply", "--json", "--seed", str(seed), *train_args, home=home)
    learn, applied = answer["learn"], answer["apply"]
    t0 = time.perf_counter()
    test = evaluate(data, name, home) if applied else None
    eval_s = time.perf_counter() - t0
    seconds = {"session": session_s, **{k: learn["seconds"].get(k, 0.0) for k in ("gather", "train", "compare")},
               "apply": applied["seconds"] if applied else 0.0, "eval": eval_s}
    shutil.rmtree(home / name, ignore_errors=True)
    return {"corpus": corpus, "n": n, "seed": seed, "judgements": judged, "queries": learn["queries"],
            "accepted": learn["accepted"], "reason": learn["reason"], "before": learn["before"], "after": learn["after"],
            "own": learn["own"], "epoch": learn["epoch"], "alpha": learn["alpha"],
            **{k: learn[k] for k in ("best", "held_out", "better", "worse", "same", "p_value")},
            "test": test, "seconds": seconds}


# --------------------------------------------------------------------------- the table


def summary(runs: list[dict[str, Any]], base: dict[str, dict[str, float]]) -> list[str]:
    lines = []
    for corpus in dict.fromkeys(r["corpus"] for r in runs):
        b = base[corpus]
        lines.append(f"\n{corpus}: base model test nDCG@10 dense {b['dense']:.4f}, auto {b['auto']:.4f}")
        lines.append(f"{'N':>5} {'runs':>4} {'kept':>4} {'held-out before->after':>23} "
                     f"{'dense':>7} {'Δ':>7} {'auto':>7} {'Δ':>7}   seconds: " + " ".join(f"{p:>7}" for p in PHASES))
        for n in sorted({r["n"] for r in runs if r["corpus"] == corpus}):
            group = [r for r in runs if r["corpus"] == corpus and r["n"] == n]
            kept = sum(r["accepted"] for r in group)
            held = [(r["before"].get("ndcg@10"), r["after"].get("ndcg@10")) for r in group if r["before"]]
            held_s = (f"{statistics.fmean(h[0] for h in held):.3f} -> {statistics.fmean(h[1] for h in held):.3f}"
                      if held else "-")
            # A run the guard refused leaves the base model in use: its test figures are the base's.
            test = {m: [(r["test"] or b)[m] for r in group] for m in MODES}
            cells = []
            for m in MODES:
                mean = statistics.fmean(test[m])
                cells += [f"{mean:.4f}", f"{mean - b[m]:+.4f}"]
            secs = [statistics.fmean(r["seconds"][p] for r in group) for p in PHASES]
            lines.append(f"{n:>5} {len(group):>4} {kept:>4} {held_s:>23} " + " ".join(f"{c:>7}" for c in cells)
                         + "            " + " ".join(f"{s:>7.1f}" for s in secs))
    total = {p: sum(r["seconds"][p] for r in runs) for p in PHASES}
    grand = sum(total.values()) or 1.0
    lines.append("\nwhere the time goes: " + ", ".join(f"{p} {total[p]:.0f} s ({100 * total[p] / grand:.0f}%)"
                                                      for p in PHASES))
    return lines


# --------------------------------------------------------------------------- main


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder holding scifact/ and cranfield/")
    ap.add_argument("--home", type=Path, default=None, help="index home (default: a temporary folder)")
    ap.add_argument("--corpus", default=",".join(CORPORA))
    ap.add_argument("--n", default="10,25,50,100,200", help="judged queries per run, comma-separated")
    ap.add_argument("--seeds", type=int, nargs="+", default=[1])
    ap.add_argument("--model", default="all-MiniLM-L6-v2", help="the base model")
    ap.add_argument("--train-args", default="", help="more flags for `docsearch train --index`, e.g. '--device cuda'")
    ap.add_argument("--out", type=Path, default=None, help=f"JSON results (default: {DEFAULT_OUT.relative_to(REPO)}; "
                                                          "with --smoke, in --home)")
    ap.add_argument("--smoke", action="store_true", help="the tiny random model on slices: checks the plumbing only")
    ap.add_argument("--report", type=Path, nargs="+", help="print the table of earlier results files (merged); run nothing")
    args = ap.parse_args()
    if args.report:
        runs, base = [], {}
        for path in args.report:
            saved = json.loads(path.read_text())
            runs += saved["runs"]
            base.update(saved["base"])
        print("\n".join(summary(runs, base)))
        return
    home = args.home or Path(os.environ.get("TMPDIR", "/tmp")) / f"learning-loop-{os.getpid()}"
    home.mkdir(parents=True, exist_ok=True)
    model, limit, ns, train_args = args.model, None, [int(x) for x in args.n.split(",")], shlex.split(args.train_args)
    args.out = args.out or (home / "learning_loop_smoke.json" if args.smoke else DEFAULT_OUT)
    if args.smoke:
        from tiny import build_tiny_model

        model = str(build_tiny_model(home / "tiny-model") if not (home / "tiny-model" / "st").is_dir()
                    else home / "tiny-model" / "st")
        limit, ns = 150, [10, 20]
        train_args = ["--lr", "1e-3", "--precision", "fp32", *train_args]
    runs: list[dict[str, Any]] = []
    base_scores: dict[str, dict[str, float]] = {}
    started = time.perf_counter()
    for corpus in args.corpus.split(","):
        data = layout(corpus, args.data / corpus, home / "bench-data" / (corpus + ("-slice" if limit else "")), limit)
        base = f"base-{corpus}" + ("-slice" if limit else "")
        if not (home / base / "index.json").is_file():
            docsearch_index(data, base, model, home)
        base_scores[corpus] = evaluate(data, base, home)
        print(f"{corpus}: base index {base} ready; test nDCG@10 {base_scores[corpus]}", flush=True)
        for n in ns:
            for seed in args.seeds:
                run = one_run(corpus, data, home, base, n, seed, train_args)
                runs.append(run)
                verdict = "applied" if run["test"] else "kept the base model"
                print(f"  N={n} seed={seed}: {run['queries']} judged queries, {verdict}; test {run['test'] or '-'}",
                      flush=True)
                save(args.out, args, base_scores, runs, started)
    print("\n".join(summary(runs, base_scores)))
    print(f"\nresults: {args.out}")


def docsearch_index(data: Path, name: str, model: str, home: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
           "DOCSEARCH_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    subprocess.run([sys.executable, "-m", "docsearch", "index", str(data / "corpus.jsonl"), "--index", name, "--model",
                    model, "--quiet"], env=env, check=True)


def save(path: Path, args: argparse.Namespace, base: dict[str, Any], runs: list[dict[str, Any]], started: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"argv": sys.argv[1:], "machine": platform.platform(), "cpus": os.cpu_count(), "model": args.model,
               "smoke": args.smoke, "seconds": time.perf_counter() - started, "base": base, "runs": runs}
    path.write_text(json.dumps(payload, indent=2) + "\n")


if __name__ == "__main__":
    main()
