"""Fine-tune a two-tower recommender whose item tower is a language model over item text.

Item tower: LM sentence vector x_i (mean pooling, unit norm) -> linear projection, plus an item-id
embedding for items with training positives (zero-initialised, row-dropout in training, so the text
path alone must carry cold items) -> unit vector v_i. User tower: the mean of the vectors of the
user's history items -> linear map (identity at start) -> unit vector u. A new user needs no
retraining: their history is enough. Score = u . v.

Losses (``FinetuneConfig.loss``):

* ``softmax`` (default): in-batch sampled softmax over the batch's positive items with the
  log-popularity correction of Yi et al. 2019 ("Sampling-bias-corrected neural modeling for large
  corpus item recommendations", RecSys): logit_ij = u_i . v_j / tau - log Q(j), Q = train share.
* ``bce``: pointwise binary cross-entropy with uniformly sampled negatives (the seed's loss).

Regimes (``FinetuneConfig.regime``): ``full`` trains every LM layer on token ids; ``top-N`` freezes
the lower layers and caches their outputs for the whole catalogue once, so an epoch runs only the
top N layers; ``adapter`` keeps the LM frozen (its vectors come from the encoder cache) and trains
the projection, id embeddings and user map: seconds per epoch on a CPU. ``auto`` = ``full`` on a
GPU, ``adapter`` otherwise. AdamW, linear warm-up then linear decay, gradient clipping, bf16
autocast on CUDA only, fixed seeds.

The loop (:func:`finetune`) reports through a callback and stops cooperatively; it never knows about
any UI. With a :class:`~recsys.runs.folder.RunFolder` it holds the folder's lock for its whole
lifetime (a second trainer is refused), logs progress, keeps the best model (checkpoint and item
vectors, one generation) and the last checkpoint, and resumes from the last one when its
fingerprint (data, item ids, config) matches (:mod:`recsys.lm.checkpoints`).

Several processes (``torchrun``, :mod:`recsys.lm.distributed`): when a process group of two or more
is initialised, the model is wrapped in ``DistributedDataParallel``, each rank trains on its
disjoint part of every global batch of ``world_size * batch_size`` pairs (the softmax sees the
whole global batch's items as negatives, gathered with gradients, so a step equals one process's
step on the global batch), and only rank 0 reports, validates and writes the run folder; the
others get its state by broadcast and all stop together.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from torch.nn import functional as F

from recsys.data import popularity
from recsys.evaluation import metrics
from recsys.lm import checkpoints
from recsys.lm.config import FinetuneConfig, resolve_regime
from recsys.lm.distributed import Distributed
from recsys.lm.encoder import (
    PACKAGED_MODEL,
    Encoder,
    configure_threads,
    describe_device,
    encode_items,
    pick_device,
)
from recsys.lm.towers import FineTuned, TextTower, TwoTower
from recsys.models.base import exclude, top_k
from recsys.runs.folder import RunFolder

Callback = Callable[[dict], None]
StopFlag = Callable[[], bool] | threading.Event | None


# --- the loop ------------------------------------------------------------------------------------


def finetune(
    train: sp.csr_matrix,
    item_text: list[str],
    config: FinetuneConfig | None = None,
    validation: sp.csr_matrix | None = None,
    run: RunFolder | None = None,
    callback: Callback | None = None,
    should_stop: StopFlag = None,
    item_ids=None,
    resume: bool = True,
) -> FineTuned:
    """Train on ``train`` (U, I) positives; pick the best epoch on ``validation`` when given.

    Args:
        run: run folder to log to and checkpoint in, locked while training (``RunLocked`` when
            another process holds it); a ``last.safetensors`` there is resumed from when
            ``resume`` is true and it was trained on the same data, items and config
            (``RunMismatch`` otherwise); ``resume=False`` removes the folder's earlier results
            and starts over.
        callback: receives each progress record (``kind`` "step", "epoch" or "event").
        should_stop: a ``threading.Event`` or a callable; checked before every step.

    Inside an initialised process group of several ranks (DDP), call it on every rank with the
    same data and config: ``run`` and ``callback`` are used on rank 0 only, a stop on any rank
    stops all, and rank 0 returns the best model (the others their final weights).
    """
    return _Trainer(train, item_text, config or FinetuneConfig(), validation, run, callback,
                    should_stop, item_ids).fit(resume)  # fmt: skip


class _Trainer:
    def __init__(self, train, item_text, cfg, validation, run, callback, should_stop, item_ids):
        self.dist = Distributed.current()  # None: one process, exactly as before
        if self.dist is not None and not self.dist.leader:
            run, callback = None, None  # rank 0 alone writes the run folder and reports
        threads = cfg.threads or (self.dist.cpu_threads() if self.dist else None)
        configure_threads(threads)
        torch.manual_seed(cfg.seed)
        self.cfg, self.run, self.callback = cfg, run, callback
        self.train = sp.csr_matrix(train, dtype=np.float32)
        self.train.data[:] = 1.0
        self.validation, self.item_ids = validation, item_ids
        self.stop = _stop_fn(should_stop, run)
        self.device = self.dist.device(cfg.device) if self.dist else pick_device(cfg.device)
        self.regime = resolve_regime(cfg.regime, self.device)
        counts = np.asarray(self.train.sum(axis=0)).ravel()
        self.groups = popularity.groups(counts.astype(np.int64), "top_share", 0.2)
        self.logq = torch.log(torch.as_tensor(counts + 1.0) / (counts.sum() + len(counts)))
        self.logq = self.logq.float().to(self.device)
        text, self.encoder = None, None
        if self.regime == "adapter":  # frozen vectors only: a cache hit loads no model at all
            base = encode_items(item_text, cfg.model, self.device, cfg.cache_dir, cfg.max_length)
            self.describe = f"{cfg.model or PACKAGED_MODEL} on {describe_device(self.device)}"
        else:
            self.encoder = Encoder(cfg.model, device=self.device, max_length=cfg.max_length,
                                   cache_dir=cfg.cache_dir, threads=threads)  # fmt: skip
            base = self.encoder.encode_cached(item_text)
            self.describe = self.encoder.describe()
            n_train = None if self.regime == "full" else int(self.regime.split("-")[1])
            text = TextTower(self.encoder, item_text, n_train)
        if self.dist is not None:
            self.describe += f" x {self.dist.world_size} processes ({self.dist.backend})"
        self.base = torch.as_tensor(base).to(self.device)  # (I, H) history vectors
        self.model = TwoTower(self.base.shape[1], counts > 0, cfg, text).to(self.device)
        self.opt = self._optimizer()
        self.net = self.model  # what a step calls: the model, or DDP around it
        coo = self.train.tocoo()
        self.pairs = np.stack([coo.row, coo.col], axis=1).astype(np.int64)
        self.global_batch = cfg.batch_size * (self.dist.world_size if self.dist else 1)
        if self.dist is not None and len(self.pairs) < self.dist.world_size:
            raise ValueError(f"{len(self.pairs)} training pairs for {self.dist.world_size} "
                             "processes; start fewer processes")  # fmt: skip
        self.steps_per_epoch = math.ceil(len(self.pairs) / self.global_batch)
        self.total_steps = self.steps_per_epoch * cfg.epochs
        if cfg.max_steps is not None:
            self.total_steps = min(self.total_steps, cfg.max_steps)
        self.state = {"epoch": 0, "step": 0, "best_score": -math.inf, "best_epoch": 0,
                      "bad_epochs": 0, "history": []}  # fmt: skip
        self.fingerprint = run_fingerprint(self.train, validation, item_ids, cfg, self.dist)

    def _optimizer(self) -> torch.optim.Optimizer:
        head: list[torch.nn.Parameter] = []
        lm: list[torch.nn.Parameter] = []
        for name, p in self.model.named_parameters():
            if p.requires_grad:
                (lm if name.startswith("text.") else head).append(p)
        groups = [{"params": head, "lr": self.cfg.lr, "base_lr": self.cfg.lr}]
        if lm:
            groups.append({"params": lm, "lr": self.cfg.lm_lr, "base_lr": self.cfg.lm_lr})
        return torch.optim.AdamW(groups, weight_decay=self.cfg.weight_decay)

    # -- public entry -------------------------------------------------------------------------
    def fit(self, resume: bool) -> FineTuned:
        try:
            if self.run is None:
                return self._fit(resume)
            self.run.path.mkdir(parents=True, exist_ok=True)
            with self.run.lock():  # held until the loop ends: one trainer per folder
                self.run.sweep()  # what a killed trainer left: temp files, uncommitted generations
                if resume:
                    checkpoints.check_resumable(self.run, self.fingerprint)  # before any write
                else:
                    self.run.reset()
                return self._fit(resume)
        except BaseException as exc:
            if self.dist is not None and self.dist.leader and not self._shared:
                self.dist.share({"error": f"{type(exc).__name__}: {exc}"})  # release the others
            raise

    _shared = False  # rank 0 has told the others how the run starts

    def _start_ranks(self, resumed: bool) -> None:
        """Every rank starts from rank 0's weights, optimiser and loop state; then DDP wraps."""
        assert self.dist is not None
        payload = None
        if self.dist.leader:
            payload = {"state": self.state} if not resumed else {
                "state": self.state,
                "model": {k: v.cpu() for k, v in self.model.trainable_state().items()},
                "optim": _to_cpu(self.opt.state_dict()),
            }  # fmt: skip
        payload = self.dist.share(payload)
        self._shared = True
        if "error" in payload:
            raise RuntimeError(f"rank 0 could not start: {payload['error']}")
        if not self.dist.leader:
            self.state = payload["state"]
            if "model" in payload:
                self.model.load_state_dict(payload["model"], strict=False)
                self.opt.load_state_dict(payload["optim"])
                if self.model.text is not None:
                    self._item_vectors()  # history table of the resumed weights
        ids = [self.device.index] if self.device.type == "cuda" else None
        self.net = torch.nn.parallel.DistributedDataParallel(
            self.model, device_ids=ids, forward_sync_buffers=False,  # buffers are constants
            find_unused_parameters=self.regime == "full")  # fmt: skip

    def _fit(self, resume: bool) -> FineTuned:
        started = time.time()
        try:
            resumed = False
            if self.run is not None:
                resumed = resume and checkpoints.resume(self)
            if self.dist is not None:
                self._start_ranks(resumed)
            if self.run is not None:
                self.run.write_status("running", device=self.describe, regime=self.regime)
                what = f"resumed at step {self.state['step']}" if resumed else "started"
                self._emit("event", message=f"{what}: {self.regime} on {self.describe}")
            stopped = self._epochs()
        except BaseException as exc:  # record why, then let it propagate
            if self.run is not None:
                message = f"{type(exc).__name__}: {exc}"
                self.run.write_status("failed", message=message[:300], ended=time.time())
            raise
        result = self._result(stopped)
        if self.run is not None:
            self._finish(result, stopped, time.time() - started)
        return result

    def _epochs(self) -> bool:
        cfg = self.cfg
        while self.state["epoch"] < cfg.epochs and self.state["step"] < self.total_steps:
            epoch = self.state["epoch"]
            done_in_epoch = self.state["step"] - epoch * self.steps_per_epoch
            rng = np.random.default_rng(cfg.seed * 1_000_003 + epoch)
            order = rng.permutation(len(self.pairs))
            loss_sum, n_loss, t0 = 0.0, 0, time.time()
            self._epoch_started = t0
            for k in range(done_in_epoch, self.steps_per_epoch):
                if self._stop_agreed():
                    checkpoints.save(self, best=False)
                    return True
                if self.state["step"] >= self.total_steps:
                    break
                if self.dist is None:
                    batch = self.pairs[order[k * cfg.batch_size : (k + 1) * cfg.batch_size]]
                    loss, lr = self._step(batch, rng)
                else:
                    mine, sizes = self.dist.shard(order, k, cfg.batch_size)
                    batch = self.pairs[mine]
                    loss, lr = self._step(batch, rng, sizes)
                self.state["step"] += 1
                loss_sum, n_loss = loss_sum + loss, n_loss + 1
                if self.state["step"] % cfg.log_every == 0 or k == self.steps_per_epoch - 1:
                    self._log_step(epoch, loss, lr, len(batch), t0, k - done_in_epoch + 1)
            self._end_epoch(epoch, loss_sum / max(n_loss, 1))
            if self.state["bad_epochs"] >= cfg.patience:
                self._emit("event", message=f"early stop after epoch {epoch + 1}")
                break
        return False

    def _lr_factor(self, step: int) -> float:
        warm = max(1, int(self.cfg.warmup * self.total_steps))
        if step < warm:
            return (step + 1) / warm
        return max(0.0, (self.total_steps - step) / max(1, self.total_steps - warm))

    def _stop_agreed(self) -> bool:
        stop = self.stop()
        return stop if self.dist is None else self.dist.any(stop, self.device)

    def _step(self, batch: np.ndarray, rng: np.random.Generator,
              sizes: list[int] | None = None) -> tuple[float, float]:  # fmt: skip
        """One optimiser step on ``batch``; under DDP it is this rank's part of a global batch
        whose parts have ``sizes`` (rank order), and the loss is that of the global batch."""
        cfg, model = self.cfg, self.model
        model.train()
        factor = self._lr_factor(self.state["step"])
        for group in self.opt.param_groups:
            group["lr"] = group["base_lr"] * factor
        items = torch.as_tensor(batch[:, 1]).to(self.device)
        hist = _torch_csr(self.train[batch[:, 0]]).to(self.device)  # (B, I)
        counts = torch.as_tensor(np.diff(self.train.indptr)[batch[:, 0]]).to(self.device)
        u, v, table = self.net(self.base, items, hist, counts)
        if sizes is None:
            loss = self._loss(u, v, items, table, rng)
        else:
            loss = self._global_loss(u, v, items, table, rng, sizes)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        self.opt.step()
        value = float(loss.detach())
        if self.dist is not None:  # this rank's share of the global mean -> the global mean
            value = self.dist.mean(value, self.device)
        return value, self.opt.param_groups[0]["lr"]

    def _global_loss(self, u, v, items, table, rng, sizes: list[int]) -> torch.Tensor:
        """This rank's share of the global batch's loss, scaled so that DDP's mean of the ranks'
        gradients is the gradient of the global batch's mean loss (parts may differ by one)."""
        assert self.dist is not None
        cfg, rank, total = self.cfg, self.dist.rank, sum(sizes)
        offset, n = sum(sizes[:rank]), sizes[rank]
        share = self.dist.world_size * n / total
        if cfg.loss == "softmax":
            v_all = self.dist.gather_rows(v, sizes)  # (G, D), gradients reach every rank
            items_all = self.dist.gather_rows(items[:, None], sizes)[:, 0]
            logits = u @ v_all.T / cfg.temperature - cfg.logq * self.logq[items_all][None, :]
            target = torch.arange(offset, offset + n, device=items.device)
            own = torch.arange(total, device=items.device)[None, :] == target[:, None]
            same = (items_all[None, :] == items[:, None]) & ~own  # duplicates are not negatives
            logits = logits.masked_fill(same, torch.finfo(logits.dtype).min)
            return F.cross_entropy(logits, target) * share
        if cfg.loss == "bce":  # the global batch's negatives, drawn alike on every rank
            neg = torch.as_tensor(rng.integers(0, len(table), (total, cfg.negatives)))
            return self._bce(u, v, table, neg[offset : offset + n]) * share
        raise ValueError(f"unknown loss {cfg.loss!r}; expected softmax or bce")

    def _bce(self, u, v, table, neg) -> torch.Tensor:
        cfg = self.cfg
        pos_logit = (u * v).sum(-1) / cfg.temperature  # (B,)
        neg_logit = torch.einsum("bd,bnd->bn", u, table[neg.to(u.device)].float())
        neg_logit = neg_logit / cfg.temperature  # (B, n)
        return F.binary_cross_entropy_with_logits(
            pos_logit, torch.ones_like(pos_logit)
        ) + F.binary_cross_entropy_with_logits(neg_logit, torch.zeros_like(neg_logit))

    def _loss(self, u, v, items, table, rng) -> torch.Tensor:
        cfg = self.cfg
        if cfg.loss == "softmax":
            logits = u @ v.T / cfg.temperature - cfg.logq * self.logq[items][None, :]  # (B, B)
            eye = torch.eye(len(items), dtype=torch.bool, device=items.device)
            same = (items[None, :] == items[:, None]) & ~eye  # duplicates are not negatives
            logits = logits.masked_fill(same, torch.finfo(logits.dtype).min)
            return F.cross_entropy(logits, torch.arange(len(items), device=items.device))
        if cfg.loss == "bce":
            neg = torch.as_tensor(rng.integers(0, len(table), (len(items), cfg.negatives)))
            return self._bce(u, v, table, neg)
        raise ValueError(f"unknown loss {cfg.loss!r}; expected softmax or bce")

    # -- epochs, validation, checkpoints ---------------------------------------------------------
    def _item_vectors(self) -> torch.Tensor:
        self.model.eval()
        with torch.no_grad():
            if self.model.text is not None:
                self.base = self.model.text.encode_all().to(self.device)  # refresh history table
            idx = torch.arange(len(self.base), device=self.device)
            return self.model.items(self.base, idx).float().cpu()

    def _snapshot(self) -> FineTuned:
        vectors = self._item_vectors().numpy()
        return FineTuned(
            item_vectors=vectors,
            user_weight=self.model.user.weight.detach().float().cpu().numpy().copy(),
            user_bias=self.model.user.bias.detach().float().cpu().numpy().copy(),
        )

    def _validate(self, snap: FineTuned) -> dict[str, float]:
        users = np.flatnonzero(np.diff(self.validation.indptr))
        scores = snap.score(self.train[users])
        exclude(scores, self.train[users])
        k = min(20, scores.shape[1])  # a toy catalogue may hold fewer than 20 items
        top, _ = top_k(scores, k)
        counts = np.asarray(self.train.sum(axis=0)).ravel()
        m = metrics.evaluate_topk(top, self.validation[users], counts, self.groups, (k,))
        return {f"{key[: -len(str(k))]}20": float(v) for key, v in m.items()
                if key.endswith(f"@{k}") and "recall" in key}  # fmt: skip

    def _end_epoch(self, epoch: int, loss: float) -> None:
        if self.dist is not None and not self.dist.leader:
            if self.model.text is not None:
                self._item_vectors()  # the history table refreshes on every rank
            self.state = self.dist.share()  # rank 0's verdict: best epoch, early stop
            return
        snap = self._snapshot()
        val = self._validate(snap) if self.validation is not None else {}
        score = sum(np.nan_to_num(val.get(k, 0.0)) for k in self.cfg.select) if val else epoch
        best = bool(score > self.state["best_score"])
        self.state["epoch"] = epoch + 1
        self.state["history"].append({"epoch": epoch + 1, "loss": loss, "validation": val})
        if best:
            self.state.update(best_score=score, best_epoch=epoch + 1, bad_epochs=0)
            self._best = snap
            checkpoints.save(self, best=True)  # checkpoint + vectors + ids: one generation
        else:
            self.state["bad_epochs"] += 1
        checkpoints.save(self, best=False)
        seconds = time.time() - getattr(self, "_epoch_started", time.time())
        self._emit("epoch", epoch=epoch + 1, step=self.state["step"], loss=loss,
                   validation=val, best=best, seconds=seconds)  # fmt: skip
        if self.run is not None:
            self.run.write_metrics({"best_epoch": self.state["best_epoch"],
                                    "best": self.state["history"][self.state["best_epoch"] - 1]
                                    ["validation"], "history": self.state["history"]})  # fmt: skip
            self.run.write_status("running", epoch=epoch + 1, step=self.state["step"])
        if self.dist is not None:
            self.dist.share(self.state)

    def _result(self, stopped: bool) -> FineTuned:
        snap = getattr(self, "_best", None) or self._snapshot()
        snap.best_epoch, snap.history = self.state["best_epoch"], self.state["history"]
        snap.stopped = stopped
        return snap

    def _finish(self, result: FineTuned, stopped: bool, seconds: float) -> None:
        if stopped:
            self._emit("event", message=f"stopped at step {self.state['step']}")
            self.run.write_status("stopped", message="stopped on request", ended=time.time())
        else:
            self._emit("event", message=f"finished: best epoch {self.state['best_epoch']}")
            self.run.write_status("finished", message=f"best epoch {self.state['best_epoch']}",
                                  ended=time.time(), seconds=seconds)  # fmt: skip

    def _log_step(self, epoch, loss, lr, batch_len, t0, steps_done) -> None:
        rate = steps_done * self.global_batch / max(time.time() - t0, 1e-9)
        left = (self.total_steps - self.state["step"]) * self.global_batch / max(rate, 1e-9)
        self._emit("step", step=self.state["step"], epoch=epoch + 1, loss=loss, lr=lr,
                   samples_per_s=rate, eta_s=left, total_steps=self.total_steps)  # fmt: skip

    def _emit(self, kind: str, **record: Any) -> None:
        record = {"kind": kind, **record, "time": time.time()}
        if self.run is not None:
            self.run.log(kind, **{k: v for k, v in record.items() if k != "kind"})
        if self.callback is not None:
            self.callback(record)


def run_fingerprint(train, validation, item_ids, cfg: FinetuneConfig,
                    ddp: Distributed | None) -> dict:  # fmt: skip
    """:func:`checkpoints.fingerprint`, with the global batch (``world_size * batch_size``) as the
    batch size under DDP: a run resumes only where a step means what it meant."""
    found = checkpoints.fingerprint(train, validation, item_ids, cfg)
    if ddp is not None:
        found["config"]["batch_size"] = cfg.batch_size * ddp.world_size
    return found


def _to_cpu(obj: Any) -> Any:
    if isinstance(obj, torch.Tensor):
        return obj.cpu()
    if isinstance(obj, dict):
        return {k: _to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return type(obj)(_to_cpu(v) for v in obj)
    return obj


def _stop_fn(flag: StopFlag, run: RunFolder | None) -> Callable[[], bool]:
    def check() -> bool:
        if isinstance(flag, threading.Event) and flag.is_set():
            return True
        if callable(flag) and not isinstance(flag, threading.Event) and flag():
            return True
        return run is not None and run.stop_requested()

    return check


def _torch_csr(m: sp.csr_matrix) -> torch.Tensor:
    coo = m.tocoo()
    idx = torch.as_tensor(np.vstack([coo.row, coo.col]), dtype=torch.long)
    values = torch.as_tensor(coo.data, dtype=torch.float32)
    return torch.sparse_coo_tensor(idx, values, m.shape, check_invariants=False).coalesce()
