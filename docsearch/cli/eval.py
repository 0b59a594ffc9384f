"""``docsearch eval``: retrieval quality and latency on a BEIR dataset, one row per (model, mode).

Registered by ``docsearch.cli``; like it, the only place that prints. Tables go to
stdout, progress to stderr, so ``--json`` leaves exactly one JSON object on stdout.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from ..errors import ConfigError
from ..eval.beir import DEV_FRACTION, DEV_MAX, write_run
from ..eval.evaluate import EvalReport, TuneResult, evaluate, fusion_label, run_file_paths, run_tag, tune_fusion
from ..indexer import IndexProgress
from ..settings import Settings, load_settings
from ..types import Fusion
from .app import command, err, out

METRIC_HEADERS = {"ndcg": "nDCG", "mrr": "MRR", "recall": "R", "map": "MAP"}


@command("eval")
def eval_command(
    dataset: Annotated[Path, typer.Argument(help="BEIR directory: corpus.jsonl, queries.jsonl, qrels/SPLIT.tsv.")],
    model: Annotated[Optional[list[str]], typer.Option(
        "--model", "-m", help="Model name or directory; repeat to compare (default: the base model).")] = None,
    mode: Annotated[Optional[list[str]], typer.Option(
        help="auto, dense, sparse or hybrid; repeat for several (default: all four).")] = None,
    split: Annotated[str, typer.Option(help="Which qrels file to score against.")] = "test",
    k: Annotated[int, typer.Option("--k", "-k", help="Cut-off of nDCG and MRR (Recall and MAP use 100).")] = 10,
    json_out: Annotated[bool, typer.Option("--json", help="One JSON object on stdout, nothing else.")] = False,
    run_file: Annotated[Optional[Path], typer.Option(
        help="Write ranked lists in TREC run format (suffixed .MODEL.MODE when several).")] = None,
    tune: Annotated[bool, typer.Option(
        help="First grid-search hybrid fusion on a dev split of the TRAIN qrels and save the best with the index.")] = False,
    dev_fraction: Annotated[float, typer.Option(help="With --tune: share of the train queries carved as dev.")] = DEV_FRACTION,
    dev_max: Annotated[int, typer.Option(help="With --tune: at most this many dev queries.")] = DEV_MAX,
    fusion: Annotated[Optional[str], typer.Option(help="Hybrid fusion for this run: rrf, dbsf or zscore (per document).")] = None,
    rrf_k: Annotated[Optional[int], typer.Option(help="RRF's k for this run only.")] = None,
    weights: Annotated[Optional[str], typer.Option(help="RRF weights DENSE,SPARSE for this run only, e.g. 2,1.")] = None,
    index: Annotated[Optional[str], typer.Option(
        "--index", "-i", help="Evaluate this existing index (of the corpus) instead of the derived eval-... one.")] = None,
    home: Annotated[Optional[Path], typer.Option(help="Index home (default: ./indexes or $DOCSEARCH_HOME).")] = None,
    limit_queries: Annotated[Optional[int], typer.Option(help="Score a seeded sample of this many queries.")] = None,
    latency_queries: Annotated[int, typer.Option(help="Queries timed one by one for p50/p95 (0: skip).")] = 100,
    chunk_tokens: Annotated[Optional[int], typer.Option(help="Window size in model tokens for a new index.")] = None,
    overlap: Annotated[Optional[int], typer.Option(help="Tokens shared by consecutive windows, for a new index.")] = None,
    qdrant_url: Annotated[Optional[str], typer.Option(help="Qdrant server URL (default: embedded).")] = None,
    backend: Annotated[Optional[list[str]], typer.Option(
        help="Encoder backend (auto, torch, torch-fp32, onnx, onnx-int8, openvino, openvino-int8); repeat to compare.")] = None,
) -> None:
    """Measure nDCG@10, MRR@10, Recall@100, MAP@100 and latency on a BEIR dataset; indexes its corpus once per model."""
    settings = load_settings().with_flags(home=home, qdrant_url=qdrant_url, chunk_tokens=chunk_tokens, overlap=overlap)
    override = fusion_from_flags(fusion, rrf_k, weights)
    if tune and override is not None:
        raise ConfigError("--tune chooses the fusion: drop --fusion, --rrf-k and --weights")
    dev = (dev_fraction, dev_max) if tune else None
    if backend:
        settings = settings.with_flags(backend=backend[0])
    report, tuned = _run(settings, dataset, model or [], mode or ["auto", "dense", "sparse", "hybrid"], split, k, override,
                         dev, index, limit_queries, latency_queries, backend)
    written = _write_runs(report, run_file) if run_file else []
    if json_out:
        payload = report.to_json()
        payload["tuning"] = [t.to_json() for t in tuned]
        payload["run_files"] = [str(p) for p in written]
        sys.stdout.write(json.dumps(payload) + "\n")
        return
    for result in tuned:
        out.print(tune_table(result))
    out.print(report_table(report))
    for path in written:
        out.print(f"[dim]run file:[/] {path}", highlight=False)


def fusion_from_flags(method: str | None, rrf_k: int | None, weights: str | None) -> Fusion | None:
    """None when no flag is given; flags left out take docsearch's defaults."""
    if method is None and rrf_k is None and weights is None:
        return None
    method = (method or "rrf").lower()
    if method not in ("rrf", "dbsf", "zscore"):
        raise ConfigError(f"unknown fusion {method!r}: use rrf, dbsf or zscore")
    if method == "zscore":
        if rrf_k is not None:
            raise ConfigError("--rrf-k applies to rrf fusion only")
        return Fusion("zscore", 0, parse_weights(weights) if weights else (0.5, 0.5))
    if method == "dbsf":
        if rrf_k is not None or weights is not None:
            raise ConfigError("--rrf-k and --weights apply to rrf fusion only")
        return Fusion("dbsf")
    if rrf_k is not None and rrf_k < 1:
        raise ConfigError("--rrf-k must be at least 1")
    default = Fusion("rrf")
    return Fusion("rrf", rrf_k if rrf_k is not None else default.k, parse_weights(weights) if weights else default.weights)


def parse_weights(text: str) -> tuple[float, float]:
    try:
        dense, sparse = (float(part) for part in text.split(","))
    except ValueError:
        raise ConfigError(f"--weights takes DENSE,SPARSE, e.g. 2,1; got {text!r}") from None
    if dense < 0 or sparse < 0 or dense + sparse == 0:
        raise ConfigError(f"--weights must be non-negative and not both zero; got {text!r}")
    return dense, sparse


def _run(settings: Settings, dataset: Path, models: list[str], modes: list[str], split: str, k: int,
         override: Fusion | None, dev: tuple[float, int] | None, index: str | None, limit_queries: int | None,
         latency_queries: int, backends: list[str] | None = None) -> tuple[EvalReport, list[TuneResult]]:
    """``dev``: (fraction, cap) of the train queries to tune fusion on first; None: no tuning."""
    if index is not None and len(models) > 1:
        raise ConfigError("--index names one index, so it takes one --model")
    tuned = []
    with _status() as (say, index_progress):
        if dev is not None:
            for name in models or [settings.model]:
                tuned.append(tune_fusion(settings, dataset, name, index=index, k=k, fraction=dev[0], cap=dev[1],
                                         progress=say, index_progress=index_progress))
        report = evaluate(settings, dataset, models, modes, split, k, override, index=index,
                          limit_queries=limit_queries, latency_queries=latency_queries,
                          progress=say, index_progress=index_progress, backends=backends)
    return report, tuned


@contextmanager
def _status() -> Iterator[tuple[Callable[[str], None], Callable[[IndexProgress], None]]]:
    """A spinner on stderr that the library's progress callbacks update."""
    with err.status("evaluating") as status:

        def say(message: str) -> None:
            status.update(message)

        def index_progress(p: IndexProgress) -> None:
            status.update(f"indexing: {p.chunks:,} chunks, {p.chunks_per_s:.0f}/s")

        yield say, index_progress


def _write_runs(report: EvalReport, base: Path) -> list[Path]:
    return [write_run(path, row.run, run_tag(row)) for path, row in zip(run_file_paths(base, report.rows), report.rows,
                                                                          strict=True)]


# --------------------------------------------------------------------------- tables


def _metric_header(name: str) -> str:
    kind, _, cut = name.partition("@")
    return f"{METRIC_HEADERS.get(kind, kind)}@{cut}"


def report_table(report: EvalReport) -> Table:
    rows = report.rows
    names = list(rows[0].metrics) if rows else []
    several_models = len({r.model for r in rows}) > 1
    several_backends = len({r.backend for r in rows}) > 1
    # Collapsed padding: the whole row fits the 80 columns a pipe or CI log gets.
    table = Table(title=f"[bold]{report.dataset}[/] {report.split}: {report.queries:,} queries", title_justify="left",
                  collapse_padding=True, pad_edge=False)
    if several_models:
        table.add_column("model", overflow="fold")
    if several_backends:
        table.add_column("backend", no_wrap=True)
    for header in ("mode", "fusion"):
        table.add_column(header, no_wrap=True)
    for header in [*map(_metric_header, names), "p50 ms", "p95 ms"]:
        table.add_column(header, justify="right", no_wrap=True, min_width=len(header))
    best = {n: max(r.metrics[n] for r in rows) for n in names}
    for r in rows:
        cells = [r.model_label] if several_models else []
        cells += [r.backend] if several_backends else []
        cells += [r.mode, _fusion_cell(r.fusion)]
        cells += [_metric_cell(r.metrics[n], best[n], len(rows) > 1) for n in names]
        cells += [_ms(r.latency_p50_ms), _ms(r.latency_p95_ms)]
        table.add_row(*cells)
    if not several_models and rows:
        table.caption = f"model {rows[0].model}, index {rows[0].index}"
    return table


def _fusion_cell(fusion: Fusion | None) -> str:
    return fusion_label(fusion) if fusion else "[dim]-[/]"


def _metric_cell(value: float, best: float, mark: bool) -> str:
    text = f"{value:.4f}"
    return f"[bold green]{text}[/]" if mark and value == best else text


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def tune_table(result: TuneResult, show: int | None = None) -> Table:
    names = list(result.grid[0].metrics)
    where = "held out from its training" if result.dev_source == "held-out" else "carved from train"
    title = f"[bold]fusion grid[/] for {result.model}: {result.dev_queries} dev queries {where}, best first"
    table = Table(title=title, title_justify="left", collapse_padding=True, pad_edge=False)
    table.add_column("#", justify="right", style="cyan")
    table.add_column("fusion", no_wrap=True)
    for name in names:
        table.add_column(_metric_header(name), justify="right", no_wrap=True, min_width=len(_metric_header(name)))
    for n, row in enumerate(result.grid[:show], start=1):
        label = fusion_label(row.fusion) + (" [dim](was)[/]" if row.fusion == result.previous else "")
        cells = [str(n), label, *(f"{row.metrics[m]:.4f}" for m in names)]
        table.add_row(*cells, style="bold green" if n == 1 else None)
    saved = "saved with the index" if result.saved else "not saved"
    table.caption = f"chosen: {fusion_label(result.best)} ({saved}: index {result.index})"
    return table
