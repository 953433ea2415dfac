"""Declared experiments: sweeps of minimal-width searches into a results database.

    from prunegap.sweep import load_config, run_sweep
    config = load_config("my.toml", quick=True)     # or load_config() for the defaults
    run_sweep(config, "out/gap", workers=2)         # resumable; one DuckDB row per trial

The report (:mod:`prunegap.report`) reads the folder back.
"""

from .config import Analysis, Study, SweepConfig, default_toml, load_config, parse_config
from .runner import SweepRun, plan, run_sweep
from .store import DB_NAME, Store, masks_of
from .trials import Trial, run_trial

__all__ = [
    "Analysis",
    "Study",
    "SweepConfig",
    "default_toml",
    "load_config",
    "parse_config",
    "SweepRun",
    "plan",
    "run_sweep",
    "DB_NAME",
    "Store",
    "masks_of",
    "Trial",
    "run_trial",
]
