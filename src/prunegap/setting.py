"""The setting as data (THEORY §2): dimension, weight law, output, norm, target.

Every field is an option; nothing downstream hard-codes the defaults.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._validation import check_choice, check_int, check_vector
from .exceptions import InvalidArgument

__all__ = ["Setting", "INITS", "OUTPUTS", "NORMS"]

#: Laws of the random weights U and v, all i.i.d.
INITS: tuple[str, ...] = ("uniform", "gaussian")
#: ``relu``: g(x) = relu(sum_i v_i relu(<u_i, x>)); ``linear``: no output relu.
OUTPUTS: tuple[str, ...] = ("relu", "linear")
#: ``sup``: sup over the unit ball; ``l2-gaussian``: x ~ N(0, I_d); ``l2-sphere``: x uniform on the sphere.
NORMS: tuple[str, ...] = ("sup", "l2-gaussian", "l2-sphere")


@dataclass(frozen=True)
class Setting:
    """What is approximated, by what, and how the error is measured."""

    d: int  # input dimension
    init: str = "uniform"  # law of U and v: "uniform" = Uniform[-1, 1], "gaussian" = N(0, 1)
    output: str = "relu"  # output activation of the random network: "relu" or "linear"
    norm: str = "sup"  # error norm: "sup", "l2-gaussian" or "l2-sphere"
    w: tuple[float, ...] | None = field(default=None)  # target weights; None = drawn uniformly on the sphere from the seed

    def __post_init__(self) -> None:
        object.__setattr__(self, "d", check_int("d", self.d, minimum=1))
        check_choice("init", self.init, INITS)
        check_choice("output", self.output, OUTPUTS)
        check_choice("norm", self.norm, NORMS)
        if self.w is not None:
            w = check_vector("w", self.w, length=self.d)
            if not np.any(w):
                raise InvalidArgument("w must be a nonzero vector, got all zeros")
            object.__setattr__(self, "w", tuple(float(x) for x in w))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form; ``target`` says whether w was given or drawn."""
        return {
            "d": self.d,
            "init": self.init,
            "output": self.output,
            "norm": self.norm,
            "target": "given" if self.w is not None else "random",
        }
