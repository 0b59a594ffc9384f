"""`docsearch train`: fine-tune the bi-encoder on labelled pairs (see :mod:`.trainer`)."""

from __future__ import annotations

from .pairs import ResolveDoc, TrainingData, load_training_data
from .trainer import (
    DEFAULT_LOSS,
    DEFAULT_MARGINS,
    LOSSES,
    MARKER,
    PLOT,
    REPORT,
    VARIANTS,
    ProgressEvent,
    ProgressFn,
    TrainConfig,
    TrainReport,
    held_out_queries,
    train,
)

__all__ = [
    "DEFAULT_LOSS",
    "DEFAULT_MARGINS",
    "LOSSES",
    "MARKER",
    "PLOT",
    "REPORT",
    "VARIANTS",
    "ProgressEvent",
    "ProgressFn",
    "ResolveDoc",
    "TrainConfig",
    "TrainReport",
    "TrainingData",
    "held_out_queries",
    "load_training_data",
    "train",
]
