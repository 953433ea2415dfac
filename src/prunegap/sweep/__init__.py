"""Declared experiments: sweeps of minimal-width searches into a results database.

    from prunegap.sweep import load_config, run_sweep
    config = load_config("my.toml", quick=True)     # or load_config() for the defaults
    run_sweep(config, "out/gap", workers=2)         # resumable; one DuckDB row per trial
    run_sweep(config, "out/gap", executor="dask", scheduler="tcp://10.0.0.5:8786")
    run_popup_sweep(config, "out/gap", workers=2)   # the popup study, into the same folder
    run_sweep(config, "shards/2", shard="2/8")       # the 2nd of 8 parts; then:
    merge_shards("out/gap", ["shards/1", ..., "shards/8"])

The report (:mod:`prunegap.report`) reads the folder back.
"""

from .config import Analysis, PopupStudy, Study, SweepConfig, default_toml, load_config, parse_config
from .executors import EXECUTORS, DaskExecutor, InlineExecutor, LocalExecutor, make_executor
from .merge import MergeRun, Shard, merge_shards
from .popup import PopupTrial
from .runner import PopupRun, SweepRun, plan, run_popup_sweep, run_sweep
from .sandbox import AttemptResult, run_attempt
from .store import DB_NAME, Store, masks_of
from .trials import Trial, run_trial

__all__ = [
    "Analysis",
    "PopupStudy",
    "Study",
    "SweepConfig",
    "default_toml",
    "load_config",
    "parse_config",
    "EXECUTORS",
    "DaskExecutor",
    "InlineExecutor",
    "LocalExecutor",
    "make_executor",
    "MergeRun",
    "Shard",
    "merge_shards",
    "PopupTrial",
    "PopupRun",
    "SweepRun",
    "plan",
    "run_popup_sweep",
    "run_sweep",
    "AttemptResult",
    "run_attempt",
    "DB_NAME",
    "Store",
    "masks_of",
    "Trial",
    "run_trial",
]
