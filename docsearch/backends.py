"""Fast encoders for CPU inference: ONNX Runtime and OpenVINO, exported from the local model.

The export (the transformer with mean pooling and normalisation folded into the graph) needs no
network and is cached next to the model, or in ``~/.cache/docsearch`` when the model folder is
read-only, keyed by the weights' fingerprint; a second run reuses it. Only Siamese models made of
Transformer + mean Pooling (+ Normalize) are exported; others stay on the torch backend.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import ModelError

if TYPE_CHECKING:
    import numpy as np

BACKENDS = ("torch", "torch-fp32", "onnx", "onnx-int8", "openvino")
TOKENS_PER_BATCH = 16_384  # padded tokens per forward pass: batches sized by tokens, not by count


def cpu_has_bf16() -> bool:
    """AVX512-BF16 or AMX: bf16 matrix work runs at about twice fp32 speed with the same results."""
    try:
        with open("/proc/cpuinfo") as fh:
            flags = next((ln for ln in fh if ln.startswith("flags")), "")
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def cache_dir(model_dir: Path, fingerprint: str) -> Path:
    local = model_dir / "docsearch-export"
    try:
        local.mkdir(exist_ok=True)
        probe = local / ".write-test"
        probe.write_text("")
        probe.unlink()
        return local
    except OSError:
        home = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "docsearch" / fingerprint
        home.mkdir(parents=True, exist_ok=True)
        return home


def _check_exportable(model_dir: Path) -> None:
    modules = json.loads((model_dir / "modules.json").read_text()) if (model_dir / "modules.json").is_file() else []
    kinds = [m.get("type", "").rsplit(".", 1)[-1] for m in modules]
    if kinds[:2] != ["Transformer", "Pooling"] or any(k not in ("Transformer", "Pooling", "Normalize") for k in kinds):
        raise ModelError(f"the onnx/openvino backends export Transformer + Pooling models only, not {kinds}")
    pooling = json.loads((model_dir / modules[1]["path"] / "config.json").read_text())
    if not (pooling.get("pooling_mode_mean_tokens") or pooling.get("pooling_mode") == "mean"):
        raise ModelError("the onnx/openvino backends support mean pooling only")


def plain_mean_pooling(model: Any) -> bool:
    """True for [Transformer, mean Pooling, (Normalize)] sentence-transformers models."""
    names = [type(m).__name__ for m in model]
    if names[:2] != ["Transformer", "Pooling"] or any(n not in ("Transformer", "Pooling", "Normalize") for n in names):
        return False
    pooling = model[1]
    mode = getattr(pooling, "pooling_mode", None)
    if mode is None:  # sentence-transformers < 6
        return bool(getattr(pooling, "pooling_mode_mean_tokens", False)) and not any(
            getattr(pooling, f, False) for f in ("pooling_mode_cls_token", "pooling_mode_max_tokens",
                                                 "pooling_mode_mean_sqrt_len_tokens"))
    return mode == "mean" or mode == ["mean"] or mode == ("mean",)


def export_onnx(model_dir: Path, fingerprint: str, int8: bool = False) -> Path:
    """The model as ONNX (cached); ``int8`` adds per-channel dynamic quantization of the matmuls."""
    out = cache_dir(model_dir, fingerprint)
    fp32 = out / f"model-{fingerprint}.onnx"
    if not fp32.is_file():
        _check_exportable(model_dir)
        _torch_export(model_dir, fp32)
    if not int8:
        return fp32
    q8 = out / f"model-{fingerprint}-int8.onnx"
    if not q8.is_file():
        from onnxruntime.quantization import QuantType, quantize_dynamic

        tmp = q8.with_suffix(".tmp.onnx")
        quantize_dynamic(str(fp32), str(tmp), weight_type=QuantType.QInt8, per_channel=True,
                         op_types_to_quantize=["MatMul"])
        os.replace(tmp, q8)
    return q8


def _torch_export(model_dir: Path, target: Path) -> None:
    import warnings

    import torch
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    model = transformers.AutoModel.from_pretrained(str(model_dir), local_files_only=True).eval()

    class Pooled(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            hidden = self.inner(input_ids=input_ids, attention_mask=attention_mask,
                                token_type_ids=token_type_ids).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(mean, dim=-1)

    ids = torch.ones(2, 16, dtype=torch.long)
    axes = {"b": 0, "s": 1}
    dynamic = {n: {axes["b"]: "batch", axes["s"]: "seq"} for n in ("input_ids", "attention_mask", "token_type_ids")}
    tmp = target.with_suffix(".tmp.onnx")
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(Pooled(model), (ids, torch.ones_like(ids), torch.zeros_like(ids)), str(tmp),
                          input_names=list(dynamic), output_names=["embedding"],
                          dynamic_axes={**dynamic, "embedding": {0: "batch"}}, opset_version=17, dynamo=False)
    os.replace(tmp, target)


class ExportedEncoder:
    """Tokenizes with the model's fast tokenizer, batches by tokens, runs the exported graph."""

    def __init__(self, name: str, backend: str, threads: int | None = None) -> None:
        from tokenizers import Tokenizer

        from .encoders import model_fingerprint, model_id, model_info, resolve_model, tokenizer_file

        model_dir = resolve_model(name)
        info = model_info(name)
        if info["variant"] != "siamese":
            raise ModelError("the onnx/openvino backends export Siamese models only; use --backend torch")
        self.model_id, self.fingerprint, self.variant = model_id(name), model_fingerprint(name), "siamese"
        self.max_tokens = int(info["max_seq_length"])
        self.backend = backend
        self.device = "cpu"
        self._tok = Tokenizer.from_file(str(tokenizer_file(name)))
        self._tok.enable_truncation(self.max_tokens)
        self._tok.no_padding()
        path = export_onnx(model_dir, self.fingerprint, int8=backend == "onnx-int8")
        self._run = _openvino(path) if backend == "openvino" else _onnxruntime(path, threads)
        self.dim = int(self.encode_documents(["dimension probe"]).shape[1])

    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        import numpy as np

        if not texts:
            return np.zeros((0, getattr(self, "dim", 0)), dtype=np.float32)
        encodings = self._tok.encode_batch(list(texts))
        out: np.ndarray | None = None
        for index, ids, mask in token_batches([e.ids for e in encodings]):
            vecs = self._run(ids, mask)
            if out is None:
                out = np.zeros((len(texts), vecs.shape[1]), dtype=np.float32)
            out[index] = vecs
        assert out is not None
        return out

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts)

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts)


def token_batches(ids: Sequence[Sequence[int]], budget: int = TOKENS_PER_BATCH) -> Iterator[tuple[Any, Any, Any]]:
    """Length-sorted batches whose padded size stays under ``budget`` tokens."""
    import numpy as np

    order = np.argsort([len(x) for x in ids], kind="stable")
    start = 0
    while start < len(order):
        end = start + 1
        while end < len(order) and len(ids[order[end]]) * (end - start + 1) <= budget:
            end += 1
        index = order[start:end]
        width = max(len(ids[i]) for i in index)
        tokens = np.zeros((len(index), width), dtype=np.int64)
        mask = np.zeros_like(tokens)
        for row, i in enumerate(index):
            tokens[row, : len(ids[i])] = ids[i]
            mask[row, : len(ids[i])] = 1
        yield index, tokens, mask
        start = end


def _onnxruntime(path: Path, threads: int | None) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or (os.cpu_count() or 1)
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def run(ids: Any, mask: Any) -> Any:
        import numpy as np

        return session.run(None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)})[0]

    return run


def _openvino(path: Path) -> Any:
    import openvino as ov

    precision = "bf16" if cpu_has_bf16() else "f32"
    compiled = ov.Core().compile_model(str(path), "CPU", {"INFERENCE_PRECISION_HINT": precision})

    def run(ids: Any, mask: Any) -> Any:
        import numpy as np

        return compiled({"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)})[0]

    return run


# Varied lengths and registers, so a backend that drifts on any of them shows it.
PROBE_TEXTS = (
    "Vitamin D supplementation reduces the risk of fractures in elderly women.",
    "def read_config(path):\n    with open(path) as fh:\n        return json.load(fh)",
    "The committee postponed its decision on the budget until the spring session.",
    "Mutations in BRCA1 increase lifetime risk of breast and ovarian cancer.",
    "How do I reset my password if I no longer have access to my email account?",
    "Qdrant stores vectors in segments; an HNSW graph is built for each large segment.",
    "A short one.",
    " ".join(["Long documents are cut into windows that overlap, and each window is embedded on its own."] * 8),
)
AGREEMENT = 0.99  # min cosine to the reference backend's vectors for a backend to share an index


def agreement(reference: Any, candidate: Any, texts: Sequence[str] = PROBE_TEXTS) -> float:
    """The lowest cosine between two encoders' document vectors for the same texts."""
    import numpy as np

    a, b = reference.encode_documents(list(texts)), candidate.encode_documents(list(texts))
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return float((a * b).sum(axis=1).min())
