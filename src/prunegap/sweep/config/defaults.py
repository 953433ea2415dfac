"""The shipped defaults and a user's sweep file laid over them: :func:`load_config`, :func:`parse_config`.

The defaults ship as ``defaults.toml`` beside :mod:`prunegap.sweep`
(``prunegap gap --show-config`` prints them, comments included).  A user
file is laid over them: the tables ``[setting]``, ``[analysis]``,
``[quick]`` and ``[popup]`` (with its ``[popup.certify]``) key by key, every
other key as a whole; the result is validated once
(:func:`~.validate.resolve`).  A file with its own ``[[studies]]`` but no
``[popup]`` runs no popup study (the default one goes with the default
studies), nor does it keep the default gap pair, which names the default
studies.
"""

from __future__ import annotations

import os
import stat
from importlib import resources
from pathlib import Path
from typing import Any

from ...exceptions import InvalidArgument
from .files import read_toml
from .model import SweepConfig
from .validate import MERGED_TABLES, TOP_KEYS, Validator, resolve

__all__ = ["default_toml", "load_config", "parse_config", "merge_defaults", "read_config_text", "MAX_CONFIG_BYTES"]

#: The largest sweep file read (1 MiB: the shipped defaults are about 10 KiB).
MAX_CONFIG_BYTES = 1024**2


def default_toml() -> str:
    """The text of the shipped defaults (with their comments)."""
    return resources.files("prunegap.sweep").joinpath("defaults.toml").read_text(encoding="utf-8")


def load_config(path: str | Path | None = None, *, quick: bool = False) -> SweepConfig:
    """The defaults, with the TOML file at ``path`` laid over them."""
    user: dict[str, Any] = {}
    source = "defaults"
    if path is not None:
        source = str(path)
        user = read_toml(read_config_text(path), source)
    return parse_config(user, quick=quick, source=source)


def read_config_text(path: str | Path) -> str:
    """The text of the sweep file at ``path``: a regular file of at most :data:`MAX_CONFIG_BYTES`
    (a device such as /dev/zero, a pipe, or a huge file is refused before it fills the memory)."""
    source = str(path)
    try:
        # non-blocking: opening a pipe with no writer would wait for one
        with os.fdopen(os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)), "rb") as fh:
            if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
                raise InvalidArgument(f"config file {source!r} is not a regular file (a device, pipe or folder); "
                                      "give a TOML file")
            data = fh.read(MAX_CONFIG_BYTES + 1)  # read, not stat: a file may grow while it is read
    except FileNotFoundError:
        raise InvalidArgument(f"config file {source!r} does not exist") from None
    except IsADirectoryError:
        raise InvalidArgument(f"config file {source!r} is a folder; give a TOML file") from None
    except OSError as exc:
        raise InvalidArgument(f"config file {source!r} cannot be read ({exc.strerror or exc})") from None
    if len(data) > MAX_CONFIG_BYTES:
        raise InvalidArgument(f"config file {source!r} is larger than {MAX_CONFIG_BYTES // 1024**2} MiB, the most a "
                              "sweep config may be; give the TOML file of the sweep")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidArgument(f"config file {source!r} is not UTF-8 text ({exc})") from None


def parse_config(user: dict[str, Any], *, quick: bool = False, source: str = "config", stored: bool = False) -> SweepConfig:
    """Validate ``user`` (a parsed TOML document) laid over the defaults.

    ``stored``: the config comes from a results database, whose trials ran
    already: its (paradigm, method) pairs are accepted even when this
    installation lacks them, so that its report can still be built."""
    v = Validator(source)
    return resolve(merge_defaults(user, v, stored=stored), v, quick=quick, source=source, stored=stored)


def merge_defaults(user: dict[str, Any], v: Validator, *, stored: bool = False) -> dict[str, Any]:
    """The shipped defaults with ``user`` laid over them (see the module's docstring); ``v`` names
    an unknown top-level key or a table that is not one."""
    base = read_toml(default_toml(), "defaults.toml")
    v.keys(user, "", TOP_KEYS)
    merged = dict(base)
    for key, value in user.items():
        if key in MERGED_TABLES:
            v.table(value, key)
            merged[key] = {**base.get(key, {}), **value}
        else:
            merged[key] = value
    if isinstance(user.get("popup"), dict) and isinstance(user["popup"].get("certify"), dict):
        merged["popup"]["certify"] = {**base.get("popup", {}).get("certify", {}), **user["popup"]["certify"]}
    if "studies" in user and "gap" not in user.get("analysis", {}):
        # the default gap pair names the default studies: other studies get the default rule
        merged["analysis"] = {k: x for k, x in merged.get("analysis", {}).items() if k != "gap"}
    if "popup" not in user and (stored or "studies" in user):
        # The default popup study belongs to the default studies (a folder from
        # before the popup study has none, either).
        merged["popup"] = {"enabled": False, "certify": {"enabled": False}}
    return merged
