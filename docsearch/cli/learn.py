"""`docsearch train --index NAME [--apply]` and the session's `:learn`: learn from the index's
judgements, show the held-out before/after, and apply the new model only when it wins.

The library decides (:mod:`docsearch.learn`); this module shows progress and renders the report.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from ..learn import LearnConfig, LearnEvent, LearnReport, apply, learn_index
from ..learn.guard import MRR, NDCG
from ..reembed import ReembedProgress, ReembedReport
from ..searcher import Searcher
from ..settings import Settings
from .app import err, out

_PHASES = {"train": "training", "measure": "scoring held-out queries", "check": "checking own sentences",
           "save": "saving"}


def run_learning(settings: Settings, config: LearnConfig, extra: Path | None, apply_it: bool, as_json: bool) -> None:
    """The command: learn, render, and apply when asked and the new model won."""
    with _Bar(err) as bar:
        report = learn_index(settings, config, bar.learn_event, extra)
        applied = apply(settings, report, bar.apply_event) if apply_it and report.accepted else None
    if as_json:
        sys.stdout.write(json.dumps({"learn": report.to_json(), "apply": apply_json(applied)}) + "\n")
        return
    print_learning(out, report, settings.index, applied, apply_it)


def learn_in_session(settings: Settings, searcher: Searcher, console: Console) -> bool:
    """``:learn``: the same run from inside the session, with its open index; progress as lines. True
    when the index now uses a new model (the session reopens it)."""
    shown: set[tuple[str, int]] = set()

    def event(e: LearnEvent) -> None:
        if (e.phase, e.fold) in shown:
            return
        shown.add((e.phase, e.fold))
        if e.phase == "train" and e.fold == e.folds:
            line = "training on every judged query"
        elif e.phase in ("train", "measure"):
            line = f"{_PHASES[e.phase]}, fold {e.fold} of {e.folds - 1}"
        else:
            line = _PHASES.get(e.phase, e.phase)
        console.print(f"[dim]{line}…[/]", highlight=False)

    report = learn_index(settings, LearnConfig(device=settings.device), event, searcher=searcher)
    applied = None
    if report.accepted:
        console.print("[dim]re-embedding the index with the new model; the index in use stays as it is until "
                      "the new one is complete…[/]")
        applied = apply(settings, report)
    print_learning(console, report, settings.index, applied, True)
    return applied is not None


def learn_here(settings: Settings, searcher: Searcher, console: Console) -> bool:
    """:learn with every core: the session's query encoder may have set torch to one thread."""
    threads = None
    if "torch" in sys.modules:
        import torch

        threads = torch.get_num_threads()
        torch.set_num_threads(max(threads, os.cpu_count() or 1))
    try:
        return learn_in_session(settings, searcher, console)
    finally:
        if threads is not None:
            import torch

            torch.set_num_threads(threads)


def apply_json(report: ReembedReport | None) -> dict[str, Any] | None:
    if report is None:
        return None
    return {"model": report.meta.model, "data": report.meta.data, "previous": report.previous.model,
            "chunks": report.chunks, "embedded": report.embedded, "resumed": report.resumed,
            "seconds": round(report.seconds, 3), "embed_seconds": round(report.embed_seconds, 3)}


# --------------------------------------------------------------------------- rendering


def learning_table(report: LearnReport) -> Table:
    c = report.comparison
    held = f" ({c.queries} queries)" if c is not None else ""
    table = Table(title=f"held-out judgements{held}", title_justify="left")
    for header in ("", "in use", "new", "change"):
        table.add_column(header, justify="right" if header else "left", no_wrap=True)
    if c is not None and c.before:
        for name, metric in (("nDCG@10", NDCG), ("MRR@10", MRR)):
            table.add_row(name, f"{c.before[metric]:.3f}", f"{c.after[metric]:.3f}", _change(c.after[metric] - c.before[metric]))
    if report.own is not None:
        before, after = report.own
        table.add_row("own sentences MRR@10", f"{before:.3f}", f"{after:.3f}", _change(after - before))
    return table


def _change(delta: float) -> str:
    style = "green" if delta > 5e-4 else "red" if delta < -5e-4 else "dim"
    return f"[{style}]{delta:+.3f}[/]"


def print_learning(console: Console, report: LearnReport, index: str, applied: ReembedReport | None,
                   asked_to_apply: bool) -> None:
    console.print(f"learned from {report.judgements} judgements on {report.queries} queries with a relevant result, "
                  f"starting from {report.base}", highlight=False)
    console.print(f"[dim]{report.scheme}[/]", highlight=False)
    console.print(learning_table(report))
    mark = "[bold green]better[/]" if report.accepted else "[bold yellow]kept the model in use[/]"
    console.print(f"{mark}: {report.verdict.reason}", highlight=False)
    console.print(f"[dim]{report.verdict.confidence}[/]", highlight=False)
    if report.best:
        console.print(f"[dim]chosen: epoch {report.epoch}, mix {report.alpha:g}, the smallest change the held-out "
                      f"judgements cannot tell from the best point (epoch {report.best[0]}, mix {report.best[1]:g})[/]",
                      highlight=False)
    if report.accepted and report.model is not None:
        console.print(f"new model (epoch {report.epoch}, mix {report.alpha:g} of the fine-tuned weights): "
                      f"{report.model}", highlight=False)
    if applied is not None:
        console.print(f"[green]applied[/]: index {index} now uses it ({applied.embedded:,} chunks re-embedded"
                      f"{f', {applied.resumed:,} resumed' if applied.resumed else ''}); back to the previous model "
                      f"with: docsearch index --index {index} --rollback", highlight=False)
    elif report.accepted and not asked_to_apply:
        console.print(f"not applied; to use it: docsearch index --index {index} --model {report.model} --reembed",
                      highlight=False)
    elif not report.accepted:
        console.print("nothing changed: the index keeps its model", highlight=False)
    seconds = dict(report.seconds)
    if applied is not None:
        seconds["apply"] = applied.seconds
    console.print("[dim]time: " + ", ".join(f"{k} {v:.1f} s" for k, v in seconds.items()) + "[/]", highlight=False)
    for warning in report.warnings[:5]:
        console.print(f"[yellow]skipped[/] {warning}", highlight=False, markup=False)


# --------------------------------------------------------------------------- progress


class _Bar:
    """One transient rich bar: training steps per run, then the re-embedding's chunks."""

    def __enter__(self) -> _Bar:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self._bar = Progress(TextColumn("[bold blue]{task.description}"), BarColumn(), MofNCompleteColumn(),
                             TimeElapsedColumn(), console=self._console, transient=True)
        self._bar.__enter__()
        self._task = self._bar.add_task("reading the index", total=None)
        self._started = time.perf_counter()
        return self

    def __init__(self, console: Console) -> None:
        self._console = console

    def __exit__(self, *exc: object) -> None:
        self._bar.__exit__(*exc)  # type: ignore[arg-type]

    def learn_event(self, e: LearnEvent) -> None:
        last = " (every query)" if e.fold == e.folds else ""
        what = f"{_PHASES.get(e.phase, e.phase)} {e.fold}/{e.folds}{last}"
        self._bar.update(self._task, description=what, total=e.steps or None, completed=e.step)

    def apply_event(self, p: ReembedProgress) -> None:
        self._bar.update(self._task, description="re-embedding", total=p.total, completed=p.done)

