"""prunegap: certified measurements of the exponential gap between neuron and
weight pruning of random ReLU networks (strong lottery tickets).

Quick start::

    import prunegap as pg
    setting = pg.Setting(d=2)
    r = pg.solve(setting, width=40, seed=0, eps=0.01, paradigm="weight")
    r.certified, r.error_lower, r.error_upper
    pg.width(setting, seed=0, eps=0.01, paradigm="weight").n_star
"""

from ._version import __version__
from .exceptions import InvalidArgument, MemoryBudgetExceeded, PrunegapError
from .masks import Masks
from .network import Instance, UnitStream, draw_instance, draw_target
from .setting import Setting

__all__ = [
    "__version__",
    "Setting",
    "Instance",
    "UnitStream",
    "draw_instance",
    "draw_target",
    "Masks",
    "PrunegapError",
    "InvalidArgument",
    "MemoryBudgetExceeded",
    "best_subset_sum",
    "network_error",
    "evaluate",
    "ErrorBound",
    "solve",
    "width",
    "SolveResult",
    "WidthSearchResult",
    "NetworkSolveResult",
    "open_sweep",
]


def __getattr__(name: str):
    # Heavier modules load on first use so that `import prunegap` stays fast.
    if name == "best_subset_sum":
        from .subsetsum import best_subset_sum

        return best_subset_sum
    if name in ("network_error", "evaluate"):
        from . import errors

        return getattr(errors, name)
    if name == "ErrorBound":
        from .errors._bound import ErrorBound

        return ErrorBound
    if name in ("solve", "width", "SolveResult", "WidthSearchResult", "NetworkSolveResult"):
        from . import api

        return getattr(api, name)
    if name == "open_sweep":
        from .report.opened import open_sweep

        return open_sweep
    raise AttributeError(f"module 'prunegap' has no attribute {name!r}")
