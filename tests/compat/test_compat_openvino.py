"""Compatibility rules on an OpenVINO IR: precisions, allowlist and static shapes."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgeforge.compat import check_artifact

from test_compat_tflite import make_profile


@pytest.fixture(scope="module")
def ir_path(tmp_path_factory) -> Path:
    """An fp32 IR of a conv + dense model, converted from a .tflite file by OpenVINO."""
    import openvino as ov

    from edgeforge._tf import keras
    from edgeforge.estimate.convert import convert_keras

    k = keras()
    inputs = k.layers.Input((8, 8, 3), batch_size=1)
    x = k.layers.Conv2D(4, 3, activation="relu")(inputs)
    model = k.Model(inputs, k.layers.Dense(2)(k.layers.Flatten()(x)))
    folder = tmp_path_factory.mktemp("ir")
    tflite = convert_keras(model, folder / "model.tflite", precision="fp32")
    xml = folder / "model.xml"
    ov.save_model(ov.convert_model(str(tflite)), str(xml), compress_to_fp16=False)
    return xml


def npu_profile(tmp_path, name, **changes):
    settings = {"runtime": "openvino", "artifact_format": "openvino-ir", "openvino_device": "NPU",
                "precisions": {"supported": ["fp16", "int8"], "preferred": "int8"},
                "quantization.full_integer": False, "operators.policy": "any"}
    settings.update(changes)
    return make_profile(tmp_path, name, device_class="npu", **settings)


def test_ir_fp32_on_fp16_device_warns(ir_path, tmp_path):
    report = check_artifact(ir_path, npu_profile(tmp_path, "npu"))
    findings = [f for f in report.findings if f.rule == "precision"]
    assert findings, report.log_lines()
    assert len(findings) == 1
    assert findings[0].severity == "warning"
    assert "operations (first: " in findings[0].message
    assert "are stored in fp32 and run in fp16" in findings[0].message
    assert report.passed


def test_ir_precision_rejected(ir_path, tmp_path):
    profile = npu_profile(tmp_path, "int8only", precisions={"supported": ["int8"], "preferred": "int8"})
    report = check_artifact(ir_path, profile)
    findings = [f for f in report.findings if f.rule == "precision"]
    assert findings, report.log_lines()
    assert {f.severity for f in findings} == {"error"}
    assert "runs in fp32; the target supports int8" in findings[0].message
    assert "compress_to_fp16" in findings[0].fix


def test_ir_precision_passes(ir_path, tmp_path):
    profile = npu_profile(tmp_path, "igpu", precisions={"supported": ["fp32", "fp16"], "preferred": "fp16"})
    report = check_artifact(ir_path, profile)
    assert report.passed, report.log_lines()
    assert report.summary["operations"] == len(report.ops)


def test_ir_allowlist(ir_path, tmp_path):
    profile = npu_profile(tmp_path, "npu-list", precisions={"supported": ["fp32"], "preferred": "fp32"},
                          **{"operators.policy": "allowlist", "operators.allowed": ["Add", "MatMul", "Relu"]})
    report = check_artifact(ir_path, profile)
    flagged = {f.op_type for f in report.findings if f.rule == "allowlist"}
    assert "Convolution" in flagged
    assert "Relu" not in flagged
