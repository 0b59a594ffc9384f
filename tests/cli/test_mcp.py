"""`docsearch mcp` as an agent meets it: the SDK's own client starts the server over stdio, and its
search answers what `docsearch search --json` prints. Real model, real embedded Qdrant."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from helpers import REPO, write_files

pytestmark = pytest.mark.slow
mcp = pytest.importorskip("mcp")

FILES = {
    "garden/tomatoes.md": "# Growing tomatoes\n\nStake the plants.\n\nWater them deeply twice a week, at the roots.\n",
    "space/telescopes.txt": "A reflecting telescope uses a curved mirror to gather faint starlight.\n",
    "net/routing.rst": "Routing\n=======\n\nRouters forward packets between networks using routing tables.\n",
    "kitchen/bread.md": "# Sourdough\n\nFeed the starter and let the dough rise overnight before baking.\n",
}
QUERY = "how deeply should I water my plants"


def env(home: Path) -> dict[str, str]:
    return {"PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "DOCSEARCH_HOME": str(home)}


def ds(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "docsearch", *args], env={**os.environ, **env(home)},
                          capture_output=True, text=True, timeout=300)


async def session_calls(home: Path, calls: list[tuple[str, dict[str, Any]]]) -> tuple[Any, list[str], list[Any]]:
    params = mcp.StdioServerParameters(command=sys.executable, args=["-m", "docsearch", "mcp", "--index", "notes"],
                                       env=env(home), cwd=str(home.parent))
    async with mcp.stdio_client(params) as (read, write), mcp.ClientSession(read, write) as session:
        init = await session.initialize()
        tools = [t.name for t in (await session.list_tools()).tools]
        results = [await session.call_tool(name, arguments) for name, arguments in calls]
    return init, tools, results


def test_the_server_answers_initialize_tools_and_search_as_the_cli_does(tmp_path: Path) -> None:
    root, home = write_files(tmp_path / "docs", FILES), tmp_path / "indexes"
    built = ds(home, "index", str(root), "--index", "notes", "--quiet")
    assert built.returncode == 0, built.stderr
    cli = ds(home, "search", QUERY, "--index", "notes", "-k", "3", "--json")
    assert cli.returncode == 0, cli.stderr
    expected = json.loads(cli.stdout)

    init, tools, (found, doc, lines, refused, listed) = asyncio.run(session_calls(home, [
        ("search", {"query": QUERY, "k": 3}),
        ("get_document", {"doc": "garden/tomatoes.md"}),
        ("get_document", {"path": "garden/tomatoes.md", "start_line": 5, "end_line": 5}),
        ("get_document", {"path": "/etc/passwd"}),
        ("list_indexes", {}),
    ]))

    assert init.server_info.name == "docsearch" and "search" in (init.instructions or "")
    assert tools == ["search", "get_document", "list_indexes", "index_info"]
    assert not found.is_error and found.structured_content == expected  # the same objects, scores included
    assert json.loads(found.content[0].text) == expected  # and the same JSON as text, for clients without structure
    assert expected["results"][0]["path"] == "garden/tomatoes.md" and expected["results"][0]["line"] == 5
    assert doc.structured_content["text"].startswith("# Growing tomatoes")
    assert lines.structured_content["text"] == "Water them deeply twice a week, at the roots.\n"
    assert refused.is_error and "only indexed files can be read" in refused.content[0].text
    assert [i["name"] for i in listed.structured_content["indexes"]] == ["notes"]
