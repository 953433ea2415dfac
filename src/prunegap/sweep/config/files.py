"""TOML text in and out: a document read (its errors name the file) or written with tomli-w."""

from __future__ import annotations

import sys
from typing import Any

import tomli_w

from ...exceptions import InvalidArgument

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

__all__ = ["read_toml", "write_toml"]


def read_toml(text: str, source: str) -> dict[str, Any]:
    """The document in ``text``; an :class:`InvalidArgument` naming ``source`` when it is not TOML."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidArgument(f"{source} is not valid TOML: {exc}") from None


def write_toml(document: dict[str, Any], header: str = "") -> str:
    """``document`` as TOML text (plain values, lists and tables only), after the comment lines ``header``."""
    comment = "".join(f"# {line}\n" for line in header.splitlines())
    return comment + tomli_w.dumps(document)
