"""End-to-end compiles with the real converter, LiteRT, OpenVINO and NNCF on tiny models."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edgeforge.pipeline.build import compile_model
from edgeforge.runtime.litert import LiteRTRunner


def _artifact(report: dict, role: str = "artifact") -> dict:
    return next(a for a in report["artifacts"] if a["role"] == role)


def test_int8_tflite_with_int8_io(digits_cnn, digits_npz, tmp_path):
    result = compile_model(digits_cnn, target="arm-cortex-a72", recipe="ptq-int8", data=digits_npz, out_dir=tmp_path, latency_runs=20)
    report = json.loads(result.report_path.read_text())
    artifact = _artifact(report)
    assert artifact["precision"] == "int8"
    assert artifact["size_bytes"] == (tmp_path / "model.tflite").stat().st_size
    assert (tmp_path / "model_float.tflite").exists()
    assert report["size"]["ratio"] < 0.5
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(tmp_path / "model.tflite"))
    assert interpreter.get_input_details()[0]["dtype"] == np.int8
    assert interpreter.get_output_details()[0]["dtype"] == np.int8
    accuracy = report["accuracy"]
    assert accuracy["baseline"]["top1"] > 0.85
    assert abs(accuracy["drop_points"]) < 3.0
    assert accuracy["artifact"]["top1_agreement"] > 0.95
    assert accuracy["float_reference"]["max_abs_error"] < 1e-4
    assert {r["artifact"] for r in report["latency"]} == {"artifact", "float-reference"}
    assert all(r["kind"] == "measured" and r["median_ms"] > 0 for r in report["latency"])
    assert report["model"]["sha256"] and report["data"]["calibration"]["samples"] > 0
    assert not list(tmp_path.glob(".staging-*"))


@pytest.mark.parametrize("recipe, weight_type", [("ptq-fp16", np.float16), ("ptq-dynamic", np.int8)])
def test_fp16_and_dynamic_range(digits_cnn, digits_npz, tmp_path, recipe, weight_type):
    result = compile_model(digits_cnn, target="host", recipe=recipe, data=digits_npz, out_dir=tmp_path,
                           latency_runs=10)
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(tmp_path / "model.tflite"))
    weight_types = {t["dtype"] for t in interpreter.get_tensor_details()}
    assert weight_type in weight_types
    assert interpreter.get_input_details()[0]["dtype"] == np.float32
    assert result.report["accuracy"]["artifact"]["top1_agreement"] > 0.97


def test_openvino_int8_through_nncf(digits_cnn, digits_npz, tmp_path):
    result = compile_model(digits_cnn, target="intel-cpu", data=digits_npz, out_dir=tmp_path, latency_runs=10)
    assert (tmp_path / "model.xml").exists()
    assert (tmp_path / "model.bin").exists()
    artifact = _artifact(result.report)
    assert artifact["format"] == "openvino-ir"
    assert artifact["precision"] == "int8"
    assert artifact["size_bytes"] < _artifact(result.report, "float-reference")["size_bytes"]
    assert abs(result.report["accuracy"]["drop_points"]) < 3.0
    hints = {r.get("precision_hint") for r in result.report["latency"]}
    assert hints == {"default", "f32"}


def test_two_inputs_given_in_other_order(two_input_model, digits, tmp_path):
    x, y = digits
    data = tmp_path / "two.npz"
    # Keys written in the opposite order of the model's inputs.
    np.savez(data, alpha_flat=x.reshape(len(x), 64), zeta_image=x, y=y)
    result = compile_model(two_input_model, target="arm-cortex-a72", recipe="ptq-int8", data=data, out_dir=tmp_path / "out",
                           latency_runs=10)
    assert result.report["accuracy"]["float_reference"]["max_abs_error"] < 1e-4
    assert result.report["accuracy"]["artifact"]["top1_agreement"] > 0.95


def test_three_outputs_matched_by_name(three_output_model, digits_npz, tmp_path):
    result = compile_model(three_output_model, target="arm-cortex-a72", recipe="ptq-int8", data=digits_npz, out_dir=tmp_path,
                           latency_runs=10)
    accuracy = result.report["accuracy"]
    assert accuracy["primary_output"] == "zz_classes"
    reference = accuracy["float_reference"]["outputs"]
    assert set(reference) == {"zz_classes", "mm_parity", "aa_ink"}
    assert all(item["max_abs_error"] < 1e-4 for item in reference.values())
    runner = LiteRTRunner(tmp_path / "model.tflite", threads=1)
    assert set(runner.output_names) == {"zz_classes", "mm_parity", "aa_ink"}


def test_openvino_outputs_matched_by_name(three_output_model, digits_npz, tmp_path):
    result = compile_model(three_output_model, target="intel-cpu", data=digits_npz, out_dir=tmp_path,
                           latency_runs=10)
    reference = result.report["accuracy"]["float_reference"]["outputs"]
    assert all(item["max_abs_error"] < 1e-4 for item in reference.values())


def test_image_folder_data(digits_cnn, digits, tmp_path):
    from PIL import Image

    x, y = digits
    for index in range(200):
        folder = tmp_path / "images" / f"digit{y[index]}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray((x[index, :, :, 0] * 255).astype(np.uint8)).save(folder / f"{index}.png")
    result = compile_model(digits_cnn, target="arm-cortex-a72", recipe="ptq-int8", data=tmp_path / "images", out_dir=tmp_path / "out",
                           latency_runs=10)
    assert result.report["accuracy"]["baseline"]["top1"] > 0.8


def test_report_gives_gzip_sizes(digits_cnn, digits_npz, tmp_path):
    import gzip

    result = compile_model(digits_cnn, target="host", data=digits_npz, out_dir=tmp_path, validate=False)
    size = result.report["size"]
    expected = len(gzip.compress((tmp_path / "model.tflite").read_bytes(), compresslevel=9))
    assert size["artifact_gzip_bytes"] == expected
    assert 0 < size["float_gzip_bytes"] <= size["float_bytes"] + 64
