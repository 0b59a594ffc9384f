"""`docsearch train` as a user runs it: the typer command on the tiny model (fast), then the real
MiniLM through ``python -m docsearch train`` and two processes under torchrun (slow), and what a
trained model does back in index and search."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from docsearch.train import MARKER, PLOT, REPORT, held_out_queries

pytest.importorskip("sentence_transformers")

REPO = Path(__file__).resolve().parents[2]
BEIR_TINY = REPO / "tests" / "data" / "beir_tiny"


def invoke(*args: str):
    from typer.testing import CliRunner

    from docsearch.cli import app

    return CliRunner().invoke(app, ["train", *args])


def run_module(*args: str, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    """A real process on this checkout, as a user or torchrun starts it."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
           "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "COLUMNS": "120"}
    return subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True, timeout=timeout)


def test_help_lists_the_library_losses_and_the_new_flag() -> None:
    result = invoke("--help")
    assert result.exit_code == 0
    assert "cached-mnrl" in result.output and "--mini-batch-size" in result.output and "--hard-negatives" in result.output


@pytest.mark.slow
def test_cli_trains_cached_mnrl_and_prints_the_report(tiny_model: Path, tmp_path: Path) -> None:
    out = tmp_path / "model"
    result = invoke(str(BEIR_TINY), "--out", str(out), "--base", str(tiny_model), "--loss", "cached-mnrl",
                    "--mini-batch-size", "2", "--epochs", "1", "--batch-size", "4", "--hard-negatives", "1",
                    "--max-seq-length", "16", "--device", "cpu", "--precision", "fp32")
    assert result.exit_code == 0, result.output
    assert "training data" in result.output and "nDCG@10" in result.output and "before" in result.output
    report = json.loads((out / REPORT).read_text())
    assert report["settings"]["loss"] == "cached-mnrl" and report["settings"]["mini_batch_size"] == 2
    assert report["counts"]["dev_queries"] == 1 and len(report["dev"]) == 2 and report["device"] == "cpu"


@pytest.mark.slow
def test_only_the_first_process_prints(tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RANK", "1")  # as torchrun tells its second process
    result = invoke(str(BEIR_TINY), "--out", str(tmp_path / "m"), "--base", str(tiny_model), "--loss", "mnrl",
                    "--epochs", "1", "--hard-negatives", "0", "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert result.output == ""


@pytest.mark.slow
def test_a_half_twin_index_embeds_documents_and_queries_with_their_own_towers(
    tiny_model: Path, labelled_pairs: Path, tmp_path: Path
) -> None:
    import numpy as np
    from sentence_transformers import SentenceTransformer

    from docsearch.indexer import index_paths
    from docsearch.searcher import Searcher
    from docsearch.settings import Settings
    from docsearch.train import TrainConfig, train

    out = tmp_path / "twin"
    train(TrainConfig(data=labelled_pairs, out=out, base=str(tiny_model), variant="half-twin", loss="mnrl", epochs=2,
                      batch_size=8, dev_fraction=0.0, hard_negatives=0, device="cpu", lr=1e-3))
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
        hit = s.search(query, k=1, mode="dense")[0]  # the cosine itself, not a fused score
        doc_vec = reference.encode_document([text], normalize_embeddings=True)[0]
        query_vec = reference.encode_query([query], normalize_embeddings=True)[0]
        assert hit.score == pytest.approx(float(np.dot(doc_vec, query_vec)), abs=1e-3)
        wrong = float(np.dot(reference.encode_query([text], normalize_embeddings=True)[0], query_vec))
        assert abs(hit.score - wrong) > 1e-4  # the document side was not embedded with the query tower


# --------------------------------------------------------------------------- the real model, real processes


@pytest.fixture(scope="module")
def minilm_run(scifact_slice: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """all-MiniLM-L6-v2 fine-tuned by `python -m docsearch train` on 40 SciFact queries: mnrl with one
    mined negative, two epochs of three steps on 32-token texts."""
    out = tmp_path_factory.mktemp("minilm") / "model"
    done = run_module("-m", "docsearch", "train", str(scifact_slice), "--out", str(out), "--loss", "mnrl",
                      "--epochs", "2", "--batch-size", "16", "--lr", "1e-4", "--hard-negatives", "1",
                      "--max-seq-length", "32", "--device", "cpu")
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == ""  # progress is a transient bar on a terminal; none in a pipe, and no library noise
    return out, done.stdout


@pytest.mark.slow
def test_minilm_learns_and_saves_a_plain_sentence_transformers_dir(minilm_run: tuple[Path, str]) -> None:
    from sentence_transformers import SentenceTransformer

    out, output = minilm_run
    assert "nDCG@10" in output and "before" in output and "training data" in output
    assert (out / PLOT).stat().st_size > 1000
    report = json.loads((out / REPORT).read_text())
    assert len(report["dev"]) == 3 and report["settings"]["loss"] == "mnrl" and not report["interrupted"]
    assert report["counts"]["dev_queries"] == 4 and report["counts"]["mined_negatives"] > 0
    assert report["best_epoch"] > 0 and report["dev_best"]["ndcg@10"] > report["dev_before"]["ndcg@10"]  # it learned
    first, second = report["epoch_loss"]
    assert second < first
    assert len(report["held_out"]) == 4 and held_out_queries(str(out)) == tuple(report["held_out"])
    assert json.loads((out / MARKER).read_text())["variant"] == "siamese"
    model = SentenceTransformer(str(out), device="cpu")
    assert model.encode(["a claim about cells"]).shape == (1, 384)
    assert model.max_seq_length == 256  # trained on 32-token texts, saved with the base model's length


@pytest.mark.slow
def test_a_trained_model_indexes_and_searches_and_base_indexes_refuse_it(
    minilm_run: tuple[Path, str], tmp_path: Path
) -> None:
    from docsearch.errors import ModelMismatchError
    from docsearch.indexer import index_paths
    from docsearch.searcher import Searcher
    from docsearch.settings import Settings

    model = str(minilm_run[0])
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


@pytest.mark.slow
def test_torchrun_trains_on_two_processes_and_only_the_first_writes(tiny_model: Path, tmp_path: Path) -> None:
    """The multi-GPU path, on CPU: two processes over gloo, batches sharded by the trainer, negatives
    mined once and shared, one report and one model."""
    out = tmp_path / "ddp"
    done = run_module("-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                      "-m", "docsearch", "train", str(BEIR_TINY), "--out", str(out), "--base", str(tiny_model),
                      "--loss", "mnrl", "--epochs", "2", "--batch-size", "2", "--hard-negatives", "1",
                      "--max-seq-length", "16", "--device", "cpu", timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("training data") == 1  # the second process trains but prints nothing
    report = json.loads((out / REPORT).read_text())
    assert report["settings"]["world_size"] == 2 and "2 processes" in report["device"]
    assert len(report["dev"]) == 3 and len(report["epoch_loss"]) == 2 and report["step_loss"]
    assert json.loads((out / MARKER).read_text())["trained_by"] == "docsearch train"
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == []
