"""TFLite conversion determinism and compare_artifacts on real converter output."""

from __future__ import annotations

import pytest

from tflite_helpers import convert
from edgeforge._tf import import_tf
from edgeforge.report.reproducibility import compare_artifacts
from edgeforge.emit.tflite_schema import parse_model
from edgeforge.errors import InputError


@pytest.mark.parametrize("precision", ["fp16", "int8"])
def test_converter_output_is_byte_identical(digits_model, digits_split, tmp_path, precision):
    first = tmp_path / "first.tflite"
    second = tmp_path / "second.tflite"
    first.write_bytes(convert(digits_model, precision, digits_split["x_train"]))
    second.write_bytes(convert(digits_model, precision, digits_split["x_train"]))
    result = compare_artifacts(first, second)

    assert result["identical"], result["differences"]
    assert result["format"] == "tflite"
    assert result["sha256_a"] == result["sha256_b"]


def test_other_calibration_changes_quantization(digits_model, digits_split, tmp_path):
    first = tmp_path / "first.tflite"
    second = tmp_path / "second.tflite"
    first.write_bytes(convert(digits_model, "int8", digits_split["x_train"]))
    second.write_bytes(convert(digits_model, "int8", digits_split["x_train"][::-1] * 0.5))
    result = compare_artifacts(first, second)
    parts = [difference["part"] for difference in result["differences"]]

    assert not result["identical"]
    assert any(".quantization.scale" in part for part in parts), parts


def test_metadata_difference_is_named(tflite_models, tmp_path):
    import flatbuffers

    import_tf()
    from tensorflow.lite.python import conversion_metadata_schema_py_generated as metadata_schema

    model = parse_model(tflite_models["fp32"].read_bytes())
    index = next(entry.buffer for entry in model.metadata if entry.name == b"CONVERSION_METADATA")

    metadata = metadata_schema.ConversionMetadataT.InitFromPackedBuf(bytearray(bytes(model.buffers[index].data)), 0)
    metadata.environment.tensorflowVersion = b"2.99.0"
    builder = flatbuffers.Builder(1024)
    builder.Finish(metadata.Pack(builder))
    model.buffers[index].data = bytearray(builder.Output())
    builder = flatbuffers.Builder(4096)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    edited = tmp_path / "edited.tflite"
    edited.write_bytes(builder.Output())
    result = compare_artifacts(tflite_models["fp32"], edited)
    parts = [difference["part"] for difference in result["differences"]]

    assert not result["identical"]
    assert f"buffers[{index}] (metadata CONVERSION_METADATA)" in parts
    assert "CONVERSION_METADATA.environment.tensorflowVersion" in parts


def test_compare_folders_names_files(tmp_path):
    for name, content in (("a", b"same"), ("b", b"same")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "model.bin").write_bytes(b"weights-1" if name == "a" else b"weights-2")
        (tmp_path / name / "model.xml").write_bytes(content)
    (tmp_path / "a" / "extra.txt").write_text("x")
    result = compare_artifacts(tmp_path / "a", tmp_path / "b")

    assert not result["identical"]
    assert {"part": "extra.txt", "detail": "only in the first folder"} in result["differences"]
    assert {"part": "model.bin: bytes", "detail": "first differing byte at offset 8"} in result["differences"]


def test_compare_rejects_missing(tmp_path):
    with pytest.raises(InputError, match=r"artifact not found: .*missing.tflite"):
        compare_artifacts(tmp_path / "missing.tflite", tmp_path / "other.tflite")
