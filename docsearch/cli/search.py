"""`docsearch search`: one query (a table or --json), or with no query an interactive session."""

from __future__ import annotations

import sys
from typing import Annotated, Optional

import typer

from ..errors import DocsearchError
from ..ingest.ignore import path_filter
from ..searcher import Searcher
from .app import (
    BackendOpt,
    DeviceOpt,
    ExcludeOpt,
    HomeOpt,
    IncludeOpt,
    IndexOpt,
    ModelOpt,
    UrlOpt,
    command,
    out,
    settings_from,
)
from .interactive import run_session
from .render import hits_json, print_hits


@command()
def search(
    query: Annotated[Optional[str], typer.Argument(help="The query; omit it for an interactive session.")] = None,
    index: IndexOpt = None, model: ModelOpt = None,
    k: Annotated[Optional[int], typer.Option("-k", help="Number of results.")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="One JSON object on stdout, nothing else.")] = False,
    path: Annotated[Optional[str], typer.Option("--path", help="Only sources whose path matches this glob.")] = None,
    mode: Annotated[str, typer.Option(
        help="auto (dense and BM25, fused as the index chose), dense, sparse (BM25) or hybrid.")] = "auto",
    interactive: Annotated[bool, typer.Option("--interactive", "-I", help="Open an interactive session.")] = False,
    collapse: Annotated[Optional[bool], typer.Option(
        "--collapse/--no-collapse",
        help="Fold near-duplicates under the best-ranked copy (+N near-duplicates); default on, DOCSEARCH_COLLAPSE.")] = None,
    qdrant_url: UrlOpt = None, home: HomeOpt = None, backend: BackendOpt = None, device: DeviceOpt = None,
    exclude: ExcludeOpt = None, include: IncludeOpt = None,
) -> None:
    """Search an index by meaning; with no query, open an interactive session."""
    s = settings_from(index=index, model=model, k=k, qdrant_url=qdrant_url, home=home, backend=backend, device=device,
                      collapse=collapse)
    where = path_filter(include or (), exclude or ()) if include or exclude else None  # on the results' paths
    if query is None or interactive:

        run_session(s, mode=mode, path_glob=path, where=where, collapse=s.collapse)
        return
    if not query.strip():
        raise DocsearchError("the query is empty")
    with Searcher.open(s) as searcher:
        hits = searcher.search(query, s.k, mode=mode, path_glob=path, where=where, collapse=s.collapse)
        answered, fusion = searcher.answering(mode)
    if json_out:

        sys.stdout.write(hits_json(query, hits, answered, fusion) + "\n")
    else:

        print_hits(out, query, hits)
