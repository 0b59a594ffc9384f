"""`docsearch watch`: index files and folders, then keep the index up to date as they change."""

from __future__ import annotations

import json
import sys
import threading
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape

from ..errors import Interrupted
from ..watch import WatchBatch, watch_paths
from .app import (
    BackendOpt,
    DeviceOpt,
    ExcludeOpt,
    GitignoreOpt,
    HomeOpt,
    IncludeOpt,
    IndexOpt,
    ModelOpt,
    UrlOpt,
    command,
    err,
    out,
    path_rules,
    settings_from,
)
from .index import ctrl_c_stops, index_progress, waiting_note
from .render import print_report

NAMES_SHOWN = 3  # paths named per kind of change on a batch's line


@command(interrupted="the index is consistent")
def watch(
    paths: Annotated[list[Path], typer.Argument(help="Files and folders to index and watch.")],
    index: IndexOpt = None, model: ModelOpt = None, qdrant_url: UrlOpt = None, home: HomeOpt = None,
    backend: BackendOpt = None, device: DeviceOpt = None,
    exclude: ExcludeOpt = None, include: IncludeOpt = None, gitignore: GitignoreOpt = None,
    debounce: Annotated[Optional[int], typer.Option(
        "--debounce", metavar="MS", min=1, help="Gather changes into a batch for up to MS milliseconds (default 1600).")] = None,
    wait: Annotated[Optional[bool], typer.Option(
        "--wait/--no-wait", help="If another process is writing this index at the start, wait for it (default: refuse).")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only the batches' lines, no first-run summary.")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="One JSON object per batch on stdout (JSON Lines).")] = False,
) -> None:
    """Index files and folders, then follow their changes: one line per batch; Ctrl-C stops."""
    s = settings_from(index=index, model=model, qdrant_url=qdrant_url, home=home, backend=backend, device=device,
                      gitignore=gitignore, debounce_ms=debounce, wait=wait)
    stop = threading.Event()
    batches = 0
    with ctrl_c_stops(stop):
        shown = not (quiet or json_out)
        with index_progress() if shown else nullcontext(None) as progress:
            stream = watch_paths(s, [str(p) for p in paths], rules=path_rules(s, exclude, include), stop=stop,
                                 progress=progress, on_wait=waiting_note(s))
            first = next(stream, None)  # the first run, as `docsearch index` makes it
        if first is not None:
            _show(first, json_out, quiet)
            err.print(f"[dim]watching {len(paths)} path(s) for index {s.index!r}; Ctrl-C stops[/]", highlight=False)
            for batch in stream:
                batches += 1
                _show(batch, json_out, quiet)
    raise Interrupted(f"stopped watching after {batches} batch(es)")


def _show(batch: WatchBatch, json_out: bool, quiet: bool) -> None:
    if json_out:
        sys.stdout.write(json.dumps(batch_json(batch)) + "\n")
        sys.stdout.flush()
    elif batch.first:
        if not quiet:
            print_report(out, batch.report)
    elif not batch.quiet:
        out.print(batch_line(batch), highlight=False, soft_wrap=True)


def batch_line(batch: WatchBatch) -> str:
    """'14:03:12 added 2: a.md, b.md; removed 1: old.md; skipped 1: bad.pdf (corrupt PDF); 0.4 s'."""
    parts = [f"[{style}]{what}[/] {len(names)}: {_names(names)}"
             for what, style, names in (("added", "green", batch.added), ("changed", "cyan", batch.changed),
                                        ("removed", "magenta", batch.removed)) if names]
    if batch.skipped:
        named = [f"{s.path} ({s.reason})" for s in batch.skipped]
        parts.append(f"[yellow]skipped[/] {len(named)}: {_names(named)}")
    return f"[dim]{time.strftime('%H:%M:%S')}[/] " + "; ".join(parts) + f"; {batch.seconds:.1f} s"


def _names(names: tuple[str, ...] | list[str]) -> str:
    shown = ", ".join(escape(n) for n in names[:NAMES_SHOWN])
    return shown + (f" and {len(names) - NAMES_SHOWN} more" if len(names) > NAMES_SHOWN else "")


def batch_json(batch: WatchBatch) -> dict[str, object]:
    return {"first": batch.first, "changes": batch.changes, "added": list(batch.added), "changed": list(batch.changed),
            "removed": list(batch.removed), "skipped": [{"path": s.path, "reason": s.reason} for s in batch.skipped],
            "seconds": round(batch.seconds, 3)}
