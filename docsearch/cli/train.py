"""`docsearch train`: fine-tune the bi-encoder on your own relevance judgements.

Registered on the main app by ``docsearch.cli``; torch and sentence-transformers
are imported only when the command runs, so ``docsearch --help`` stays instant.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, ClassVar, Optional

import typer
from rich.console import Console
from rich.table import Table

from ..searcher import Searcher
from ..settings import load_settings
from ..train import DEFAULT_LOSS, DEFAULT_MARGINS, LOSSES, TrainConfig, train
from .app import command, err, out

if TYPE_CHECKING:
    from ..searcher import Searcher
    from ..train import ProgressEvent, TrainReport

_D = TrainConfig.__dataclass_fields__  # defaults shown in --help come from the library's own
_MARGINS = ", ".join(f"{k} {v}" for k, v in DEFAULT_MARGINS.items())


def _opt(help_text: str, *names: str) -> typer.models.OptionInfo:
    return typer.Option(*names, help=help_text)


DataArg = Annotated[
    Path,
    typer.Argument(
        help=(
            "JSONL/CSV rows of query+text+label, query+positive(+negative) or query+doc+label; "
            "or a BEIR folder (only qrels/train.tsv is read)."
        )
    ),
]
OutOpt = Annotated[Path, _opt("Folder for the model, training_report.json and training_plot.png.", "--out", "-o")]
BaseOpt = Annotated[str, _opt("Model to start from: a name or a local sentence-transformers folder.")]
LossOpt = Annotated[str, _opt(f"One of: {', '.join(LOSSES)} (sentence-transformers' losses).")]
VariantOpt = Annotated[str, _opt("siamese (one encoder) or half-twin (a query tower and a document tower).")]
ProjectionOpt = Annotated[
    bool, _opt("half-twin: share a final linear projection between the towers.", "--shared-projection/--no-shared-projection")
]
EpochsOpt = Annotated[int, _opt("Passes over the data; the epoch best on dev nDCG@10 is kept.")]
BatchOpt = Annotated[int, _opt("Examples per step and process (mnrl, cached-mnrl: the in-batch negatives).")]
MiniBatchOpt = Annotated[int, _opt("cached-mnrl: texts per forward pass; bounds memory whatever --batch-size is.")]
LrOpt = Annotated[float, _opt("Peak learning rate (AdamW, linear warm-up then decay).")]
MarginOpt = Annotated[Optional[float], _opt(f"Margin in cosine distance (default: {_MARGINS}).")]
HardOpt = Annotated[int, _opt("Negatives mined per query with the base model (0: none).")]
DevOpt = Annotated[float, _opt("Share of queries held out to choose the epoch (0: keep the last).")]
SeedOpt = Annotated[int, _opt("Seeds the dev split, the batch order and dropout.")]
IndexOpt = Annotated[Optional[str], _opt("Index to read texts from, for rows naming a 'doc' id.", "--index", "-i")]
SeqOpt = Annotated[Optional[int], _opt("Truncate training and dev texts to this many tokens (the saved model keeps its own).")]
DeviceOpt = Annotated[Optional[str], _opt("cuda, cpu, ... (default: cuda when present).")]
PrecisionOpt = Annotated[str, _opt("auto: bf16 autocast on GPUs and bf16-capable CPUs (about 2x); fp32: never.")]


@command("train")
def train_command(
    data: DataArg,
    out_dir: OutOpt,
    base: BaseOpt = _D["base"].default,
    loss: LossOpt = DEFAULT_LOSS,
    variant: VariantOpt = _D["variant"].default,
    shared_projection: ProjectionOpt = _D["shared_projection"].default,
    epochs: EpochsOpt = _D["epochs"].default,
    batch_size: BatchOpt = _D["batch_size"].default,
    mini_batch_size: MiniBatchOpt = _D["mini_batch_size"].default,
    lr: LrOpt = _D["lr"].default,
    margin: MarginOpt = None,
    hard_negatives: HardOpt = _D["hard_negatives"].default,
    dev_fraction: DevOpt = _D["dev_fraction"].default,
    seed: SeedOpt = _D["seed"].default,
    index: IndexOpt = None,
    max_seq_length: SeqOpt = None,
    device: DeviceOpt = None,
    precision: PrecisionOpt = "auto",
) -> None:
    """Fine-tune the embedding model on relevance judgements; keep the epoch that scores best on a dev split.

    Runs on sentence-transformers' trainer; under torchrun or accelerate launch only the first process prints and writes.
    """
    config = TrainConfig(
        data=data,
        out=out_dir,
        base=base,
        loss=loss,
        variant=variant,
        shared_projection=shared_projection,
        epochs=epochs,
        batch_size=batch_size,
        mini_batch_size=mini_batch_size,
        lr=lr,
        margin=margin,
        hard_negatives=hard_negatives,
        dev_fraction=dev_fraction,
        seed=seed,
        index=index,
        max_seq_length=max_seq_length,
        device=device,
        precision=precision,
    )
    resolver = _IndexTexts(index)
    main = _is_main_process()
    try:
        if main:
            with _ProgressBar() as bar:
                report = train(config, on_progress=bar.update, resolve_doc=resolver)
        else:
            report = train(config, resolve_doc=resolver)
    except KeyboardInterrupt:
        if main:
            err.print("[yellow]interrupted[/] before training started: nothing was saved")
        raise typer.Exit(130) from None
    finally:
        resolver.close()
    if main:
        print_report(out, report)


def _is_main_process() -> bool:
    """False in the second and later processes that torchrun / accelerate launch start (RANK > 0)."""
    return os.environ.get("RANK", "0") == "0"


class _IndexTexts:
    """Looks up document texts in an index, opening it only if a row names a 'doc' id."""
    def __init__(self, index: str | None) -> None:
        self.index = index
        self._searcher: Searcher | None = None

    def __call__(self, doc_id: str) -> str | None:
        if self._searcher is None:

            # Only texts are read: no model check (model=None), no model loaded.
            settings = replace(load_settings().with_flags(index=self.index), model=None)
            self._searcher = Searcher.open(settings, load_model=False)
        return self._searcher.document_text(doc_id)

    def close(self) -> None:
        if self._searcher is not None:
            self._searcher.close()


class _ProgressBar:
    """A rich bar over all training steps, with the loss and examples/s; phases shown as text."""

    _PHASES: ClassVar[dict[str, str]] = {"mine": "mining hard negatives", "eval": "measuring dev", "save": "saving"}

    def __enter__(self) -> _ProgressBar:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        self._bar = Progress(
            TextColumn("[bold blue]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("steps"),
            TextColumn("loss {task.fields[loss]}  {task.fields[rate]} ex/s"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=err,
            transient=True,
        )
        self._bar.__enter__()
        self._task = self._bar.add_task("loading model", total=None, loss="-", rate="-")
        return self

    def __exit__(self, *exc: object) -> None:
        self._bar.__exit__(*exc)  # type: ignore[arg-type]

    def update(self, event: ProgressEvent) -> None:
        if event.phase != "train":
            self._bar.update(self._task, description=self._PHASES.get(event.phase, event.phase))
            return
        self._bar.update(
            self._task,
            description=f"epoch {event.epoch}",
            total=event.total_steps,
            completed=event.step,
            loss=f"{event.loss:.4f}" if event.loss is not None else "-",
            rate=f"{event.examples_per_s:.1f}" if event.examples_per_s is not None else "-",
        )


def print_report(console: Console, report: TrainReport) -> None:
    """Data counts, then per epoch: loss and dev metrics; time and device."""
    counts = Table(title="training data", show_header=False, title_justify="left")
    for key, value in report.counts.items():
        counts.add_row(key.replace("_", " "), f"{value:,}")
    console.print(counts)
    epochs = Table(title=f"{report.variant}, {report.loss}: dev metrics by epoch", title_justify="left")
    for column in ("epoch", "loss", "nDCG@10", "MRR@10", "Recall@100"):
        epochs.add_column(column, justify="right")
    for epoch in range(max(len(report.dev), len(report.epoch_loss) + 1)):
        dev = report.dev[epoch] if epoch < len(report.dev) else {}
        loss = f"{report.epoch_loss[epoch - 1]:.4f}" if 0 < epoch <= len(report.epoch_loss) else ""
        label = "before" if epoch == 0 else str(epoch)
        style = "bold green" if epoch == report.best_epoch and report.dev else None
        cells = [f"{dev[m]:.4f}" if m in dev else "" for m in ("ndcg@10", "mrr@10", "recall@100")]
        epochs.add_row(label + (" *" if style else ""), loss, *cells, style=style)
    console.print(epochs)
    console.print(
        f"best epoch {report.best_epoch}, saved to [bold]{report.out}[/]  "
        f"{report.seconds:.0f} s total, {report.train_seconds:.0f} s training, "
        f"{report.examples_per_s:.1f} examples/s on {report.device}",
        highlight=False,
    )
    if report.interrupted:
        console.print("[yellow]interrupted:[/] kept the best epoch finished before the interrupt")
    for note in report.notes:
        console.print(f"[yellow]note:[/] {note}", highlight=False)
    if report.warnings:
        console.print(f"[yellow]{len(report.warnings)} row(s) skipped[/], e.g.:", highlight=False)
        for warning in report.warnings[:5]:
            console.print(f"  {warning}", highlight=False, markup=False)
