"""The settings of one training run, the loss names, and the progress events a run emits.

Nothing here imports torch, so the CLI can show defaults and validate flags instantly.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from ..errors import ConfigError

# Each name maps to one sentence-transformers loss (see docsearch.train.objectives).
LOSSES = ("mnrl", "cached-mnrl", "contrastive", "online-contrastive", "triplet")
# Losses that rank a positive against in-batch negatives (and want duplicate-free batches).
IN_BATCH_LOSSES = ("mnrl", "cached-mnrl")
VARIANTS = ("siamese", "half-twin")
# Margins in cosine-distance units (d = 1 - cos lies in [0, 2]). Contrastive pushes
# negatives beyond d = 0.5 (cos < 0.5), as sentence-transformers does; triplet asks
# the positive to be 0.2 closer than the negative.
DEFAULT_MARGINS = {"contrastive": 0.5, "online-contrastive": 0.5, "triplet": 0.2}
# Chosen on SciFact dev (tests/bench/train_scifact.py): online-contrastive with 5 mined hard
# negatives per query and 5 epochs had the best mean dev nDCG@10, MRR@10 and Recall@100 over
# two dev splits, narrowly ahead of mnrl with the same negatives (see the README). Those runs
# predate the move to sentence-transformers' trainer and losses.
DEFAULT_LOSS = "online-contrastive"


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
    batch_size: int = 32  # per process: under torchrun / accelerate the global batch is this times the processes
    lr: float = 5e-5
    margin: float | None = None  # None: 0.5 for (online-)contrastive, 0.2 for triplet
    hard_negatives: int = 5  # mined per training query with the base model (0: none)
    dev_fraction: float = 0.1
    seed: int = 42
    index: str | None = None  # where 'doc' ids are resolved (the CLI passes the resolver)
    max_seq_length: int | None = None  # training and dev only; None: the base model's (saved unchanged)
    device: str | None = None  # None: cuda when present, else cpu
    warmup: float = 0.1  # fraction of steps with a linearly rising learning rate
    scale: float = 20.0  # mnrl, cached-mnrl: cosine scores are multiplied by this before the softmax
    mini_batch_size: int = 32  # cached-mnrl: texts per forward pass (memory), independent of --batch-size
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
        return {f.name: jsonable(getattr(self, f.name)) for f in fields(self)}


def _config_problems(c: TrainConfig) -> list[str]:
    checks = [
        (c.loss in LOSSES, f"--loss must be one of {', '.join(LOSSES)}, got {c.loss!r}"),
        (c.variant in VARIANTS, f"--variant must be one of {', '.join(VARIANTS)}, got {c.variant!r}"),
        (c.epochs >= 1, "--epochs must be at least 1"),
        (c.precision in ("auto", "fp32"), f"--precision must be auto or fp32, got {c.precision!r}"),
        (c.batch_size >= 2, "--batch-size must be at least 2"),
        (c.mini_batch_size >= 1, "--mini-batch-size must be at least 1"),
        (c.lr > 0, "--lr must be positive"),
        (c.margin is None or c.margin > 0, "--margin must be positive"),
        (c.hard_negatives >= 0, "--hard-negatives must be 0 or more"),
        (0 <= c.dev_fraction < 1, "--dev-fraction must be in [0, 1)"),
        (c.max_seq_length is None or c.max_seq_length >= 8, "--max-seq-length must be at least 8"),
        (0 <= c.warmup < 1, "warmup must be in [0, 1)"),
        (0 < c.skip_above <= 1, "skip_above must be in (0, 1]"),
        # The trainer puts one process on one GPU (cuda:0, or cuda:LOCAL_RANK under torchrun).
        (
            c.device is None or c.device.partition(":")[2] in ("", "0"),
            f"--device {c.device}: choose the GPU with CUDA_VISIBLE_DEVICES and pass --device cuda",
        ),
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


def jsonable(value: Any) -> Any:
    """Paths to strings, mappings to dicts, tuples to lists, recursively."""
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value
