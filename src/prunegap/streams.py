"""The one table of stream purposes: every seeded Generator of prunegap is ``stream_generator(seed, purpose)``.

Reproducibility (docs/theory.md §6): everything is a pure function of
(config, seed), with one explicit numpy Generator per purpose and no global
seeding.  A purpose is a fixed number mixed into the seed's SeedSequence
(its ``spawn_key``), so the streams of one seed are independent and each
stays the same whatever else is drawn: giving w by hand does not change the
random network, a data set never shifts it, and so on.

The numbers are fixed forever: changing one changes every result drawn from
it.  A new purpose takes a new number (tests/test_setting_network.py pins
the table and checks that no number is used twice).
"""

from __future__ import annotations

import numpy as np

from ._validation import check_int, check_seed

__all__ = ["PURPOSES", "TARGET", "UNITS", "EVAL", "TARGET_NETWORK", "DATA", "MIP_SAMPLE", "SCORES", "BATCHES",
           "LOCAL_SEARCH", "TEACHER", "PLANTED_ROWS", "DEEP_LAYERS", "MAX_DEEP_LAYERS", "deep_layer",
           "stream_generator"]

# The core (setting, network, targets, evaluators, solvers).
TARGET = 0  # w of a one-neuron target drawn on the sphere (targets.draw_target); also the phase of a network target's MIP sample
UNITS = 1  # the random network's units (network.UnitStream; torch.popup.draw_network draws multi-output units from it)
EVAL = 2  # seeded evaluation points: a construction ticket's sampled bounds, a network target's lower bound
TARGET_NETWORK = 3  # the layers of a network target drawn from the seed (targets.draw_target_network)
MIP_SAMPLE = 17  # the cutting-plane MIP's first sample points in d >= 3 (solvers.mip.sample.initial_points)
LOCAL_SEARCH = 20  # the tabu search's tenures, split further by width (solvers.mip.loop)
PLANTED_ROWS = 99  # the pruned coordinates of a planted construction ticket's rows (planted.py)
DEEP_LAYERS = 1000  # DEEP_LAYERS + l: the units of expanded layer l of the layer-wise construction (solvers.deep)
# edge-popup (torch/): numbers of their own, so that a data set or a training run never shifts the network.
DATA = 16  # the digits split / the teacher's input points (from data_seed; torch.data)
SCORES = 18  # edge-popup's initial scores (a torch.Generator seeded from it; torch.popup)
BATCHES = 19  # edge-popup's batch order (a torch.Generator seeded from it; torch.popup)
TEACHER = 21  # the planted teacher's units beyond w_1 (torch.data; 17 in 0.1, a number the MIP sample also used)

#: Expanded layers of the layer-wise construction: one per target layer (Setting.target_depth <= 64) and the output.
MAX_DEEP_LAYERS = 65

#: Every fixed purpose by name (DEEP_LAYERS is the first of a range of MAX_DEEP_LAYERS numbers).
PURPOSES: dict[str, int] = {
    "target": TARGET,
    "units": UNITS,
    "eval": EVAL,
    "target_network": TARGET_NETWORK,
    "data": DATA,
    "mip_sample": MIP_SAMPLE,
    "scores": SCORES,
    "batches": BATCHES,
    "local_search": LOCAL_SEARCH,
    "teacher": TEACHER,
    "planted_rows": PLANTED_ROWS,
    "deep_layers": DEEP_LAYERS,
}


def deep_layer(layer: int) -> int:
    """The purpose of expanded layer ``layer`` (0-based) of the layer-wise construction."""
    return DEEP_LAYERS + check_int("layer", layer, minimum=0, maximum=MAX_DEEP_LAYERS - 1)


def stream_generator(seed: int, purpose: int, *keys: int) -> np.random.Generator:
    """The Generator of one purpose (see the table above) of a seed.

    ``keys`` split a purpose further (e.g. one stream per width); without
    them the stream is the purpose's own, unchanged.
    """
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(check_seed(seed), spawn_key=(purpose, *keys))))
