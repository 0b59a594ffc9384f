"""What a run did: :class:`TrainReport`, written as ``training_report.json`` and ``training_plot.png``
beside the model, and :func:`held_out_queries`, which reads the dev query ids back for
``docsearch eval --tune``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .config import jsonable

MARKER = "docsearch_model.json"
REPORT = "training_report.json"
PLOT = "training_plot.png"


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
        return jsonable(data)


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
