"""docsearch.evaluate and ``docsearch eval``: BEIR loading, run files, fusion tuning, end to end on beir_tiny.

The end-to-end tests share one index of tests/data/beir_tiny, built once per session
with the real base model and the embedded Qdrant; tests that change an index's
fusion work on a copy of it.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from docsearch.cli import app
from docsearch.cli.eval import fusion_from_flags
from docsearch.encoders import EncoderBase
from docsearch.errors import ConfigError, DataError, ModelMismatchError
from docsearch.eval.beir import dev_split, load_beir, read_qrels, sample_queries, write_run
from docsearch.eval.evaluate import (
    EvalReport,
    EvalRow,
    _held_out_split,
    _MemoEncoder,
    evaluate,
    fusion_grid,
    percentile,
    run_file_paths,
    tune_fusion,
)
from docsearch.eval.metrics import score
from docsearch.index import Index
from docsearch.searcher import Searcher
from docsearch.settings import Settings
from docsearch.types import Fusion

TINY = Path(__file__).parents[1] / "data" / "beir_tiny"
RARE_QUERY, RARE_DOC = "XKR-7781", "d11"  # a made-up gene name: only an exact match finds it
PARAPHRASE_QUERY, PARAPHRASE_DOC = "what happens during a heart attack", "d02"  # shares no word with the document


def write_beir(root: Path, qrels: str, queries: Sequence[dict[str, str]] = ({"_id": "q1", "text": "hello"},)) -> Path:
    (root / "qrels").mkdir(parents=True)
    (root / "corpus.jsonl").write_text(json.dumps({"_id": "d1", "title": "t", "text": "hello world"}) + "\n")
    (root / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries))
    (root / "qrels" / "test.tsv").write_text(qrels)
    return root


# --------------------------------------------------------------------------- BEIR loading


def test_load_beir_reads_the_tiny_dataset() -> None:
    data = load_beir(TINY, "test")
    assert data.name == "beir_tiny" and data.split == "test" and data.corpus == TINY / "corpus.jsonl"
    assert list(data.queries) == [f"q{n}" for n in range(1, 11)]  # numeric order, header skipped
    assert data.queries["q1"] == RARE_QUERY
    assert data.qrels["q9"] == {"d08": 2, "d09": 1}  # graded
    assert data.qrels["q10"] == {"d03": 2, "d20": 0}  # judged non-relevant rows are kept
    train = load_beir(TINY, "train")
    assert set(train.queries) == {f"t{n}" for n in range(1, 7)} and not set(train.queries) & set(data.queries)


def test_load_beir_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="have: test, train"):
        load_beir(TINY, "dev")
    with pytest.raises(DataError, match="not a BEIR directory"):
        load_beir(tmp_path / "nowhere")
    bad = write_beir(tmp_path / "bad", "query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\td2\n")
    with pytest.raises(DataError, match=r"test.tsv:3"):
        load_beir(bad)
    missing = write_beir(tmp_path / "missing", "q1\td1\t1\nq2\td1\t1\n")
    with pytest.raises(DataError, match=r"1 judged queries have no text, e\.g\. q2"):
        load_beir(missing)
    nothing = write_beir(tmp_path / "nothing", "q1\td1\t0\n")
    with pytest.raises(DataError, match="no query has a relevant document"):
        load_beir(nothing)


def test_read_qrels_accepts_trec_four_columns(tmp_path: Path) -> None:
    path = tmp_path / "q.tsv"
    path.write_text("7 0 doc-a 2\n7 0 doc-b 0\n8 Q0 doc-c 1\n")
    assert read_qrels(path) == {"7": {"doc-a": 2, "doc-b": 0}, "8": {"doc-c": 1}}


def test_dev_split_is_seeded_capped_and_excludes() -> None:
    train = load_beir(TINY, "train")
    dev = dev_split(train, fraction=0.5, seed=3)
    assert len(dev.queries) == 3 and dev.split == "train-dev"
    assert dev == dev_split(train, fraction=0.5, seed=3)
    assert set(dev.qrels) == set(dev.queries) <= set(train.queries)
    assert len(dev_split(train, fraction=1.0, cap=2).queries) == 2
    assert "t1" not in dev_split(train, fraction=1.0, exclude=["t1"]).queries
    assert len(dev_split(train, fraction=0.01).queries) == 1  # never empty
    with pytest.raises(ConfigError):
        dev_split(train, fraction=0)


def test_a_fine_tuned_model_is_tuned_on_the_queries_its_training_held_out(tmp_path: Path) -> None:
    train = load_beir(TINY, "train")
    model = tmp_path / "tuned"
    model.mkdir()
    (model / "training_report.json").write_text(json.dumps({"held_out": ["t2", "t5", "t9-not-in-qrels", "t6"]}))
    dev = _held_out_split(train, str(model), exclude=["t6"])
    assert dev is not None and list(dev.queries) == ["t2", "t5"] and set(dev.qrels) == {"t2", "t5"}
    assert dev.split == "train-held-out"
    # Any other model (a name, a folder without a report, a report without held-out ids): no such split.
    assert _held_out_split(train, "all-MiniLM-L6-v2", exclude=[]) is None
    (model / "training_report.json").write_text(json.dumps({"dev": []}))
    assert _held_out_split(train, str(model), exclude=[]) is None


def test_sample_queries_keeps_order_and_qrels() -> None:
    data = load_beir(TINY)
    few = sample_queries(data, 4)
    assert len(few.queries) == 4 and list(few.queries) == [q for q in data.queries if q in few.queries]
    assert set(few.qrels) == set(few.queries)
    assert sample_queries(data, None) == data


# --------------------------------------------------------------------------- small pieces


def test_fusion_grid_covers_rrf_dbsf_and_zscore() -> None:
    grid = fusion_grid()
    assert len(grid) == 6 * 7 + 1 + 5 and grid[6 * 7] == Fusion("dbsf")
    assert [f.weights for f in grid if f.method == "zscore"] == [(0.3, 0.7), (0.4, 0.6), (0.5, 0.5), (0.6, 0.4), (0.7, 0.3)]
    assert {f.k for f in grid if f.method == "rrf"} == {1, 2, 5, 10, 20, 60}
    assert Fusion("rrf", 60, (1.0, 1.5)) in grid and Fusion("rrf", 2, (3.0, 1.0)) in grid


def test_percentile_matches_numpy() -> None:
    values = [5.0, 1.0, 9.0, 3.0, 7.0, 2.0, 8.0]
    for q in (0, 50, 95, 100):
        assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)))
    assert percentile([4.0], 95) == 4.0


def test_fusion_flags() -> None:
    assert fusion_from_flags(None, None, None) is None
    assert fusion_from_flags(None, 20, None) == Fusion("rrf", 20, (1.0, 1.0))
    assert fusion_from_flags("rrf", None, "1.5,1") == Fusion("rrf", Fusion().k, (1.5, 1.0))
    assert fusion_from_flags("DBSF", None, None) == Fusion("dbsf")
    for bad in [("bm25", None, None), ("dbsf", 5, None), (None, 0, None), (None, None, "2"), (None, None, "a,b")]:
        with pytest.raises(ConfigError):
            fusion_from_flags(*bad)


class _CountingEncoder(EncoderBase):
    model_id, fingerprint, variant, dim, max_tokens = "m", "f", "siamese", 2, 8

    def __init__(self) -> None:
        self.seen: list[str] = []

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        self.seen.extend(texts)
        return np.array([[len(t), 1.0] for t in texts], dtype=np.float32)

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self.encode_queries(texts)


def test_memo_encoder_encodes_each_query_once_unless_timing() -> None:
    inner = _CountingEncoder()
    memo = _MemoEncoder(inner)  # type: ignore[arg-type]
    first = memo.encode_queries(["a", "bb", "a"])
    again = memo.encode_queries(["bb", "a"])
    assert inner.seen == ["a", "bb"] and again.tolist() == [first[1].tolist(), first[0].tolist()]
    memo.remember = False  # latency is timed with a fresh encoding
    memo.encode_queries(["a"])
    assert inner.seen == ["a", "bb", "a"]


# --------------------------------------------------------------------------- TREC run files


def _row(model: str, mode: str, run: dict[str, dict[str, float]] | None = None) -> EvalRow:
    return EvalRow(model, "idx", mode, None, {"ndcg@10": 0.5}, 1, None, None, 0.0, run or {})


def test_write_run_is_trec_format(tmp_path: Path) -> None:
    run = {"10": {"b": 0.5, "a": 0.9, "c": 0.1}, "9": {"x": 2.0}}
    path = write_run(tmp_path / "out" / "run.trec", run, "docsearch-test")
    lines = path.read_text().splitlines()
    assert lines == [
        "9 Q0 x 1 2.000000 docsearch-test",
        "10 Q0 a 1 0.900000 docsearch-test",
        "10 Q0 b 2 0.500000 docsearch-test",
        "10 Q0 c 3 0.100000 docsearch-test",
    ]
    read: dict[str, dict[str, float]] = {}
    for line in lines:
        qid, _, doc, _, value, _ = line.split()
        read.setdefault(qid, {})[doc] = float(value)
    assert read == run and score(read, {"10": {"b": 1}}) == score(run, {"10": {"b": 1}})
    with pytest.raises(DataError, match="whitespace"):
        write_run(tmp_path / "bad.trec", {"q": {"two words": 1.0}}, "t")


def test_run_file_paths_suffix_model_and_mode(tmp_path: Path) -> None:
    base = tmp_path / "runs.trec"
    assert run_file_paths(base, [_row("m", "dense")]) == [base]
    modes = run_file_paths(base, [_row("m", "dense"), _row("m", "hybrid")])
    assert [p.name for p in modes] == ["runs.dense.trec", "runs.hybrid.trec"]
    models = run_file_paths(base, [_row("all-MiniLM-L6-v2", "dense"), _row("/models/tuned", "dense")])
    assert [p.name for p in models] == ["runs.all-minilm-l6-v2.dense.trec", "runs.tuned.dense.trec"]
    clash = run_file_paths(base, [_row("/a/model", "sparse"), _row("/b/model", "sparse")])
    assert len({p.name for p in clash}) == 2


# --------------------------------------------------------------------------- end to end on beir_tiny


@pytest.fixture(scope="session")
def tiny(tmp_path_factory: pytest.TempPathFactory, encoder: Any) -> tuple[Settings, EvalReport]:
    """All three modes on beir_tiny; builds the session's one index of its corpus."""
    settings = Settings(home=tmp_path_factory.mktemp("eval") / "indexes")
    report = evaluate(settings, TINY, modes=["dense", "sparse", "hybrid"], latency_queries=5, encoder=encoder)
    return settings.with_flags(index=report.indexes[0].index), report


def _copy_index(tiny: tuple[Settings, EvalReport], tmp_path: Path, name: str) -> Settings:
    settings, _ = tiny
    copy = settings.with_flags(home=tmp_path / "indexes", index=name)
    shutil.copytree(settings.index_dir, copy.index_dir)
    return copy


@pytest.mark.slow
def test_reported_metrics(tiny: tuple[Settings, EvalReport]) -> None:
    settings, report = tiny
    rows = {r.mode: r for r in report.rows}
    assert list(rows) == ["dense", "sparse", "hybrid"] and report.queries == 10
    assert report.indexes[0].index.startswith("eval-beir_tiny-") and report.indexes[0].chunks == 28
    dense, sparse, hybrid = (rows[m].metrics["ndcg@10"] for m in ("dense", "sparse", "hybrid"))
    assert dense >= 0.85 and sparse >= 0.8
    assert hybrid >= max(dense, sparse) - 0.05
    assert rows["dense"].metrics["recall@100"] == 1.0
    assert rows["sparse"].metrics["recall@100"] < 1.0  # BM25 never retrieves the paraphrased document
    with Searcher.open(settings, load_model=False) as searcher:
        assert rows["hybrid"].fusion == searcher.meta.fusion
    assert rows["dense"].fusion is None and rows["sparse"].fusion is None
    data = load_beir(TINY)
    for row in report.rows:
        assert row.metrics == score(row.run, data.qrels)  # the figures are those of the ranked lists kept
        assert row.latency_p50_ms is not None and 0 < row.latency_p50_ms <= (row.latency_p95_ms or 0)


@pytest.mark.slow
def test_hybrid_finds_the_rare_term_and_dense_the_paraphrase(tiny: tuple[Settings, EvalReport], encoder: Any) -> None:
    settings, _ = tiny

    def docs(searcher: Searcher, query: str, mode: str) -> list[str]:
        return [h.doc for h in searcher.search(query, 10, mode)]

    with Searcher.open(settings, encoder=encoder) as searcher:
        assert RARE_DOC not in docs(searcher, RARE_QUERY, "dense")[:3]  # look-alike codes crowd it out
        assert docs(searcher, RARE_QUERY, "sparse")[0] == RARE_DOC
        assert RARE_DOC in docs(searcher, RARE_QUERY, "hybrid")[:2]
        assert docs(searcher, PARAPHRASE_QUERY, "dense")[0] == PARAPHRASE_DOC
        assert PARAPHRASE_DOC not in docs(searcher, PARAPHRASE_QUERY, "sparse")
        assert PARAPHRASE_DOC in docs(searcher, PARAPHRASE_QUERY, "hybrid")[:2]


@pytest.mark.slow
def test_second_run_reuses_the_index(tiny: tuple[Settings, EvalReport]) -> None:
    settings, first = tiny
    again = evaluate(settings.with_flags(index="default"), TINY, modes=["sparse"], latency_queries=0)
    assert again.indexes[0].index == first.indexes[0].index and again.indexes[0].embedded == 0
    assert again.rows[0].metrics == first.rows[1].metrics and again.rows[0].latency_p50_ms is None


@pytest.mark.slow
def test_explicit_index_checks_model_and_sources(tiny: tuple[Settings, EvalReport], tmp_path: Path) -> None:
    copy = _copy_index(tiny, tmp_path, "mine")
    other = _CountingEncoder()
    with pytest.raises(ModelMismatchError):
        evaluate(copy, TINY, modes=["dense"], index="mine", encoder=other)  # type: ignore[arg-type]
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(TINY, elsewhere)  # same corpus, another path: another source to the manifest
    with pytest.raises(DataError, match="other sources"):
        evaluate(copy, elsewhere, modes=["sparse"], index="mine")


@pytest.mark.slow
def test_fusion_survives_reopen_and_drives_hybrid(tiny: tuple[Settings, EvalReport], tmp_path: Path, encoder: Any) -> None:
    copy = _copy_index(tiny, tmp_path, "fused")
    chosen = Fusion("rrf", 5, (2.0, 1.0))
    with Index.open(copy) as index:
        index.set_fusion(chosen)
    with Searcher.open(copy, load_model=False) as searcher:
        assert searcher.meta.fusion == chosen
    report = evaluate(copy, TINY, modes=["hybrid"], index="fused", latency_queries=0, encoder=encoder)
    assert report.rows[0].fusion == chosen
    override = evaluate(copy, TINY, modes=["hybrid"], index="fused", latency_queries=0, encoder=encoder,
                        fusion=Fusion("dbsf"))
    assert override.rows[0].fusion == Fusion("dbsf")
    with Searcher.open(copy, load_model=False) as searcher:
        assert searcher.meta.fusion == chosen  # an override is for one run only


@pytest.mark.slow
def test_tune_fusion_on_train_dev_split(tiny: tuple[Settings, EvalReport], tmp_path: Path, encoder: Any) -> None:
    copy = _copy_index(tiny, tmp_path, "tuned")
    with Index.open(copy) as index:
        index.set_fusion(Fusion("rrf", 60, (1.0, 3.0)))
    result = tune_fusion(copy, TINY, index="tuned", fraction=1.0, encoder=encoder)
    assert result.dev_queries == 6 and len(result.grid) == 48 and result.previous == Fusion("rrf", 60, (1.0, 3.0))
    ndcgs = [r.metrics["ndcg@10"] for r in result.grid]
    assert ndcgs == sorted(ndcgs, reverse=True) and result.best == result.grid[0].fusion
    with Searcher.open(copy, load_model=False) as searcher:
        assert searcher.meta.fusion == result.best
    # Ties keep the fusion in use: the previous one wins any tie for the top.
    if result.grid[0].metrics["ndcg@10"] == next(r for r in result.grid if r.fusion == result.previous).metrics["ndcg@10"]:
        assert result.best == result.previous
    assert json.loads(json.dumps(result.to_json()))["best"] == {"method": result.best.method, **(
        {} if result.best.method == "dbsf" else {"k": result.best.k, "weights": list(result.best.weights)})}


@pytest.mark.slow
def test_cli_json_and_run_files(tiny: tuple[Settings, EvalReport], tmp_path: Path) -> None:
    settings, report = tiny
    runs = tmp_path / "runs.trec"
    result = CliRunner().invoke(app, ["eval", str(TINY), "--home", str(settings.home), "--mode", "dense", "--mode",
                                      "hybrid", "--json", "--latency-queries", "2", "--run-file", str(runs)])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)  # one JSON object, nothing else on stdout
    assert {"dataset", "split", "queries", "k", "deep", "rows", "indexes", "tuning", "run_files"} <= set(payload)
    assert payload["dataset"] == "beir_tiny" and payload["queries"] == 10 and payload["tuning"] == []
    assert [r["mode"] for r in payload["rows"]] == ["dense", "hybrid"]
    row = payload["rows"][1]
    assert {"ndcg@10", "mrr@10", "recall@100", "map@100", "latency_ms", "fusion", "model", "index"} <= set(row)
    assert row["ndcg@10"] == pytest.approx(report.rows[2].metrics["ndcg@10"], abs=1e-6)
    assert payload["indexes"][0]["embedded"] == 0  # the session's index, reused
    assert payload["run_files"] == [str(tmp_path / "runs.dense.trec"), str(tmp_path / "runs.hybrid.trec")]
    first = (tmp_path / "runs.hybrid.trec").read_text().splitlines()[0].split()
    assert len(first) == 6 and first[1] == "Q0" and first[3] == "1" and first[5] == "docsearch-all-minilm-l6-v2-hybrid"


@pytest.mark.slow
def test_cli_tune_then_eval_uses_the_saved_fusion(tiny: tuple[Settings, EvalReport], tmp_path: Path) -> None:
    copy = _copy_index(tiny, tmp_path, "cli-tuned")
    result = CliRunner().invoke(app, ["eval", str(TINY), "--home", str(copy.home), "--index", "cli-tuned", "--tune",
                                      "--dev-fraction", "1", "--mode", "hybrid", "--json", "--latency-queries", "0"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    tuning = payload["tuning"][0]
    assert tuning["dev_queries"] == 6 and len(tuning["grid"]) == 48 and tuning["saved"]
    assert payload["rows"][0]["fusion"] == tuning["best"]  # the test split is scored with what train chose
    assert payload["rows"][0]["latency_ms"] == {"p50": None, "p95": None}


@pytest.mark.slow
def test_cli_table(tiny: tuple[Settings, EvalReport]) -> None:
    settings, _ = tiny
    result = CliRunner().invoke(app, ["eval", str(TINY), "--home", str(settings.home), "--mode", "sparse",
                                      "--latency-queries", "2"])
    assert result.exit_code == 0, result.output
    assert "beir_tiny test: 10 queries" in result.stdout
    for header in ("nDCG@10", "MRR@10", "R@100", "MAP@100", "p50 ms", "sparse"):
        assert header in result.stdout


@pytest.mark.parametrize("args, message", [
    (["-m", "a", "-m", "b", "--index", "x"], "one --model"),
    (["--fusion", "bm25"], "unknown fusion"),
    (["--tune", "--weights", "2,1"], "--tune chooses"),
    (["--mode", "fuzzy"], "unknown mode"),
    (["--split", "dev"], "no qrels for split"),
])
def test_cli_errors(args: list[str], message: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["eval", str(TINY), "--home", str(tmp_path), *args])
    assert result.exit_code == 1
    assert message in " ".join(result.output.split())
