"""The language model: encoding item text, and fine-tuning it on user feedback.

- ``encoder``: item text -> unit vectors with a pretrained model, cached on disk; devices, threads.
- ``config``: :class:`~recsys.lm.config.FinetuneConfig`, every training choice, and the regimes.
- ``towers``: the two towers (LM over item text, user map) and the trained model as arrays.
- ``finetune``: the training loop, reporting through a callback and stopping cooperatively.
- ``checkpoints``: the loop's best/last checkpoints in a run folder, and resuming from them.
- ``train_cli``: ``python -m recsys train``, the loop headless into a run folder.
"""
