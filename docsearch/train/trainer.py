"""Fine-tune a bi-encoder on labelled pairs, choosing the epoch by a held-out dev split.

Flow: read the data (:mod:`docsearch.train.pairs`), carve a dev split by query,
build the model (Siamese, or half-twin: a query tower and a document tower
behind a sentence-transformers ``Router``), mine hard negatives with the base
model if asked, then train with a plain torch loop. Dev nDCG@10 (exact cosine
against the whole corpus pool) is measured before training and after each
epoch; the best epoch's weights are what gets saved, as one ordinary
sentence-transformers directory, with ``training_report.json`` and
``training_plot.png`` beside the weights.

Batches come from :mod:`docsearch.train.batches`, the Siamese or half-twin model from
:mod:`docsearch.train.twins`. torch and sentence-transformers are imported inside the
functions that need them, so importing this module (and ``docsearch --help``)
stays instant.
"""

from __future__ import annotations

import json
import math
import random
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, DataError
from .batches import Batch, epoch_batches, negatives_per_query, split_queries
from .pairs import ResolveDoc, TrainingData, load_training_data
from .twins import bf16_ok, build_model, cosine_topk, encode, is_routed, quiet_transformers, resolve_base

if TYPE_CHECKING:
    import torch
    from sentence_transformers import SentenceTransformer

LOSSES = ("mnrl", "contrastive", "online-contrastive", "triplet")
VARIANTS = ("siamese", "half-twin")
# Margins in cosine-distance units (d = 1 - cos lies in [0, 2]). Contrastive pushes
# negatives beyond d = 0.5 (cos < 0.5), as sentence-transformers does; triplet asks
# the positive to be 0.2 closer than the negative.
DEFAULT_MARGINS = {"contrastive": 0.5, "online-contrastive": 0.5, "triplet": 0.2}
MARKER = "docsearch_model.json"
REPORT = "training_report.json"
PLOT = "training_plot.png"
# Chosen on SciFact dev (tests/bench/train_scifact.py): online-contrastive with 5 mined hard
# negatives per query and 5 epochs had the best mean dev nDCG@10, MRR@10 and Recall@100 over
# two dev splits, narrowly ahead of mnrl with the same negatives (see the README).
DEFAULT_LOSS = "online-contrastive"
_DEV_K, _DEV_DEEP = 10, 100


@dataclass(frozen=True)
class TrainConfig:
    """Every setting of one training run; ``None`` means "the default for this model / loss"."""

    data: Path
    out: Path
    base: str = "all-MiniLM-L6-v2"
    loss: str = DEFAULT_LOSS
    variant: str = "siamese"
    shared_projection: bool = True  # half-twin only: one Linear (identity at start) after both towers
    epochs: int = 5
    batch_size: int = 32
    lr: float = 5e-5
    margin: float | None = None  # None: 0.5 for (online-)contrastive, 0.2 for triplet
    hard_negatives: int = 5  # mined per training query with the base model (0: none)
    dev_fraction: float = 0.1
    seed: int = 42
    index: str | None = None  # where 'doc' ids are resolved (the CLI passes the resolver)
    max_seq_length: int | None = None  # training and dev only; None: the base model's (saved unchanged)
    device: str | None = None  # None: cuda when present, else cpu
    warmup: float = 0.1  # fraction of steps with a linearly rising learning rate
    scale: float = 20.0  # mnrl: cosine scores are multiplied by this before the softmax
    skip_above: float = 0.95  # mining: skip candidates scoring above this fraction of the positive
    weight_decay: float = 0.01
    eval_batch_size: int | None = None  # None: 256 on GPU, 64 on CPU
    precision: str = "auto"  # auto: bf16 autocast on GPUs and bf16-capable CPUs; fp32: never

    def __post_init__(self) -> None:
        object.__setattr__(self, "data", Path(self.data))
        object.__setattr__(self, "out", Path(self.out))
        problems = _config_problems(self)
        if problems:
            raise ConfigError("; ".join(problems))

    @property
    def resolved_margin(self) -> float | None:
        if self.margin is not None:
            return self.margin
        return DEFAULT_MARGINS.get(self.loss)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: _jsonable(getattr(self, f.name)) for f in fields(self)}


def _config_problems(c: TrainConfig) -> list[str]:
    checks = [
        (c.loss in LOSSES, f"--loss must be one of {', '.join(LOSSES)}, got {c.loss!r}"),
        (c.variant in VARIANTS, f"--variant must be one of {', '.join(VARIANTS)}, got {c.variant!r}"),
        (c.epochs >= 1, "--epochs must be at least 1"),
        (c.precision in ("auto", "fp32"), f"--precision must be auto or fp32, got {c.precision!r}"),
        (c.batch_size >= 2, "--batch-size must be at least 2"),
        (c.lr > 0, "--lr must be positive"),
        (c.margin is None or c.margin > 0, "--margin must be positive"),
        (c.hard_negatives >= 0, "--hard-negatives must be 0 or more"),
        (0 <= c.dev_fraction < 1, "--dev-fraction must be in [0, 1)"),
        (c.max_seq_length is None or c.max_seq_length >= 8, "--max-seq-length must be at least 8"),
        (0 <= c.warmup < 1, "warmup must be in [0, 1)"),
        (0 < c.skip_above <= 1, "skip_above must be in (0, 1]"),
    ]
    return [message for ok, message in checks if not ok]


@dataclass(frozen=True)
class ProgressEvent:
    """One training step (``phase="train"``), or a phase starting (``"mine"``, ``"eval"``, ``"save"``)."""

    epoch: int
    step: int  # steps done so far, over all epochs
    total_steps: int
    loss: float | None = None
    examples_per_s: float | None = None
    phase: str = "train"


ProgressFn = Callable[[ProgressEvent], None]


@dataclass(frozen=True)
class TrainReport:
    """What one run did; ``dev[0]`` is before training, ``dev[e]`` after epoch e."""

    out: Path
    variant: str
    loss: str
    device: str
    counts: Mapping[str, int]
    epoch_loss: tuple[float, ...]
    step_loss: tuple[float, ...]
    dev: tuple[Mapping[str, float], ...]
    best_epoch: int
    seconds: float
    train_seconds: float
    interrupted: bool
    settings: Mapping[str, Any]
    warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    examples_per_s: float = 0.0
    phase_seconds: Mapping[str, float] = field(default_factory=dict)
    # The dev query ids, never trained on: `docsearch eval --tune` tunes fusion on these, because
    # on queries the model has learned its dense scores look better than they will on new ones.
    held_out: tuple[str, ...] = ()

    @property
    def dev_before(self) -> Mapping[str, float]:
        return self.dev[0] if self.dev else {}

    @property
    def dev_best(self) -> Mapping[str, float]:
        return self.dev[self.best_epoch] if len(self.dev) > self.best_epoch else {}

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["dev_before"], data["dev_best"] = dict(self.dev_before), dict(self.dev_best)
        return _jsonable(data)


def _jsonable(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


# --------------------------------------------------------------------------- mining and dev metrics


def mine_negatives(
    q_emb: torch.Tensor,
    qids: Sequence[str],
    doc_emb: torch.Tensor,
    doc_ids: Sequence[str],
    data: TrainingData,
    n: int,
    skip_above: float,
) -> dict[str, list[str]]:
    """Per query, the ``n`` best-scoring documents that are not judged for it.

    A candidate scoring above ``skip_above`` times the query's best positive
    is skipped: so close to a known positive, it is more likely an unjudged
    positive than a negative, and training against it would hurt.
    """
    index = {d: i for i, d in enumerate(doc_ids)}
    judged = {q: {*data.positives.get(q, ()), *data.negatives.get(q, ())} for q in qids}
    depth = n * 3 + max((len(j) for j in judged.values()), default=0) + 10
    values, indices = cosine_topk(q_emb, doc_emb, depth)
    mined: dict[str, list[str]] = {}
    for row, q in enumerate(qids):
        pos = [index[d] for d in data.positives.get(q, ()) if d in index]
        best = float((q_emb[row] @ doc_emb[pos].T).max()) if pos else None
        ceiling = skip_above * best if best is not None and best > 0 else math.inf
        picks = [
            doc_ids[i]
            for v, i in zip(values[row].tolist(), indices[row].tolist(), strict=True)
            if doc_ids[i] not in judged[q] and v <= ceiling
        ]
        if picks[:n]:
            mined[q] = picks[:n]
    return mined


def dev_metrics(
    q_emb: torch.Tensor, dev_q: Sequence[str], doc_emb: torch.Tensor, doc_ids: Sequence[str], data: TrainingData
) -> dict[str, float]:
    """nDCG@10, MRR@10, Recall@100, MAP@100 of exact cosine retrieval over the whole pool."""
    from ..metrics import score

    values, indices = cosine_topk(q_emb, doc_emb, _DEV_DEEP)
    run = {q: {doc_ids[i]: v for v, i in zip(values[r].tolist(), indices[r].tolist(), strict=True)} for r, q in enumerate(dev_q)}
    qrels = {q: dict.fromkeys(data.positives[q], 1) for q in dev_q}
    return score(run, qrels, k=_DEV_K, deep=_DEV_DEEP)


def make_loss(config: TrainConfig) -> torch.nn.Module:
    from . import losses

    margin = config.resolved_margin
    if config.loss == "mnrl" or margin is None:
        return losses.MultipleNegativesRankingLoss(config.scale)
    if config.loss == "contrastive":
        return losses.ContrastiveLoss(margin)
    if config.loss == "online-contrastive":
        return losses.OnlineContrastiveLoss(margin)
    return losses.TripletLoss(margin)


# --------------------------------------------------------------------------- the run


class _Trainer:
    """State of one run; each method is one phase, so an interrupt lands between clean states."""

    def __init__(self, config: TrainConfig, data: TrainingData, train_q: list[str], dev_q: list[str], emit: ProgressFn) -> None:
        import torch

        self.config, self.data, self.train_q, self.dev_q, self.emit = config, data, train_q, dev_q, emit
        self.device = config.device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.amp = config.precision == "auto" and bf16_ok(self.device)
        self.eval_bs = config.eval_batch_size or (256 if self.device.startswith("cuda") else 64)
        self.doc_ids = list(data.corpus)
        self.counts: dict[str, int] = {**data.counts(), "train_queries": len(train_q), "dev_queries": len(dev_q)}
        self.notes: list[str] = []
        self.phase_seconds: dict[str, float] = {}
        self.dev: list[dict[str, float]] = []
        self.epoch_loss: list[float] = []
        self.step_loss: list[float] = []
        self.step = 0
        self.examples = 0
        self.train_seconds = 0.0
        self.best_epoch = 0
        self.best_state: dict[str, torch.Tensor] | None = None

    def _timed(self, phase: str, started: float) -> None:
        self.phase_seconds[phase] = self.phase_seconds.get(phase, 0.0) + time.perf_counter() - started

    def setup(self) -> None:
        import torch

        started = time.perf_counter()
        quiet_transformers()
        torch.manual_seed(self.config.seed)
        base = resolve_base(self.config.base)
        c = self.config
        self.model = build_model(base, c.variant, c.shared_projection, self.device)
        # --max-seq-length truncates training and dev texts only; the saved model keeps the base's
        # length, which the indexer uses as its chunk size.
        self.saved_max_len = self.model.max_seq_length
        if c.max_seq_length:
            self.model.max_seq_length = c.max_seq_length
        self.routed = is_routed(self.model)
        self.loss_fn = make_loss(c)
        self._timed("load", started)
        n_mine = c.hard_negatives
        base_docs = self._encode_corpus() if n_mine or self.dev_q else None
        mined = self._mine(base_docs, n_mine) if n_mine and base_docs is not None else {}
        self.negatives = negatives_per_query(self.data, self.train_q, mined)
        self.counts["mined_negatives"] = sum(len(v) for v in mined.values())
        if c.loss != "mnrl" and not self.negatives:
            raise DataError(f"loss {c.loss!r} needs negatives: the data labels none, and none were mined (--hard-negatives N)")
        if self.dev_q and base_docs is not None:
            self.dev.append(self._evaluate(base_docs))
        self._plan()
        self.best_state = self._snapshot()

    def _per_example(self) -> int:
        """Negatives drawn per (query, positive) for mnrl and triplet."""
        if self.config.loss == "mnrl" and not self.config.hard_negatives:
            return 1 if self.data.negatives else 0
        return max(self.config.hard_negatives, 1)

    def _plan(self) -> None:
        import torch

        c = self.config
        rng = random.Random(c.seed)
        k = self._per_example()
        self.plan = [
            epoch_batches(c.loss, self.data, self.train_q, self.negatives, k, c.batch_size, rng) for _ in range(c.epochs)
        ]
        if not self.plan[0]:
            raise DataError(f"no training examples for loss {c.loss!r} (it needs negatives; try --hard-negatives N)")
        self.counts["examples_per_epoch"] = sum(len(b.queries) for b in self.plan[0])
        self.total_steps = sum(len(p) for p in self.plan)
        decay = [p for p in self.model.parameters() if p.ndim >= 2]
        no_decay = [p for p in self.model.parameters() if p.ndim < 2]  # biases, LayerNorm
        groups = [{"params": decay, "weight_decay": c.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
        self.optimizer = torch.optim.AdamW(groups, lr=c.lr)
        warm = max(1, int(self.total_steps * c.warmup))

        def schedule(step: int) -> float:  # linear warm-up, then linear decay to zero
            if step < warm:
                return (step + 1) / warm
            return max(0.0, (self.total_steps - step) / max(1, self.total_steps - warm))

        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, schedule)

    def _encode_corpus(self) -> torch.Tensor:
        started = time.perf_counter()
        self.emit(ProgressEvent(len(self.epoch_loss), self.step, getattr(self, "total_steps", 0), phase="eval"))
        with self._autocast():
            docs = encode(self.model, [self.data.corpus[d] for d in self.doc_ids], "document", self.eval_bs)
        self._timed("encode_corpus", started)
        return docs

    def _mine(self, docs: torch.Tensor, n: int) -> dict[str, list[str]]:
        started = time.perf_counter()
        self.emit(ProgressEvent(0, 0, 0, phase="mine"))
        qids = [q for q in self.train_q if self.data.positives.get(q)]
        with self._autocast():
            q_emb = encode(self.model, [self.data.queries[q] for q in qids], "query", self.eval_bs)
        mined = mine_negatives(q_emb, qids, docs, self.doc_ids, self.data, n, self.config.skip_above)
        self._timed("mine", started)
        return mined

    def _evaluate(self, docs: torch.Tensor | None = None) -> dict[str, float]:
        docs = self._encode_corpus() if docs is None else docs
        started = time.perf_counter()
        with self._autocast():
            q_emb = encode(self.model, [self.data.queries[q] for q in self.dev_q], "query", self.eval_bs)
        result = dev_metrics(q_emb, self.dev_q, docs, self.doc_ids, self.data)
        self._timed("dev_queries", started)
        return result

    def _snapshot(self) -> dict[str, torch.Tensor]:
        return {k: v.detach().to("cpu", copy=True) for k, v in self.model.state_dict().items()}

    def _forward(self, texts: list[str], task: str) -> torch.Tensor:
        from sentence_transformers.util import batch_to_device

        kwargs = {"task": task} if self.routed else {}
        # sentence-transformers < 6 names preprocess() tokenize()
        prepare = getattr(self.model, "preprocess", None) or self.model.tokenize
        features = batch_to_device(prepare(texts, **kwargs), self.model.device)
        with self._autocast():
            out = self.model(features, **kwargs)["sentence_embedding"]
        return out.float()  # losses in fp32

    def _autocast(self) -> Any:
        """bf16 matmuls over fp32 master weights: about 2x on a bf16-capable CPU as on a GPU."""
        import contextlib

        import torch

        if not self.amp:
            return contextlib.nullcontext()
        return torch.autocast(self.device.split(":")[0], dtype=torch.bfloat16)

    def _batch_loss(self, batch: Batch) -> torch.Tensor:
        import torch

        data = self.data
        q = self._forward([data.queries[i] for i in batch.queries], "query")
        d = self._forward([data.corpus[i] for i in (*batch.docs, *batch.negs)], "document")
        p, n = d[: len(batch.docs)], d[len(batch.docs) :]
        if self.config.loss == "mnrl":
            columns = (*batch.docs, *batch.negs)
            exclude = torch.tensor(
                [[c in data.positives.get(qid, ()) for c in columns] for qid in batch.queries], device=q.device
            )
            return self.loss_fn(q, p, n, exclude)
        if self.config.loss == "triplet":
            return self.loss_fn(q, p, n)
        return self.loss_fn(q, p, torch.tensor(batch.labels, device=q.device))

    def run_epoch(self, epoch: int) -> None:
        import torch

        self.model.train()
        started, done, losses = time.perf_counter(), 0, []
        try:
            for batch in self.plan[epoch - 1]:
                loss = self._batch_loss(batch)
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
                self.optimizer.step()
                self.scheduler.step()
                self.step, done = self.step + 1, done + len(batch.queries)
                losses.append(float(loss.detach()))
                self.step_loss.append(losses[-1])
                rate = done / max(time.perf_counter() - started, 1e-9)
                self.emit(ProgressEvent(epoch, self.step, self.total_steps, losses[-1], rate))
        finally:
            self.examples += done
            self.train_seconds += time.perf_counter() - started
            self._timed("train", started)
        self.epoch_loss.append(sum(losses) / len(losses))

    def select(self, epoch: int) -> None:
        """Dev metrics after ``epoch``; keep its weights if they beat the best so far."""
        if not self.dev_q:
            self.best_epoch, self.best_state = epoch, self._snapshot()
            return
        self.dev.append(self._evaluate())
        if self.dev[-1]["ndcg@10"] > self.dev[self.best_epoch]["ndcg@10"]:
            self.best_epoch, self.best_state = epoch, self._snapshot()

    def restore_best(self) -> None:
        if self.best_state is not None:
            self.model.load_state_dict(self.best_state)


def train(config: TrainConfig, on_progress: ProgressFn | None = None, resolve_doc: ResolveDoc | None = None) -> TrainReport:
    """Train, keep the best dev epoch, save model + report + plot to ``config.out``.

    Ctrl-C during training stops after the current step; the best weights so
    far are saved and the report says ``interrupted``. Ctrl-C before the first
    dev measurement (loading, mining) propagates: there is nothing to keep yet.
    """
    started = time.perf_counter()
    data = load_training_data(config.data, resolve_doc)
    check_out_dir(config.out)
    train_q, dev_q = split_queries(data, config.dev_fraction, config.seed)
    if config.loss != "mnrl" and not config.hard_negatives and not any(data.negatives.get(q) for q in train_q):
        raise DataError(f"loss {config.loss!r} needs negatives: the data labels none; mine some with --hard-negatives N")
    trainer = _Trainer(config, data, train_q, dev_q, on_progress or (lambda event: None))
    trainer.setup()
    interrupted = False
    try:
        for epoch in range(1, config.epochs + 1):
            trainer.run_epoch(epoch)
            trainer.select(epoch)
    except KeyboardInterrupt:
        interrupted = True
    trainer.restore_best()
    if trainer.dev and trainer.best_epoch == 0:
        trainer.notes.append("no epoch beat the base model on dev: the saved weights are the base model's")
    if trainer.saved_max_len:
        trainer.model.max_seq_length = trainer.saved_max_len
    report = TrainReport(
        out=config.out,
        variant=config.variant,
        loss=config.loss,
        device=trainer.device + (" (bf16 autocast)" if trainer.amp else ""),
        counts=trainer.counts,
        epoch_loss=tuple(trainer.epoch_loss),
        step_loss=tuple(trainer.step_loss),
        dev=tuple(trainer.dev),
        best_epoch=trainer.best_epoch,
        seconds=0.0,
        train_seconds=trainer.train_seconds,
        interrupted=interrupted,
        settings={**config.to_dict(), "margin": config.resolved_margin, "base_dir": str(resolve_base(config.base))},
        warnings=data.warnings,
        notes=tuple(trainer.notes),
        examples_per_s=trainer.examples / trainer.train_seconds if trainer.train_seconds else 0.0,
        phase_seconds=trainer.phase_seconds,
        held_out=tuple(dev_q),
    )
    trainer.emit(ProgressEvent(trainer.best_epoch, trainer.step, trainer.total_steps, phase="save"))
    save_model(trainer.model, config, report)
    report = _replace(report, seconds=time.perf_counter() - started)
    write_report(report, config.out)
    return report


def held_out_queries(model: str) -> tuple[str, ...]:
    """The dev query ids a docsearch-trained ``model`` never trained on; () for any other model."""
    path = Path(model) / REPORT
    if not path.is_file():
        return ()
    try:
        ids = json.loads(path.read_text(encoding="utf-8")).get("held_out", [])
    except (OSError, ValueError, AttributeError):
        return ()
    return tuple(str(q) for q in ids) if isinstance(ids, list) else ()


def _replace(report: TrainReport, **changes: Any) -> TrainReport:
    from dataclasses import replace

    return replace(report, **changes)


def check_out_dir(out: Path) -> None:
    """Refuse to write over anything but an empty folder or an earlier docsearch model."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file; give a directory")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).is_file():
        raise ConfigError(f"--out {out} is not empty and holds no docsearch model; choose a new or empty directory")


def save_model(model: SentenceTransformer, config: TrainConfig, report: TrainReport) -> None:
    """Save to a sibling folder first, then swap it in, so a failed save leaves the old model whole."""
    out = config.out
    partial = out.parent / f".{out.name}.partial"
    if partial.exists():
        shutil.rmtree(partial)
    model.save(str(partial), create_model_card=False)
    marker = {
        "variant": config.variant,
        "shared_projection": bool(config.variant == "half-twin" and config.shared_projection),
        "base": config.base,
        "loss": config.loss,
        "best_epoch": report.best_epoch,
        "dev_ndcg@10": report.dev_best.get("ndcg@10"),
        "trained_by": "docsearch train",
    }
    (partial / MARKER).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")
    if out.exists():
        shutil.rmtree(out)  # checked by check_out_dir: empty, or an earlier docsearch model
    partial.rename(out)


def write_report(report: TrainReport, out: Path) -> None:
    (out / REPORT).write_text(json.dumps(report.to_dict(), indent=2) + "\n", encoding="utf-8")
    plot_report(report, out / PLOT)


def plot_report(report: TrainReport, path: Path) -> None:
    """Loss per step and per epoch; dev nDCG@10 before training and after each epoch."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 4), layout="constrained")
    FigureCanvasAgg(fig)  # Agg without pyplot: no global backend switch, no display needed
    left, right = fig.subplots(1, 2)
    left.plot(range(1, len(report.step_loss) + 1), report.step_loss, alpha=0.35, label="step")
    if report.epoch_loss:
        per_epoch = len(report.step_loss) / max(len(report.epoch_loss), 1)
        ends = [round(per_epoch * (e + 1)) for e in range(len(report.epoch_loss))]
        left.plot(ends, report.epoch_loss, "o-", label="epoch mean")
    left.set(title=f"training loss ({report.loss})", xlabel="step", ylabel="loss")
    left.legend()
    ndcg = [d.get("ndcg@10", math.nan) for d in report.dev]
    right.plot(range(len(ndcg)), ndcg, "o-")
    if ndcg:
        right.axvline(report.best_epoch, color="grey", linestyle=":", label=f"best: epoch {report.best_epoch}")
        right.legend()
    right.set(title="dev nDCG@10", xlabel="epoch (0 = before training)", ylabel="nDCG@10")
    fig.savefig(path, dpi=100)
