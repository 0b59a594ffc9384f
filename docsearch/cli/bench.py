"""`docsearch bench`: one run, every figure side by side, printed as tables or one JSON object."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from ..errors import ConfigError
from ..eval.bench import BenchPlan, run_bench
from ..settings import DEFAULT_MODEL
from .app import command

_SCIFACT = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "scifact"


def _sizes(text: str) -> list[int]:
    out = []
    for part in text.split(","):
        part = part.strip().lower()
        mult = 1_000_000 if part.endswith("m") else 1_000 if part.endswith("k") else 1
        out.append(int(float(part.rstrip("km")) * mult))
    return out


@command("bench")
def bench(
    corpus: Annotated[Optional[Path], typer.Option(help="Documents to encode (default: SciFact, else data/).")] = None,
    model: Annotated[Optional[str], typer.Option("--model", "-m", help="Model name or directory.")] = None,
    docs: Annotated[int, typer.Option(help="Documents for the throughput comparison.")] = 500,
    sizes: Annotated[str, typer.Option(help="Store sizes in chunks, e.g. 1k,10k,100k,1m (0 to skip).")] = "1k,10k,100k",
    queries: Annotated[int, typer.Option(help="Queries timed at each size.")] = 100,
    rerun_files: Annotated[int, typer.Option("--rerun", help="Files for the unchanged-rerun timing (0 to skip).")] = 1000,
    device: Annotated[Optional[str], typer.Option(help="cpu or cuda (default: cuda when present).")] = None,
    batch_size: Annotated[int, typer.Option(help="Encode batch size.")] = 64,
    index_batch: Annotated[int, typer.Option(help="Chunks per encode call while indexing.")] = 512,
    backend: Annotated[str, typer.Option(help="Encoder backend for docsearch's side (auto: the fastest exact).")] = "auto",
    backends: Annotated[Optional[str], typer.Option(
        help="Compare encoder backends, e.g. torch,openvino,openvino-int8 (torch-fp32 is the reference).")] = None,
    workers: Annotated[int, typer.Option(min=1, help="Encoder processes on docsearch's side (index --workers).")] = 1,
    quality_queries: Annotated[int, typer.Option(help="SciFact test queries for the backend nDCG@10.")] = 100,
    stages: Annotated[bool, typer.Option(help="One more (profiled) index run: each stage's share of the time.")] = True,
    engine: Annotated[Optional[str], typer.Option(
        "--engine", metavar="N,N|all", help="The engine-only ceiling (an encoder that costs nothing, the whole "
        "corpus) at these --engine-workers counts; all: 0 to one per core.")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
) -> None:
    """Measure encode vs end-to-end index throughput, and the store at several sizes."""
    console = Console(stderr=json_out)
    source = str(corpus or (_SCIFACT / "corpus.jsonl" if _SCIFACT.is_dir() else Path("data")))
    plan = BenchPlan(
        corpus=source, model=model or DEFAULT_MODEL, docs=docs, sizes=tuple(_sizes(sizes)), queries=tuple(_queries(queries)),
        rerun_files=rerun_files, device=device, batch_size=batch_size, index_batch=index_batch, backend=backend,
        backends=tuple(x.strip() for x in (backends or "").split(",") if x.strip()), workers=workers,
        quality_queries=quality_queries, stages=stages, engine=_engine_counts(engine),
    )
    result = run_bench(plan, say=lambda msg: console.print(f"[dim]{msg}[/]"))
    if json_out:
        sys.stdout.write(json.dumps(result) + "\n")
    else:
        _print(console, result)


def _engine_counts(text: str | None) -> tuple[int, ...]:
    if not text:
        return ()
    if text.strip().lower() == "all":
        from ..eval.ceiling import default_workers

        return tuple(default_workers())
    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError:
        raise ConfigError(f"--engine takes worker counts such as 0,1,2 or 'all', got {text!r}") from None


def _queries(n: int) -> list[str]:
    path = _SCIFACT / "queries.jsonl"
    if path.is_file():
        with open(path) as fh:
            texts = [json.loads(line)["text"] for line in fh]
    else:
        texts = ["how do plants grow", "telescope mirrors", "bread baking", "network routing", "jazz history"]
    return [texts[i % len(texts)] for i in range(n)]


def _print(console: object, result: dict) -> None:  # type: ignore[type-arg]
    from rich.table import Table

    m = result["machine"]
    console.print(f"[bold]machine[/] {m['cpu']}, {m['cores']} cores, torch threads {m['torch_threads']}, "  # type: ignore[attr-defined]
                  f"GPU {m['gpu'] or 'none'}, Python {m['python']}; model {result['model']}")
    if "throughput" in result:
        t = result["throughput"]
        pool = f", {result['workers']} workers" if result.get("workers", 1) > 1 else ""
        ran = f"backend {t['backend']}, " if t.get("backend") else ""
        table = Table(title=f"encode vs index ({t['documents']} documents, {t['chunks']} chunks, {ran}{t['device']}{pool})")
        for col in ("raw encode chunks/s", "docsearch index chunks/s", "ratio", "raw docs/s", "index docs/s"):
            table.add_column(col, justify="right")
        table.add_row(f"{t['raw_chunks_per_s']:.1f}", f"{t['index_chunks_per_s']:.1f}", f"{t['ratio']:.3f}",
                      f"{t['raw_docs_per_s']:.1f}", f"{t['index_docs_per_s']:.1f}")
        console.print(table)  # type: ignore[attr-defined]
    if result.get("stages"):
        st = result["stages"]
        table = Table(title=f"where an index run's time goes ({st['chunks']} chunks, {st['seconds']:.1f} s, profiled run)")
        for col in ("stage", "share of the wall time"):
            table.add_column(col, justify="right" if col != "stage" else "left")
        for name, share in st["shares"]:
            table.add_row(name, f"{share:.1%}")
        table.add_row("other (walk, payloads, bookkeeping)", f"{max(0.0, 1 - sum(x for _, x in st['shares'])):.1%}")
        table.add_row(f"encoder, on its own thread ({result.get('backend', '')})", f"{st['encode']:.1%}")
        console.print(table)  # type: ignore[attr-defined]
    if result.get("backends"):
        rows = result["backends"]
        table = Table(title=f"encoder backends ({rows[0]['subset']})")
        for col in ("backend", "device", "chunks/s", "× torch-fp32", "cos min", "cos mean", "nDCG@10"):
            table.add_column(col, justify="right")
        for r in rows:
            ndcg = "-" if r["ndcg_at_10"] is None else f"{r['ndcg_at_10']:.4f}"
            table.add_row(r["backend"], r["device"], f"{r['chunks_per_s']:.1f}", f"{r['speedup']:.2f}",
                          f"{r['cosine_min']:.4f}", f"{r['cosine_mean']:.5f}", ndcg)
        console.print(table)  # type: ignore[attr-defined]
    if result.get("scale"):
        table = Table(title="store at scale (synthetic unit vectors; query encoding included in latency)")
        for col in ("chunks", "build s", "points/s", "reopen s", "p50 ms", "p95 ms", "p99 ms", "recall@10",
                    "RSS MiB", "disk MiB", "int8", "HNSW"):
            table.add_column(col, justify="right")
        for r in result["scale"]:
            table.add_row(f"{r['size']:,}", f"{r['build_s']:.2f}", f"{r['points_per_s']:.0f}", f"{r['reopen_s']:.3f}",
                          f"{r['p50_ms']:.1f}", f"{r['p95_ms']:.1f}", f"{r['p99_ms']:.1f}", f"{r['recall_at_10']:.3f}",
                          f"{r['rss_mib']:.0f}", f"{r['disk_mib']:.0f}", "yes" if r["quantized"] else "no",
                          "yes" if r.get("hnsw") else "no")
        console.print(table)  # type: ignore[attr-defined]
    if result.get("engine"):
        table = Table(title="engine only: an encoder that costs nothing (the ceiling for any encoder here)")
        for col in ("engine workers", "processes", "documents/s", "chunks/s", "× first row", "runs, documents/s"):
            table.add_column(col, justify="right")
        for r in result["engine"]:
            table.add_row(str(r["engine_workers"]), str(r["processes"]), f"{r['documents_per_s']:.0f}",
                          f"{r['chunks_per_s']:.0f}", f"{r['speedup']:.2f}",
                          ", ".join(f"{x:.0f}" for x in r["runs_documents_per_s"]))
        console.print(table)  # type: ignore[attr-defined]
    if "rerun" in result:
        r = result["rerun"]
        console.print(f"[bold]unchanged rerun[/] over {r['files']} files: {r['rerun_s'] * 1000:.0f} ms "  # type: ignore[attr-defined]
                      f"(first run {r['first_s']:.1f}s, model load excluded)")
