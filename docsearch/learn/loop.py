"""One learning run: from an index's judgements to a new model that beats the one in use on
judgements it never trained on, or to a refusal with the numbers.

1. gather (:mod:`.evidence`): the judgements and the pools, read from the live index;
2. for each fold (:mod:`.guard`): fine-tune from the model in use on the other queries' judgements
   (:mod:`.fit`, online contrastive on every judged result, good and bad), keep every epoch's weights,
   and score each (epoch, WiSE-FT alpha) and the model in use on the held-out queries
   (:mod:`.measure`);
3. choose the smallest (epoch, alpha) the held-out nDCG@10 cannot tell from the best; compare it
   with the model in use;
4. when it wins: train once more on every judged query the same way, take the chosen epoch and
   alpha, check it still finds the index's own sentences, and save it in
   ``indexes/NAME/models/STAMP/`` with its lineage. Applying it is :func:`docsearch.reembed.reembed`.

Every run appends one line to ``indexes/NAME/learn.jsonl``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..meta import Lineage
from ..model import ModelDir
from ..train.config import ProgressEvent
from ..train.pairs import TrainingData
from . import guard
from .evidence import Evidence
from .feedback import TrainingSet
from .fit import LEARN_LOSS, FitPlan, Net, plan_for
from .measure import own_sentences, per_query, rank

LOG_FILE = "learn.jsonl"
MODELS = "models"


@dataclass(frozen=True)
class LearnConfig:
    """The knobs of a learning run; ``None`` means sized by the data (see :func:`.fit.plan_for`)."""

    loss: str = LEARN_LOSS
    epochs: int | None = None
    lr: float | None = None
    batch_size: int | None = None
    negatives: int = 3
    folds: int = guard.FOLDS
    alphas: tuple[float, ...] = guard.ALPHAS
    seed: int = 42
    device: str | None = None
    precision: str = "auto"
    max_seq_length: int | None = None


@dataclass(frozen=True)
class LearnEvent:
    """Progress: a phase starting (``measure``, ``check``, ``save``) or a training step (``train``);
    ``fold`` counts from 1, and the last one is the final training on every judged query."""

    phase: str
    fold: int = 0
    folds: int = 0
    step: int = 0
    steps: int = 0
    loss: float | None = None


@dataclass(frozen=True)
class LearnReport:
    index: str
    base: str  # the model in use, where training started
    judgements: int  # distinct (query, document) judgements
    queries: int  # judged queries with a relevant result
    scheme: str  # how the held-out figures were made
    verdict: guard.Verdict
    comparison: guard.Comparison | None = None
    own: tuple[float, float] | None = None  # own-sentence MRR@10: in use, new
    epoch: int = 0
    alpha: float = 0.0
    best: tuple[int, float] | None = None  # the (epoch, alpha) with the best held-out nDCG@10, if not chosen
    plan: FitPlan | None = None
    model: Path | None = None  # the new model, saved when it won
    lineage: tuple[Lineage, ...] = ()
    seconds: Mapping[str, float] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    @property
    def accepted(self) -> bool:
        return self.verdict.accepted

    def to_json(self) -> dict[str, Any]:
        c = self.comparison
        return {
            "index": self.index, "base": self.base, "judgements": self.judgements, "queries": self.queries,
            "scheme": self.scheme, "accepted": self.accepted, "reason": self.verdict.reason,
            "confidence": self.verdict.confidence,
            "held_out": c.queries if c else 0, "before": dict(c.before) if c else {}, "after": dict(c.after) if c else {},
            "better": c.better if c else 0, "worse": c.worse if c else 0, "same": c.same if c else 0,
            "p_value": c.p_value if c else None, "own": list(self.own) if self.own else None,
            "epoch": self.epoch, "alpha": self.alpha, "best": list(self.best) if self.best else None,
            "plan": self.plan.to_json() if self.plan else None,
            "model": str(self.model) if self.model else None, "seconds": dict(self.seconds),
            "warnings": list(self.warnings),
        }


ProgressFn = Callable[[LearnEvent], None]


class _Clock:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - t0


def learn(evidence: Evidence, index_dir: Path, config: LearnConfig = LearnConfig(),
          progress: ProgressFn | None = None, extra: TrainingData | None = None) -> LearnReport:
    """Fine-tune the model in use on the judgements ``evidence`` holds, guard it on held-out ones,
    and save it in ``index_dir/models/`` when it wins. Nothing is applied to the index here."""
    emit = progress or (lambda event: None)
    judgements, clock = evidence.judgements, _Clock()
    scorable = judgements.scorable()
    held = guard.folds(scorable, config.folds, config.seed)
    head = {"index": evidence.index, "base": evidence.model, "judgements": judgements.count, "queries": len(scorable),
            "scheme": guard.scheme(held), "warnings": judgements.warnings}
    if len(scorable) < guard.MIN_HELD_OUT:
        empty = guard.Comparison(len(scorable), {}, {}, 0, 0, 0)
        return _log(index_dir, LearnReport(**head, verdict=guard.judge(empty)))
    training = TrainingSet(judgements, evidence.filler_texts(), extra)
    pairs = sum(len(v) for v in training.fold()[0].positives.values())
    plan = plan_for(pairs, config.loss, config.epochs, config.lr, config.batch_size, config.negatives, config.seed,
                    config.max_seq_length)
    with clock.phase("train"):
        net = Net(ModelDir.resolve(evidence.model), config.device, config.precision)
    run = _Folds(net, evidence, training, plan, config, clock, emit, len(held) + 1)
    for number, held_out in enumerate(held, start=1):
        run.fold(number, held_out)
    epoch, alpha = guard.choose(run.grid)
    top = guard.best(run.grid)
    comparison = guard.compare(run.before, run.grid[(epoch, alpha)])
    report = LearnReport(**head, verdict=guard.judge(comparison), comparison=comparison, epoch=epoch, alpha=alpha,
                         best=top if top != (epoch, alpha) else None, plan=plan)
    if report.accepted:
        report = _final(run, report, index_dir)
    return _log(index_dir, replace(report, seconds=dict(clock.seconds)))


class _Folds:
    """The cross-validation: per fold, train, then score the model in use and every (epoch, alpha)."""

    def __init__(self, net: Net, evidence: Evidence, training: TrainingSet, plan: FitPlan, config: LearnConfig,
                 clock: _Clock, emit: ProgressFn, folds: int) -> None:
        self.net, self.evidence, self.training, self.plan, self.config = net, evidence, training, plan, config
        self.clock, self.emit, self.folds = clock, emit, folds
        self.base_cache: dict[str, Any] = {}
        self.before: dict[str, dict[str, float]] = {}
        self.grid: dict[tuple[int, float], dict[str, dict[str, float]]] = {}

    def train(self, number: int, held_out: list[str]) -> list[dict[str, Any]]:
        def step(event: ProgressEvent) -> None:
            self.emit(LearnEvent("train", number, self.folds, event.step, event.total_steps, event.loss))

        self.emit(LearnEvent("train", number, self.folds))
        data, train_q = self.training.fold(held_out)
        with self.clock.phase("train"):
            return self.net.fit(data, train_q, self.plan, step)

    def fold(self, number: int, held_out: list[str]) -> None:
        snapshots = self.train(number, held_out)
        self.emit(LearnEvent("measure", number, self.folds))
        ev, net = self.evidence, self.net
        qrels = ev.judgements.qrels(held_out)
        docs = ev.pool(held_out)
        with self.clock.phase("compare"):
            net.reset()
            self.before.update(per_query(rank(net, held_out, docs, ev.chunks, self.base_cache), qrels))
            for epoch, state in enumerate(snapshots, start=1):
                for alpha in self.config.alphas:
                    net.use(net.mix(state, alpha))
                    scores = per_query(rank(net, held_out, docs, ev.chunks), qrels)
                    self.grid.setdefault((epoch, alpha), {}).update(scores)
            net.reset()


def _final(run: _Folds, report: LearnReport, index_dir: Path) -> LearnReport:
    """Train on every judged query with the same schedule, take the chosen mix, check it has not
    forgotten the index's own sentences, and save it."""
    snapshots = run.train(run.folds, [])
    net, ev = run.net, run.evidence
    final = net.mix(snapshots[report.epoch - 1], report.alpha)
    run.emit(LearnEvent("check", run.folds, run.folds))
    with run.clock.phase("compare"):
        net.reset()
        before = own_sentences(net, ev.sentences, list(ev.probes), ev.chunks, run.base_cache)
        net.use(final)
        after = own_sentences(net, ev.sentences, list(ev.probes), ev.chunks)
    assert report.comparison is not None
    verdict = guard.judge(report.comparison, (before, after) if ev.sentences else None)
    report = replace(report, verdict=verdict, own=(before, after) if ev.sentences else None)
    if not verdict.accepted:
        return report
    run.emit(LearnEvent("save", run.folds, run.folds))
    with run.clock.phase("save"):
        c = report.comparison
        step = Lineage(base=ev.model, judgements=report.judgements, queries=report.queries, held_out=c.queries,
                       trained=time.time(), before=dict(c.before), after=dict(c.after))
        lineage = (*ev.lineage, step)
        out = _model_dir(index_dir)
        marker = {"variant": net.model_dir.variant, "base": ev.model, "trained_by": "docsearch train --index",
                  "lineage": [s.to_json() for s in lineage], "epoch": report.epoch, "alpha": report.alpha}
        net.save(final, out, marker)
        (out / "learn_report.json").write_text(json.dumps(replace(report, model=out).to_json(), indent=2) + "\n")
    return replace(report, model=out, lineage=lineage)


def _model_dir(index_dir: Path) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out, n = index_dir / MODELS / stamp, 1
    while out.exists():
        n += 1
        out = index_dir / MODELS / f"{stamp}-{n}"
    out.parent.mkdir(parents=True, exist_ok=True)
    return out


def _log(index_dir: Path, report: LearnReport) -> LearnReport:
    line = {"time": time.time(), **report.to_json()}
    with open(index_dir / LOG_FILE, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(line) + "\n")
    return report

