"""Rich output for results, reports and index info. Only the CLI and the interactive session call it."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..types import Fusion, Hit, IndexReport

SNIPPET_CHARS = 320


def hits_json(query: str, hits: Sequence[Hit], mode: str | None = None, fusion: Fusion | None = None) -> str:
    """One JSON object: the query, the mode and fusion that answered it, the ranked results."""
    results = [
        {"rank": h.rank, "score": round(h.score, 6), "doc": h.doc, "title": h.title, "path": h.path,
         "chunk": h.chunk, "text": h.text}
        for h in hits
    ]
    answer: dict[str, object] = {"query": query}
    if mode is not None:
        answer.update(mode=mode, fusion=fusion.to_json() if fusion else None)
    return json.dumps({**answer, "results": results}, ensure_ascii=False)


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
        location = h.path + (f":{h.line}" if h.line else "")
        where.append("\n" + location, style="dim")
        if h.doc not in (h.path, h.title):
            where.append(f"\nid {h.doc}", style="dim")
        table.add_row(str(h.rank + offset), f"{h.score:.3f}", where, snippet(h, terms))
    return table


def print_hits(console: Console, query: str, hits: Sequence[Hit], offset: int = 0) -> None:
    if not hits:
        console.print(f"[yellow]no results for[/] {query!r}")
        return
    console.print(hits_table(query, hits, offset))


def print_report(console: Console, report: IndexReport) -> None:
    rate = report.chunks / report.seconds if report.seconds else 0.0
    console.print(
        f"[green]indexed[/] {report.indexed} file(s), {report.documents} document(s), {report.chunks} chunk(s) "
        f"in {report.seconds:.1f}s ({rate:.0f} chunks/s); [cyan]unchanged[/] {report.unchanged}; "
        f"[magenta]removed[/] {report.removed}; [yellow]skipped[/] {len(report.skipped)}"
    )
    if report.resparsed:
        console.print(f"[cyan]BM25 vectors[/] added to {report.resparsed} stored chunk(s); dense vectors kept")
    for s in report.skipped:
        console.print(f"  [yellow]skipped[/] {s.path}: {s.reason}", highlight=False)


def info_table(info: Any) -> Table:
    m = info.meta
    table = Table(title=f"index [bold]{info.name}[/]", show_header=False, title_justify="left")
    table.add_column(style="cyan")
    table.add_column()
    rows = [
        ("location", info.path), ("backend", m.backend + (f" ({m.collection})" if m.backend == "server" else "")),
        ("sources", str(info.sources)), ("documents", str(info.documents)), ("chunks", f"{info.chunks} ({info.points} points)"),
        ("model", m.model_id), ("fingerprint", m.fingerprint), ("dimension", str(m.dim)), ("variant", m.variant),
        ("embedded by", ", ".join(m.embedders)),
        ("chunking", f"{m.chunk_tokens} tokens, overlap {m.overlap}"), ("sparse", m.sparse),
        ("fusion", f"hybrid: {m.fusion.label()}"),
        ("auto", f"{m.auto.label()}: {m.auto_reason or 'default (chosen on the next index run)'}"),
        ("size on disk", _bytes(info.bytes_on_disk)), ("docsearch", m.version),
    ]
    if getattr(info, "committed", 0.0):
        rows.insert(2, ("committed", time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(info.committed))))
    if getattr(info, "writer", ""):
        rows.insert(2, ("being written", f"by {info.writer} (counts: its last committed batch)"))
    for k, v in rows:
        table.add_row(k, v)
    return table


def _bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024:
            return f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"
