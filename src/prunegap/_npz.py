"""The one reader of every ``.npz`` prunegap reads (tickets, multi-output tickets, exported
tickets, target networks): each array's header first, then its data.

``numpy.load`` allocates an array as large as its header declares before it reads a byte of
it, so a small deflated file that declares a huge array takes the memory before any shape
check runs.  :func:`read_npz` reads every member's ``.npy`` header alone (through
:mod:`zipfile`), refuses what no prunegap file holds -- complex numbers, strings, Python
objects (a pickle is never loaded), data shorter than the header declares -- lets the
caller check the shapes, and refuses arrays over the memory budget, all before any data is
read.  Every defect is one :class:`~prunegap.exceptions.InvalidArgument` naming the file.
"""

from __future__ import annotations

import math
import os
import stat
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.lib import format as npy

from .exceptions import InvalidArgument, MemoryBudgetExceeded

__all__ = ["ArrayHeader", "read_npz", "npz_headers", "MAX_TEXT_BYTES"]

#: The largest string member read (exported tickets keep their metadata as one JSON string).
MAX_TEXT_BYTES = 1024**2
_REAL_KINDS = "biuf"  # bool, signed and unsigned integers, floats
_KIND_WORDS = {"c": "complex numbers", "U": "strings", "S": "byte strings", "O": "Python objects",
               "V": "structured records", "M": "dates", "m": "time spans"}


@dataclass(frozen=True)
class ArrayHeader:
    """What a member's ``.npy`` header declares."""

    shape: tuple[int, ...]
    dtype: np.dtype

    @property
    def nbytes(self) -> int:
        # Python integers: a crafted shape must not overflow into a small product
        return math.prod(int(n) for n in self.shape) * int(self.dtype.itemsize)


Check = Callable[[dict[str, ArrayHeader]], Iterable[str]]


def read_npz(path: str | os.PathLike[str], check: Check, *, what: str = "file", kind: str = ".npz",
             text: Iterable[str] = (), max_bytes: int | None = None) -> dict[str, np.ndarray]:
    """The arrays of the ``.npz`` at ``path`` that ``check`` names, read only after their headers pass.

    ``check(headers)`` gets every member's :class:`ArrayHeader` (by array name) and returns the
    names to read; it raises :class:`InvalidArgument` for a missing array or a wrong shape.
    Every member must hold real numbers (bool, integer, float), except those named in ``text``,
    which may be one string of at most :data:`MAX_TEXT_BYTES`.  ``max_bytes``: the most the arrays
    read may take together (:class:`MemoryBudgetExceeded` beyond).  ``what`` names the file in
    messages ("ticket file", "target file"), ``kind`` what it should be (".npz ticket").
    """
    p = Path(path)
    name = f"{what} {str(p)!r}"
    text = tuple(text)
    try:
        st = os.stat(p)
    except FileNotFoundError:
        raise InvalidArgument(f"{name} does not exist") from None
    except OSError as exc:
        raise InvalidArgument(f"{name} cannot be read ({exc.strerror or exc})") from None
    if not stat.S_ISREG(st.st_mode):
        raise InvalidArgument(f"{name} is not a regular file (a folder, device or pipe); give an {kind} file")
    try:
        with zipfile.ZipFile(p) as zf:
            members = _members(zf, name)
            headers = {key: header for key, (_, header) in members.items()}
            wanted = list(dict.fromkeys(check(headers)))
            for key in wanted:
                _check_kind(name, key, headers[key], key in text)
            total = sum(headers[key].nbytes for key in wanted)
            if max_bytes is not None and total > max_bytes:
                biggest = max(wanted, key=lambda k: headers[k].nbytes)
                raise MemoryBudgetExceeded(
                    f"{name} declares {total:,} bytes of arrays ({biggest} of shape {headers[biggest].shape}), over "
                    f"the memory budget of {max_bytes:,} bytes (raise it with PRUNEGAP_MEMORY_BUDGET)",
                    needed_bytes=total, budget_bytes=max_bytes)
            out = {}
            for key in wanted:
                with zf.open(members[key][0]) as fh:
                    out[key] = npy.read_array(fh, allow_pickle=False)
            return out
    except InvalidArgument:
        raise
    except Exception as exc:  # noqa: BLE001 - a damaged archive fails in many ways (zipfile, zlib, numpy); each means the same
        raise InvalidArgument(f"{name} is not a readable {kind} ({type(exc).__name__}: {' '.join(str(exc).split())[:300]})") from None


def npz_headers(path: str | os.PathLike[str], *, what: str = "file", kind: str = ".npz") -> dict[str, ArrayHeader]:
    """Every array's header of the ``.npz`` at ``path``, no data read (what :func:`read_npz`'s check gets)."""
    seen: dict[str, ArrayHeader] = {}

    def check(headers: dict[str, ArrayHeader]) -> tuple[str, ...]:
        seen.update(headers)
        return ()

    read_npz(path, check, what=what, kind=kind)
    return seen


def _members(zf: zipfile.ZipFile, name: str) -> dict[str, tuple[zipfile.ZipInfo, ArrayHeader]]:
    """Every ``.npy`` member's header (other members are not arrays: numpy.load would hand back their bytes)."""
    out: dict[str, tuple[zipfile.ZipInfo, ArrayHeader]] = {}
    for info in zf.infolist():
        if not info.filename.endswith(".npy"):
            continue
        key = info.filename[:-4]
        if key in out:
            raise InvalidArgument(f"{name} holds array {key!r} twice; it is not an .npz that numpy wrote")
        with zf.open(info) as fh:
            header = _header(fh, name, key)
            offset = fh.tell()
        if info.file_size < offset + header.nbytes:
            raise InvalidArgument(f"{name}: array {key!r} declares shape {header.shape} of {header.dtype} "
                                  f"({header.nbytes:,} bytes) but holds {max(0, info.file_size - offset):,}: the file is damaged")
        out[key] = (info, header)
    return out


def _header(fh: Any, name: str, key: str) -> ArrayHeader:
    try:
        version = npy.read_magic(fh)
        if version == (1, 0):
            shape, _, dtype = npy.read_array_header_1_0(fh)
        elif version == (2, 0):
            shape, _, dtype = npy.read_array_header_2_0(fh)
        else:
            raise ValueError(f".npy format version {version[0]}.{version[1]} (prunegap reads 1.0 and 2.0)")
    except (ValueError, EOFError, OSError) as exc:
        raise InvalidArgument(f"{name}: array {key!r} has no readable .npy header ({' '.join(str(exc).split())[:200]})") from None
    return ArrayHeader(tuple(int(n) for n in shape), np.dtype(dtype))


def _check_kind(name: str, key: str, header: ArrayHeader, text: bool) -> None:
    dtype = header.dtype
    if text and dtype.kind == "U" and header.shape == () and header.nbytes <= MAX_TEXT_BYTES:
        return
    if dtype.kind in _REAL_KINDS and not dtype.hasobject:
        return
    word = _KIND_WORDS.get(dtype.kind, "something else")
    rule = "one string" if text else "real numbers (bool, integer or float)"
    raise InvalidArgument(f"{name}: array {key!r} holds {word} (dtype {dtype}, shape {header.shape}); it must hold {rule}")
