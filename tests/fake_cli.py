"""The real ``docsearch`` command line with the fake encoder in place of the model, for tests that
run it as a subprocess (signals, locks, full disks) without torch: ``python tests/fake_cli.py index
DIR``. ``FAKE_ENCODE_DELAY`` (seconds per encoder call) slows indexing down to a model's pace."""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from fakes import FakeEncoder, SlowEncoder

import docsearch.indexer
import docsearch.searcher
import docsearch.watch
from docsearch.cli import main

_delay = float(os.environ.get("FAKE_ENCODE_DELAY", "0"))
docsearch.indexer.load_encoder = lambda *a, **k: SlowEncoder(delay=_delay)  # type: ignore[assignment]
docsearch.watch.load_encoder = docsearch.indexer.load_encoder  # type: ignore[assignment]
docsearch.indexer.for_writer = lambda *a, **k: "torch"  # type: ignore[assignment]  # auto: no model to measure
docsearch.searcher.load_query_encoder = lambda *a, **k: FakeEncoder()  # type: ignore[assignment]

if __name__ == "__main__":
    main()
