"""`docsearch train`: fine-tune the bi-encoder on labelled pairs with sentence-transformers' trainer.

Modules: :mod:`.pairs` reads the data, :mod:`.examples` splits it and lays out each loss's rows,
:mod:`.twins` builds the Siamese or half-twin model, :mod:`.objectives` maps ``--loss`` to the
library's loss, :mod:`.trainer` runs it all (with :mod:`.hooks`, the only module that imports the
libraries at its top), :mod:`.report` writes and reads back what a run did. Importing this
package imports no torch.
"""

from __future__ import annotations

from .config import DEFAULT_LOSS, DEFAULT_MARGINS, LOSSES, VARIANTS, ProgressEvent, ProgressFn, TrainConfig
from .pairs import ResolveDoc, TrainingData, load_training_data
from .report import MARKER, PLOT, REPORT, TrainReport, held_out_queries
from .trainer import train

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
