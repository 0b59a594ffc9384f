"""One Settings object: defaults < environment (DOCSEARCH_*) < flags."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from .errors import ConfigError

DEFAULT_MODEL = "all-MiniLM-L6-v2"
AUTO = -1  # a process count sized by the machine (``--workers auto``)


@dataclass(frozen=True)
class Settings:
    home: Path = Path("indexes")
    index: str = "default"
    model: str | None = None  # None: the index's own model, or DEFAULT_MODEL for a new index
    qdrant_url: str | None = None
    qdrant_api_key: str | None = None
    chunk_tokens: int | None = None  # None: the model's max_seq_length
    overlap: int = 32
    batch_size: int = 64
    device: str | None = None  # None: cuda when present, else cpu
    backend: str = "auto"  # auto (fastest exact) | torch | torch-fp32 | onnx | onnx-int8 | openvino | openvino-int8
    k: int = 10
    index_batch: int = 512  # chunks per encode call while indexing; smaller commits progress more often
    workers: int = 1  # encoder processes while indexing (many-core machines, several GPUs); AUTO: one per GPU
    engine_workers: int = -1  # processes that chunk and make BM25 vectors while indexing; AUTO: by cores, 0: none
    wait: bool = False  # a writer finding another at work waits for it, instead of refusing at once
    gitignore: bool = True  # inside a git work tree the walk passes over what .gitignore files ignore
    debounce_ms: int = 1600  # `docsearch watch`: changes within this time of the first are one batch
    collapse: bool = True  # `docsearch search` and the session fold near-duplicates under the best-ranked copy

    def with_flags(self, **flags: Any) -> Settings:
        """Flags left as None keep the value from the environment or the default."""
        given = {k: v for k, v in flags.items() if v is not None}
        unknown = set(given) - {f.name for f in fields(self)}
        if unknown:
            raise ConfigError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        if "home" in given:
            given["home"] = Path(given["home"])
        return replace(self, **given)

    @property
    def index_dir(self) -> Path:
        return self.home / self.index

    @property
    def model_or_default(self) -> str:
        return self.model or DEFAULT_MODEL

    def __repr__(self) -> str:  # never print the API key
        key = "***" if self.qdrant_api_key else None
        return (
            f"Settings(home={str(self.home)!r}, index={self.index!r}, model={self.model!r}, "
            f"qdrant_url={self.qdrant_url!r}, qdrant_api_key={key!r}, "
            f"chunk_tokens={self.chunk_tokens!r}, overlap={self.overlap!r})"
        )


_INT_FIELDS = {"chunk_tokens", "overlap", "batch_size", "k", "index_batch", "debounce_ms"}
_COUNT_FIELDS = {"workers", "engine_workers"}  # a number, or "auto"
_BOOL_FIELDS = {"wait", "gitignore", "collapse"}
_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


def load_settings(env: dict[str, str] | None = None) -> Settings:
    """Defaults overlaid with DOCSEARCH_* environment variables."""
    env = dict(os.environ if env is None else env)
    values: dict[str, Any] = {}
    for f in fields(Settings):
        raw = env.get(f"DOCSEARCH_{f.name.upper()}")
        if raw is None or raw == "":
            continue
        if f.name in _COUNT_FIELDS:
            values[f.name] = parse_count(raw, f"DOCSEARCH_{f.name.upper()}")
        elif f.name in _INT_FIELDS:
            try:
                values[f.name] = int(raw)
            except ValueError:
                raise ConfigError(f"DOCSEARCH_{f.name.upper()} must be an integer, got {raw!r}") from None
        elif f.name in _BOOL_FIELDS:
            if raw.lower() not in _TRUE | _FALSE:
                raise ConfigError(f"DOCSEARCH_{f.name.upper()} must be 1 or 0 (true or false), got {raw!r}")
            values[f.name] = raw.lower() in _TRUE
        elif f.name == "home":
            values[f.name] = Path(raw).expanduser()
        else:
            values[f.name] = raw
    return Settings(**values)


def parse_count(raw: str, what: str) -> int:
    """A process count as given: a whole number >= 0, or ``auto`` (``AUTO``)."""
    if raw.strip().lower() == "auto":
        return AUTO
    try:
        value = int(raw)
    except ValueError:
        value = -2
    if value < 0:
        raise ConfigError(f"{what} must be a number of processes or 'auto', got {raw!r}")
    return value
