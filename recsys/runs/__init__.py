"""Runs: fine-tuning runs as folders on disk and as background processes.

- ``atomic``: crash-safe writes (temp file, fsync, rename), used by runs, caches and uploads.
- ``folder``: :class:`~recsys.runs.folder.RunFolder`, the layout of one run folder, run listing.
- ``best``: the best model (checkpoint, item vectors, ids) committed as one generation.
- ``locks``: one trainer per folder (``.lock``), whole status read-modify-writes (``.status.lock``).
- ``launch``: starting a run as a detached process (one per device), and cancelling it.
- ``liveness``: whether a run's process still runs, why it ended, and polling its progress.
- ``history``: every run in a runs folder, deleting one, and model folders to train from.
- ``timing``: a live run's progress and ETA, and time per epoch before launch.
- ``cluster``: catalogue encoding and batch scoring on a Ray cluster (``--ray``).
"""
