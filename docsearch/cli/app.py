"""The typer app, its consoles and shared options, and the one place errors are reported.

Every command registers through :func:`command`, which turns a :class:`DocsearchError` into one
red line on stderr and exit code 1, and Ctrl-C (or a run that stopped for it) into exit code 130. Commands are thin: they read
flags into :class:`Settings`, call the library, and render what it returns.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional, TypeVar

import typer
from rich.console import Console

from ..errors import DocsearchError, Interrupted
from ..settings import Settings, load_settings, parse_count

# Exit codes, as --help and the README give them.
EXIT_CODES = "Exit codes: 0 done; 1 error (one red line on stderr); 2 usage (a bad flag or argument); 130 interrupted (Ctrl-C)."

if TYPE_CHECKING:
    from ..ingest.ignore import PathRules

app = typer.Typer(
    help="Semantic document search: index folders, search them by meaning, teach it your notion of relevance.",
    epilog=EXIT_CODES, no_args_is_help=True, pretty_exceptions_enable=False,
    # typer's --install-completion / --show-completion (bash, zsh, fish, PowerShell): they import
    # nothing heavy, and completing a command line imports only the CLI, as --help does.
    add_completion=True,
)
out = Console()
err = Console(stderr=True)

IndexOpt = Annotated[Optional[str], typer.Option("--index", "-i", help="Index name (default: 'default').")]
ModelOpt = Annotated[Optional[str], typer.Option("--model", "-m", help="Model name or local sentence-transformers directory.")]
UrlOpt = Annotated[Optional[str], typer.Option("--qdrant-url", help="Qdrant server URL (default: embedded).")]
BackendOpt = Annotated[Optional[str], typer.Option(
    "--backend", help="Encoder: auto (default: the fastest with torch fp32's vectors here), torch (bf16 where supported), "
    "torch-fp32, onnx, onnx-int8, openvino, openvino-int8 (static int8 calibrated on your chunks).")]
DeviceOpt = Annotated[Optional[str], typer.Option("--device", help="cpu, cuda, cuda:1 … (default: cuda when present).")]
HomeOpt = Annotated[Optional[Path], typer.Option("--home", help="Index home (default: ./indexes or $DOCSEARCH_HOME).")]
ExcludeOpt = Annotated[Optional[list[str]], typer.Option(
    "--exclude", metavar="GLOB", help="Pass over paths matching this gitignore-style pattern (repeatable).")]
IncludeOpt = Annotated[Optional[list[str]], typer.Option(
    "--include", metavar="GLOB", help="Only files matching this gitignore-style pattern (repeatable).")]
WorkersOpt = Annotated[Optional[str], typer.Option(
    "--workers", metavar="N|auto", help="Encoder processes (many-core CPUs: cores/N threads each; several GPUs: one "
    "each); auto: one per GPU (default: 1).")]
EngineWorkersOpt = Annotated[Optional[str], typer.Option(
    "--engine-workers", metavar="N|auto", help="Processes that read, chunk and make BM25 vectors beside the encoder; "
    "0: none (default: auto, from the cores, for runs worth starting them).")]
GitignoreOpt = Annotated[Optional[bool], typer.Option(
    "--gitignore/--no-gitignore", help="In a git work tree, pass over what .gitignore files ignore (default: yes).")]

F = TypeVar("F", bound=Callable[..., Any])


def version() -> str:
    """The installed package's version (its metadata), or the source tree's when it is not installed."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("docsearch")
    except PackageNotFoundError:
        from .. import __version__

        return __version__


def _print_version(asked: bool) -> None:
    if asked:
        sys.stdout.write(f"docsearch {version()}\n")
        raise typer.Exit()


@app.callback()
def _root(show_version: Annotated[bool, typer.Option(
        "--version", is_eager=True, callback=_print_version, help="Print the version and exit.")] = False) -> None:
    pass


def settings_from(**flags: object) -> Settings:
    """Defaults < DOCSEARCH_* environment < the flags given (process counts as N or auto)."""
    for name in ("workers", "engine_workers"):
        if isinstance(flags.get(name), str):
            flags[name] = parse_count(str(flags[name]), "--" + name.replace("_", "-"))
    return load_settings().with_flags(**flags)


def path_rules(s: Settings, exclude: list[str] | None, include: list[str] | None) -> PathRules:
    """What the walk passes over besides its own rules, from the flags."""
    from ..ingest.ignore import PathRules

    return PathRules(tuple(exclude or ()), tuple(include or ()), s.gitignore)


def report_error(exc: BaseException) -> None:
    """The one red line every failure becomes: never wrapped at the terminal's width (a script that
    reads it gets one line), and never read as markup (an error may quote brackets)."""
    from rich.markup import escape

    err.print(f"[bold red]error:[/] {escape(' '.join(str(exc).split()))}", highlight=False, soft_wrap=True)


def _leave_now(code: int) -> None:
    """After a stop the index is closed and its lock released. Leave at once, without the
    interpreter's teardown: a worker thread still finishing a forward pass or a model load has
    nothing left to protect (waiting for it would make Ctrl-C slow again, and torch's threads can
    abort the process there), and a further Ctrl-C during teardown, when Python has put the default
    handler back, would kill the process by the signal instead of exiting with ``code``."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def command(name: str | None = None, interrupted: str | None = None) -> Callable[[F], F]:
    """Register a command whose library errors become one red line and exit code 1; ``interrupted``
    is what Ctrl-C says (exit code 130)."""

    def register(fn: F) -> F:
        @functools.wraps(fn)
        def run(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except Interrupted as exc:
                tail = f"; {interrupted}" if interrupted else ""
                err.print(f"[yellow]interrupted:[/] {exc}{tail}", highlight=False)
                _leave_now(130)
            except DocsearchError as exc:
                report_error(exc)
                raise typer.Exit(1) from None
            except KeyboardInterrupt:
                if interrupted is None:
                    raise
                err.print(f"[yellow]interrupted:[/] {interrupted}", highlight=False)
                raise typer.Exit(130) from None

        app.command(name)(run)
        return fn

    return register
