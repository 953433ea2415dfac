"""Independent references for sup errors in any d (tests only).

Nothing here imports prunegap: the network is evaluated by its definition,
g(x) = out(sum_k b_k relu(<A_k, x>)) against f(x) = relu(<w, x>), and both
are positively 1-homogeneous, so the sup over the unit ball is the sup over
the unit sphere (docs/theory.md, section 3).

* :func:`sup_estimate`: the largest |g - f| over a dense seeded sample of the
  sphere, refined by local optimisation (Nelder-Mead on y -> y / ||y||) from
  the best points.  Every value is attained at a sphere point, so it is a
  *lower* estimate of the true sup; after the refinement it is close to it.
* :func:`sup_grid_upper`: a proven *upper* bound that shares no code with the
  evaluator: the largest |g - f| at the centres of a regular grid on the
  faces of the cube [-1, 1]^d, plus a Lipschitz constant of |g - f| times the
  grid's covering radius on the sphere (radial projection of a face onto the
  sphere is 1-Lipschitz, since ||y|| >= 1 there).  Loose (about 1e-2 above
  the sup at the default grid in d = 3), but sound: use it where a test must
  prove that some mask reaches eps.
* :func:`sampled_errors`: the sampled error of many masks at once (a lower
  bound of each mask's sup), for brute force over every mask of tiny widths.

So, for a certified interval [lower, upper] of one network,
``sup_estimate <= upper`` must hold; over a family of masks,
:func:`family_bounds` brackets the best error: every mask's error is at
least ``lower`` (sampled values), and the best mask found has an error at
most ``upper`` and about ``estimate`` (a lower estimate of that mask's error,
within ~1e-13 of the certified evaluator's interval in every measurement).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize

__all__ = [
    "difference",
    "sup_estimate",
    "sup_grid_upper",
    "lipschitz",
    "sphere_sample",
    "face_grid",
    "sampled_errors",
    "weight_columns",
    "weight_choices",
    "choice_masks",
    "FamilyBounds",
    "family_bounds",
    "check_ticket",
    "check_answers",
]


def difference(A: np.ndarray, b: np.ndarray, w: np.ndarray, output: str, X: np.ndarray) -> np.ndarray:
    """g(x) - f(x) at the rows of X, straight from the definition."""
    A = np.asarray(A, float).reshape(-1, np.shape(w)[0])
    b = np.asarray(b, float).reshape(-1)
    h = np.maximum(X @ A.T, 0.0) @ b
    g = np.maximum(h, 0.0) if output == "relu" else h
    return g - np.maximum(X @ np.asarray(w, float), 0.0)


def sphere_sample(d: int, n: int, seed: int) -> np.ndarray:
    """n points uniform on S^{d-1} from a seeded Generator (its own stream)."""
    x = np.random.default_rng([seed, 7_919]).standard_normal((n, d))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def sup_estimate(A: np.ndarray, b: np.ndarray, w: np.ndarray, output: str, *, seed: int, n: int = 20_000,
                 starts: int = 8) -> float:
    """A lower estimate of sup over the sphere of |g - f|: dense sample, then local optimisation.

    The sample also holds +-w/||w|| and +-A_k/||A_k|| (cheap points where
    kinks meet).  Each of the ``starts`` best sample points (distinct up to
    1e-6) starts a Nelder-Mead run on the unnormalised y, evaluated at
    y / ||y||; every value returned is attained at a point of the sphere."""
    w = np.asarray(w, float)
    d = w.shape[0]
    A = np.asarray(A, float).reshape(-1, d)
    b = np.asarray(b, float).reshape(-1)
    X = sphere_sample(d, n, seed)
    special = [w] + [a for a in A if np.linalg.norm(a) > 0]
    S = np.array([s / np.linalg.norm(s) for s in special if np.linalg.norm(s) > 0]).reshape(-1, d)
    X = np.vstack([X, S, -S])
    e = np.abs(difference(A, b, w, output, X))
    best = float(e.max())
    if d == 1:  # the sphere is {-1, +1}, and both are in the sample
        return best

    def neg(y: np.ndarray) -> float:
        r = np.linalg.norm(y)
        if not np.isfinite(r) or r == 0:
            return 0.0
        return -float(np.abs(difference(A, b, w, output, (y / r)[None, :]))[0])

    chosen: list[np.ndarray] = []
    for i in np.argsort(e)[::-1]:
        if len(chosen) >= starts:
            break
        if all(np.linalg.norm(X[i] - c) > 1e-6 for c in chosen):
            chosen.append(X[i])
    for x0 in chosen:
        r = minimize(neg, x0, method="Nelder-Mead",
                     options={"xatol": 1e-13, "fatol": 1e-15, "maxiter": 4000, "initial_simplex": _simplex(x0)})
        best = max(best, -float(r.fun))  # r.fun is the value at a sphere point r.x / ||r.x||
    return best


def _simplex(x0: np.ndarray, step: float = 0.02) -> np.ndarray:
    """A small simplex around x0 (the default one scales with |x0_j| and degenerates at 0)."""
    d = x0.shape[0]
    return np.vstack([x0, x0 + step * np.eye(d)])


def lipschitz(A: np.ndarray, b: np.ndarray, w: np.ndarray) -> float:
    """A Lipschitz constant of x -> |g(x) - f(x)| (Euclidean): relu and |.| are 1-Lipschitz."""
    A = np.asarray(A, float).reshape(-1, np.shape(w)[0])
    return float(np.abs(np.asarray(b, float).reshape(-1)) @ np.linalg.norm(A, axis=1) + np.linalg.norm(w))


def face_grid(d: int, k: int) -> tuple[np.ndarray, float]:
    """(centres of a k^(d-1) grid on each of the 2d cube faces, projected on the sphere; covering radius).

    Every face point is within sqrt(d - 1) / k of a centre of its face (half
    the diagonal of a cell of side 2/k), and the radial projection of a face
    is 1-Lipschitz, so every sphere point is that close to a projected centre."""
    ticks = -1.0 + (2.0 * np.arange(k) + 1.0) / k
    free = np.array(list(itertools.product(ticks, repeat=d - 1))).reshape(-1, d - 1)
    faces = []
    for j in range(d):
        for s in (-1.0, 1.0):
            Y = np.insert(free, j, s, axis=1)
            faces.append(Y / np.linalg.norm(Y, axis=1, keepdims=True))
    return np.vstack(faces), float(np.sqrt(d - 1) / k)


def sup_grid_upper(A: np.ndarray, b: np.ndarray, w: np.ndarray, output: str, *, k: int = 300) -> float:
    """A proven upper bound of sup over the sphere of |g - f| (grid maximum + L * covering radius)."""
    w = np.asarray(w, float)
    X, radius = face_grid(w.shape[0], k)
    L = lipschitz(A, b, w)
    top = float(np.abs(difference(A, b, w, output, X)).max())
    return top + L * radius + 1e-12 * (L + 1.0)  # 1e-12: the float rounding of the values, with room


def sampled_errors(A: np.ndarray, b: np.ndarray, w: np.ndarray, output: str, S: np.ndarray, X: np.ndarray,
                   chunk: int = 512) -> np.ndarray:
    """max over the rows of X of |g_s - f| for each 0/1 row s of S over the columns (A, b).

    A lower bound of each mask's sup error (the values are attained)."""
    H = np.maximum(X @ np.asarray(A, float).T, 0.0) * np.asarray(b, float)[None, :]  # (m, J)
    f = np.maximum(X @ np.asarray(w, float), 0.0)
    out = np.empty(S.shape[0])
    for k0 in range(0, S.shape[0], chunk):
        h = S[k0:k0 + chunk].astype(float) @ H.T  # (M, m)
        g = np.maximum(h, 0.0) if output == "relu" else h
        out[k0:k0 + chunk] = np.abs(g - f[None, :]).max(axis=1)
    return out


def weight_columns(U: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(A, b, patterns): unit i with input subset P_p is the column (U_i * P_p, v_i), index i * p + (p index)."""
    n, d = U.shape
    P = np.array([q for q in itertools.product((0, 1), repeat=d) if any(q)], np.uint8)
    A = (U[:, None, :] * P[None, :, :]).reshape(n * P.shape[0], d)
    return A, np.repeat(v, P.shape[0]), P


def weight_choices(n: int, p: int) -> np.ndarray:
    """(p + 1)^n rows: choice[i] = 0 (unit i dropped) or 1 + its input-subset index."""
    return np.array(list(itertools.product(range(p + 1), repeat=n)), np.int64).reshape(-1, n)


def choice_masks(choices: np.ndarray, p: int) -> np.ndarray:
    """The 0/1 column selections of weight choices (at most one column per unit)."""
    M, n = choices.shape
    S = np.zeros((M, n * p), np.uint8)
    for i in range(n):
        on = choices[:, i] > 0
        S[np.flatnonzero(on), i * p + choices[on, i] - 1] = 1
    return S


@dataclass(frozen=True)
class FamilyBounds:
    """What brute force over a family of masks says about its best error."""

    lower: float  # every mask's error is >= lower (sampled values: proven, up to rounding)
    estimate: float  # the best refined estimate over the masks tried: about the best error
    upper: float  # the mask ``best`` has error <= upper (grid bound: proven, up to rounding)
    best: np.ndarray  # the 0/1 column selection of the best mask found


def family_bounds(A: np.ndarray, b: np.ndarray, w: np.ndarray, output: str, S: np.ndarray, *, seed: int,
                  n: int = 4000, refine: int = 40, k: int = 200) -> FamilyBounds:
    """Brute force over the masks S (rows over the columns (A, b)).

    Every mask gets its sampled error (a lower bound); then, best first, the
    mask of least lower bound is refined by :func:`sup_estimate` until that
    mask is one already refined (at most ``refine`` masks), so ``lower`` is
    the estimate of the best mask unless the cap is hit; the best mask is
    bounded above by :func:`sup_grid_upper`."""
    d = np.shape(w)[0]
    lb = sampled_errors(A, b, w, output, S, sphere_sample(d, n, seed + 1))
    est: dict[int, float] = {}
    while len(est) < refine:
        i = int(np.argmin(lb))
        if i in est:
            break
        sel = S[i] == 1
        est[i] = sup_estimate(A[sel], b[sel], w, output, seed=seed)
        lb[i] = max(lb[i], est[i])
    i_best = min(est, key=est.get)
    sel = S[i_best] == 1
    return FamilyBounds(float(lb.min()), est[i_best], sup_grid_upper(A[sel], b[sel], w, output, k=k), S[i_best])


# --- checks of a solver's answers (duck-typed: an Outcome and an Instance) ---------------------


def check_ticket(inst, out, eps: float | None = None, *, seed: int) -> float:
    """A returned ticket against the oracle; returns its estimate.

    The estimate is a lower estimate of the ticket's true error, so it may
    not exceed the certified upper bound, nor eps for a "yes"."""
    m = out.masks
    assert m is not None and m.width == inst.width
    A, b = m.apply(inst.U, inst.v)
    est = sup_estimate(A, b, inst.w, inst.setting.output, seed=seed)
    assert est <= out.error_upper + 1e-12, ("certified upper below the oracle", est, out.error_upper)
    if eps is not None:
        assert est <= eps + 1e-12, ("a 'yes' whose ticket misses eps", est, eps)
    return est


def check_answers(solve, inst, fam: FamilyBounds, *, seed: int, rtol: float = 1e-4, atol: float = 3e-6) -> None:
    """An exact solver (``solve(eps, **options) -> Outcome``) against brute force over its family.

    * below every mask's lower bound (``fam.lower - 1e-3``) no mask reaches
      eps: the answer must be "no", with error_lower in (eps, fam.upper] and
      not above the best mask's estimate; just below it (``fam.lower -
      5e-7``, inside the evaluator's tolerance) it may be "unknown", never
      "yes";
    * at ``fam.estimate + 1e-3`` (the best mask's error is within 1e-13 of its
      estimate in every measurement) and at ``fam.upper`` (proven) some mask
      reaches eps: the answer must be "yes", with a non-empty ticket that the
      oracle confirms;
    * min-error: error_lower at most the best mask's estimate (and its proven
      bound), the ticket's estimate at least every mask's lower bound, and
      error_upper the optimum up to the solver's tolerances ``rtol``, ``atol``.
    """
    for eps in (fam.lower - 1e-3, fam.lower - 5e-7):
        out = solve(eps)
        if eps < fam.lower - 1e-4:
            assert out.status == "no", (out.status, out.limit, eps, fam)
        else:  # within the evaluator's tolerance (1e-6) of the optimum: "unknown" is allowed, "yes" never
            assert out.status != "yes", (out.status, eps, fam, out.error_upper)
        if out.status == "no":
            assert eps < out.error_lower <= fam.upper, (out.error_lower, fam)
            assert out.error_lower <= fam.estimate + 1e-9, (out.error_lower, fam)
    for eps in (fam.estimate + 1e-3, fam.upper):
        out = solve(eps)
        assert out.status == "yes", (out.status, out.limit, eps, fam)
        assert out.error_upper <= eps and out.masks.kept_units >= 1
        check_ticket(inst, out, eps, seed=seed)
    me = solve(0.5, objective="min-error")
    assert me.limit is None
    assert me.error_lower <= fam.estimate + 1e-9 and me.error_lower <= fam.upper, (me.error_lower, fam)
    est = check_ticket(inst, me, seed=seed)
    assert est >= fam.lower - 1e-12  # no mask is better than every mask's lower bound
    assert me.error_upper <= fam.estimate * (1 + rtol) + atol, (me.error_upper, fam)
