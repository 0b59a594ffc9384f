"""`docsearch similar`, `compare`, `dupes` and `calibrate`: documents like a document, one pair
verified, groups of copies, and the same/different threshold they share."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.table import Table
from rich.text import Text

from .app import BackendOpt, DeviceOpt, HomeOpt, IndexOpt, UrlOpt, command, err, out, settings_from

JsonOpt = Annotated[bool, typer.Option("--json", help="One JSON object on stdout, nothing else.")]


def _open(index: str | None, home: Path | None, qdrant_url: str | None, backend: str | None = None,
          device: str | None = None) -> Any:
    from ..index import Index

    s = settings_from(index=index, home=home, qdrant_url=qdrant_url, backend=backend, device=device)
    return Index.open(s)


def _ref(doc: Any) -> dict[str, Any]:
    return {"doc": doc.doc, "path": doc.path, "title": doc.title}


@command()
def similar(
    target: Annotated[str, typer.Argument(help="A document id or path in the index, or a file outside it.")],
    index: IndexOpt = None, k: Annotated[int, typer.Option("-k", help="Number of documents.")] = 10,
    json_out: JsonOpt = False, qdrant_url: UrlOpt = None, home: HomeOpt = None, backend: BackendOpt = None,
    device: DeviceOpt = None,
) -> None:
    """The indexed documents most similar to one document (more like this)."""
    from ..calibrate import threshold_for
    from ..similar import AGGREGATION, resolve
    from ..similar import similar as find_similar

    with _open(index, home, qdrant_url, backend, device) as idx:
        doc = resolve(idx, target)
        results = find_similar(idx, doc, k)
        threshold = threshold_for(idx).value
    if json_out:
        rows = [{"rank": r.rank, "score": round(r.score, 6), "doc": r.doc, "title": r.title, "path": r.path,
                 "same": r.score >= threshold, "passage": r.passage} for r in results]
        sys.stdout.write(json.dumps({"target": _ref(doc), "aggregation": AGGREGATION, "threshold": threshold,
                                     "results": rows}, ensure_ascii=False) + "\n")
        return
    table = Table(title=f"like [bold]{doc.title or doc.doc}[/] ({doc.path})", title_justify="left", expand=True,
                  show_lines=True)
    for name, style in (("#", "cyan"), ("score", "magenta"), ("document", None), ("best passage", None)):
        table.add_column(name, style=style, ratio=3 if name == "best passage" else (1 if name == "document" else None))
    for r in results:
        where = Text(r.title or r.doc, style="bold")
        where.append(f"\n{r.path}" + (f"\nid {r.doc}" if r.doc not in (r.path, r.title) else ""), style="dim")
        if r.score >= threshold:
            where.append("\nnear-duplicate", style="yellow")
        table.add_row(str(r.rank), f"{r.score:.3f}", where, _passage(r.passage, r.target_passage))
    out.print(table)


def _passage(text: str, other: str, width: int = 320) -> Text:
    """The passage with the sentence sharing most words with ``other`` highlighted."""
    from ..searcher import best_sentence

    span = best_sentence(other, text) or (0, 0)
    start = max(0, span[0] - 40)
    end = min(len(text), max(span[1], start + width))
    shown = Text("…" if start else "")
    shown.append(" ".join(text[start:span[0]].split()) + " ")
    shown.append(" ".join(text[span[0]:span[1]].split()), style="bold yellow")
    shown.append(" " + " ".join(text[span[1]:end].split()) + ("…" if end < len(text) else ""))
    return shown


@command()
def compare(
    a: Annotated[str, typer.Argument(help="A document id or path in the index, or a file.")],
    b: Annotated[str, typer.Argument(help="Another.")],
    index: IndexOpt = None, json_out: JsonOpt = False, qdrant_url: UrlOpt = None, home: HomeOpt = None,
    backend: BackendOpt = None, device: DeviceOpt = None,
) -> None:
    """Are two documents the same? Their similarity, a verdict at the index's calibrated threshold,
    and the passages that match best."""
    from ..calibrate import threshold_for
    from ..similar import AGGREGATION, resolve
    from ..similar import compare as verify

    with _open(index, home, qdrant_url, backend, device) as idx:
        threshold = threshold_for(idx)
        da = resolve(idx, a)
        db = resolve(idx, b)
        result = verify(da, db, threshold.value)
    verdict = "same" if result.same else "different"
    if json_out:
        sys.stdout.write(json.dumps({
            "a": _ref(da), "b": _ref(db), "score": round(result.score, 6), "verdict": verdict, "exact": result.exact,
            "threshold": threshold.value, "threshold_source": threshold.source, "aggregation": AGGREGATION,
            "passage_a": result.passage_a, "passage_b": result.passage_b}, ensure_ascii=False) + "\n")
        return
    style = "bold green" if result.same else "bold red"
    how = f"(threshold {threshold.value:.3f}, {threshold.source}{'; identical text' if result.exact else ''})"
    line = Text.assemble((verdict, style), f"  cosine {result.score:.3f} ", (how, "dim"))
    out.print(line)
    for label, doc, text, other in (("A", da, result.passage_a, result.passage_b),
                                    ("B", db, result.passage_b, result.passage_a)):
        out.print(Text.assemble((f"{label} ", "bold cyan"), (doc.title or doc.doc, "bold"), (f"  {doc.path}", "dim")))
        out.print(_passage(text, other), soft_wrap=True)


@command()
def dupes(
    index: IndexOpt = None,
    threshold: Annotated[Optional[float], typer.Option(
        help="Similarity from which two documents are near-duplicates (default: the index's calibrated one).")] = None,
    json_out: JsonOpt = False, qdrant_url: UrlOpt = None, home: HomeOpt = None,
) -> None:
    """Groups of exact and near-duplicate documents, largest first."""
    from ..calibrate import threshold_for
    from ..dupes import find_dupes

    with _open(index, home, qdrant_url) as idx:
        chosen = threshold if threshold is not None else threshold_for(idx).value
        report = find_dupes(idx, chosen)
    if json_out:
        groups = [{"kind": g.kind, "documents": [{"doc": m.doc, "path": m.path, "title": m.title,
                                                  "score": round(m.score, 6), "exact": m.exact} for m in g.members]}
                  for g in report.groups]
        sys.stdout.write(json.dumps({"threshold": chosen, "documents": report.documents, "duplicates": report.duplicates,
                                     "seconds": round(report.seconds, 3), "groups": groups}, ensure_ascii=False) + "\n")
        return
    for n, g in enumerate(report.groups, start=1):
        out.print(Text.assemble((f"group {n}", "bold"), f" ({len(g.members)} documents, {g.kind})"))
        for m in g.members:
            mark = "exact copy" if m.exact else f"{m.score:.3f}"
            label = m.path + (f"  id {m.doc}" if m.doc != m.path else "")
            out.print(Text.assemble("  ", (f"{mark:>10}", "magenta"), "  ", label), soft_wrap=True)
    out.print(f"[dim]{len(report.groups)} group(s), {report.duplicates} duplicate(s) among {report.documents} "
              f"documents at threshold {chosen:.3f}; {report.seconds:.1f}s[/]", highlight=False)


@command()
def calibrate(
    pairs: Annotated[Optional[Path], typer.Argument(
        help="JSONL of labelled pairs {a, b, label} (or a training file's query/text/label); omit to "
             "calibrate from the index's own score distribution.")] = None,
    index: IndexOpt = None, json_out: JsonOpt = False, qdrant_url: UrlOpt = None, home: HomeOpt = None,
    backend: BackendOpt = None, device: DeviceOpt = None,
) -> None:
    """Set the index's same/different threshold, and say how it was chosen."""
    from ..calibrate import calibrate_distribution, calibrate_pairs, save

    with _open(index, home, qdrant_url, backend, device) as idx:
        skipped: tuple[str, ...] = ()
        if pairs is None:
            threshold = calibrate_distribution(idx)
        else:
            result = calibrate_pairs(idx, pairs)
            threshold, skipped = result.threshold, result.skipped
        save(idx, threshold)
    if json_out:
        sys.stdout.write(json.dumps({**threshold.to_json(), "skipped": list(skipped)}) + "\n")
        return
    f = threshold.figures
    out.print(f"threshold [bold]{threshold.value:.3f}[/] from the {threshold.source}", highlight=False)
    if threshold.source == "pairs":
        out.print(f"held-out pairs ({int(f['held_out'])}, {int(f['train'])} to choose it): accuracy {f['accuracy']:.3f}, "
                  f"precision {f['precision']:.3f}, recall {f['recall']:.3f}", highlight=False)
    elif f:
        out.print(f"nearest-neighbour similarity of {int(f['sampled'])} sampled documents: median {f['median']:.3f}; "
                  f"the threshold splits the widest gap, {f['gap_low']:.3f} to {f['gap_high']:.3f}; "
                  f"{int(f['above'])} at or above it", highlight=False)
    for line in skipped:
        err.print(f"[yellow]skipped[/] {line}", highlight=False)
