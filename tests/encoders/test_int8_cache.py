"""The int8 cache without quantizing anything: which cached model is used, and the calibration sample."""

from __future__ import annotations

import json
import os
from pathlib import Path

from helpers import fake_model

from docsearch.encoders import int8


def stored(folder: Path, fingerprint: str, digest: str, cosine: float, mtime: int) -> Path:
    xml = folder / f"model-{fingerprint}-ov-int8-{digest}.xml"
    xml.write_text("<net/>")
    sidecar = xml.with_suffix(".json")
    sidecar.write_text(json.dumps({"calibration": digest, "texts": 300, "cosine_min": cosine, "cosine_mean": 0.99}))
    os.utime(sidecar, ns=(mtime, mtime))
    return xml


def test_the_first_passing_model_is_reused_and_one_under_the_floor_never(tmp_path: Path) -> None:
    model = fake_model(tmp_path / "m")
    assert int8.cached(model) is None
    folder = model.path / "docsearch-export"
    folder.mkdir(exist_ok=True)  # cached() may have made it
    stored(folder, model.fingerprint, "aaaa", int8.INT8_FLOOR - 0.01, 1_000)  # older, but failed its check
    good = stored(folder, model.fingerprint, "bbbb", 0.99, 2_000)
    stored(folder, model.fingerprint, "cccc", 0.995, 3_000)  # newer: the first one made stays in use
    stored(folder, "0" * 16, "dddd", 0.999, 500)  # another model's
    found = int8.cached(model)
    assert found is not None and found.xml == good and found.calibration == "bbbb"


def test_the_calibration_sample_spreads_over_the_batch_and_skips_blanks() -> None:
    texts = [f"chunk {i}" for i in range(1000)] + ["  "]
    sample = int8.calibration_sample(texts, 100)
    assert len(sample) == 100 and sample[0] == "chunk 0" and sample[-1] == "chunk 990"
    assert int8.calibration_sample(["a", " ", "b"]) == ["a", "b"]
