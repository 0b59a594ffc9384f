"""Training: settings, split, batches, mining (no model), then short real runs on CPU.

The real runs use a 40-query slice of SciFact train (or data/pairs.jsonl when
SciFact is absent), 32-token texts and one or two epochs, so the whole file
stays around a minute on two cores.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from docsearch.errors import ConfigError, DataError
from docsearch.train import (
    DEFAULT_LOSS,
    LOSSES,
    MARKER,
    PLOT,
    REPORT,
    ProgressEvent,
    TrainConfig,
    held_out_queries,
    train,
)
from docsearch.train.batches import epoch_batches, split_queries
from docsearch.train.pairs import TrainingData, load_training_data

REPO = Path(__file__).resolve().parents[1]
SCIFACT = Path(__file__).parents[1].parent / "shared/datasets/scifact"
PAIRS = REPO / "data" / "pairs.jsonl"
FAST = {"max_seq_length": 32, "batch_size": 16, "eval_batch_size": 64, "device": "cpu"}


def toy_data(n_queries: int = 10, positives: int = 1) -> TrainingData:
    queries = {f"q{i}": f"query {i}" for i in range(n_queries)}
    pos = {f"q{i}": tuple(f"d{i}-{j}" for j in range(positives)) for i in range(n_queries)}
    corpus = {d: f"text {d}" for docs in pos.values() for d in docs} | {"shared": "shared text"}
    return TrainingData(queries=queries, positives=pos, negatives={"q0": ("shared",)}, corpus=corpus, rows=n_queries)


# --------------------------------------------------------------------------- no model needed


def test_config_rejects_bad_values(tmp_path: Path) -> None:
    for bad in ({"loss": "hinge"}, {"variant": "twin"}, {"dev_fraction": 1.0}, {"epochs": 0}, {"margin": -1.0}):
        with pytest.raises(ConfigError):
            TrainConfig(data=tmp_path, out=tmp_path / "o", **bad)
    config = TrainConfig(data=str(tmp_path), out=str(tmp_path / "o"), loss="triplet")
    assert isinstance(config.data, Path) and config.resolved_margin == 0.2
    assert DEFAULT_LOSS in LOSSES and TrainConfig(data=tmp_path, out=tmp_path).loss == DEFAULT_LOSS


def test_split_is_by_query_seeded_and_disjoint() -> None:
    data = toy_data(50)
    train_q, dev_q = split_queries(data, 0.1, seed=3)
    assert len(dev_q) == 5 and not set(train_q) & set(dev_q) and set(train_q) | set(dev_q) == set(data.queries)
    assert split_queries(data, 0.1, seed=3) == (train_q, dev_q)
    assert split_queries(data, 0.1, seed=4)[1] != dev_q
    assert split_queries(data, 0.0, seed=3)[1] == []


def test_mnrl_batches_never_repeat_a_query_or_a_positive() -> None:
    data = toy_data(12, positives=3)
    batches = epoch_batches("mnrl", data, list(data.queries), {}, 0, 8, random.Random(0))
    assert sum(len(b.queries) for b in batches) == 36
    for b in batches:
        assert len(set(b.queries)) == len(b.queries) and len(set(b.docs)) == len(b.docs)


def test_batches_for_each_loss() -> None:
    data = toy_data(6)
    negatives = {q: ["shared", f"d{(i + 1) % 6}-0"] for i, q in enumerate(data.queries)}
    rng = random.Random(0)
    mnrl = epoch_batches("mnrl", data, list(data.queries), negatives, 2, 4, rng)
    assert [len(b.negs) for b in mnrl] == [8, 4]  # 2 sampled per example
    triplets = epoch_batches("triplet", data, list(data.queries), negatives, 2, 4, rng)
    assert sum(len(b.queries) for b in triplets) == 12 and all(len(b.negs) == len(b.docs) for b in triplets)
    pairs = epoch_batches("contrastive", data, list(data.queries), negatives, 2, 5, rng)
    labels = [y for b in pairs for y in b.labels]
    assert labels.count(1) == 6 and labels.count(0) == 12


def test_mined_negatives_skip_judged_and_near_positive_documents() -> None:
    torch = pytest.importorskip("torch")
    from docsearch.train.trainer import mine_negatives

    data = TrainingData(
        queries={"q": "q"},
        positives={"q": ("pos",)},
        negatives={"q": ("labelled",)},
        corpus={d: d for d in ("pos", "labelled", "twin", "near", "far", "farther")},
    )
    doc_ids = list(data.corpus)
    # cosine with the query: pos .80, labelled .90, twin .79 (> .95 * .80: a likely unjudged positive),
    # near .70, far .20, farther -.5
    cos = [0.8, 0.9, 0.79, 0.7, 0.2, -0.5]
    docs = torch.tensor([[c, (1 - c * c) ** 0.5] for c in cos])
    mined = mine_negatives(torch.tensor([[1.0, 0.0]]), ["q"], docs, doc_ids, data, n=2, skip_above=0.95)
    assert mined == {"q": ["near", "far"]}


def test_refuses_a_foreign_out_dir_before_loading_any_model(tmp_path: Path) -> None:
    data = tmp_path / "p.jsonl"
    data.write_text(json.dumps({"query": "q", "text": "t", "label": 1}) + "\n")
    out = tmp_path / "out"
    out.mkdir()
    (out / "precious.txt").write_text("keep me")
    with pytest.raises(ConfigError, match="not empty"):
        train(TrainConfig(data=data, out=out))
    assert (out / "precious.txt").read_text() == "keep me"


def test_losses_needing_negatives_refuse_data_without_any(tmp_path: Path) -> None:
    data = tmp_path / "p.jsonl"
    data.write_text("".join(json.dumps({"query": f"q{i}", "positive": f"t{i}"}) + "\n" for i in range(5)))
    with pytest.raises(DataError, match="needs negatives"):
        train(TrainConfig(data=data, out=tmp_path / "o", loss="triplet", hard_negatives=0))


# --------------------------------------------------------------------------- short real runs


@pytest.fixture(scope="module")
def slice_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """40 SciFact train queries, their abstracts and 60 others, as a BEIR folder."""
    if not SCIFACT.is_dir():
        if PAIRS.is_file():
            return PAIRS
        pytest.skip("neither SciFact nor data/pairs.jsonl is present")
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


@pytest.fixture(scope="module")
def cli_run(slice_data: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A Siamese mnrl model trained through the CLI command, two epochs of three steps."""
    pytest.importorskip("sentence_transformers")
    import typer
    from typer.testing import CliRunner

    from docsearch.cli_train import register

    app = typer.Typer()
    app.command("noop")(lambda: None)  # a second command keeps 'train' a subcommand
    register(app)
    out = tmp_path_factory.mktemp("siamese") / "model"
    args = [
        "train",
        str(slice_data),
        "--out",
        str(out),
        "--loss",
        "mnrl",
        "--epochs",
        "2",
        "--batch-size",
        "16",
        "--lr",
        "1e-4",
        "--hard-negatives",
        "1",
        "--max-seq-length",
        "32",
        "--device",
        "cpu",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    return out, result.output


def test_cli_trains_reports_and_saves_a_plain_sentence_transformers_dir(cli_run: tuple[Path, str]) -> None:
    from sentence_transformers import SentenceTransformer

    out, output = cli_run
    assert "nDCG@10" in output and "before" in output and "training data" in output
    assert (out / PLOT).stat().st_size > 1000
    report = json.loads((out / REPORT).read_text())
    assert len(report["dev"]) == 3 and report["settings"]["loss"] == "mnrl" and not report["interrupted"]
    assert report["counts"]["dev_queries"] == 4 and report["counts"]["mined_negatives"] > 0
    # The dev queries are recorded, so fusion tuning can later use queries the model never trained on.
    assert len(report["held_out"]) == 4 and held_out_queries(str(out)) == tuple(report["held_out"])
    assert json.loads((out / MARKER).read_text())["variant"] == "siamese"
    model = SentenceTransformer(str(out), device="cpu")
    assert model.encode(["a claim about cells"]).shape == (1, 384)
    assert model.max_seq_length == 256  # trained on 32-token texts, saved with the base model's length


def test_loss_goes_down_over_steps(cli_run: tuple[Path, str]) -> None:
    report = json.loads((cli_run[0] / REPORT).read_text())
    first, second = report["epoch_loss"]
    assert second < first
    steps = report["step_loss"]
    assert sum(steps[-2:]) < sum(steps[:2])


def test_half_twin_towers_differ_after_training(slice_data: Path, tmp_path: Path) -> None:
    from sentence_transformers import SentenceTransformer

    events: list[ProgressEvent] = []
    # mnrl without mined negatives and without a dev split: no corpus to encode, just three steps
    config = TrainConfig(
        data=slice_data,
        out=tmp_path / "twin",
        variant="half-twin",
        loss="mnrl",
        epochs=1,
        dev_fraction=0.0,
        hard_negatives=0,
        **FAST,
    )
    report = train(config, on_progress=events.append)
    steps = [e for e in events if e.phase == "train"]
    assert steps and steps[-1].step == steps[-1].total_steps and all(e.examples_per_s > 0 for e in steps)
    assert report.best_epoch == 1 and report.dev == ()  # no dev split: the last epoch is kept
    marker = json.loads((tmp_path / "twin" / MARKER).read_text())
    assert marker["variant"] == "half-twin" and marker["shared_projection"] is True
    model = SentenceTransformer(str(tmp_path / "twin"), device="cpu")
    text = ["Vitamin D deficiency raises the risk of fractures."]
    q, d = model.encode_query(text), model.encode_document(text)
    assert q.shape == d.shape == (1, 384)
    assert abs(q - d).max() > 1e-4  # two towers, not one


def test_interrupt_keeps_the_best_checkpoint_so_far(slice_data: Path, tmp_path: Path) -> None:
    from sentence_transformers import SentenceTransformer

    def stop(event: ProgressEvent) -> None:
        if event.phase == "train" and event.step == 2:
            raise KeyboardInterrupt

    config = TrainConfig(data=slice_data, out=tmp_path / "cut", epochs=2, hard_negatives=1, **FAST)
    report = train(config, on_progress=stop)
    assert report.interrupted and report.best_epoch == 0 and len(report.step_loss) == 2
    assert any("base model" in note for note in report.notes)
    assert json.loads((tmp_path / "cut" / REPORT).read_text())["interrupted"] is True
    SentenceTransformer(str(tmp_path / "cut"), device="cpu")  # what was kept loads


def test_slice_is_what_the_runs_train_on(slice_data: Path) -> None:
    data = load_training_data(slice_data)
    assert len(data.queries) == (40 if slice_data.is_dir() else len(data.queries)) and not data.warnings


# --------------------------------------------------------------------------- back into index and search


def test_a_trained_model_indexes_and_searches_and_base_indexes_refuse_it(
    cli_run: tuple[Path, str], tmp_path: Path
) -> None:
    from docsearch.errors import ModelMismatchError
    from docsearch.indexer import index_paths
    from docsearch.searcher import Searcher
    from docsearch.settings import Settings

    model = str(cli_run[0])
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "bones.txt").write_text("Vitamin D helps the body absorb calcium and keeps bones strong.")
    (docs / "stars.txt").write_text("Neutron stars are the collapsed cores of massive stars.")
    home = tmp_path / "home"
    index_paths(Settings(home=home, index="tuned", model=model, device="cpu"), [docs])
    with Searcher.open(Settings(home=home, index="tuned", device="cpu")) as s:
        assert s.meta.variant == "siamese" and s.meta.model == model
        assert s.search("calcium absorption and bone health", k=1)[0].path == "bones.txt"

    index_paths(Settings(home=home, index="base", device="cpu"), [docs])
    with pytest.raises(ModelMismatchError, match="all-MiniLM-L6-v2"):
        index_paths(Settings(home=home, index="base", model=model), [docs])
    with pytest.raises(ModelMismatchError):
        Searcher.open(Settings(home=home, index="base", model=model), load_model=False)


def test_a_half_twin_index_embeds_documents_and_queries_with_their_own_towers(slice_data: Path, tmp_path: Path) -> None:
    import numpy as np
    from sentence_transformers import SentenceTransformer

    from docsearch.indexer import index_paths
    from docsearch.searcher import Searcher
    from docsearch.settings import Settings

    out = tmp_path / "twin"
    train(TrainConfig(data=slice_data, out=out, variant="half-twin", loss="mnrl", epochs=1, dev_fraction=0.0,
                      hard_negatives=0, **FAST))
    docs = tmp_path / "docs"
    docs.mkdir()
    text = "Regular exercise lowers blood pressure in adults with hypertension."
    (docs / "bp.txt").write_text(text)
    settings = Settings(home=tmp_path / "home", index="twin", model=str(out), device="cpu", backend="torch-fp32")
    index_paths(settings, [docs])
    reference = SentenceTransformer(str(out), device="cpu")
    with Searcher.open(settings) as s:
        assert s.meta.variant == "half-twin"
        query = "does exercise help hypertension"
        hit = s.search(query, k=1)[0]
        doc_vec = reference.encode_document([text], normalize_embeddings=True)[0]
        query_vec = reference.encode_query([query], normalize_embeddings=True)[0]
        assert hit.score == pytest.approx(float(np.dot(doc_vec, query_vec)), abs=1e-3)
        wrong = float(np.dot(reference.encode_query([text], normalize_embeddings=True)[0], query_vec))
        assert abs(hit.score - wrong) > 1e-4  # the document side was not embedded with the query tower
