"""Search answers and index descriptions as plain JSON values.

The one shape of a search answer, shared by ``docsearch search --json``, the session's ``:json``
and the MCP server, so an agent and a script read the same objects. Nothing here prints.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .index import IndexInfo
from .types import Fusion, Hit


def hit_line(hit: Hit) -> int | None:
    """The source line of the hit's best sentence (its chunk's first line when nothing is
    highlighted); None when the hit's text is not a file's own text (records, PDF, HTML)."""
    if hit.line is None:
        return None
    return hit.line + (hit.text.count("\n", 0, hit.highlight[0]) if hit.highlight else 0)


def hit_json(hit: Hit) -> dict[str, Any]:
    return {"rank": hit.rank, "score": round(hit.score, 6), "doc": hit.doc, "title": hit.title, "path": hit.path,
            "line": hit_line(hit), "chunk": hit.chunk, "text": hit.text, **({"where": hit.where} if hit.where else {}),
            **({"duplicates": [{"doc": d.doc, "path": d.path, "score": round(d.score, 6)} for d in hit.duplicates]}
               if hit.duplicates else {})}


def search_answer(query: str, hits: Sequence[Hit], mode: str | None = None,
                  fusion: Fusion | None = None) -> dict[str, Any]:
    """``{"query", "mode", "fusion", "results"}``; ``mode`` and ``fusion`` (what answered) only when known."""
    answer: dict[str, Any] = {"query": query}
    if mode is not None:
        answer.update(mode=mode, fusion=fusion.to_json() if fusion else None)
    answer["results"] = [hit_json(h) for h in hits]
    return answer


def info_json(info: IndexInfo) -> dict[str, Any]:
    """What ``docsearch info`` shows, as JSON: the counts, where it lives, and index.json as stored."""
    return {
        "name": info.name, "path": info.path, "sources": info.sources, "documents": info.documents,
        "chunks": info.chunks, "points": info.points, "bytes_on_disk": info.bytes_on_disk,
        "model_languages": list(info.model_languages) if info.model_languages is not None else None,
        "warnings": list(info.warnings), "committed": info.committed or None, "writer": info.writer or None,
        "meta": info.meta.to_json(), "previous": info.previous.to_json() if info.previous else None,
    }
