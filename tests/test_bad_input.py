"""Every bad input gets a clear error with its own exit code, and nothing is lost."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from edgeforge.errors import (
    EXIT_BUDGET, EXIT_INPUT, EXIT_OUTPUT, EXIT_USAGE, ConversionError, DataError, ModelLoadError, OutputError,
    UsageError,
)
from edgeforge.pipeline.build import compile_model


def test_unknown_target_suggests_name(digits_cnn, digits_npz, tmp_path):
    with pytest.raises(UsageError, match=r"unknown target 'arm-cortex-a27'; did you mean 'arm-cortex-a\d\d'\?"):
        compile_model(digits_cnn, target="arm-cortex-a27", data=digits_npz, out_dir=tmp_path)


def test_missing_model(digits_npz, tmp_path):
    with pytest.raises(ModelLoadError, match=r"model not found: .*nothing\.keras; pass a \.keras file"):
        compile_model(tmp_path / "nothing.keras", target="host", data=digits_npz, out_dir=tmp_path / "out")


def test_corrupt_model(digits_npz, tmp_path):
    model = tmp_path / "broken.keras"
    model.write_bytes(b"PK\x03\x04 this is not a full archive")
    with pytest.raises(ModelLoadError, match=r"broken\.keras is not a valid \.keras archive"):
        compile_model(model, target="host", data=digits_npz, out_dir=tmp_path / "out")
    assert model.read_bytes() == b"PK\x03\x04 this is not a full archive"


def test_missing_data(digits_cnn, tmp_path):
    with pytest.raises(DataError, match=r"data not found: .*absent\.npz"):
        compile_model(digits_cnn, target="host", data=tmp_path / "absent.npz", out_dir=tmp_path / "out")


@pytest.mark.parametrize(
    "arrays, message",
    [
        (lambda x, y: {"x": x[:, :7], "y": y}, r"input 'pixels' has per-sample shape \(7, 8, 1\), the model expects \(8, 8, 1\)"),
        (lambda x, y: {"x": x[..., 0], "y": y}, r"add a trailing channel axis"),
        (lambda x, y: {"pixles": x, "y": y}, r"unexpected array 'pixles' \(did you mean 'pixels'\?\)"),
        (lambda x, y: {"x": (x * 255).astype(np.uint8), "y": y}, r"input 'pixels' has dtype uint8, the model expects float32"),
        (lambda x, y: {"x": np.where(np.arange(len(x))[:, None, None, None] == 5, np.nan, x), "y": y},
         r"input 'x' contains NaN or infinity in 1 samples \(first at index 5\)"),
        (lambda x, y: {"x": x, "y": y[:10]}, r"'y' has 10 labels but the inputs have 1797 samples"),
    ],
    ids=["shape", "channel-axis", "name", "dtype", "nan", "labels"],
)
def test_data_that_does_not_fit(digits_cnn, digits, tmp_path, arrays, message):
    data = tmp_path / "bad.npz"
    np.savez(data, **arrays(*digits))
    before = data.read_bytes()
    with pytest.raises(DataError, match=message):
        compile_model(digits_cnn, target="host", data=data, out_dir=tmp_path / "out", validate=False)
    assert data.read_bytes() == before
    assert not list((tmp_path / "out").glob("*.tflite"))


def test_output_folder_not_writable(digits_cnn, digits_npz, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the output folder should be")
    with pytest.raises(OutputError, match=r"cannot write to output folder .*file/out"):
        compile_model(digits_cnn, target="host", data=digits_npz, out_dir=blocker / "out")


def test_converter_crash_is_reported(digits_cnn, digits_npz, tmp_path, monkeypatch):
    """Stand-in for a converter that kills its process: a wrapper aborts the worker when conversion starts."""
    wrapper = tmp_path / "crashing_python.py"
    wrapper.write_text(
        "import os, sys\n"
        "import edgeforge.emit.tflite as tflite\n"
        "def crash(*args, **kwargs):\n"
        "    print('converter about to crash', file=sys.stderr, flush=True)\n"
        "    os.abort()\n"
        "tflite.convert_tflite = crash\n"
        "from edgeforge.pipeline.worker import main\n"
        "sys.exit(main(sys.argv[3:]))\n"
    )
    launcher = tmp_path / "python"
    launcher.write_text(f"#!/bin/sh\nexec {sys.executable} {wrapper} \"$@\"\n")
    launcher.chmod(0o755)
    monkeypatch.setattr("edgeforge.pipeline.isolation.sys.executable", str(launcher))
    with pytest.raises(ConversionError, match=r"killed by signal SIGABRT during stage 'convert float-reference"):
        compile_model(digits_cnn, target="host", data=digits_npz, out_dir=tmp_path / "out", validate=False)
    assert not list((tmp_path / "out").iterdir())


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edgeforge.cli", *args], capture_output=True, text=True, timeout=600)


def test_cli_exit_codes(digits_cnn, digits_npz, tmp_path):
    unknown = _cli("compile", str(digits_cnn), "--target", "nope", "--data", str(digits_npz))
    assert unknown.returncode == EXIT_USAGE
    assert "unknown target 'nope'" in unknown.stderr
    missing = _cli("compile", str(tmp_path / "none.h5"), "--target", "host", "--data", str(digits_npz))
    assert missing.returncode == EXIT_INPUT
    assert "model not found" in missing.stderr
    blocked = tmp_path / "blocked"
    blocked.write_text("")
    output = _cli("compile", str(digits_cnn), "--target", "host", "--data", str(digits_npz), "--out",
                  str(blocked / "x"))
    assert output.returncode == EXIT_OUTPUT


def test_cli_budget_missed_writes_report(digits_cnn, digits_npz, tmp_path):
    run = _cli("compile", str(digits_cnn), "--target", "host", "--data", str(digits_npz), "--out", str(tmp_path),
               "--budget", "max_size_kib=1", "--latency-runs", "10")
    assert run.returncode == EXIT_BUDGET, run.stderr
    assert "budget max_size_kib missed" in run.stderr
    assert (tmp_path / "report.json").exists()


def test_empty_class_folder_is_noted(tmp_path):
    from PIL import Image

    from edgeforge.data.loading import load_data

    for name in ("a", "b"):
        (tmp_path / name).mkdir()
    (tmp_path / "c-empty").mkdir()
    Image.new("L", (8, 8)).save(tmp_path / "a" / "0.png")
    Image.new("L", (8, 8)).save(tmp_path / "b" / "0.png")
    dataset = load_data(tmp_path)
    assert list(dataset.labels) == [0, 1]
    assert any("class folders without images: c-empty (class 2)" in note for note in dataset.notes)
