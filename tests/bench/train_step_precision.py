"""One training step of the base model on 32 SciFact abstracts, fp32 against bf16 autocast, on the CPU.

    python tests/bench/train_step_precision.py [--data ../shared/datasets/scifact] [--rounds 2]

Prints seconds per step for each, alternating so drift in the machine's speed hits both; the ratio
is why `docsearch train` autocasts to bf16 on CPUs with AVX512-BF16 or AMX.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    import torch
    from sentence_transformers import SentenceTransformer

    from docsearch.model import ModelDir

    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[3] / "shared/datasets/scifact"))
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    with open(Path(args.data) / "corpus.jsonl") as fh:
        docs = [json.loads(line)["text"] for line, _ in zip(fh, range(64), strict=False)]
    model = SentenceTransformer(str(ModelDir.resolve("all-MiniLM-L6-v2").path), device="cpu")
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-6)
    model.train()
    times: dict[str, list[float]] = {"fp32": [], "bf16": []}
    for _ in range(args.rounds):
        for mode in times:
            started = time.perf_counter()
            for i in range(2):
                features = model.preprocess(docs[i * 32 : (i + 1) * 32])
                amp = torch.autocast("cpu", dtype=torch.bfloat16) if mode == "bf16" else contextlib.nullcontext()
                with amp:
                    out = model(features)["sentence_embedding"]
                loss = out.float().pow(2).mean()
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            times[mode].append((time.perf_counter() - started) / 2)
    for mode, values in times.items():
        print(f"{mode}: " + ", ".join(f"{v:.2f}" for v in values) + " s per step")
    print(f"bf16 speed-up: {sum(times['fp32']) / sum(times['bf16']):.2f}x")


if __name__ == "__main__":
    main()
