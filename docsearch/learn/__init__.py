"""Learning from a person's judgements: ``docsearch train --index NAME [--apply]`` and the session's
``:learn``.

The judgements the session wrote (:mod:`.feedback`) train the index's own model (:mod:`.fit`);
judgements held out of training decide whether the new model is better (:mod:`.guard`,
:mod:`.measure`); only then is it saved, and applying it re-embeds the index beside the live one
(:mod:`docsearch.reembed`). Importing this package imports no torch.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from ..errors import ConfigError
from ..reembed import ReembedProgress, ReembedReport, reembed
from ..searcher import Searcher
from ..settings import Settings
from ..train.pairs import load_training_data
from .evidence import Evidence, gather
from .feedback import FEEDBACK_FILE, Judgement, Judgements, read_feedback
from .fit import LEARN_LOSS
from .guard import Comparison, Verdict
from .loop import LOG_FILE, LearnConfig, LearnEvent, LearnReport, ProgressFn, learn

__all__ = [
    "FEEDBACK_FILE",
    "LEARN_LOSS",
    "LOG_FILE",
    "Comparison",
    "Evidence",
    "Judgement",
    "Judgements",
    "LearnConfig",
    "LearnEvent",
    "LearnReport",
    "Verdict",
    "apply",
    "gather",
    "learn",
    "learn_index",
    "read_feedback",
]


def learn_index(settings: Settings, config: LearnConfig = LearnConfig(), progress: ProgressFn | None = None,
                extra: Path | None = None, searcher: Searcher | None = None) -> LearnReport:
    """Learn from the index's ``feedback.jsonl`` (and ``extra`` training data, never held out).

    The index is read first, through ``searcher`` when one is open (the interactive session's) or
    one opened and closed here, so it is free again while the model trains."""
    t0 = time.perf_counter()
    own = searcher is None
    if searcher is None:
        searcher = Searcher.open(replace(settings, model=None))
    try:
        evidence = gather(searcher, seed=config.seed)
        extra_data = load_training_data(extra, searcher.document_text) if extra is not None else None
    finally:
        if own:
            searcher.close()
    gathered = time.perf_counter() - t0
    report = learn(evidence, settings.index_dir, config, progress, extra_data)
    return replace(report, seconds={"gather": gathered, **report.seconds})


def apply(settings: Settings, report: LearnReport,
          progress: Callable[[ReembedProgress], None] | None = None) -> ReembedReport:
    """Re-embed the index with the model a run saved, and switch to it (see :mod:`docsearch.reembed`)."""
    if report.model is None:
        raise ConfigError("this run saved no model: nothing to apply")
    return reembed(settings, report.model, report.lineage, progress)
