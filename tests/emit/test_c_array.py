"""C array emitter: compile the output with gcc/g++ and compare the array with the .tflite byte for byte."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from edgeforge.emit.c_array import emit_c_array, list_operators
from edgeforge.emit.tflite_schema import parse_model
from edgeforge.emit.tflm_ops import TFLM_BUILTINS, resolver_method
from edgeforge.errors import InputError, ModelLoadError

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None or shutil.which("g++") is None, reason="gcc/g++ not installed")

MAIN_C = r"""
#include <stdint.h>
#include <stdio.h>
#include "model_data.h"

int main(int argc, char **argv) {
  static const int input_shape[] = G_MODEL_INPUT_0_SHAPE;
  static const int output_shape[] = G_MODEL_OUTPUT_0_SHAPE;
  uint32_t hash = 2166136261u;
  unsigned int i;
  FILE *out;
  if (argc != 2) return 64;
  if (g_model_len != G_MODEL_LEN) return 2;
  if (((uintptr_t)g_model) % 16u != 0u) return 3;
  for (i = 0; i < g_model_len; ++i) {
    hash ^= g_model[i];
    hash *= 16777619u;
  }
  out = fopen(argv[1], "wb");
  if (out == NULL) return 4;
  if (fwrite(g_model, 1, g_model_len, out) != g_model_len) return 5;
  fclose(out);
  printf("len=%u fnv1a=%08x ops=%u op0=%s arena=%u estimate=%d\n", g_model_len, (unsigned)hash,
         (unsigned)G_MODEL_OP_COUNT, g_model_op_names[0], (unsigned)G_MODEL_ARENA_BYTES, G_MODEL_ARENA_IS_ESTIMATE);
  printf("in_dims=%u in_shape=%d,%d,%d,%d in_bytes=%u in_scale=%.9g in_zp=%d\n", (unsigned)G_MODEL_INPUT_0_DIMS,
         input_shape[0], input_shape[1], input_shape[2], input_shape[3], (unsigned)G_MODEL_INPUT_0_BYTES,
         (double)G_MODEL_INPUT_0_SCALE, G_MODEL_INPUT_0_ZERO_POINT);
  printf("out_shape=%d,%d out_scale=%.9g out_zp=%d\n", output_shape[0], output_shape[1],
         (double)G_MODEL_OUTPUT_0_SCALE, G_MODEL_OUTPUT_0_ZERO_POINT);
  return 0;
}
"""

# A stand-in for tflite::MicroMutableOpResolver with the method names of its header
# (tensorflow/lite/micro/micro_mutable_op_resolver.h), written out by hand for this model's operators.
RESOLVER_CC = r"""
#include <cstdio>
#include <string>
#include <vector>
#include "model_data.h"

struct Resolver {
  std::vector<std::string> added;
  int AddConv2D() { added.push_back("CONV_2D"); return 0; }
  int AddMaxPool2D() { added.push_back("MAX_POOL_2D"); return 0; }
  int AddReshape() { added.push_back("RESHAPE"); return 0; }
  int AddFullyConnected() { added.push_back("FULLY_CONNECTED"); return 0; }
  int AddQuantize() { added.push_back("QUANTIZE"); return 0; }
  int AddDequantize() { added.push_back("DEQUANTIZE"); return 0; }
};

int main() {
  Resolver resolver;
  G_MODEL_REGISTER_OPS(resolver);
  for (const std::string &name : resolver.added) std::printf("%s\n", name.c_str());
  return resolver.added.size() == G_MODEL_OP_COUNT ? 0 : 1;
}
"""


def fnv1a(data: bytes) -> int:
    value = 2166136261
    for byte in data:
        value = ((value ^ byte) * 16777619) & 0xFFFFFFFF
    return value


def run_checked(command: list[str], cwd: Path) -> str:
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"{command} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def compile_and_run(folder: Path, *, language: str, standard: str) -> tuple[str, bytes]:
    (folder / "main.c").write_text(MAIN_C)
    warnings = ["-Wall", "-Wextra", "-Werror", "-pedantic"]
    if language == "c":
        run_checked(["gcc", f"-std={standard}", *warnings, "-o", "check", "main.c", "model_data.c"], folder)
    else:
        run_checked(["gcc", "-std=c11", *warnings, "-c", "main.c", "-o", "main.o"], folder)
        run_checked(["g++", f"-std={standard}", *warnings, "-c", "model_data.cc", "-o", "model_data.o"], folder)
        run_checked(["g++", "-o", "check", "main.o", "model_data.o"], folder)
    stdout = run_checked(["./check", "written.bin"], folder)
    return stdout, (folder / "written.bin").read_bytes()


@pytest.mark.parametrize(
    ("language", "standard"), [("c", "c99"), ("c", "c11"), ("c++", "c++11"), ("c++", "c++17")]
)
def test_c_array_compiles_and_matches(tflite_models, tmp_path, language, standard):
    source = tflite_models["int8"]
    info = emit_c_array(source, out_dir=tmp_path, arena_bytes=None, language=language)
    stdout, written = compile_and_run(tmp_path, language=language, standard=standard)
    model_bytes = source.read_bytes()

    assert written == model_bytes
    assert f"len={len(model_bytes)} " in stdout
    assert f"fnv1a={fnv1a(model_bytes):08x}" in stdout
    assert f"ops={len(info['operators'])} " in stdout
    assert "in_dims=4 in_shape=1,8,8,1 in_bytes=64" in stdout
    assert "out_shape=1,10" in stdout
    assert f"arena={info['arena_bytes']} estimate=1" in stdout


def test_c_array_source_parses_back(tflite_models, tmp_path):
    source = tflite_models["fp32"]
    info = emit_c_array(source, out_dir=tmp_path, arena_bytes=8192, symbol="digits_model", language="c")
    text = Path(info["source"]).read_text()
    body = text.split("digits_model[] = {", 1)[1].split("};", 1)[0]
    parsed = bytes(int(token, 16) for token in re.findall(r"0x([0-9a-f]{2})", body))

    assert parsed == source.read_bytes()
    assert "DIGITS_MODEL_ALIGN const unsigned char digits_model[]" in text


def test_c_array_quantization_matches_litert(tflite_models, tmp_path):
    from ai_edge_litert.interpreter import Interpreter

    source = tflite_models["int8"]
    info = emit_c_array(source, out_dir=tmp_path, arena_bytes=None)
    expected = Interpreter(model_path=str(source)).get_input_details()[0]
    scale, zero_point = expected["quantization"]
    stdout, _ = compile_and_run(tmp_path, language="c++", standard="c++17")
    printed_scale = float(re.search(r"in_scale=(\S+)", stdout).group(1))
    printed_zero_point = int(re.search(r"in_zp=(-?\d+)", stdout).group(1))

    assert info["inputs"][0]["dtype"] == "int8"
    assert printed_scale == pytest.approx(scale, rel=1e-6)
    assert printed_zero_point == zero_point
    assert info["outputs"][0]["zero_points"] == [int(Interpreter(model_path=str(source)).get_output_details()[0]["quantization"][1])]


def test_c_array_float_io_has_no_quantization(tflite_models, tmp_path):
    info = emit_c_array(tflite_models["fp32"], out_dir=tmp_path, arena_bytes=4096)
    header = Path(info["header"]).read_text()

    assert info["inputs"][0]["dtype"] == "float32"
    assert info["inputs"][0]["scales"] == []
    assert "#define G_MODEL_INPUT_0_TYPE kTfLiteFloat32" in header
    assert "not quantized" in header
    assert "#define G_MODEL_ARENA_BYTES 4096u" in header
    assert "#define G_MODEL_ARENA_IS_ESTIMATE 0" in header
    assert info["arena_basis"] == "given"


def test_c_array_estimated_arena_is_labelled(tflite_models, tmp_path):
    info = emit_c_array(tflite_models["int8"], out_dir=tmp_path, arena_bytes=None)
    header = Path(info["header"]).read_text()

    assert "ESTIMATE" in header
    assert info["arena_basis"] == "estimated"
    # Input 64 B + conv output 6x6x8 = 288 B live together; the arena cannot be smaller.
    assert info["arena_estimate"]["activation_bytes"] >= 64 + 288
    assert info["arena_bytes"] < 64 * 1024


def test_operators_match_interpreter(tflite_models):
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    for precision, path in tflite_models.items():
        operators = list_operators(parse_model(path.read_bytes()))
        interpreter = Interpreter(
            model_path=str(path), experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
        )
        interpreter.allocate_tensors()
        expected = {op["op_name"] for op in interpreter._get_ops_details()}

        assert {entry["name"] for entry in operators} == expected, precision
        assert all(entry["resolver_method"] for entry in operators), precision


def test_register_ops_macro_compiles(tflite_models, tmp_path):
    info = emit_c_array(tflite_models["int8"], out_dir=tmp_path, arena_bytes=None)
    (tmp_path / "resolver.cc").write_text(RESOLVER_CC)
    run_checked(["g++", "-std=c++17", "-Wall", "-Wextra", "-Werror", "-o", "resolver", "resolver.cc", "model_data.cc"], tmp_path)
    registered = run_checked(["./resolver"], tmp_path).split()

    assert sorted(registered) == sorted(entry["name"] for entry in info["operators"])
    assert "CONV_2D" in registered


@pytest.mark.parametrize(
    ("builtin", "method"),
    [
        ("CONV_2D", "AddConv2D"),
        ("DEPTHWISE_CONV_2D", "AddDepthwiseConv2D"),
        ("MAX_POOL_2D", "AddMaxPool2D"),
        ("FULLY_CONNECTED", "AddFullyConnected"),
        ("BATCH_TO_SPACE_ND", "AddBatchToSpaceNd"),
        ("RELU6", "AddRelu6"),
        ("PADV2", "AddPadV2"),
        ("CUMSUM", "AddCumSum"),
        ("BATCH_MATMUL", "AddBatchMatMul"),
        ("L2_POOL_2D", "AddL2Pool2D"),
        ("UNIDIRECTIONAL_SEQUENCE_LSTM", "AddUnidirectionalSequenceLSTM"),
    ],
)
def test_resolver_method_names(builtin, method):
    assert builtin in TFLM_BUILTINS
    assert resolver_method(builtin) == method


def test_c_array_rejects_bad_symbol(tflite_models, tmp_path):
    with pytest.raises(InputError, match=r"invalid symbol '2model': expected a C identifier"):
        emit_c_array(tflite_models["int8"], out_dir=tmp_path, symbol="2model")
    with pytest.raises(InputError, match=r"invalid symbol 'int'"):
        emit_c_array(tflite_models["int8"], out_dir=tmp_path, symbol="int")


def test_c_array_rejects_bad_arena(tflite_models, tmp_path):
    with pytest.raises(InputError, match=r"invalid arena_bytes 0: expected a positive integer"):
        emit_c_array(tflite_models["int8"], out_dir=tmp_path, arena_bytes=0)


def test_c_array_rejects_non_tflite(tmp_path):
    fake = tmp_path / "model.tflite"
    fake.write_bytes(np.arange(64, dtype=np.uint8).tobytes())

    with pytest.raises(ModelLoadError, match=r"is not a TFLite flatbuffer: expected the identifier b'TFL3'"):
        emit_c_array(fake, out_dir=tmp_path / "out")
    with pytest.raises(ModelLoadError, match=r"TFLite model not found"):
        emit_c_array(tmp_path / "missing.tflite", out_dir=tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_estimated_arena_runs_in_tflm(tflite_models):
    """The estimate must be enough for the real TFLite Micro interpreter, and not far above its minimum."""
    runtime = pytest.importorskip("tflite_micro", reason="tflite-micro (PyPI) not installed").runtime
    from edgeforge.emit.arena import estimate_arena

    path = tflite_models["int8"]
    estimate = estimate_arena(parse_model(path.read_bytes())).total_bytes

    def runs(arena_bytes):
        try:
            interpreter = runtime.Interpreter.from_file(str(path), arena_size=arena_bytes)
            detail = interpreter.get_input_details(0)
            interpreter.set_input(np.zeros(detail["shape"], detail["dtype"]), 0)
            interpreter.invoke()
        except RuntimeError:
            return False
        return True

    assert runs(estimate)
    assert not runs(estimate // 2)
