"""The interactive session: the parser and loop in-process, then the real program in a pseudo-terminal."""

from __future__ import annotations

import fnmatch
import io
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pexpect
import pytest
from rich.console import Console

from docsearch.cli.interactive import (
    COMMANDS,
    FEEDBACK_FILE,
    Command,
    ParseError,
    Session,
    help_lines,
    parse_command,
    query_terms,
    viewer_command,
)
from docsearch.cli.prefetch import Prefetcher, QueryVectors
from docsearch.errors import StoreError
from docsearch.types import Hit

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO / "data" / "corpus"
DOCSEARCH = Path(sys.executable).with_name("docsearch")

# --- the parser ----------------------------------------------------------------------------


@pytest.mark.parametrize(("line", "expected"), [
    ("", Command("empty")),
    ("   ", Command("empty")),
    ("how do tides work", Command("search", text="how do tides work")),
    ("  padded query  ", Command("search", text="padded query")),
    (":k 5", Command("k", number=5)),
    (":K   7 ", Command("k", number=7)),
    (":more", Command("more")),
    (":open 3", Command("open", number=3)),
    (":edit 2", Command("edit", number=2)),
    (":filter notes/*.md", Command("filter", text="notes/*.md")),
    (":filter", Command("filter")),
    (":mode hybrid", Command("mode", text="hybrid")),
    (":mode SPARSE", Command("mode", text="sparse")),
    (":json", Command("json")),
    (":good", Command("good", number=1)),
    (":good 4", Command("good", number=4)),
    (":bad 2", Command("bad", number=2)),
    (":bad", Command("bad", number=1)),
    (":help", Command("help")),
    (":?", Command("help")),
    (":q", Command("quit")),
    (":quit", Command("quit")),
    (":exit", Command("quit")),
])
def test_parse_command(line: str, expected: Command) -> None:
    assert parse_command(line) == expected


@pytest.mark.parametrize(("line", "says"), [
    (":frobnicate", "unknown command :frobnicate"),
    (":", "unknown command"),
    (":k", "usage: :k N"),
    (":k zero", "usage: :k N"),
    (":k 0", "usage: :k N"),
    (":k -3", "usage: :k N"),
    (":k 1000", "usage: :k N"),
    (":open", "usage: :open N"),
    (":open x", "usage: :open N"),
    (":good first", "usage: :good [N]"),
    (":mode", "usage: :mode auto|dense|sparse|hybrid"),
    (":mode fuzzy", "usage: :mode"),
    (":more 2", "usage: :more"),
    (":json please", "usage: :json"),
])
def test_parse_errors_are_one_line_of_help(line: str, says: str) -> None:
    result = parse_command(line)
    assert isinstance(result, ParseError)
    assert says in result.message and "\n" not in result.message


def test_help_has_one_line_per_command() -> None:
    lines = help_lines()
    assert len(lines) == len(COMMANDS) + 1
    for name, line in zip(COMMANDS, lines, strict=False):
        assert f":{name}" in line and "\n" not in line
    assert all(len(line) <= 80 for line in lines)


def test_query_terms_keep_words_worth_emphasising() -> None:
    assert query_terms("How do I grow Tomatoes? tomatoes!") == ["how", "grow", "tomatoes"]


@pytest.mark.parametrize(("program", "expected"), [
    ("less", ["less", "+12", "/f.txt"]),
    ("less -R", ["less", "-R", "+12", "/f.txt"]),
    ("/usr/bin/vim", ["/usr/bin/vim", "+12", "/f.txt"]),
    ("cat", ["cat", "/f.txt"]),
    ("code --wait", ["code", "--wait", "-g", "/f.txt:12"]),
    ("hx", ["hx", "/f.txt:12"]),
])
def test_viewer_command_puts_the_line_where_each_program_wants_it(program: str, expected: list[str]) -> None:
    assert viewer_command(program, "/f.txt", 12) == expected


def test_viewer_command_without_a_line() -> None:
    assert viewer_command("less", "/f.txt", None) == ["less", "/f.txt"]


# --- query vectors: cache, lock, prefetch ------------------------------------------------------


class CountingEncoder:
    model_id, fingerprint, variant, dim, max_tokens = "m", "f", "siamese", 2, 16

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.busy = threading.Lock()

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        assert self.busy.acquire(blocking=False), "two threads inside the model at once"
        try:
            self.seen.extend(texts)
            time.sleep(0.01)
            return np.array([[len(t), 1.0] for t in texts], dtype=np.float32)
        finally:
            self.busy.release()

    def encode_documents(self, texts: list[str]) -> np.ndarray:
        return self.encode_queries(texts)


def test_query_vectors_load_lazily_and_encode_each_query_once() -> None:
    inner = CountingEncoder()
    loads: list[int] = []
    vectors = QueryVectors(lambda: loads.append(1) or inner, "m", "f")  # type: ignore[arg-type,func-returns-value]
    assert not loads
    first = vectors.encode_queries(["tides", "moon"])
    again = vectors.encode_queries(["tides"])
    assert first.shape == (2, 2) and again[0].tolist() == first[0].tolist()
    assert inner.seen == ["tides", "moon"] and loads == [1]


def test_query_vectors_serialise_threads() -> None:
    vectors = QueryVectors(CountingEncoder, "m", "f")  # type: ignore[arg-type]
    threads = [threading.Thread(target=vectors.encode_queries, args=([f"q{i}"],)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert vectors.encode_queries(["q3"])[0][0] == 2  # all done, none raised inside the model


def test_prefetcher_works_on_the_line_once_typing_pauses() -> None:
    done: list[str] = []
    prefetcher = Prefetcher(done.append, pause=0.05)
    for prefix in ("h", "ho", "how", "how do"):
        prefetcher.offer(prefix)
        time.sleep(0.005)
    time.sleep(0.3)
    prefetcher.offer("tides")
    time.sleep(0.3)
    prefetcher.stop()
    assert done == ["how do", "tides"]


# --- the loop, in-process, with a stand-in searcher -------------------------------------------


class FakeSearcher:
    meta = SimpleNamespace(model="fake-model")

    def __init__(self, n: int = 5) -> None:
        self.hits = [Hit(rank=i, score=1 / i, doc=f"d{i}", title=f"Doc {i}", path=f"{'ab'[i % 2]}/{i}.txt", chunk=0,
                         text=f"Document {i} is about apples. It has a second sentence.") for i in range(1, n + 1)]
        self.calls: list[dict[str, Any]] = []
        self.closed = False

    def search(self, query: str, k: int = 10, mode: str = "dense", path_glob: str | None = None,
               fusion: object = None, offset: int = 0, where: object = None, collapse: bool = False) -> list[Hit]:
        self.calls.append({"query": query, "k": k, "mode": mode, "path_glob": path_glob, "offset": offset})
        if query == "boom":
            raise StoreError("the store is down")
        pool = [h for h in self.hits if path_glob is None or fnmatch.fnmatchcase(h.path, path_glob)]
        return pool[offset:offset + k]

    def matching_paths(self, glob: str) -> list[str]:
        return [h.path for h in self.hits if fnmatch.fnmatchcase(h.path, glob)]

    def document_text(self, doc: str) -> str | None:
        return f"whole text of {doc}"

    def doc_chunks(self, doc: str) -> list[dict[str, Any]]:
        return []

    def close(self) -> None:
        self.closed = True


def run_lines(tmp_path: Path, lines: list[str], k: int = 2) -> tuple[str, FakeSearcher]:
    searcher = FakeSearcher()
    out = io.StringIO()
    session = Session(lambda: searcher, Console(file=out, width=100), tmp_path, name="t", k=k)  # type: ignore[arg-type,return-value]
    feed = iter(lines)

    def read_line() -> str:
        line = next(feed, None)
        if line is None:
            raise EOFError
        return line

    session.run(read_line)
    return out.getvalue(), searcher


def test_session_pages_and_records_feedback(tmp_path: Path) -> None:
    out, searcher = run_lines(tmp_path, ["apples", ":more", ":good 3", ":bad", ":more", ":more"])
    assert "results 1-2" in out and "results 3-4" in out and "results 5-5" in out and "no more results" in out
    assert [c["offset"] for c in searcher.calls] == [0, 2, 4, 5]
    rows = [json.loads(line) for line in (tmp_path / FEEDBACK_FILE).read_text().splitlines()]
    assert rows == [
        {"query": "apples", "doc": "d3", "text": searcher.hits[2].text, "label": 1},
        {"query": "apples", "doc": "d1", "text": searcher.hits[0].text, "label": 0},
    ]
    assert searcher.closed


def test_session_errors_are_one_line_and_the_session_goes_on(tmp_path: Path) -> None:
    out, searcher = run_lines(tmp_path, [":open 1", "boom", ":good 9", ":frob", "apples", ":q", "never read"])
    assert "needs results: type a query first" in out
    assert "error: the store is down" in out
    assert "unknown command :frob" in out
    assert "results 1-2" in out and "Traceback" not in out
    assert [c["query"] for c in searcher.calls] == ["boom", "apples"]  # nothing after :q


def test_session_settings_rerun_the_last_query(tmp_path: Path) -> None:
    out, searcher = run_lines(tmp_path, ["apples", ":k 3", ":mode sparse", ":filter a/*", ":filter nowhere/*",
                                         ":filter", ":json"])
    modes = [(c["k"], c["mode"], c["path_glob"]) for c in searcher.calls]
    assert modes == [(2, "auto", None), (3, "auto", None), (3, "sparse", None), (3, "sparse", "a/*"),
                     (3, "sparse", None)]
    assert "no indexed path matches 'nowhere/*'" in out
    last = json.loads(out.strip().splitlines()[-1])
    assert last["query"] == "apples" and [r["rank"] for r in last["results"]] == [1, 2, 3]


# --- the real program in a pseudo-terminal -----------------------------------------------------

_ANSI = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[()][0-9A-Za-z]|[@-Z\\-_=>])")
UP, CTRL_C, CTRL_R, CPR = "\x1b[A", "\x03", "\x12", "\x1b[6n"
ROWS, COLUMNS = 40, 120


class Terminal:
    """A docsearch process on a pty; ``wait`` reads its screen output with escape codes removed."""

    def __init__(self, home: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.child = pexpect.spawn(str(DOCSEARCH), ["search", "--home", str(home), "--index", "t", *args],
                                   env=env or session_env(home), dimensions=(ROWS, COLUMNS), encoding="utf-8",
                                   codec_errors="replace", timeout=120)
        self.child.delaybeforesend = None  # pexpect's default 50 ms pause before each send buys nothing here
        self.raw, self.seen = "", 0

    @property
    def text(self) -> str:
        return _ANSI.sub("", self.raw).replace("\r", "")

    def wait(self, pattern: str, timeout: float = 60) -> str:
        """Everything new up to and including ``pattern`` (a regex); fails with the screen's tail."""
        deadline = time.monotonic() + timeout
        while True:
            text = self.text
            found = re.search(pattern, text[self.seen:])
            if found:
                chunk = text[self.seen:self.seen + found.end()]
                self.seen += found.end()
                return chunk
            if time.monotonic() > deadline or not self.child.isalive():
                pytest.fail(f"never saw {pattern!r}; the screen ends with:\n{text[-3000:]}")
            try:
                chunk = self.child.read_nonblocking(65536, timeout=0.2)
            except pexpect.TIMEOUT:
                continue
            except pexpect.EOF:
                time.sleep(0.05)
                continue
            self.raw += chunk
            # Answer cursor-position requests as a terminal would: prompt_toolkit then shows its toolbar.
            for _ in range(chunk.count(CPR)):
                self.child.send(f"\x1b[{ROWS};1R")

    def prompt(self) -> None:
        self.wait(r"t (auto|dense|sparse|hybrid)>")

    def enter(self, line: str, until: str, timeout: float = 60) -> str:
        """Type a line at a fresh prompt, press Enter, return what it printed up to ``until``."""
        self.child.send(line + "\r")
        return self.wait(until, timeout)

    def quit_with_ctrl_d(self) -> int:
        self.child.sendcontrol("d")
        self.child.expect(pexpect.EOF, timeout=60)
        self.child.close()
        return int(self.child.exitstatus)


def session_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("DOCSEARCH_") and k not in ("COLUMNS", "LINES", "NO_COLOR", "FORCE_COLOR", "VISUAL")}
    fake_vim = home / "bin" / "vim"  # named vim so the session passes +LINE; it only says what it got
    if not fake_vim.exists():
        fake_vim.parent.mkdir(exist_ok=True)
        fake_vim.write_text('#!/bin/sh\necho "EDITOR-ARGS $*"\n')
        fake_vim.chmod(0o755)
    env.pop("PROMPT_TOOLKIT_NO_CPR", None)
    env.update(TERM="xterm-256color", PAGER="cat", EDITOR=str(fake_vim), HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    return env


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("interactive")
    subprocess.run([str(DOCSEARCH), "index", str(CORPUS), "--home", str(home), "--index", "t", "--quiet"],
                   check=True, env=session_env(home), timeout=300)
    return home


@pytest.fixture(scope="module")
def term(home: Path) -> Iterator[Terminal]:
    """One session shared by the checks below (the model loads once); each check types its own query."""
    t = Terminal(home)
    t.prompt()
    yield t
    if t.child.isalive():
        t.child.terminate(force=True)


def results(screen: str) -> list[tuple[int, str]]:
    """(rank, path) of each result header on the screen."""
    return [(rank, path) for rank, path, _ in headers(screen)]


def headers(screen: str) -> list[tuple[int, str, str]]:
    """(rank, path, document id) of each result header; the id is shown only when it is not the path."""
    # rank, score, title, then the path (":line" for text, ", page 4" and the like for a place), the
    # id when it is not the path, and "+N near-duplicates (:dupes R)" when copies fold under it.
    pattern = r"^ *(\d+) -?[\d.]+ .*?  (\S+\.\w+)(?::\d+)?(?:, .*?)?(?:  id (.*?))?(?:  \+\d+ near-duplicates? \(:dupes \d+\))?$"
    return [(int(m[1]), m[2], m[3] or m[2]) for m in re.finditer(pattern, screen, re.M)]


@pytest.mark.slow
def test_query_shows_ranked_results_and_the_time(term: Terminal) -> None:
    screen = term.enter("how do I grow tomatoes", r"results 1-\d+ · [\d.]+ ms.*\n")
    found = results(screen)
    assert found[0] == (1, "gardening/growing-tomatoes.txt")
    assert [rank for rank, _ in found] == list(range(1, len(found) + 1))
    assert "tomatoes" in screen.split("growing-tomatoes.txt", 1)[1]  # a snippet under the header
    term.prompt()


@pytest.mark.slow
def test_k_and_more_page_through_results(term: Terminal) -> None:
    term.enter("how do I grow tomatoes", r"results 1-\d+ · .*\n")
    term.prompt()
    assert [r for r, _ in results(term.enter(":k 2", r"results 1-2 · .*\n"))] == [1, 2]
    term.prompt()
    assert [r for r, _ in results(term.enter(":more", r"results 3-4 · .*\n"))] == [3, 4]
    term.prompt()
    term.enter(":k 10", r"results 1-10 · .*\n")
    term.prompt()


@pytest.mark.slow
def test_open_shows_the_whole_document_in_the_pager(term: Terminal) -> None:
    term.enter("sowing tomato seeds indoors", r"results 1-\d+ · .*\n")
    term.prompt()
    page = term.enter(":open 1", r"water the soil rather than the foliage\.")  # the file's last line, past any snippet
    assert "Tomatoes are warm-season plants" in page  # its first line
    term.prompt()
    term.enter("photosynthesis chloroplasts sugar", r"results 1-\d+ · .*\n")  # a CSV record: no file to open
    term.prompt()
    page = term.enter(":open 1", r"It takes place mainly in the chloroplasts of leaf cells\.")
    assert "records/glossary.csv" in page
    term.prompt()


@pytest.mark.slow
def test_edit_opens_the_source_file_at_the_matching_line(term: Terminal) -> None:
    term.enter("blossom end rot from irregular watering", r"results 1-\d+ · .*\n")
    term.prompt()
    line = term.enter(":edit 1", r"EDITOR-ARGS .*\n")
    m = re.search(r"EDITOR-ARGS \+(\d+) (\S+)", line)
    assert m and m[2].endswith("gardening/growing-tomatoes.txt")
    lines = Path(m[2]).read_text().splitlines()
    assert "blossom end rot" in lines[int(m[1]) - 1] or "Irregular watering" in lines[int(m[1]) - 1]
    term.prompt()


@pytest.mark.slow
def test_filter_restricts_paths_and_clears(term: Terminal) -> None:
    term.enter("how do I grow tomatoes", r"results 1-\d+ · .*\n")
    term.prompt()
    found = results(term.enter(":filter cooking/*", r"results 1-\d+ · .*\n"))
    assert found and all(path.startswith("cooking/") for _, path in found)
    term.prompt()
    found = results(term.enter(":filter", r"results 1-\d+ · .*\n"))
    assert found[0][1] == "gardening/growing-tomatoes.txt"
    term.prompt()


@pytest.mark.slow
def test_mode_switches_retrieval_and_shows_in_the_prompt(term: Terminal) -> None:
    term.enter("tcp three-way handshake", r"results 1-\d+ · .*\n")
    term.prompt()
    screen = term.enter(":mode sparse", r"results 1-\d+ · .*\n")
    assert results(screen)[0][1] == "networking/tcp-handshake.md"
    term.wait(r"t sparse>")
    term.wait(r"t · all-MiniLM-L6-v2 · mode sparse · k \d+ · no filter")  # the toolbar
    term.enter(":mode hybrid", r"results 1-\d+ · .*\n")
    term.wait(r"t hybrid>")
    term.enter(":mode dense", r"results 1-\d+ · .*\n")
    term.wait(r"t dense>")


@pytest.mark.slow
def test_json_toggles_machine_readable_output(term: Terminal) -> None:
    term.enter("solar eclipse", r"results 1-\d+ · .*\n")
    term.prompt()
    screen = term.enter(":json", r'\{"query".*\}\n')
    payload = json.loads(screen[screen.index('{"query"'):].splitlines()[0])
    assert payload["query"] == "solar eclipse" and payload["results"][0]["rank"] == 1
    term.prompt()
    term.enter(":json", "JSON output off")
    term.prompt()


@pytest.mark.slow
def test_good_and_bad_append_training_rows(term: Terminal, home: Path) -> None:
    feedback = home / "t" / FEEDBACK_FILE
    feedback.unlink(missing_ok=True)
    screen = term.enter("how do vaccines train the immune system", r"results 1-\d+ · .*\n")
    shown = {rank: doc for rank, _, doc in headers(screen)}
    term.prompt()
    assert str(feedback) in term.enter(":good", r"as relevant → .*\n")
    term.prompt()
    term.enter(":bad 2", r"as not relevant → .*\n")
    term.prompt()
    rows = [json.loads(line) for line in feedback.read_text().splitlines()]
    query = "how do vaccines train the immune system"
    assert [(r["query"], r["label"]) for r in rows] == [(query, 1), (query, 0)]
    assert rows[0]["doc"] == shown[1] == "medicine/how-vaccines-work.txt" and "vaccin" in rows[0]["text"].lower()
    assert rows[1]["doc"] == shown[2] and rows[1]["text"]
    pairs = pytest.importorskip("docsearch.train.pairs")  # what `docsearch train` reads
    assert pairs.load_training_data(feedback).rows == 2


@pytest.mark.slow
def test_mistakes_get_one_line_of_help(term: Terminal) -> None:
    said = term.enter(":frobnicate", r"unknown command.*\n")
    assert said.splitlines()[-1] == "unknown command :frobnicate; type :help for the list"
    term.prompt()
    assert "usage: :k N" in term.enter(":k lots", r"usage.*\n")
    term.prompt()
    assert "no result 99" in term.enter(":open 99", r"no result.*\n")
    term.prompt()
    helped = term.enter(":help", r"anything else.*\n")
    assert all(f":{name}" in helped for name in COMMANDS)
    term.prompt()
    term.child.send("\r")  # an empty line does nothing but prompt again
    term.prompt()
    assert "Traceback" not in term.text


@pytest.mark.slow
def test_ctrl_c_abandons_the_line_and_keeps_the_session(term: Terminal, home: Path) -> None:
    term.child.send("abandoned words")
    term.wait("abandoned words")
    term.child.send(CTRL_C)
    term.prompt()
    screen = term.enter("sourdough starter", r"results 1-\d+ · .*\n")
    assert results(screen)[0][1] == "cooking/sourdough-starter.md"
    term.prompt()
    assert "abandoned" not in (home / "t" / "history").read_text()


@pytest.mark.slow
def test_ctrl_r_finds_an_earlier_query(term: Terminal) -> None:
    term.enter("how do vaccines work", r"results 1-\d+ · .*\n")
    term.prompt()
    term.enter(":k 3", r"results 1-3 · .*\n")
    term.prompt()
    term.child.send(CTRL_R)
    term.wait(r"reverse-i-search")
    term.child.send("vacc")
    term.wait(r"vacc.*how do vaccines work")
    term.child.send("\r")  # leaves the search with the line found; a second Enter runs it
    term.prompt()
    screen = term.enter("", r"results 1-\d+ · .*\n")
    assert results(screen)[0][1] == "medicine/how-vaccines-work.txt"
    term.prompt()
    term.enter(":k 10", r"results 1-10 · .*\n")
    term.prompt()


@pytest.mark.slow
def test_ctrl_d_exits_zero_and_history_survives_a_restart(term: Terminal, home: Path) -> None:
    term.enter("how do volcanoes erupt", r"results 1-\d+ · .*\n")
    term.prompt()
    assert term.quit_with_ctrl_d() == 0
    assert (home / "t" / "history").read_text().rstrip().endswith("+how do volcanoes erupt")

    again = Terminal(home, "--mode", "sparse")  # sparse: answers before the model has loaded
    again.prompt()
    again.child.send(UP)
    again.wait("how do volcanoes erupt")
    screen = again.enter("", r"results 1-\d+ · .*\n")
    assert results(screen)[0][1] == "geology/volcanoes.pdf"
    again.prompt()
    again.child.terminate(force=True)  # :q would first wait for the model still loading in the background
