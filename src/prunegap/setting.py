"""The setting as data (THEORY §2): dimension, weight law, output, norm, target.

Every field is an option; nothing downstream hard-codes the defaults.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._validation import check_choice, check_int, check_vector
from .exceptions import InvalidArgument

__all__ = ["Setting", "INITS", "OUTPUTS", "NORMS", "TARGETS", "MAX_DIMENSION", "MAX_TARGET_WIDTH", "MAX_TARGET_DEPTH"]

#: Laws of the random weights U and v, all i.i.d.
INITS: tuple[str, ...] = ("uniform", "gaussian")
#: ``relu``: g(x) = relu(sum_i v_i relu(<u_i, x>)); ``linear``: no output relu.
OUTPUTS: tuple[str, ...] = ("relu", "linear")
#: ``sup``: sup over the unit ball; ``l2-gaussian``: x ~ N(0, I_d); ``l2-sphere``: x uniform on the sphere.
NORMS: tuple[str, ...] = ("sup", "l2-gaussian", "l2-sphere")
#: ``neuron``: f(x) = relu(<w, x>); ``network``: a bias-free ReLU network with
#: target_width hidden units per layer and target_depth hidden layers (targets.py).
TARGETS: tuple[str, ...] = ("neuron", "network")
#: The largest input dimension d anything in prunegap takes (the command line, the API, a sweep):
#: the certified evaluators and the integer programs grow exponentially with d, and none
#: answers in useful time far below it.
MAX_DIMENSION = 64
#: The largest network target: K hidden units per layer, L hidden layers.
MAX_TARGET_WIDTH, MAX_TARGET_DEPTH = 4096, 64


@dataclass(frozen=True)
class Setting:
    """What is approximated, by what, and how the error is measured."""

    d: int  # input dimension
    init: str = "uniform"  # law of U and v: "uniform" = Uniform[-1, 1], "gaussian" = N(0, 1)
    output: str = "relu"  # output activation of the random network: "relu" or "linear"
    norm: str = "sup"  # error norm: "sup", "l2-gaussian" or "l2-sphere"
    w: tuple[float, ...] | None = field(default=None)  # target weights; None = drawn uniformly on the sphere from the seed
    # Targets beyond one neuron; the defaults leave every instance exactly as before.
    target: str = "neuron"  # "neuron" or "network"
    target_width: int = 1  # K: hidden units per layer of a network target
    target_depth: int = 1  # L: hidden layers of a network target
    target_file: str | None = None  # .npz of a network target (W1..WL, c); None = drawn from the seed

    def __post_init__(self) -> None:
        object.__setattr__(self, "d", check_int("d", self.d, minimum=1, maximum=MAX_DIMENSION))
        check_choice("init", self.init, INITS)
        check_choice("output", self.output, OUTPUTS)
        check_choice("norm", self.norm, NORMS)
        check_choice("target", self.target, TARGETS)
        object.__setattr__(self, "target_width", check_int("target_width", self.target_width, minimum=1, maximum=MAX_TARGET_WIDTH))
        object.__setattr__(self, "target_depth", check_int("target_depth", self.target_depth, minimum=1, maximum=MAX_TARGET_DEPTH))
        if self.target == "neuron":
            for name, value, default in (("target_width", self.target_width, 1), ("target_depth", self.target_depth, 1),
                                         ("target_file", self.target_file, None)):
                if value != default:
                    raise InvalidArgument(f"{name} applies to target 'network' only, got {name} = {value!r} with target 'neuron'")
        elif self.w is not None:
            raise InvalidArgument("w gives a one-neuron target; a network target is drawn from the seed or read from target_file")
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
            **self._network_dict(),
        }

    def _network_dict(self) -> dict[str, Any]:
        # only for network targets, so that one-neuron settings serialise exactly as before
        if self.target != "network":
            return {}
        return {
            "target": "file" if self.target_file is not None else "random",
            "target_kind": "network",
            "target_width": self.target_width,
            "target_depth": self.target_depth,
            **({"target_file": self.target_file} if self.target_file is not None else {}),
        }
