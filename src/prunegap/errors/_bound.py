"""The result type of every error evaluation: a certified interval."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["ErrorBound", "verdict", "VERDICTS"]

VERDICTS = ("yes", "no", "unknown")


def verdict(lower: float, upper: float, eps: float) -> str:
    """``yes`` only on the upper bound, ``no`` only on the lower bound."""
    if upper <= eps:
        return "yes"
    if lower > eps:
        return "no"
    return "unknown"


@dataclass(frozen=True, eq=False)
class ErrorBound:
    """The error of one pruned network against its target, as [lower, upper].

    ``confidence`` is 1.0 for proven bounds; a Monte Carlo interval carries
    its confidence level instead (and ``method == "monte-carlo"``).
    ``witnesses`` are points of the unit sphere, worst first, where |g - f|
    is largest among the points examined (``witness_values`` gives it).
    """

    lower: float
    upper: float
    method: str  # "exact-circle", "exact-points", "branch-and-bound", "kernel", "monte-carlo", "closed-form", ...
    confidence: float = 1.0
    witnesses: np.ndarray | None = field(default=None, repr=False)  # (m, d)
    witness_values: np.ndarray | None = field(default=None, repr=False)  # (m,) signed g - f
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def gap(self) -> float:
        return self.upper - self.lower

    @property
    def exact(self) -> bool:
        return self.confidence == 1.0 and self.gap <= 1e-9 * max(1.0, self.upper)

    def verdict(self, eps: float) -> str:
        return verdict(self.lower, self.upper, eps)

    def to_dict(self) -> dict[str, Any]:
        return {
            "error_lower": float(self.lower),
            "error_upper": float(self.upper),
            "error_method": self.method,
            "error_confidence": float(self.confidence),
        }
