"""The MCP server behind ``docsearch mcp``: docsearch.tools over stdio, on the official SDK (``mcp`` 2).

Imported only when the command runs, so ``docsearch --help`` loads neither the SDK nor pydantic.
Every call runs on one worker thread that owns the :class:`Tools`, and so every open index and
model: SQLite connections and the store stay on the thread that opened them, calls never overlap,
and the event loop keeps answering (pings, cancellations) while a search runs. The default index
and its model load at start-up on that thread, so the first search does not wait for them.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Annotated, Any, Literal, Optional, TypeVar

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import Field

from ..errors import DocsearchError
from ..settings import Settings
from ..tools import MAX_K, Tools
from .app import err, version

T = TypeVar("T")

INSTRUCTIONS = (
    "Semantic search over local documents indexed by docsearch (by meaning and by keywords). Use `search` to find "
    "the passages that answer a question; each result gives the file's path, the line of its best sentence, a "
    "score and the passage. `get_document` reads a result's whole text (doc) or lines of an indexed file (path). "
    "`list_indexes` and `index_info` say what can be searched."
)
READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False)

IndexArg = Annotated[Optional[str], Field(description="Index to use (default: the one the server was started with).")]


def build_server(settings: Settings) -> tuple[MCPServer, Callable[[], None]]:
    """The server, its tools registered, and what closes its indexes when it stops."""
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="docsearch")
    tools = Tools(settings)
    server = MCPServer("docsearch", version=version(), instructions=INSTRUCTIONS, log_level="WARNING")

    async def call(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        try:
            return await asyncio.wrap_future(pool.submit(functools.partial(fn, *args, **kwargs)))
        except DocsearchError as exc:  # the one line the CLI would print: the agent can act on it
            raise ToolError(" ".join(str(exc).split())) from None

    @server.tool(annotations=READ_ONLY)
    async def search(
        query: Annotated[str, Field(description="What to look for, in words: a question or a description.")],
        k: Annotated[Optional[int], Field(ge=1, le=MAX_K, description="Number of documents (default 10).")] = None,
        mode: Annotated[Literal["auto", "dense", "sparse", "hybrid"], Field(
            description="auto: meaning and keywords fused as the index chose (best in general); dense: meaning only; "
                        "sparse: BM25 keywords only; hybrid: the index's tuned fusion.")] = "auto",
        path: Annotated[Optional[str], Field(
            description="Only files whose path (relative to the indexed folder) matches this glob, e.g. 'docs/*'.")] = None,
        index: IndexArg = None,
    ) -> dict[str, Any]:
        """Search the index by meaning; returns ranked documents, each with its best passage: rank, score, doc
        (id), title, path, line (of the best sentence, for plain text files), chunk and text (the passage). The
        same JSON as `docsearch search QUERY --json`."""
        return await call(tools.search, query, k, mode, path, index)

    @server.tool(annotations=READ_ONLY)
    async def get_document(
        doc: Annotated[Optional[str], Field(description="A search result's doc: its whole text as indexed.")] = None,
        path: Annotated[Optional[str], Field(
            description="A search result's path (or the file's absolute path): the file's text as read now.")] = None,
        start_line: Annotated[Optional[int], Field(ge=1, description="First line (1-based; default 1).")] = None,
        end_line: Annotated[Optional[int], Field(ge=1, description="Last line, inclusive (default: the end).")] = None,
        index: IndexArg = None,
    ) -> dict[str, Any]:
        """Read a document whole, or a range of its lines: give doc or path. Only files the index holds can be
        read. A long text is cut at a line (truncated: true; end_line says where): ask for the next lines."""
        return await call(tools.get_document, doc, path, start_line, end_line, index)

    @server.tool(annotations=READ_ONLY)
    async def list_indexes() -> dict[str, Any]:
        """The indexes that can be searched, with their model and document count, and which is the default."""
        return await call(tools.list_indexes)

    @server.tool(annotations=READ_ONLY)
    async def index_info(index: IndexArg = None) -> dict[str, Any]:
        """What an index holds: sources, documents, chunks, languages, model, chunking, fusion, size on disk
        (the JSON of `docsearch info --json`)."""
        return await call(tools.index_info, index)

    def warm() -> None:
        try:
            tools.warm()
        except DocsearchError as exc:  # said now, and again by each call that needs the index
            err.print(f"[yellow]docsearch mcp:[/] {' '.join(str(exc).split())}", highlight=False, soft_wrap=True)

    pool.submit(warm)

    def close() -> None:
        pool.submit(tools.close).result()
        pool.shutdown()

    return server, close
