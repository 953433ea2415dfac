"""Properties: config parsing never fails but with InvalidArgument naming the
key, and the solvers' answers keep their invariants on random tiny instances
(a "yes" is never above eps by the exact evaluator, masks only prune, a
ticket keeps its error on every wider network of the stream)."""

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, event, example, given, settings
from hypothesis import strategies as st

from prunegap import Masks, Setting, draw_instance, evaluate, solve
from prunegap.exceptions import InvalidArgument
from prunegap.sweep.config import SweepConfig, default_toml, load_config, parse_config, read_toml
from prunegap.sweep.config.validate import _ANALYSIS_KEYS, _QUICK_KEYS, _SETTING_KEYS, _STUDY_KEYS, TOP_KEYS
from prunegap.solvers import method_available

# TOML values: what a parsed file can hold (64-bit integers, any float).
scalars = st.one_of(
    st.integers(-(2**63), 2**63 - 1),
    st.integers(-3, 70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(1e-7, 0.999),
    st.booleans(),
    st.text(max_size=12),
    st.sampled_from(["weight", "neuron", "construction", "exact", "mip", "uniform", "relu", "sup", "power", "d2"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=8,
)


def sometimes(strategy):
    """``strategy`` a third of the time, else an empty table: mostly valid documents."""
    return st.one_of(st.just({}), st.just({}), strategy)


def near(keys):
    """A valid key, or a near miss of one (a typo), or anything."""
    typo = st.sampled_from(keys).flatmap(
        lambda k: st.sampled_from([k[:-1], k + "s", k.upper(), k[1:] + k[0], k.replace("_", "-")]).filter(lambda t: t and t not in keys)
    )
    return st.one_of(st.sampled_from(keys), st.sampled_from(keys), typo, st.text(min_size=1, max_size=10))


# Mostly valid pieces, so that valid configs come up too, not only rejections.
eps_lists = st.lists(st.floats(1e-6, 0.5), min_size=1, max_size=3, unique=True)
dim_lists = st.lists(st.integers(1, 4), min_size=1, max_size=2, unique=True)
studies = st.fixed_dictionaries(
    {"paradigm": st.sampled_from(["weight", "neuron"])},
    optional={
        "method": st.sampled_from(["construction", "exact", "mip"]),
        "max_width": st.one_of(st.integers(1, 5000), values),
        "eps": st.one_of(eps_lists, values),
        "dims": st.one_of(dim_lists, values),
        "grid": st.one_of(st.dictionaries(st.sampled_from(["d2", "d3", "x"]), eps_lists, min_size=1, max_size=2), values),
        "eps_floor": st.one_of(st.dictionaries(st.sampled_from(["d2", "d3"]), st.floats(1e-6, 0.9)), values),
        "options": st.one_of(st.dictionaries(near(["node_limit", "tol", "memory_budget"]), st.integers(1, 10**6), max_size=2), values),
        "fit": st.one_of(st.sampled_from(["power", "log", "none", "linear"]), values),
        "name": st.one_of(st.text(min_size=1, max_size=8), values),
    },
).flatmap(lambda d: sometimes(st.dictionaries(near(list(_STUDY_KEYS)), values, max_size=1)).map(lambda extra: {**d, **extra}))
documents = st.fixed_dictionaries(
    {},
    optional={
        "seeds": st.one_of(st.integers(1, 5), st.lists(st.integers(0, 50), min_size=1, max_size=4), values),
        "dims": st.one_of(dim_lists, values),
        "eps": st.one_of(eps_lists, values),
        "time_limit": st.one_of(st.floats(0.1, 100), values),
        "setting": st.one_of(st.fixed_dictionaries({}, optional={"init": st.sampled_from(["uniform", "gaussian"]), "output": st.sampled_from(["relu", "linear"])}), st.dictionaries(near(list(_SETTING_KEYS)), values, max_size=2), values),
        "analysis": st.one_of(st.dictionaries(near(list(_ANALYSIS_KEYS)), values, max_size=2), values),
        "quick": st.one_of(st.dictionaries(near(list(_QUICK_KEYS)), values, max_size=2), values),
        "studies": st.one_of(st.lists(studies, min_size=1, max_size=2), values),
    },
).flatmap(lambda d: sometimes(st.dictionaries(near(list(TOP_KEYS)), values, max_size=2)).map(lambda extra: {**extra, **d}))


@settings(max_examples=600, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(doc=documents, quick=st.booleans())
def test_any_document_gives_a_config_or_one_clear_error(doc, quick):
    unknown = [k for k in doc if k not in TOP_KEYS]
    try:
        cfg = parse_config(doc, quick=quick, source="sweep.toml")
    except InvalidArgument as exc:
        message = str(exc)
        event("rejected: " + message.split(":")[1].split()[0])
        assert message.startswith("sweep.toml: ") and "\n" not in message
        if unknown:  # the first unknown key is named, with the allowed ones
            assert f"unknown key {unknown[0]!r}" in message and "allowed keys" in message
        return
    event("valid")
    assert not unknown
    assert isinstance(cfg, SweepConfig) and cfg.trials()
    assert all(0 < t.eps < 1 and 1 <= t.d <= 64 for t in cfg.trials()[:1000])
    assume(len(cfg.trials()) <= 5000)  # the round trip below lists every trial
    again = parse_config(read_toml(cfg.to_toml(), "resolved"), source="resolved")
    assert again.fingerprint() == cfg.fingerprint() and again.trials() == cfg.trials()


@settings(max_examples=200)
@given(data=st.data())
def test_any_damaged_toml_file_gives_a_config_or_one_clear_error(tmp_path_factory, data):
    text = default_toml()
    for _ in range(data.draw(st.integers(1, 3))):
        i = data.draw(st.integers(0, len(text)))
        how = data.draw(st.sampled_from(["cut", "insert", "delete"]))
        if how == "cut":
            text = text[:i]
        elif how == "insert":
            text = text[:i] + data.draw(st.sampled_from(["=", "[", "]", '"', "\n", "x", "0", "-", "{", ",", "\\", "\x00"])) + text[i:]
        else:
            text = text[:i] + text[i + data.draw(st.integers(1, 20)):]
    path = tmp_path_factory.mktemp("toml") / "damaged.toml"
    path.write_text(text, encoding="utf-8")
    try:
        cfg = load_config(path)
    except InvalidArgument as exc:
        assert str(exc).startswith(str(path)) and "\n" not in str(exc)
    else:
        assert cfg.trials()


def test_an_empty_grid_anywhere_is_refused():
    base = {"seeds": 2, "eps": [0.1], "studies": [{"paradigm": "weight"}]}
    for doc, key in [
        ({**base, "eps": []}, "eps must be a non-empty list"),
        ({**base, "seeds": []}, "seeds must be a non-empty list"),
        ({**base, "dims": []}, "dims must be a non-empty list"),
        ({**base, "studies": [{"paradigm": "weight", "grid": {}}]}, "studies[0].grid must list at least one dimension"),
        ({**base, "studies": [{"paradigm": "weight", "grid": {"d2": []}}]}, "studies[0].grid.d2 must be a non-empty list"),
        ({**base, "studies": [{"paradigm": "weight", "eps": []}]}, "studies[0].eps must be a non-empty list"),
    ]:
        with pytest.raises(InvalidArgument) as info:
            parse_config(doc)
        assert key in str(info.value)


# solver invariants ---------------------------------------------------------------------------
def _check_ticket(setting: Setting, seed: int, width: int, eps: float, r, extra: int) -> None:
    inst = draw_instance(setting, seed, width)
    m = r.masks
    # masks only prune: 0/1 arrays of the network's shape, a subset of keeping everything
    assert m.hidden_mask.shape == (width, setting.d) and m.output_mask.shape == (width,)
    assert set(np.unique(m.hidden_mask)) <= {0, 1} and set(np.unique(m.output_mask)) <= {0, 1}
    assert m.is_subset_of(Masks.full(width, setting.d))
    np.testing.assert_array_equal(r.instance.U, inst.U)  # the random weights are never edited
    np.testing.assert_array_equal(r.instance.v, inst.v)
    err = evaluate(inst, m)
    if r.certified == "yes":  # never above eps by the exact evaluator
        assert err.upper <= eps
        assert r.error_upper <= eps
    assert r.error_lower <= err.upper + 1e-12  # the proven lower end holds for this mask too
    # nesting: the same ticket on a wider network of the stream has the same error
    wide = draw_instance(setting, seed, width + extra)
    np.testing.assert_array_equal(wide.U[:width], inst.U)
    again = evaluate(wide, m.extend(width + extra))
    assert again.lower == pytest.approx(err.lower, rel=1e-12, abs=1e-15)
    assert again.upper == pytest.approx(err.upper, rel=1e-12, abs=1e-15)


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 10**6),
    width=st.one_of(st.integers(1, 20), st.integers(20, 80)),  # wider: slow exact subset sums
    eps=st.one_of(st.floats(1e-4, 0.05), st.floats(0.05, 0.9)),
    output=st.sampled_from(["relu", "linear"]),
    extra=st.integers(1, 20),
)
@example(seed=1, width=60, eps=0.1, output="relu", extra=5)  # certifies (n* = 42)
def test_weight_construction_invariants(seed, width, eps, output, extra):
    setting = Setting(d=2, output=output)
    r = solve(setting, width=width, seed=seed, eps=eps, paradigm="weight", method="construction")
    event(f"verdict {r.certified}")
    _check_ticket(setting, seed, width, eps, r, extra)
    assert r.error_lower == 0.0  # the construction proves nothing about other masks
    assert all(int(row.sum()) <= 1 for row in r.masks.hidden_mask)  # one weight per kept unit


@pytest.mark.skipif(not method_available("neuron", "mip"), reason="the neuron MIP is not installed")
@settings(max_examples=50, deadline=None)
@given(
    seed=st.integers(0, 10**6),
    width=st.integers(1, 10),
    eps=st.one_of(st.floats(0.05, 0.3), st.floats(0.3, 0.95)),
    output=st.sampled_from(["relu", "linear"]),
    extra=st.integers(1, 10),
)
def test_neuron_mip_invariants(seed, width, eps, output, extra):
    from _brute import neuron_errors

    setting = Setting(d=2, output=output)
    r = solve(setting, width=width, seed=seed, eps=eps, paradigm="neuron", method="mip")
    event(f"verdict {r.certified}")
    _check_ticket(setting, seed, width, eps, r, extra)
    assert r.masks.is_neuron_pattern()  # whole units kept or dropped
    inst = draw_instance(setting, seed, width)
    _, errors = neuron_errors(inst.U, inst.v, inst.w, output)
    if r.certified == "no":  # a "no" is a proof: no neuron mask reaches eps
        assert errors.min() > eps
    if r.certified == "yes":
        assert errors.min() <= eps
    assert math.isfinite(r.error_lower) and r.error_lower <= errors.min() + 1e-9


@pytest.mark.parametrize("method, options, name", [
    ("mip", {"local_search": -3}, "local_search"),
    ("mip", {"node_limit": 0}, "node_limit"),
    ("mip", {"local_rows": 99}, "local_rows"),
    ("mip", {"backend": "gurobi"}, "backend"),
    ("exact", {"max_rounds": 0}, "max_rounds"),
])
def test_bad_solver_option_values_are_refused_up_front(method, options, name):
    paradigm = "neuron" if method == "mip" else "weight"
    doc = {"seeds": [0], "dims": [2], "eps": [0.1], "studies": [{"paradigm": paradigm, "method": method, "options": options}]}
    with pytest.raises(InvalidArgument, match=rf"^sweep.toml: studies\[0\]\.options: .*{name}"):
        parse_config(doc, source="sweep.toml")
    good = {k: v for k, v in doc.items()}
    good["studies"] = [{"paradigm": paradigm, "method": method, "options": {"local_search": 0, "node_limit": 5}}]
    assert parse_config(good, source="sweep.toml").trials()[0].options == (("local_search", 0), ("node_limit", 5))
