"""Cost features, the cost-model fit, calibration on this machine, energy and published figures."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import yaml

from edgeforge.errors import OutputError, ProfileError
from edgeforge.estimate import (
    CostModel, OpCost, calibrate, compare_published, estimate_energy, estimate_latency, fit_cost_model, op_costs,
)
from edgeforge.estimate.suites import ModelCase
from edgeforge.targets import load_target

PROFILE = {
    "name": "host-test", "description": "test host", "device_class": "cpu", "runtime": "litert",
    "artifact_format": "tflite", "precisions": {"supported": ["fp32", "int8"], "preferred": "fp32"},
    "quantization": {"weights": "per-channel", "io_dtype": "float32", "full_integer": False},
    "operators": {"policy": "any"}, "compute": {"source": "test"}, "memory": {}, "threads": 1,
    "default_recipe": "ptq-int8", "budgets": {},
}


def keras_layers():
    from edgeforge._tf import keras

    return keras()


def conv_case(res: int, cin: int, cout: int) -> ModelCase:
    def build():
        k = keras_layers()
        x = k.layers.Input((res, res, cin), batch_size=1)
        return k.Model(x, k.layers.Conv2D(cout, 3, padding="same", activation="relu")(x))

    return ModelCase(f"conv_{res}_{cin}_{cout}", "layer", build)


def dense_case(units_in: int, units_out: int) -> ModelCase:
    def build():
        k = keras_layers()
        x = k.layers.Input((units_in,), batch_size=1)
        return k.Model(x, k.layers.Dense(units_out)(x))

    return ModelCase(f"dense_{units_in}_{units_out}", "layer", build)


def net_case(res: int, width: int) -> ModelCase:
    def build():
        k = keras_layers()
        x = inputs = k.layers.Input((res, res, 3), batch_size=1)
        x = k.layers.Conv2D(width, 3, padding="same", activation="relu")(x)
        x = k.layers.Conv2D(width, 3, padding="same", activation="relu")(x)
        x = k.layers.Flatten()(x)
        return k.Model(inputs, k.layers.Dense(10)(x))

    return ModelCase(f"net_{res}_{width}", "plain-cnn", build)


@pytest.fixture(scope="module")
def tiny_conv(tmp_path_factory) -> Path:
    from edgeforge.estimate.convert import convert_keras

    k = keras_layers()
    x = k.layers.Input((8, 8, 3), batch_size=1)
    model = k.Model(x, k.layers.Conv2D(8, 3)(x))
    return convert_keras(model, tmp_path_factory.mktemp("conv") / "conv.tflite", precision="int8")


def test_op_costs_conv_macs(tiny_conv):
    costs = op_costs(tiny_conv)
    conv = next(c for c in costs if c.op_type == "CONV_2D")
    assert conv.macs == 6 * 6 * 8 * 3 * 3 * 3
    assert conv.precision == "int8"
    assert conv.weight_bytes >= 8 * 3 * 3 * 3  # int8 kernel plus int32 bias
    assert conv.activation_bytes == 8 * 8 * 3 + 6 * 6 * 8
    assert conv.padded_macs == 6 * 6 * 16 * 3 * 3 * 8


@pytest.fixture(scope="module")
def pointwise_se(tmp_path_factory) -> Path:
    """A 1x1 convolution followed by a squeeze-and-excitation style broadcast multiply, in fp32."""
    from edgeforge.estimate.convert import convert_keras

    k = keras_layers()
    x = k.layers.Input((8, 8, 4), batch_size=1)
    y = k.layers.Conv2D(8, 1)(x)
    gate = k.layers.GlobalAveragePooling2D(keepdims=True)(y)
    model = k.Model(x, k.layers.Multiply()([y, gate]))
    return convert_keras(model, tmp_path_factory.mktemp("se") / "se.tflite", precision="fp32")


def test_op_costs_kernel_variants(tiny_conv, pointwise_se):
    from edgeforge.estimate.cost_model import kernel_name

    names = {kernel_name(c) for c in op_costs(pointwise_se)}
    assert {"CONV_2D/1x1", "MUL/broadcast", "MEAN"} <= names
    conv = next(c for c in op_costs(tiny_conv) if c.op_type == "CONV_2D")
    assert (conv.variant, conv.out_elements) == ("", 6 * 6 * 8)


def test_variant_borrows_base_type(pointwise_se):
    base = {"invoke": 0.001, "CONV_2D.fp32.mmacs": 0.02, "CONV_2D.fp32.ops": 0.003, "MUL.fp32.mmacs": 0.1,
            "MEAN.fp32.ops": 0.002}
    costs = op_costs(pointwise_se)
    borrowed = CostModel(coefficients=base, device="synthetic", threads=1).estimate_costs(costs)
    own = CostModel(coefficients={**base, "CONV_2D/1x1.fp32.ops": 0.5}, device="synthetic",
                    threads=1).estimate_costs(costs)
    conv = next(c for c in costs if c.op_type == "CONV_2D")
    assert borrowed["estimated_ms"] > 0.003
    assert any(item.startswith(f"CONV_2D#{conv.index}") for item in borrowed["uncovered"])
    assert not any(item.startswith(f"CONV_2D#{conv.index}") for item in own["uncovered"])
    assert own["estimated_ms"] > borrowed["estimated_ms"] + 0.4


def test_spill_follows_precision():
    from edgeforge.estimate import feature_vector

    mib = 2 ** 20
    int8 = OpCost(0, "FULLY_CONNECTED", "dense", "int8", 1000, 3 * mib, 100, 1000)
    fp32 = OpCost(1, "FULLY_CONNECTED", "dense", "fp32", 1000, 1 * mib, 100, 1000)
    features = feature_vector([int8, fp32])
    assert features["spill_1mib.int8.mbytes"] == pytest.approx(0.75 * 3 * mib / 1e6)
    assert features["spill_1mib.fp32.mbytes"] == pytest.approx(0.25 * 3 * mib / 1e6)
    assert features["spill_2mib.int8.mbytes"] == pytest.approx(0.75 * 2 * mib / 1e6)
    assert "spill_4mib.int8.mbytes" not in features


def synthetic_models(rng, count: int) -> list[list[OpCost]]:
    """Random single-conv and single-dense fp32 models described only by their costs."""
    models = []
    for _ in range(count):
        macs = int(rng.uniform(1e5, 5e7))
        weights = int(rng.uniform(1e3, 3e7))
        models.append([
            OpCost(0, "CONV_2D", "conv", "fp32", macs, weights // 4, int(rng.uniform(1e3, 1e6)), int(macs * 1.3)),
            OpCost(1, "FULLY_CONNECTED", "dense", "fp32", weights // 8, weights, 4096, weights // 8),
        ])
    return models


def test_fit_recovers_cost_model():
    rng = np.random.default_rng(0)
    truth = CostModel(coefficients={"invoke": 0.002, "CONV_2D.fp32.padded_mmacs": 0.01, "CONV_2D.fp32.ops": 0.001,
                                    "FULLY_CONNECTED.fp32.mmacs": 0.03, "FULLY_CONNECTED.fp32.ops": 0.0005,
                                    "fp32.mbytes": 0.05, "spill_4mib.fp32.mbytes": 0.2},
                      device="synthetic", threads=1)
    models = synthetic_models(rng, 60)
    measured = [truth.estimate_costs(costs)["estimated_ms"] for costs in models]
    model = fit_cost_model(models, measured, device="synthetic", threads=1)
    assert model.coefficients["spill_4mib.fp32.mbytes"] == pytest.approx(0.2, rel=1e-2)
    for costs in synthetic_models(rng, 10):
        estimate = model.estimate_costs(costs)["estimated_ms"]
        assert estimate == pytest.approx(truth.estimate_costs(costs)["estimated_ms"], rel=1e-3)


def write_profile(folder: Path, **extra) -> Path:
    data = copy.deepcopy(PROFILE)
    data.update(extra)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{data['name']}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture(scope="module")
def calibrated(tmp_path_factory):
    """A calibration on this machine with a small fp32 suite, written to a profile copy."""
    root = tmp_path_factory.mktemp("calibrate")
    base = write_profile(root / "base")
    output = root / "user" / "host-calibrated.yaml"
    fit_cases = [conv_case(16, 8, 16), conv_case(32, 16, 16), conv_case(16, 32, 32), conv_case(8, 64, 64),
                 dense_case(256, 256), dense_case(1024, 512), dense_case(512, 1024), net_case(16, 8)]
    held_cases = [net_case(24, 16), net_case(32, 24)]
    result = calibrate("local", threads=1, base_profile=base, output_profile=output, work_dir=root / "models",
                       precisions=("fp32",), calibration_cases=fit_cases, held_out_cases=held_cases)
    return result, base, output, root


def test_calibrate_writes_profile_copy(calibrated):
    result, base, output, _ = calibrated
    assert result.profile_path == output
    assert yaml.safe_load(base.read_text()) == PROFILE, "the base profile must stay unchanged"
    profile = load_target("host-calibrated", [output.parent])
    model = CostModel.from_profile(profile.data["cost_model"])
    assert model.device == "local"
    assert model.calibration_models == 8
    assert model.coefficients["CONV_2D.fp32.padded_mmacs"] + model.coefficients["CONV_2D.fp32.mmacs"] > 0
    assert profile.data["cost_model"]["held_out_error"]["models"] == 2


def test_calibrate_held_out_error(calibrated):
    result, *_ = calibrated
    assert result.error["models"] == 2
    assert result.error["families"] == ["plain-cnn"]
    for item in result.held_out:
        assert item.measured_ms > 0
        # Loose bound: the held-out networks share every operator type with this small fit.
        assert item.error_pct < 50, item.as_dict()


def test_estimate_latency_record(calibrated):
    result, _, output, root = calibrated
    profile = load_target("host-calibrated", [output.parent])
    artifact = result.held_out[0].path
    record = estimate_latency(artifact, profile=profile)
    assert record["kind"] == "estimated"
    assert "estimate" in record["label"]
    assert record["median_ms"] == pytest.approx(result.held_out[0].estimated_ms)
    assert record["estimator"]["held_out_error"]["models"] == 2
    assert record["estimator"]["uncovered_ops"] == []


def test_estimate_without_cost_model(calibrated, tmp_path):
    result, *_ = calibrated
    profile = load_target("host-test", [write_profile(tmp_path).parent])
    with pytest.raises(ProfileError, match="has no fitted coefficients; run 'edgeforge calibrate"):
        estimate_latency(result.held_out[0].path, profile=profile)


def test_calibrated_profile_refuses_base_overwrite(calibrated):
    from edgeforge.estimate import write_calibrated_profile

    result, base, *_ = calibrated
    with pytest.raises(OutputError, match="is the base profile itself, and the base profile is never overwritten"):
        write_calibrated_profile(base, base, result.cost_model)


def test_compare_published(calibrated, tmp_path):
    result, _, output, _ = calibrated
    data = yaml.safe_load(output.read_text())
    data["name"] = "with-published"
    data["published_benchmarks"] = [
        {"model": "net_24_16", "precision": "fp32", "latency_ms": 0.5, "source": "test figure"},
        {"model": "unknown_net", "latency_ms": 3.0, "source": "test figure"},
    ]
    (tmp_path / "with-published.yaml").write_text(yaml.safe_dump(data))
    profile = load_target("with-published", [tmp_path])
    rows = compare_published(profile, builders={"net_24_16": net_case(24, 16).build}, work_dir=tmp_path)
    assert rows[0]["estimated_ms"] == pytest.approx(result.held_out[0].estimated_ms, rel=1e-6)
    assert rows[0]["error_pct"] == pytest.approx(abs(rows[0]["estimated_ms"] - 0.5) / 0.5 * 100)
    assert "no builder for 'unknown_net'" in rows[1]["skipped"]


def test_energy_estimate(tiny_conv, tmp_path):
    energy = {"pj_per_op": {"int8": 0.5, "fp32": 4.0}, "pj_per_byte": {"int8": 10.0, "fp32": 10.0},
              "static_mw": 100, "source": "test figures"}
    profile = load_target("host-test", [write_profile(tmp_path, energy=energy).parent])
    costs = op_costs(tiny_conv)
    record = estimate_energy(costs, profile, latency_ms=2.0)
    expected_pj = sum(c.macs * 0.5 + c.bytes_moved * 10.0 for c in costs)
    assert record["kind"] == "estimated"
    assert record["energy_uj"] == pytest.approx(expected_pj * 1e-6 + 200.0)
    assert record["static_uj"] == pytest.approx(200.0)
    assert record["source"] == "test figures"


def test_energy_missing_precision(tiny_conv, tmp_path):
    energy = {"pj_per_op": {"fp32": 4.0}, "pj_per_byte": {"fp32": 10.0}, "source": "test figures"}
    profile = load_target("host-test", [write_profile(tmp_path, energy=energy).parent])
    with pytest.raises(ProfileError, match="need a figure for precision 'int8'"):
        estimate_energy(tiny_conv, profile)


def test_energy_needs_profile_key(tiny_conv, tmp_path):
    profile = load_target("host-test", [write_profile(tmp_path).parent])
    with pytest.raises(ProfileError, match="has no 'energy' key"):
        estimate_energy(tiny_conv, profile)


def test_measure_cases_needs_a_repeat():
    from edgeforge.errors import InputError
    from edgeforge.estimate.calibration import measure_cases

    with pytest.raises(InputError, match="repeats is 0; expected at least 1 measurement per model"):
        measure_cases([], device="local", threads=1, repeats=0)
