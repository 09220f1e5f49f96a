"""How long fine-tuning runs take: a live run's progress and ETA, and time per epoch before launch.

Estimates prefer samples/s measured on earlier runs in the runs folder with the same regime, model,
device and (nearest) batch size; without any, they fall back to the figures measured on these
2-core CPUs. Everything is read from run folders; nothing here starts or stops a process.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from recsys.runs.folder import PROGRESS, list_runs, read_progress, read_raw_status
from recsys.runs.launch import TrainConfig, device_key, device_of
from recsys.runs.liveness import ACTIVE


@dataclass
class Progress:
    """Where a run is, for a progress bar: ``fraction`` in [0, 1] and a one-line ``text``."""

    fraction: float
    text: str
    best_epoch: int | None = None


def progress_of(status: dict, records: list[dict], config: dict) -> Progress:
    """Fraction done, epoch/step and ETA from the step and epoch records of a run."""
    epochs = config.get("epochs")
    epochs = epochs if isinstance(epochs, int) and not isinstance(epochs, bool) else 0
    steps = [r for r in records if r.get("kind") == "step"]
    ends = [r for r in records if r.get("kind") == "epoch"]
    best = [r["epoch"] for r in ends if r.get("best")]
    last = steps[-1] if steps else {}
    epoch = int(last.get("epoch") or status.get("epoch") or (1 if steps else 0))
    step = int(last.get("step") or status.get("step") or 0)
    total = last.get("total_steps") or status.get("total_steps")
    eta = last.get("eta_s")
    if status.get("state") == "finished":
        fraction = 1.0
    elif total:
        fraction = step / total
    elif eta is not None and len(steps) > 1:
        elapsed = last["time"] - steps[0]["time"]
        fraction = elapsed / max(elapsed + eta, 1e-9)
    elif epochs:
        fraction = len(ends) / epochs
    else:
        fraction = 0.0
    parts = [f"epoch {epoch}/{epochs}" if epochs else f"epoch {epoch}"]
    parts.append(f"step {step}/{total}" if total else f"step {step}")
    if eta is not None and status.get("state") in ACTIVE:
        parts.append(f"ETA {format_seconds(eta)}")
    return Progress(min(max(fraction, 0.0), 1.0), " · ".join(parts), best[-1] if best else None)


def format_seconds(seconds: float | None) -> str:
    """``75`` -> ``"1m 15s"``; ``None`` -> ``"–"``."""
    if seconds is None or seconds != seconds:
        return "–"
    h, rest = divmod(int(round(seconds)), 3600)
    m, s = divmod(rest, 60)
    return f"{h}h {m:02d}m" if h else (f"{m}m {s:02d}s" if m else f"{s}s")


# Samples/s on these 2-core CPUs with the packaged MiniLM: full and top-N (4 of 6 layers frozen)
# from MEASURED.md (batch 128); adapter measured on the sample shop, batch 512, load average 8.
CPU_SAMPLES_PER_S = {"full": 41.0, "top": 67.0, "adapter": 550.0}
ENCODE_TEXTS_PER_S = 128.0  # MEASURED.md: MiniLM encoding, fp32, 2 threads


@dataclass
class Estimate:
    seconds: float | None  # per epoch
    basis: str
    encode_seconds: float = 0.0  # once, before the first epoch, when the catalogue is not cached

    def __str__(self) -> str:
        text = self.basis
        if self.seconds is not None:
            text = f"≈ {format_seconds(self.seconds)} per epoch ({self.basis})"
        if self.encode_seconds:
            text += f"; first, ≈ {format_seconds(self.encode_seconds)} to encode the catalogue once"
        return text


def resolved_regime(regime: str, device: str) -> str:
    """``auto`` as ``recsys train`` resolves it: full on a GPU, adapter elsewhere."""
    if regime == "auto":
        return "full" if device.startswith("cuda") else "adapter"
    return regime


def estimate_epoch(
    runs_dir: str | os.PathLike,
    n_samples: int,
    config: TrainConfig,
    encode_seconds: float = 0.0,
) -> Estimate:
    """Time per epoch: samples/s measured on earlier runs alike, else this CPU's figures.

    ``n_samples`` bounds the training pairs per epoch from above (all interactions).
    """
    device = device_key(config.device)
    regime = resolved_regime(config.regime_arg(), device)
    rates: dict[int, list[float]] = {}  # by batch size: small batches pay a per-step overhead
    for run in list_runs(runs_dir):
        run_dir = Path(run["path"])
        status = read_raw_status(run_dir) or {}
        if (
            status.get("regime") == regime
            and run["config"].get("model") == config.model
            and device_of(run_dir, status) == device
        ):
            steps = read_progress(run_dir / PROGRESS, "step")
            size = run["config"].get("batch_size")
            size = size if isinstance(size, int) and not isinstance(size, bool) else 0
            rates.setdefault(size, []).extend(
                s["samples_per_s"] for s in steps[1:] if _positive(s.get("samples_per_s"))
            )
    batch = config.batch_size if rates.get(config.batch_size) else None
    if batch is None and any(rates.values()):
        batch = min((b for b in rates if rates[b]), key=lambda b: abs(b - config.batch_size))
    if batch is not None:
        rate = sorted(rates[batch])[len(rates[batch]) // 2]
        basis = f"{rate:,.0f} samples/s measured on earlier {regime} runs at batch {batch}"
        return Estimate(n_samples / rate, basis, encode_seconds)
    family = regime.split("-")[0]
    if device == "cpu" and config.model is None and family in CPU_SAMPLES_PER_S:
        rate = CPU_SAMPLES_PER_S[family]
        basis = f"{rate:,.0f} samples/s measured for {family} on this CPU"
        return Estimate(n_samples / rate, basis, encode_seconds)
    return Estimate(None, f"no measured figure for {regime} on {device} yet", encode_seconds)


def encoding_seconds(texts: Sequence[str], model: str | None = None, max_length: int = 64) -> float:
    """Time to encode ``texts`` once, or 0 when the encoder's disk cache already holds them.

    Uses the cache key of :mod:`recsys.lm.encoder` (fingerprint, ``max_length`` of training).
    """
    from recsys.lm.encoder import DEFAULT_CACHE_DIR, cache_file, model_fingerprint, resolve_model

    try:
        name = resolve_model(model)
    except FileNotFoundError:
        return len(texts) / ENCODE_TEXTS_PER_S
    cached = cache_file(DEFAULT_CACHE_DIR, model_fingerprint(name), max_length, texts).exists()
    return 0.0 if cached else len(texts) / ENCODE_TEXTS_PER_S


def _positive(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0
