"""Project budget files: shared budgets, per-target overrides and their errors."""

from __future__ import annotations

import pytest

from edgeforge.errors import ProfileError
from edgeforge.validate.budgets import read_budget_file


def test_target_budgets_override_shared(tmp_path):
    path = tmp_path / "budgets.yaml"
    path.write_text("budgets: {max_accuracy_drop: 0.5, max_size_kib: 512}\n"
                    "targets:\n  cortex-m7: {budgets: {max_size_kib: 256}}\n")
    assert read_budget_file(path, "cortex-m7") == {"max_accuracy_drop": 0.5, "max_size_kib": 256.0}
    assert read_budget_file(path, "host") == {"max_accuracy_drop": 0.5, "max_size_kib": 512.0}


@pytest.mark.parametrize(
    "text, message",
    [
        ("budgets: {max_acuracy_drop: 1}\n", r"unknown budget 'max_acuracy_drop' \(did you mean 'max_accuracy_drop'\?\)"),
        ("budgets: {max_size_kib: -1}\n", r"budget 'max_size_kib' must be a finite number >= 0, found -1"),
        ("budgets: {max_size_kib: .inf}\n", r"must be a finite number >= 0, found inf"),
        ("budget: {}\n", r"unknown key 'budget'; allowed keys: budgets, targets"),
        ("targets: {host: {max_size_kib: 1}}\n", r"targets.host may only contain 'budgets'"),
        ("- a list\n", r"expected a mapping of budget file keys at the top level, found list"),
    ],
    ids=["typo", "negative", "infinite", "top-key", "target-key", "not-mapping"],
)
def test_budget_file_errors(tmp_path, text, message):
    path = tmp_path / "budgets.yaml"
    path.write_text(text)
    with pytest.raises(ProfileError, match=message):
        read_budget_file(path, "host")


def test_api_budgets_are_checked(digits_cnn, digits_npz, tmp_path):
    from edgeforge.errors import UsageError
    from edgeforge.pipeline.build import compile_model

    with pytest.raises(UsageError, match=r"unknown budget 'max_sise_kib' \(did you mean 'max_size_kib'\?\)"):
        compile_model(digits_cnn, target="host", data=digits_npz, out_dir=tmp_path, budgets={"max_sise_kib": 5})
    with pytest.raises(UsageError, match=r"budget 'max_size_kib' must be a finite number >= 0, found nan"):
        compile_model(digits_cnn, target="host", data=digits_npz, out_dir=tmp_path,
                      budgets={"max_size_kib": float("nan")})
