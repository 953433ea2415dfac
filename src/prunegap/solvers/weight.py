"""Weight pruning by the subset-sum construction (THEORY §4).

Unit i serves coordinate j = i mod d and keeps only its weight u_ij.  Then
v_i relu(u_ij x_j) is v_i u_ij relu(x_j) when u_ij > 0 and v_i |u_ij|
relu(-x_j) when u_ij < 0, and since x_j = relu(x_j) - relu(-x_j) the hidden
sum equals <w, x> when, for every j, a subset of the products of the first
kind sums to w_j and one of the second kind to -w_j.  Each is an exact random
subset sum.  With alpha_j, beta_j the two coefficient errors,

    sup_{||x|| <= 1} |h(x) - <w, x>| = max(||max(alpha, beta)_+||, ||min(alpha, beta)_-||),

and a relu output is 1-Lipschitz, so the network's error is at most that.
Adding units to a group can only lower the size of its best subset-sum
error, but not the closed form itself: an error that shrinks and changes sign
moves from one norm to the other and can raise it.  So the construction's
minimal width is found by an upward scan over the nested widths (cheap: the
subset sums of every group prefix are cached), which is exact.

Wide groups.  A group of at most :data:`EXACT_GROUP_MAX` nonzero products
gets its exact best subset sum.  A wider one (its exact search would not fit
the default memory budget) gets the best subset of its shortest prefix whose
best error is at most ``eps / (2 d)`` (or of its longest prefix of
EXACT_GROUP_MAX nonzero products, when none is): coefficient errors within
that keep the closed form, and so the certificate of a relu output in each
norm, within eps / 2.  The rule is a fixed group size, not the memory budget,
so a result depends on (config, seed) alone, and every group whose exact
search fits the default budget is solved exactly, as it always was.  The
certified error is computed from the chosen subsets as for any ticket.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from .. import streams
from ..errors import ErrorBound, forward, network_error, target_values
from ..exceptions import MemoryBudgetExceeded
from ..masks import Masks
from ..network import Instance, UnitStream, draw_instance
from ..setting import Setting
from ..streams import stream_generator
from ..subsetsum import best_subset_sum
from .base import Outcome, check_target, no_ticket, register

__all__ = ["Construction", "construct", "closed_form_error", "ConstructionMethod", "EXACT_GROUP_MAX", "group_accuracy"]

_ULP = np.finfo(np.float64).eps

#: The most nonzero products of a group that get their exact best subset sum:
#: the largest k whose exact search fits the default memory budget of 2 GiB
#: (subset_sum_bytes(49) = 1.5 GiB, subset_sum_bytes(50) = 2.1 GiB).  A
#: constant, so that a result never depends on the budget in force; wider
#: groups take the shortest prefix that reaches the accuracy (module docstring).
EXACT_GROUP_MAX = 49


def group_accuracy(eps: float, d: int) -> float:
    """The coefficient error a wide group's prefix must reach for ``eps`` in dimension ``d``.

    Every |alpha_j|, |beta_j| <= tau gives a closed form <= sqrt(d) tau, which
    bounds the sup error and the L2 error on the sphere; the Gaussian L2 error
    is sqrt(d) times the sphere's.  tau = eps / (2 d) keeps all of them within
    eps / 2, leaving the rest to the float-rounding allowances."""
    return eps / (2 * d)


def closed_form_error(alpha: np.ndarray, beta: np.ndarray) -> float:
    """sup over the unit ball of |sum_j alpha_j relu(x_j) + beta_j relu(-x_j)|."""
    hi = np.maximum(np.maximum(alpha, beta), 0.0)
    lo = np.minimum(np.minimum(alpha, beta), 0.0)
    return float(max(np.linalg.norm(hi), np.linalg.norm(lo)))


def closed_form_maximizers(alpha: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """The two points of the unit sphere where the closed form's two norms are attained."""
    pts = []
    for coef, pick_alpha in ((np.maximum(alpha, beta), alpha >= beta), (-np.minimum(alpha, beta), alpha <= beta)):
        mag = np.maximum(coef, 0.0)
        x = np.where(pick_alpha, mag, -mag)  # x_j > 0 reads alpha_j, x_j < 0 reads beta_j
        n = np.linalg.norm(x)
        pts.append(x / n if n > 0 else np.zeros_like(x))
    return np.array(pts)


@dataclass(frozen=True, eq=False)
class Construction:
    """The construction's ticket on one network, with its closed-form error."""

    masks: Masks
    alpha: np.ndarray  # (d,) error of the coefficient of relu(x_j)
    beta: np.ndarray  # (d,) error of the coefficient of relu(-x_j)
    hidden_error: float  # certified upper bound of sup |h - <w, x>| (closed form + rounding)
    rounding: float  # the rounding slack included in hidden_error
    stats: dict[str, Any] = field(default_factory=dict)


class SubsetSumCache:
    """Best subset sums keyed by the group they belong to, shared across widths.

    A group (of a coordinate and sign; of a layer and unit too for deep
    targets) at width n is a prefix of the same group at every wider n, so a
    key that ends with the group's size names one subset-sum problem."""

    def __init__(self, memory_budget: int | None) -> None:
        self.memory_budget = memory_budget
        self.results: dict[tuple[int, ...], Any] = {}
        self.solves = 0

    def get(self, key: tuple[int, ...], products: np.ndarray, target: float) -> Any:
        hit = self.results.get(key)
        if hit is None:
            hit = best_subset_sum(products, target, memory_budget=self.memory_budget)
            self.results[key] = hit
            self.solves += 1
        return hit

    def get_within(self, key: tuple[int, ...], products: np.ndarray, target: float,
                   accuracy: float | None) -> tuple[Any, int]:
        """The group's subset and the number of its leading products searched.

        Up to EXACT_GROUP_MAX nonzero products (or with no ``accuracy``): the
        exact best subset sum of all of them, as :meth:`get`.  Beyond: the best
        subset of the shortest prefix whose best error is <= ``accuracy``, or
        of the longest prefix holding EXACT_GROUP_MAX nonzero products.  The
        best error of a prefix never grows with its length, and each prefix is
        the group of a narrower width on the nested stream, so ``key[:-1] +
        (m,)`` names it in the cache and a width scan solves it only once."""
        nonzero = np.flatnonzero(products)
        if accuracy is None or nonzero.size <= EXACT_GROUP_MAX:
            return self.get(key, products, target), products.shape[0]
        longest = int(nonzero[EXACT_GROUP_MAX])  # the prefix before the next nonzero product
        for m in range(1, longest + 1):
            hit = self.get((*key[:-1], m), products[:m], target)
            if hit.error <= accuracy:
                break
        return hit, m


def construct(instance: Instance, *, memory_budget: int | None = None, cache: SubsetSumCache | None = None,
              eps: float | None = None) -> Construction:
    """The subset-sum construction on ``instance`` (its masks and closed-form error).

    With ``eps``, a group of more than :data:`EXACT_GROUP_MAX` nonzero
    products searches only its shortest prefix that reaches
    :func:`group_accuracy` (the module docstring), so any width is solved;
    without, every group gets its exact best subset sum, under the memory
    budget of :func:`~prunegap.subsetsum.best_subset_sum`."""
    cache = cache if cache is not None else SubsetSumCache(memory_budget)
    n, d = instance.U.shape
    U, v, w = instance.U, instance.v, instance.w
    accuracy = group_accuracy(eps, d) if eps is not None else None
    hidden = np.zeros((n, d), np.uint8)
    out = np.zeros(n, np.uint8)
    alpha, beta = np.zeros(d), np.zeros(d)
    rounding = 0.0
    largest = 0
    searched: list[int] = []  # prefix lengths of the groups too wide for the exact search
    for j in range(d):
        units = np.arange(j, n, d)
        u = U[units, j]
        for sign, coef_err, target in ((1, alpha, w[j]), (-1, beta, -w[j])):
            group = units[(u * sign) > 0]
            products = v[group] * np.abs(U[group, j])
            largest = max(largest, group.shape[0])
            res, m = cache.get_within((j, sign, group.shape[0]), products, float(target), accuracy)
            if m < group.shape[0]:
                searched.append(m)
                group, products = group[:m], products[:m]
            chosen = group[res.indices]
            hidden[chosen, j] = 1
            out[chosen] = 1
            coef_err[j] = res.value - target
            # each product is rounded once; the subset sum itself is exact (fsum)
            rounding += 2 * _ULP * float(np.abs(products[res.indices]).sum())
    err = closed_form_error(alpha, beta)
    stats: dict[str, Any] = {"largest_group": largest, "subset_sum_solves": cache.solves}
    if searched:  # only then, so that the stats of every narrower result stay as they were
        stats.update(prefix_groups=len(searched), longest_prefix=max(searched), group_accuracy=accuracy)
    return Construction(
        Masks(hidden, out),
        alpha,
        beta,
        float(err + rounding + 4 * _ULP * max(err, 1.0)),  # a plain float (the ULP is a numpy scalar)
        rounding,
        stats=stats,
    )


def _ticket_error(instance: Instance, c: Construction, eps: float | None, tol: float, tighten: bool = True) -> ErrorBound:
    """The evaluator's interval for the construction's ticket, cheap where possible."""
    s = instance.setting
    A, b = c.masks.apply(instance.U, instance.v)
    w = instance.w
    if s.norm != "sup":
        return network_error(A, b, w, output=s.output, norm=s.norm, rng=stream_generator(instance.seed, streams.EVAL))
    if s.d <= 2:
        return network_error(A, b, w, output=s.output, norm="sup")
    if s.output == "linear":
        # The hidden sum approximates <w, x>, not relu(<w, x>): at x = -w/||w|| the
        # error is at least ||w|| - sup|h - <w,x>| (reverse triangle inequality).
        lower = max(float(np.linalg.norm(w)) - c.hidden_error, 0.0)
        if eps is not None and lower > eps:
            trivial = float(np.abs(b) @ np.linalg.norm(A, axis=1)) + float(np.linalg.norm(w))
            return ErrorBound(lower, max(trivial, lower), "reverse-triangle")
        return network_error(A, b, w, output="linear", norm="sup", tol=tol, eps=eps)
    # relu output, d >= 3: the closed form bounds the error above, points below
    rng = stream_generator(instance.seed, streams.EVAL)
    X = rng.standard_normal((4096, s.d))
    X = np.vstack([closed_form_maximizers(c.alpha, c.beta), X / np.linalg.norm(X, axis=1, keepdims=True)])
    lower = float(np.abs(forward(A, b, X, "relu") - target_values(w, X)).max())
    bound = ErrorBound(min(lower, c.hidden_error), c.hidden_error, "closed-form+points")
    if tighten and s.d <= 4:
        bb = network_error(A, b, w, output="relu", norm="sup", tol=tol, eps=eps, max_cells=200_000)
        bound = ErrorBound(
            max(bound.lower, bb.lower), min(bound.upper, bb.upper), "closed-form+branch-and-bound", stats=bb.stats
        )
    return bound


def _certificate(instance: Instance, c: Construction, ticket: ErrorBound) -> float:
    """The proven upper bound the construction is judged by (confidence 1).

    With a relu output in d >= 3 it is the closed form alone (cheap in every
    d); the ticket's own interval, possibly tighter, is reported beside it."""
    s = instance.setting
    if s.output == "relu" and s.norm == "sup":
        return c.hidden_error if s.d >= 3 else min(c.hidden_error, ticket.upper)
    if ticket.estimate is None:
        return ticket.upper
    # A sampled ticket (relu output, L2, d >= 3): its [lower, upper] is proven,
    # but the light width search judges by _linearised_l2, so use that here too
    # and the scan and the search agree.  The estimate never decides.
    return _linearised_l2(instance, c)


def _linearised_l2(instance: Instance, c: Construction) -> float:
    """Proven L2 bound for a relu output: |relu(h) - relu(<w,x>)| <= |h - <w,x>|,
    and h - <w,x> is a linear-output network (add the unit relu(-<w,x>)) whose
    L2 norm is exact by the arc-cosine kernel."""
    A, b = c.masks.apply(instance.U, instance.v)
    w = instance.w
    return network_error(np.vstack([A, -w]), np.append(b, 1.0), w, output="linear", norm=instance.setting.norm).upper


@register("weight", "construction")
class ConstructionMethod:
    """Weight pruning by the subset-sum construction (an upper bound on n*_weight).

    It approximates the one neuron relu(<w, x>); weight pruning of a network
    target is the layer-wise construction (:mod:`.deep`), which
    :func:`~prunegap.solvers.base.get_method` picks for it."""

    paradigm = "weight"
    name = "construction"
    targets: tuple[str, ...] = ("neuron",)
    proves_no = False  # a construction that misses eps proves nothing about the other masks

    #: The closed form is not monotone in the width (a coefficient error that
    #: shrinks but changes sign can grow the other side's norm), so the minimal
    #: width is found by an upward scan, which is exact and never overshoots
    #: into subset sums larger than needed.
    search = "scan"

    def monotone(self, setting: Setting) -> bool:
        return False

    def _outcome(self, instance: Instance, eps: float, cache: SubsetSumCache, tol: float, light: bool = False) -> Outcome:
        """The construction at one width.  ``light`` skips the ticket's own
        interval where the certificate does not need it (searches), and
        computes it only for a width that certifies."""
        t0 = time.perf_counter()
        c = construct(instance, cache=cache, eps=eps)
        s = instance.setting
        ticket: ErrorBound | None = None
        if light and s.output == "relu" and s.d >= 3:
            upper = c.hidden_error if s.norm == "sup" else _linearised_l2(instance, c)
            if upper <= eps:  # the answer of a search: report the ticket's interval too
                ticket = _ticket_error(instance, c, eps, tol, tighten=False)
        else:
            ticket = _ticket_error(instance, c, eps, tol, tighten=not light)
            upper = _certificate(instance, c, ticket)
        return Outcome.from_bounds(
            eps,
            c.masks,
            0.0,  # the construction proves nothing about other masks
            upper,
            ticket_error=ticket,
            method_status="yes" if upper <= eps else "no",
            stats={**c.stats, "hidden_error": c.hidden_error, "seconds": time.perf_counter() - t0},
        )

    def solve(self, instance: Instance, eps: float, *, objective: str = "feasible", memory_budget: int | None = None,
              tol: float = 1e-6, **options: Any) -> Outcome:
        check_target(self, instance.target)
        return self._outcome(instance, eps, SubsetSumCache(memory_budget), tol)

    def oracle(self, stream: UnitStream, eps: float, *, memory_budget: int | None = None, tol: float = 1e-6,
               **options: Any) -> Callable[[int], Outcome]:
        check_target(self, stream.target)
        cache = SubsetSumCache(memory_budget)
        too_wide: list[int] = []  # the narrowest width whose subset sums broke the budget

        def decide(width: int) -> Outcome:
            # In a search, a width past the memory budget is undecided, not an error:
            # the answers already proven stay, and the limit is reported.
            if too_wide and width >= too_wide[0]:
                return no_ticket(eps, limit=f"memory budget (width >= {too_wide[0]})")
            try:
                instance = draw_instance(stream.setting, stream.seed, width, stream=stream)
                return self._outcome(instance, eps, cache, tol, light=True)
            except MemoryBudgetExceeded as exc:
                too_wide[:] = [width]
                return no_ticket(eps, limit=f"memory budget: {exc}")

        return decide
