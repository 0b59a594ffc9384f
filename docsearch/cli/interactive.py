"""The interactive search session: ``docsearch search`` with no query, or ``-I``.

The index is opened once and the model loads in the background while the
first query is typed; afterwards a query costs one encoding (usually done
while it is being typed, see :class:`docsearch.prefetch.Prefetcher`), one store request and one
render. Three parts, each testable alone:

* ``parse_command``: a line -> a :class:`Command` or a :class:`ParseError` (pure);
* :class:`Session`: the loop; it takes a Searcher factory, a Console and a
  line reader, so it runs without a terminal as well as with one;
* ``run_session``: wires the real Searcher, rich Console and prompt_toolkit prompt.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

from rich.console import Console
from rich.text import Text

from ..answers import hit_line
from ..encoders import Encoder, load_query_encoder
from ..errors import ConfigError, DocsearchError
from ..index import Index
from ..model import ModelDir
from ..searcher import MODES, Searcher
from ..settings import Settings
from ..types import Hit
from .learn import learn_here
from .prefetch import Prefetcher, QueryVectors
from .render import hits_json, snippet

HISTORY_FILE = "history"
FEEDBACK_FILE = "feedback.jsonl"
MAX_K = 100
HINT_EVERY = 10  # judgements between two reminders that :learn exists

# --- commands ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Command:
    """One parsed line. ``name`` is a command (``"search"`` for a query, ``"empty"`` for a blank line)."""
    name: str
    number: int | None = None
    text: str | None = None


@dataclass(frozen=True)
class ParseError:
    """A line that is not a usable command; ``message`` is the one line of help to show."""
    message: str


# name -> (usage, one line of help); the order is the order of :help.
COMMANDS: dict[str, tuple[str, str]] = {
    "k": (":k N", "N results per page (shows the last query again)"),
    "more": (":more", "the next page of results"),
    "open": (":open N", "result N whole in $PAGER (a text file at the matching line)"),
    "edit": (":edit N", "result N's file in $EDITOR at the matching line"),
    "filter": (":filter [GLOB]", "only paths matching GLOB (e.g. 'notes/*'); none clears"),
    "mode": (":mode MODE", "dense (by meaning), sparse (keywords, BM25) or hybrid (both)"),
    "json": (":json", "JSON output on/off: this page now, then every result list"),
    "good": (":good [N]", f"result N (default 1) is relevant: a line in {FEEDBACK_FILE}"),
    "bad": (":bad [N]", "result N (default 1) is not relevant"),
    "learn": (":learn", "teach the model your judgements; used only if it ranks better"),
    "similar": (":similar N", "the documents most like result N"),
    "dupes": (":dupes N", "the near-duplicates folded under result N (+N near-duplicates)"),
    "collapse": (":collapse", "fold near-duplicates under the best copy on/off (on by default)"),
    "help": (":help", "this list"),
    "quit": (":quit, :q", "leave (Ctrl-D too)"),
}
_ALIASES = {"q": "quit", "exit": "quit", "h": "help", "?": "help"}
_NO_ARG = {"more", "json", "help", "quit", "learn", "collapse"}
_NUMBER = {"k", "open", "edit", "similar", "dupes"}
_OPTIONAL_NUMBER = {"good", "bad"}


def parse_command(line: str) -> Command | ParseError:
    """A typed line -> what to do. Lines not starting with ':' are queries."""
    text = line.strip()
    if not text:
        return Command("empty")
    if not text.startswith(":"):
        return Command("search", text=text)
    word, _, rest = text[1:].partition(" ")
    name, rest = _ALIASES.get(word.lower(), word.lower()), rest.strip()
    if name not in COMMANDS:
        return ParseError(f"unknown command :{word}; type :help for the list")
    usage = ParseError(f"usage: {COMMANDS[name][0]}  ({COMMANDS[name][1]})")
    if name in _NO_ARG:
        return usage if rest else Command(name)
    if name == "filter":
        return Command(name, text=rest or None)
    if name == "mode":
        return Command(name, text=rest.lower()) if rest.lower() in MODES else ParseError(f"usage: :mode {'|'.join(MODES)}")
    if not rest and name in _OPTIONAL_NUMBER:
        return Command(name, number=1)
    number = int(rest) if rest.isdigit() else 0
    return Command(name, number=number) if number >= 1 and (name != "k" or number <= MAX_K) else usage


def help_lines() -> list[str]:
    """One line per command, for :help."""
    width = max(len(usage) for usage, _ in COMMANDS.values())
    lines = [f"{usage:<{width}}  {text}" for usage, text in COMMANDS.values()]
    return [*lines, f"{'anything else':<{width}}  a query; Up/Down and Ctrl-R recall earlier lines"]


# --- rendering -----------------------------------------------------------------------------

_WORD = re.compile(r"\w+")
_INDENT = 10  # rank (3) + score (5) + spaces: snippets line up under the title


def query_terms(query: str) -> list[str]:
    """The query's words worth emphasising in a snippet (three letters or more, first occurrence)."""
    return list(dict.fromkeys(w.lower() for w in _WORD.findall(query) if len(w) > 2))


def render_hit(console: Console, hit: Hit, terms: Sequence[str]) -> Text:
    """A compact result: a header line, then at most two lines of snippet, so a page fits a screen."""
    width = console.width
    head = Text.assemble((f"{hit.rank:>3} ", "bold cyan"), (f"{hit.score:>5.3f} ", "magenta"), (hit.title or hit.doc, "bold"))
    line = hit_line(hit)
    head.append(f"  {hit.path}{f':{line}' if line else ''}{f', {hit.where}' if hit.where else ''}", style="dim")
    if hit.doc not in (hit.path, hit.title):
        head.append(f"  id {hit.doc}", style="dim")
    if hit.duplicates:
        n = len(hit.duplicates)
        head.append(f"  +{n} near-duplicate{'s' if n > 1 else ''} (:dupes {hit.rank})", style="yellow")
    head.truncate(width, overflow="ellipsis")
    room = max(20, width - _INDENT)
    lines = snippet(hit, terms, width=room * 2).wrap(console, room)
    if len(lines) > 2:
        lines[1].truncate(room - 1)
        lines[1].rstrip()
        lines[1].append("…")
    # Indented by hand (not rich Padding) so lines carry no trailing blanks into copy-and-paste.
    return Text("\n").join([head, *(Text(" " * _INDENT) + ln for ln in lines[:2]), Text("")])


def print_page(console: Console, query: str, hits: Sequence[Hit]) -> None:
    terms = query_terms(query)
    console.print(Text("\n").join(render_hit(console, h, terms) for h in hits), soft_wrap=True)


# --- opening results -----------------------------------------------------------------------

# Programs that take ``+LINE`` before the file; others get just the file.
_PLUS_LINE = {"less", "more", "most", "vi", "vim", "nvim", "view", "gvim", "nano", "pico", "emacs", "emacsclient",
              "micro", "kak", "joe", "jed", "mg", "ne"}
_COLON_LINE = {"hx", "helix", "subl", "zed"}


def viewer_command(program: str, path: str, line: int | None) -> list[str]:
    """argv to show ``path`` at ``line`` with a $PAGER/$EDITOR value (which may carry its own flags)."""
    argv = shlex.split(program)
    name = Path(argv[0]).name
    if line and name in _PLUS_LINE:
        return [*argv, f"+{line}", path]
    if line and name in _COLON_LINE:
        return [*argv, f"{path}:{line}"]
    if line and name in ("code", "codium"):
        return [*argv, "-g", f"{path}:{line}"]
    return [*argv, path]


def run_external(argv: list[str]) -> int:
    """Run a pager or editor on the terminal; Ctrl-C belongs to it while it runs."""
    # A handler (not SIG_IGN, which children would inherit) keeps Ctrl-C from killing us, and
    # exec resets it to the default in the child.
    previous = signal.signal(signal.SIGINT, lambda *_: None)
    try:
        return subprocess.run(argv, check=False).returncode
    except FileNotFoundError:
        raise ConfigError(f"cannot run {argv[0]!r}: no such program (check $PAGER / $EDITOR)") from None
    finally:
        signal.signal(signal.SIGINT, previous)


def _env_program(*names: str) -> str | None:
    for name in names:
        value = os.environ.get(name, "").strip()
        if value:
            return value
    return None


# --- the session ---------------------------------------------------------------------------

ReadLine = Callable[[], str]  # raises EOFError to leave, KeyboardInterrupt to drop the line
Learner = Callable[[Searcher, Console], bool]  # :learn; True when the index now uses a new model


class Session:
    """State and command handling for one interactive session over one index."""
    def __init__(self, open_searcher: Callable[[], Searcher], console: Console, index_dir: Path, *,
                 name: str = "", k: int = 10, mode: str = "auto", path_glob: str | None = None,
                 where: Callable[[str], bool] | None = None,
                 warm_up: Callable[[Searcher], object] | None = None,
                 prefetch: Callable[[Searcher, str], object] | None = None,
                 learner: Learner | None = None, collapse: bool = True) -> None:
        if mode not in MODES:
            raise ConfigError(f"unknown mode {mode!r}: use one of {', '.join(MODES)}")
        self.console, self.index_dir, self.name = console, Path(index_dir), name or Path(index_dir).name
        self.k, self.mode, self.path_glob, self.json = max(1, min(k, MAX_K)), mode, path_glob, False
        self.where = where  # --include / --exclude, for the whole session
        self.collapse = collapse
        self._open_searcher, self.learner, self.judged = open_searcher, learner, 0
        self.searcher = open_searcher()
        self.query: str | None = None
        self.results: dict[int, Hit] = {}  # every result shown for the current query, by rank
        self.page: list[Hit] = []
        self._started = time.perf_counter()
        self._pool: ThreadPoolExecutor | None = None
        self._warm: Future[object] | None = None
        if warm_up is not None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="docsearch-warm-up")
            self._warm = self._pool.submit(warm_up, self.searcher)
        self._prefetcher = Prefetcher(lambda text: prefetch(self.searcher, text)) if prefetch is not None else None

    @property
    def loading(self) -> bool:
        return self._warm is not None and not self._warm.done()

    @property
    def ready(self) -> bool:
        """The model has loaded (or none is needed)."""
        return self._warm is None or (self._warm.done() and self._warm.exception() is None)

    def offer(self, line: str) -> None:
        """The line as typed so far: a query's vector can be computed before Enter."""
        text = line.strip()
        if self._prefetcher is not None and text and not text.startswith(":") and self.mode != "sparse" and self.ready:
            self._prefetcher.offer(text)

    @property
    def feedback_path(self) -> Path:
        return self.index_dir / FEEDBACK_FILE

    def run(self, read_line: ReadLine) -> None:
        """Read and handle lines until Ctrl-D or :quit."""
        try:
            while True:
                try:
                    line = read_line()
                except KeyboardInterrupt:
                    continue  # the prompt drops the line; the session goes on
                except EOFError:
                    break
                if not self.handle(line):
                    break
        finally:
            self.close()

    def handle(self, line: str) -> bool:
        """Do what one line asks; False means leave. Errors become one line, never a traceback."""
        self._started = time.perf_counter()
        command = parse_command(line)
        if isinstance(command, ParseError):
            self.console.print(Text(command.message, style="yellow"))  # not markup: it quotes what was typed
            return True
        if command.name == "quit":
            return False
        try:
            getattr(self, f"_do_{command.name}")(command)
        except KeyboardInterrupt:
            self.console.print("[yellow]interrupted[/]")
        except (DocsearchError, OSError) as exc:
            self.console.print(Text.assemble(("error: ", "bold red"), (str(exc), "red")))
        return True

    def close(self) -> None:
        if self._prefetcher is not None:
            self._prefetcher.stop()
        if self._pool is not None:
            if self.loading:
                self.console.print("[dim]waiting for the model to finish loading…[/]")
            self._pool.shutdown(wait=True)  # a model half-loaded in a thread must not outlive the interpreter
        self.searcher.close()

    # --- results

    def _do_empty(self, _: Command) -> None:
        pass

    def _do_search(self, command: Command) -> None:
        self.query, self.results, self.page = command.text, {}, []
        self._show_page()

    def _do_more(self, _: Command) -> None:
        self._need_query("more")
        self._show_page()

    def _rerun(self) -> None:
        if self.query is not None:
            self.results, self.page = {}, []
            self._show_page()

    def _show_page(self) -> None:
        assert self.query is not None
        offset = max(self.results, default=0)
        hits = self._retrieve(self.query, offset)
        if not hits:
            where = f" under {self.path_glob!r}" if self.path_glob else ""
            what = "no more results" if offset else f"no results for {self.query!r}{where}"
            self.console.print(f"[yellow]{what}[/]", highlight=False)
            return
        self.page = hits
        self.results.update((h.rank, h) for h in hits)
        if self.json:
            self._print_json(self.query, hits)
        else:
            print_page(self.console, self.query, hits)
        self._print_elapsed(f"results {hits[0].rank}-{hits[-1].rank}", more=len(hits) == self.k)

    def _retrieve(self, query: str, offset: int) -> list[Hit]:
        if self.mode != "sparse" and self._warm is not None:
            if self.loading:
                self.console.print("[dim]loading the model…[/]")
            self._warm.result()  # re-raises a failed load here, as one red line
        return self.searcher.search(query, self.k, mode=self.mode, path_glob=self.path_glob, offset=offset,
                                    where=self.where, collapse=self.collapse)

    def _print_elapsed(self, what: str, more: bool) -> None:
        ms = (time.perf_counter() - self._started) * 1000
        hint = f" · :more for the next {self.k}" if more else ""
        self.console.print(f"[dim]{what} · {ms:.1f} ms{hint}[/]", highlight=False)

    def _print_json(self, query: str, hits: Sequence[Hit]) -> None:
        self.console.print(hits_json(query, hits), markup=False, highlight=False, soft_wrap=True, emoji=False)

    # --- settings

    def _do_k(self, command: Command) -> None:
        self.k = command.number or self.k
        self.console.print(f"[dim]{self.k} results per page[/]")
        self._rerun()

    def _do_mode(self, command: Command) -> None:
        self.mode = command.text or self.mode
        self.console.print(f"[dim]mode {self.mode}[/]")
        self._rerun()

    def _do_filter(self, command: Command) -> None:
        glob = command.text
        if glob is None:
            self.path_glob = None
            self.console.print("[dim]filter cleared[/]")
        else:
            matching = self.searcher.matching_paths(glob)
            if not matching:
                self.console.print(f"[yellow]no indexed path matches {glob!r}; the filter is unchanged[/]", highlight=False)
                return
            self.path_glob = glob
            self.console.print(f"[dim]filter {glob} ({len(matching)} source(s))[/]", highlight=False)
        self._rerun()

    def _do_json(self, _: Command) -> None:
        self.json = not self.json
        self.console.print(f"[dim]JSON output {'on' if self.json else 'off'}[/]")
        if self.json and self.query is not None and self.page:
            self._print_json(self.query, self.page)

    def _do_collapse(self, _: Command) -> None:
        self.collapse = not self.collapse
        self.console.print(f"[dim]near-duplicates {'folded' if self.collapse else 'shown'}[/]")
        self._rerun()

    def _do_help(self, _: Command) -> None:
        for line in help_lines():
            self.console.print(line, highlight=False, markup=False, soft_wrap=True)

    # --- acting on one result

    def _need_query(self, what: str) -> str:
        if self.query is None:
            raise ConfigError(f":{what} needs results: type a query first")
        return self.query

    def _result(self, number: int | None, what: str) -> Hit:
        self._need_query(what)
        hit = self.results.get(number or 1)
        if hit is None:
            shown = f"1-{max(self.results)}" if self.results else "none"
            raise ConfigError(f"no result {number} for the last query (shown: {shown})")
        return hit

    def _do_good(self, command: Command) -> None:
        self._judge(command, 1)

    def _do_bad(self, command: Command) -> None:
        self._judge(command, 0)

    def _judge(self, command: Command, label: int) -> None:
        """Append one row ``docsearch train`` reads as it is: the query, the hit's chunk text and the label."""
        hit = self._result(command.number, command.name)
        row = {"query": self.query, "doc": hit.doc, "text": hit.text, "label": label}
        self.feedback_path.parent.mkdir(parents=True, exist_ok=True)
        with self.feedback_path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")  # one write: a whole line or nothing
        verdict = "[green]relevant[/]" if label else "[red]not relevant[/]"
        self.console.print(f"recorded #{hit.rank} {hit.title or hit.doc!r} as {verdict} → {self.feedback_path}",
                           highlight=False)
        self.judged += 1
        if self.learner is not None and self.judged % HINT_EVERY == 0:
            self.console.print(f"[dim]{self.judged} judgements this session: :learn teaches the model from them (or "
                               f"later: docsearch train --index {self.name} --apply); the new model is used only if it "
                               "does better on judgements it has not learned[/]", highlight=False)

    def _do_learn(self, _: Command) -> None:
        """Learn from the index's judgements; when the index switches to the new model, reopen it."""
        if self.learner is None:
            raise ConfigError(f":learn is not available here; run: docsearch train --index {self.name} --apply")
        if self._warm is not None:
            self._warm.result()  # the model in use is needed to rank the judged queries' pools
        if self.learner(self.searcher, self.console):
            self.searcher.close()
            self.searcher = self._open_searcher()
            self.results, self.page = {}, []
            self.console.print("[dim]the session now searches with the new model[/]")

    def _do_similar(self, command: Command) -> None:
        """The documents most like result N (not a new query: the results stay those of the last one)."""
        from ..similar import load_docs, similar

        hit = self._result(command.number, "similar")
        index = self.searcher.index
        target = load_docs(index, [hit.doc]).get(hit.doc)
        if target is None:
            raise ConfigError(f"result {hit.rank} is no longer in the index")
        found = similar(index, target, self.k)
        threshold = self.searcher.duplicate_threshold
        self.console.print(f"[bold]like #{hit.rank}[/] {hit.title or hit.doc} [dim](near-duplicate from "
                           f"{threshold:.3f})[/]", highlight=False)
        print_page(self.console, hit.title, [Hit(s.rank, s.score, s.doc, s.title, s.path, 0, s.passage) for s in found])

    def _do_dupes(self, command: Command) -> None:
        hit = self._result(command.number, "dupes")
        if not hit.duplicates:
            self.console.print(f"[dim]result {hit.rank} has no near-duplicate among the results[/]")
            return
        self.console.print(f"[bold]near-duplicates of #{hit.rank}[/] {hit.title or hit.doc}", highlight=False)
        print_page(self.console, self.query or "", [replace(d, rank=i) for i, d in enumerate(hit.duplicates, start=1)])

    def _do_open(self, command: Command) -> None:
        hit = self._result(command.number, "open")
        source = self._source_file(hit)
        pager = _env_program("PAGER")
        if source is not None and pager:
            run_external(viewer_command(pager, str(source), hit_line(hit)))
            return
        if source is not None:
            text = source.read_text(encoding="utf-8", errors="replace")
        else:
            text = self.searcher.document_text(hit.doc) or hit.text
        self._page_text(hit, text, str(source) if source else hit.path)

    def _do_edit(self, command: Command) -> None:
        hit = self._result(command.number, "edit")
        source = self._source_file(hit)
        if source is None:
            raise ConfigError(f"result {hit.rank} is not a plain text file; :open {hit.rank} shows its text")
        editor = _env_program("VISUAL", "EDITOR")
        if editor is None:
            raise ConfigError("set $EDITOR (or $VISUAL) to edit; :open shows the file")
        run_external(viewer_command(editor, str(source), hit_line(hit)))

    def _page_text(self, hit: Hit, text: str, where: str) -> None:
        line = hit_line(hit)
        with self.console.pager(styles=False):
            self.console.print(f"{hit.title or hit.doc} — {where}{f':{line}' if line else ''}", markup=False,
                               highlight=False, soft_wrap=True)
            self.console.print(text, markup=False, highlight=False, soft_wrap=True, emoji=False)

    def _source_file(self, hit: Hit) -> Path | None:
        """The file on disk when the hit's text is that file's own text (so its line numbers hold)."""
        if hit.line is None:
            return None
        for payload in self.searcher.doc_chunks(hit.doc):
            if payload.get("chunk") == hit.chunk and payload.get("path") == hit.path and payload.get("source"):
                path = Path(str(payload["source"]))
                return path if path.is_file() else None
        return None


# --- the real thing: prompt_toolkit + rich + the index ---------------------------------------


def open_searcher(settings: Settings) -> Searcher:
    """The index, its model behind :class:`QueryVectors`: loaded later (in the background), then shared and cached."""
    index = Index.open(settings)  # checks a --model against the index's own
    vectors = QueryVectors(lambda: session_encoder(index.model, settings), index.meta.model_id, index.meta.fingerprint)
    return Searcher(index, vectors)  # type: ignore[arg-type]


def session_encoder(model: ModelDir, settings: Settings) -> Encoder:
    """The query encoder, on one thread when it is torch's (see below)."""
    encoder = load_query_encoder(model, settings.device, settings.batch_size, settings.backend)
    if encoder.backend.startswith("torch"):
        import torch

        # One query is a few dozen tokens: a second thread gains ~nothing alone and, when the cores
        # are busy (an indexer, a test run), OpenMP's spinning turns a 10 ms encoding into a second.
        torch.set_num_threads(1)
    return encoder


def warm_up_encoder(searcher: Searcher) -> object:
    """Load the model and run it once, off the main thread, so the first query does not pay for it."""
    return searcher.encoder.encode_queries(["warm up"])


def prefetch_query(searcher: Searcher, text: str) -> object:
    return searcher.encoder.encode_queries([text])


def _command_words() -> list[str]:
    return [f":{name}" for name in COMMANDS] + [f":mode {m}" for m in MODES]


def make_prompt(session: Session) -> ReadLine:
    """A prompt_toolkit prompt with per-index history, Ctrl-R search, suggestions and a status toolbar."""
    from prompt_toolkit import PromptSession
    from prompt_toolkit.auto_suggest import AutoSuggestFromHistory
    from prompt_toolkit.completion import WordCompleter
    from prompt_toolkit.history import FileHistory

    completer = WordCompleter(_command_words(), sentence=True, pattern=re.compile(r"^(:\S*( \S*)?)"))
    prompt: PromptSession[str] = PromptSession(
        history=FileHistory(str(session.index_dir / HISTORY_FILE)), auto_suggest=AutoSuggestFromHistory(),
        completer=completer, complete_while_typing=False, bottom_toolbar=lambda: toolbar_text(session),
    )
    prompt.default_buffer.on_text_changed += lambda buffer: session.offer(buffer.text)

    def read_line() -> str:
        # Redraw the toolbar while the model loads so "loading" turns into "ready" by itself.
        return prompt.prompt(prompt_message(session), refresh_interval=0.5 if session.loading else 0)

    return read_line


def prompt_message(session: Session) -> list[tuple[str, str]]:
    return [("bold", session.name), ("", " "), ("ansicyan", session.mode), ("", "> ")]


def toolbar_text(session: Session) -> str:
    parts = [f" {session.name}", str(getattr(session.searcher.meta, "model", "")), f"mode {session.mode}",
             f"k {session.k}", f"filter {session.path_glob}" if session.path_glob else "no filter"]
    if session.json:
        parts.append("json")
    parts.append("loading model…" if session.loading else ":help")
    return " · ".join(p for p in parts if p)


def run_session(settings: Settings, mode: str = "auto", path_glob: str | None = None,
                console: Console | None = None, read_line: ReadLine | None = None,
                where: Callable[[str], bool] | None = None, collapse: bool = True) -> None:
    """Open the index, then answer queries and commands until Ctrl-D or :quit."""
    session = Session(lambda: open_searcher(settings), console or Console(), settings.index_dir, name=settings.index,
                      k=settings.k, mode=mode, path_glob=path_glob, where=where, warm_up=warm_up_encoder, prefetch=prefetch_query,
                      learner=lambda searcher, out: learn_here(settings, searcher, out), collapse=collapse)
    session.console.print(f"[dim]index {settings.index}: type a query, :help for commands, Ctrl-D to leave[/]",
                          highlight=False)
    if read_line is None:
        # Lines piped in (a script, a test harness) get plain reading: no prompt, no toolbar, no history.
        read_line = make_prompt(session) if sys.stdin.isatty() else input
    session.run(read_line)

