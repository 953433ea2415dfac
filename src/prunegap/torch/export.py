"""Tickets as ``torch.nn.Module``\\ s in ``torch.nn.utils.prune``'s convention.

:class:`TicketNet` is g(x) = out(relu(x W1^T) W2^T) with two bias-free
``nn.Linear`` layers, ``hidden`` (d -> n) and ``out`` (n -> C), each pruned
with :func:`torch.nn.utils.prune.custom_from_mask`: the random weights stay
untouched as the parameter ``weight_orig``, the 0/1 mask is the buffer
``weight_mask``, and ``weight`` = ``weight_orig * weight_mask`` is recomputed
before every forward.  Everything is float64, so the exported weights are the
ticket's float64 values bit for bit, and ``forward`` agrees with prunegap's
own evaluation (:func:`prunegap.errors.forward`) up to float rounding (the
two sum the same terms in different orders).

Files (one schema, three containers; :func:`export_ticket`, :func:`load_ticket`)
---------------------------------------------------------------------------------
=====================  ============  ===========================================
key                    shape         meaning
=====================  ============  ===========================================
``hidden.weight_orig``  (n, d)       hidden weights U (float64)
``hidden.weight_mask``  (n, d)       hidden mask, 1 = keep
``out.weight_orig``     (C, n)       output weights (v as a row when C = 1)
``out.weight_mask``     (C, n)       output mask, 1 = keep
``target``              (d,)         the single-neuron target w, when known
=====================  ============  ===========================================

* ``.pt``: ``torch.save`` of a plain dict ``{"format", "format_version",
  "metadata", "state_dict"}`` of tensors and strings only, so that
  ``torch.load(..., weights_only=True)`` reads it (no pickled code); masks
  are float64, as ``torch.nn.utils.prune`` keeps them;
* ``.npz`` and ``.safetensors``: the same keys as plain arrays, masks as
  uint8; metadata as a JSON string (the npz array ``__metadata__``; the
  safetensors header's metadata, whose values are strings).

Metadata: ``format = "prunegap-ticket"``, ``format_version``, ``d``,
``width``, ``outputs``, ``output`` (``relu`` or ``linear``).
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from .._npz import ArrayHeader, read_npz
from .._validation import check_choice, check_output
from ..exceptions import InvalidArgument
from ..io import atomic_write
from ..masks import Masks
from ..setting import OUTPUTS
from ..subsetsum import _resolve_budget
from . import require_torch
from .tickets import Network, find_ticket, read_network

torch = require_torch()
from torch import nn  # noqa: E402
from torch.nn.utils import prune  # noqa: E402

__all__ = ["TicketNet", "FORMATS", "export_ticket", "load_ticket", "ticket_module"]

FORMAT = "prunegap-ticket"
FORMAT_VERSION = 1
#: Export formats and their file suffixes.
FORMATS: dict[str, tuple[str, ...]] = {"torch": (".pt", ".pth"), "npz": (".npz",), "safetensors": (".safetensors",)}
_LAYERS = ("hidden", "out")
_EXPECTED = {f"{layer}.{name}" for layer in _LAYERS for name in ("weight_orig", "weight_mask")}
_META = "__metadata__"  # the npz member of the metadata (one JSON string)


def _linear(fan_in: int, fan_out: int, dtype: torch.dtype, device: Any) -> nn.Linear:
    # skip_init: nn.Linear's own initialisation would draw from torch's global RNG.
    return torch.nn.utils.skip_init(nn.Linear, fan_in, fan_out, bias=False, dtype=dtype,
                                    device=device if device is not None else "cpu")


class TicketNet(nn.Module):
    """A pruned bias-free two-layer ReLU network: ``forward(x)`` is (m, C) for x (m, d).

    Built empty (all weights zero, all masks one): fill it with
    :meth:`from_network` or :func:`load_ticket`.
    """

    def __init__(self, d: int, width: int, outputs: int = 1, output: str = "relu", *,
                 dtype: torch.dtype = torch.float64, device: Any = None) -> None:
        super().__init__()
        check_choice("output", output, OUTPUTS)
        self.output = output
        self.hidden = _linear(d, width, dtype, device)  # weight: (n, d)
        self.out = _linear(width, outputs, dtype, device)  # weight: (C, n)
        for layer in (self.hidden, self.out):
            with torch.no_grad():
                layer.weight.zero_()
            prune.identity(layer, "weight")
        self.register_buffer("target", None)

    @property
    def d(self) -> int:
        return int(self.hidden.weight_orig.shape[1])

    @property
    def width(self) -> int:
        return int(self.hidden.weight_orig.shape[0])

    @property
    def outputs(self) -> int:
        return int(self.out.weight_orig.shape[0])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.out(torch.relu(self.hidden(x)))  # (m, C)
        return torch.relu(y) if self.output == "relu" else y

    def extra_repr(self) -> str:
        return f"output={self.output!r}"

    @classmethod
    def from_network(cls, net: Network) -> "TicketNet":
        """The module of a ticket's arrays (float64, CPU)."""
        m = cls(net.d, net.width, net.outputs, net.output)
        m._fill({
            "hidden.weight_orig": net.U, "hidden.weight_mask": net.hidden_mask,
            "out.weight_orig": net.V.T, "out.weight_mask": net.output_mask.T,
        }, net.w)
        return m

    def _fill(self, arrays: dict[str, Any], target: Any = None) -> None:
        with torch.no_grad():
            for key, value in arrays.items():
                layer, name = key.split(".")
                dest = getattr(getattr(self, layer), name)
                src = torch.as_tensor(np.asarray(value) if not isinstance(value, torch.Tensor) else value)
                if tuple(src.shape) != tuple(dest.shape):
                    raise InvalidArgument(f"{key} must have shape {tuple(dest.shape)}, got {tuple(src.shape)}")
                if name == "weight_mask" and src.numel() and not bool(((src == 0) | (src == 1)).all()):
                    raise InvalidArgument(f"{key} must contain only 0 and 1")
                dest.copy_(src.to(dest.dtype))
            for layer in (self.hidden, self.out):  # as prune's forward pre-hook does, so `weight` is current now
                layer.weight = layer.weight_orig * layer.weight_mask
        if target is not None:
            self.target = torch.as_tensor(np.asarray(target, np.float64)).to(self.hidden.weight_orig.device)

    def network(self) -> Network:
        """The ticket's arrays (float64 weights, uint8 masks)."""
        U = self.hidden.weight_orig.detach().cpu().double().numpy().copy()
        V = self.out.weight_orig.detach().cpu().double().numpy().T.copy()
        h = self.hidden.weight_mask.detach().cpu().numpy().astype(np.uint8)
        o = self.out.weight_mask.detach().cpu().numpy().T.astype(np.uint8)
        w = None if self.target is None else self.target.detach().cpu().double().numpy().copy()
        return Network(U, V, h, o, self.output, w)

    def masks(self) -> Masks:
        """prunegap's :class:`~prunegap.Masks` (single output only)."""
        return self.network().masks()

    def metadata(self) -> dict[str, Any]:
        return {"format": FORMAT, "format_version": FORMAT_VERSION, "d": self.d, "width": self.width,
                "outputs": self.outputs, "output": self.output}


def ticket_module(source: str | os.PathLike[str], output: str | None = None) -> TicketNet:
    """The :class:`TicketNet` of a result folder, ``ticket.npz`` or ``multi_ticket.npz``.

    ``output`` defaults to the folder's result.json, else ``"relu"``.
    """
    return TicketNet.from_network(read_network(source, output))


def _format_of(out: Path, fmt: str | None) -> str:
    suffix = out.suffix.lower()
    by_suffix = next((f for f, sfx in FORMATS.items() if suffix in sfx), None)
    if fmt is None:
        if by_suffix is None:
            raise InvalidArgument(f"cannot tell the format of {str(out)!r}: give a format or a file ending in "
                                  + ", ".join(s for sfx in FORMATS.values() for s in sfx))
        return by_suffix
    check_choice("format", fmt, tuple(FORMATS))
    if by_suffix is not None and by_suffix != fmt:
        raise InvalidArgument(f"--out {str(out)!r} ends in {suffix!r}, a {by_suffix} file, but format is {fmt!r}")
    return fmt


def _arrays(module: TicketNet) -> dict[str, np.ndarray]:
    net = module.network()
    arrays = {
        "hidden.weight_orig": np.ascontiguousarray(net.U),
        "hidden.weight_mask": np.ascontiguousarray(net.hidden_mask),
        "out.weight_orig": np.ascontiguousarray(net.V.T),
        "out.weight_mask": np.ascontiguousarray(net.output_mask.T),
    }
    if net.w is not None:
        arrays["target"] = np.ascontiguousarray(net.w)
    return arrays


def export_ticket(source: TicketNet | Network | str | os.PathLike[str], out: str | os.PathLike[str],
                  format: str | None = None, *, output: str | None = None) -> Path:
    """Write a ticket as ``.pt``, ``.npz`` or ``.safetensors`` (see the module's table).

    ``source`` is a module, a :class:`~.tickets.Network`, a result folder or
    a ticket file; ``format`` defaults to the one ``out``'s suffix names.
    ``output`` overrides the output activation of a folder or file.
    """
    if isinstance(source, (TicketNet, Network)):
        out = check_output(out, name="out")
    else:  # never onto the ticket it reads, nor the result.json it takes the output from
        ticket = find_ticket(source)
        out = check_output(out, name="out", inputs=(ticket, ticket.with_name("result.json")))
    fmt = _format_of(out, format)
    if isinstance(source, TicketNet):
        module = source
    elif isinstance(source, Network):
        module = TicketNet.from_network(source)
    else:
        module = ticket_module(source, output)
    meta = module.metadata()
    if fmt == "torch":
        payload = {"format": FORMAT, "format_version": FORMAT_VERSION, "metadata": meta,
                   "state_dict": {k: v.detach().cpu() for k, v in module.state_dict().items()}}
        buf = io.BytesIO()
        torch.save(payload, buf)
        atomic_write(out, lambda fh: fh.write(buf.getvalue()))
    elif fmt == "npz":
        arrays = {**_arrays(module), _META: np.array(json.dumps(meta))}
        atomic_write(out, lambda fh: np.savez_compressed(fh, **arrays))
    else:
        from safetensors.numpy import save

        blob = save(_arrays(module), metadata={k: str(v) for k, v in meta.items()})
        atomic_write(out, lambda fh: fh.write(blob))
    return out


def _check_meta(path: Path, meta: dict[str, Any]) -> dict[str, Any]:
    if meta.get("format") != FORMAT:
        raise InvalidArgument(f"file {str(path)!r} is not an exported prunegap ticket (format {meta.get('format')!r})")
    try:
        version = int(meta.get("format_version", -1))
        shape = {k: int(meta[k]) for k in ("d", "width", "outputs")}
    except (KeyError, TypeError, ValueError):
        raise InvalidArgument(f"file {str(path)!r}: metadata lacks d, width or outputs") from None
    if version > FORMAT_VERSION:
        raise InvalidArgument(f"file {str(path)!r} has format_version {version}; this prunegap reads <= {FORMAT_VERSION}")
    return {**shape, "output": str(meta.get("output", "relu"))}


def _read_npz_ticket(path: Path) -> dict[str, np.ndarray]:
    """An exported ``.npz`` ticket's arrays, their shapes checked from the headers before any data is read."""
    name = f"file {str(path)!r}"

    def check(headers: dict[str, ArrayHeader]) -> list[str]:
        if _META not in headers:
            raise InvalidArgument(f"{name} is not an exported prunegap ticket (it has no {_META})")
        arrays = set(headers) - {_META, "target"}
        if arrays != _EXPECTED:
            raise InvalidArgument(f"{name} holds {sorted(arrays)}; a ticket holds {sorted(_EXPECTED)} (and target)")
        hidden, out = headers["hidden.weight_orig"].shape, headers["out.weight_orig"].shape
        if (len(hidden) != 2 or len(out) != 2 or out[1] != hidden[0] or headers["hidden.weight_mask"].shape != hidden
                or headers["out.weight_mask"].shape != out
                or ("target" in headers and headers["target"].shape != hidden[1:])):
            got = ", ".join(f"{k} {h.shape}" for k, h in sorted(headers.items()) if k != _META)
            raise InvalidArgument(f"{name} has inconsistent shapes: {got}")
        if 0 in hidden or 0 in out:
            raise InvalidArgument(f"{name} holds an empty network (hidden.weight_orig of shape {hidden}, "
                                  f"out.weight_orig of shape {out}); a ticket has at least one unit, input and output")
        return sorted(headers)

    return read_npz(path, check, what="file", kind="npz ticket", text=(_META,), max_bytes=_resolve_budget(None))


def load_ticket(path: str | os.PathLike[str], *, map_location: Any = "cpu") -> TicketNet:
    """Load a ticket written by :func:`export_ticket` (``.pt``, ``.npz`` or ``.safetensors``).

    ``.pt`` files are read with ``weights_only=True``: they hold tensors and
    strings, never code.
    """
    path = Path(path)
    if not path.is_file():
        raise InvalidArgument(f"ticket file {str(path)!r} does not exist")
    fmt = _format_of(path, None)
    target = None
    try:
        if fmt == "torch":
            payload = torch.load(path, map_location="cpu", weights_only=True)
            if not isinstance(payload, dict) or "state_dict" not in payload:
                raise InvalidArgument(f"file {str(path)!r} is not an exported prunegap ticket")
            meta = _check_meta(path, {"format": payload.get("format"), **payload.get("metadata", {})})
            arrays = dict(payload["state_dict"])
        elif fmt == "npz":
            arrays = _read_npz_ticket(path)
            meta = _check_meta(path, json.loads(str(arrays.pop(_META))))
        else:
            from safetensors import safe_open
            from safetensors.numpy import load_file

            with safe_open(str(path), framework="numpy") as f:
                raw_meta = f.metadata() or {}
            meta = _check_meta(path, raw_meta)
            arrays = load_file(str(path))
    except InvalidArgument:
        raise
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the caller's input
        raise InvalidArgument(f"file {str(path)!r} is not a readable {fmt} ticket ({type(exc).__name__}: {exc})") from None
    target = arrays.pop("target", None)
    if set(arrays) != _EXPECTED:
        raise InvalidArgument(f"file {str(path)!r} holds {sorted(arrays)}; a ticket holds {sorted(_EXPECTED)} (and target)")
    # the module is built from the metadata: a width it declares but the arrays lack must not be allocated
    want = {"hidden.weight_orig": (meta["width"], meta["d"]), "out.weight_orig": (meta["outputs"], meta["width"])}
    for key, shape in want.items():
        if tuple(arrays[key].shape) != shape:
            raise InvalidArgument(f"file {str(path)!r}: its metadata declares d = {meta['d']}, width = {meta['width']}, "
                                  f"outputs = {meta['outputs']}, but {key} has shape {tuple(arrays[key].shape)}")
    module = TicketNet(meta["d"], meta["width"], meta["outputs"], meta["output"])
    module._fill(arrays, None if target is None else np.asarray(target.cpu() if isinstance(target, torch.Tensor) else target))
    return module.to(map_location) if map_location is not None else module
