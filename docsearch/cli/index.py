"""`docsearch index` and `docsearch info`."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from ..answers import info_json
from ..errors import ConfigError
from ..index import Index
from ..indexer import IndexProgress, index_paths
from ..ingest.ignore import PathRules
from ..lock import Holder
from ..plan import plan_index
from ..reembed import reembed as reembed_index
from ..reembed import rollback as roll_back
from ..settings import Settings
from ..types import IndexReport, RecordFields
from .app import (
    BackendOpt,
    DeviceOpt,
    EngineWorkersOpt,
    ExcludeOpt,
    GitignoreOpt,
    HomeOpt,
    IncludeOpt,
    IndexOpt,
    ModelOpt,
    UrlOpt,
    WorkersOpt,
    command,
    err,
    out,
    path_rules,
    settings_from,
)
from .render import info_table, print_plan, print_report, report_json


@command(interrupted="the index is consistent; run the same command again to finish")
def index(
    paths: Annotated[Optional[list[Path]], typer.Argument(help="Files and folders to index.")] = None,
    index: IndexOpt = None, model: ModelOpt = None,
    chunk_tokens: Annotated[Optional[int], typer.Option(help="Window size in model tokens (default: the model's max).")] = None,
    overlap: Annotated[Optional[int], typer.Option(help="Tokens shared by consecutive windows.")] = None,
    qdrant_url: UrlOpt = None, home: HomeOpt = None,
    id_field: Annotated[Optional[str], typer.Option(help="Record field holding the id (JSONL/CSV).")] = None,
    title_field: Annotated[Optional[str], typer.Option(help="Record field holding the title.")] = None,
    text_field: Annotated[Optional[str], typer.Option(help="Record field holding the text.")] = None,
    rebuild: Annotated[bool, typer.Option(help="Drop the index and build it again.")] = False,
    reembed: Annotated[bool, typer.Option(help=(
        "Embed the stored chunks again with --model beside the live index, and switch to it when complete "
        "(searches use the old one meanwhile; a rerun resumes an interrupted one)."))] = False,
    rollback: Annotated[bool, typer.Option(help=(
        "Go back to the model and index the last --reembed (or train --apply) replaced; again to undo."))] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only errors.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="List every path passed over or skipped, "
                                          "and every bad record.")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="The whole report as one JSON object on stdout.")] = False,
    backend: BackendOpt = None, device: DeviceOpt = None,
    workers: WorkersOpt = None, engine_workers: EngineWorkersOpt = None,
    wait: Annotated[Optional[bool], typer.Option(
        "--wait/--no-wait", help="If another process is writing this index, wait for it (default: refuse).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help=(
        "Say what would be indexed, skipped (and why) and removed, with counts by type; loads no model, "
        "embeds and writes nothing."))] = False,
    exclude: ExcludeOpt = None, include: IncludeOpt = None, gitignore: GitignoreOpt = None,
) -> None:
    """Index files and folders; a rerun embeds only what changed."""
    s = settings_from(index=index, model=model, chunk_tokens=chunk_tokens, overlap=overlap, qdrant_url=qdrant_url,
                      home=home, backend=backend, device=device, workers=workers, engine_workers=engine_workers,
                      wait=wait, gitignore=gitignore)
    rules = path_rules(s, exclude, include)
    if reembed or rollback:
        if dry_run:
            raise ConfigError("--dry-run plans an index run over paths; it does not go with --reembed or --rollback")
        _switch(s, paths, reembed, rollback, rebuild, quiet)
        return
    if not paths:
        raise ConfigError("give the files and folders to index (or --reembed --model M, or --rollback)")
    defaults = RecordFields()
    fields = RecordFields(id_field or defaults.id, title_field or defaults.title, text_field or defaults.text)
    if dry_run:
        plan = plan_index(s, [str(p) for p in paths], fields, rebuild, rules)
        if json_out:
            sys.stdout.write(json.dumps(plan.to_json(), ensure_ascii=False) + "\n")
        elif not quiet:
            print_plan(out, plan, verbose)
        return
    stop = threading.Event()
    with ctrl_c_stops(stop):
        if quiet:
            report = index_paths(s, [str(p) for p in paths], fields, rebuild, stop=stop, on_wait=waiting_note(s), rules=rules)
        else:
            report = _index_with_progress(s, paths, fields, rebuild, stop, rules)  # progress goes to stderr
    if json_out:
        sys.stdout.write(report_json(report) + "\n")
    elif not quiet:
        print_report(out, report, verbose)


def _switch(s: Settings, paths: list[Path] | None, reembed: bool, rollback: bool, rebuild: bool, quiet: bool) -> None:
    """--reembed and --rollback: change which model and data the index uses, atomically."""
    if paths or rebuild or (reembed and rollback):
        raise ConfigError("--reembed and --rollback take no paths, no --rebuild, and not each other")
    if rollback:
        now, was = roll_back(s)
        if not quiet:
            out.print(f"index {s.index} uses {now.model} again; the index it replaced ({was.model}) is kept: "
                      f"--rollback again returns to it", highlight=False)
        return
    if s.model is None:
        raise ConfigError("--reembed needs the model to embed with: --model NAME_OR_FOLDER")
    if quiet:
        reembed_index(s, s.model)
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("[bold blue]re-embedding"), BarColumn(), MofNCompleteColumn(), TextColumn("chunks"),
                  TimeElapsedColumn(), console=err, transient=True) as bar:
        task = bar.add_task("reembed", total=None)
        report = reembed_index(s, s.model, progress=lambda p: bar.update(task, total=p.total, completed=p.done))
    resumed = f", {report.resumed:,} stored by an interrupted run" if report.resumed else ""
    out.print(f"[green]re-embedded[/] {report.embedded:,} chunks{resumed} in {report.seconds:.1f}s; index {s.index} "
              f"now uses {report.meta.model} (back with: docsearch index --index {s.index} --rollback)", highlight=False)


@contextmanager
def ctrl_c_stops(stop: threading.Event) -> Iterator[None]:
    """For the duration of a run: the first Ctrl-C asks it to stop at its next safe point (within
    a forward pass of the encoder), and says so; later ones only say it is still stopping, since
    killing the process while it closes the shard is what must not happen. The previous handler
    is put back afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    presses = 0

    def on_sigint(signum: int, frame: Any) -> None:
        nonlocal presses
        presses += 1
        stop.set()
        text = ("stopping: finishing the batch being stored…" if presses == 1
                else "still stopping: closing the index so that it stays consistent…")
        os.write(2, f"\n{text}\n".encode())  # no locks taken in a signal handler: not rich's console

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield
    finally:
        # Once a stop was asked for, the process is on its way out: a further Ctrl-C, however soon
        # after the run stopped, must not kill it mid-exit, so the handler stays.
        if not presses:
            signal.signal(signal.SIGINT, previous)


def waiting_note(s: Settings) -> Any:
    def on_wait(holder: Holder | None) -> None:
        who = holder.describe() if holder else "another process"
        err.print(f"[dim]waiting: index {s.index!r} is being written by {who}…[/]", highlight=False)

    return on_wait


def _index_with_progress(s: Settings, paths: list[Path], fields: RecordFields, rebuild: bool,
                         stop: threading.Event, rules: PathRules) -> IndexReport:
    with index_progress() as update:
        return index_paths(s, [str(p) for p in paths], fields, rebuild, progress=update, stop=stop,
                           on_wait=waiting_note(s), rules=rules)


@contextmanager
def index_progress() -> Iterator[Callable[[IndexProgress], None]]:
    """A progress bar on stderr while a run indexes, and the callback that moves it."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("[bold blue]indexing"), BarColumn(), MofNCompleteColumn(), TextColumn("files"),
               TextColumn("{task.fields[chunks]} chunks, {task.fields[rate]:.0f}/s"), TimeElapsedColumn(),
               TextColumn("[dim]{task.fields[current]}"))
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task("index", total=None, chunks=0, rate=0.0, current="")

        def update(p: IndexProgress) -> None:
            bar.update(task, total=p.files_total or None, completed=p.files_done, chunks=p.chunks,
                       rate=p.chunks_per_s, current=p.current[-40:])

        yield update


@command()
def info(index: IndexOpt = None, qdrant_url: UrlOpt = None, home: HomeOpt = None,
         json_out: Annotated[bool, typer.Option("--json", help="One JSON object on stdout: counts and index.json.")] = False,
         ) -> None:
    """Show what an index holds: counts, languages, model, fingerprint, chunking, size on disk."""
    s = settings_from(index=index, qdrant_url=qdrant_url, home=home)
    with Index.open(s) as opened:
        found = opened.info()
    if json_out:
        sys.stdout.write(json.dumps(info_json(found), ensure_ascii=False) + "\n")
    else:
        out.print(info_table(found))
