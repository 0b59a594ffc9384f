"""OpenVINO static int8, made the way the ecosystem makes it: NNCF post-training quantization of the
exported model, calibrated on the user's own chunks.

sentence-transformers' ``export_static_quantized_openvino_model`` goes through optimum-intel to the
same ``nncf.quantize`` call (transformer model type, 300 samples, fast bias correction); calling
NNCF directly needs neither optimum nor a downloaded calibration set. Quantization runs in a child
process: NNCF draws progress bars and imports torch, and the library never prints nor weighs on its
host. The result is cached next to the export as ``model-<fingerprint>-ov-int8-<calibration hash>``
and the first one made for a model is reused by every later run, so an index's vectors all come from
one quantized model. Each is checked against the fp32 export before use: its minimum cosine on the
probe texts and on held-out calibration chunks must reach ``INT8_FLOOR``.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from ..errors import ModelError
from ..model import ModelDir
from .base import PROBE_TEXTS
from .exported import ExportedEncoder, _OpenVino, cache_dir, export_onnx

CALIBRATION_SIZE = 300  # what optimum-intel's OVQuantizationConfig samples by default
HELD_OUT = 64  # calibration chunks kept out of quantization to check the result on
MIN_CALIBRATION = 32  # fewer texts than this make a provisional model that is not cached
# Static int8 does not reproduce fp32 (all-MiniLM-L6-v2 on SciFact chunks: min 0.986, mean 0.994,
# probe texts min 0.996); a broken quantization does not come close (ONNX Runtime's static QDQ here:
# min 0.90, mean 0.94). The bar that matters, nDCG@10 within 0.005 of fp32, is measured by the bench.
INT8_FLOOR = 0.98


@dataclass(frozen=True)
class Int8Model:
    """A quantized model on disk and how well it agreed with fp32 when it was made."""

    xml: Path
    calibration: str  # sha256 prefix of the calibration texts
    texts: int
    cosine_min: float
    cosine_mean: float


def cached(model: ModelDir) -> Int8Model | None:
    """The first int8 model made for these weights that passed its check, if any."""
    fingerprint = model.fingerprint
    found = sorted(cache_dir(model.path, fingerprint).glob(f"model-{fingerprint}-ov-int8-*.json"),
                   key=lambda p: p.stat().st_mtime_ns)
    for sidecar in found:
        try:
            data = json.loads(sidecar.read_text())
            result = Int8Model(sidecar.with_suffix(".xml"), str(data["calibration"]), int(data["texts"]),
                               float(data["cosine_min"]), float(data["cosine_mean"]))
        except (OSError, ValueError, KeyError):
            continue
        if result.xml.is_file() and result.cosine_min >= INT8_FLOOR:
            return result
    return None


def calibration_sample(texts: Sequence[str], size: int = CALIBRATION_SIZE + HELD_OUT) -> list[str]:
    """An even spread over the texts (deterministic), so a batch sorted by anything is sampled whole."""
    texts = [t for t in texts if t.strip()]
    if len(texts) <= size:
        return texts
    step = len(texts) / size
    return [texts[int(i * step)] for i in range(size)]


def quantize(model: ModelDir, texts: Sequence[str], keep: bool = True) -> Int8Model:
    """Quantize the model's export on ``texts`` (a sample of them) and check it against fp32.
    ``keep``: cache it for later runs; otherwise it lives in a temporary folder for this process."""
    import importlib.util

    if importlib.util.find_spec("nncf") is None or importlib.util.find_spec("openvino") is None:
        raise ModelError("the openvino-int8 backend needs nncf and openvino: pip install nncf (or 'docsearch[int8]')")
    sample = calibration_sample(texts)
    held = sample[CALIBRATION_SIZE:] if len(sample) > CALIBRATION_SIZE else sample[::8]
    kept_out = set(held)
    calibrate = [t for t in sample if t not in kept_out] or list(PROBE_TEXTS)
    digest = hashlib.sha256("\0".join(calibrate).encode()).hexdigest()[:12]
    source = export_onnx(model)
    folder = cache_dir(model.path, model.fingerprint) if keep else Path(tempfile.mkdtemp(prefix="docsearch-int8-"))
    xml = folder / f"model-{model.fingerprint}-ov-int8-{digest}.xml"
    job = {"source": str(source), "tokenizer": str(model.tokenizer_file), "max_tokens": model.max_seq_length,
           "calibrate": calibrate, "check": [*PROBE_TEXTS, *held], "xml": str(xml)}
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
        json.dump(job, fh)
    try:
        done = subprocess.run([sys.executable, "-m", "docsearch.encoders.int8", fh.name], capture_output=True,
                              text=True, env={**os.environ, "TOKENIZERS_PARALLELISM": "false"})
    finally:
        os.unlink(fh.name)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise ModelError(f"openvino-int8: quantizing {model.name!r} failed: {last}")
    data = json.loads(xml.with_suffix(".json").read_text())
    result = Int8Model(xml, digest, len(calibrate), float(data["cosine_min"]), float(data["cosine_mean"]))
    if result.cosine_min < INT8_FLOOR:
        for suffix in (".xml", ".bin", ".json"):
            xml.with_suffix(suffix).unlink(missing_ok=True)
        raise ModelError(f"openvino-int8 vectors of {model.name!r} agree with fp32 only to min cosine "
                         f"{result.cosine_min:.4f} (< {INT8_FLOOR}) on probe texts: use --backend openvino")
    return result


class Int8Encoder(ExportedEncoder):
    """The export, quantized: the first int8 model cached for these weights, or one made from the
    first texts it is offered (``calibrate``, which the indexer calls with its first batch)."""

    def __init__(self, model: ModelDir) -> None:
        super().__init__(model, "openvino-int8")
        export_onnx(model)  # an unexportable model fails here, not at the first batch
        self.int8 = cached(model)
        self._run = _OpenVino(self.int8.xml) if self.int8 else None
        self.dim = model.dim

    def calibrate(self, texts: Sequence[str]) -> None:
        """Quantize on these texts, unless a quantized model for these weights exists already. Fewer
        than MIN_CALIBRATION texts (a probe check, a query) make a provisional model, not cached, that
        serves until a real batch comes."""
        if self.int8 is not None and self.int8.texts > 0:
            return
        keep = len(texts) >= MIN_CALIBRATION
        if self.int8 is not None and not keep:
            return
        found = cached(self._model)  # another process (a pool's parent) may have made it
        if found is None and not keep:
            found = replace(quantize(self._model, [*texts, *PROBE_TEXTS], keep=False), texts=0)
        self.int8 = found or quantize(self._model, list(texts))
        self._run = _OpenVino(self.int8.xml)

    def _prepare(self, texts: Sequence[str]) -> None:
        self.calibrate(texts)


def _child(job: dict[str, object]) -> None:
    """In the child process: NNCF quantization, the fp32 comparison, then the files, sidecar last."""
    import logging

    import nncf
    import numpy as np
    import openvino as ov
    from tokenizers import Tokenizer

    from .base import token_batches

    nncf.set_log_level(logging.ERROR)
    tok = Tokenizer.from_file(str(job["tokenizer"]))
    tok.enable_truncation(int(str(job["max_tokens"])))
    tok.no_padding()

    def inputs(ids: np.ndarray, mask: np.ndarray) -> dict[str, np.ndarray]:
        return {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}

    items = []
    for enc in tok.encode_batch(list(job["calibrate"])):  # type: ignore[call-overload]
        ids = np.array([enc.ids], dtype=np.int64)  # one text per sample: no padding in the statistics
        items.append(inputs(ids, np.ones_like(ids)))
    core = ov.Core()
    quantized = nncf.quantize(core.read_model(str(job["source"])), nncf.Dataset(items),
                              model_type=nncf.ModelType.TRANSFORMER, subset_size=len(items),
                              fast_bias_correction=True)

    def embed(graph: object, texts: list[str]) -> np.ndarray:
        compiled = core.compile_model(graph, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
        encodings = tok.encode_batch(texts)
        out: np.ndarray | None = None
        for index, ids, mask in token_batches([e.ids for e in encodings]):
            vectors = compiled(inputs(ids, mask))[0]
            if out is None:
                out = np.zeros((len(texts), vectors.shape[1]), np.float32)
            out[index] = vectors
        assert out is not None
        return out

    check = list(job["check"])  # type: ignore[call-overload]
    cos = (embed(quantized, check) * embed(core.read_model(str(job["source"])), check)).sum(axis=1)
    xml = Path(str(job["xml"]))
    tmp = xml.with_name(xml.stem + ".tmp.xml")
    ov.save_model(quantized, str(tmp), compress_to_fp16=False)
    os.replace(tmp.with_suffix(".bin"), xml.with_suffix(".bin"))
    os.replace(tmp, xml)
    xml.with_suffix(".json").write_text(json.dumps({
        "calibration": xml.stem.rsplit("-", 1)[-1], "texts": len(items), "cosine_min": float(cos.min()),
        "cosine_mean": float(cos.mean()), "nncf": nncf.__version__, "openvino": ov.__version__}))


if __name__ == "__main__":
    _child(json.loads(Path(sys.argv[1]).read_text()))
