"""The learning loop end to end on the tiny model (seconds): judgements written as the session
writes them, the guard's before/after, the saved model and its lineage, applying and rolling back
through the library, the command line and the session's :learn."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from common import TOPICS, judge, make_index
from rich.console import Console

from docsearch import Index, Searcher, Settings
from docsearch.cli.interactive import Session
from docsearch.learn import LOG_FILE, LearnConfig, apply, learn_index
from docsearch.meta import PREVIOUS_FILE, read_meta
from docsearch.model import ModelDir
from docsearch.reembed import rollback

pytest.importorskip("sentence_transformers")

# The tiny random model learns "the explanation, not the release note" from a dozen queries at this
# rate; at the other it cannot move at all, so the new model ties with the one in use.
LEARNS, STILL = 1e-3, 1e-12


def config(lr: float) -> LearnConfig:
    return LearnConfig(lr=lr, device="cpu", precision="fp32")


@pytest.fixture
def judged(tmp_path: Path, tiny_model: Path) -> Settings:
    settings = make_index(tmp_path, tiny_model)
    judge(settings, TOPICS[:12])
    return settings


@pytest.mark.slow
def test_a_run_that_wins_saves_the_model_with_its_lineage_and_applies(judged: Settings, tiny_model: Path) -> None:
    before = read_meta(judged.index_dir)
    report = learn_index(judged, config(LEARNS))
    c = report.comparison
    assert report.accepted, report.verdict
    assert report.queries == c.queries == 12 and report.judgements == 48 and "5-fold" in report.scheme
    assert c.after["ndcg@10"] > c.before["ndcg@10"] and report.own is not None
    assert "12 queries: better on" in report.verdict.confidence and "small sample" in report.verdict.confidence
    assert report.model is not None and report.model.parent == judged.index_dir / "models"
    marker = ModelDir.resolve(report.model).marker()
    assert marker["trained_by"] == "docsearch train --index" and marker["base"] == str(tiny_model)
    (step,) = report.lineage
    assert step.base == str(tiny_model) and step.judgements == 48 and step.after == dict(c.after)
    assert read_meta(judged.index_dir) == before  # nothing applied yet
    logged = [json.loads(line) for line in (judged.index_dir / LOG_FILE).read_text().splitlines()]
    assert logged[-1]["accepted"] and logged[-1]["model"] == str(report.model)

    applied = apply(judged, report)
    meta = read_meta(judged.index_dir)
    assert meta.model == str(report.model) and meta.lineage == report.lineage and applied.embedded == 40
    with Searcher.open(judged) as searcher:
        assert searcher.search("how do owls work", k=1)[0].path == "guides/owls.md"  # a topic never judged
        assert searcher.info().previous == before
    rollback(judged)
    assert read_meta(judged.index_dir) == before


@pytest.mark.slow
def test_a_run_that_does_not_win_keeps_the_model_in_use(judged: Settings) -> None:
    before = read_meta(judged.index_dir)
    report = learn_index(judged, config(STILL))
    assert not report.accepted and "does not beat" in report.verdict.reason
    assert report.model is None and not any((judged.index_dir / "models").glob("*"))
    assert read_meta(judged.index_dir) == before and not (judged.index_dir / PREVIOUS_FILE).exists()


def test_too_few_judged_queries_train_nothing(tmp_path: Path, tiny_model: Path) -> None:
    settings = make_index(tmp_path, tiny_model)
    judge(settings, TOPICS[:3])
    report = learn_index(settings, config(LEARNS))
    assert not report.accepted and "too few" in report.verdict.reason and report.plan is None


# --------------------------------------------------------------------------- the command line


def cli(*args: str):
    from typer.testing import CliRunner

    from docsearch.cli import app

    return CliRunner().invoke(app, list(args), env={"COLUMNS": "160"})


@pytest.mark.slow
def test_train_index_prints_the_table_and_refuses_a_model_that_does_not_win(judged: Settings) -> None:
    home = str(judged.home)
    result = cli("train", "--index", "notes", "--home", home, "--lr", str(STILL), "--device", "cpu", "--apply")
    assert result.exit_code == 0, result.output
    for words in ("held-out judgements", "nDCG@10", "MRR@10", "in use", "kept the model in use", "nothing changed",
                  "12 queries"):
        assert words in result.output
    assert not (judged.index_dir / PREVIOUS_FILE).exists()


@pytest.mark.slow
def test_train_index_apply_json_then_info_and_rollback(judged: Settings, tiny_model: Path) -> None:
    home = str(judged.home)
    result = cli("train", "--index", "notes", "--home", home, "--lr", str(LEARNS), "--device", "cpu",
                 "--precision", "fp32", "--apply", "--json")
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert answer["learn"]["accepted"] and answer["apply"]["embedded"] == 40
    assert answer["learn"]["seconds"]["train"] > 0 and answer["apply"]["previous"] == str(tiny_model)
    info = cli("info", "--index", "notes", "--home", home)
    assert "learned" in info.output and "48 judgements" in info.output and "rollback to" in info.output
    back = cli("index", "--index", "notes", "--home", home, "--rollback")
    assert back.exit_code == 0 and "uses" in back.output
    assert read_meta(judged.index_dir).model == str(tiny_model)


def test_flags_that_do_not_fit_are_refused(judged: Settings, tmp_path: Path) -> None:
    home = str(judged.home)
    assert "only with --out" in cli("train", "--index", "notes", "--home", home, "--base", "x").output
    data = tmp_path / "p.jsonl"
    data.write_text("{}\n")
    assert "--out DIR" in cli("train", str(data)).output
    assert "--apply and --json" in cli("train", str(data), "--out", str(tmp_path / "m"), "--apply").output
    assert "--model" in cli("index", "--index", "notes", "--home", home, "--reembed").output
    assert "no previous" in cli("index", "--index", "notes", "--home", home, "--rollback").output


def test_index_reembed_switches_models_from_the_command_line(judged: Settings, tiny_model_2: Path) -> None:
    home = str(judged.home)
    result = cli("index", "--index", "notes", "--home", home, "--model", str(tiny_model_2), "--reembed",
                 "--backend", "torch-fp32")
    assert result.exit_code == 0, result.output
    assert "re-embedded 40 chunks" in result.output and read_meta(judged.index_dir).model == str(tiny_model_2)


# --------------------------------------------------------------------------- the session


def session(settings: Settings) -> tuple[Session, io.StringIO]:
    from docsearch.cli.learn import learn_here

    text = io.StringIO()
    console = Console(file=text, width=160, color_system=None)
    s = Session(lambda: Searcher(Index.open(settings)), console, settings.index_dir, name=settings.index,
                learner=lambda searcher, out: learn_here(settings, searcher, out), collapse=False)
    return s, text


@pytest.mark.slow
def test_learn_in_the_session_applies_a_winner_and_searches_with_it(
    judged: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    import docsearch.cli.learn as cli_learn

    monkeypatch.setattr(cli_learn, "LearnConfig", lambda **kw: config(LEARNS))
    s, text = session(judged)
    try:
        s.handle(":learn")
        output = text.getvalue()
        assert "training, fold 1 of 5" in output and "training on every judged query" in output
        assert "held-out judgements" in output and "applied" in output and "now searches with the new model" in output
        assert s.searcher.meta.lineage and s.searcher.meta.model == read_meta(judged.index_dir).model
        s.handle("how do owls work")  # a topic never judged
        assert s.page[0].path == "guides/owls.md"
    finally:
        s.close()


def test_the_session_hints_at_learn_every_ten_judgements(judged: Settings) -> None:
    s, text = session(judged)
    try:
        s.handle("how do ferns work")
        for n in range(10):
            s.handle(f":{'good' if n % 2 else 'bad'} {n % 3 + 1}")
        assert text.getvalue().count("10 judgements this session: :learn") == 1
    finally:
        s.close()
