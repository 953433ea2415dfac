"""Ticket files of any number of outputs, in numpy (no torch needed).

A single-output ticket is prunegap's ``ticket.npz`` (``w``, ``U``, ``v``,
``hidden_mask``, ``output_mask``; see :mod:`prunegap.io`).  A ticket with
C > 1 outputs (edge-popup on digits) cannot take that shape, so it is
written as ``multi_ticket.npz`` beside ``result.json``, with arrays

* ``U`` (n x d, float64): the hidden weights the network computes with;
* ``V`` (n x C, float64): the output weights (row i: unit i's C weights);
* ``hidden_mask`` (n x d, uint8) and ``output_mask`` (n x C, uint8), 1 = keep.

The network is g(x) = out(relu(x (U * hidden_mask)^T) (V * output_mask)),
one row per input, ``out`` = relu or identity (``output`` in result.json).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._npz import ArrayHeader, npz_headers, read_npz
from .._validation import check_choice
from ..errors.sphere import _single_threaded_blas
from ..exceptions import InvalidArgument
from ..io import atomic_write, read_json, read_ticket
from ..masks import Masks
from ..setting import OUTPUTS
from ..subsetsum import _resolve_budget

__all__ = ["TICKET", "MULTI_TICKET", "Network", "write_multi_ticket", "find_ticket", "read_network", "network_forward"]

TICKET = "ticket.npz"
MULTI_TICKET = "multi_ticket.npz"
MULTI_KEYS = ("U", "V", "hidden_mask", "output_mask")
_BLAS = threading.Lock()


@dataclass(frozen=True, eq=False)
class Network:
    """A pruned two-layer network of any number of outputs, as arrays."""

    U: np.ndarray  # (n, d) float64 hidden weights
    V: np.ndarray  # (n, C) float64 output weights
    hidden_mask: np.ndarray  # (n, d) uint8, 1 = keep
    output_mask: np.ndarray  # (n, C) uint8, 1 = keep
    output: str = "relu"  # output activation: "relu" or "linear"
    w: np.ndarray | None = None  # (d,) the single-neuron target, when there is one

    @property
    def width(self) -> int:
        return int(self.U.shape[0])

    @property
    def d(self) -> int:
        return int(self.U.shape[1])

    @property
    def outputs(self) -> int:
        return int(self.V.shape[1])

    def masks(self) -> Masks:
        """The prunegap :class:`~prunegap.Masks` (single output only)."""
        if self.outputs != 1:
            raise InvalidArgument(f"prunegap Masks hold one output; this network has {self.outputs}")
        return Masks(self.hidden_mask, self.output_mask[:, 0])


def write_multi_ticket(path: str | os.PathLike[str], U: np.ndarray, V: np.ndarray, hidden_mask: np.ndarray,
                       output_mask: np.ndarray) -> Path:
    """Write ``multi_ticket.npz`` atomically (arrays as in the module's docstring)."""
    path = Path(path)
    V = np.asarray(V, np.float64)
    arrays = {
        "U": np.asarray(U, np.float64),
        "V": V.reshape(V.shape[0], -1),
        "hidden_mask": np.asarray(hidden_mask).astype(np.uint8),
        "output_mask": np.asarray(output_mask).astype(np.uint8).reshape(V.shape[0], -1),
    }
    atomic_write(path, lambda fh: np.savez_compressed(fh, **arrays))
    return path


def find_ticket(source: str | os.PathLike[str]) -> Path:
    """The ticket file of a result folder (``ticket.npz``, else ``multi_ticket.npz``), or the file itself."""
    p = Path(source)
    if p.is_dir():
        for name in (TICKET, MULTI_TICKET):
            if (p / name).is_file():
                return p / name
        raise InvalidArgument(f"folder {str(p)!r} holds neither {TICKET} nor {MULTI_TICKET}")
    if not p.exists():
        raise InvalidArgument(f"ticket {str(p)!r} does not exist (give a result folder or its {TICKET})")
    return p


def _read_multi(path: Path) -> dict[str, np.ndarray]:
    name = f"ticket file {str(path)!r}"

    def check(headers: dict[str, ArrayHeader]) -> tuple[str, ...]:
        # shapes from the headers alone, before any data is read (read_npz)
        missing = [k for k in MULTI_KEYS if k not in headers]
        if missing:
            raise InvalidArgument(f"{name} lacks array(s) {', '.join(missing)}; "
                                  f"a multi-output ticket has {', '.join(MULTI_KEYS)}")
        U, V, h, o = (headers[k].shape for k in MULTI_KEYS)
        if len(U) != 2 or len(V) != 2 or V[0] != U[0] or h != U or o != V:
            raise InvalidArgument(f"{name} has inconsistent shapes: U {U}, V {V}, hidden_mask {h}, output_mask {o}")
        if 0 in U or 0 in V:
            raise InvalidArgument(f"{name} holds an empty network (U of shape {U}, V of shape {V}); a ticket has at "
                                  "least one unit, one input and one output")
        return MULTI_KEYS

    data = read_npz(path, check, what="ticket file", kind=".npz ticket", max_bytes=_resolve_budget(None))
    U, V, h, o = (data[k] for k in MULTI_KEYS)
    for name, m in (("hidden_mask", h), ("output_mask", o)):
        if m.size and not np.all((m == 0) | (m == 1)):
            raise InvalidArgument(f"ticket file {str(path)!r}: {name} must contain only 0 and 1")
    for name, a in (("U", U), ("V", V)):
        if not np.all(np.isfinite(a)):
            raise InvalidArgument(f"ticket file {str(path)!r}: array {name} has non-finite values")
    return {"U": U.astype(np.float64), "V": V.astype(np.float64), "hidden_mask": h.astype(np.uint8),
            "output_mask": o.astype(np.uint8)}


def _output_of(folder: Path) -> str | None:
    result = folder / "result.json"
    if result.is_file():
        out = read_json(result).get("output")
        if isinstance(out, str):
            return out
    return None


def read_network(source: str | os.PathLike[str], output: str | None = None) -> Network:
    """The network of a result folder or ticket file.

    The output activation is ``output`` when given, else the ``output`` of the
    folder's result.json, else prunegap's default ``"relu"``.
    """
    path = find_ticket(source)
    if output is None:
        output = _output_of(path.parent) or "relu"
    check_choice("output", output, OUTPUTS)
    if "V" in npz_headers(path, what="ticket file", kind=".npz ticket"):
        a = _read_multi(path)
        return Network(a["U"], a["V"], a["hidden_mask"], a["output_mask"], output)
    t = read_ticket(path)
    return Network(t.U, t.v[:, None], t.masks.hidden_mask, t.masks.output_mask[:, None], output, t.w)


def network_forward(net: Network, X: np.ndarray) -> np.ndarray:
    """g(X) in float64: (m, C) for the rows of X (m x d).

    The same bits in every process: BLAS splits a product over its threads, and where the
    split falls changes how the last block of a row is summed, so the outputs (and the
    metrics of a popup run) would depend on the host's thread count (a Dask worker runs one
    BLAS thread, a driver as many as it has cores).  One thread here, for every caller."""
    X = np.asarray(X, np.float64)
    with _BLAS, _single_threaded_blas():  # the lock: a second caller must not restore the count under the first
        h = np.maximum(X @ (net.U * net.hidden_mask).T, 0.0) @ (net.V * net.output_mask)
    return np.maximum(h, 0.0) if net.output == "relu" else h
