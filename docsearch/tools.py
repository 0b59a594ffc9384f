"""What a coding agent asks of docsearch, as plain JSON values: the operations behind ``docsearch mcp``.

One :class:`Tools` per server: each index's :class:`Searcher` (its store and, on the first search,
its model) opens on first use and stays open, so a query costs what it costs in an interactive
session. An index switched to another model (``--reembed``, ``train --apply``, ``--rollback``) is
reopened on the next call. Files are read only when the index holds them, so an agent cannot use
the server to read arbitrary files. Nothing here prints; failures are :class:`DocsearchError`.
"""

from __future__ import annotations

import os
from typing import Any

from .answers import info_json, search_answer
from .encoders import Encoder
from .errors import ConfigError, DocsearchError, IngestError
from .ingest import read_source
from .meta import META_FILE, read_meta
from .searcher import Searcher
from .settings import Settings
from .types import Source

MAX_K = 100  # results per search: more would flood an agent's context
MAX_CHARS = 50_000  # text per get_document answer; a longer one is cut at a line and says where


class Tools:
    """Search, read and describe the indexes under ``settings.home``; ``settings.index`` is the
    default index. Not thread-safe: the MCP server calls it from one worker thread."""

    def __init__(self, settings: Settings, encoder: Encoder | None = None) -> None:
        self.settings = settings
        self.encoder = encoder  # one query encoder for every index (tests): it must be each one's model
        self._open: dict[str, Searcher] = {}

    def searcher(self, index: str | None = None) -> Searcher:
        """The open searcher of ``index`` (the default one for None); its model loads on the first search."""
        name = index or self.settings.index
        current = self._open.get(name)
        if current is not None:
            meta = read_meta(current.index.dir)  # one small file: the cheap way to notice a model switch
            if (meta.fingerprint, meta.data) == (current.meta.fingerprint, current.meta.data):
                return current
            del self._open[name]
            current.close()
        searcher = Searcher.open(self._settings(name), self.encoder, load_model=False)
        self._open[name] = searcher
        return searcher

    def warm(self, index: str | None = None) -> None:
        """Open the index and load its model now, so that the first search does not wait for them."""
        self.searcher(index).encoder  # noqa: B018 - loads it

    def search(self, query: str, k: int | None = None, mode: str = "auto", path: str | None = None,
               index: str | None = None) -> dict[str, Any]:
        """The answer ``docsearch search QUERY --json`` prints, as a dict."""
        if not query.strip():
            raise ConfigError("the query is empty")
        k = self.settings.k if k is None else k
        if not 1 <= k <= MAX_K:
            raise ConfigError(f"k must be between 1 and {MAX_K}, got {k}")
        searcher = self.searcher(index)
        hits = searcher.search(query, k, mode=mode, path_glob=path or None, collapse=self.settings.collapse)
        answered, fusion = searcher.answering(mode)
        return search_answer(query, hits, answered, fusion)

    def get_document(self, doc: str | None = None, path: str | None = None, start_line: int | None = None,
                     end_line: int | None = None, index: str | None = None) -> dict[str, Any]:
        """A document's text as the index stores it (``doc``: a result's ``doc``), or an indexed
        file's text as docsearch reads it (``path``: a result's ``path``, or the file's absolute
        path); either cut to lines ``start_line``..``end_line`` (1-based, inclusive)."""
        if (doc is None) == (path is None):
            raise ConfigError("give either doc (a result's doc id) or path (a result's path), not both")
        searcher = self.searcher(index)
        if doc is not None:
            text = searcher.document_text(doc)
            if text is None:
                raise DocsearchError(f"index {searcher.meta.name!r} holds no document {doc!r}")
            first = searcher.doc_chunks(doc)[0]
            title, where = str(first.get("title", "")), str(first.get("path", ""))
        else:
            title, where, text = _file_text(searcher, str(path))
        return {"index": searcher.meta.name, "doc": doc, "path": where, "title": title,
                **_lines(text, start_line, end_line)}

    def list_indexes(self) -> dict[str, Any]:
        """The indexes under the home folder, each with its model and size, without opening any."""
        home = self.settings.home
        found = []
        names = sorted(p.name for p in home.iterdir() if (p / META_FILE).is_file()) if home.is_dir() else []
        for name in names:
            try:
                meta = read_meta(home / name)
            except DocsearchError as exc:
                found.append({"name": name, "error": str(exc)})
                continue
            documents = sum(meta.languages.values()) if meta.languages is not None else None
            found.append({"name": name, "model": meta.model_id, "documents": documents, "created": meta.created})
        return {"home": str(home.resolve()), "default": self.settings.index, "indexes": found}

    def index_info(self, index: str | None = None) -> dict[str, Any]:
        """What ``docsearch info --json`` prints for ``index``."""
        return info_json(self.searcher(index).info())

    def _settings(self, name: str) -> Settings:
        if not name or name != os.path.basename(name) or name.startswith("."):
            raise ConfigError(f"{name!r} is not an index name")
        return self.settings.with_flags(index=name)

    def close(self) -> None:
        while self._open:
            self._open.popitem()[1].close()

    def __enter__(self) -> Tools:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _file_text(searcher: Searcher, path: str) -> tuple[str, str, str]:
    """(title, path, text) of a file the index holds, read from disk now; any other path is refused."""
    rows = [r for r in searcher.index.manifest.rows().values() if r.state == "done"]
    wanted = os.path.abspath(os.path.expanduser(path))
    matches = [r for r in rows if r.key == wanted] or [r for r in rows if r.path == path]
    name = searcher.meta.name
    if not matches:
        raise ConfigError(f"{path!r} is not a file index {name!r} holds; only indexed files can be read "
                          "(give a search result's path)")
    if len(matches) > 1:
        raise ConfigError(f"{path!r} is in several roots of index {name!r}; give one of: "
                          + ", ".join(r.key for r in matches))
    row = matches[0]
    try:
        st = os.stat(row.key)
        reading = read_source(Source(row.key, row.path, st.st_size, st.st_mtime_ns))
    except OSError as exc:
        raise IngestError(f"cannot read {row.key}: {(exc.strerror or str(exc)).lower()}") from exc
    docs = reading.documents
    if len(docs) != 1:
        raise ConfigError(f"{row.path} holds {len(docs)} records; read one with doc=ID (a result's doc)")
    return docs[0].title, row.path, docs[0].text if docs[0].line_mapped else docs[0].body


def _lines(text: str, start: int | None, end: int | None) -> dict[str, Any]:
    """Lines ``start``..``end`` of ``text`` (1-based, inclusive; the whole text by default), cut at
    a line once over MAX_CHARS, saying which lines came back and how many there are."""
    lines = text.splitlines(keepends=True)
    first = 1 if start is None else start
    last = len(lines) if end is None else min(end, len(lines))
    if first < 1 or last < first - 1 or first > max(len(lines), 1):
        raise ConfigError(f"lines {start}..{end} are outside the text's {len(lines)} lines")
    taken, size = [], 0
    for line in lines[first - 1:last]:
        if taken and size + len(line) > MAX_CHARS:
            break
        taken.append(line[:MAX_CHARS])
        size += len(line)
    shown_last = first + len(taken) - 1
    return {"start_line": first, "end_line": shown_last, "total_lines": len(lines),
            "truncated": shown_last < last, "text": "".join(taken)}
