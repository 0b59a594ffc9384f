"""`docsearch eval` on every BEIR corpus under a folder: one table of nDCG@10, corpora x modes (issue #12).

For each folder under ``--data`` that holds ``corpus.jsonl``, ``queries.jsonl`` and
``qrels/test.tsv`` (the six of ``../shared/datasets``: scifact, cranfield, cisi, cacm,
xquad-de, cmrc2018), this runs the real CLI on the test split::

    python -m docsearch eval DIR --mode M1 --mode M2 ... --split test --json [--home HOME] [--model M]

and prints one table: nDCG@10 per corpus and mode with a **mean** row, per corpus the best of
dense and sparse and each other mode's margin against it, and p50 latency per mode (query
encoding included). The raw JSON of every run goes to ``--out``.

The issue's target is for a mode ``auto``: nDCG@10 >= max(dense, sparse) - 0.01 on every corpus,
and a mean >= 0.65. The check is printed for every mode other than dense and sparse.

``--modes`` defaults to every mode the docsearch in this checkout accepts (``docsearch.eval.evaluate.MODES``).
A mode that the docsearch being run rejects ("unknown mode") is recorded under ``missing`` in the
JSON and shown as ``-``, so the same command measures before and after a mode lands.

``docsearch eval`` indexes each corpus once per model into ``--home`` (keyed by the weights'
fingerprint and the chunking); a persistent ``--home`` makes a rerun cost only the searches.
The first run embeds about 17k documents with MiniLM: 10-15 minutes on a 2-core CPU.

    python tests/bench/multi_corpus.py --home /work/evalhome
    python tests/bench/multi_corpus.py --home /work/evalhome --modes dense,sparse,hybrid,auto --corpus cisi

A BM25 that tokenizes each language properly, for comparison: ``tests/bench/bm25_reference.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
DEFAULT_DATA = REPO.parent / "shared" / "datasets"
DEFAULT_OUT = REPO / "tests" / "bench" / "results" / "multi_corpus.json"
FALLBACK_MODES = ("dense", "sparse", "hybrid")
BASELINES = ("dense", "sparse")
METRIC = "ndcg@10"
# Issue #12's target for `auto`: within this much of the better of dense and sparse on every corpus ...
MARGIN = 0.01
# ... and at least this mean nDCG@10 over the corpora.
MEAN_TARGET = 0.65


def discover(root: Path) -> list[Path]:
    """Every BEIR folder directly under ``root`` (with a test split), by name."""
    found = [p for p in sorted(root.iterdir()) if p.is_dir() and (p / "corpus.jsonl").is_file()
             and (p / "queries.jsonl").is_file() and (p / "qrels" / "test.tsv").is_file()]
    if (root / "corpus.jsonl").is_file() and (root / "qrels" / "test.tsv").is_file():
        found.insert(0, root)  # --data pointed at one corpus
    return found


def _env() -> dict[str, str]:
    """The subprocess runs this checkout's docsearch, offline, with no colour codes in its messages."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("NO_COLOR", "1")
    return env


def installed_modes() -> list[str]:
    """The modes the docsearch this script runs accepts, asked of that docsearch itself."""
    probe = subprocess.run([sys.executable, "-c", "from docsearch.eval.evaluate import MODES; print(' '.join(MODES))"],
                           capture_output=True, text=True, env=_env(), cwd=REPO)
    modes = probe.stdout.split()
    return modes if probe.returncode == 0 and modes else list(FALLBACK_MODES)


def eval_command(corpus: Path, modes: list[str], args: argparse.Namespace) -> list[str]:
    cmd = [sys.executable, "-m", "docsearch", "eval", str(corpus)]
    for mode in modes:
        cmd += ["--mode", mode]
    cmd += ["--split", "test", "--json", "--latency-queries", str(args.latency_queries)]
    for flag, value in (("--home", args.home), ("--model", args.model), ("--backend", args.backend)):
        if value:
            cmd += [flag, str(value)]
    return cmd


def _unknown_mode(stderr: str) -> str | None:
    found = re.search(r"unknown mode '([^']+)'", stderr)
    return found.group(1) if found else None


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1].removeprefix("error: ") if lines else ""


def run_corpus(corpus: Path, modes: list[str], args: argparse.Namespace, rejected: dict[str, str]) -> dict[str, Any]:
    """One ``docsearch eval`` for all modes of a corpus. A mode the CLI rejects as unknown is recorded in
    ``rejected`` and dropped; any other failure is retried one mode at a time, so one broken mode costs
    only its own column."""
    wanted = [m for m in modes if m not in rejected]
    entry: dict[str, Any] = {"corpus": corpus.name, "path": str(corpus), "runs": [], "errors": {}}
    started = time.perf_counter()
    while wanted:
        cmd = eval_command(corpus, wanted, args)
        _say(f"{corpus.name}: {' '.join(wanted)} ...")
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, env=_env(), cwd=REPO)
        if proc.returncode == 0:
            entry["runs"].append({"command": _shown(cmd), "seconds": round(time.perf_counter() - t0, 1),
                                  "report": json.loads(proc.stdout)})
            break
        bad = _unknown_mode(proc.stderr)
        if bad in wanted:
            rejected[bad] = _last_line(proc.stderr)
            wanted.remove(bad)
            continue
        if len(wanted) == 1:
            entry["errors"][wanted[0]] = _last_line(proc.stderr) or f"exit {proc.returncode}"
            break
        # Some mode failed for another reason: measure each on its own.
        for mode in wanted:
            entry.update(_merge(entry, run_corpus(corpus, [mode], args, rejected)))
        break
    entry["seconds"] = round(time.perf_counter() - started, 1)
    return entry


def _merge(entry: dict[str, Any], other: dict[str, Any]) -> dict[str, Any]:
    return {"runs": entry["runs"] + other["runs"], "errors": entry["errors"] | other["errors"]}


def rows_by_mode(entry: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """mode -> the eval JSON's row for it (the first model's, when several)."""
    rows: dict[str, dict[str, Any]] = {}
    for run in entry["runs"]:
        for row in run["report"]["rows"]:
            rows.setdefault(row["mode"], row)
    return rows


def summarise(entries: list[dict[str, Any]], modes: list[str]) -> dict[str, Any]:
    """nDCG@10 and p50 per corpus and mode, best of dense and sparse, margins and means."""
    table: dict[str, dict[str, Any]] = {}
    for entry in entries:
        rows = rows_by_mode(entry)
        ndcg = {m: rows[m][METRIC] for m in modes if m in rows}
        p50 = {m: (rows[m].get("latency_ms") or {}).get("p50") for m in modes if m in rows}
        best = max((ndcg[m] for m in BASELINES if m in ndcg), default=None)
        margin = {m: ndcg[m] - best for m in modes if m in ndcg and m not in BASELINES and best is not None}
        table[entry["corpus"]] = {"ndcg@10": ndcg, "p50_ms": p50, "best_dense_sparse": best, "margin": margin,
                                  "queries": next((r["report"]["queries"] for r in entry["runs"]), None)}
    complete = [c for c in table if all(m in table[c]["ndcg@10"] for m in modes)]

    def mean(values: list[float]) -> float | None:
        return sum(values) / len(values) if values else None

    means = {m: mean([table[c]["ndcg@10"][m] for c in table if m in table[c]["ndcg@10"]]) for m in modes}
    best_mean = mean([t["best_dense_sparse"] for t in table.values() if t["best_dense_sparse"] is not None])
    checks = {}
    for m in modes:
        if m in BASELINES or not any(m in t["margin"] for t in table.values()):
            continue
        worst = min(((t["margin"][m], c) for c, t in table.items() if m in t["margin"]))
        checks[m] = {"worst_margin": worst[0], "worst_corpus": worst[1], "mean": means[m],
                     "every_corpus_within_margin": all(t["margin"].get(m, -1) >= -MARGIN for t in table.values()),
                     "mean_target_met": means[m] is not None and means[m] >= MEAN_TARGET}
    return {"per_corpus": table, "mean": means, "mean_best_dense_sparse": best_mean,
            "corpora_with_every_mode": complete, "checks": checks}


def print_table(summary: dict[str, Any], modes: list[str], missing: dict[str, str]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=None if sys.stdout.isatty() else 160)  # a log file gets the whole row
    measured = [m for m in modes if m not in missing]
    extra = [m for m in measured if m not in BASELINES]
    table = Table(title=f"[bold]nDCG@10[/], test split ({len(summary['per_corpus'])} corpora)", title_justify="left",
                  collapse_padding=True, pad_edge=False)
    table.add_column("corpus", no_wrap=True)
    table.add_column("queries", justify="right", no_wrap=True)
    for m in modes:
        table.add_column(m, justify="right", no_wrap=True)
    table.add_column("max(d,s)", justify="right", no_wrap=True)
    for m in extra:
        table.add_column(f"{m}-max", justify="right", no_wrap=True)
    for m in measured:
        table.add_column(f"p50 {m}", justify="right", no_wrap=True)

    def f(v: float | None, signed: bool = False) -> str:
        return "-" if v is None else (f"{v:+.3f}" if signed else f"{v:.3f}")

    for corpus, t in summary["per_corpus"].items():
        best_mode = max(t["ndcg@10"], key=t["ndcg@10"].get) if t["ndcg@10"] else None
        cells = [corpus, f"{t['queries']:,}" if t["queries"] else "-"]
        cells += [f"[bold]{f(t['ndcg@10'][m])}[/]" if m == best_mode else f(t["ndcg@10"].get(m)) for m in modes]
        cells += [f(t["best_dense_sparse"])]
        cells += [_margin_cell(t["margin"].get(m)) for m in extra]
        cells += ["-" if t["p50_ms"].get(m) is None else f"{t['p50_ms'][m]:.1f}" for m in measured]
        table.add_row(*cells)
    table.add_section()
    means = summary["mean"]
    margin_means = [None if means.get(m) is None or summary["mean_best_dense_sparse"] is None
                    else means[m] - summary["mean_best_dense_sparse"] for m in extra]
    p50_means = [_mean_of([t["p50_ms"].get(m) for t in summary["per_corpus"].values()]) for m in measured]
    table.add_row("[bold]mean[/]", "", *(f"[bold]{f(means.get(m))}[/]" for m in modes),
                  f(summary["mean_best_dense_sparse"]), *(f(v, signed=True) for v in margin_means),
                  *("-" if v is None else f"{v:.1f}" for v in p50_means))
    table.caption = "p50: ms per query, query encoding included (mean row: mean of the corpora's p50)"
    console.print(table)
    for m, why in missing.items():
        console.print(f"[yellow]missing[/] {m}: {why}", highlight=False)
    for m, c in summary["checks"].items():
        ok = c["every_corpus_within_margin"] and c["mean_target_met"]
        console.print(f"{'[green]met ' if ok else '[red]not met'}[/] issue #12 target applied to {m}: worst margin "
                      f"{c['worst_margin']:+.3f} ({c['worst_corpus']}; needs >= -{MARGIN}), mean {c['mean']:.3f} "
                      f"(needs >= {MEAN_TARGET})", highlight=False)


def _margin_cell(v: float | None) -> str:
    if v is None:
        return "-"
    text = f"{v:+.3f}"
    return text if v >= -MARGIN else f"[red]{text}[/]"


def _mean_of(values: list[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return sum(kept) / len(kept) if kept else None


def _shown(cmd: list[str]) -> list[str]:
    return ["python", *cmd[1:]] if cmd and cmd[0] == sys.executable else cmd


def _say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder of BEIR folders (default: %(default)s)")
    parser.add_argument("--corpus", action="append", help="only this corpus (folder name); repeat for several")
    parser.add_argument("--modes", help="comma-separated modes (default: every mode this checkout's docsearch eval accepts)")
    parser.add_argument("--home", type=Path, help="index home kept between runs (default: ./indexes or $DOCSEARCH_HOME)")
    parser.add_argument("--model", help="model name or directory (default: the base model)")
    parser.add_argument("--backend", help="encoder backend, e.g. torch-fp32 or openvino-int8 (default: docsearch's own)")
    parser.add_argument("--latency-queries", type=int, default=100, help="queries timed one by one per mode (0: skip)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="raw JSON (default: %(default)s)")
    return parser.parse_args()


def main() -> int:
    args = _parse()
    modes = [m.strip() for m in args.modes.split(",") if m.strip()] if args.modes else installed_modes()
    corpora = discover(args.data)
    if args.corpus:
        unknown = set(args.corpus) - {c.name for c in corpora}
        if unknown:
            print(f"error: no BEIR folder {', '.join(sorted(unknown))} under {args.data}", file=sys.stderr)
            return 1
        corpora = [c for c in corpora if c.name in args.corpus]
    if not corpora:
        print(f"error: no BEIR folder (corpus.jsonl, queries.jsonl, qrels/test.tsv) under {args.data}", file=sys.stderr)
        return 1
    argv = ["python", "tests/bench/multi_corpus.py", *sys.argv[1:]]
    _say(f"{len(corpora)} corpora ({', '.join(c.name for c in corpora)}), modes {', '.join(modes)}")
    started = time.perf_counter()
    rejected: dict[str, str] = {}
    entries = []
    for corpus in corpora:
        entry = run_corpus(corpus, modes, args, rejected)
        entries.append(entry)
        got = rows_by_mode(entry)
        parts = [f"{m} {got[m][METRIC]:.3f}" for m in modes if m in got]
        parts += [f"{m} FAILED: {why}" for m, why in entry["errors"].items()]
        _say(f"{corpus.name}: {entry['seconds']:.0f} s; " + ", ".join(parts))
    summary = summarise(entries, modes)
    print_table(summary, modes, rejected)
    payload = {"command": shlex.join(argv), "modes": modes, "missing": rejected, "data": str(args.data),
               "home": str(args.home) if args.home else None, "model": args.model,
               "machine": {"host": platform.node(), "cpus": os.cpu_count(), "python": platform.python_version()},
               "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "seconds": round(time.perf_counter() - started, 1),
               "summary": summary, "corpora": entries}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(payload, indent=2) + "\n")
    _say(f"wrote {args.out}")
    return 1 if any(e["errors"] for e in entries) else 0


if __name__ == "__main__":
    sys.exit(main())
