"""prunegap and PyTorch: tickets as ``torch.nn.Module``\\ s, and edge-popup on data.

Needs the ``torch`` extra (``pip install 'prunegap[torch]'``).  Nothing here
imports torch until it is used, so ``import prunegap`` never needs it, and
:mod:`prunegap.torch.patterns` works without it.

* :func:`load_ticket`, :func:`export_ticket`, :class:`TicketNet`
  (:mod:`.export`): a ticket as a module in ``torch.nn.utils.prune``'s
  convention (``weight_orig`` parameter, ``weight_mask`` buffer), float64;
* :func:`popup`, :class:`PopupConfig` (:mod:`.popup`): score-based ticket
  search (edge-popup, Ramanujan et al. 2020) on digits or a planted teacher;
* :func:`compare_certified` (:mod:`.certify`): edge-popup's single-neuron
  tickets against the certified solvers;
* :func:`run_popup_trial`, :func:`popup_trials`, :func:`figure_popup`
  (:mod:`.study`): sweeps over (paradigm, width, density, seed);
* :func:`require_torch`, :func:`torch_available`, :func:`cuda_available`:
  whether PyTorch (and a CUDA device) is here, without importing it when
  it is not needed.

A leaf beside the core: it imports prunegap's core and nothing of
:mod:`prunegap.sweep` or :mod:`prunegap.report` (the sweep's popup study
runs these functions from :mod:`prunegap.sweep.popup`).  The names above
load on first use (:func:`__getattr__`): :mod:`.export` imports PyTorch
itself, ``prunegap --help`` imports this package for its commands, and the
submodules take :func:`require_torch` from here (an eager import of them
would be a circle).

Note: inside this package, ``import torch`` still means PyTorch (absolute
imports), never this subpackage.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

from ..exceptions import InvalidArgument

__all__ = [
    "TicketNet",
    "load_ticket",
    "export_ticket",
    "ticket_module",
    "PopupConfig",
    "PopupResult",
    "popup",
    "compare_certified",
    "run_popup_trial",
    "popup_trials",
    "figure_popup",
    "require_torch",
    "torch_available",
    "cuda_available",
]

_WHERE = {
    "TicketNet": "export",
    "load_ticket": "export",
    "export_ticket": "export",
    "ticket_module": "export",
    "PopupConfig": "popup",
    "PopupResult": "popup",
    "popup": "popup",
    "compare_certified": "certify",
    "run_popup_trial": "study",
    "popup_trials": "study",
    "figure_popup": "study",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def require_torch() -> Any:
    """PyTorch, or an InvalidArgument saying how to install it (exit 2 on the command line)."""
    try:
        import torch  # lazy: PyTorch is an optional extra, and slow to import
    except ImportError as exc:
        raise InvalidArgument(
            f"this needs PyTorch, which is not installed ({exc}); install the extra: pip install 'prunegap[torch]'"
        ) from None
    return torch


def torch_available() -> bool:
    """Whether PyTorch is installed (without importing it)."""
    return importlib.util.find_spec("torch") is not None


def cuda_available() -> bool:
    """Whether PyTorch is installed and sees a CUDA device (imports PyTorch only when installed)."""
    try:
        import torch  # lazy: PyTorch is an optional extra, and slow to import
    except ImportError:
        return False
    return bool(torch.cuda.is_available())
