"""Declared experiments: a sweep is a TOML file, validated at the boundary.

* :mod:`.model`: the resolved config (:class:`SweepConfig`, :class:`Study`,
  :class:`PopupStudy`, :class:`Analysis`), its trials and fingerprint;
* :mod:`.defaults`: the shipped defaults and a user's file laid over them
  (:func:`load_config`, :func:`parse_config`);
* :mod:`.validate`: every value checked once, naming the key by its path;
* :mod:`.files`: TOML text in and out (:func:`read_toml`, :func:`write_toml`).
"""

from .defaults import default_toml, load_config, parse_config
from .files import read_toml, write_toml
from .model import DEFAULT_FIT, FITS, Analysis, PopupStudy, Study, SweepConfig
from .validate import POPUP_OPTIONS

__all__ = [
    "SweepConfig",
    "Study",
    "Analysis",
    "PopupStudy",
    "FITS",
    "DEFAULT_FIT",
    "POPUP_OPTIONS",
    "default_toml",
    "load_config",
    "parse_config",
    "read_toml",
    "write_toml",
]
