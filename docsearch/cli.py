"""The docsearch command line: typer + rich. The only place that prints or exits."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from .errors import DocsearchError
from .settings import Settings, load_settings

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")

app = typer.Typer(
    help="Semantic document search: index folders, search them by meaning, teach it your notion of relevance.",
    no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
)
out = Console()
err = Console(stderr=True)

IndexOpt = Annotated[Optional[str], typer.Option("--index", "-i", help="Index name (default: 'default').")]
ModelOpt = Annotated[Optional[str], typer.Option("--model", "-m", help="Model name or local sentence-transformers directory.")]
UrlOpt = Annotated[Optional[str], typer.Option("--qdrant-url", help="Qdrant server URL (default: embedded).")]
BackendOpt = Annotated[Optional[str], typer.Option(
    "--backend", help="Encoder: torch (bf16 where supported), torch-fp32, onnx, onnx-int8, openvino.")]
DeviceOpt = Annotated[Optional[str], typer.Option("--device", help="cpu, cuda, cuda:1 … (default: cuda when present).")]
HomeOpt = Annotated[Optional[Path], typer.Option("--home", help="Index home (default: ./indexes or $DOCSEARCH_HOME).")]


def settings_from(**flags: object) -> Settings:
    return load_settings().with_flags(**flags)


def fail(exc: BaseException) -> None:
    err.print(f"[bold red]error:[/] {exc}", highlight=False)
    raise typer.Exit(1)


@app.command()
def index(
    paths: Annotated[list[Path], typer.Argument(help="Files and folders to index.")],
    index: IndexOpt = None, model: ModelOpt = None,
    chunk_tokens: Annotated[Optional[int], typer.Option(help="Window size in model tokens (default: the model's max).")] = None,
    overlap: Annotated[Optional[int], typer.Option(help="Tokens shared by consecutive windows.")] = None,
    qdrant_url: UrlOpt = None, home: HomeOpt = None,
    id_field: Annotated[Optional[str], typer.Option(help="Record field holding the id (JSONL/CSV).")] = None,
    title_field: Annotated[Optional[str], typer.Option(help="Record field holding the title.")] = None,
    text_field: Annotated[Optional[str], typer.Option(help="Record field holding the text.")] = None,
    rebuild: Annotated[bool, typer.Option(help="Drop the index and build it again.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only errors.")] = False,
    backend: BackendOpt = None, device: DeviceOpt = None,
    workers: Annotated[Optional[int], typer.Option(
        min=1, help="Encoder processes (many-core CPUs: cores/N threads each; several GPUs: one each).")] = None,
) -> None:
    """Index files and folders; a rerun embeds only what changed."""
    from .indexer import index_paths
    from .render import print_report
    from .types import RecordFields

    try:
        s = settings_from(index=index, model=model, chunk_tokens=chunk_tokens, overlap=overlap,
                          qdrant_url=qdrant_url, home=home, backend=backend, device=device, workers=workers)
        defaults = RecordFields()
        fields = RecordFields(id_field or defaults.id, title_field or defaults.title, text_field or defaults.text)
        if quiet:
            report = index_paths(s, [str(p) for p in paths], fields, rebuild)
        else:
            report = _index_with_progress(s, paths, fields, rebuild)
    except KeyboardInterrupt:
        err.print("[yellow]interrupted:[/] the index is consistent; run the same command again to finish")
        raise typer.Exit(130) from None
    except DocsearchError as exc:
        fail(exc)
        return
    if not quiet:
        print_report(out, report)


def _index_with_progress(s: Settings, paths: list[Path], fields: object, rebuild: bool):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from .indexer import IndexProgress, index_paths

    columns = (TextColumn("[bold blue]indexing"), BarColumn(), MofNCompleteColumn(), TextColumn("files"),
               TextColumn("{task.fields[chunks]} chunks, {task.fields[rate]:.0f}/s"), TimeElapsedColumn(),
               TextColumn("[dim]{task.fields[current]}"))
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task("index", total=None, chunks=0, rate=0.0, current="")

        def update(p: IndexProgress) -> None:
            bar.update(task, total=p.files_total or None, completed=p.files_done, chunks=p.chunks,
                       rate=p.chunks_per_s, current=p.current[-40:])

        return index_paths(s, [str(p) for p in paths], fields, rebuild, progress=update)  # type: ignore[arg-type]


@app.command()
def search(
    query: Annotated[Optional[str], typer.Argument(help="The query; omit it for an interactive session.")] = None,
    index: IndexOpt = None, model: ModelOpt = None,
    k: Annotated[Optional[int], typer.Option("-k", help="Number of results.")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="One JSON object on stdout, nothing else.")] = False,
    path: Annotated[Optional[str], typer.Option("--path", help="Only sources whose path matches this glob.")] = None,
    mode: Annotated[str, typer.Option(help="dense, sparse (BM25) or hybrid.")] = "dense",
    interactive: Annotated[bool, typer.Option("--interactive", "-I", help="Open an interactive session.")] = False,
    qdrant_url: UrlOpt = None, home: HomeOpt = None, backend: BackendOpt = None, device: DeviceOpt = None,
) -> None:
    """Search an index by meaning; with no query, open an interactive session."""
    from .searcher import Searcher

    try:
        s = settings_from(index=index, model=model, k=k, qdrant_url=qdrant_url, home=home, backend=backend,
                          device=device)
        if query is None or interactive:
            from .interactive import run_session

            run_session(s, mode=mode, path_glob=path)
            return
        if not query.strip():
            raise DocsearchError("the query is empty")
        with Searcher.open(s) as searcher:
            hits = searcher.search(query, s.k, mode=mode, path_glob=path)
    except DocsearchError as exc:
        fail(exc)
        return
    if json_out:
        from .render import hits_json

        sys.stdout.write(hits_json(query, hits) + "\n")
    else:
        from .render import print_hits

        print_hits(out, query, hits)


@app.command()
def info(index: IndexOpt = None, qdrant_url: UrlOpt = None, home: HomeOpt = None) -> None:
    """Show what an index holds: counts, model, fingerprint, chunking, size on disk."""
    from .render import info_table
    from .searcher import Searcher

    try:
        s = settings_from(index=index, qdrant_url=qdrant_url, home=home)
        with Searcher.open(s, load_model=False) as searcher:
            out.print(info_table(searcher.info()))
    except DocsearchError as exc:
        fail(exc)


def _register_optional() -> None:
    """Commands that live in their own modules register themselves here."""
    import importlib

    for name in ("cli_train", "cli_eval", "cli_bench"):
        try:
            module = importlib.import_module(f"docsearch.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"docsearch.{name}":
                raise
            continue
        module.register(app)


_register_optional()


def main() -> None:
    try:
        app()
    except DocsearchError as exc:  # commands registered elsewhere may let one through
        err.print(f"[bold red]error:[/] {exc}", highlight=False)
        sys.exit(1)
