"""The result type of every error evaluation: a proven interval, and at most
one statistical estimate kept apart from it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["ErrorBound", "Estimate", "verdict", "VERDICTS"]

VERDICTS = ("yes", "no", "unknown")


def verdict(lower: float, upper: float, eps: float) -> str:
    """``yes`` only on the upper bound, ``no`` only on the lower bound."""
    if upper <= eps:
        return "yes"
    if lower > eps:
        return "no"
    return "unknown"


@dataclass(frozen=True)
class Estimate:
    """A statistical interval for an error: it holds with probability at
    least ``confidence`` over the random samples, and is never a certificate.

    ``method`` names the concentration inequality (for example
    ``"empirical-bernstein"``), ``n_samples`` the sample size it rests on.
    """

    lower: float
    upper: float
    confidence: float
    method: str
    n_samples: int

    def __post_init__(self) -> None:
        # plain Python numbers, whatever the evaluator computed them with (np.float64 prints as such)
        for name in ("lower", "upper", "confidence"):
            object.__setattr__(self, name, float(getattr(self, name)))
        object.__setattr__(self, "n_samples", int(self.n_samples))

    def to_dict(self) -> dict[str, Any]:
        return {
            "lower": float(self.lower),
            "upper": float(self.upper),
            "confidence": float(self.confidence),
            "method": self.method,
            "n_samples": int(self.n_samples),
        }


@dataclass(frozen=True, eq=False)
class ErrorBound:
    """The error of one pruned network against its target, as [lower, upper].

    ``lower`` and ``upper`` are always proven (up to the float-rounding
    allowances of each method), so ``confidence`` is 1 and :meth:`verdict`
    decides on them alone.  A Monte Carlo evaluation (``method ==
    "monte-carlo"``) adds its statistical interval as ``estimate``: usually
    much tighter, but only true with the estimate's own confidence, so it is
    reported and never decides anything.
    ``witnesses`` are points of the unit sphere, worst first, where |g - f|
    is largest among the points examined (``witness_values`` gives it).
    """

    lower: float
    upper: float
    method: str  # "exact-circle", "exact-points", "branch-and-bound", "kernel", "monte-carlo", "closed-form", ...
    witnesses: np.ndarray | None = field(default=None, repr=False)  # (m, d)
    witness_values: np.ndarray | None = field(default=None, repr=False)  # (m,) signed g - f
    stats: dict[str, Any] = field(default_factory=dict)
    estimate: Estimate | None = None

    def __post_init__(self) -> None:
        # plain floats: they print as numbers, and JSON and comparisons treat them alike everywhere
        object.__setattr__(self, "lower", float(self.lower))
        object.__setattr__(self, "upper", float(self.upper))

    def __repr__(self) -> str:
        # one line: the interval and how it was proven (stats and witnesses stay attributes)
        est = f", estimate={self.estimate!r}" if self.estimate is not None else ""
        return f"ErrorBound(lower={self.lower!r}, upper={self.upper!r}, method={self.method!r}{est})"

    @property
    def confidence(self) -> float:
        """The confidence of [lower, upper]: 1, they are proven bounds."""
        return 1.0

    @property
    def gap(self) -> float:
        return self.upper - self.lower

    @property
    def exact(self) -> bool:
        return self.gap <= 1e-9 * max(1.0, self.upper)

    def verdict(self, eps: float) -> str:
        """Decided on the proven ``lower`` / ``upper`` only, never on ``estimate``."""
        return verdict(self.lower, self.upper, eps)

    def to_dict(self) -> dict[str, Any]:
        d = {
            "error_lower": float(self.lower),
            "error_upper": float(self.upper),
            "error_method": self.method,
            "error_confidence": float(self.confidence),
        }
        if self.estimate is not None:
            e = self.estimate
            d.update(
                {
                    "error_estimate_lower": float(e.lower),
                    "error_estimate_upper": float(e.upper),
                    "error_estimate_confidence": float(e.confidence),
                    "error_estimate_method": e.method,
                    "error_estimate_n_samples": int(e.n_samples),
                }
            )
        return d
