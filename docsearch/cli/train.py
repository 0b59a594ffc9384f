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

from ..errors import ConfigError
from ..learn import FEEDBACK_FILE, LEARN_LOSS, LearnConfig
from ..searcher import Searcher
from ..settings import load_settings
from ..train import DEFAULT_LOSS, DEFAULT_MARGINS, LOSSES, TrainConfig, train
from .app import command, err, out, settings_from

if TYPE_CHECKING:
    from ..searcher import Searcher
    from ..train import ProgressEvent, TrainReport

_D = TrainConfig.__dataclass_fields__  # defaults shown in --help come from the library's own
_MARGINS = ", ".join(f"{k} {v}" for k, v in DEFAULT_MARGINS.items())


def _opt(help_text: str, *names: str) -> typer.models.OptionInfo:
    return typer.Option(*names, help=help_text)


DataArg = Annotated[
    Optional[Path],
    typer.Argument(
        help=(
            "JSONL/CSV rows of query+text+label, query+positive(+negative) or query+doc+label; "
            "or a BEIR folder (only qrels/train.tsv is read). With --index and no --out: extra training data."
        )
    ),
]
OutOpt = Annotated[Optional[Path], _opt(
    "Folder for the model, training_report.json and training_plot.png. Without it, --index learns for that index.",
    "--out", "-o")]
BaseOpt = Annotated[Optional[str], _opt(f"Model to start from: a name or a local sentence-transformers folder (default: "
                                        f"{_D['base'].default}; learning: the index's own).")]
LossOpt = Annotated[Optional[str], _opt(f"One of: {', '.join(LOSSES)} (default: {DEFAULT_LOSS}; learning: mnrl).")]
VariantOpt = Annotated[Optional[str], _opt("siamese (default: one encoder) or half-twin (a query tower and a document tower).")]
ProjectionOpt = Annotated[
    Optional[bool],
    _opt("half-twin: share a final linear projection between the towers (default: on).",
         "--shared-projection/--no-shared-projection"),
]
EpochsOpt = Annotated[Optional[int], _opt(f"Passes over the data; the epoch best on dev nDCG@10 is kept (default: "
                                          f"{_D['epochs'].default}; learning: 2 or 3 by the data, the best on held-out).")]
BatchOpt = Annotated[Optional[int], _opt(f"Examples per step and process (default: {_D['batch_size'].default}; "
                                         "mnrl, cached-mnrl: the in-batch negatives).")]
MiniBatchOpt = Annotated[Optional[int], _opt("cached-mnrl: texts per forward pass; bounds memory whatever --batch-size is.")]
LrOpt = Annotated[Optional[float], _opt(f"Peak learning rate, AdamW (default: {_D['lr'].default:g}; learning: 2e-5 "
                                        "below 100 judged pairs, else 3e-5).")]
MarginOpt = Annotated[Optional[float], _opt(f"Margin in cosine distance (default: {_MARGINS}).")]
HardOpt = Annotated[Optional[int], _opt(f"Negatives mined per query with the base model (default: "
                                        f"{_D['hard_negatives'].default}; learning: judged bad results per row, 3).")]
DevOpt = Annotated[Optional[float], _opt(f"Share of queries held out to choose the epoch (default: "
                                         f"{_D['dev_fraction'].default}; 0: keep the last).")]
SeedOpt = Annotated[int, _opt("Seeds the dev split (learning: the folds), the batch order and dropout.")]
IndexOpt = Annotated[Optional[str], _opt(
    "Learn for this index from its feedback.jsonl (no --out); with --out, where rows naming a 'doc' id are read.",
    "--index", "-i")]
SeqOpt = Annotated[Optional[int], _opt("Truncate training and dev texts to this many tokens (the saved model keeps its own).")]
DeviceOpt = Annotated[Optional[str], _opt("cuda, cpu, ... (default: cuda when present).")]
PrecisionOpt = Annotated[str, _opt("auto: bf16 autocast on GPUs and bf16-capable CPUs (about 2x); fp32: never.")]
ApplyOpt = Annotated[bool, _opt("Learning: re-embed the index with the new model and switch to it, if it won.")]
FoldsOpt = Annotated[int, _opt("Learning: cross-validation folds over the judged queries (from 100 queries: at most 3).")]
JsonOpt = Annotated[bool, _opt("Learning: one JSON object on stdout (the run and what was applied).", "--json")]
HomeOpt = Annotated[Optional[Path], _opt("Index home (default: ./indexes or $DOCSEARCH_HOME).", "--home")]


@command("train", interrupted="nothing was applied; the index keeps its model")
def train_command(
    data: DataArg = None,
    out_dir: OutOpt = None,
    base: BaseOpt = None,
    loss: LossOpt = None,
    variant: VariantOpt = None,
    shared_projection: ProjectionOpt = None,
    epochs: EpochsOpt = None,
    batch_size: BatchOpt = None,
    mini_batch_size: MiniBatchOpt = None,
    lr: LrOpt = None,
    margin: MarginOpt = None,
    hard_negatives: HardOpt = None,
    dev_fraction: DevOpt = None,
    seed: SeedOpt = _D["seed"].default,
    index: IndexOpt = None,
    max_seq_length: SeqOpt = None,
    device: DeviceOpt = None,
    precision: PrecisionOpt = "auto",
    apply: ApplyOpt = False,
    folds: FoldsOpt = 5,
    json_out: JsonOpt = False,
    home: HomeOpt = None,
) -> None:
    """Fine-tune the embedding model on relevance judgements.

    With --out: train a model folder on DATA, keeping the epoch best on a dev split. With --index and no --out: learn
    from that index's :good/:bad judgements, show the model in use against the new one on judgements held out of
    training, and with --apply switch the index to the new model, only if it is better.
    Runs on sentence-transformers' trainer; under torchrun or accelerate launch only the first process prints and writes.
    """
    if out_dir is None:
        if data is not None and index is None:
            raise ConfigError("give --out DIR to train a model on DATA, or --index NAME to learn from that index's "
                              "judgements (DATA then adds training data)")
        plain = {"--base": base, "--variant": variant, "--shared-projection": shared_projection,
                 "--dev-fraction": dev_fraction, "--margin": margin, "--mini-batch-size": mini_batch_size}
        given = [flag for flag, value in plain.items() if value is not None]
        if given:
            raise ConfigError(f"{', '.join(given)}: only with --out (learning starts from the index's own model and "
                              "holds out judged queries instead of a dev split)")
        from .learn import run_learning

        settings = settings_from(index=index, home=home, device=device)
        config = LearnConfig(loss=loss or LEARN_LOSS, epochs=epochs, lr=lr, batch_size=batch_size,
                             negatives=3 if hard_negatives is None else hard_negatives, folds=folds, seed=seed,
                             device=device, precision=precision, max_seq_length=max_seq_length)
        run_learning(settings, config, data, apply, json_out)
        return
    if apply or json_out:
        raise ConfigError("--apply and --json go with learning for an index (--index NAME without --out)")
    if data is None:
        if index is None:
            raise ConfigError("give DATA to train on (or --index NAME: its feedback.jsonl)")
        data = settings_from(index=index, home=home).index_dir / FEEDBACK_FILE
    config = TrainConfig(
        data=data,
        out=out_dir,
        base=base or _D["base"].default,
        loss=loss or DEFAULT_LOSS,
        variant=variant or _D["variant"].default,
        shared_projection=_D["shared_projection"].default if shared_projection is None else shared_projection,
        epochs=epochs or _D["epochs"].default,
        batch_size=batch_size or _D["batch_size"].default,
        mini_batch_size=mini_batch_size or _D["mini_batch_size"].default,
        lr=lr or _D["lr"].default,
        margin=margin,
        hard_negatives=_D["hard_negatives"].default if hard_negatives is None else hard_negatives,
        dev_fraction=_D["dev_fraction"].default if dev_fraction is None else dev_fraction,
        seed=seed,
        index=index,
        max_seq_length=max_seq_length,
        device=device,
        precision=precision,
    )
    resolver = _IndexTexts(index, home)
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
    def __init__(self, index: str | None, home: Path | None = None) -> None:
        self.index, self.home = index, home
        self._searcher: Searcher | None = None

    def __call__(self, doc_id: str) -> str | None:
        if self._searcher is None:

            # Only texts are read: no model check (model=None), no model loaded.
            settings = replace(load_settings().with_flags(index=self.index, home=self.home), model=None)
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
