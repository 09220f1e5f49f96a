"""``python -m recsys train``: fine-tune the language-model recommender headless into a run folder.

Data: ``--data sample|<MovieLens folder>`` or ``--interactions F --items F`` (with ``--column
canon=name``, ``--item-column``, ``--text-column``). Positives are ``rating >= --threshold`` when
there are ratings. Training sees only the evaluation protocol's *training minus validation*
(:func:`recsys.evaluation.protocol.prepare`, temporal where there are timestamps, else random, with
``--split-seed`` as the dashboard uses it), so the Recommendations page's validation KPIs and
``evaluate``'s test figures are on data no part of the run saw. The best epoch is picked on an
inner holdout carved from that training data the same way (``--validation-fraction``). The run
folder layout is in :mod:`recsys.runs.folder`.

Cancelling: ``touch <run-dir>/STOP`` or SIGTERM both ask the loop to stop before its next step; the
folder is left consistent with ``state = "stopped"`` and the run can be resumed by running the same
command again (``--fresh`` starts over instead). A folder holding another run (other data, items
or config) is not resumed: the command refuses, naming what differs, and writes nothing, unless
``--fresh``. The folder is locked from before ``config.json`` is written until the loop ends, so
a second ``train`` on the same folder is refused at once.

Several GPUs: ``torchrun --standalone --nproc_per_node N -m recsys train ...`` runs N processes
(DDP, :mod:`recsys.lm.distributed`); ``--batch-size`` is per process, so a step sees N times as
many pairs. Rank 0 alone locks and writes the run folder and prints progress; the others wait for
it to take the lock (and fail with its reason when it cannot), then train their shards.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from dataclasses import asdict
from pathlib import Path

from recsys.data.dataset import Dataset
from recsys.data.sources import load, load_table
from recsys.runs.folder import RunFolder


def add_train_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "train",
        help="fine-tune the language-model recommender into a run folder",
        description="Fine-tune the two-tower language-model recommender; progress, checkpoints "
        "and item embeddings go to --run-dir (resumed when it holds a checkpoint).",
    )
    src = p.add_argument_group("data")
    src.add_argument("--data", help="'sample' or a MovieLens folder")
    src.add_argument("--interactions", type=Path, help="CSV/Parquet of interactions")
    src.add_argument("--items", type=Path, help="CSV/Parquet catalogue with text")
    src.add_argument("--column", action="append", default=[], metavar="CANON=NAME",
                     help="map user/item/rating/timestamp to a column (repeatable)")  # fmt: skip
    src.add_argument("--item-column", help="item id column of the catalogue")
    src.add_argument("--text-column", action="append", default=[], help="text column (repeatable)")
    src.add_argument("--unknown-items", choices=["error", "drop", "keep"], default=None)
    src.add_argument("--duplicates", choices=["error", "drop"], default=None)
    src.add_argument("--threshold", type=float, default=4.0, help="ratings >= this are positive")
    src.add_argument(
        "--validation-fraction",
        type=float,
        default=0.1,
        help="share held out (per user) from the training data to pick the best epoch",
    )
    src.add_argument(
        "--test-fraction",
        type=float,
        default=0.2,
        help="the protocol's test share, never trained on (default 0.2)",
    )
    src.add_argument(
        "--split-seed",
        type=int,
        default=0,
        help="seed of the protocol's split (default 0, as the dashboard)",
    )
    p.add_argument("--run-dir", required=True, type=Path, help="run folder (created if absent)")
    p.add_argument("--regime", default="auto", help="auto | full | top-N | adapter")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N | mps")
    p.add_argument("--model", help="encoder: a local folder or hub name (default packaged MiniLM)")
    p.add_argument("--loss", choices=["softmax", "bce"], default="softmax")
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--batch-size", type=int, default=512)
    p.add_argument("--lr", type=float, default=2e-3, help="head learning rate")
    p.add_argument("--lm-lr", type=float, default=3e-5, help="transformer learning rate")
    p.add_argument("--max-steps", type=int, help="stop after this many steps")
    p.add_argument("--threads", type=int, help="CPU threads (default $RECSYS_THREADS or 2)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--ddp-backend", choices=["auto", "nccl", "gloo"], default=None,
                   help="under torchrun: auto = nccl on CUDA, gloo on the CPU "
                   "(default $RECSYS_DDP_BACKEND or auto)")  # fmt: skip
    p.add_argument("--fresh", action="store_true",
                   help="start over: remove the folder's earlier checkpoints, best model, metrics "
                   "and progress (needed to reuse a folder that holds another run)")  # fmt: skip
    p.set_defaults(handler=run_train)
    return p


def run_train(args: argparse.Namespace) -> int:
    from recsys.lm import distributed

    with distributed.session(args.ddp_backend, args.device) as ddp:  # None: one process
        return _train(args, ddp)


def _train(args: argparse.Namespace, ddp) -> int:
    from recsys.lm import checkpoints
    from recsys.lm.config import FinetuneConfig
    from recsys.lm.finetune import finetune, run_fingerprint

    _check_model(args.model)
    dataset = _dataset(args)
    train, validation, index = _matrices(dataset, args)
    config = FinetuneConfig(
        model=args.model,
        regime=args.regime,
        loss=args.loss,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        lm_lr=args.lm_lr,
        seed=args.seed,
        device=None if args.device == "auto" else args.device,
        threads=args.threads,
        max_steps=args.max_steps,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    if ddp is not None and not ddp.leader:  # rank 0 holds the folder; this rank only trains
        started = ddp.share()
        if "error" in started:
            raise ValueError(f"rank 0 could not start: {started['error']}")
        finetune(train, dataset.item_text(), config, validation=validation, should_stop=stop,
                 item_ids=index.item_ids, resume=not args.fresh)  # fmt: skip
        return 0
    run = RunFolder(args.run_dir)
    fingerprint = run_fingerprint(train, validation, index.item_ids, config, ddp)
    released = False
    try:
        run.path.mkdir(parents=True, exist_ok=True)
        with run.lock():  # refused at once when another trainer runs here; held until the end
            if args.fresh:
                run.reset()
            else:
                checkpoints.check_resumable(run, fingerprint)  # before config.json is touched
            # A launcher may have created the folder already: keep its keys, add ours.
            earlier = run.read_config()
            run.write_config(
                {
                    **earlier,
                    **asdict(config),
                    "dataset": earlier.get("dataset") or dataset.name,
                    "users": index.n_users,
                    "items": index.n_items,
                    "train": int(train.nnz),
                    "validation": int(validation.nnz),
                    "fingerprint": fingerprint,
                    **({"processes": ddp.world_size} if ddp is not None else {}),
                }
            )
            if run.read_status()["state"] in ("stopped", "finished", "failed"):
                run.clear_stop()  # a STOP left by an earlier process must not cancel this one
            if ddp is not None:
                ddp.share({"ok": True})  # the folder is ours: the other ranks may start
                released = True
            result = finetune(train, dataset.item_text(), config, validation=validation,
                              run=run, callback=_print_progress, should_stop=stop,
                              item_ids=index.item_ids, resume=not args.fresh)  # fmt: skip
    except BaseException as exc:
        if ddp is not None and not released:  # tell the waiting ranks why, so none hangs
            ddp.share({"error": " ".join(f"{type(exc).__name__}: {exc}".split())[:300]})
        raise
    state = "stopped" if result.stopped else "finished"
    print(f"{state}: best epoch {result.best_epoch}; run folder {run.path}", file=sys.stderr)
    return 0


def _check_model(model: str | None) -> None:
    """ValueError for a ``--model`` that names a local path which does not exist (a hub name is
    ``name`` or ``org/name``; anything else is taken as a path)."""
    if model is None:
        return
    path = Path(model).expanduser()
    if path.exists():
        if not path.is_dir():
            raise ValueError(f"--model {model!r}: not a folder (expected a model folder)")
        return
    looks_like_path = (
        path.is_absolute()
        or model.startswith((".", "~"))
        or model.count("/") > 1
        or "\\" in model
        or model.endswith("/")
    )
    if looks_like_path:
        raise ValueError(f"--model {model!r}: no such folder (expected a model folder)")


def _dataset(args: argparse.Namespace) -> Dataset:
    options = {k: v for k, v in (("unknown_items", args.unknown_items),
                                 ("duplicates", args.duplicates)) if v}  # fmt: skip
    if args.data:
        return load(args.data, **options)
    if not (args.interactions and args.items):
        raise ValueError("give --data, or both --interactions and --items")
    mapping = dict(pair.split("=", 1) for pair in args.column) or None
    return load_table(args.interactions, args.items, mapping=mapping,
                      item_column=args.item_column,
                      text_columns=tuple(args.text_column) or None, **options)  # fmt: skip


def _matrices(dataset: Dataset, args: argparse.Namespace):
    """(train, epoch-selection holdout, index): the protocol's training minus validation, split."""
    from recsys.evaluation.protocol import Protocol, prepare
    from recsys.evaluation.split import SplitKind, random_holdout, temporal_holdout

    kind: SplitKind = "temporal" if dataset.has_timestamps else "random"
    protocol = Protocol(
        split=kind,
        test_fraction=args.test_fraction,
        validation_fraction=args.validation_fraction,
        threshold=args.threshold if dataset.has_ratings else None,
        seed=args.split_seed,
    )
    experiment = prepare(dataset, protocol)
    fit_train = experiment.split.fit_train
    if kind == "temporal":
        train, held = temporal_holdout(fit_train, args.validation_fraction)
    else:
        train, held = random_holdout(fit_train, args.validation_fraction, args.split_seed)
    index = experiment.index
    return index.matrix(train), index.matrix(held), index


def _print_progress(record: dict) -> None:
    if record["kind"] == "epoch":
        val = " ".join(f"{k}={v:.4f}" for k, v in record.get("validation", {}).items())
        print(f"epoch {record['epoch']}: loss {record['loss']:.4f} {val}"
              + (" (best)" if record.get("best") else ""), file=sys.stderr)  # fmt: skip
    elif record["kind"] == "event":
        print(record["message"], file=sys.stderr)
    elif record["kind"] == "step":
        print(f"step {record['step']}/{record['total_steps']} loss {record['loss']:.4f} "
              f"{record['samples_per_s']:.0f} samples/s eta {record['eta_s']:.0f} s",
              file=sys.stderr)  # fmt: skip
    sys.stderr.flush()
