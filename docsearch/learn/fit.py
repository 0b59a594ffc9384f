"""The model being taught: loaded once from the index's model, fine-tuned per fold with
sentence-transformers' trainer (the library's losses, as ``docsearch train`` uses them), a copy of
its weights kept after every epoch, and WiSE-FT mixes of those with the starting weights.

torch, datasets and sentence-transformers are imported when a model is loaded.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import DataError
from ..model import ModelDir
from ..train.config import IN_BATCH_LOSSES, ProgressEvent, TrainConfig
from ..train.examples import negatives_per_query, training_columns
from ..train.pairs import TrainingData
from ..train.report import MARKER

if TYPE_CHECKING:
    import numpy as np
    import torch
    from sentence_transformers import SentenceTransformer

State = dict[str, "torch.Tensor"]

# The loss a learning run uses: every judged result is a labelled pair, the :bad ones included, and
# Hadsell's contrastive loss (online: only the pairs on the wrong side of the margin) reads them as
# such. On the 85 judged pairs of the SciFact N = 100 simulated session it gave test nDCG@10 dense
# +0.026 after one epoch, where mnrl with the judged bad results as negatives gave +0.011 to +0.019
# (tests/bench/learn_recipe.py; BENCHMARKS.md, "The learning loop").
LEARN_LOSS = "online-contrastive"


@dataclass(frozen=True)
class FitPlan:
    """How one fold trains: the loss, epochs (each one's weights kept), rate, batch, negatives per row."""

    loss: str = LEARN_LOSS
    epochs: int = 2
    lr: float = 2e-5
    batch_size: int = 16
    negatives: int = 3  # mnrl: negatives per row, the judged bad results first, then random chunks
    seed: int = 42
    max_seq_length: int | None = None  # training only; measuring uses the model's own
    warmup: float = 0.1

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def plan_for(pairs: int, loss: str = LEARN_LOSS, epochs: int | None = None, lr: float | None = None,
             batch_size: int | None = None, negatives: int = 3, seed: int = 42,
             max_seq_length: int | None = None) -> FitPlan:
    """Defaults sized by the data: with few (query, relevant) pairs, fewer epochs and a lower rate,
    so a few dozen judgements nudge the model rather than overwrite it. Online contrastive trains on
    every judged result, about ten rows per judged query, so two epochs are its default whatever
    the size (on the SciFact N = 100 judgements its test gain was flat from epoch 1 to 3)."""
    if loss == "online-contrastive":
        default = (2, 3e-5, 16)
    else:
        default = (2 if pairs < 50 else 3, 2e-5 if pairs < 100 else 3e-5, 8 if pairs < 64 else 16)
    return FitPlan(
        loss=loss,
        epochs=epochs or default[0],
        lr=lr or default[1],
        batch_size=batch_size or default[2],
        negatives=negatives,
        seed=seed,
        max_seq_length=max_seq_length,
    )


def interpolate(base: Mapping[str, Any], tuned: Mapping[str, Any], alpha: float) -> State:
    """WiSE-FT: (1 - alpha) * base + alpha * tuned for every floating-point tensor; others as in base."""
    return {k: ((1 - alpha) * v + alpha * tuned[k]) if v.is_floating_point() else v.clone() for k, v in base.items()}


class Net:
    """One model in memory for a whole learning run: reset to the starting weights before each fold."""

    def __init__(self, model: ModelDir, device: str | None = None, precision: str = "auto") -> None:
        import torch

        from ..train.hooks import quiet
        from ..train.twins import bf16_ok, build_model

        self.model_dir = model
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.amp = precision == "auto" and bf16_ok(self.device)
        with quiet():
            self.st: SentenceTransformer = build_model(model.path, model.variant, True, self.device)
        self.max_seq_length = self.st.max_seq_length
        self.base: State = self.snapshot()

    def snapshot(self) -> State:
        return {k: v.detach().to("cpu", copy=True) for k, v in self.st.state_dict().items()}

    def use(self, state: Mapping[str, Any]) -> None:
        self.st.load_state_dict(state)

    def reset(self) -> None:
        self.use(self.base)

    def mix(self, tuned: Mapping[str, Any], alpha: float) -> State:
        return interpolate(self.base, tuned, alpha)

    # --- encoding ---------------------------------------------------------------------------

    def encode(self, texts: Sequence[str], side: str, batch_size: int = 64) -> np.ndarray:
        """Unit vectors for ``texts`` with the query or document side, fp32 (bf16 autocast where the
        run trains in bf16, as the dev evaluator of ``docsearch train`` does)."""
        import numpy as np

        from ..train.hooks import autocast

        if not texts:
            return np.zeros((0, self.st.get_embedding_dimension() or 0), dtype=np.float32)
        encode = self.st.encode_query if side == "query" else self.st.encode_document
        with autocast(self.device.split(":")[0] if self.amp else None):
            vectors = encode(list(texts), batch_size=batch_size, convert_to_numpy=True, normalize_embeddings=True,
                             show_progress_bar=False)
        return np.asarray(vectors, dtype=np.float32)

    # --- training ---------------------------------------------------------------------------

    def fit(self, data: TrainingData, train_q: Sequence[str], plan: FitPlan,
            emit: Callable[[ProgressEvent], None] | None = None) -> list[State]:
        """Train from the starting weights on ``train_q``; the weights after each epoch."""
        from datasets import Dataset
        from transformers import PrinterCallback, TrainerCallback

        from ..train.hooks import CardlessTrainer, Progress, quiet
        from ..train.objectives import make_loss
        from ..train.twins import router_mapping

        self.reset()
        negatives = negatives_per_query(data, train_q, {})
        per_row = plan.negatives if plan.loss in IN_BATCH_LOSSES else 1
        columns = training_columns(plan.loss, data, train_q, negatives, per_row, plan.seed)
        if not columns["query"]:
            raise DataError(f"no training rows for loss {plan.loss!r} in the judgements")
        snapshots: list[State] = []

        class Snapshots(TrainerCallback):
            def on_epoch_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
                snapshots.append(net.snapshot())

        net = self
        config = TrainConfig(data=Path("."), out=Path("."), loss=plan.loss, batch_size=max(2, plan.batch_size))
        if plan.max_seq_length:
            self.st.max_seq_length = plan.max_seq_length
        with tempfile.TemporaryDirectory(prefix="docsearch-learn-") as work, quiet():
            args = self._arguments(plan, work)
            args.router_mapping = router_mapping(self.st, columns)
            trainer = CardlessTrainer(model=self.st, args=args, train_dataset=Dataset.from_dict(columns),
                                      loss=make_loss(config, self.st),
                                      callbacks=[Progress(emit or (lambda e: None), len(columns["query"]), False),
                                                 Snapshots()])
            trainer.remove_callback(PrinterCallback)
            try:
                trainer.train()
            finally:
                self.st.max_seq_length = self.max_seq_length
        return snapshots

    def _arguments(self, plan: FitPlan, work: str) -> Any:
        from sentence_transformers import SentenceTransformerTrainingArguments

        from ..train.objectives import batch_sampler

        cpu = self.device == "cpu"
        return SentenceTransformerTrainingArguments(
            output_dir=work, num_train_epochs=plan.epochs, per_device_train_batch_size=max(2, plan.batch_size),
            learning_rate=plan.lr, warmup_steps=plan.warmup, weight_decay=0.01, lr_scheduler_type="linear",
            seed=plan.seed, data_seed=plan.seed, bf16=self.amp, use_cpu=cpu, dataloader_pin_memory=not cpu,
            batch_sampler=batch_sampler(plan.loss), eval_strategy="no", save_strategy="no", logging_strategy="steps",
            logging_steps=1, report_to="none", disable_tqdm=True, log_level="passive", log_level_replica="passive",
        )

    # --- saving -----------------------------------------------------------------------------

    def save(self, state: Mapping[str, Any], out: Path, marker: Mapping[str, Any]) -> None:
        """An ordinary sentence-transformers folder (with docsearch's marker), written beside ``out``
        first and renamed into place, so a crash never leaves half a model there."""
        from ..train.hooks import quiet

        partial = out.parent / f".{out.name}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        self.use(state)
        with quiet():
            self.st.save(str(partial), create_model_card=False)
        (partial / MARKER).write_text(json.dumps(dict(marker), indent=2) + "\n", encoding="utf-8")
        partial.rename(out)
