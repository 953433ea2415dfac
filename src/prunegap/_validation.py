"""Validation at the boundary: each ``check_*`` returns the cleaned value or
raises :class:`InvalidArgument` with one uniform message shape:
``<name> must be <rule>, got <value>``."""

from __future__ import annotations

import contextlib
import errno
import math
import numbers
import os
import stat
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .exceptions import InvalidArgument, suggest

__all__ = [
    "format_bytes",
    "check_choice",
    "check_int",
    "check_positive_float",
    "check_seed",
    "check_vector",
    "check_output",
    "check_path",
    "output_errors",
    "as_generator",
    "DATABASE_FILES",
    "MAX_BYTES",
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


# Output paths ----------------------------------------------------------------------------
#: The largest size in bytes a size option takes (a memory budget, an address-space cap): more
#: than any machine has, and less than the 2**63 - 1 the kernel's limits take.
MAX_BYTES = 2**60
#: A results folder's database and its write-ahead log (``prunegap.sweep.store.DB_NAME``): no
#: command writes anything else under these names, whatever the folder.
DATABASE_FILES: tuple[str, ...] = ("results.duckdb", "results.duckdb.wal")
_DUCKDB_MAGIC = (8, b"DUCK")  # the offset and bytes of a DuckDB database file's magic
# Errors of a write whose exception names no file: in a block that writes only the user's
# outputs, they are about those outputs.
_WRITE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG, errno.EACCES, errno.EPERM)


def _path_text(name: str, path: Any) -> str:
    """The path as text, refused where no file of that name can be made or shown."""
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    if not isinstance(path, (str, os.PathLike)):
        raise InvalidArgument(f"{name} must be a path, got {_show(path)}")
    text = os.fspath(path)
    if text == "":
        raise InvalidArgument(f"{name} must be a path, got ''")
    if "\x00" in text:
        raise InvalidArgument(f"{name} must be a path without NUL characters, got {text!r}")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        # undecodable bytes in argv arrive as lone surrogates; DuckDB, JSON and HTML cannot carry them
        raise InvalidArgument(f"{name} must be a path of UTF-8 text, got {text!r} (it holds bytes that are not UTF-8)") from None
    return text


def check_path(path: Any, name: str) -> Path:
    """A path the caller gave, as text that every file format and library takes (UTF-8, no NUL)."""
    return Path(_path_text(name, path))


def _same_file(a: str, b: str) -> bool:
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)  # a hard link: two names, one file
    except OSError:
        return False


def _is_duckdb(path: str) -> bool:
    offset, magic = _DUCKDB_MAGIC
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return False
        with open(path, "rb") as fh:
            return fh.read(offset + len(magic))[offset:] == magic
    except OSError:
        return False


def _unwritable(folder: str) -> str | None:
    """Why no file can be created in the existing folder ``folder`` (None: it can)."""
    if os.access(folder, os.W_OK | os.X_OK):
        return None
    with contextlib.suppress(OSError, AttributeError):
        if os.statvfs(folder).f_flag & os.ST_RDONLY:
            return "a read-only filesystem"
    return "permission denied"


def _check_creatable(name: str, text: str, start: Path) -> None:
    """``start`` is an existing writable folder, or can be made as one under such a folder."""
    here = start
    while not os.path.lexists(here) and here != here.parent:
        here = here.parent
    if os.path.islink(here) and not os.path.exists(here):
        raise InvalidArgument(f"{name} {text!r} lies under {str(here)!r}, a broken symbolic link")
    if not os.path.isdir(here):
        raise InvalidArgument(f"{name} {text!r} lies under {str(here)!r}, which is a file, not a folder")
    why = _unwritable(str(here))
    if why is not None:
        there = "there" if os.path.abspath(here) == os.path.abspath(text) else f"in {str(here)!r}"
        raise InvalidArgument(f"{name} {text!r}: cannot create files {there} ({why})")


def check_output(
    path: str | os.PathLike[str],
    *,
    inputs: Iterable[str | os.PathLike[str] | None] = (),
    name: str = "--out",
    folder: bool = False,
    files: Iterable[str] = (),
    allow_database: bool = False,
) -> Path:
    """The output path ``path`` of a command, refused before any work where writing it would
    destroy data or is bound to fail.

    ``folder=False``: ``path`` is the file to write; ``folder=True``: a folder (made with its
    parents) that receives ``files``.  ``inputs``: the files the command reads.  Refused:
    a path that is not UTF-8 text, empty, or under a file; a folder where a file goes or a file
    where a folder goes; an existing non-regular file (a device, a pipe); a place where no file
    can be created; an output that is one of ``inputs`` (through symbolic or hard links too);
    and an output named like a results database (:data:`DATABASE_FILES`) or holding a DuckDB
    database -- unless ``allow_database`` (a command that writes its own database) for the
    one named so.
    """
    text = _path_text(name, path)
    p = Path(text)
    if folder:
        if os.path.exists(p) and not os.path.isdir(p):
            raise InvalidArgument(f"{name} {text!r} is a file, not a folder; give a folder for the outputs")
        targets = [p / f for f in files]
        _check_creatable(name, text, p)
    else:
        if os.path.isdir(p):
            raise InvalidArgument(f"{name} {text!r} is a folder; give the path of a file to write")
        targets = [p]
        _check_creatable(name, text, p.parent)
    given = [os.fspath(i) for i in inputs if i is not None]
    for t in targets:
        where = str(t)
        if os.path.isdir(t):
            raise InvalidArgument(f"{name} {text!r}: {where!r} is a folder where a file is to be written")
        if os.path.exists(t) and not stat.S_ISREG(os.stat(t).st_mode):
            raise InvalidArgument(f"{name} {text!r}: {where!r} is not a regular file (a device, pipe or socket); "
                                  "give a path of a regular file")
        for i in given:
            if _same_file(where, i):
                what = f"{where!r} is {i!r}" if where != i else f"{where!r} is"
                raise InvalidArgument(f"{name} {text!r}: {what} an input of this command (the same file); writing it "
                                      "would destroy the input: give another path")
        own = allow_database and t.name == DATABASE_FILES[0]
        if not own and (os.path.basename(os.path.realpath(t)) in DATABASE_FILES or t.name in DATABASE_FILES):
            raise InvalidArgument(f"{name} {text!r} names a results database ({', '.join(DATABASE_FILES)}); "
                                  "give another file name")
        if not own and _is_duckdb(where):
            raise InvalidArgument(f"{name} {text!r} is a DuckDB database; writing it would destroy the database: "
                                  "give another path")
    return p


def _under(path: str, folder: str) -> bool:
    """``path`` is ``folder`` or lies in it."""
    path, folder = os.path.abspath(path), os.path.abspath(folder)
    try:
        return os.path.commonpath([path, folder]) == folder
    except ValueError:
        return False


@contextlib.contextmanager
def output_errors(path: str | os.PathLike[str] | None, *, name: str = "--out", folder: bool = False) -> Iterator[None]:
    """Turn an ``OSError`` about the output ``path`` (the folder of the outputs, one of its
    parents, a file in it) raised in the block into an :class:`InvalidArgument` naming the path
    and the reason: what :func:`check_output` cannot know up front (``/proc``, a disk that fills).
    Any other ``OSError`` passes through: it is not about what the caller gave.  ``path=None``
    (no output file: stdout) lets every error through."""
    try:
        yield
    except OSError as exc:
        if path is None:
            raise
        text = os.fspath(path)
        anchor = text if folder else (os.path.dirname(text) or ".")
        about = [os.fspath(f) for f in (exc.filename, exc.filename2) if isinstance(f, (str, os.PathLike))]
        ours = any(_under(f, anchor) or _under(anchor, f) for f in about) if about else exc.errno in _WRITE_ERRNOS
        if not ours or isinstance(exc, (BrokenPipeError, InterruptedError)):
            raise
        reason = (exc.strerror or os.strerror(exc.errno)) if exc.errno else str(exc)
        # a folder on the way that could not be made is worth naming; a temporary file is not
        up = [f for f in about if _under(anchor, f)]
        where = f" ({up[0]!r})" if up and up[0] != text else ""
        raise InvalidArgument(f"{name} {text!r}: cannot write there{where}: {reason}") from None


_BYTE_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB")


def format_bytes(n: int) -> str:
    """Bytes as "2.1 GiB" or "64 MiB"; past 1024 EiB as "more than 2^N B".

    Sizes such as a subset sum's grow like 2^(k/2): the figure stays an int (a float overflows past
    2^1024) and a huge one is named by its power of two."""
    n = int(n)
    if n < 1024:
        return f"{n} B"
    for i, unit in enumerate(_BYTE_UNITS[1:], start=1):
        if n < 1024 ** (i + 1):
            return f"{n / 1024**i:.3g} {unit}"
    return f"more than 2^{n.bit_length() - 1} B"
