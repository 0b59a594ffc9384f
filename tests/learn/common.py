"""Shared by the learning tests: a small corpus of topics, an index of it, and judgements written
exactly as the interactive session writes them."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import write_files

from docsearch import Searcher, Settings, index_paths

TOPICS = ["bread", "bees", "rivers", "stars", "vaccines", "chess", "tides", "coffee", "glaciers", "violins",
          "tomatoes", "comets", "printing", "ants", "volcanoes", "sailing", "owls", "cheese", "bridges", "ferns"]


def corpus(root: Path, long: bool = False) -> Path:
    """Per topic an explanation and a release note that repeats the question: 40 documents. ``long``:
    a few sentences each (the forgetting check draws its pseudo-queries from single sentences)."""
    files = {}
    for n, topic in enumerate(TOPICS):
        guide = f"{topic.title()} explained: what {topic} are, and how {topic} work, step by step."
        note = f"Release note: the question how do {topic} work was moved to another page."
        if long:
            guide += (f" The guide starts with the basics of {topic}, then the common mistakes people make. "
                      f"It ends with a few tips on {topic} from people with long experience.")
            note += (f" Release 2.{n} also renamed two settings and fixed a typo in the menu. "
                     "Links to the old page now redirect, and no other content changed in this release.")
        files[f"guides/{topic}.md"] = guide
        files[f"notes/{topic}.md"] = note
    return write_files(root, files)


def make_index(tmp_path: Path, model: Path | str, name: str = "notes", long: bool = False,
               backend: str = "torch-fp32") -> Settings:
    settings = Settings(home=tmp_path / "home", index=name, model=str(model), device="cpu", backend=backend)
    index_paths(settings, [corpus(tmp_path / "docs", long)])
    return Settings(home=settings.home, index=name, device="cpu", backend=backend)


def judge(settings: Settings, topics: list[str], prefer: str = "guides", k: int = 4, flip: bool = False) -> Path:
    """Search each topic's question and judge the top ``k`` as the session does: the ``prefer`` folder's
    document of the topic relevant, everything else not (``flip``: every label the other way round)."""
    rows = []
    with Searcher.open(settings) as searcher:
        for topic in topics:
            query = f"how do {topic} work"
            for hit in searcher.search(query, k=k):
                good = hit.path == f"{prefer}/{topic}.md"
                rows.append({"query": query, "doc": hit.doc, "text": hit.text, "label": int(good != flip)})
            if not flip and not any(r["label"] for r in rows if r["query"] == query):
                text = searcher.document_text(f"{prefer}/{topic}.md")
                rows.append({"query": query, "doc": f"{prefer}/{topic}.md", "text": text, "label": 1})
    path = settings.index_dir / "feedback.jsonl"
    with path.open("a", encoding="utf-8") as fh:
        fh.writelines(json.dumps(r) + "\n" for r in rows)
    return path
