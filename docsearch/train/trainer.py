"""Fine-tune a bi-encoder on labelled pairs with sentence-transformers' trainer, keeping the epoch
that scores best on a dev split held out by query id.

Flow: read the data (:mod:`.pairs`), carve the dev split (:mod:`.examples`), build the model,
Siamese or half-twin (:mod:`.twins`), mine hard negatives with the base model
(``sentence_transformers.util.mine_hard_negatives``), lay out the rows the loss reads
(:mod:`.examples`, as a ``datasets.Dataset``), then train with ``SentenceTransformerTrainer``:
the library's loss (:mod:`.objectives`), duplicate-free batches for in-batch negatives, an
``InformationRetrievalEvaluator`` over the dev queries and the whole corpus pool before training
and after each epoch, a checkpoint per epoch and ``load_best_model_at_end`` on dev nDCG@10. The
best epoch's weights, or the base model's when no epoch beats it, are saved to ``--out`` as one
ordinary sentence-transformers directory, with ``training_report.json`` and
``training_plot.png`` (:mod:`.report`). Checkpoints live in ``--out/.checkpoints`` while the run
lasts and are removed after it.

Under ``torchrun`` or ``accelerate launch`` every process runs :func:`train`; the trainer
shards the batches, the main process mines the negatives and shares them, and only the main
process writes the model, the report and the plot.

torch, datasets and sentence-transformers are imported when a run starts, so importing this
module (and ``docsearch --help``) stays instant.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ConfigError, DataError
from .config import IN_BATCH_LOSSES, ProgressEvent, ProgressFn, TrainConfig
from .examples import negatives_per_example, negatives_per_query, split_queries, training_columns
from .pairs import ResolveDoc, TrainingData, load_training_data
from .report import MARKER, TrainReport, write_report
from .twins import bf16_ok, build_model, resolve_base, router_mapping

if TYPE_CHECKING:
    import torch
    from sentence_transformers import SentenceTransformer, SentenceTransformerTrainingArguments
    from transformers import TrainerState

    from .hooks import DevEvaluator, Progress

WORK_DIR = ".checkpoints"  # under --out, while a run lasts


def train(config: TrainConfig, on_progress: ProgressFn | None = None, resolve_doc: ResolveDoc | None = None) -> TrainReport:
    """Train, keep the best dev epoch, save model + report + plot to ``config.out``.

    Ctrl-C during training stops the run; the best weights measured so far (the base model's
    if no epoch finished) are saved and the report says ``interrupted``. Ctrl-C before the
    first dev measurement (loading, mining) propagates: there is nothing to keep yet.
    """
    started = time.perf_counter()
    data = load_training_data(config.data, resolve_doc)
    check_out_dir(config.out)
    train_q, dev_q = split_queries(data, config.dev_fraction, config.seed)
    if config.loss not in IN_BATCH_LOSSES and not config.hard_negatives and not any(data.negatives.get(q) for q in train_q):
        raise DataError(f"loss {config.loss!r} needs negatives: the data labels none; mine some with --hard-negatives N")
    from .hooks import quiet

    with quiet():
        return _Run(config, data, train_q, dev_q, on_progress or (lambda event: None)).execute(started)


def best_epoch(dev: Sequence[Mapping[str, float]], epochs_done: int) -> int:
    """The epoch whose dev nDCG@10 first reached the maximum (0: before training); with no dev
    split, the last finished epoch. A later epoch must beat the best strictly, as the trainer's
    ``load_best_model_at_end`` requires."""
    if not dev:
        return epochs_done
    best = 0
    for epoch, metrics in enumerate(dev):
        if metrics["ndcg@10"] > dev[best]["ndcg@10"]:
            best = epoch
    return best


def mine_negatives(
    model: SentenceTransformer,
    data: TrainingData,
    train_q: Sequence[str],
    n: int,
    skip_above: float,
    batch_size: int,
    autocast_device: str | None = None,
) -> dict[str, list[str]]:
    """Per training query, the ``n`` best-scoring pool documents not judged relevant for it.

    A candidate scoring within ``1 - skip_above`` (relative) of the query's positive is skipped:
    so close to a known positive, it is more likely an unjudged positive than a negative.
    """
    from datasets import Dataset
    from sentence_transformers.util import mine_hard_negatives

    from .hooks import autocast, swallow_output

    pairs = [(q, p) for q in train_q for p in data.positives.get(q, ())]
    if not pairs:
        return {}
    dataset = Dataset.from_dict({"query": [data.queries[q] for q, _ in pairs], "document": [data.corpus[p] for _, p in pairs]})
    with swallow_output(), autocast(autocast_device):
        labelled = mine_hard_negatives(
            dataset,
            model,
            anchor_column_name="query",
            positive_column_name="document",
            corpus=list(data.corpus.values()),
            relative_margin=1.0 - skip_above,
            num_negatives=n,
            sampling_strategy="top",
            output_format="labeled-pair",  # per query: its positives (1), then its negatives (0), best first
            batch_size=batch_size,
            verbose=False,
        )
    # The library works on texts; map them back to ids (a text shared by two ids maps to the first).
    qids_by_text: dict[str, list[str]] = {}
    for q in dict.fromkeys(q for q, _ in pairs):
        qids_by_text.setdefault(data.queries[q], []).append(q)
    doc_by_text: dict[str, str] = {}
    for doc_id, text in data.corpus.items():
        doc_by_text.setdefault(text, doc_id)
    mined: dict[str, list[str]] = {}
    for query, doc, label in zip(labelled["query"], labelled["document"], labelled["label"], strict=True):
        if label == 0:
            for q in qids_by_text[query]:
                mined.setdefault(q, []).append(doc_by_text[doc])
    return mined


class _Run:
    """One run; each method is one phase."""

    def __init__(self, config: TrainConfig, data: TrainingData, train_q: list[str], dev_q: list[str], emit: ProgressFn) -> None:
        import torch

        self.config, self.data, self.train_q, self.dev_q, self.emit = config, data, train_q, dev_q, emit
        self.device = config.device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.amp = config.precision == "auto" and bf16_ok(self.device)
        self.autocast_device = self.device.split(":")[0] if self.amp else None
        self.eval_bs = config.eval_batch_size or (64 if self.device == "cpu" else 256)
        self.per_example = negatives_per_example(config.loss, config.hard_negatives, data)
        self.counts: dict[str, int] = {**data.counts(), "train_queries": len(train_q), "dev_queries": len(dev_q)}
        self.phase_seconds: dict[str, float] = {}
        self.notes: list[str] = []

    def _timed(self, phase: str, started: float) -> None:
        self.phase_seconds[phase] = self.phase_seconds.get(phase, 0.0) + time.perf_counter() - started

    def execute(self, started: float) -> TrainReport:
        out = self.config.out
        created = not out.exists()
        workdir = out / WORK_DIR
        # The arguments come first: under torchrun / accelerate launch they start the process group.
        args = self._arguments(workdir)
        main = args.process_index == 0
        try:
            return self._run(args, main, started)
        finally:
            if main:
                shutil.rmtree(workdir, ignore_errors=True)
                if created and out.is_dir() and not any(out.iterdir()):
                    out.rmdir()  # a run that failed leaves no empty --out behind

    def _run(self, args: SentenceTransformerTrainingArguments, main: bool, started: float) -> TrainReport:
        import torch
        from datasets import Dataset
        from transformers import PrinterCallback

        from .hooks import CardlessTrainer, DevEvaluator, Progress
        from .objectives import make_loss

        c, t = self.config, time.perf_counter()
        torch.manual_seed(c.seed)
        model = build_model(resolve_base(c.base), c.variant, c.shared_projection, str(args.device))
        # --max-seq-length truncates training and dev texts only; the saved model keeps the base's
        # length, which the indexer uses as its chunk size.
        saved_max_len = model.max_seq_length
        if c.max_seq_length:
            model.max_seq_length = c.max_seq_length
        self._timed("load", t)
        mined = self._mine(model, main, args.world_size) if c.hard_negatives else {}
        negatives = negatives_per_query(self.data, self.train_q, mined)
        self.counts["mined_negatives"] = sum(len(v) for v in mined.values())
        if c.loss not in IN_BATCH_LOSSES and not negatives:
            raise DataError(f"loss {c.loss!r} needs negatives: the data labels none, and none were mined (--hard-negatives N)")
        columns = training_columns(c.loss, self.data, self.train_q, negatives, self.per_example, c.seed)
        if not columns["query"]:
            raise DataError(f"no training examples for loss {c.loss!r} (it needs negatives; try --hard-negatives N)")
        self.counts["examples_per_epoch"] = len(columns["query"])
        args.router_mapping = router_mapping(model, columns)
        progress = Progress(self.emit, len(columns["query"]), bool(self.dev_q))
        trainer = CardlessTrainer(
            model=model,
            args=args,
            train_dataset=Dataset.from_dict(columns),
            loss=make_loss(c, model, args.world_size),
            evaluator=self._evaluator(DevEvaluator) if self.dev_q else None,
            callbacks=[progress],
        )
        trainer.remove_callback(PrinterCallback)  # what disable_tqdm puts in the bar's place prints every log
        base_state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
        t, interrupted = time.perf_counter(), False
        try:
            trainer.train()
        except KeyboardInterrupt:
            if self.dev_q and not progress.dev:
                raise  # not even the base model was measured: nothing to keep
            interrupted = True
            progress.stop_clock()
        else:
            trainer.accelerator.wait_for_everyone()  # every process is done with the checkpoints
        self.phase_seconds["train"] = progress.train_seconds
        self.phase_seconds["dev"] = progress.dev_seconds
        self.phase_seconds["checkpoints"] = max(0.0, time.perf_counter() - t - progress.train_seconds - progress.dev_seconds)
        trained = len(progress.epoch_loss)
        # A cut-short run can keep only an epoch whose checkpoint was written (on_save comes after the write).
        kept = max(progress.checkpoints, default=0) if interrupted else trained
        best = best_epoch(progress.dev[: kept + 1], kept)
        if main:
            self._keep_best(model, best, base_state, progress.checkpoints, interrupted or best != trained)
        model.max_seq_length = saved_max_len
        report = self._report(args, progress, best, interrupted, trainer.state)
        if main:
            t = time.perf_counter()
            self.emit(ProgressEvent(best, trainer.state.global_step, trainer.state.max_steps, phase="save"))
            save_model(model, c, report)
            self._timed("save", t)
            report = replace(report, seconds=time.perf_counter() - started, phase_seconds=dict(self.phase_seconds))
            write_report(report, c.out)
        return report

    def _arguments(self, workdir: Path) -> SentenceTransformerTrainingArguments:
        from sentence_transformers import SentenceTransformerTrainingArguments

        from .hooks import BEST_METRIC
        from .objectives import batch_sampler

        c, has_dev, cpu = self.config, bool(self.dev_q), self.device == "cpu"
        return SentenceTransformerTrainingArguments(
            output_dir=str(workdir),
            num_train_epochs=c.epochs,
            per_device_train_batch_size=c.batch_size,
            per_device_eval_batch_size=self.eval_bs,
            learning_rate=c.lr,
            warmup_steps=c.warmup,  # a float below 1 is a fraction of all steps
            weight_decay=c.weight_decay,
            lr_scheduler_type="linear",
            seed=c.seed,
            data_seed=c.seed,
            bf16=self.amp,
            use_cpu=cpu,
            dataloader_pin_memory=not cpu,
            batch_sampler=batch_sampler(c.loss),
            eval_strategy="epoch" if has_dev else "no",
            eval_on_start=has_dev,
            save_strategy="epoch",
            save_total_limit=1,  # with load_best_model_at_end: the best and the latest
            save_only_model=True,
            load_best_model_at_end=has_dev,
            metric_for_best_model=BEST_METRIC if has_dev else None,
            greater_is_better=True,
            logging_strategy="steps",
            logging_steps=1,  # every step's loss reaches the report and the progress bar
            report_to="none",
            disable_tqdm=True,
            log_level="passive",
            log_level_replica="passive",
        )

    def _evaluator(self, cls: type[DevEvaluator]) -> DevEvaluator:
        data = self.data
        queries = {q: data.queries[q] for q in self.dev_q}
        relevant = {q: set(data.positives[q]) for q in self.dev_q}
        return cls(queries, data.corpus, relevant, self.eval_bs, self.autocast_device)

    def _mine(self, model: SentenceTransformer, main: bool, world_size: int) -> dict[str, list[str]]:
        """Mined on the main process only and sent to the others, so every process trains on the
        same rows (two GPUs can round a score differently)."""
        t = time.perf_counter()
        self.emit(ProgressEvent(0, 0, 0, phase="mine"))
        c = self.config
        mined = None
        if main:
            n, skip, bs = c.hard_negatives, c.skip_above, self.eval_bs
            mined = mine_negatives(model, self.data, self.train_q, n, skip, bs, self.autocast_device)
        if world_size > 1:
            from accelerate.utils import broadcast_object_list

            mined = broadcast_object_list([mined])[0]
        self._timed("mine", t)
        return mined or {}

    def _keep_best(
        self, model: SentenceTransformer, best: int, base: dict[str, torch.Tensor], checkpoints: Mapping[int, str], load: bool
    ) -> None:
        """Put the chosen weights into ``model``: the base model's, or the best epoch's checkpoint."""
        if best == 0:
            model.load_state_dict(base)
            if self.dev_q:
                self.notes.append("no epoch beat the base model on dev: the saved weights are the base model's")
            return
        if load:  # cut short, or a later epoch ran: the weights in memory are not the best epoch's
            from sentence_transformers import SentenceTransformer

            saved = SentenceTransformer(checkpoints[best], device="cpu", local_files_only=True)
            model.load_state_dict(saved.state_dict())

    def _report(
        self, args: SentenceTransformerTrainingArguments, progress: Progress, best: int, interrupted: bool, state: TrainerState
    ) -> TrainReport:
        c = self.config
        device = str(args.device)
        extras = ["bf16 autocast"] if self.amp else []
        if args.world_size > 1:
            extras.append(f"{args.world_size} processes")
        return TrainReport(
            out=c.out,
            variant=c.variant,
            loss=c.loss,
            device=device + (f" ({', '.join(extras)})" if extras else ""),
            counts=self.counts,
            epoch_loss=tuple(progress.epoch_loss),
            step_loss=tuple(progress.step_loss),
            dev=tuple(progress.dev),
            best_epoch=best,
            seconds=0.0,
            train_seconds=progress.train_seconds,
            interrupted=interrupted,
            settings={
                **c.to_dict(),
                "margin": c.resolved_margin,
                "base_dir": str(resolve_base(c.base)),
                "world_size": args.world_size,
            },
            warnings=self.data.warnings,
            notes=tuple(self.notes),
            examples_per_s=progress.examples(state) / progress.train_seconds if progress.train_seconds else 0.0,
            phase_seconds=dict(self.phase_seconds),
            held_out=tuple(self.dev_q),
        )


def check_out_dir(out: Path) -> None:
    """Refuse to write over anything but an empty folder or an earlier docsearch model."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file; give a directory")
    # A run's own checkpoint folder does not count: under torchrun another process may have made it.
    if out.is_dir() and any(p.name != WORK_DIR for p in out.iterdir()) and not (out / MARKER).is_file():
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
