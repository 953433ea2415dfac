"""Validation at the boundary: each ``check_*`` returns the cleaned value or
raises :class:`InvalidArgument` with one uniform message shape:
``<name> must be <rule>, got <value>``."""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np

from .exceptions import InvalidArgument, suggest

__all__ = [
    "check_choice",
    "check_int",
    "check_positive_float",
    "check_seed",
    "check_vector",
    "as_generator",
]


def _show(value: Any) -> str:
    return repr(value) if isinstance(value, str) else str(value)


def check_int(name: str, value: Any, *, minimum: int | None = None, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise InvalidArgument(f"{name} must be an integer, got {_show(value)}")
    value = int(value)
    if minimum is not None and value < minimum:
        rule = f"an integer >= {minimum}" if maximum is None else f"an integer in [{minimum}, {maximum}]"
        raise InvalidArgument(f"{name} must be {rule}, got {value}")
    if maximum is not None and value > maximum:
        rule = f"an integer <= {maximum}" if minimum is None else f"an integer in [{minimum}, {maximum}]"
        raise InvalidArgument(f"{name} must be {rule}, got {value}")
    return value


def check_positive_float(name: str, value: Any, *, allow_zero: bool = False, maximum: float | None = None) -> float:
    # a number only: float("0.5") or float(True) would pass here while the raw value travels on
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidArgument(f"{name} must be a {'non-negative' if allow_zero else 'positive'} number, got {_show(value)}")
    x = float(value)
    ok = math.isfinite(x) and (x >= 0 if allow_zero else x > 0)
    if maximum is not None:
        ok = ok and x <= maximum
    if not ok:
        rule = "a non-negative finite number" if allow_zero else "a positive finite number"
        if maximum is not None:
            rule += f" <= {maximum}"
        raise InvalidArgument(f"{name} must be {rule}, got {_show(value)}")
    return x


def check_choice(name: str, value: Any, choices: Sequence[str]) -> str:
    if not isinstance(value, str) or value not in choices:
        allowed = ", ".join(repr(c) for c in choices)
        raise InvalidArgument(f"{name} must be one of {allowed}, got {_show(value)}{suggest(str(value), choices)}")
    return value


def check_seed(value: Any, name: str = "seed") -> int:
    return check_int(name, value, minimum=0)


def check_vector(name: str, value: Any, *, length: int | None = None) -> np.ndarray:
    try:
        x = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidArgument(f"{name} must be a vector of finite numbers, got {_show(value)}") from None
    if x.ndim != 1 or (length is not None and x.shape[0] != length):
        want = f"a vector of length {length}" if length is not None else "a 1-d vector"
        raise InvalidArgument(f"{name} must be {want}, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise InvalidArgument(f"{name} must contain only finite numbers, got {x.tolist()}")
    return x


def as_generator(seed: int | np.random.SeedSequence | np.random.Generator) -> np.random.Generator:
    """The one randomness helper: a seed, SeedSequence or Generator -> Generator.

    Never touches numpy's global state.
    """
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, np.random.SeedSequence):
        return np.random.default_rng(seed)
    return np.random.default_rng(check_seed(seed))
