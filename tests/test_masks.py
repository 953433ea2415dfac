import numpy as np
import pytest

from prunegap import InvalidArgument, Masks


def test_accounting_counts_only_live_weights():
    hidden = np.array([[1, 1], [1, 0], [0, 0], [1, 1]])
    out = np.array([1, 0, 1, 1])
    m = Masks(hidden, out)
    # unit 1 has no output weight, unit 2 no input weight: both dead
    assert m.kept_units == 2
    assert m.kept_weights == 2 + 2 + 1 + 1
    assert m.total_weights == 4 * 3
    assert m.density == pytest.approx(6 / 12)
    assert m.sparsity == pytest.approx(6 / 12)
    c = m.canonical()
    np.testing.assert_array_equal(c.output_mask, [1, 0, 0, 1])
    np.testing.assert_array_equal(c.hidden_mask, [[1, 1], [0, 0], [0, 0], [1, 1]])
    assert c.is_subset_of(m) and c.is_neuron_pattern()
    assert not m.is_neuron_pattern() or m.canonical().is_neuron_pattern()


def test_apply_keeps_weights_untouched(rng):
    U, v = rng.uniform(-1, 1, (5, 3)), rng.uniform(-1, 1, 5)
    U0, v0 = U.copy(), v.copy()
    m = Masks(rng.integers(0, 2, (5, 3)), rng.integers(0, 2, 5))
    A, b = m.apply(U, v)
    np.testing.assert_array_equal(U, U0)
    np.testing.assert_array_equal(v, v0)
    live = m.unit_mask.astype(bool)
    np.testing.assert_array_equal(A, (U * m.hidden_mask)[live])
    np.testing.assert_array_equal(b, v[live])


def test_from_units_extend_and_validation():
    m = Masks.from_units(np.array([1, 0, 1]), 2)
    assert m.is_neuron_pattern() and m.kept_units == 2 and m.kept_weights == 6
    e = m.extend(5)
    assert e.width == 5 and e.kept_units == 2
    with pytest.raises(InvalidArgument, match="only 0 and 1"):
        Masks(np.array([[2, 0]]), np.array([1]))
    with pytest.raises(InvalidArgument, match="shape"):
        Masks(np.ones((3, 2)), np.ones(2))
    with pytest.raises(InvalidArgument):
        m.extend(2)
