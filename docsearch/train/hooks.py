"""docsearch's few pieces inside sentence-transformers' trainer: the dev evaluator, the progress
callback, a trainer without the model-card callback, and scoped silence for the libraries.

This module imports transformers and sentence-transformers at the top (the classes subclass
theirs), so :mod:`docsearch.train.trainer` imports it only when a run starts.
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import time
import warnings
from collections.abc import Iterator, Mapping
from typing import Any

import torch
from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer
from sentence_transformers.sentence_transformer.evaluation import InformationRetrievalEvaluator
from sentence_transformers.util import cos_sim
from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from .config import ProgressEvent, ProgressFn

# Metric names in the report (as docsearch's own dev metrics always had them) <- the evaluator's.
DEV_METRICS = {
    "ndcg@10": "cosine_ndcg@10",
    "mrr@10": "cosine_mrr@10",
    "recall@100": "cosine_recall@100",
    "map@100": "cosine_map@100",
}
DEV_NAME = "dev"
BEST_METRIC = f"eval_{DEV_NAME}_{DEV_METRICS['ndcg@10']}"
_LIBRARY_LOGGERS = ("sentence_transformers", "accelerate", "datasets", "torch.distributed")


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """The library never prints: silence transformers', datasets' and sentence-transformers' logs and
    progress bars for the length of a run, then put every setting back as it was."""
    import datasets
    from transformers.utils import logging as hf_logging

    verbosity, hf_bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    datasets_bars = not datasets.are_progress_bars_disabled()
    loggers = [logging.getLogger(name) for name in _LIBRARY_LOGGERS]
    levels = [lg.level for lg in loggers]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the libraries' UserWarnings/FutureWarnings about their own internals
        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
        datasets.disable_progress_bars()
        for lg in loggers:
            lg.setLevel(logging.ERROR)
        try:
            yield
        finally:
            hf_logging.set_verbosity(verbosity)
            if hf_bars:
                hf_logging.enable_progress_bar()
            if datasets_bars:
                datasets.enable_progress_bars()
            for lg, level in zip(loggers, levels, strict=True):
                lg.setLevel(level)


@contextlib.contextmanager
def swallow_output() -> Iterator[None]:
    """Catch stdout and stderr: ``mine_hard_negatives`` always draws tqdm bars, whatever ``verbose`` says."""
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        yield


def autocast(device: str | None) -> contextlib.AbstractContextManager[Any]:
    """bf16 autocast on ``device`` ("cpu", "cuda"), or nothing when ``device`` is None."""
    return torch.autocast(device, dtype=torch.bfloat16) if device else contextlib.nullcontext()


class DevEvaluator(InformationRetrievalEvaluator):
    """nDCG@10, MRR@10, Recall@100, MAP@100 of exact cosine retrieval of the dev queries over the
    whole corpus pool.

    Ours only to encode in bf16 when the run trains in bf16 (about twice as fast on a GPU or a
    bf16-capable CPU); the vectors are turned back to fp32 so the scores, and the ranking, are
    computed at full precision.
    """

    def __init__(
        self,
        queries: Mapping[str, str],
        corpus: Mapping[str, str],
        relevant: Mapping[str, set[str]],
        batch_size: int,
        autocast_device: str | None,
    ) -> None:
        super().__init__(
            dict(queries),
            dict(corpus),
            dict(relevant),
            name=DEV_NAME,
            mrr_at_k=[10],
            ndcg_at_k=[10],
            accuracy_at_k=[1],
            precision_recall_at_k=[100],
            map_at_k=[100],
            batch_size=batch_size,
            show_progress_bar=False,
            write_csv=False,
            score_functions={"cosine": cos_sim},
            main_score_function="cosine",
        )
        self.autocast_device = autocast_device

    def embed_inputs(self, model: SentenceTransformer, sentences: Any, **kwargs: Any) -> Any:
        with autocast(self.autocast_device):
            embeddings = super().embed_inputs(model, sentences, **kwargs)
        return embeddings.float()


def dev_metrics(metrics: Mapping[str, float]) -> dict[str, float]:
    """The report's dev metrics out of the trainer's ``eval_dev_cosine_...`` keys."""
    return {name: float(metrics[f"eval_{DEV_NAME}_{key}"]) for name, key in DEV_METRICS.items()}


class Progress(TrainerCallback):
    """Adapts the trainer's events to docsearch's ``on_progress`` and keeps what the report needs:
    the loss of every step, dev metrics before training and after each epoch, each epoch's
    checkpoint, and the time spent training and measuring dev."""

    def __init__(self, emit: ProgressFn, examples_per_epoch: int, has_dev: bool) -> None:
        self.emit, self.examples_per_epoch, self.has_dev = emit, examples_per_epoch, has_dev
        self.step_loss: list[float] = []
        self.epoch_loss: list[float] = []
        self.dev: list[dict[str, float]] = []
        self.checkpoints: dict[int, str] = {}  # epoch -> checkpoint folder
        self.train_seconds = 0.0
        self.dev_seconds = 0.0
        self._epoch_losses: list[float] = []
        self._epoch_started: float | None = None
        self._last_step = 0.0

    @staticmethod
    def _epoch(state: TrainerState) -> int:
        return max(1, math.ceil(state.epoch or 0))

    def examples(self, state: TrainerState) -> float:
        """Examples trained on so far, over all processes (batches may be uneven: a mean per step)."""
        steps_per_epoch = state.max_steps / max(state.num_train_epochs, 1)
        return state.global_step * self.examples_per_epoch / max(steps_per_epoch, 1)

    def on_train_begin(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw: Any) -> None:
        if self.has_dev and args.eval_on_start:
            self.emit(ProgressEvent(0, 0, state.max_steps, phase="eval"))

    def on_epoch_begin(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw: Any) -> None:
        self._epoch_started = self._last_step = time.perf_counter()
        self._epoch_losses = []

    def on_step_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw: Any) -> None:
        self._last_step = time.perf_counter()

    def on_log(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        logs: dict[str, float] | None = None,
        **kw: Any,
    ) -> None:
        if not logs or "loss" not in logs:
            return  # eval metrics and the end-of-run summary come through here too
        loss = float(logs["loss"])
        self.step_loss.append(loss)
        self._epoch_losses.append(loss)
        elapsed = self.train_seconds + self._last_step - (self._epoch_started or self._last_step)
        rate = self.examples(state) / elapsed if elapsed > 0 else None
        self.emit(ProgressEvent(self._epoch(state), state.global_step, state.max_steps, loss, rate))

    def on_epoch_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw: Any) -> None:
        self.stop_clock()
        if self._epoch_losses:
            self.epoch_loss.append(sum(self._epoch_losses) / len(self._epoch_losses))
        if self.has_dev:
            self.emit(ProgressEvent(self._epoch(state), state.global_step, state.max_steps, phase="eval"))

    def stop_clock(self) -> None:
        """Count the time since the epoch began (or up to the last step, when a run is cut short)."""
        if self._epoch_started is not None:
            self.train_seconds += self._last_step - self._epoch_started
            self._epoch_started = None

    def on_evaluate(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        metrics: dict[str, float] | None = None,
        **kw: Any,
    ) -> None:
        if metrics and BEST_METRIC in metrics:
            self.dev.append(dev_metrics(metrics))
            self.dev_seconds += float(metrics.get("eval_runtime", 0.0))

    def on_save(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw: Any) -> None:
        from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

        self.checkpoints[self._epoch(state)] = f"{args.output_dir}/{PREFIX_CHECKPOINT_DIR}-{state.global_step}"


class CardlessTrainer(SentenceTransformerTrainer):
    """sentence-transformers' trainer without its model-card callback: docsearch saves no model card,
    and the callback samples the training data for widget examples behind a progress bar."""

    def add_model_card_callback(self, default_args_dict: dict[str, Any]) -> None:
        pass

