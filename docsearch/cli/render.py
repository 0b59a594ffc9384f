"""Rich output for results, reports and index info. Only the CLI and the interactive session call it."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from ..answers import search_answer
from ..plan import IndexPlan
from ..types import Fusion, Hit, IndexReport

SNIPPET_CHARS = 320


def hits_json(query: str, hits: Sequence[Hit], mode: str | None = None, fusion: Fusion | None = None) -> str:
    """One JSON object: the query, the mode and fusion that answered it, the ranked results."""
    return json.dumps(search_answer(query, hits, mode, fusion), ensure_ascii=False)


def snippet(hit: Hit, query_terms: Sequence[str] = (), width: int = SNIPPET_CHARS) -> Text:
    """A window of the best chunk around its best sentence, that sentence highlighted."""
    text = hit.text
    lo, hi = hit.highlight or (0, min(len(text), width))
    start = max(0, min(lo - 40, len(text) - width))
    end = min(len(text), max(hi, start + width))
    if end - start > width + 200:  # a very long sentence: keep its start
        end = start + width + 200
    out = Text("…" if start > 0 else "")
    out.append(" ".join(text[start:lo].split()) + (" " if lo > start else ""))
    out.append(" ".join(text[lo:min(hi, end)].split()), style="bold yellow")
    out.append((" " if end > hi else "") + " ".join(text[hi:end].split()) if end > hi else "")
    if end < len(text):
        out.append("…")
    for term in query_terms:
        if len(term) > 2:
            out.highlight_words([term], style="underline", case_sensitive=False)
    return out


def hits_table(query: str, hits: Sequence[Hit], offset: int = 0) -> Table:
    terms = [w for w in query.split() if w.isalnum()]
    table = Table(title=f"[bold]{query}[/]", title_justify="left", show_lines=True, expand=True)
    table.add_column("#", justify="right", style="cyan", no_wrap=True)
    table.add_column("score", justify="right", style="magenta", no_wrap=True)
    table.add_column("document", ratio=1, overflow="fold")
    table.add_column("best passage", ratio=3)
    for h in hits:
        where = Text(h.title or h.doc, style="bold")
        location = h.path + (f":{h.line}" if h.line else "") + (f", {h.where}" if h.where else "")
        where.append("\n" + location, style="dim")
        if h.doc not in (h.path, h.title):
            where.append(f"\nid {h.doc}", style="dim")
        if h.duplicates:
            where.append(f"\n{duplicates_label(h)}", style="yellow")
        table.add_row(str(h.rank + offset), f"{h.score:.3f}", where, snippet(h, terms))
    return table


def duplicates_label(hit: Hit) -> str:
    """'+2 near-duplicates: a.txt, b.txt' for a result with copies folded under it."""
    n = len(hit.duplicates)
    paths = ", ".join(d.path if d.doc == d.path else f"{d.path} ({d.doc})" for d in hit.duplicates[:3])
    return f"+{n} near-duplicate{'s' if n > 1 else ''}: {paths}{', …' if n > 3 else ''}"


def print_hits(console: Console, query: str, hits: Sequence[Hit], offset: int = 0) -> None:
    if not hits:
        console.print(f"[yellow]no results for[/] {query!r}")
        return
    console.print(hits_table(query, hits, offset))


SKIPPED_SHOWN = 20  # reason-skipped paths listed without --verbose
BAD_SHOWN = 3  # bad records listed per partly read file without --verbose


def print_report(console: Console, report: IndexReport, verbose: bool = False, summary: bool = True) -> None:
    """The summary line, what the rules passed over, files read in part and files skipped; with
    ``verbose`` every path passed over and every bad record too."""
    if summary:
        rate = report.chunks / report.seconds if report.seconds else 0.0
        console.print(
            f"[green]indexed[/] {report.indexed} file(s), {report.documents} document(s), {report.chunks} chunk(s) "
            f"in {report.seconds:.1f}s ({rate:.0f} chunks/s); [cyan]unchanged[/] {report.unchanged}; "
            f"[magenta]removed[/] {report.removed}; [yellow]skipped[/] {len(report.skipped)}; "
            f"[dim]passed over[/] {len(report.excluded)} — {report.walked} path(s) seen"
        )
    if report.resparsed:
        console.print(f"[cyan]BM25 vectors[/] added to {report.resparsed} stored chunk(s); dense vectors kept")
    if report.excluded:
        console.print(f"  [dim]passed over by rule:[/] {rule_summary(report)}", highlight=False)
    for p in report.partial:
        detail = p.summary(None if verbose else BAD_SHOWN)
        console.print(f"  [yellow]partly read[/] {escape(p.path)}: {escape(detail.removeprefix('partly read: '))}",
                      highlight=False)
    shown = report.skipped if verbose else report.skipped[:SKIPPED_SHOWN]
    for s in shown:
        console.print(f"  [yellow]skipped[/] {escape(s.path)}: {escape(s.reason)}", highlight=False)
    if len(shown) < len(report.skipped):
        console.print(f"  … and {len(report.skipped) - len(shown)} more skipped (--verbose lists all)", highlight=False)
    if verbose:
        for e in report.excluded:
            console.print(f"  [dim]{e.rule}[/] {escape(e.path)}", highlight=False)
    print_warnings(console, report.warnings)


def print_plan(console: Console, plan: IndexPlan, verbose: bool = False) -> None:
    """``index --dry-run``: what a run would embed (per type), leave, remove, skip and pass over."""
    r = plan.report
    types = ", ".join(f"{label} {n}" for label, n in plan.by_type)
    console.print(
        f"[bold]dry run[/] (nothing embedded or written): [green]would index[/] {r.indexed} file(s), "
        f"{r.documents} document(s){f' ({types})' if types else ''}; [cyan]unchanged[/] {r.unchanged}; "
        f"[magenta]would remove[/] {r.removed}; [yellow]would skip[/] {len(r.skipped)}; [dim]passed over[/] "
        f"{len(r.excluded)} — {r.walked} path(s) seen", highlight=False)
    if not plan.exists:
        console.print(f"  [dim]index {plan.index!r} does not exist yet: every file found would be embedded[/]", highlight=False)
    if verbose:
        for path in r.indexed_paths:
            console.print(f"  [green]would index[/] {escape(path)}", highlight=False)
    print_report(console, r, verbose, summary=False)


def rule_summary(report: IndexReport, suffixes: int = 5) -> str:
    """'hidden 2, unsupported 120 (.png 80, .so 30, …), binary 1'."""
    parts = []
    for c in report.rule_counts():
        part = f"{c.rule} {c.count}"
        if c.suffixes:
            top = ", ".join(f"{suffix} {n}" for suffix, n in c.suffixes[:suffixes])
            part += f" ({top}{', …' if len(c.suffixes) > suffixes else ''})"
        parts.append(part)
    return ", ".join(parts)


def report_json(report: IndexReport) -> str:
    return json.dumps(report.to_json(), ensure_ascii=False)


def print_warnings(console: Console, warnings: Sequence[str]) -> None:
    for w in warnings:
        console.print(Text("warning: " + w, style="yellow"), soft_wrap=True)  # one line, however wide


def languages_line(counts: dict[str, int] | None) -> str:
    """``Chinese (zh) 848, English (en) 3`` with shares; ``unknown`` for an index made before
    languages were detected."""
    from ..languages import name

    if counts is None:
        return "unknown (indexed before languages were detected; English BM25)"
    total = sum(counts.values())
    if not total:
        return "none yet"
    shown = [f"{name(c)}{'' if c == 'und' else f' ({c})'} {n} ({n / total:.0%})" for c, n in list(counts.items())[:6]]
    more = len(counts) - len(shown)
    return ", ".join(shown) + (f", {more} more" if more > 0 else "")


def info_table(info: Any) -> Table:
    m = info.meta
    table = Table(title=f"index [bold]{info.name}[/]", show_header=False, title_justify="left")
    table.add_column(style="cyan")
    table.add_column()
    rows = [
        ("location", info.path), ("backend", m.backend + (f" ({m.collection})" if m.backend == "server" else "")),
        ("sources", str(info.sources)), ("documents", str(info.documents)), ("chunks", f"{info.chunks} ({info.points} points)"),
        ("languages", languages_line(m.languages)),
        ("model", m.model_id), ("model languages", _model_languages(info)),
        ("fingerprint", m.fingerprint), ("dimension", str(m.dim)), ("variant", m.variant),
        ("embedded by", ", ".join(m.embedders)),
        ("chunking", f"{m.chunk_tokens} tokens, overlap {m.overlap}"), ("sparse", m.sparse),
        ("fusion", f"hybrid: {m.fusion.label()}"),
        ("auto", f"{m.auto.label()}: {m.auto_reason or 'default (chosen on the next index run)'}"),
        ("size on disk", _bytes(info.bytes_on_disk)), ("docsearch", m.version),
    ]
    at = [k for k, _ in rows].index("model") + 1
    rows[at:at] = [("learned", line) for line in lineage_lines(m.lineage)]
    if getattr(info, "previous", None) is not None:
        rows.append(("rollback to", f"{info.previous.model_id} (docsearch index --index {info.name} --rollback)"))
    if getattr(info, "committed", 0.0):
        rows.insert(2, ("committed", time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(info.committed))))
    if getattr(info, "writer", ""):
        rows.insert(2, ("being written", f"by {info.writer} (counts: its last committed batch)"))
    for k, v in rows:
        table.add_row(k, v)
    for w in info.warnings:
        table.add_row(Text("warning", style="yellow"), Text(w, style="yellow"))
    return table


def lineage_lines(lineage: Sequence[Any]) -> list[str]:
    """One line per learning step: from which model, on how many judgements, when, and held-out
    nDCG@10 / MRR@10 before and after."""
    lines = []
    for step in lineage:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(step.trained)) if step.trained else "?"
        figures = ", ".join(f"{name} {step.before[key]:.3f} -> {step.after[key]:.3f}"
                            for name, key in (("nDCG@10", "ndcg@10"), ("MRR@10", "mrr@10"))
                            if key in step.before and key in step.after)
        lines.append(f"from {Path(step.base).name} on {step.judgements} judgements ({step.queries} queries), {when}; "
                     f"held out: {figures} on {step.held_out} queries")
    return lines


def _model_languages(info: Any) -> str:
    from ..languages import name

    codes = info.model_languages
    if not codes:
        return "unknown (its card names none)"
    return ", ".join(name(c) for c in codes[:8]) + (
        f", {len(codes) - 8} more" if len(codes) > 8 else "")


def _bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024:
            return f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def print_check(console: Console, report: Any) -> None:
    """A full check (docsearch.integrity.CheckReport): what was repaired, then one mark per finding."""
    from rich.markup import escape

    unreadable = report.meta or report.manifest or report.store
    counts = "" if unreadable else f": {report.points} points; {report.sources} indexed sources, {report.chunks} chunks"
    console.print(f"index [bold]{report.index}[/]{counts}", highlight=False)
    for line in report.repaired:
        console.print(f"  [cyan]repaired[/] {escape(line)}", highlight=False)
    for line in report.problems:
        console.print(f"  [bold red]✗[/] {escape(line)}", highlight=False)
    for line in report.notes:
        console.print(f"  [yellow]![/] {escape(line)}", highlight=False)
    if report.ok:
        console.print("  [green]✓[/] every indexed chunk is stored, every point is owned and well-formed, "
                      "the vectors read, the model agrees with the store's record", highlight=False)
    elif not report.repaired:
        console.print(f"  fix what can be fixed with: docsearch check --index {report.index} --repair", highlight=False)
