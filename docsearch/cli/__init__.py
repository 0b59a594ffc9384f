"""The docsearch command line (typer + rich): the only part of docsearch that prints, exits, or
sets process-wide state (offline mode for the Hugging Face hub, tokenizer threads).

Each command lives in the module of its name and registers itself on :data:`app` when imported;
heavy libraries (torch, Qdrant) are imported only inside the commands that use them, so
``docsearch --help`` stays instant.
"""

from __future__ import annotations

import os

from . import bench, check, eval, index, mcp, search, similar, train, watch  # noqa: F401 - each registers its commands
from .app import app

__all__ = ["app", "main"]


def main() -> None:
    # The process is the CLI's: never reach for the network, and let the fast tokenizers use threads.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")
    app()
