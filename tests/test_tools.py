"""What the MCP server's tools answer (docsearch.tools), in-process. Fast: a fake encoder, the real
embedded store."""

from __future__ import annotations

from pathlib import Path

import pytest
from fakes import FakeEncoder
from helpers import write_files

from docsearch import ConfigError, DocsearchError, Index, Settings, update_index
from docsearch.answers import search_answer
from docsearch.searcher import Searcher
from docsearch.tools import MAX_CHARS, Tools

FILES = {
    "notes/kayak.md": "# Kayaks\n\nA sea kayak tracks straight.\n\nPaddle with the torso, not the arms.\n",
    "notes/bread.txt": "Sourdough needs a lively starter.\nFeed it flour and water daily.\n",
    "records.jsonl": '{"_id": "r1", "title": "Tides", "text": "Tides follow the moon."}\n'
                     '{"_id": "r2", "title": "Waves", "text": "Wind makes waves."}\n',
    "secret.png": b"\x89PNG\r\n\x1a\n" + bytes(32),
}


@pytest.fixture
def tools(tmp_path: Path) -> Tools:
    root = write_files(tmp_path / "docs", FILES)
    settings = Settings(home=tmp_path / "home", index="notes")
    with Index.open_or_create(settings) as index:
        update_index(index, [root], encoder=FakeEncoder())
    with Tools(settings, encoder=FakeEncoder()) as opened:
        yield opened


def test_search_answers_what_search_json_prints(tools: Tools) -> None:
    answer = tools.search("sea kayak paddle", k=2)
    with Searcher.open(tools.settings, FakeEncoder()) as searcher:
        hits = searcher.search("sea kayak paddle", 2)
        expected = search_answer("sea kayak paddle", hits, *searcher.answering("auto"))
    assert answer == expected
    first = answer["results"][0]
    assert first["path"] == "notes/kayak.md" and first["line"] >= 1
    assert set(first) == {"rank", "score", "doc", "title", "path", "line", "chunk", "text"}
    assert {r["path"] for r in tools.search("water", k=5, path="notes/*")["results"]} <= {"notes/kayak.md", "notes/bread.txt"}
    assert tools.searcher() is tools.searcher()  # opened once


def test_search_refuses_bad_arguments_in_one_line(tools: Tools) -> None:
    for bad in ({"query": " "}, {"query": "x", "k": 0}, {"query": "x", "k": 1000}, {"query": "x", "mode": "fuzzy"},
                {"query": "x", "index": "../etc"}):
        with pytest.raises(DocsearchError):
            tools.search(**bad)  # type: ignore[arg-type]
    with pytest.raises(DocsearchError, match="no index 'other'"):
        tools.search("x", index="other")


def test_get_document_by_doc_and_by_path_with_lines(tools: Tools) -> None:
    whole = tools.get_document(doc="notes/kayak.md")
    assert whole["text"].startswith("# Kayaks") and whole["path"] == "notes/kayak.md" and whole["title"] == "Kayaks"
    assert tools.get_document(doc="r2")["text"] == "Waves\n\nWind makes waves."
    lines = tools.get_document(path="notes/bread.txt", start_line=2, end_line=2)
    assert (lines["text"], lines["start_line"], lines["end_line"], lines["total_lines"]) == (
        "Feed it flour and water daily.\n", 2, 2, 2)
    key = next(k for k in tools.searcher().index.manifest.rows() if k.endswith("bread.txt"))
    absolute = tools.get_document(path=key)  # the file's absolute path works too
    assert absolute["text"].startswith("Sourdough") and absolute["path"] == "notes/bread.txt"


def test_get_document_reads_only_what_the_index_holds(tools: Tools, tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("not indexed\n")
    for path in (str(outside), "/etc/passwd", "secret.png", "../docs/notes/kayak.md"):
        with pytest.raises(ConfigError, match="only indexed files can be read"):
            tools.get_document(path=path)
    with pytest.raises(ConfigError, match="2 records"):
        tools.get_document(path="records.jsonl")
    with pytest.raises(ConfigError, match="either doc"):
        tools.get_document()
    with pytest.raises(DocsearchError, match="no document"):
        tools.get_document(doc="nope")
    with pytest.raises(ConfigError, match="outside"):
        tools.get_document(path="notes/bread.txt", start_line=9)


def test_a_long_text_is_cut_at_a_line(tmp_path: Path) -> None:
    root = write_files(tmp_path / "docs", {"long.txt": "".join(f"line {i} " + "x" * 90 + "\n" for i in range(2000))})
    settings = Settings(home=tmp_path / "home", index="long")
    with Index.open_or_create(settings) as index:
        update_index(index, [root], encoder=FakeEncoder())
    with Tools(settings, encoder=FakeEncoder()) as tools:
        part = tools.get_document(path="long.txt")
        assert part["truncated"] and part["total_lines"] == 2000 and len(part["text"]) <= MAX_CHARS
        assert part["text"].endswith("\n") and part["end_line"] == part["text"].count("\n")
        rest = tools.get_document(path="long.txt", start_line=part["end_line"] + 1)
        assert rest["text"].startswith(f"line {part['end_line']} ")


def test_list_indexes_and_index_info(tools: Tools) -> None:
    listed = tools.list_indexes()
    assert listed["default"] == "notes"
    assert [(i["name"], i["documents"]) for i in listed["indexes"]] == [("notes", 4)]
    assert listed["indexes"][0]["model"].endswith("all-MiniLM-L6-v2")
    info = tools.index_info()
    assert (info["name"], info["sources"], info["documents"]) == ("notes", 3, 4)
    assert info["meta"]["model_id"] == listed["indexes"][0]["model"] and info["meta"]["chunk_tokens"] == 256
