"""Stage shares of an index run, from one profiled run with the fake encoder."""

from __future__ import annotations

from pathlib import Path

from fakes import FakeEncoder

from docsearch.eval.stages import STAGES, profile_run
from docsearch.indexer import index_paths
from docsearch.settings import Settings


def test_every_stage_gets_a_share_and_they_fit_in_the_run(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    for i in range(30):
        (docs / f"{i}.md").write_text(f"# Note {i}\n\n" + f"Tomato plants and telescopes, item {i}. " * 40)
    settings = Settings(home=tmp_path / "home", index="s", index_batch=16)
    shares = profile_run(lambda: index_paths(settings, [docs], encoder=FakeEncoder()))
    named = dict(shares.shares)
    assert list(named) == list(STAGES) and shares.chunks >= 30 and shares.seconds > 0
    assert all(0.0 <= v <= 1.0 for v in named.values()) and 0.0 <= shares.other <= 1.0
    # Work that certainly happened is seen: reading, chunking, BM25 and upserts all took some time.
    assert all(named[s] > 0 for s in ("read and parse", "chunking", "BM25", "upsert"))
    assert sum(named.values()) <= 1.0 + 1e-9 or shares.other == 0.0
