"""Shared by the learning tests: a small corpus of topics, an index of it, and judgements written
exactly as the interactive session writes them."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import write_files

from docsearch import Searcher, Settings, index_paths

TOPICS = ["bread", "bees", "rivers", "stars", "vaccines", "chess", "tides", "coffee", "glaciers", "violins",
          "tomatoes", "comets", "printing", "ants", "volcanoes", "sailing", "owls", "cheese", "bridges", "ferns"]


def corpus(root: Path) -> Path:
    """Per topic an explanation and a release note that repeats the question: 40 documents."""
    files = {}
    for topic in TOPICS:
        files[f"guides/{topic}.md"] = f"{topic.title()} explained: what {topic} are, and how {topic} work, step by step."
        files[f"notes/{topic}.md"] = f"Release note: the question how do {topic} work was moved to another page."
    return write_files(root, files)


def make_index(tmp_path: Path, model: Path, name: str = "notes") -> Settings:
    settings = Settings(home=tmp_path / "home", index=name, model=str(model), device="cpu", backend="torch-fp32")
    index_paths(settings, [corpus(tmp_path / "docs")])
    return Settings(home=settings.home, index=name, device="cpu", backend="torch-fp32")


def judge(settings: Settings, topics: list[str], prefer: str = "guides", k: int = 4) -> Path:
    """Search each topic's question and judge the top ``k`` as the session does: the ``prefer`` folder's
    document of the topic relevant, everything else not."""
    rows = []
    with Searcher.open(settings) as searcher:
        for topic in topics:
            query = f"how do {topic} work"
            for hit in searcher.search(query, k=k):
                good = hit.path == f"{prefer}/{topic}.md"
                rows.append({"query": query, "doc": hit.doc, "text": hit.text, "label": int(good)})
            if not any(r["label"] for r in rows if r["query"] == query):
                text = searcher.document_text(f"{prefer}/{topic}.md")
                rows.append({"query": query, "doc": f"{prefer}/{topic}.md", "text": text, "label": 1})
    path = settings.index_dir / "feedback.jsonl"
    with path.open("a", encoding="utf-8") as fh:
        fh.writelines(json.dumps(r) + "\n" for r in rows)
    return path
