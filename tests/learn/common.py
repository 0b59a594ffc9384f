"""Shared by the learning tests: a small corpus of topics, an index of it, and judgements written
exactly as the interactive session writes them."""

from __future__ import annotations

import io
from pathlib import Path

from helpers import write_files
from rich.console import Console

from docsearch import Settings, index_paths
from docsearch.cli.interactive import Session, open_searcher

TOPICS = ["bread", "bees", "rivers", "stars", "vaccines", "chess", "tides", "coffee", "glaciers", "violins",
          "tomatoes", "comets", "printing", "ants", "volcanoes", "sailing", "owls", "cheese", "bridges", "ferns"]


def corpus(root: Path, long: bool = False, unquoted: bool = False) -> Path:
    """Per topic an explanation and a release note that repeats the question: 40 documents. ``long``:
    a few sentences each (the forgetting check draws its pseudo-queries from single sentences);
    ``unquoted``: a longer explanation without the question's words, and a short note that asks it, which
    the bundled model ranks first."""
    files = {}
    for n, topic in enumerate(TOPICS):
        guide = f"{topic.title()} explained: what {topic} are, and how {topic} work, step by step."
        note = f"Release note: the question how do {topic} work was moved to another page."
        if unquoted:  # all-MiniLM-L6-v2 ranks the note above the guide for each topic's question
            guide = (f"{topic.title()}: an introduction for beginners, from the basics to the details. The guide starts "
                     f"with the basics of {topic}, then the common mistakes people make. It ends with a few tips on "
                     f"{topic} from people with long experience.")
            note = f"Release note: how do {topic} work? The answer moved to the new {topic} page."
        elif long:
            guide += (f" The guide starts with the basics of {topic}, then the common mistakes people make. "
                      f"It ends with a few tips on {topic} from people with long experience.")
            note += (f" Release 2.{n} also renamed two settings and fixed a typo in the menu. "
                     "Links to the old page now redirect, and no other content changed in this release.")
        files[f"guides/{topic}.md"] = guide
        files[f"notes/{topic}.md"] = note
    return write_files(root, files)


def make_index(tmp_path: Path, model: Path | str, name: str = "notes", long: bool = False,
               backend: str = "torch-fp32", unquoted: bool = False) -> Settings:
    settings = Settings(home=tmp_path / "home", index=name, model=str(model), device="cpu", backend=backend)
    index_paths(settings, [corpus(tmp_path / "docs", long, unquoted)])
    return Settings(home=settings.home, index=name, device="cpu", backend=backend)


def judge(settings: Settings, topics: list[str], prefer: str = "guides", k: int = 4, flip: bool = False) -> Path:
    """Play the person in the real interactive session: search each topic's question and judge the top
    ``k`` (``:good R`` for the ``prefer`` folder's document of the topic, ``:bad R`` for the rest; ``flip``:
    every judgement the other way round), so the session writes its own feedback file."""
    session = Session(lambda: open_searcher(settings), Console(file=io.StringIO()), settings.index_dir,
                      name=settings.index, k=k, collapse=False)  # judge every document shown, copies too
    try:
        for topic in topics:
            session.handle(f"how do {topic} work")
            for hit in list(session.page):
                good = (hit.path == f"{prefer}/{topic}.md") != flip
                session.handle(f":{'good' if good else 'bad'} {hit.rank}")
    finally:
        session.close()
    return session.feedback_path
