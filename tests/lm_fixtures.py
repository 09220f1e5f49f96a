"""A tiny randomly initialised BERT and word-level tokenizer, built in a temp folder."""

from __future__ import annotations

from pathlib import Path

import torch

WORDS = (
    "red green blue apple pear sky sea over the a and of with space ship laser robot love letter "
    "wedding kiss sequel film movie song war star alien comedy drama horror quiet loud"
).split()
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def tiny_model_dir(tmp_path: Path, hidden: int = 32, layers: int = 2, seed: int = 0) -> Path:
    """Save a tiny BERT and its tokenizer to ``tmp_path/tiny-bert``; return the folder."""
    from transformers import BertConfig, BertModel, BertTokenizerFast

    folder = tmp_path / "tiny-bert"
    if (folder / "config.json").exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    vocab = {token: i for i, token in enumerate(SPECIAL + WORDS)}
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
    tokenizer = BertTokenizerFast(vocab=vocab, do_lower_case=True)
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=len(SPECIAL) + len(WORDS),
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=2,
        intermediate_size=hidden * 2,
        max_position_embeddings=64,
    )
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def tiny_encoder(tmp_path: Path, cache_dir: Path | None = None):
    from recsys.lm.encoder import Encoder

    return Encoder(tiny_model_dir(tmp_path), device="cpu", max_length=16, cache_dir=cache_dir)
