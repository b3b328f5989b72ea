"""Knowledge distillation into a derived or given student."""

from __future__ import annotations

import numpy as np
import pytest

from edgeforge.errors import ModelLoadError
from edgeforge.passes.common import count_params
from edgeforge.passes.distill import DistillConfig, derive_student, distill
from passes_models import context, trained_cnn


def test_distill_lowers_soft_loss():
    result = distill(trained_cnn(), DistillConfig(width=0.5, epochs=3), context())
    assert result.changes["soft_loss_after"] < 0.7 * result.changes["soft_loss_before"]
    assert count_params(result.model) < count_params(trained_cnn()) / 2


def test_derived_student_channels_are_multiples_of_8():
    student = derive_student(trained_cnn(), width=0.5, channel_multiple=8, init="teacher", seed=0)
    assert student.get_layer("stem").filters == 8
    assert student.get_layer("branch_a").filters == 16
    assert student.get_layer("hidden").units == 16
    assert student.get_layer("logits").units == 10


def test_distill_same_seed_same_weights():
    config = DistillConfig(width=0.5, epochs=1, init="random")
    first = distill(trained_cnn(), config, context(seed=3)).model.get_weights()
    second = distill(trained_cnn(), config, context(seed=3)).model.get_weights()
    for a, b in zip(first, second):
        np.testing.assert_allclose(a, b, atol=1e-6)


def test_distill_without_labels():
    result = distill(trained_cnn(), DistillConfig(width=0.5, epochs=2), context(labels=False))
    assert any("no labels" in note for note in result.notes)
    assert result.changes["soft_loss_after"] < result.changes["soft_loss_before"]


def test_distill_feature_matching():
    config = DistillConfig(width=0.5, epochs=1, feature_layers=["mix"])
    result = distill(trained_cnn(), config, context())
    assert result.changes["soft_loss_after"] < result.changes["soft_loss_before"]


def test_distill_given_student(tmp_path):
    student = derive_student(trained_cnn(), width=0.5, channel_multiple=8, init="random", seed=1)
    path = tmp_path / "student.keras"
    student.save(path)
    result = distill(trained_cnn(), DistillConfig(student_path=str(path), epochs=1), context())
    assert count_params(result.model) == count_params(student)
    assert result.changes["student"] == f"loaded from {path}"


def test_distill_missing_student_file(tmp_path):
    config = DistillConfig(student_path=str(tmp_path / "absent.keras"), epochs=1)
    with pytest.raises(ModelLoadError, match="student model not found: .*absent.keras"):
        distill(trained_cnn(), config, context())
