"""Size caps on the disk caches: least-recently-used files go first once a folder is over its cap.

The caches (``.cache/uploads``, ``.cache/embeddings``, ``.cache/projections``) are filled by
anyone who can reach the dashboard, so each one is bounded. "Recently used" is the newer of a
file's access and modification times; readers call :func:`touch` on a cache hit, because many
file systems do not update access times (``noatime``, ``relatime``). Writers call
:func:`prune_cache` after each write.

Caps, in MB, overridable by environment variables (see :data:`CAPS`)::

    LONGTAIL_UPLOAD_CACHE_MB      2048   .cache/uploads
    LONGTAIL_EMBEDDING_CACHE_MB   2048   .cache/embeddings
    LONGTAIL_PROJECTION_CACHE_MB   512   .cache/projections
"""

from __future__ import annotations

import logging
import os
import stat
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

log = logging.getLogger(__name__)

# cache name -> (environment variable, default cap in MB)
CAPS: dict[str, tuple[str, int]] = {
    "uploads": ("LONGTAIL_UPLOAD_CACHE_MB", 2048),
    "embeddings": ("LONGTAIL_EMBEDDING_CACHE_MB", 2048),
    "projections": ("LONGTAIL_PROJECTION_CACHE_MB", 512),
}
STALE_TMP_S = 3600.0  # a writer's temporary file this old was left by a killed process


def cap_bytes(cache: str, environ: Mapping[str, str] = os.environ) -> int:
    """The cap of one cache in bytes: its environment variable (MB) or the default.

    A value that is not a positive number is ignored with a logged warning: a typo in the
    environment must not take the dashboard down, and the default cap still holds.
    """
    variable, default_mb = CAPS[cache]
    text = environ.get(variable, "").strip()
    if text:
        try:
            mb = float(text)
            if mb > 0 and mb != float("inf"):
                return int(mb * 2**20)
        except ValueError:
            pass
        log.warning("%s=%r is not a positive number of MB; using %d MB", variable, text, default_mb)
    return default_mb * 2**20


def touch(path: str | os.PathLike) -> None:
    """Mark a cache file as just used (a hit), so pruning keeps it longest."""
    try:
        os.utime(path)
    except OSError:
        pass  # gone meanwhile (pruned by another process): the caller already has its bytes


def prune_cache(
    folder: str | os.PathLike, max_bytes: int, keep: Iterable[str | os.PathLike] = ()
) -> list[Path]:
    """Delete the least recently used files of ``folder`` until it holds at most ``max_bytes``.

    Args:
        folder: a flat cache folder (sub-folders are left alone).
        max_bytes: the cap; files are removed oldest-use first until the total fits.
        keep: files never removed (the one just written), even when they alone exceed the cap.

    Returns:
        The removed files, oldest first. Temporary files of writers in progress (``.name.*.tmp``)
        are neither counted nor removed unless older than :data:`STALE_TMP_S`, then removed.
    """
    folder = Path(folder)
    kept = {Path(p).resolve() for p in keep}
    entries: list[tuple[float, int, Path]] = []
    removed: list[Path] = []
    total = 0
    now = time.time()
    try:
        listing = list(folder.iterdir())
    except FileNotFoundError:
        return removed
    for path in listing:
        try:
            info = path.lstat()
        except FileNotFoundError:
            continue  # removed meanwhile
        if not stat.S_ISREG(info.st_mode):
            continue
        if path.name.startswith(".") and path.name.endswith(".tmp"):
            if now - info.st_mtime > STALE_TMP_S and _remove(path):
                removed.append(path)
            continue
        total += info.st_size
        if path.resolve() not in kept:
            entries.append((max(info.st_atime, info.st_mtime), info.st_size, path))
    for _, size, path in sorted(entries, key=lambda e: (e[0], e[2].name)):
        if total <= max_bytes:
            break
        total -= size  # gone either way: removed here or by another process just now
        if _remove(path):
            removed.append(path)
    return removed


def _remove(path: Path) -> bool:
    try:
        path.unlink()
    except FileNotFoundError:
        return False  # another process pruned it first
    return True
