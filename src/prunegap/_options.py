"""Option builders of the ``prunegap`` command, shared by :mod:`prunegap.cli` and :mod:`prunegap.torch.cli`.

A choice is declared as a plain string option whose ``--help`` shows its
choices (``[weight|neuron|nm|block]``) and whose shell completion offers
them.  It is deliberately not a typer ``Literal``/``Enum``: those refuse a
bad value with a click usage error, while prunegap refuses bad values with
one line naming the value, the choices and the closest one (the checks of
:mod:`prunegap._validation`, run by the library or the command).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import typer

__all__ = ["choice_metavar", "choice_option"]


def choice_metavar(choices: Sequence[str]) -> str:
    """``[a|b|c]``: how ``--help`` shows an option's choices."""
    return "[" + "|".join(choices) + "]"


def choice_option(default: Any, flag: str, choices: Sequence[str], help: str) -> Any:
    """A ``typer.Option`` of one of ``choices``: listed in ``--help`` and offered by shell completion.

    The value is not checked here: the command or the library checks it, so
    that the message is the same from Python and from the shell."""
    names = tuple(choices)

    def complete(incomplete: str) -> list[str]:
        return [c for c in names if c.startswith(incomplete)]

    return typer.Option(default, flag, metavar=choice_metavar(names), help=help, autocompletion=complete)
