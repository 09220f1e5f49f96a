"""Crash-safe files: written to a temporary file beside the target, flushed, fsynced and renamed.

``os.replace`` is atomic, so killing the process at any moment leaves the previous consistent
version; the folder is fsynced after the rename so the new name itself survives a power cut. Used
by run folders (:mod:`recsys.runs.folder`), the encoder and projection caches, and uploads.
A process killed mid-write leaves a ``.<name>.*.tmp`` file behind; :func:`sweep_temp` removes them.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

TEMP_SUFFIX = ".tmp"


@contextmanager
def _atomic_open(path: str | os.PathLike, mode: str = "wb", mkdir: bool = True) -> Iterator[Any]:
    """Open a temp file beside ``path``; on success fsync and rename it over ``path``.

    ``mkdir=False``: the folder must exist already (FileNotFoundError otherwise), so writing into
    a folder deleted meanwhile never brings it back.
    """
    path = Path(path)
    if mkdir:
        path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
    os.chmod(tmp, 0o644)  # mkstemp makes 0600; others (the dashboard, CI) read these files
    try:
        with os.fdopen(fd, mode) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def fsync_dir(folder: str | os.PathLike) -> None:
    """Flush a folder's entries (renames, new names) to disk; a no-op where unsupported."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def sweep_temp(folder: str | os.PathLike) -> list[str]:
    """Remove the ``.<name>.*.tmp`` files a killed writer left in ``folder``; their names."""
    removed = []
    for tmp in Path(folder).glob(f".*{TEMP_SUFFIX}"):
        tmp.unlink(missing_ok=True)
        removed.append(tmp.name)
    return removed


def atomic_write_bytes(path: str | os.PathLike, data: bytes, mkdir: bool = True) -> None:
    with _atomic_open(path, "wb", mkdir) as fh:
        fh.write(data)


def atomic_write_json(path: str | os.PathLike, obj: Any, mkdir: bool = True) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    atomic_write_bytes(path, json.dumps(obj, indent=2, default=json_default).encode(), mkdir)


def atomic_save_npy(path: str | os.PathLike, array: np.ndarray, mkdir: bool = True) -> None:
    """``np.save`` atomically (no pickled objects: plain numeric arrays only)."""
    with _atomic_open(path, "wb", mkdir) as fh:
        np.save(fh, np.asarray(array), allow_pickle=False)


def read_json(path: str | os.PathLike, default: Any = None) -> Any:
    try:
        return json.loads(Path(path).read_text())
    except (FileNotFoundError, NotADirectoryError, json.JSONDecodeError, UnicodeDecodeError):
        return default


def read_json_dict(path: str | os.PathLike) -> dict:
    """A JSON object from ``path``; ``{}`` when absent, unreadable or of another shape."""
    value = read_json(path, default=None)
    return value if isinstance(value, dict) else {}


def json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
