"""Training runs on sentence-transformers' trainer with a tiny random model: seconds each on a CPU.

What is checked is the plumbing (data to rows, loss, dev evaluation, epoch choice, interrupts,
checkpoints, what is saved and printed), not that the model gets good: the real model's
learning is in test_train_cli.py's slow tests.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from docsearch.errors import ConfigError, DataError
from docsearch.train import DEFAULT_LOSS, LOSSES, MARKER, PLOT, REPORT, ProgressEvent, TrainConfig, held_out_queries, train
from docsearch.train.pairs import load_training_data
from docsearch.train.trainer import WORK_DIR, best_epoch

pytest.importorskip("sentence_transformers")

FAST = {"max_seq_length": 16, "batch_size": 8, "eval_batch_size": 32, "device": "cpu", "lr": 1e-3, "epochs": 2}


def weights(path: Path) -> dict:
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(path), device="cpu").state_dict()


def same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(a[k].equal(b[k]) for k in a)


# --------------------------------------------------------------------------- refusals before any model


def test_config_rejects_bad_values(tmp_path: Path) -> None:
    bad_values = ({"loss": "hinge"}, {"variant": "twin"}, {"dev_fraction": 1.0}, {"epochs": 0}, {"margin": -1.0},
                  {"mini_batch_size": 0}, {"device": "cuda:1"})
    for bad in bad_values:
        with pytest.raises(ConfigError):
            TrainConfig(data=tmp_path, out=tmp_path / "o", **bad)
    config = TrainConfig(data=str(tmp_path), out=str(tmp_path / "o"), loss="triplet", device="cuda:0")
    assert isinstance(config.data, Path) and config.resolved_margin == 0.2
    assert DEFAULT_LOSS in LOSSES and TrainConfig(data=tmp_path, out=tmp_path).loss == DEFAULT_LOSS == "online-contrastive"
    assert TrainConfig(data=tmp_path, out=tmp_path, loss="mnrl").resolved_margin is None


def test_refuses_a_foreign_out_dir_before_loading_any_model(tmp_path: Path) -> None:
    data = tmp_path / "p.jsonl"
    data.write_text(json.dumps({"query": "q", "text": "t", "label": 1}) + "\n")
    out = tmp_path / "out"
    out.mkdir()
    (out / "precious.txt").write_text("keep me")
    with pytest.raises(ConfigError, match="not empty"):
        train(TrainConfig(data=data, out=out, base=str(tmp_path / "no-such-model")))
    assert (out / "precious.txt").read_text() == "keep me"


def test_losses_needing_negatives_refuse_data_without_any(tmp_path: Path) -> None:
    data = tmp_path / "p.jsonl"
    data.write_text("".join(json.dumps({"query": f"q{i}", "positive": f"t{i}"}) + "\n" for i in range(5)))
    with pytest.raises(DataError, match="needs negatives"):
        train(TrainConfig(data=data, out=tmp_path / "o", loss="triplet", hard_negatives=0))


def test_best_epoch_needs_a_strictly_better_score() -> None:
    dev = [{"ndcg@10": v} for v in (0.5, 0.7, 0.7, 0.6)]
    assert best_epoch(dev, 3) == 1
    assert best_epoch([{"ndcg@10": 0.5}, {"ndcg@10": 0.5}], 1) == 0
    assert best_epoch([], 4) == 4  # no dev split: the last finished epoch


# --------------------------------------------------------------------------- whole runs, tiny model


@pytest.mark.slow
def test_a_run_saves_a_standard_model_report_plot_and_marker(
    tiny_model: Path, labelled_pairs: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    from transformers.utils import logging as hf_logging

    before = (hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled(), logging.getLogger("sentence_transformers").level)
    events: list[ProgressEvent] = []
    out = tmp_path / "model"
    config = TrainConfig(data=labelled_pairs, out=out, base=str(tiny_model), dev_fraction=0.2, hard_negatives=2,
                         skip_above=1.0, **FAST)
    report = train(config, on_progress=events.append)

    assert capfd.readouterr() == ("", "")  # the library never prints, not even the libraries it drives
    assert (hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled(),
            logging.getLogger("sentence_transformers").level) == before
    saved = json.loads((out / REPORT).read_text())
    assert len(report.dev) == len(saved["dev"]) == 3 and set(report.dev[0]) == {"ndcg@10", "mrr@10", "recall@100", "map@100"}
    assert report.best_epoch == best_epoch(report.dev, 2) and saved["best_epoch"] == report.best_epoch
    assert report.counts["dev_queries"] == 4 and report.counts["mined_negatives"] > 0
    assert 16 + 16 * 2 < report.counts["examples_per_epoch"] <= 16 + 16 * 2 + report.counts["mined_negatives"]
    assert len(report.epoch_loss) == 2 and len(report.step_loss) == events[-2].total_steps
    # The dev queries are recorded, so fusion tuning can later use queries the model never trained on.
    assert len(saved["held_out"]) == 4 and held_out_queries(str(out)) == tuple(saved["held_out"]) == report.held_out
    assert saved["settings"]["loss"] == DEFAULT_LOSS and saved["settings"]["margin"] == 0.5
    assert report.device == "cpu (bf16 autocast)" or report.device == "cpu"
    assert json.loads((out / MARKER).read_text())["variant"] == "siamese"
    assert (out / PLOT).stat().st_size > 1000 and not (out / WORK_DIR).exists()
    phases = [e.phase for e in events]
    assert phases[0] == "mine" and phases[1] == "eval" and phases[-1] == "save" and phases.count("eval") == 3
    steps = [e for e in events if e.phase == "train"]
    assert [e.step for e in steps] == list(range(1, len(steps) + 1)) and all(e.examples_per_s > 0 for e in steps)

    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(out), device="cpu")
    assert model.encode(["a query"]).shape == (1, 32)
    assert model.max_seq_length == 64  # trained on 16-token texts, saved with the base model's length


@pytest.mark.slow
def test_every_loss_trains_and_fp32_turns_autocast_off(tiny_model: Path, labelled_pairs: Path, tmp_path: Path) -> None:
    for loss in LOSSES:
        out = tmp_path / loss
        extra = {"mini_batch_size": 3} if loss == "cached-mnrl" else {}
        report = train(TrainConfig(data=labelled_pairs, out=out, base=str(tiny_model), loss=loss, hard_negatives=0,
                                   dev_fraction=0.0, precision="fp32", **{**FAST, "epochs": 1}, **extra))
        assert report.device == "cpu" and report.best_epoch == 1 and report.dev == ()
        assert all(v == v and v >= 0 for v in report.step_loss) and report.step_loss, loss  # finite, non-negative
        assert json.loads((out / MARKER).read_text())["loss"] == loss


@pytest.mark.slow
def test_half_twin_towers_differ_after_training(tiny_model: Path, labelled_pairs: Path, tmp_path: Path) -> None:
    from sentence_transformers import SentenceTransformer

    out = tmp_path / "twin"
    report = train(TrainConfig(data=labelled_pairs, out=out, base=str(tiny_model), variant="half-twin", loss="mnrl",
                               dev_fraction=0.0, hard_negatives=0, **FAST))
    assert report.best_epoch == 2 and report.dev == ()  # no dev split: the last epoch is kept
    marker = json.loads((out / MARKER).read_text())
    assert marker["variant"] == "half-twin" and marker["shared_projection"] is True
    assert (out / "router_config.json").is_file()
    model = SentenceTransformer(str(out), device="cpu")
    text = ["Vitamin D deficiency raises the risk of fractures."]
    q, d = model.encode_query(text), model.encode_document(text)
    assert q.shape == d.shape == (1, 32)
    assert abs(q - d).max() > 1e-4  # two towers, not one


def test_interrupt_before_an_epoch_ends_keeps_the_base_model(tiny_model: Path, labelled_pairs: Path, tmp_path: Path) -> None:
    def stop(event: ProgressEvent) -> None:
        if event.phase == "train" and event.step == 2:
            raise KeyboardInterrupt

    out = tmp_path / "cut"
    report = train(TrainConfig(data=labelled_pairs, out=out, base=str(tiny_model), hard_negatives=0, dev_fraction=0.2,
                               **FAST), on_progress=stop)
    assert report.interrupted and report.best_epoch == 0 and len(report.step_loss) == 2 and len(report.dev) == 1
    assert any("base model" in note for note in report.notes)
    assert json.loads((out / REPORT).read_text())["interrupted"] is True
    assert same(weights(out), weights(tiny_model)) and not (out / WORK_DIR).exists()


@pytest.mark.slow
def test_interrupt_without_dev_keeps_the_last_finished_epoch(tiny_model: Path, labelled_pairs: Path, tmp_path: Path) -> None:
    def stop(event: ProgressEvent) -> None:
        if event.phase == "train" and event.epoch == 2:
            raise KeyboardInterrupt

    out = tmp_path / "cut"
    report = train(TrainConfig(data=labelled_pairs, out=out, base=str(tiny_model), hard_negatives=0, dev_fraction=0.0,
                               **{**FAST, "epochs": 3}), on_progress=stop)
    assert report.interrupted and report.best_epoch == 1 and len(report.epoch_loss) == 1
    assert not same(weights(out), weights(tiny_model))


@pytest.mark.slow
def test_the_best_dev_epoch_is_saved_even_when_a_later_one_ran(
    tiny_model: Path, labelled_pairs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from docsearch.train import hooks, trainer

    scores = iter([0.5, 0.9, 0.7])  # before training, epoch 1, epoch 2

    def scripted(self, model, output_path=None, epoch=-1, steps=-1, *args, **kwargs):
        value = next(scores)
        self.primary_metric = "dev_cosine_ndcg@10"
        return {f"dev_cosine_{m}": value for m in ("ndcg@10", "mrr@10", "recall@100", "map@100")}

    kept: dict = {}
    keep_best = trainer._Run._keep_best

    def spy(self, model, best, base, checkpoints, load):
        kept.update(best=best, load=load, checkpoint=weights(Path(checkpoints[best])))
        keep_best(self, model, best, base, checkpoints, load)

    monkeypatch.setattr(hooks.DevEvaluator, "__call__", scripted)
    monkeypatch.setattr(trainer._Run, "_keep_best", spy)
    out = tmp_path / "best"
    report = train(TrainConfig(data=labelled_pairs, out=out, base=str(tiny_model), hard_negatives=0, dev_fraction=0.2,
                               **FAST))
    assert report.best_epoch == 1 and report.dev_best["ndcg@10"] == 0.9 and not report.interrupted
    assert kept["best"] == 1 and kept["load"] and same(weights(out), kept["checkpoint"])
    assert json.loads((out / MARKER).read_text())["dev_ndcg@10"] == 0.9


@pytest.mark.slow
def test_a_second_run_may_replace_an_earlier_model(tiny_model: Path, labelled_pairs: Path, tmp_path: Path) -> None:
    out = tmp_path / "again"
    settings = {"data": labelled_pairs, "out": out, "base": str(tiny_model), "hard_negatives": 0, "dev_fraction": 0.0,
                **FAST, "epochs": 1}
    train(TrainConfig(**settings))
    first = weights(out)
    train(TrainConfig(**{**settings, "seed": 7}))
    assert not same(weights(out), first) and sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == []


def test_mined_negatives_are_never_judged_documents(tiny_model: Path, labelled_pairs: Path) -> None:
    from sentence_transformers import SentenceTransformer

    from docsearch.train.trainer import mine_negatives

    data = load_training_data(labelled_pairs)
    model = SentenceTransformer(str(tiny_model), device="cpu")
    train_q = sorted(data.queries)[:12]
    mined = mine_negatives(model, data, train_q, n=3, skip_above=1.0, batch_size=32)
    assert mined and set(mined) <= set(train_q)
    for q, docs in mined.items():
        assert 0 < len(docs) <= 3 and len(set(docs)) == len(docs) and set(docs) <= set(data.corpus)
        assert not set(docs) & set(data.positives[q])
