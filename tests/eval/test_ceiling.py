"""The engine-only ceiling: the same documents and chunks at every worker count, the ratio to the
first row. Fast: a free encoder on a small folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from docsearch.errors import ConfigError
from docsearch.eval.ceiling import default_workers, engine_ceiling


@pytest.mark.slow
def test_the_ceiling_runs_each_worker_count_on_the_same_corpus(tmp_path: Path) -> None:
    root = tmp_path / "docs"
    root.mkdir()
    for i in range(12):
        (root / f"n{i}.md").write_text(f"# Note {i}\n\nA note about item {i} and its neighbours.\n")
    said: list[str] = []
    rows = engine_ceiling([root], "all-MiniLM-L6-v2", [0, 1], repeat=2, say=said.append)
    assert [(r.engine_workers, r.processes, r.documents, r.chunks) for r in rows] == [(0, 1, 12, 12), (1, 2, 12, 12)]
    assert rows[0].speedup == 1.0 and rows[1].speedup == pytest.approx(rows[1].documents_per_s / rows[0].documents_per_s)
    assert len(rows[0].runs_documents_per_s) == 2 and len(said) == 4


def test_worker_counts_default_to_zero_through_one_per_core() -> None:
    from docsearch.cli.bench import _engine_counts

    assert default_workers(4) == [0, 1, 2, 3, 4]
    assert _engine_counts("0,2") == (0, 2) and _engine_counts(None) == ()
    with pytest.raises(ConfigError, match="--engine takes worker counts"):
        _engine_counts("some")
