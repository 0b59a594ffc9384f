"""``--backend auto`` (the default): the fastest backend that gives the same vectors as torch fp32.

On a CPU, OpenVINO (bf16 where the CPU has it) embeds at about 1.3× torch's speed here with a
cosine to torch fp32 of 1.0000 on the probe texts; it is used when it reaches ``EXACT`` for this
model on this machine, else torch. The verdict is measured once per model weights and CPU precision
and cached next to the export (``auto-<fingerprint>-<bf16|f32>.json``), so a later run decides by
reading a file. A GPU, a model the export cannot run (a half-twin, other pooling), a missing
OpenVINO or a failed export: torch, as before. Queries keep their own fast path (load_query_encoder).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..model import ModelDir

EXACT = 0.9999  # min cosine to torch fp32 on the probe texts for a faster backend to count as the same


def resolve_backend(model: ModelDir, device: str | None = None) -> str:
    """The concrete backend ``auto`` stands for with this model on this machine."""
    if device not in (None, "cpu") or (device is None and _has_gpu()):
        return "torch"
    if not model.exportable:
        return "torch"
    import importlib.util

    if importlib.util.find_spec("openvino") is None:
        return "torch"
    from .base import cpu_has_bf16
    from .exported import cache_dir

    try:
        precision = "bf16" if cpu_has_bf16() else "f32"
        verdict = cache_dir(model.path, model.fingerprint) / f"auto-{model.fingerprint}-{precision}.json"
    except OSError:
        return "torch"
    try:
        return str(json.loads(verdict.read_text())["backend"])
    except (OSError, ValueError, KeyError):
        pass
    chosen, cosine, reason = _measure(model)
    try:
        tmp = verdict.with_suffix(".tmp")
        tmp.write_text(json.dumps({"backend": chosen, "cosine_min": cosine, "reason": reason}))
        os.replace(tmp, verdict)
    except OSError:
        pass  # decided again next time
    return chosen


def for_writer(requested: str, model: ModelDir, device: str | None, encoder: object | None) -> str:
    """The backend name a writer records: an injected encoder's own (a test's fake counts as torch,
    the default it stands in for), else what ``requested`` resolves to."""
    if requested != "auto":
        return requested
    if encoder is not None:
        from . import BACKENDS

        name = str(getattr(encoder, "backend", ""))
        return name if name in BACKENDS and name != "auto" else "torch"
    return resolve_backend(model, device)


def _measure(model: ModelDir) -> tuple[str, float | None, str]:
    """OpenVINO against torch fp32 on the probe texts: ('openvino', cos, why) or ('torch', cos, why)."""
    from ..errors import DocsearchError
    from .base import agreement

    try:
        from .exported import ExportedEncoder
        from .transformer import SentenceTransformerEncoder

        with SentenceTransformerEncoder(model, "cpu", precision="fp32") as reference, \
                ExportedEncoder(model, "openvino") as candidate:
            low = agreement(reference, candidate)
    except (DocsearchError, ImportError, OSError, RuntimeError, ValueError) as exc:
        return "torch", None, f"openvino unavailable: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
    if low >= EXACT:
        return "openvino", low, f"min cosine {low:.5f} to torch fp32"
    return "torch", low, f"openvino min cosine {low:.5f} < {EXACT}"


def _has_gpu() -> bool:
    return Path("/proc/driver/nvidia/version").exists()
