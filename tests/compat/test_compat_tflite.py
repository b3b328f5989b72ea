"""Each compatibility rule on a tiny model that breaks it and one that passes."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from edgeforge.compat import check_artifact, plan_arena
from edgeforge.graph import read_tflite
from edgeforge.targets import load_target

ACCELERATOR_OPS = ["CONV_2D", "DEPTHWISE_CONV_2D", "MAX_POOL_2D", "RESHAPE", "FULLY_CONNECTED"]

BASE_PROFILE = {
    "description": "test profile", "runtime": "litert", "artifact_format": "tflite",
    "precisions": {"supported": ["int8"], "preferred": "int8"},
    "quantization": {"weights": "per-channel", "io_dtype": "int8", "full_integer": True},
    "operators": {"policy": "allowlist", "allowed": ACCELERATOR_OPS, "max_tensor_rank": 4, "static_shapes": True},
    "compute": {"source": "test"}, "memory": {"sram_kib": 8192}, "threads": 1,
    "default_recipe": "ptq-int8", "budgets": {},
}


def make_profile(tmp_path: Path, name: str, device_class: str = "accelerator", **changes):
    """Write a profile to tmp_path and load it; `changes` maps dotted keys to values."""
    data = copy.deepcopy(BASE_PROFILE)
    data.update(name=name, device_class=device_class)
    for dotted, value in changes.items():
        node = data
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node[key]
        node[leaf] = value
    folder = tmp_path / "targets"
    folder.mkdir(exist_ok=True)
    (folder / f"{name}.yaml").write_text(yaml.safe_dump(data))
    return load_target(name, [folder])


def build(batch_size, *, precision: str, per_channel: bool = True):
    from edgeforge._tf import keras

    k = keras()
    inputs = k.layers.Input((8, 8, 3), batch_size=batch_size)
    x = k.layers.Conv2D(8, 3, activation="relu")(inputs)
    x = k.layers.DepthwiseConv2D(3)(x)
    x = k.layers.MaxPooling2D(2)(x)
    x = k.layers.Flatten()(x)
    return k.Model(inputs, k.layers.Dense(4)(x))


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    from edgeforge.estimate.convert import convert_keras

    folder = tmp_path_factory.mktemp("compat-models")
    static, dynamic = build(1, precision="int8"), build(None, precision="int8")
    return {
        "int8": convert_keras(static, folder / "int8.tflite", precision="int8"),
        "int8_per_tensor": convert_keras(static, folder / "pt.tflite", precision="int8", per_channel=False),
        "int8_dynamic_batch": convert_keras(dynamic, folder / "dyn.tflite", precision="int8"),
        "fp32": convert_keras(static, folder / "fp32.tflite", precision="fp32"),
    }


def test_coral_like_passes(models, tmp_path):
    report = check_artifact(models["int8"], make_profile(tmp_path, "coral-like"))
    assert report.passed, report.log_lines()
    assert report.findings == []
    assert report.summary["ops_on_accelerator"] == 5
    assert report.summary["ops_on_cpu"] == 0
    assert [e.placement for e in report.ops] == ["accelerator"] * 5


def test_full_int8_rejects_float_model(models, tmp_path):
    report = check_artifact(models["fp32"], make_profile(tmp_path, "coral-like"))
    finding = next(f for f in report.findings if f.rule == "full-int8")
    assert finding.op_index == 0
    assert finding.op_type == "CONV_2D"
    assert "FLOAT32" in finding.message
    assert "quantize this layer" in finding.fix
    assert not report.passed
    assert report.summary["ops_on_accelerator"] == 0


def test_static_shapes_rejects_dynamic_batch(models, tmp_path):
    report = check_artifact(models["int8_dynamic_batch"], make_profile(tmp_path, "coral-like"))
    shape_findings = [f for f in report.findings if f.rule == "static-shapes"]
    assert len(shape_findings) == 1, "only the input's batch dimension is the cause"
    finding = shape_findings[0]
    assert finding.op_index == 0
    assert "dynamic shape [-1, 8, 8, 3]" in finding.message
    assert "batch_size=1" in finding.fix
    assert not report.passed


def test_tensor_rank_limit(models, tmp_path):
    report = check_artifact(models["int8"], make_profile(tmp_path, "rank3", **{"operators.max_tensor_rank": 3}))
    finding = next(f for f in report.findings if f.rule == "tensor-rank")
    assert finding.op_index == 0
    assert "rank 4 > 3" in finding.message


def test_allowlist_and_single_partition(models, tmp_path):
    allowed = [op for op in ACCELERATOR_OPS if op != "MAX_POOL_2D"]
    report = check_artifact(models["int8"], make_profile(tmp_path, "no-pool", **{"operators.allowed": allowed}))
    assert [f.rule for f in report.findings] == ["allowlist", "single-partition"]
    assert report.findings[0].op_index == 2
    assert report.findings[0].op_type == "MAX_POOL_2D"
    assert report.summary["ops_on_accelerator"] == 2
    assert report.summary["ops_on_cpu"] == 3
    assert [e.placement for e in report.ops] == ["accelerator"] * 2 + ["cpu"] * 3
    assert "from op #2 MAX_POOL_2D on, 3 of 5 operators fall back to the CPU" in report.findings[1].message


def test_op_version_cap(models, tmp_path):
    version = read_tflite(models["int8"]).ops[0].version
    capped = [f"CONV_2D:{version - 1}"] + ACCELERATOR_OPS[1:]
    report = check_artifact(models["int8"], make_profile(tmp_path, "old", **{"operators.allowed": capped}))
    finding = next(f for f in report.findings if f.rule == "op-version")
    assert f"version {version} is above the supported version {version - 1}" in finding.message
    allowed = [f"CONV_2D:{version}"] + ACCELERATOR_OPS[1:]
    assert check_artifact(models["int8"], make_profile(tmp_path, "new", **{"operators.allowed": allowed})).passed


def test_on_chip_memory_warning(models, tmp_path):
    report = check_artifact(models["int8"], make_profile(tmp_path, "tiny-sram", **{"memory.sram_kib": 0.5}))
    finding = next(f for f in report.findings if f.rule == "on-chip-memory")
    assert finding.severity == "warning"
    assert "exceeds the 0.5 KiB SRAM" in finding.message
    assert report.summary["on_chip_memory_estimate_bytes"] > 512


def mcu_profile(tmp_path, name, **changes):
    settings = {"runtime": "tflite-micro", "artifact_format": "c-array", "quantization.weights": "per-tensor",
                "operators.static_shapes": False, "memory": {"sram_kib": 256, "flash_kib": 1024}}
    settings.update(changes)
    return make_profile(tmp_path, name, device_class="mcu", **settings)


def test_mcu_passes_with_per_tensor_weights(models, tmp_path):
    report = check_artifact(models["int8_per_tensor"], mcu_profile(tmp_path, "mcu"))
    assert report.passed, report.log_lines()
    assert report.summary["flash_bytes"] > 0
    assert report.summary["tensor_arena_estimate_bytes"] > 0


def test_mcu_rejects_per_channel_weights(models, tmp_path):
    report = check_artifact(models["int8"], mcu_profile(tmp_path, "mcu"))
    finding = next(f for f in report.findings if f.rule == "per-tensor-weights")
    assert finding.op_type == "CONV_2D"
    assert "8 per-channel scales" in finding.message
    assert "_experimental_disable_per_channel" in finding.fix


def test_mcu_arena_and_flash_limits(models, tmp_path):
    report = check_artifact(models["int8_per_tensor"],
                            mcu_profile(tmp_path, "mcu-small", memory={"sram_kib": 0.25, "flash_kib": 1}))
    assert {"tensor-arena", "flash-size"} <= report.rules_broken()
    assert not report.passed


def test_arena_plan_reuses_memory(models):
    graph = read_tflite(models["int8"])
    arena, placements = plan_arena(graph)
    activations = [t for t in graph.tensors if not t.is_constant]
    largest_pair = max(sum(t.nbytes for t in (*op.inputs, *op.outputs) if not t.is_constant) for op in graph.ops)
    assert arena >= largest_pair
    assert arena < sum(t.nbytes + 16 for t in activations)
    for a in placements:
        for b in placements:
            if a is b or a.last_op < b.first_op or b.last_op < a.first_op:
                continue
            assert a.offset + a.size <= b.offset or b.offset + b.size <= a.offset, (a, b)


def test_op_log_lists_every_operator(models, tmp_path):
    report = check_artifact(models["fp32"], make_profile(tmp_path, "coral-like"))
    lines = report.log_lines()
    assert len([line for line in lines if line.startswith("  #")]) == len(report.ops) == 5
    assert lines[-1] == f"result: {len(report.errors)} error(s)"
