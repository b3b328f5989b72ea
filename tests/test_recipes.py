"""Recipe files: schema errors, parameter checks, lookup by name, and running passes in order."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from edgeforge.data.dataset import Dataset
from edgeforge.errors import ProfileError, UnsupportedError, UsageError
from edgeforge.passes.base import PassContext
from edgeforge.passes.common import count_params
from edgeforge.recipes import list_recipes, load_recipe, run_passes
from passes_models import context, digits, trained_cnn

VALID = """\
name: tiny
description: test recipe
passes:
  - name: prune_channels
    params:
      ratio: 0.5
      epochs: 1
quantize:
  precision: int8
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_recipes_load():
    names = list_recipes()
    assert {"ptq-int8", "arm-default", "coral-default", "mcu-default", "ptq-fp16"} <= set(names)
    for name in names:
        recipe = load_recipe(name)
        assert recipe.name == name


def test_recipe_from_path(tmp_path):
    recipe = load_recipe(_write(tmp_path, VALID))
    assert recipe.precision == "int8"
    assert [step.name for step in recipe.steps] == ["prune_channels"]
    assert recipe.steps[0].params["ratio"] == 0.5
    assert recipe.steps[0].params["norm"] == "l1"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (VALID.replace("passes:", "pases:"), r"unknown key 'pases' \(did you mean 'passes'\?\) under top level"),
        (VALID.replace("precision: int8", "precision: int4"), r"key 'quantize.precision': expected one of 'fp32'"),
        (VALID.replace("  precision: int8\n", "  io_dtype: int8\n"), r"missing required key 'precision' under key 'quantize'"),
        (VALID.replace("name: prune_channels", "name: prune_channel"), r"passes.0: unknown pass 'prune_channel'; did you mean 'prune_channels'\?"),
        (VALID.replace("ratio: 0.5", "rato: 0.5"), r"unknown parameter 'rato' for pass 'prune_channels'; allowed: alpha"),
        (VALID.replace("ratio: 0.5", "ratio: half"), r"parameter 'ratio': expected a number or null, found 'half'"),
        (VALID.replace("epochs: 1", "epochs: 1.5"), r"parameter 'epochs': expected an integer, found 1.5"),
        (VALID.replace("ratio: 0.5", "ratio: 1.5"), r"passes.0 \(prune_channels\): ratios must be in \[0, 1\), found 1.5"),
        ("- just a list\n", r"expected a mapping of recipe keys at the top level, found list"),
        ("name: [unclosed\n", r"invalid YAML"),
    ],
)
def test_recipe_schema_errors(tmp_path, text, message):
    with pytest.raises(ProfileError, match=message):
        load_recipe(_write(tmp_path, text))


def test_unknown_recipe_name():
    with pytest.raises(UsageError, match=r"unknown recipe 'arm-defualt'; did you mean 'arm-default'\?"):
        load_recipe("arm-defualt")


def test_missing_recipe_file(tmp_path):
    with pytest.raises(ProfileError, match=r"recipe file not found: .*absent.yaml"):
        load_recipe(tmp_path / "absent.yaml")


def test_run_passes_records(tmp_path):
    recipe = load_recipe(_write(tmp_path, VALID))
    events = []
    model, records = run_passes(trained_cnn(), recipe, context(), progress=lambda i, n, name: events.append((i, n, name)))
    assert events == [(0, 1, "prune_channels"), (1, 1, "")]
    (record,) = records
    assert set(record) == {"name", "params", "wall_s", "changes", "notes"}
    assert record["changes"]["applied"] is True
    assert record["changes"]["parameters_before"] == 7042
    assert record["changes"]["parameters_after"] == count_params(model) == 2378
    assert 0.0 <= record["changes"]["accuracy_after"] <= 100.0
    assert record["wall_s"] > 0.0


def test_run_passes_degrades_without_training_data(tmp_path):
    recipe = load_recipe(_write(tmp_path, VALID))
    held_out = digits()[1]
    no_train = PassContext(target=None, train=None, eval=held_out)
    model, records = run_passes(trained_cnn(), recipe, no_train)
    assert model is trained_cnn()
    assert records[0]["changes"]["applied"] is False
    assert records[0]["notes"][0].startswith("skipped: pass 'prune_channels' trains the model and needs training data")


def test_run_passes_strict_raises(tmp_path):
    recipe = load_recipe(_write(tmp_path, VALID))
    strict = dataclasses.replace(context(), train=None, strict=True)
    with pytest.raises(UnsupportedError, match="needs training data"):
        run_passes(trained_cnn(), recipe, strict)


def test_run_passes_empty_recipe():
    model, records = run_passes(trained_cnn(), load_recipe("ptq-int8"), context())
    assert model is trained_cnn()
    assert records == []
    assert isinstance(digits()[0], Dataset)
