"""Files other tools read: ``ticket.npz`` and ``result.json`` (keep the names).

``ticket.npz``: ``w`` (d), ``U`` (n x d), ``v`` (n) -- the unpruned random
network and its target -- and ``hidden_mask`` (n x d, 0/1), ``output_mask``
(n, 0/1).  Writes are atomic (temporary file, then rename), so an interrupted
run never leaves a half-written file behind.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ._npz import ArrayHeader, read_npz
from .exceptions import InvalidArgument
from .masks import Masks
from .subsetsum import _resolve_budget

__all__ = ["Ticket", "write_ticket", "read_ticket", "write_json", "read_json", "json_ready", "RESULT_FORMAT_VERSION"]

#: The version of result.json's schema (its ``format_version``; docs/schemas.md): raised when a key is
#: renamed or removed or changes its type or meaning, not when one is added.
RESULT_FORMAT_VERSION = "1"

TICKET_KEYS = ("w", "U", "v", "hidden_mask", "output_mask")


@dataclass(frozen=True, eq=False)
class Ticket:
    """A ticket file's contents: the random network, the target, the masks."""

    w: np.ndarray
    U: np.ndarray
    v: np.ndarray
    masks: Masks


def _atomic_write(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        # mkstemp creates 0600 files; results are meant to be shared like any other file
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


atomic_write = _atomic_write  # public: write(fh) to a temporary file in path's folder, then rename onto path


def write_ticket(path: str | os.PathLike[str], w: np.ndarray, U: np.ndarray, v: np.ndarray, masks: Masks) -> Path:
    path = Path(path)
    arrays = {
        "w": np.asarray(w, np.float64),
        "U": np.asarray(U, np.float64),
        "v": np.asarray(v, np.float64),
        "hidden_mask": masks.hidden_mask.astype(np.uint8),
        "output_mask": masks.output_mask.astype(np.uint8),
    }
    _atomic_write(path, lambda fh: np.savez_compressed(fh, **arrays))
    return path


def read_ticket(path: str | os.PathLike[str]) -> Ticket:
    """Load and validate a ticket file; any defect is an InvalidArgument naming it."""
    path = Path(path)
    name = f"ticket file {str(path)!r}"

    def check(headers: dict[str, ArrayHeader]) -> tuple[str, ...]:
        # shapes from the headers alone, before any data is read (read_npz)
        missing = [k for k in TICKET_KEYS if k not in headers]
        if missing:
            raise InvalidArgument(f"{name} lacks array(s) {', '.join(missing)}; a ticket has {', '.join(TICKET_KEYS)}")
        w, U, v, h, o = (headers[k].shape for k in TICKET_KEYS)
        if len(w) != 1 or len(U) != 2 or U[1] != w[0] or v != (U[0],):
            raise InvalidArgument(f"{name} has inconsistent shapes: w {w}, U {U}, v {v}")
        if U[0] == 0 or U[1] == 0:
            raise InvalidArgument(f"{name} holds an empty network (U of shape {U}); a ticket has at least one unit "
                                  "and one input")
        if h != U or o != v:
            raise InvalidArgument(f"{name}: the masks' shapes (hidden_mask {h}, output_mask {o}) differ from U {U} "
                                  f"and v {v}")
        return TICKET_KEYS

    data = read_npz(path, check, what="ticket file", kind=".npz ticket", max_bytes=_resolve_budget(None))
    w, U, v = data["w"], data["U"], data["v"]
    for name in ("w", "U", "v"):
        if not np.all(np.isfinite(data[name])):
            raise InvalidArgument(f"ticket file {str(path)!r}: array {name} has non-finite values")
    try:
        masks = Masks(data["hidden_mask"], data["output_mask"])
    except InvalidArgument as exc:
        raise InvalidArgument(f"ticket file {str(path)!r}: {exc}") from None
    if masks.hidden_mask.shape != U.shape:
        raise InvalidArgument(f"ticket file {str(path)!r}: hidden_mask shape {masks.hidden_mask.shape} differs from U {U.shape}")
    return Ticket(w.astype(np.float64), U.astype(np.float64), v.astype(np.float64), masks)


def json_ready(obj: Any) -> Any:
    """Plain JSON values: numpy scalars and arrays converted, non-finite floats to None."""
    if isinstance(obj, dict):
        return {str(k): json_ready(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_ready(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return json_ready(obj.tolist())
    if isinstance(obj, np.generic):
        return json_ready(obj.item())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def write_json(path: str | os.PathLike[str], data: dict[str, Any]) -> Path:
    path = Path(path)
    text = json.dumps(json_ready(data), indent=2, allow_nan=False) + "\n"
    _atomic_write(path, lambda fh: fh.write(text.encode()))
    return path


def read_json(path: str | os.PathLike[str]) -> dict[str, Any]:
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise InvalidArgument(f"file {str(path)!r} does not exist") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidArgument(f"file {str(path)!r} is not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise InvalidArgument(f"file {str(path)!r} must hold a JSON object")
    return data
