"""Text the encoder cannot read: the share of a catalogue's tokens its tokenizer maps to [UNK].

MiniLM's vocabulary is English WordPiece: ``精致手工皮包`` becomes ``[UNK] [UNK] 手 [UNK] [UNK]
[UNK]``, so two different Chinese titles can get the same sentence vector (cosine 1.000). Before
the language model is trusted with a catalogue, :func:`unknown_tokens` tokenises the item text
with the encoder's own tokenizer and reports

* ``token_share``: unknown tokens / all tokens;
* ``item_share``: share of items (with any token) whose tokens are more than 20% unknown;
* one example: the item with the largest unknown share, with its tokens.

:func:`check_catalogue` is the one call for the CLI and the Data and Fine-tune pages: the report,
and a warning (``report.warning``) when either share passes :data:`WARN_SHARE`. The fix is an
encoder whose vocabulary covers the language: a multilingual model folder, given as
``--param model=FOLDER`` to ``content``/``lm``, ``--param "lm_params={'model': 'FOLDER'}"`` to
``hybrid``, ``python -m recsys train --model FOLDER``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

WARN_SHARE = 0.05  # warn above 5% unknown tokens, or above 5% of items mostly unreadable
UNREADABLE_ITEM = 0.2  # an item is "unreadable" when more than 20% of its tokens are unknown
MAX_ITEMS = 20_000  # a seeded sample of the catalogue beyond this: the shares barely move
FIX = (
    "use an encoder whose vocabulary covers this language: a multilingual model folder, given as "
    "--param model=FOLDER (content, lm), --param \"lm_params={'model': 'FOLDER'}\" (hybrid) or "
    "train --model FOLDER"
)


@dataclass(frozen=True)
class VocabularyReport:
    """How much of a catalogue's text the encoder's tokenizer maps to its unknown token."""

    model: str  # the tokenizer's folder or name
    n_items: int  # items measured (a seeded sample of at most MAX_ITEMS)
    n_tokens: int
    token_share: float  # unknown tokens / tokens
    item_share: float  # items with > UNREADABLE_ITEM unknown tokens / items with tokens
    example: str  # the text of the least readable item ("" when nothing is unknown)
    example_tokens: tuple[str, ...]  # its first tokens as the encoder sees them

    @property
    def warns(self) -> bool:
        return self.token_share > WARN_SHARE or self.item_share > WARN_SHARE

    @property
    def warning(self) -> str | None:
        """One line: the shares, an example and the fix; None when the text is readable."""
        if not self.warns:
            return None
        shown = " ".join(self.example_tokens)
        return (
            f"the encoder's vocabulary cannot read this catalogue: {self.token_share:.0%} of "
            f"its tokens are unknown and {self.item_share:.0%} of items are more than "
            f"{UNREADABLE_ITEM:.0%} unknown (e.g. {self.example!r} -> {shown}); language-model "
            f"scores will barely tell such items apart; {FIX}"
        )


def unknown_tokens(
    texts: Sequence[str], tokenizer=None, model: str | os.PathLike | None = None, seed: int = 0
) -> VocabularyReport:
    """Measure the unknown-token share of ``texts`` with ``tokenizer`` (or ``model``'s).

    Args:
        texts: item text, catalogue order.
        tokenizer: a Hugging Face tokenizer; loaded from ``model`` when None.
        model: an encoder folder or name as :func:`recsys.lm.encoder.resolve_model` takes it
            (None: the packaged MiniLM).
        seed: the sample drawn when there are more than :data:`MAX_ITEMS` texts.
    """
    name = str(model or "")
    if tokenizer is None:
        tokenizer, name = load_tokenizer(model)
    texts = [str(t) for t in texts]
    if len(texts) > MAX_ITEMS:
        pick = np.sort(np.random.default_rng(seed).choice(len(texts), MAX_ITEMS, replace=False))
        texts = [texts[i] for i in pick]
    ids = tokenizer(texts, add_special_tokens=False, verbose=False)["input_ids"] if texts else []
    unk = tokenizer.unk_token_id
    lengths = np.array([len(row) for row in ids], dtype=np.int64)
    unknown = np.array([sum(t == unk for t in row) for row in ids], dtype=np.int64)
    share = np.divide(unknown, lengths, out=np.zeros(len(ids)), where=lengths > 0)
    worst = int(np.argmax(share)) if len(ids) and unknown.any() else -1
    return VocabularyReport(
        model=name,
        n_items=len(texts),
        n_tokens=int(lengths.sum()),
        token_share=float(unknown.sum() / max(lengths.sum(), 1)),
        item_share=float(np.sum(share > UNREADABLE_ITEM)) / max(int(np.sum(lengths > 0)), 1),
        example=_clip(texts[worst]) if worst >= 0 else "",
        example_tokens=tuple(tokenizer.convert_ids_to_tokens(ids[worst][:12])) if worst >= 0
        else (),
    )  # fmt: skip


def check_catalogue(
    texts: Sequence[str], model: str | os.PathLike | None = None
) -> VocabularyReport:
    """The call for the CLI and the Data / Fine-tune pages: ``report.warning`` is the message.

    ``model``: the encoder the catalogue will be fed to (None: the packaged MiniLM).
    """
    return unknown_tokens(texts, model=model)


def load_tokenizer(model: str | os.PathLike | None = None):
    """(tokenizer, resolved name) of an encoder folder or name, offline for folders."""
    from transformers import AutoTokenizer

    from recsys.lm.encoder import resolve_model

    name = resolve_model(model)
    return AutoTokenizer.from_pretrained(name, local_files_only=Path(name).exists()), name


def _clip(text: str, n: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"
