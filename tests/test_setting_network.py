import numpy as np
import pytest

from prunegap import InvalidArgument, Setting, UnitStream, draw_instance, draw_target, streams
from prunegap.streams import PURPOSES, stream_generator
from prunegap.torch.data import sphere_points, teacher


@pytest.mark.parametrize("init", ["uniform", "gaussian"])
@pytest.mark.parametrize("d", [1, 2, 5])
def test_prefix_nesting(init, d):
    s = Setting(d=d, init=init)
    wide = draw_instance(s, 7, 300)
    for n in [1, 5, 63, 64, 65, 129, 300]:
        narrow = draw_instance(s, 7, n)
        np.testing.assert_array_equal(narrow.U, wide.U[:n])
        np.testing.assert_array_equal(narrow.v, wide.v[:n])
        np.testing.assert_array_equal(narrow.w, wide.w)
        np.testing.assert_array_equal(wide.prefix(n).U, narrow.U)


def test_stream_independent_of_request_order():
    s = Setting(d=3)
    a = UnitStream(s, 11)
    for n in [10, 3, 200, 70]:
        a.take(n)
    b = UnitStream(s, 11)
    Ua, va = a.take(250)
    Ub, vb = b.take(250)
    np.testing.assert_array_equal(Ua, Ub)
    np.testing.assert_array_equal(va, vb)


def test_seeds_differ_and_reproduce():
    s = Setting(d=2)
    assert not np.array_equal(draw_instance(s, 1, 10).U, draw_instance(s, 2, 10).U)
    np.testing.assert_array_equal(draw_instance(s, 1, 10).U, draw_instance(s, 1, 10).U)


def test_laws():
    U, v = UnitStream(Setting(d=4, init="uniform"), 0).take(20000)
    assert U.min() >= -1 and U.max() <= 1 and abs(U.mean()) < 0.02 and abs(U.var() - 1 / 3) < 0.01
    U, v = UnitStream(Setting(d=4, init="gaussian"), 0).take(20000)
    assert abs(U.var() - 1) < 0.03 and abs(v.var() - 1) < 0.05 and np.abs(U).max() > 1


def test_target_on_sphere_and_given_target_keeps_network():
    s = Setting(d=3)
    w = draw_target(s, 5)
    assert abs(np.linalg.norm(w) - 1) < 1e-12
    g = Setting(d=3, w=(0.0, 3.0, 4.0))
    np.testing.assert_array_equal(draw_target(g, 5), [0.0, 3.0, 4.0])
    np.testing.assert_array_equal(draw_instance(s, 5, 9).U, draw_instance(g, 5, 9).U)


def test_target_uniform_on_circle():
    angles = np.array([np.arctan2(*draw_target(Setting(d=2), s)[::-1]) for s in range(2000)])
    hist, _ = np.histogram(angles, bins=8, range=(-np.pi, np.pi))
    assert hist.min() > 180  # 250 expected per bin


@pytest.mark.parametrize(
    "kwargs, needle",
    [
        (dict(d=0), r"d must be an integer in \[1, 64\], got 0"),
        (dict(d=2, init="unifrom"), "did you mean 'uniform'"),
        (dict(d=2, output="tanh"), "output must be one of 'relu', 'linear'"),
        (dict(d=2, norm="l3"), "norm must be one of"),
        (dict(d=2, w=(1.0,)), "w must be a vector of length 2"),
        (dict(d=2, w=(0.0, 0.0)), "nonzero"),
        (dict(d=2, w=(np.nan, 1.0)), "finite"),
    ],
)
def test_setting_validation(kwargs, needle):
    with pytest.raises(InvalidArgument, match=needle.replace("(", r"\(").replace(")", r"\)")):
        Setting(**kwargs)


def test_invalid_width_and_seed():
    with pytest.raises(InvalidArgument, match="width"):
        draw_instance(Setting(d=2), 0, 0)
    with pytest.raises(InvalidArgument, match="seed"):
        draw_instance(Setting(d=2), -1, 3)


def test_io_roundtrip_and_corrupt_files(tmp_path):
    from prunegap import Masks
    from prunegap.io import read_ticket, write_ticket

    inst = draw_instance(Setting(d=3), 0, 6)
    m = Masks.from_units(np.array([1, 0, 1, 1, 0, 0]), 3)
    p = write_ticket(tmp_path / "t.npz", inst.w, inst.U, inst.v, m)
    t = read_ticket(p)
    np.testing.assert_array_equal(t.U, inst.U)
    np.testing.assert_array_equal(t.masks.hidden_mask, m.hidden_mask)
    (tmp_path / "bad.npz").write_bytes(p.read_bytes()[:100])
    with pytest.raises(InvalidArgument, match="not a readable .npz ticket"):
        read_ticket(tmp_path / "bad.npz")
    with pytest.raises(InvalidArgument, match="does not exist"):
        read_ticket(tmp_path / "nope.npz")
    np.savez(tmp_path / "partial.npz", w=inst.w)
    with pytest.raises(InvalidArgument, match="lacks array"):
        read_ticket(tmp_path / "partial.npz")
    np.savez(tmp_path / "shape.npz", w=inst.w, U=inst.U, v=inst.v[:2], hidden_mask=m.hidden_mask, output_mask=m.output_mask)
    with pytest.raises(InvalidArgument, match="inconsistent shapes"):
        read_ticket(tmp_path / "shape.npz")


# --- the table of stream purposes (prunegap.streams) ------------------------------------------


def test_stream_purposes_are_distinct_and_pinned():
    # every result is drawn from these numbers: changing one changes results (a CHANGELOG entry)
    assert PURPOSES == {"target": 0, "units": 1, "eval": 2, "target_network": 3, "data": 16, "mip_sample": 17,
                        "scores": 18, "batches": 19, "local_search": 20, "teacher": 21, "planted_rows": 99,
                        "deep_layers": 1000}
    fixed = [p for name, p in PURPOSES.items() if name != "deep_layers"]
    assert len(set(PURPOSES.values())) == len(PURPOSES)
    deep = range(streams.DEEP_LAYERS, streams.DEEP_LAYERS + streams.MAX_DEEP_LAYERS)
    assert not set(fixed) & set(deep)  # the expanded layers' range overlaps no other purpose
    assert [streams.deep_layer(l) for l in (0, 64)] == [1000, 1064]
    with pytest.raises(InvalidArgument):
        streams.deep_layer(streams.MAX_DEEP_LAYERS)


def _raw(seed: int, *key: int) -> np.random.Generator:
    """The derivation every stream used before the table: PCG64 on SeedSequence(seed, spawn_key)."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=key)))


@pytest.mark.parametrize("seed", [0, 7])
def test_streams_draw_what_they_drew_before_the_table(seed):
    g = _raw(seed, 0).standard_normal(3)
    np.testing.assert_array_equal(draw_target(Setting(d=3), seed), g / np.linalg.norm(g))
    units = _raw(seed, 1).uniform(-1.0, 1.0, (64, 4))
    U, v = UnitStream(Setting(d=3), seed).take(64)
    np.testing.assert_array_equal(U, units[:, :3])
    np.testing.assert_array_equal(v, units[:, 3])
    for purpose in PURPOSES.values():
        np.testing.assert_array_equal(stream_generator(seed, purpose, 5).random(4), _raw(seed, purpose, 5).random(4))


def test_teacher_units_have_a_stream_of_their_own():
    # the teacher's extra units once shared 17 with the MIP's sample points: now TEACHER (21)
    t = teacher(d=3, seed=4, teacher_width=3, n_train=16, n_test=8)
    W = np.vstack([draw_target(Setting(d=3), 4), sphere_points(2, 3, _raw(4, 21))])
    np.testing.assert_array_equal(t.y_train, np.maximum(t.X_train @ W.T, 0.0).mean(axis=1))
    other = np.vstack([W[:1], sphere_points(2, 3, _raw(4, 17))])
    assert not np.allclose(t.y_train, np.maximum(t.X_train @ other.T, 0.0).mean(axis=1))
