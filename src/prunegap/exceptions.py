"""The exceptions prunegap raises.

One root, :class:`PrunegapError`.  :class:`InvalidArgument` is also a
``ValueError`` so that generic callers can catch it; its message names the
parameter, the value it got and the rule it broke.  The command line turns it
into one line on stderr and exit code 2.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = [
    "PrunegapError",
    "InvalidArgument",
    "MemoryBudgetExceeded",
    "suggest",
]


class PrunegapError(Exception):
    """Root of every error prunegap raises on purpose."""


class InvalidArgument(PrunegapError, ValueError):
    """A value given by the caller is outside what is allowed."""


class MemoryBudgetExceeded(InvalidArgument):
    """A computation would need more memory than its configured budget.

    It is an :class:`InvalidArgument` because the caller chose the budget (or
    the problem size): the fix is to raise the budget or shrink the problem.
    """

    def __init__(self, message: str, *, needed_bytes: int, budget_bytes: int) -> None:
        super().__init__(message)
        self.needed_bytes = needed_bytes
        self.budget_bytes = budget_bytes


def suggest(name: str, choices: Iterable[str]) -> str:
    """Return ``" (did you mean 'x'?)"`` for the closest valid name, or ``""``."""
    close = difflib.get_close_matches(str(name), list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""
