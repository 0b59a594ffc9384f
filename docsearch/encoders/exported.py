"""Fast encoders for CPU inference: ONNX Runtime and OpenVINO, exported from the local model.

The export (the transformer with mean pooling and normalisation folded into the graph) needs no
network and is cached next to the model, or in ``~/.cache/docsearch`` when the model folder is
read-only, keyed by the weights' fingerprint; a second run reuses it. ``openvino-int8`` quantizes
that export on the user's own chunks (encoders/int8.py). Only Siamese models made of
Transformer + mean Pooling (+ Normalize) are exported; others stay on the torch backend.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ModelError
from ..model import ModelDir
from .base import TOKENS_PER_BATCH, EncoderBase, cpu_has_bf16, quiet_transformers, token_batches

if TYPE_CHECKING:
    import numpy as np


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


def export_onnx(model: ModelDir, int8: bool = False) -> Path:
    """The model as ONNX (cached); ``int8`` adds per-channel dynamic quantization of the matmuls."""
    fingerprint = model.fingerprint
    out = cache_dir(model.path, fingerprint)
    fp32 = out / f"model-{fingerprint}.onnx"
    if not fp32.is_file():
        problem = model.export_problem()
        if problem:
            raise ModelError(problem)
        _torch_export(model.path, fp32)
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

    with quiet_transformers():
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


class ExportedEncoder(EncoderBase):
    """Tokenizes with the model's fast tokenizer, batches by tokens, runs the exported graph."""

    def __init__(self, model: ModelDir, backend: str, threads: int | None = None) -> None:
        from tokenizers import Tokenizer

        problem = model.export_problem()
        if problem:
            raise ModelError(problem)
        self.model_id, self.fingerprint, self.variant = model.id, model.fingerprint, "siamese"
        self.max_tokens = model.max_seq_length
        self.backend = backend
        self.device = "cpu"
        self._tok = Tokenizer.from_file(str(model.tokenizer_file))
        self._tok.enable_truncation(self.max_tokens)
        self._tok.no_padding()
        self._model = model
        if backend == "openvino-int8":
            return  # int8.Int8Encoder loads its quantized model itself
        path = export_onnx(model, int8=backend == "onnx-int8")
        self._run: _Runner = _OpenVino(path) if backend == "openvino" else _OnnxRuntime(path, threads)
        self.dim = int(self.encode_documents(["dimension probe"]).shape[1])

    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        import numpy as np

        if not texts:
            return np.zeros((0, getattr(self, "dim", 0)), dtype=np.float32)
        self._prepare(texts)
        encodings = self._tok.encode_batch(list(texts))
        # One forward pass per stream at a time: OpenVINO runs them side by side.
        batches = list(token_batches([e.ids for e in encodings], TOKENS_PER_BATCH // self._run.streams))
        out: np.ndarray | None = None
        for (index, _, _), vecs in zip(batches, self._run(b[1:] for b in batches), strict=True):
            if out is None:
                out = np.zeros((len(texts), vecs.shape[1]), dtype=np.float32)
            out[index] = vecs
        assert out is not None
        return out

    def _prepare(self, texts: Sequence[str]) -> None:
        """A hook for a subclass that must see texts before its first forward pass (int8)."""

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts)

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts)


class _Runner:
    """Runs token batches through a compiled graph, the outputs in the batches' order."""

    streams = 1  # batches worth giving it at once

    def __call__(self, batches: Iterable[tuple[Any, Any]]) -> Iterator[Any]:
        raise NotImplementedError


class _OnnxRuntime(_Runner):
    def __init__(self, path: Path, threads: int | None) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or (os.cpu_count() or 1)
        self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def __call__(self, batches: Iterable[tuple[Any, Any]]) -> Iterator[Any]:
        import numpy as np

        for ids, mask in batches:
            yield self._session.run(None, {"input_ids": ids, "attention_mask": mask,
                                           "token_type_ids": np.zeros_like(ids)})[0]


class _OpenVino(_Runner):
    """OpenVINO's throughput mode: a stream per couple of cores, each with its own batch in flight.
    On the two cores here, slices of an index run went 1.3-2.5x faster than one batch at a time
    on both cores (latency mode), int8 and bf16 alike, with identical vectors; a single query
    then runs on one stream, which only the exported backends' own queries see."""

    def __init__(self, path: Path) -> None:
        import openvino as ov

        precision = "bf16" if cpu_has_bf16() else "f32"
        self._compiled = ov.Core().compile_model(str(path), "CPU", {"INFERENCE_PRECISION_HINT": precision,
                                                                    "PERFORMANCE_HINT": "THROUGHPUT"})
        self.streams = max(1, int(self._compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")))
        self._queue = ov.AsyncInferQueue(self._compiled, self.streams)
        self._queue.set_callback(_keep_output)

    def __call__(self, batches: Iterable[tuple[Any, Any]]) -> Iterator[Any]:
        import numpy as np

        outputs: dict[int, Any] = {}
        count = 0
        for count, (ids, mask) in enumerate(batches, 1):
            self._queue.start_async({"input_ids": ids, "attention_mask": mask,
                                     "token_type_ids": np.zeros_like(ids)}, (outputs, count - 1))
        self._queue.wait_all()
        return iter([outputs[n] for n in range(count)])


def _keep_output(request: Any, slot: tuple[dict[int, Any], int]) -> None:
    outputs, n = slot
    outputs[n] = request.get_output_tensor(0).data.copy()
