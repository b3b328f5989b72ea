"""Magnitude pruning with tfmot: measured sparsity after strip, 2:4 pattern, original untouched."""

from __future__ import annotations

import numpy as np
import pytest

from edgeforge.passes.prune_magnitude import PruneMagnitudeConfig, kernel_sparsity, prune_magnitude
from passes_models import context, trained_cnn


def test_magnitude_sparsity_after_strip():
    model = trained_cnn()
    original = [w.copy() for w in model.get_weights()]
    result = prune_magnitude(model, PruneMagnitudeConfig(target_sparsity=0.5, epochs=2), context())
    assert not any("prune_low_magnitude" in layer.name for layer in result.model.layers)
    by_kernel = kernel_sparsity(result.model)
    for name in ("branch_a/kernel", "mix/kernel", "hidden/kernel", "sep/pointwise_kernel"):
        assert by_kernel[name] == pytest.approx(0.5, abs=0.02), name
    assert result.changes["sparsity"] == pytest.approx(0.5, abs=0.05)
    for before, after in zip(original, model.get_weights()):
        np.testing.assert_array_equal(before, after)


def test_magnitude_two_of_four():
    result = prune_magnitude(trained_cnn(), PruneMagnitudeConfig(m_by_n="2:4", epochs=1), context())
    kernel = result.model.get_layer("hidden").get_weights()[0]
    # Blocks of 4 run along the input-channel axis (rows of a Dense kernel).
    blocks = kernel.T.reshape(kernel.shape[1], -1, 4)
    nonzero = np.count_nonzero(blocks, axis=-1)
    assert nonzero.max() <= 2
    assert result.changes["sparsity_by_kernel"]["hidden/kernel"] == pytest.approx(0.5, abs=0.01)


def test_magnitude_rejects_bad_pattern():
    with pytest.raises(ValueError, match="m_by_n must look like '2:4' with M < N, found '4:2'"):
        PruneMagnitudeConfig(m_by_n="4:2")
